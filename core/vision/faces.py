"""Find the faces in a photo and cut each into a 48x48 grayscale crop framed like the training data.

    rgb = core.vision.images.load_rgb(data)
    faces = detect_faces(rgb)           # [] when there is none: see NO_FACE_MESSAGE
    faces[0].box, faces[0].crop         # (x, y, width, height); (48, 48, 1) uint8
    crop = whole_image_crop(rgb)        # the image is already a face chip

The training faces are UTKFace "aligned and cropped" chips turned into CSV
rows by PIL: `convert("L")` and a LANCZOS resize to 48x48 (this reproduces
all 300 shared chips' rows bit for bit). An uploaded photo goes the same way
after detection: MTCNN (weights in its package, so offline) gives five
landmarks per face; a similarity transform (rotation, scale, shift, fitted by
least squares) puts them where they lie in a UTKFace chip (`CHIP_LANDMARKS`),
which levels the eye line and gives the chip's margin; that chip is then
turned into pixels by the CSV's recipe. `benchmarks/face_framing.py` measures
how close this comes to the CSV rows.
"""

from __future__ import annotations

import dataclasses
import functools

import cv2
import numpy as np
from PIL import Image

from core.labels import IMAGE_SIDE
from core.vision.images import check_rgb

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
# Where MTCNN puts the five landmarks (x, y) in a UTKFace aligned-and-cropped
# chip, as fractions of the chip's side: the mean over the 300 chips of
# ../shared/data/faces (benchmarks/face_framing.py recomputes it). The eyes are
# level at 29 % from the top and 38 % of the side apart.
CHIP_LANDMARKS = np.array([[0.2979, 0.2902], [0.6817, 0.2910], [0.4897, 0.5171], [0.3121, 0.6817], [0.6637, 0.6829]])
# MTCNN looks for faces from 20 pixels up through a pyramid that starts at the
# full image, so its time grows with the photo's area. On a copy at most this
# wide a 1 MP photo takes ~55 ms and faces down to ~40 of its pixels are still
# found; the crop is then cut from the full photo. (MTCNN's own `min_face_size`
# cannot be used instead: in mtcnn 1.0.0 any value but 20 finds no faces at all.)
DETECTION_MAX_SIDE = 640
NO_FACE_MESSAGE = "no face found in the image; it can still be read as one face chip (the whole image, cropped square)"


@dataclasses.dataclass(frozen=True)
class Face:
    """One face of a photo."""

    box: tuple[int, int, int, int]  # x, y, width, height in the photo, from the detector
    confidence: float
    landmarks: np.ndarray  # (5, 2) x, y in the photo, in LANDMARK_NAMES order
    chip: np.ndarray  # (S, S, 3) uint8, the aligned colour chip at the photo's resolution
    crop: np.ndarray  # (48, 48, 1) uint8, what the models see

    def keypoints(self) -> dict[str, list[float]]:
        return {
            name: [round(float(x), 1), round(float(y), 1)] for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks, strict=True)
        }


@functools.cache
def face_detector():
    """The MTCNN detector, built once per process (2-4 s) and kept."""
    import tensorflow as tf  # Only the detecting path needs TensorFlow.
    from mtcnn import MTCNN

    detector = MTCNN(stages="face_and_landmarks_detection", device="CPU:0")
    # mtcnn 1.0.0 runs its three small networks eagerly, layer by layer; as
    # graphs they are 3-4x faster (a 640-pixel photo: 54 ms instead of ~200).
    # `reduce_retracing` lets one graph serve every pyramid level and photo size.
    # The stage exposes its network read-only, so the private attribute is set.
    for stage in detector.stages:
        stage._model = tf.function(stage.model, reduce_retracing=True)
    return detector


def warm_up_detector() -> None:
    """Trace the detector's three graphs before the first photo (a first photo with a face then takes 0.1 s, not 0.8).

    Blank photos of two sizes trace the first network for any size; it finds
    no candidate in them, so the second and third networks are traced on
    blank candidates of their input sizes (24 and 48 pixels), for one and for
    several at once.
    """
    detector = face_detector()
    for side in (160, 320):
        detect_faces(np.zeros((side, side, 3), np.uint8))
    for stage, side in zip(detector.stages[1:], (24, 48), strict=True):
        for count in (1, 2, 3):
            stage._model(np.zeros((count, side, side, 3), np.float32))


def detect_faces(rgb: np.ndarray) -> list[Face]:
    """Every face MTCNN finds in an (H, W, 3) uint8 RGB photo, left to right; [] if none."""
    check_rgb(rgb)
    height, width = rgb.shape[:2]
    scale = min(1.0, DETECTION_MAX_SIDE / max(height, width))
    small = rgb if scale == 1.0 else cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    # Rows: image index, x1, y1, x2, y2, confidence, then the five x's and the five y's.
    rows = np.asarray(face_detector().detect_faces(small, box_format="xyxy", output_type="numpy"), dtype=np.float64)
    faces = []
    for row in rows.reshape(-1, 16):
        x1, y1, x2, y2 = np.clip(row[1:5] / scale, 0, [width, height, width, height])
        landmarks = row[6:16].reshape(2, 5).T / scale  # (5, 2)
        chip = align_chip(rgb, landmarks)
        faces.append(
            Face(
                box=(round(x1), round(y1), round(x2 - x1), round(y2 - y1)),
                confidence=float(row[5]),
                landmarks=landmarks,
                chip=chip,
                crop=chip_to_crop(chip),
            )
        )
    return sorted(faces, key=lambda face: face.box[0])


def align_chip(rgb: np.ndarray, landmarks: np.ndarray, chip_landmarks: np.ndarray = CHIP_LANDMARKS) -> np.ndarray:
    """The face as a UTKFace-style chip: landmarks moved to `chip_landmarks`, at the photo's own resolution.

    Warping at the photo's resolution (not straight to 48x48) leaves the
    downscaling to the LANCZOS resize of `chip_to_crop`, as in the CSV.
    """
    to_unit_chip = _similarity(np.asarray(landmarks, np.float64), np.asarray(chip_landmarks, np.float64))  # (2, 3)
    pixels_per_chip = 1.0 / np.sqrt(abs(np.linalg.det(to_unit_chip[:, :2])))
    side = max(IMAGE_SIDE, round(pixels_per_chip))
    # Replicating the border where the chip runs off the photo matched the CSV better than black.
    return cv2.warpAffine(rgb, to_unit_chip * side, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def chip_to_crop(chip_rgb: np.ndarray) -> np.ndarray:
    """(48, 48, 1) uint8 from a square face chip, by the CSV's recipe (PIL luma, LANCZOS)."""
    gray = Image.fromarray(chip_rgb).convert("L").resize((IMAGE_SIDE, IMAGE_SIDE), Image.LANCZOS)
    return np.asarray(gray)[:, :, None]


def whole_image_crop(rgb: np.ndarray) -> np.ndarray:
    """Read an image as one face chip, like the dataset's own: its central square, grayscale, 48x48."""
    check_rgb(rgb)
    height, width = rgb.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return chip_to_crop(np.ascontiguousarray(rgb[top : top + side, left : left + side]))


def as_model_input(crops: np.ndarray) -> np.ndarray:
    """(n, 48, 48, 1) float32 in [0, 1], the models' input, from uint8 or float crops (one crop may lack the n axis)."""
    crops = np.asarray(crops)
    if crops.ndim == 3:
        crops = crops[None]
    if crops.ndim != 4 or crops.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE, 1) or len(crops) == 0:
        raise ValueError(f"expected crops of shape (n, {IMAGE_SIDE}, {IMAGE_SIDE}, 1) with n >= 1, got {crops.shape}")
    if crops.dtype == np.uint8:
        return crops.astype(np.float32) / 255.0
    crops = crops.astype(np.float32)
    if crops.min() < 0.0 or crops.max() > 1.0:
        raise ValueError(f"float crops must lie in [0, 1], got values from {crops.min():.3g} to {crops.max():.3g}")
    return crops


def _similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The (2, 3) rotation + uniform scale + shift taking `source` points closest to `target` (Umeyama)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(target_centred.T @ source_centred / len(source))
    reflection = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rotation = u @ reflection @ vt
    scale = np.trace(np.diag(singular) @ reflection) / source_centred.var(axis=0).sum()
    shift = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])
