"""Photos and folders of them in bulk: every face of every photo, as JSON or as a table (CSV or JSON Lines).

A photo that cannot be read, or has no face, is reported (a row with its
`error`), never a stop.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from core.inference.photos import TABLE_COLUMNS, FacePredictor, face_rows, predict_photo
from core.vision.images import image_files

OUT_FORMATS = (".csv", ".jsonl")


def image_paths(paths: list[Path]) -> list[Path]:
    """The paths given, a folder replaced by every JPEG, PNG and WebP file below it (in name order)."""
    return [image for path in paths for image in (image_files(path) if path.is_dir() else [path])]


def predict_files(predictor: FacePredictor, paths: list[Path], if_no_face: str, level: float, progress=None):
    """(path, PhotoPrediction or None, error or None) of each photo, one after another; a photo that fails is reported, never a stop."""
    for done, path in enumerate(paths, start=1):
        try:
            yield path, predict_photo(predictor, path, if_no_face, level), None
        except (ValueError, OSError) as error:  # core.vision.images' InputError is a ValueError.
            yield path, None, str(error)
        if progress is not None:
            progress(done, len(paths))


def write_table(results, out: Path) -> dict:
    """One row per face (core.inference.photos.face_rows) to a CSV or JSON Lines file; a photo without a face or with an error is one row saying so."""
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
        # A file name that is not valid UTF-8 is held with surrogate escapes (os.fsdecode): written back as its own bytes.
        with open(out, "w", newline="", encoding="utf-8", errors="surrogateescape") as table:
            writer = csv.DictWriter(table, [column for column in TABLE_COLUMNS if column in present])
            writer.writeheader()
            writer.writerows(rows)
    faces = sum(1 for row in rows if "face" in row)
    return {"out": str(out), "images": len({row["image"] for row in rows}), "faces": faces, "without_face": len(rows) - faces - unreadable,
            "unreadable": unreadable}  # fmt: skip
