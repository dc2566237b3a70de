"""Age and gender of every face in a photo, from one `both` run or a gender run and an age run.

    predictor = FacePredictor.from_runs(["runs/A"])      # or ["runs/gender", "runs/age"]; loads the models once
    predictor.predict(crops)                             # {"gender": (n,) calibrated P(female), "age": (n,) years}
    photo = predict_photo(predictor, image_bytes)        # PhotoPrediction: faces with box, crop, age, interval, gender
    photo = predict_photo(predictor, image_bytes, if_no_face="whole-image")
    photo = predict_rgb(predictor, rgb)                  # the same for a photo already decoded (core.vision.images.load_rgb)

`female_probability` is calibrated and the age interval holds the true age
at `interval_level` of the time (core.evaluation.calibration), for runs
calibrated when they finished training or later by `python -m core
calibrate RUN`; a run without a calibration gives no interval. `warnings`
say where the model is weak for that face (core.inference.face_warnings).
An image without a face gets no faces and a message, unless `if_no_face`
is "whole-image": the whole image is then read as one face chip (its box
the central square).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from core import runs
from core.evaluation.calibration import DEFAULT_LEVEL, Calibration
from core.inference.face_warnings import face_warnings
from core.inference.predictor import Predictor
from core.labels import ordered_heads
from core.vision.faces import NO_FACE_MESSAGE, Face, as_model_input, detect_faces, whole_image_crop
from core.vision.images import load_rgb

NO_FACE_CHOICES = ("report", "whole-image")


class FacePredictor:
    """The models of one or two runs, loaded once, each head from exactly one run, with that run's calibration."""

    def __init__(
        self,
        predictors: dict[str, Predictor],
        run_dirs: dict[str, Path],
        calibrations: dict[str, Calibration] | None = None,
        age_mae_by_bucket: dict[str, float] | None = None,
    ):
        self.predictors = predictors  # head -> the predictor that answers it (one may serve both heads)
        self.run_dirs = run_dirs  # head -> the run it comes from
        # head -> the calibration of its run (core.evaluation.calibration); a head without one answers uncalibrated.
        self.calibrations = calibrations or {}
        # The age run's test MAE per age bucket, for the "faces of this age are usually off" warning.
        self.age_mae_by_bucket = age_mae_by_bucket or {}

    @classmethod
    def from_runs(cls, run_dirs: list[str | Path]) -> FacePredictor:
        if not 1 <= len(run_dirs) <= 2:
            raise ValueError(f"give one run with both heads, or a gender run and an age run; got {len(run_dirs)} runs")
        predictors, sources, calibrations, mae_by_bucket = {}, {}, {}, {}
        for run_dir in map(Path, run_dirs):
            run = runs.load_run(run_dir)  # Refuses folders that are not runs.
            # The float model: a photo's few faces answer faster than the int8 copy compiles.
            predictor = Predictor.for_run(run, backend="keras")
            calibration = runs.read_calibration(run.run_dir)
            for head in predictor.heads:
                if head in predictors:
                    raise ValueError(f"runs {sources[head].name} and {run.run_id} both predict {head}; give one run per head")
                predictors[head], sources[head] = predictor, run.run_dir
                if calibration is not None:
                    calibrations[head] = calibration
            if "age" in predictor.heads and run.metrics is not None:
                mae_by_bucket = {
                    row["age_bucket"]: row["mae"] for row in run.metrics.test.by_age_bucket if row.get("mae") is not None
                }
        return cls(predictors, sources, calibrations, mae_by_bucket)

    @property
    def heads(self) -> tuple[str, ...]:
        return ordered_heads(self.predictors)

    def keras_model(self, head: str):
        """The Keras model that answers `head` (what the CAMs of core.explain explain)."""
        return self.predictors[head].backend.model

    def predict(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """`gender` P(female), calibrated where the run has a calibration, and/or `age` in years, (n,) float each.

        `crops` are (n, 48, 48, 1) uint8 faces.
        """
        faces = as_model_input(crops)
        predicted = {}
        for predictor in {id(predictor): predictor for predictor in self.predictors.values()}.values():
            values = predictor.predict(faces)  # A `both` model serves its two heads in one call.
            predicted.update({head: values[head] for head in self.heads if self.predictors[head] is predictor})
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
    # The age interval at `interval_level` (core.evaluation.calibration); None where the age run has no calibration.
    age_low: float | None = None
    age_high: float | None = None
    interval_level: float | None = None
    warnings: tuple[str, ...] = ()  # where the model is known to be weak for this face (core.inference.face_warnings)

    @property
    def gender(self) -> str | None:
        if self.female_probability is None:
            return None
        return "female" if self.female_probability >= 0.5 else "male"

    def to_dict(self, rounded: bool = True) -> dict:
        """The face's JSON keys: rounded for people (`predict`, the dashboard), or at full precision for programs (the HTTP service)."""

        def keep(value: float, digits: int) -> float:
            return round(value, digits) if rounded else value

        values = {"box": list(self.box), "confidence": None if self.detected is None else keep(self.detected.confidence, 4)}
        if self.age is not None:
            values["age"] = keep(self.age, 1)
        if self.age_low is not None:
            values.update(age_low=keep(self.age_low, 1), age_high=keep(self.age_high, 1), interval_level=self.interval_level)
        if self.female_probability is not None:
            values.update(gender=self.gender, female_probability=keep(self.female_probability, 4))
        values["warnings"] = list(self.warnings)
        return values


@dataclasses.dataclass(frozen=True)
class PhotoPrediction:
    width: int
    height: int
    faces: list[FacePrediction]
    message: str | None = None  # says why `faces` is empty, or that the whole image was read as a face

    def to_dict(self, rounded: bool = True) -> dict:
        faces = [face.to_dict(rounded) for face in self.faces]
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
        box = dict(zip(("x", "y", "width", "height"), values.pop("box"), strict=True))
        rows.append({"image": image, "face": number, **box, **values, "warnings": "; ".join(values["warnings"])})
    return rows


def predict_photo(
    predictor: FacePredictor, source: bytes | str | Path, if_no_face: str = "report", level: float = DEFAULT_LEVEL
) -> PhotoPrediction:
    """Detect, align and predict every face of a photo (its bytes or path).

    Args:
        if_no_face: "report" leaves `faces` empty with a message; "whole-image"
            reads the whole image as one face chip, as the dataset's own chips are.
        level: the coverage of the age intervals (0.8: the true age lies inside four times in five).

    Raises:
        ValueError: the file is not a usable image (see core.vision.images.load_rgb).
    """
    return predict_rgb(predictor, load_rgb(source), if_no_face, level)


def predict_rgb(
    predictor: FacePredictor, rgb: np.ndarray, if_no_face: str = "report", level: float = DEFAULT_LEVEL
) -> PhotoPrediction:
    """`predict_photo` for a photo already decoded (core.vision.images.load_rgb), for callers that also draw on it."""
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
        for i, (detection, box, crop) in enumerate(zip(detections, boxes, crops, strict=True))
    ]
    return PhotoPrediction(width, height, results, message)
