"""Age and gender of every face in a photo, from one `both` run or a gender run and an age run.

    predictor = Predictor.from_runs(["runs/A"])          # or ["runs/gender", "runs/age"]; loads the models once
    predictor.predict(crops)                             # {"gender": (n,) calibrated P(female), "age": (n,) years}
    photo = predict_photo(predictor, image_bytes)        # PhotoPrediction: faces with box, crop, age, interval, gender
    photo = predict_photo(predictor, image_bytes, if_no_face="whole-image")
    photo = predict_rgb(predictor, rgb)                  # the same for a photo already decoded (core.images.load_rgb)

Command line (the last line printed is one JSON object):

    python -m core.predict RUN_DIR [RUN_DIR] IMAGE... [--if-no-face report|whole-image] [--level 0.8]
    python -m core.predict RUN_DIR photos/ --out faces.csv        # a folder, recursively; one row per face

    {"runs": {"gender": RUN_DIR, "age": RUN_DIR}, "images": [{"image": PATH, "width": W, "height": H,
      "faces": [{"box": [x, y, w, h], "confidence": c, "age": years, "age_low": years, "age_high": years,
                 "interval_level": 0.8, "gender": "female", "female_probability": p, "warnings": [...]}],
      "message": null}]}

`female_probability` is calibrated and the age interval holds the true age
at `interval_level` of the time (core.calibration), for runs calibrated when
they finished training or later by `python -m core.calibrate RUN`; a run
without a calibration gives no interval. `warnings` say where the model is
weak for that face (core.face_warnings).

An image without a face gets `"faces": []` and a message, unless
`--if-no-face whole-image` reads the whole image as one face chip (its box is
then the central square). An image that cannot be read gets an `"error"`.
With `--out` (a .csv or .jsonl file) every face is a row (`TABLE_COLUMNS`),
a photo without a face or that cannot be read is a row with its `error`, a
progress bar runs on stderr, and the last line printed says how many.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import core.quiet  # noqa: F401  (must come before TensorFlow)
from core import runs
from core.calibration import DEFAULT_LEVEL, Calibration
from core.config import ordered_heads
from core.evaluation import flip_averaged
from core.face_warnings import face_warnings
from core.faces import NO_FACE_MESSAGE, Face, as_model_input, detect_faces, whole_image_crop
from core.images import image_files, load_rgb
from core.progress import progress_bar
from core.presets import get_preset

NO_FACE_CHOICES = ("report", "whole-image")
OUT_FORMATS = (".csv", ".jsonl")


class Predictor:
    """The models of one or two runs, loaded once, each head from exactly one run, with that run's calibration."""

    def __init__(
        self,
        models: dict,
        run_dirs: dict[str, Path],
        flipped_heads: frozenset[str] = frozenset(),
        calibrations: dict[str, Calibration] | None = None,
        age_mae_by_bucket: dict[str, float] | None = None,
    ):
        import tensorflow as tf

        self.models = models  # head -> keras.Model (one model may serve both heads)
        self.run_dirs = run_dirs  # head -> the run it comes from
        # Heads whose preset averages each prediction with that of the mirrored face.
        self.flipped_heads = flipped_heads
        # head -> the calibration of its run (core.calibration); a head without one answers uncalibrated.
        self.calibrations = calibrations or {}
        # The age run's test MAE per age bucket, for the "faces of this age are usually off" warning.
        self.age_mae_by_bucket = age_mae_by_bucket or {}
        # One graph per distinct model: a call is ~2 ms instead of ~20 ms eagerly
        # (and no `model.predict` set-up per call); a `both` model serves two heads in one call.
        self._graphs = {id(model): tf.function(model, reduce_retracing=True) for model in models.values()}

    @classmethod
    def from_runs(cls, run_dirs: list[str | Path]) -> Predictor:
        from core.models import model_heads

        if not 1 <= len(run_dirs) <= 2:
            raise ValueError(f"give one run with both heads, or a gender run and an age run; got {len(run_dirs)} runs")
        models, sources, flipped, calibrations, mae_by_bucket = {}, {}, set(), {}, {}
        for run_dir in map(Path, run_dirs):
            run = runs.load_run(run_dir)  # Refuses folders that are not runs.
            model = run.load_model()
            flip = get_preset(run.config.train.preset).flip_test_time
            calibration = Calibration.load(run.run_dir)
            for head in model_heads(model):
                if head in models:
                    raise ValueError(f"runs {sources[head].name} and {run.run_id} both predict {head}; give one run per head")
                models[head], sources[head] = model, run.run_dir
                flipped |= {head} if flip else set()
                if calibration is not None:
                    calibrations[head] = calibration
            if "age" in model_heads(model) and run.metrics is not None:
                mae_by_bucket = {row["age_bucket"]: row["mae"] for row in run.metrics.test.by_age_bucket if row.get("mae") is not None}
        return cls(models, sources, frozenset(flipped), calibrations, mae_by_bucket)

    @property
    def heads(self) -> tuple[str, ...]:
        return ordered_heads(self.models)

    def predict(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """`gender` P(female), calibrated where the run has a calibration, and/or `age` in years, (n,) float each.

        `crops` are (n, 48, 48, 1) uint8 faces.
        """
        faces = as_model_input(crops)
        predicted = {}
        for model_id, graph in self._graphs.items():
            heads = [head for head in self.heads if id(self.models[head]) == model_id]
            # The heads of one model come from one run, so they share its flip setting.
            values = flip_averaged(lambda batch: graph(batch, training=False), faces, heads[0] in self.flipped_heads)
            predicted.update({head: values[head] for head in heads})
        if "gender" in predicted and "gender" in self.calibrations:
            predicted["gender"] = self.calibrations["gender"].female_probability(predicted["gender"])
        return predicted

    def age_interval(self, ages: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[np.ndarray, np.ndarray] | None:
        """(low, high) of the age interval at `level` around each predicted age; None when the age run has no calibration."""
        calibration = self.calibrations.get("age")
        return None if calibration is None else calibration.age_interval(ages, level)


@dataclasses.dataclass(frozen=True)
class FacePrediction:
    box: tuple[int, int, int, int]  # x, y, width, height in the photo
    crop: np.ndarray  # (48, 48, 1) uint8, what the models saw
    detected: Face | None  # the detection, or None when the whole image was read as a chip
    age: float | None
    female_probability: float | None  # calibrated where the gender run has a calibration
    # The age interval at `interval_level` (core.calibration); None where the age run has no calibration.
    age_low: float | None = None
    age_high: float | None = None
    interval_level: float | None = None
    warnings: tuple[str, ...] = ()  # where the model is known to be weak for this face (core.face_warnings)

    @property
    def gender(self) -> str | None:
        if self.female_probability is None:
            return None
        return "female" if self.female_probability >= 0.5 else "male"

    def to_dict(self) -> dict:
        values = {"box": list(self.box), "confidence": None if self.detected is None else round(self.detected.confidence, 4)}
        if self.age is not None:
            values["age"] = round(self.age, 1)
        if self.age_low is not None:
            values.update(age_low=round(self.age_low, 1), age_high=round(self.age_high, 1), interval_level=self.interval_level)
        if self.female_probability is not None:
            values.update(gender=self.gender, female_probability=round(self.female_probability, 4))
        values["warnings"] = list(self.warnings)
        return values


@dataclasses.dataclass(frozen=True)
class PhotoPrediction:
    width: int
    height: int
    faces: list[FacePrediction]
    message: str | None = None  # says why `faces` is empty, or that the whole image was read as a face

    def to_dict(self) -> dict:
        faces = [face.to_dict() for face in self.faces]
        return {"width": self.width, "height": self.height, "faces": faces, "message": self.message}


# Columns of a table of faces (the Predict page's download, `--out` of the command line), in order.
TABLE_COLUMNS = (
    "image", "face", "x", "y", "width", "height", "confidence", "age", "age_low", "age_high", "interval_level", "gender",
    "female_probability", "warnings", "error",
)  # fmt: skip


def face_rows(image: str, photo: PhotoPrediction) -> list[dict]:
    """One flat row per face of a photo: its name, the face's number (left to right, from 1), and the face's JSON keys.

    The box becomes x, y, width and height, the warnings one cell of text, as a CSV wants them.
    """
    rows = []
    for number, face in enumerate(photo.faces, start=1):
        values = face.to_dict()
        box = dict(zip(("x", "y", "width", "height"), values.pop("box")))
        rows.append({"image": image, "face": number, **box, **values, "warnings": "; ".join(values["warnings"])})
    return rows


def predict_photo(
    predictor: Predictor, source: bytes | str | Path, if_no_face: str = "report", level: float = DEFAULT_LEVEL
) -> PhotoPrediction:
    """Detect, align and predict every face of a photo (its bytes or path).

    Args:
        if_no_face: "report" leaves `faces` empty with a message; "whole-image"
            reads the whole image as one face chip, as the dataset's own chips are.
        level: the coverage of the age intervals (0.8: the true age lies inside four times in five).

    Raises:
        ValueError: the file is not a usable image (see core.images.load_rgb).
    """
    return predict_rgb(predictor, load_rgb(source), if_no_face, level)


def predict_rgb(predictor: Predictor, rgb: np.ndarray, if_no_face: str = "report", level: float = DEFAULT_LEVEL) -> PhotoPrediction:
    """`predict_photo` for a photo already decoded (core.images.load_rgb), for callers that also draw on it."""
    if if_no_face not in NO_FACE_CHOICES:
        raise ValueError(f"if_no_face must be one of {NO_FACE_CHOICES}, got {if_no_face!r}")
    height, width = rgb.shape[:2]
    faces = detect_faces(rgb)
    message = None
    if faces:
        detections, boxes, crops = faces, [face.box for face in faces], np.stack([face.crop for face in faces])
    elif if_no_face == "whole-image":
        side = min(height, width)
        detections, boxes, crops = [None], [((width - side) // 2, (height - side) // 2, side, side)], whole_image_crop(rgb)[None]
        message = "no face found; the whole image was read as one face chip"
    else:
        return PhotoPrediction(width, height, [], NO_FACE_MESSAGE)
    predicted = predictor.predict(crops)
    ages = predicted.get("age")
    interval = predictor.age_interval(ages, level) if ages is not None else None
    results = [
        FacePrediction(
            box=box,
            crop=crop,
            detected=detection,
            age=None if ages is None else float(ages[i]),
            female_probability=float(predicted["gender"][i]) if "gender" in predicted else None,
            age_low=None if interval is None else float(interval[0][i]),
            age_high=None if interval is None else float(interval[1][i]),
            interval_level=None if interval is None else level,
            warnings=tuple(face_warnings(detection, box, None if ages is None else float(ages[i]), predictor.age_mae_by_bucket)),
        )
        for i, (detection, box, crop) in enumerate(zip(detections, boxes, crops))
    ]
    return PhotoPrediction(width, height, results, message)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core.predict", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="one or two run directories, then images or folders of them")
    parser.add_argument("--if-no-face", choices=NO_FACE_CHOICES, default="report", help="what to do with an image without a face")
    parser.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="coverage of the age intervals (default %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write one row per face to this .csv or .jsonl file (progress on stderr) instead of JSON on stdout")  # fmt: skip
    args = parser.parse_args(argv)
    if not 0 < args.level < 1:
        parser.error(f"--level must lie strictly between 0 and 1, got {args.level}")
    if args.out is not None and args.out.suffix not in OUT_FORMATS:
        parser.error(f"--out must end in {' or '.join(OUT_FORMATS)}, got {args.out.name}")
    run_count = 0
    while run_count < len(args.paths) and (args.paths[run_count] / runs.CONFIG_FILE).is_file():
        run_count += 1
    args.run_dirs, args.images = args.paths[:run_count], image_paths(args.paths[run_count:])
    if not 1 <= run_count <= 2 or not args.images:
        parser.error(f"expected one or two run directories (folders with {runs.CONFIG_FILE}) and then images or folders of "
                     f"them; got {run_count} run directories and {len(args.images)} images")  # fmt: skip
    return args


def image_paths(paths: list[Path]) -> list[Path]:
    """The paths given, a folder replaced by every JPEG, PNG and WebP file below it (in name order)."""
    return [image for path in paths for image in (image_files(path) if path.is_dir() else [path])]


def predict_files(predictor: Predictor, paths: list[Path], if_no_face: str, level: float, progress=None):
    """(path, PhotoPrediction or None, error or None) of each photo, one after another; a photo that fails is reported, never a stop."""
    for done, path in enumerate(paths, start=1):
        try:
            yield path, predict_photo(predictor, path, if_no_face, level), None
        except (ValueError, OSError) as error:  # core.images' InputError is a ValueError.
            yield path, None, str(error)
        if progress is not None:
            progress(done, len(paths))


def write_table(results, out: Path) -> dict:
    """One row per face (core.predict.face_rows) to a CSV or JSON Lines file; a photo without a face or with an error is one row saying so."""
    rows, unreadable = [], 0
    for path, photo, error in results:
        if photo is not None and photo.faces:
            rows += face_rows(str(path), photo)
        else:
            rows.append({"image": str(path), "error": error or photo.message})
            unreadable += error is not None
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".jsonl":
        out.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        present = {key for row in rows for key in row}
        pd.DataFrame(rows, columns=[column for column in TABLE_COLUMNS if column in present]).to_csv(out, index=False)
    faces = sum(1 for row in rows if "face" in row)
    return {"out": str(out), "images": len({row["image"] for row in rows}), "faces": faces, "without_face": len(rows) - faces - unreadable,
            "unreadable": unreadable}  # fmt: skip


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        predictor = Predictor.from_runs(args.run_dirs)
    except ValueError as error:
        print(json.dumps({"error": str(error)}))
        return 1
    used = {head: str(run_dir) for head, run_dir in predictor.run_dirs.items()}
    if args.out is not None:
        results = predict_files(predictor, args.images, args.if_no_face, args.level, progress=progress_bar)
        written = write_table(results, args.out)
        print(json.dumps({"runs": used, **written}))
        return 1 if written["unreadable"] else 0  # As without --out: 1 when an image could not be read.
    images, failed = [], False
    for path, photo, error in predict_files(predictor, args.images, args.if_no_face, args.level):
        images.append({"image": str(path), "error": error} if error else {"image": str(path), **photo.to_dict()})
        failed |= error is not None
    print(json.dumps({"runs": used, "images": images}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
