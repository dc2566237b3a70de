"""Tables and figures of the dashboard (dashboard/tables.py, dashboard/figures.py)."""

from __future__ import annotations

import datetime
import json
import os

import numpy as np
import pandas as pd
import pytest

from core import runs
from core.evaluation.metrics import summarize
from dashboard import figures, tables


def test_breakdown_table_keeps_the_numbers_of_core_and_orders_buckets(tiny_both_run):
    frame = runs.read_predictions(tiny_both_run)
    summary = summarize(frame)
    table = tables.breakdown_table(summary.by_age_bucket)
    assert list(table.columns) == ["age_bucket", "n", "accuracy", "mae"]
    assert table["n"].sum() == len(frame)
    codes = list(table["age_bucket"].cat.codes)
    assert codes == sorted(codes) and table["age_bucket"].iloc[1] == "3-9", "buckets in age order, not text order"
    expected = frame.groupby("age_bucket", observed=True)["abs_age_error"].mean()
    assert list(table["mae"]) == pytest.approx(list(expected))
    crossed = tables.breakdown_table(summary.by_gender_and_ethnicity)
    assert list(crossed.columns[:2]) == ["gender", "ethnicity"]
    assert tables.breakdown_table([]).empty


def test_calibration_table_bins_probabilities_and_counts_women():
    frame = pd.DataFrame({"pred_gender_prob": [0.05, 0.1, 0.15, 0.92, 0.95, 1.0, 0.55], "gender": [0, 0, 1, 1, 1, 1, 0]})
    table = tables.calibration_table(frame, bins=10)
    assert list(table["bin_low"]) == [0.0, 0.1, 0.5, 0.9]
    assert list(table["n"]) == [1, 2, 1, 3]
    assert list(table["observed_female"]) == [0.0, 0.5, 0.0, 1.0]
    assert table["mean_predicted"].iloc[1] == pytest.approx(0.125)
    with pytest.raises(ValueError, match="gender predictions"):
        tables.calibration_table(frame.drop(columns=["pred_gender_prob"]))


def test_runs_table_and_durations(tiny_both_run):
    run = runs.load_run(tiny_both_run)
    (row,) = tables.runs_table([run]).to_dict("records")
    metrics = json.loads((tiny_both_run / "metrics.json").read_text())["test"]
    assert (row["status"], row["task"], row["epochs"]) == ("completed", "both", "1/1")
    assert row["test accuracy"] == metrics["accuracy"] and row["test MAE (years)"] == metrics["mae"]

    started = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    finished = runs.RunInfo(
        run.run_dir,
        run.config,
        runs.Status(state="completed", started_at=started.isoformat(), ended_at="2026-01-01T12:01:30+00:00"),
        None,
    )
    assert tables.run_duration_seconds(finished) == 90
    going = runs.RunInfo(
        run.run_dir, run.config, runs.Status(state="running", pid=os.getpid(), started_at=started.isoformat()), None
    )
    assert tables.run_duration_seconds(going, now=started + datetime.timedelta(seconds=5)) == 5


def test_captions_and_details_of_a_face():
    row = pd.Series(
        {
            "row_id": 4,
            "line": 6,
            "img_name": "a.jpg",
            "age": 34,
            "age_bucket": "30-39",
            "ethnicity_name": "Asian",
            "gender": 1,
            "gender_name": "female",
            "pred_age": 41.2,
            "age_error": 7.2,
            "pred_gender": 0,
            "pred_gender_name": "male",
            "pred_gender_prob": 0.31,
            "gender_correct": False,
        }
    )
    assert tables.prediction_caption(row) == "34 → 41 · F→M 0.31 ✗"
    details = tables.face_details_table(row).set_index("field")["value"]
    assert details["age error (years)"] == "+7.2" and details["gender right?"] == "no" and details["CSV line"] == "6"


def test_age_histogram_and_balance_count_every_face():
    age = np.array([1, 1, 5, 30, 30, 30])
    gender = np.array([0, 1, 1, 0, 0, 1])
    histogram = figures.age_histogram(age, gender)
    assert sum(sum(trace.y) for trace in histogram.data) == len(age)
    male = next(trace for trace in histogram.data if trace.name == "male")
    assert male.y[30] == 2 and male.y[1] == 1
    balance = figures.balance_bar(np.array([0, 0, 2]), {0: "White", 1: "Black", 2: "Asian"}, "Ethnicity")
    assert list(balance.data[0].y) == [2, 0, 1], "a label with no face still gets its bar"


def test_training_curves_draw_each_metric_with_its_validation_points():
    history = [
        runs.HistoryRecord("batch", 1, 2, 4, 1, batch=2, metrics={"loss": 0.9, "gender_accuracy": 0.5}),
        runs.HistoryRecord(
            "epoch", 1, 2, 4, 2, metrics={"loss": 0.8, "gender_accuracy": 0.55, "val_loss": 0.7, "val_gender_accuracy": 0.6}
        ),
        runs.HistoryRecord(
            "epoch", 2, 2, 4, 4, metrics={"loss": 0.6, "gender_accuracy": 0.65, "val_loss": 0.65, "val_gender_accuracy": 0.7}
        ),
    ]
    assert figures.curve_metrics(history) == ["loss", "gender_accuracy"]
    figure = figures.training_curves(history)
    validation = [trace for trace in figure.data if trace.name == "validation"]
    assert [list(trace.y) for trace in validation] == [[0.7, 0.65], [0.6, 0.7]]
    per_batch = next(trace for trace in figure.data if trace.name.startswith("train (running"))
    assert list(per_batch.x) == [0.5], "batch 2 of 4 in epoch 1 sits half-way through it"


def test_gender_ethnicity_table_holds_the_crossing_and_both_margins(tiny_both_run):
    frame = runs.read_predictions(tiny_both_run)
    table = tables.gender_ethnicity_table(summarize(frame)).set_index(["ethnicity", "gender"])
    assert table.loc[("all", "all"), "n"] == len(frame)
    assert table.loc[("all", "all"), "mae"] == pytest.approx(frame["age_error"].abs().mean())
    women = frame[frame["gender"] == 1]
    assert table.loc[("all", "female"), "accuracy"] == pytest.approx(women["gender_correct"].mean())
    white_men = frame[(frame["gender"] == 0) & (frame["ethnicity"] == 0)]
    assert table.loc[("White", "male"), "n"] == len(white_men)
    assert table.loc[("White", "all"), "n"] == (frame["ethnicity"] == 0).sum()
