"""Calibrate: fit a finished run's age intervals and P(female) on its validation split.

    python -m core calibrate runs/<run_id>

Training calibrates every run when it ends; this does the same for a run
trained before calibration existed (or again). It needs the CSV the run was
trained on (its own path, or the default CSV with the same content hash).
It writes calibration.json, adds the calibrated columns to predictions.csv
(`pred_gender_prob` calibrated, `pred_gender_prob_raw`, `age_low`,
`age_high`, `interval_level`) and the coverage and calibration error on the
test split to metrics.json, and rewrites MODEL_CARD.md. The last line
printed is one JSON object: the temperature, and coverage per age bucket.
The library behind it: core.inference.scoring.calibrate_run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core import runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    # TensorFlow and OpenVINO load here, after the arguments are checked.
    from core.inference.predictor import Predictor
    from core.inference.scoring import calibrate_run

    try:
        run = runs.load_run(args.run_dir)
        if run.metrics is None:
            raise ValueError(f"run {run.run_id} has not finished (no {runs.METRICS_FILE}); only a finished run can be calibrated")
        faces, _ = runs.load_run_faces(run)
        calibrate_run(run.run_dir, faces, runs.read_split(run.run_dir), Predictor.for_run(run))
    except (ValueError, FileNotFoundError) as error:
        print(json.dumps({"run_dir": str(args.run_dir), "error": str(error)}))
        return 1
    metrics = runs.read_metrics(run.run_dir)
    print(json.dumps({"run_dir": str(run.run_dir), "gender_ece": metrics.gender_ece, "coverage": metrics.coverage}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
