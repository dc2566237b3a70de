"""core.inference.face_warnings: each warning appears where it should, and not on ordinary training-like faces."""

from __future__ import annotations

import numpy as np

from core.inference.face_warnings import MAX_NOSE_OFFSET, MIN_FACE_PIXELS, face_warnings, nose_offset
from core.vision.faces import Face, detect_faces
from core.vision.images import load_rgb

# Eyes level and 40 px apart, nose centred below, mouth corners: a face seen from the front.
FRONTAL = np.array([[80.0, 100.0], [120.0, 100.0], [100.0, 125.0], [85.0, 145.0], [115.0, 145.0]])


def detection(landmarks=FRONTAL, confidence: float = 0.999) -> Face:
    return Face(box=(60, 60, 80, 100), confidence=confidence, landmarks=landmarks,
                chip=np.zeros((80, 80, 3), np.uint8), crop=np.zeros((48, 48, 1), np.uint8))  # fmt: skip


def test_a_clear_frontal_face_of_an_easy_age_gets_no_warning():
    assert face_warnings(detection(), (60, 60, 80, 100), 25.0, {"20-29": 3.5}) == []


def test_each_weakness_is_named():
    small = face_warnings(detection(), (10, 10, 30, 36), None, {})
    assert small == [f"the face is only 30 pixels across, smaller than the {MIN_FACE_PIXELS} the model reads: "
                     "a closer or sharper photo gives a surer answer"]  # fmt: skip
    assert face_warnings(detection(confidence=0.8), (60, 60, 80, 100), None, {}) == [
        "the detector is not sure this is a face (80%)"
    ]
    turned = FRONTAL.copy()
    turned[2, 0] += 18  # The nose far to one side of the eyes' middle: a head turned away.
    assert nose_offset(turned) > MAX_NOSE_OFFSET
    assert any("turned away" in warning for warning in face_warnings(detection(turned), (60, 60, 80, 100), None, {}))
    assert face_warnings(None, (0, 0, 200, 200), 63.0, {"60-69": 8.8}) == [
        "faces of this age (60-69) are usually off by about 9 years"
    ]


def test_a_tilted_head_is_not_a_turned_one():
    angle = np.deg2rad(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    tilted = (FRONTAL - FRONTAL[2]) @ rotation.T + FRONTAL[2]
    assert nose_offset(FRONTAL) < 1e-9 and nose_offset(tilted) < 1e-9


def test_the_shared_chips_are_not_flagged_as_turned(shared_faces):
    chips = sorted(shared_faces.glob("*.chip.jpg"))[::15]
    offsets = [nose_offset(face.landmarks) for chip in chips for face in detect_faces(load_rgb(chip))[:1]]
    assert len(offsets) >= len(chips) - 1
    assert np.mean(np.array(offsets) > MAX_NOSE_OFFSET) <= 0.1, sorted(offsets)[-5:]
