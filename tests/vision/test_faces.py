"""core.vision.faces: real UTKFace chips are found in photos of every kind, and cut like the CSV's rows."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.data.loading import load_faces
from core.data.utkface import chip_files, csv_row
from core.vision.faces import chip_to_crop, detect_faces, face_detector, whole_image_crop
from core.vision.images import load_rgb
from tests.image_kinds import photo_kinds

CHIPS_IN_GROUP = 4
GROUP_CHIP_SIDE = 180


@pytest.fixture(scope="module")
def chips(shared_faces):
    return chip_files(shared_faces)


@pytest.fixture(scope="module")
def csv_rows(shared_csv, chips) -> np.ndarray:
    """(n, 48, 48, 1) uint8: the CSV row of every shared chip."""
    data, _ = load_faces(shared_csv)
    return data.images[[csv_row(data, chip) for chip in chips]]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


def test_the_whole_image_path_reproduces_the_csv_rows_exactly(chips, csv_rows):
    crops = np.stack([whole_image_crop(load_rgb(chip.path)) for chip in chips])
    assert crops.shape == csv_rows.shape and crops.dtype == np.uint8
    assert np.array_equal(crops, csv_rows)


def test_the_detector_is_built_once():
    assert face_detector() is face_detector()


def test_detected_crops_are_framed_like_the_csv_rows(chips, csv_rows):
    every_tenth = range(0, len(chips), 10)
    correlations = []
    for i in every_tenth:
        faces = detect_faces(load_rgb(chips[i].path))
        assert len(faces) >= 1, chips[i].path.name
        crop = max(faces, key=lambda face: face.confidence).crop
        assert crop.shape == (48, 48, 1) and crop.dtype == np.uint8
        correlations.append(correlation(crop, csv_rows[i]))
    # About 0.92 on all 300 (benchmarks/face_framing.py); the detector's plain box gives 0.71.
    assert np.mean(correlations) > 0.85, correlations


@pytest.mark.parametrize(
    "kind",
    ["jpeg", "png", "webp", "exif-rotated jpeg", "rgba png", "palette png", "cmyk jpeg", "16-bit png", "grayscale jpeg"],
)
def test_a_face_is_found_in_every_kind_of_file(chips, csv_rows, kind):
    photo = photo_kinds(Image.open(chips[0].path))[kind]
    faces = detect_faces(load_rgb(photo))
    assert len(faces) == 1, f"{kind}: {len(faces)} faces"
    x, y, width, height = faces[0].box
    # The chip lies at (60, 40)-(260, 240) of the upright photo.
    assert 60 <= x + width / 2 <= 260 and 40 <= y + height / 2 <= 240, faces[0].box
    assert correlation(faces[0].crop, csv_rows[0]) > 0.8


def test_every_face_of_a_group_photo_is_found_with_its_box(chips):
    picks = [chips[i] for i in np.linspace(0, len(chips) - 1, CHIPS_IN_GROUP).astype(int)]
    photo = Image.new("RGB", (CHIPS_IN_GROUP * 260 + 40, 400), (200, 190, 170))
    places = []
    for n, chip in enumerate(picks):
        left, top = 40 + n * 260, 60 + 50 * (n % 2)
        photo.paste(Image.open(chip.path).resize((GROUP_CHIP_SIDE, GROUP_CHIP_SIDE), Image.LANCZOS), (left, top))
        places.append((left, top))
    faces = detect_faces(np.asarray(photo))
    assert len(faces) == CHIPS_IN_GROUP, [face.box for face in faces]
    for face, (left, top) in zip(faces, places, strict=True):  # Both left to right.
        x, y, width, height = face.box
        assert left <= x + width / 2 <= left + GROUP_CHIP_SIDE and top <= y + height / 2 <= top + GROUP_CHIP_SIDE
        assert 0.3 * GROUP_CHIP_SIDE < width < 1.1 * GROUP_CHIP_SIDE
        assert face.crop.shape == (48, 48, 1)
        assert set(face.keypoints()) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}


def test_a_tilted_face_is_levelled(chips, csv_rows):
    photo = Image.new("RGB", (400, 400), (128, 128, 128))
    photo.paste(Image.open(chips[0].path), (100, 100))
    tilted = np.asarray(photo.rotate(25, resample=Image.BICUBIC, fillcolor=(128, 128, 128)))
    [face] = detect_faces(tilted)
    left_eye, right_eye = face.landmarks[:2]
    assert abs(np.degrees(np.arctan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))) > 15  # Tilted in the photo...
    assert correlation(face.crop, csv_rows[0]) > 0.8  # ...level in the crop.


def test_no_face_gives_an_empty_list_and_the_whole_image_can_still_be_read():
    sky = np.tile(np.linspace(80, 220, 300, dtype=np.uint8)[:, None, None], (1, 500, 3))
    assert detect_faces(sky) == []
    crop = whole_image_crop(sky)
    assert crop.shape == (48, 48, 1)
    assert np.array_equal(crop, chip_to_crop(np.ascontiguousarray(sky[:, 100:400])))  # The central square.


def test_bad_arrays_are_refused():
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB image"):
        detect_faces(np.zeros((20, 20), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        whole_image_crop(np.zeros((20, 20, 3), dtype=np.float32))
