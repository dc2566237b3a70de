"""Warnings beside an answer where the model is known to be weak: small, doubtful or turned faces, and hard ages.

    face_warnings(detection, box, age=41.0, mae_by_bucket={"40-49": 8.2, ...})
    # ['faces of this age are usually off by about 8 years']

Each warning is a short sentence a person can act on (take a closer photo,
face the camera) or weigh (the answer is rougher here). The thresholds are
where the errors were measured to grow, not guesses.
"""

from __future__ import annotations

import numpy as np

from core.evaluation.metrics import age_bucket
from core.labels import IMAGE_SIDE
from core.vision.faces import Face

# The models read 48x48 faces: a face smaller than that in the photo is upscaled, its details invented.
MIN_FACE_PIXELS = IMAGE_SIDE
# MTCNN scores real frontal faces at 0.99 and more; below this the box may not hold a face at all.
MIN_DETECTOR_CONFIDENCE = 0.9
# How far the nose sits off the middle of the eyes, in eye distances; the training chips lie within about 0.15.
MAX_NOSE_OFFSET = 0.35
# An age bucket whose test MAE is at least this many years gets a warning with its own figure.
WEAK_AGE_MAE = 7.0


def face_warnings(
    detection: Face | None, box: tuple[int, int, int, int], age: float | None, mae_by_bucket: dict[str, float]
) -> list[str]:
    """The warnings that apply to one face.

    Args:
        detection: the detector's find, or None when the whole image was read as a face chip.
        box: x, y, width, height of the face in the photo.
        age: the predicted age, if the models predict age.
        mae_by_bucket: the age run's test MAE per age bucket (core.evaluation.metrics's buckets).
    """
    warnings = []
    width, height = box[2], box[3]
    if min(width, height) < MIN_FACE_PIXELS:
        warnings.append(
            f"the face is only {min(width, height)} pixels across, smaller than the {MIN_FACE_PIXELS} the model reads: "
            "a closer or sharper photo gives a surer answer"
        )
    if detection is not None:
        if detection.confidence < MIN_DETECTOR_CONFIDENCE:
            warnings.append(f"the detector is not sure this is a face ({detection.confidence:.0%})")
        if nose_offset(detection.landmarks) > MAX_NOSE_OFFSET:
            warnings.append("the face is turned away from the camera; the model learned from faces seen from the front")
    if age is not None:
        bucket = str(age_bucket([age])[0])
        mae = mae_by_bucket.get(bucket)
        if mae is not None and mae >= WEAK_AGE_MAE:
            warnings.append(f"faces of this age ({bucket}) are usually off by about {mae:.0f} years")
    return warnings


def nose_offset(landmarks: np.ndarray) -> float:
    """How far the nose lies sideways from the middle of the eyes, in eye distances: 0 when the face looks straight on.

    `landmarks` are MTCNN's five (x, y) points (core.vision.faces.LANDMARK_NAMES order).
    The measure is taken across the eye line, so a tilted head is not counted as turned.
    """
    left_eye, right_eye, nose = (np.asarray(point, dtype=np.float64) for point in landmarks[:3])
    eye_line = right_eye - left_eye
    distance = float(np.linalg.norm(eye_line))
    if distance == 0:
        return 0.0
    return abs(float(np.dot(nose - (left_eye + right_eye) / 2, eye_line / distance))) / distance
