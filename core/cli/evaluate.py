"""Evaluate: score a finished run on its own test split, or on every row of another CSV.

    python -m core evaluate runs/<run_id>
    python -m core evaluate runs/<run_id> --csv other_faces.csv

The last line printed is one JSON object with `accuracy` and/or `mae` at top
level and the breakdowns (by age bucket, gender, ethnicity) beside them.
The library behind it: core.inference.scoring.evaluate_run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--csv", type=Path, default=None, help="score every row of this CSV instead of the test split")
    args = parser.parse_args(argv)
    from core.inference.scoring import evaluate_run  # TensorFlow and OpenVINO load here, after the arguments are checked.

    try:
        result = evaluate_run(args.run_dir, args.csv)
    except (ValueError, FileNotFoundError) as error:
        print(json.dumps({"run_dir": str(args.run_dir), "error": str(error)}))
        return 1
    if "note" in result:  # A damaged int8 copy, say: the Keras model answered instead.
        print(f"note: {result['note']}", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
