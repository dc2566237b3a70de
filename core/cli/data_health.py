"""Data health: copies of a face, labels that conflict, unusable faces, and labels a run doubts, as JSON.

    python -m core data_health ../shared/data/age_gender.csv.gz [--age-years 5] [--run RUN]

The library behind it: core.data.health.
"""

from __future__ import annotations

import argparse
import json
import sys

from core import runs
from core.data.health import AGE_CONFLICT_YEARS, health_report, label_doubts
from core.data.loading import load_faces


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core data_health", description=__doc__.split("\n")[0])
    parser.add_argument("csv", help="the face CSV (plain or .gz)")
    parser.add_argument("--age-years", type=int, default=AGE_CONFLICT_YEARS, help="copies whose ages differ by more conflict")
    parser.add_argument("--run", default=None, help="also list the test faces whose labels this run's model doubts")
    args = parser.parse_args(argv)
    try:
        faces, _ = load_faces(args.csv)
        report = health_report(faces, args.age_years)
        result = {"csv": args.csv, **report.counts(), "age_conflict_years": args.age_years}
        if args.run:
            doubts = label_doubts(runs.read_predictions(args.run))
            result["doubted_labels"] = doubts[["row_id", "line", "img_name", "age", "gender", "doubt"]].to_dict("records")
    except (ValueError, FileNotFoundError) as error:
        print(json.dumps({"csv": args.csv, "error": str(error)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
