"""What the Predict page shows of a predicted photo: the photo with boxes and labels, and a table of faces; Streamlit-free.

    rgb = core.images.load_rgb(data)
    photo = core.predict.predict_rgb(predictor, rgb)
    picture = annotated_photo(rgb, photo.faces)                          # (h, w, 3) uint8, at most 1024 px a side
    table = faces_table([("party.jpg", photo), ("me.png", other)])       # one row per face, ready for a CSV

Faces are numbered from 1 in the order `core.predict` gives them (left to
right); the number drawn on the photo is the table's `face` column.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from core.images import check_rgb
from core.predict import FacePrediction, PhotoPrediction

# The page shows photos at most this wide; a 12-megapixel original would only
# make the browser download and shrink it on every rerun.
DISPLAY_MAX_SIDE = 1024
# Box colours by predicted gender (colour-blind-safe blue and orange); a face
# without a gender prediction (an age-only model) gets the neutral one.
BOX_COLOURS = {"male": (0, 114, 178), "female": (230, 159, 0), None: (0, 158, 115)}
BOX_COLUMNS = ("x", "y", "width", "height")


def face_label(number: int, face: FacePrediction) -> str:
    """'2 · female 87% · 34 y': the face's number, predicted gender with its confidence, and age."""
    parts = [str(number)]
    if face.female_probability is not None:
        confidence = face.female_probability if face.gender == "female" else 1.0 - face.female_probability
        parts.append(f"{face.gender} {confidence:.0%}")
    if face.age is not None:
        parts.append(f"{face.age:.0f} y")
    return " · ".join(parts)


def face_numbers(face: FacePrediction) -> str:
    """'box (115, 75, 213, 277) · age 46.4 years · P(female) 0.929': the face's numbers, those the models give."""
    parts = [f"box {tuple(face.box)}"]
    if face.age is not None:
        parts.append(f"age {face.age:.1f} years")
    if face.female_probability is not None:
        parts.append(f"P(female) {face.female_probability:.3f}")
    return " · ".join(parts)


def annotated_photo(rgb: np.ndarray, faces: Sequence[FacePrediction], max_side: int = DISPLAY_MAX_SIDE) -> np.ndarray:
    """The photo, shrunk to at most `max_side` pixels a side, with each face's box and `face_label` drawn on it.

    Args:
        rgb: (H, W, 3) uint8, the photo the boxes were found in (core.images.load_rgb of the same file).
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
    """One row per face of every photo: image name, face number, box, then the face's keys in `core.predict`'s JSON.

    Columns of a head the models lack (age or gender) are left out; a face
    read as a whole-image chip has no detector confidence.
    """
    rows = []
    for image_name, photo in photos:
        for number, face in enumerate(photo.faces, start=1):
            values = face.to_dict()
            box = dict(zip(BOX_COLUMNS, values.pop("box")))
            rows.append({"image": image_name, "face": number, **box, **values})
    columns = ["image", "face", *BOX_COLUMNS, "confidence", "age", "gender", "female_probability"]
    return pd.DataFrame(rows, columns=[column for column in columns if not rows or any(column in row for row in rows)])
