"""Scoring a finished run: its metrics on its own test split (or another CSV), and its calibration.

    evaluate_run("runs/<run_id>")                      # {"accuracy": ..., "mae": ..., breakdowns, coverage, ...}
    evaluate_run("runs/<run_id>", csv_path=other_csv)   # every row of another CSV of the same schema
    calibrate_run(run_dir, faces, split, predictor)     # fit on the validation split; update the run's files

Both predict with `Predictor.for_run` (the run's int8 copy, as training
scored it), so a run's metrics, its calibration and a later evaluation agree.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from core import runs
from core.data.loading import FaceData, load_faces
from core.data.splits import Split
from core.evaluation.calibration import Calibration, calibrate_predictions, calibration_report, fit_calibration
from core.evaluation.metrics import predictions_frame, summarize
from core.inference.predictor import Predictor
from core.runs.model_card import write_model_card


def evaluate_run(run_dir: Path, csv_path: Path | None = None) -> dict:
    """Metrics of a run's model on its test split, or on all rows of `csv_path`.

    A calibrated run is scored with calibrated probabilities, and the report
    says how often its age intervals held (`coverage`) and how well its
    P(female) matched reality before and after calibration (`gender_ece`).
    """
    run = runs.load_run(run_dir)
    if csv_path is None:
        faces, report = runs.load_run_faces(run)
        rows = runs.read_split(run.run_dir).test
        scope = "test split"
    else:
        faces, report = load_faces(csv_path)
        rows = list(range(len(faces)))
        scope = "all rows"
    predictor = Predictor.for_run(run)
    frame = predictions_frame(faces, rows, predictor.predict(faces.as_float(rows)))
    calibration = runs.read_calibration(run.run_dir)
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
        **({} if predictor.note is None else {"note": predictor.note}),
    }


def calibrate_run(run_dir: Path, faces: FaceData, split: Split, predictor: Predictor) -> Calibration:
    """Fit a finished run's calibration on its validation faces and bring its files up to date with it.

    Writes calibration.json, adds the calibrated columns to predictions.csv,
    the coverage and calibration error on the test split to metrics.json, and
    rewrites MODEL_CARD.md. `predictor` must be the one that made the run's
    test predictions (`Predictor.for_run`).
    """
    run_dir = Path(run_dir)
    heads = runs.read_config(run_dir).heads
    predicted = predictor.predict(faces.as_float(split.val))
    calibration = fit_calibration(
        faces.age[split.val] if "age" in heads else None,
        predicted.get("age"),
        faces.gender[split.val],
        predicted.get("gender"),
    )
    runs.write_calibration(run_dir, calibration)
    frame = calibrate_predictions(pd.read_csv(run_dir / runs.PREDICTIONS_FILE), calibration)
    runs.write_predictions(run_dir, frame)
    metrics = runs.read_metrics(run_dir)
    report = calibration_report(frame, calibration)
    runs.write_metrics(
        run_dir, dataclasses.replace(metrics, coverage=report.get("coverage"), gender_ece=report.get("gender_ece"))
    )
    write_model_card(run_dir)
    return calibration
