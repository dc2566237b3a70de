"""Command line: calibrate a finished run's age intervals and P(female) on its validation split.

    python -m core.calibrate runs/<run_id>

Training calibrates every run when it ends; this does the same for a run
trained before calibration existed (or again). It needs the CSV the run was
trained on (its own path, or the default CSV with the same content hash).
It writes calibration.json, adds the calibrated columns to predictions.csv
(`pred_gender_prob` calibrated, `pred_gender_prob_raw`, `age_low`,
`age_high`, `interval_level`) and the coverage and calibration error on the
test split to metrics.json, and rewrites MODEL_CARD.md. The last line
printed is one JSON object: the temperature, and coverage per age bucket.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

import core.quiet  # noqa: F401  (must come before TensorFlow)
from core import runs
from core.calibration import Calibration, calibrate_predictions, calibration_report, fit_calibration
from core.data import FaceData
from core.model_card import write_model_card
from core.splits import Split


def calibrate_run(run_dir: Path, faces: FaceData, split: Split, predict: Callable[[np.ndarray], dict]) -> Calibration:
    """Fit a finished run's calibration on its validation faces and bring its files up to date with it.

    `predict` gives the raw head values of float faces, as the run's test
    predictions were made (core.evaluate.predict_run).
    """
    run_dir = Path(run_dir)
    heads = runs.read_config(run_dir).heads
    predicted = predict(faces.as_float(split.val))
    calibration = fit_calibration(
        faces.age[split.val] if "age" in heads else None,
        predicted.get("age"),
        faces.gender[split.val],
        predicted.get("gender"),
    )
    calibration.save(run_dir)
    frame = calibrate_predictions(pd.read_csv(run_dir / runs.PREDICTIONS_FILE), calibration)
    frame.to_csv(run_dir / runs.PREDICTIONS_FILE, index=False)
    metrics = runs.read_metrics(run_dir)
    report = calibration_report(frame, calibration)
    runs.write_metrics(run_dir, dataclasses.replace(metrics, coverage=report.get("coverage"), gender_ece=report.get("gender_ece")))
    write_model_card(run_dir)
    return calibration


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    from core.evaluate import predict_run  # TensorFlow and OpenVINO load here, after the arguments are checked.

    try:
        run = runs.load_run(args.run_dir)
        if run.metrics is None:
            raise ValueError(f"run {run.run_id} has not finished (no {runs.METRICS_FILE}); only a finished run can be calibrated")
        faces, _ = runs.load_run_faces(run)
        calibrate_run(run.run_dir, faces, Split.load(run.run_dir / runs.SPLIT_FILE), lambda images: predict_run(run, images))
    except (ValueError, FileNotFoundError) as error:
        print(json.dumps({"run_dir": str(args.run_dir), "error": str(error)}))
        return 1
    metrics = runs.read_metrics(run.run_dir)
    print(json.dumps({"run_dir": str(run.run_dir), "gender_ece": metrics.gender_ece, "coverage": metrics.coverage}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
