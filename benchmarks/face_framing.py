"""How close the upload path's 48x48 crops come to the CSV's rows, on the shared UTKFace chips.

    python -m benchmarks.face_framing [--faces ../shared/data/faces] [--csv ../shared/data/age_gender.csv.gz]

Every shared chip is also a CSV row. This prints, against those rows:
1. which grayscale + resize recipe turns a 200x200 chip into its CSV row
   (PIL `convert("L")` + LANCZOS is bit-exact: that is `core.vision.faces.chip_to_crop`);
2. the chip template: MTCNN's five landmarks averaged over the chips, as
   fractions of the side (`core.vision.faces.CHIP_LANDMARKS`), fitted on half the
   chips and checked on the other half;
3. pixel MAE (0..255) and mean per-face correlation of the crops of the
   upload path (detect, align, crop) and of simpler framings, on the bare
   chips and on the chips pasted, smaller, onto a larger grey photo, where the
   whole-image resize is no longer the right answer.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

import core.quiet  # noqa: F401  (must come before TensorFlow)
from benchmarks.paths import SHARED_CSV, SHARED_FACES
from core.data.loading import load_faces
from core.data.utkface import chip_files, csv_row
from core.labels import IMAGE_SIDE
from core.vision.faces import CHIP_LANDMARKS, align_chip, chip_to_crop, detect_faces, whole_image_crop
from core.vision.images import load_rgb

# The pasted test: each chip at 300x300 in the middle of a 900x700 grey photo.
PASTE_SIDE, CANVAS_SIZE, CANVAS_GREY = 300, (900, 700), (128, 128, 128)


def compare(crops: np.ndarray, rows: np.ndarray) -> str:
    crops, rows = crops.astype(np.float64).reshape(len(crops), -1), rows.astype(np.float64).reshape(len(rows), -1)
    mae = np.abs(crops - rows).mean()
    exact = (crops == rows).mean()
    correlation = np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(crops, rows, strict=True)])
    return f"MAE {mae:6.2f}  correlation {correlation:.3f}  identical pixels {exact:6.1%}"


def box_crop(rgb: np.ndarray, box) -> np.ndarray:
    """The detector's own box, made square, unrotated: the framing without alignment."""
    x, y, width, height = box
    side = max(width, height)
    shift = np.array([[1.0, 0.0, side / 2 - (x + width / 2)], [0.0, 1.0, side / 2 - (y + height / 2)]])
    return chip_to_crop(cv2.warpAffine(rgb, shift, (side, side), borderMode=cv2.BORDER_REPLICATE))


def pasted(rgb: np.ndarray) -> np.ndarray:
    canvas = Image.new("RGB", CANVAS_SIZE, CANVAS_GREY)
    face = Image.fromarray(rgb).resize((PASTE_SIDE, PASTE_SIDE), Image.LANCZOS)
    canvas.paste(face, ((CANVAS_SIZE[0] - PASTE_SIDE) // 2, (CANVAS_SIZE[1] - PASTE_SIDE) // 2))
    return np.asarray(canvas)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=Path, default=SHARED_FACES)
    parser.add_argument("--csv", type=Path, default=SHARED_CSV)
    args = parser.parse_args(argv)

    data, _ = load_faces(args.csv)
    chips = chip_files(args.faces)
    rows = data.images[[csv_row(data, chip) for chip in chips]]  # (n, 48, 48, 1)
    photos = [load_rgb(chip.path) for chip in chips]
    print(f"{len(chips)} chips, each matched to its CSV row by img_name and labels")

    print("\n1. 200x200 chip -> CSV row")
    recipes = {
        "PIL L + LANCZOS (core.vision.faces)": lambda rgb: whole_image_crop(rgb),
        "PIL L + BICUBIC": lambda rgb: np.asarray(Image.fromarray(rgb).convert("L").resize((IMAGE_SIDE,) * 2, Image.BICUBIC)),
        "OpenCV gray + INTER_AREA": lambda rgb: cv2.resize(
            cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (IMAGE_SIDE,) * 2, interpolation=cv2.INTER_AREA
        ),
    }
    for name, recipe in recipes.items():
        print(f"   {name:30s} {compare(np.stack([recipe(rgb) for rgb in photos]), rows)}")

    detections = [detect_faces(rgb) for rgb in photos]
    found = np.array([len(faces) > 0 for faces in detections])
    best = [max(faces, key=lambda face: face.confidence) if faces else None for faces in detections]
    print(f"\n2. MTCNN found a face in {found.sum()} of {len(chips)} chips")
    landmarks = np.stack(
        [face.landmarks / np.array(rgb.shape[1::-1]) for face, rgb in zip(best, photos, strict=True) if face]
    )  # (m, 5, 2)
    print(f"   template (mean over all): {np.round(landmarks.mean(axis=0), 4).tolist()}")
    print(f"   in use (core.vision.faces):      {CHIP_LANDMARKS.tolist()}")
    kept = np.flatnonzero(found)
    halves = (kept[0::2], kept[1::2])
    for fit, check in (halves, halves[::-1]):
        template = np.mean([best[i].landmarks / np.array(photos[i].shape[1::-1]) for i in fit], axis=0)
        crops = np.stack([chip_to_crop(align_chip(photos[i], best[i].landmarks, template)) for i in check])
        print(f"   fitted on {len(fit)} chips, checked on the other {len(check)}: {compare(crops, rows[check])}")

    print(f"\n3. crops vs CSV rows, on the {found.sum()} chips with a face")
    bare = {
        "upload path (detect + align)": [best[i].crop for i in kept],
        "detector box, no alignment": [box_crop(photos[i], best[i].box) for i in kept],
        "whole image resized": [whole_image_crop(photos[i]) for i in kept],
    }
    for name, crops in bare.items():
        print(f"   bare chips, {name:32s}{compare(np.stack(crops), rows[kept])}")
    canvases = [pasted(photos[i]) for i in kept]
    on_canvas = [max(detect_faces(canvas), key=lambda face: face.confidence, default=None) for canvas in canvases]
    hits = [j for j, face in enumerate(on_canvas) if face]
    print(f"   pasted on a {CANVAS_SIZE[0]}x{CANVAS_SIZE[1]} photo: a face in {len(hits)} of {len(kept)}")
    pasted_crops = {
        "upload path (detect + align)": [on_canvas[j].crop for j in hits],
        "whole image resized": [whole_image_crop(canvases[j]) for j in hits],
    }
    for name, crops in pasted_crops.items():
        print(f"   pasted, {name:36s}{compare(np.stack(crops), rows[kept[hits]])}")


if __name__ == "__main__":
    main()
