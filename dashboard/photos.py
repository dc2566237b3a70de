"""What the Predict page shows of a predicted photo: the photo with boxes and labels, and a table of faces; Streamlit-free.

    rgb = core.vision.images.load_rgb(data)
    photo = core.inference.photos.predict_rgb(predictor, rgb)
    picture = annotated_photo(rgb, photo.faces)                          # (h, w, 3) uint8, at most 1024 px a side
    table = faces_table([("party.jpg", photo), ("me.png", other)])       # one row per face, ready for a CSV

Faces are numbered from 1 in the order `core.inference.photos` gives them (left to
right); the number drawn on the photo is the table's `face` column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from core.inference.photos import TABLE_COLUMNS, FacePrediction, PhotoPrediction, face_rows
from core.vision.images import check_rgb

# The page shows photos at most this wide; a 12-megapixel original would only
# make the browser download and shrink it on every rerun.
DISPLAY_MAX_SIDE = 1024
# Box colours by predicted gender (colour-blind-safe blue and orange); a face
# without a gender prediction (an age-only model) gets the neutral one.
BOX_COLOURS = {"male": (0, 114, 178), "female": (230, 159, 0), None: (0, 158, 115)}


def face_label(number: int, face: FacePrediction) -> str:
    """'2 · female 87% · 34 y (28-41)': the face's number, predicted gender with its confidence, age and its interval.

    Plain ASCII apart from the dots: the label is also drawn on the photo, in a font without an en dash.
    """
    parts = [str(number)]
    if face.female_probability is not None:
        confidence = face.female_probability if face.gender == "female" else 1.0 - face.female_probability
        parts.append(f"{face.gender} {confidence:.0%}")
    if face.age is not None:
        interval = "" if face.age_low is None else f" ({face.age_low:.0f}-{face.age_high:.0f})"
        parts.append(f"{face.age:.0f} y{interval}")
    return " · ".join(parts)


def face_numbers(face: FacePrediction) -> str:
    """'box (115, 75, 213, 277) · age 46.4 years · 80% interval 38.1–55.9 · P(female) 0.929': the face's numbers."""
    parts = [f"box {tuple(face.box)}"]
    if face.age is not None:
        parts.append(f"age {face.age:.1f} years")
    if face.age_low is not None:
        parts.append(f"{face.interval_level:.0%} interval {face.age_low:.1f}-{face.age_high:.1f}")
    if face.female_probability is not None:
        parts.append(f"P(female) {face.female_probability:.3f}")
    return " · ".join(parts)


def annotated_photo(rgb: np.ndarray, faces: Sequence[FacePrediction], max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """The photo, shrunk to at most `max_side` pixels a side, with each face's box and `face_label` drawn on it.

    Args:
        rgb: (H, W, 3) uint8, the photo the boxes were found in (core.vision.images.load_rgb of the same file).
        faces: the photo's faces, boxes in the coordinates of `rgb`.
    """
    check_rgb(rgb)
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    picture = Image.fromarray(rgb)
    if scale < 1.0:
        picture = picture.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR, reducing_gap=2.0)
    draw = ImageDraw.Draw(picture)
    # Lines and text grow with the picture, so labels stay readable on a big photo and small on a chip.
    line_width = max(2, round(max(picture.size) / 250))
    font = ImageFont.load_default(size=max(14, round(max(picture.size) / 30)))
    for number, face in enumerate(faces, start=1):
        x, y, box_width, box_height = (value * scale for value in face.box)
        colour = BOX_COLOURS[face.gender]
        draw.rectangle((x, y, x + box_width, y + box_height), outline=colour, width=line_width)
        label = face_label(number, face)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        text_width, text_height = right - left, bottom - top
        padding = line_width
        # Above the box when there is room, else just inside its top edge.
        label_top = y - text_height - 2 * padding if y - text_height - 2 * padding >= 0 else y
        label_left = min(max(0.0, x), max(0.0, picture.width - text_width - 2 * padding))
        draw.rectangle(
            (label_left, label_top, label_left + text_width + 2 * padding, label_top + text_height + 2 * padding), fill=colour
        )
        draw.text((label_left + padding - left, label_top + padding - top), label, fill=(255, 255, 255), font=font)
    return np.asarray(picture)


def faces_table(photos: Iterable[tuple[str, PhotoPrediction]]) -> pd.DataFrame:
    """One row per face of every photo (core.inference.photos.face_rows), columns in TABLE_COLUMNS order.

    Columns of a head the models lack (age or gender), or of intervals an
    uncalibrated run does not give, are left out; a face read as a
    whole-image chip has no detector confidence.
    """
    rows = [row for image_name, photo in photos for row in face_rows(image_name, photo)]
    present = {key for row in rows for key in row}
    return pd.DataFrame(rows, columns=[column for column in TABLE_COLUMNS if not rows or column in present])
