"""Import faces: make a face CSV from image files (UTKFace chips, or your own labelled photos).

    python -m core import_faces SOURCE --out data/age_gender.csv.gz [--labels labels.csv]

SOURCE is a folder (searched recursively) or a .tar, .tar.gz or .tgz archive;
every file left out is named on stderr with its reason. The library behind
it, with the rules: core.data.importing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.data.importing import LABELS_FILE, import_faces
from core.progress import progress_bar


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core import_faces", description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path, help="a folder of images, or a .tar / .tar.gz / .tgz of them")
    parser.add_argument("--out", type=Path, required=True, help="the face CSV to write (.csv, or .csv.gz to compress)")
    parser.add_argument("--labels", type=Path, default=None, help=f"labels of the photos (default: {LABELS_FILE} in SOURCE)")
    args = parser.parse_args(argv)
    try:
        report = import_faces(args.source, args.out, args.labels, progress=progress_bar)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(json.dumps({"source": str(args.source), "error": str(error)}))
        return 1
    for problem in report.problems:
        print(f"left out {problem}", file=sys.stderr)
    print(json.dumps(report.to_json()))
    return 0 if report.faces_written else 1


if __name__ == "__main__":
    sys.exit(main())
