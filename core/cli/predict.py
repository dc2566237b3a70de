"""Predict: the faces in photos (or folders of them), each with box, age and its interval, and gender.

    python -m core predict RUN_DIR [RUN_DIR] IMAGE... [--if-no-face report|whole-image] [--level 0.8]
    python -m core predict RUN_DIR photos/ --out faces.csv        # a folder, recursively; one row per face

The last line printed is one JSON object:

    {"runs": {"gender": RUN_DIR, "age": RUN_DIR}, "images": [{"image": PATH, "width": W, "height": H,
      "faces": [{"box": [x, y, w, h], "confidence": c, "age": years, "age_low": years, "age_high": years,
                 "interval_level": 0.8, "gender": "female", "female_probability": p, "warnings": [...]}],
      "message": null}]}

An image without a face gets `"faces": []` and a message, unless
`--if-no-face whole-image` reads the whole image as one face chip (its box is
then the central square). An image that cannot be read gets an `"error"`.
With `--out` (a .csv or .jsonl file) every face is a row (`TABLE_COLUMNS`),
a photo without a face or that cannot be read is a row with its `error`, a
progress bar runs on stderr, and the last line printed says how many.
The library behind it: core.inference.photos and core.inference.files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import runs
from core.evaluation.calibration import DEFAULT_LEVEL
from core.inference.files import OUT_FORMATS, image_paths, predict_files, write_table
from core.inference.photos import NO_FACE_CHOICES, FacePredictor
from core.progress import progress_bar


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core predict", description=__doc__.split("\n")[0])
    parser.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH", help="one or two run directories, then images or folders of them"
    )
    parser.add_argument("--if-no-face", choices=NO_FACE_CHOICES, default="report", help="what to do with an image without a face")
    parser.add_argument("--level", type=float, default=DEFAULT_LEVEL, help="coverage of the age intervals (default %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write one row per face to this .csv or .jsonl file (progress on stderr) instead of JSON on stdout")  # fmt: skip
    args = parser.parse_args(argv)
    if not 0 < args.level < 1:
        parser.error(f"--level must lie strictly between 0 and 1, got {args.level}")
    if args.out is not None and args.out.suffix not in OUT_FORMATS:
        parser.error(f"--out must end in {' or '.join(OUT_FORMATS)}, got {args.out.name}")
    run_count = 0
    while run_count < len(args.paths) and (args.paths[run_count] / runs.CONFIG_FILE).is_file():
        run_count += 1
    args.run_dirs, args.images = args.paths[:run_count], image_paths(args.paths[run_count:])
    if not 1 <= run_count <= 2 or not args.images:
        parser.error(f"expected one or two run directories (folders with {runs.CONFIG_FILE}) and then images or folders of "
                     f"them; got {run_count} run directories and {len(args.images)} images")  # fmt: skip
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        predictor = FacePredictor.from_runs(args.run_dirs)
    except ValueError as error:
        print(json.dumps({"error": str(error)}))
        return 1
    used = {head: str(run_dir) for head, run_dir in predictor.run_dirs.items()}
    if args.out is not None:
        results = predict_files(predictor, args.images, args.if_no_face, args.level, progress=progress_bar)
        written = write_table(results, args.out)
        print(json.dumps({"runs": used, **written}))
        return 1 if written["unreadable"] else 0  # As without --out: 1 when an image could not be read.
    images, failed = [], False
    for path, photo, error in predict_files(predictor, args.images, args.if_no_face, args.level):
        images.append({"image": str(path), "error": error} if error else {"image": str(path), **photo.to_dict()})
        failed |= error is not None
    print(json.dumps({"runs": used, "images": images}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
