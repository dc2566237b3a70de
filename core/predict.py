"""Age and gender of every face in a photo, from one `both` run or a gender run and an age run.

    predictor = Predictor.from_runs(["runs/A"])          # or ["runs/gender", "runs/age"]; loads the models once
    predictor.predict(crops)                             # {"gender": (n,) P(female), "age": (n,) years}
    photo = predict_photo(predictor, image_bytes)        # PhotoPrediction: faces with box, crop, age, gender
    photo = predict_photo(predictor, image_bytes, if_no_face="whole-image")
    photo = predict_rgb(predictor, rgb)                  # the same for a photo already decoded (core.images.load_rgb)

Command line (the last line printed is one JSON object):

    python -m core.predict RUN_DIR [RUN_DIR] IMAGE... [--if-no-face report|whole-image]

    {"runs": {"gender": RUN_DIR, "age": RUN_DIR}, "images": [{"image": PATH, "width": W, "height": H,
      "faces": [{"box": [x, y, w, h], "confidence": c, "age": years, "gender": "female",
                 "female_probability": p}], "message": null}]}

An image without a face gets `"faces": []` and a message, unless
`--if-no-face whole-image` reads the whole image as one face chip (its box is
then the central square). An image that cannot be read gets an `"error"`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

import core.quiet  # noqa: F401  (must come before TensorFlow)
from core import runs
from core.config import ordered_heads
from core.evaluation import flip_averaged
from core.faces import NO_FACE_MESSAGE, Face, as_model_input, detect_faces, whole_image_crop
from core.images import load_rgb
from core.presets import get_preset

NO_FACE_CHOICES = ("report", "whole-image")


class Predictor:
    """The models of one or two runs, loaded once, each head from exactly one run."""

    def __init__(self, models: dict, run_dirs: dict[str, Path], flipped_heads: frozenset[str] = frozenset()):
        import tensorflow as tf

        self.models = models  # head -> keras.Model (one model may serve both heads)
        self.run_dirs = run_dirs  # head -> the run it comes from
        # Heads whose preset averages each prediction with that of the mirrored face.
        self.flipped_heads = flipped_heads
        # One graph per distinct model: a call is ~2 ms instead of ~20 ms eagerly
        # (and no `model.predict` set-up per call); a `both` model serves two heads in one call.
        self._graphs = {id(model): tf.function(model, reduce_retracing=True) for model in models.values()}

    @classmethod
    def from_runs(cls, run_dirs: list[str | Path]) -> Predictor:
        from core.models import model_heads

        if not 1 <= len(run_dirs) <= 2:
            raise ValueError(f"give one run with both heads, or a gender run and an age run; got {len(run_dirs)} runs")
        models, sources, flipped = {}, {}, set()
        for run_dir in map(Path, run_dirs):
            run = runs.load_run(run_dir)  # Refuses folders that are not runs.
            model = run.load_model()
            flip = get_preset(run.config.train.preset).flip_test_time
            for head in model_heads(model):
                if head in models:
                    raise ValueError(f"runs {sources[head].name} and {run.run_id} both predict {head}; give one run per head")
                models[head], sources[head] = model, run.run_dir
                flipped |= {head} if flip else set()
        return cls(models, sources, frozenset(flipped))

    @property
    def heads(self) -> tuple[str, ...]:
        return ordered_heads(self.models)

    def predict(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """`gender` P(female) and/or `age` in years, (n,) float each, for (n, 48, 48, 1) uint8 crops."""
        faces = as_model_input(crops)
        predicted = {}
        for model_id, graph in self._graphs.items():
            heads = [head for head in self.heads if id(self.models[head]) == model_id]
            # The heads of one model come from one run, so they share its flip setting.
            values = flip_averaged(lambda batch: graph(batch, training=False), faces, heads[0] in self.flipped_heads)
            predicted.update({head: values[head] for head in heads})
        return predicted


@dataclasses.dataclass(frozen=True)
class FacePrediction:
    box: tuple[int, int, int, int]  # x, y, width, height in the photo
    crop: np.ndarray  # (48, 48, 1) uint8, what the models saw
    detected: Face | None  # the detection, or None when the whole image was read as a chip
    age: float | None
    female_probability: float | None

    @property
    def gender(self) -> str | None:
        if self.female_probability is None:
            return None
        return "female" if self.female_probability >= 0.5 else "male"

    def to_dict(self) -> dict:
        values = {"box": list(self.box), "confidence": None if self.detected is None else round(self.detected.confidence, 4)}
        if self.age is not None:
            values["age"] = round(self.age, 1)
        if self.female_probability is not None:
            values.update(gender=self.gender, female_probability=round(self.female_probability, 4))
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


def predict_photo(predictor: Predictor, source: bytes | str | Path, if_no_face: str = "report") -> PhotoPrediction:
    """Detect, align and predict every face of a photo (its bytes or path).

    Args:
        if_no_face: "report" leaves `faces` empty with a message; "whole-image"
            reads the whole image as one face chip, as the dataset's own chips are.

    Raises:
        ValueError: the file is not a usable image (see core.images.load_rgb).
    """
    return predict_rgb(predictor, load_rgb(source), if_no_face)


def predict_rgb(predictor: Predictor, rgb: np.ndarray, if_no_face: str = "report") -> PhotoPrediction:
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
    results = [
        FacePrediction(
            box=box,
            crop=crop,
            detected=detection,
            age=float(predicted["age"][i]) if "age" in predicted else None,
            female_probability=float(predicted["gender"][i]) if "gender" in predicted else None,
        )
        for i, (detection, box, crop) in enumerate(zip(detections, boxes, crops))
    ]
    return PhotoPrediction(width, height, results, message)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core.predict", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="one or two run directories, then images")
    parser.add_argument("--if-no-face", choices=NO_FACE_CHOICES, default="report", help="what to do with an image without a face")
    args = parser.parse_args(argv)
    run_count = 0
    while run_count < len(args.paths) and (args.paths[run_count] / runs.CONFIG_FILE).is_file():
        run_count += 1
    args.run_dirs, args.images = args.paths[:run_count], args.paths[run_count:]
    if not 1 <= run_count <= 2 or not args.images:
        parser.error(f"expected one or two run directories (folders with {runs.CONFIG_FILE}) and then at least one image; "
                     f"got {run_count} run directories and {len(args.images)} other paths")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        predictor = Predictor.from_runs(args.run_dirs)
    except ValueError as error:
        print(json.dumps({"error": str(error)}))
        return 1
    images, failed = [], False
    for path in args.images:
        try:
            images.append({"image": str(path), **predict_photo(predictor, path, args.if_no_face).to_dict()})
        except (ValueError, OSError) as error:
            images.append({"image": str(path), "error": str(error)})
            failed = True
    print(json.dumps({"runs": {head: str(run_dir) for head, run_dir in predictor.run_dirs.items()}, "images": images}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
