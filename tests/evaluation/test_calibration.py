"""core.evaluation.calibration and core.inference.scoring: intervals that hold on exchangeable faces, a temperature that fixes a known error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core import runs
from core.evaluation.calibration import coverage_table, expected_calibration_error, fit_calibration
from core.inference.scoring import evaluate_run
from tests.conftest import REPO_ROOT, SHIPPED_STARTER


def synthetic_ages(rng, count: int):
    """True ages and predictions whose errors grow with age and lean young past 50, as the models' do."""
    age = rng.integers(1, 95, count)
    predicted = np.clip(age - np.where(age > 50, (age - 50) / 4, 0) + rng.normal(0, 1.5 + age / 12, count), 0, None)
    return age, predicted


def test_intervals_hold_at_their_level_for_every_age_bucket_on_new_faces():
    rng = np.random.default_rng(0)
    # Many validation faces, so that each bucket's quantiles are sure and only the method is tested.
    calibration = fit_calibration(*synthetic_ages(rng, 12_000), None, None)
    age, predicted = synthetic_ages(rng, 20_000)
    frame = pd.DataFrame({"age": age, "pred_age": predicted})
    table = coverage_table(frame, calibration, levels=(0.8, 0.9))
    for row in table:
        # Every bucket, not only all faces together: the point of conditioning on the true age.
        assert row["coverage"] == pytest.approx(row["level"], abs=0.03), row
    widths = {(row["level"], row["age_bucket"]): row["mean_width"] for row in table}
    assert widths[(0.9, "all")] > widths[(0.8, "all")]
    assert widths[(0.8, "3-9")] < widths[(0.8, "60-69")], "errors grow with age, and so do the intervals"
    low, high = calibration.age_interval(np.array([70.0]), 0.8)
    assert high[0] - 70 > 70 - low[0], "older faces are guessed too young: the interval reaches further up"


def test_intervals_tuned_on_half_a_real_validation_split_hold_on_the_other_half():
    """Regression: levels tuned on the very faces they were judged on held 3 to 5 points less than asked in small buckets.

    The starter run's validation faces (real errors, with their heavy tails),
    halved 30 times: fitted on one half, judged on the other.
    """
    starter = runs.read_calibration(SHIPPED_STARTER)
    ages, predicted = starter.validation_age, starter.validation_predicted
    rng = np.random.default_rng(0)
    shares = []
    for _ in range(30):
        order = rng.permutation(len(ages))
        fitted, judged = order[: len(ages) // 2], order[len(ages) // 2 :]
        calibration = fit_calibration(ages[fitted], predicted[fitted], None, None)
        frame = pd.DataFrame({"age": ages[judged], "pred_age": predicted[judged]})
        shares.append({(row["level"], row["age_bucket"]): row["coverage"] for row in coverage_table(frame, calibration)})
    for level, bucket in shares[0]:
        held = np.mean([share[(level, bucket)] for share in shares])
        # About 50 faces per small bucket on each side: a bucket's mean over 30 halvings moves by about a point,
        # and half the faces fit cruder bounds than a whole split (tuned in-sample, 10-19 and 60-69 held 75 %).
        assert held >= level - 0.035, (bucket, level, held)
        if bucket != "0-2":  # Babies are ages 1 and 2 only: an interval holds both or neither, so more than asked.
            assert held <= level + 0.035, (bucket, level, held)


def test_intervals_are_whole_years_around_the_prediction_and_a_run_without_ages_has_none():
    rng = np.random.default_rng(1)
    calibration = fit_calibration(*synthetic_ages(rng, 900), None, None)
    low, high = calibration.age_interval(np.linspace(0.5, 100, 60), 0.8)
    assert np.array_equal(low, np.round(low)) and np.all(low <= high) and low.min() >= 0
    assert calibration.age_interval(30.0, 0.8)[0].shape == (1,)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        calibration.age_interval(np.array([30.0]), 1.0)
    gender_only = fit_calibration(None, None, rng.integers(0, 2, 50), rng.random(50))
    with pytest.raises(ValueError, match="predicts no age"):
        gender_only.age_interval(np.array([30.0]))


def test_the_temperature_undoes_a_known_overconfidence():
    rng = np.random.default_rng(2)
    true_logit = rng.normal(0, 2.5, 5000)
    is_female = rng.random(5000) < 1 / (1 + np.exp(-true_logit))
    overconfident = 1 / (1 + np.exp(-true_logit * 3))  # What the network says: three times too sure.
    calibration = fit_calibration(None, None, is_female.astype(int), overconfident)
    assert calibration.temperature == pytest.approx(3.0, rel=0.1)
    assert calibration.ece_after < calibration.ece_before / 2
    calibrated = calibration.female_probability(overconfident)
    assert np.array_equal(calibrated >= 0.5, overconfident >= 0.5), "the predicted gender never changes"
    assert expected_calibration_error(calibrated, is_female) == pytest.approx(calibration.ece_after)


def test_a_calibration_round_trips_through_json(tmp_path):
    rng = np.random.default_rng(3)
    age, predicted = synthetic_ages(rng, 500)
    calibration = fit_calibration(age, predicted, rng.integers(0, 2, 500), rng.random(500))
    runs.write_calibration(tmp_path, calibration)
    loaded = runs.read_calibration(tmp_path)
    assert loaded.temperature == calibration.temperature and loaded.validation_faces == 500
    ages = np.linspace(0, 100, 50)
    assert np.allclose(loaded.age_interval(ages, 0.8), calibration.age_interval(ages, 0.8), atol=0.01)
    assert runs.read_calibration(tmp_path / "elsewhere") is None


def test_an_old_run_is_calibrated_by_the_cli_and_evaluated_with_its_intervals(tiny_both_run, tmp_path, shared_csv, monkeypatch):
    old_run = tmp_path / "old-run"
    shutil.copytree(tiny_both_run, old_run)
    for name in (runs.CALIBRATION_FILE, runs.MODEL_CARD_FILE):
        (old_run / name).unlink(missing_ok=True)
    raw = pd.read_csv(old_run / runs.PREDICTIONS_FILE)
    raw = raw.assign(pred_gender_prob=raw.get("pred_gender_prob_raw", raw["pred_gender_prob"])).drop(
        columns=[column for column in ("pred_gender_prob_raw", "age_low", "age_high", "interval_level") if column in raw]
    )
    raw.to_csv(old_run / runs.PREDICTIONS_FILE, index=False)  # As runs from before calibration saved it.

    done = subprocess.run(
        [sys.executable, "-m", "core", "calibrate", str(old_run)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (old_run / runs.CALIBRATION_FILE).is_file() and (old_run / runs.MODEL_CARD_FILE).is_file()
    calibrated = pd.read_csv(old_run / runs.PREDICTIONS_FILE)
    assert np.allclose(calibrated["pred_gender_prob_raw"], raw["pred_gender_prob"])
    assert (calibrated["pred_gender"] == raw["pred_gender"]).all(), "calibration never changes a predicted gender"
    assert (calibrated["age_low"] <= calibrated["pred_age"]).mean() > 0.9 and (calibrated["interval_level"] == 0.8).all()
    metrics = runs.read_metrics(old_run)
    inside = ((calibrated["age"] >= calibrated["age_low"]) & (calibrated["age"] <= calibrated["age_high"])).mean()
    reported = next(row for row in metrics.coverage if row["level"] == 0.8 and row["age_bucket"] == "all")
    assert reported["coverage"] == pytest.approx(inside) and result["coverage"] == metrics.coverage
    assert set(metrics.gender_ece) == {"before", "after", "temperature"}

    evaluated = evaluate_run(old_run)
    overall = next(row for row in evaluated["coverage"] if row["level"] == 0.8 and row["age_bucket"] == "all")
    assert overall["coverage"] == pytest.approx(reported["coverage"], abs=2 / metrics.test.n), "the same faces, scored again"
    assert evaluated["gender_ece"]["after"] == pytest.approx(metrics.gender_ece["after"], abs=0.01)
    assert evaluated["accuracy"] == pytest.approx(metrics.test.accuracy, abs=2 / metrics.test.n)
