"""Command line: score a finished run on its own test split, or on every row of another CSV.

    python -m core.evaluate runs/<run_id>
    python -m core.evaluate runs/<run_id> --csv other_faces.csv

The last line printed is one JSON object with `accuracy` and/or `mae` at top
level and the breakdowns (by age bucket, gender, ethnicity) beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import core.quiet  # noqa: F401  (must come before TensorFlow)
from core import runs
from core.batch_inference import BatchPredictor
from core.calibration import Calibration, calibrate_predictions, calibration_report
from core.data import load_faces
from core.evaluation import predict_heads, predictions_frame, summarize
from core.presets import get_preset
from core.splits import Split


def evaluate_run(run_dir: Path, csv_path: Path | None = None) -> dict:
    """Metrics of a run's model on its test split, or on all rows of `csv_path`.

    A calibrated run is scored with calibrated probabilities, and the report
    says how often its age intervals held (`coverage`) and how well its
    P(female) matched reality before and after calibration (`gender_ece`).
    """
    run = runs.load_run(run_dir)
    if csv_path is None:
        faces, report = runs.load_run_faces(run)
        rows = Split.load(run.run_dir / runs.SPLIT_FILE).test
        scope = "test split"
    else:
        faces, report = load_faces(csv_path)
        rows = list(range(len(faces)))
        scope = "all rows"
    frame = predictions_frame(faces, rows, predict_run(run, faces.as_float(rows)))
    calibration = Calibration.load(run.run_dir)
    extra = {}
    if calibration is not None:
        frame = calibrate_predictions(frame, calibration)
        extra = calibration_report(frame, calibration)
    return {
        "run_dir": str(run.run_dir),
        "csv": report.path,
        "rows": scope,
        "rows_left_out": report.rows_left_out,
        **summarize(frame).to_json(),
        **extra,
    }


def predict_run(run: runs.RunInfo, images: np.ndarray) -> dict[str, np.ndarray]:
    """Raw head values of float faces by the run's int8 copy, as training scored them, with the preset's flip averaging.

    Runs trained before int8 copies were saved have only their Keras model.
    """
    flip = get_preset(run.config.train.preset).flip_test_time
    int8_path = run.run_dir / runs.INT8_MODEL_FILE
    if int8_path.is_file():
        return BatchPredictor(int8_path).predict(images, flip_test_time=flip)
    return predict_heads(run.load_model(), images, flip_test_time=flip)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--csv", type=Path, default=None, help="score every row of this CSV instead of the test split")
    args = parser.parse_args(argv)
    try:
        result = evaluate_run(args.run_dir, args.csv)
    except (ValueError, FileNotFoundError) as error:
        print(json.dumps({"run_dir": str(args.run_dir), "error": str(error)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
