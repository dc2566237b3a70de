"""Metrics and breakdowns from a predictions frame, and the evaluate command line."""

import gzip
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core import runs
from core.data.loading import load_faces
from core.evaluation.metrics import Summary, age_bucket, confusion_matrix, label_predictions, summarize
from core.inference.predictor import KerasModel, Predictor
from core.labels import AGE_BUCKET_LABELS
from tests.conftest import REPO_ROOT


def test_age_buckets_have_the_agreed_edges():
    ages = [0, 2, 3, 9, 10, 19, 20, 69, 70, 116]
    assert list(age_bucket(ages)) == ["0-2", "0-2", "3-9", "3-9", "10-19", "10-19", "20-29", "60-69", "70+", "70+"]
    assert list(age_bucket([5]).categories) == list(AGE_BUCKET_LABELS)


@pytest.fixture
def frame():
    return pd.DataFrame(
        {
            "row_id": [0, 1, 2, 3],
            "age": [1, 25, 25, 80],
            "gender": [0, 1, 1, 0],
            "ethnicity": [0, 0, 2, 2],
            "pred_age": [3.0, 20.0, 30.0, 70.0],
            "age_error": [2.0, -5.0, 5.0, -10.0],
            "pred_gender_prob": [0.1, 0.9, 0.3, 0.6],
            "pred_gender": [0, 1, 0, 1],
            "gender_correct": [True, True, False, False],
        }
    )


def test_summary_headline_and_breakdowns(frame):
    summary = summarize(frame)
    assert summary.n == 4 and summary.accuracy == 0.5 and summary.mae == 5.5
    assert summary.confusion_matrix == [[1, 1], [1, 1]]
    buckets = {row["age_bucket"]: row for row in summary.by_age_bucket}
    assert set(buckets) == {"0-2", "20-29", "70+"}
    assert buckets["20-29"] == {"age_bucket": "20-29", "n": 2, "accuracy": 0.5, "mae": 5.0}
    by_gender = {row["gender"]: row for row in summary.by_gender}
    assert by_gender["female"]["mae"] == 5.0 and by_gender["male"]["mae"] == 6.0
    crossed = {(row["gender"], row["ethnicity"]): row["n"] for row in summary.by_gender_and_ethnicity}
    assert crossed == {("female", "Asian"): 1, ("female", "White"): 1, ("male", "Asian"): 1, ("male", "White"): 1}
    assert Summary.from_json(summary.to_json()) == summary


def test_a_summary_has_the_keys_of_the_heads_predicted(frame):
    age_only = summarize(frame.drop(columns=["pred_gender_prob", "pred_gender", "gender_correct"]))
    assert age_only.headline() == {"mae": 5.5} and age_only.confusion_matrix is None
    assert not {"accuracy", "confusion_matrix"} & set(age_only.to_json())
    assert summarize(frame.iloc[:0]).headline() == {}


def test_label_predictions_adds_names_buckets_and_absolute_errors(tiny_both_run):
    frame = label_predictions(pd.read_csv(tiny_both_run / runs.PREDICTIONS_FILE))
    assert set(frame["gender_name"]) <= {"male", "female"}
    assert (frame["abs_age_error"] == frame["age_error"].abs()).all()
    assert (frame.loc[frame["age"] < 3, "age_bucket"] == "0-2").all()
    assert (frame.loc[frame["age"] >= 70, "age_bucket"] == "70+").all()
    with pytest.raises(ValueError, match="missing column"):
        label_predictions(frame.drop(columns=["ethnicity"]))


def test_confusion_matrix_rows_are_true_columns_predicted(frame):
    matrix = confusion_matrix(frame.assign(pred_gender=[1, 1, 1, 1]))
    assert matrix.tolist() == [[0, 2], [0, 2]]
    assert np.sum(matrix) == 4


def run_cli(*args):
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_evaluate_cli_scores_the_test_split_and_another_csv(tiny_both_run, shared_csv, tmp_path):
    code, result = run_cli("core", "evaluate", str(tiny_both_run))
    assert code == 0 and result["rows"] == "test split" and result["n"] == runs.read_config(tiny_both_run).split_sizes["test"]
    metrics = json.loads((tiny_both_run / "metrics.json").read_text())
    assert result["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    assert result["mae"] == pytest.approx(metrics["test"]["mae"], abs=0.01)

    with gzip.open(shared_csv, "rt") as source:
        (tmp_path / "few.csv").write_text("".join(source.readline() for _ in range(51)))
    code, result = run_cli("core", "evaluate", str(tiny_both_run), "--csv", str(tmp_path / "few.csv"))
    assert code == 0 and result["rows"] == "all rows" and result["n"] == 50 and result["by_age_bucket"]
    # The int8 copy's figures are those of the run's Keras model on the same faces, up to int8 rounding.
    faces, _ = load_faces(tmp_path / "few.csv")
    run = runs.load_run(tiny_both_run)
    predicted = Predictor(KerasModel(run.load_model()), run.config.train.preset.flip_test_time).predict(faces.as_float())
    assert result["accuracy"] == pytest.approx(np.mean((predicted["gender"] >= 0.5) == faces.gender), abs=2 / 50)
    assert result["mae"] == pytest.approx(np.abs(predicted["age"] - faces.age).mean(), abs=0.5)


def test_evaluate_cli_explains_a_directory_that_is_not_a_run(tmp_path):
    code, result = run_cli("core", "evaluate", str(tmp_path))
    assert code == 1 and "not a run directory" in result["error"]
