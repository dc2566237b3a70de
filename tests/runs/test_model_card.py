"""core.runs.model_card: a run's card says what its own files say."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from core import runs
from core.runs.model_card import model_card
from tests.conftest import REPO_ROOT


def test_the_card_carries_the_run_s_own_figures(tiny_both_run):
    run = runs.load_run(tiny_both_run)
    card = model_card(run)
    test = run.metrics.test
    assert card.startswith(f"# Model card: {run.run_id}")
    assert f"Gender accuracy **{test.accuracy:.1%}**" in card and f"Age mean absolute error **{test.mae:.2f} years**" in card
    for row in test.by_age_bucket:
        assert f"| {row['age_bucket']} | {row['n']:,} | {row['accuracy']:.1%} | {row['mae']:.2f} |" in card
    for row in test.by_ethnicity:
        assert f"| {row['ethnicity']} | {row['n']:,} |" in card
    for phrase in ("non-commercial research use", "binary label", "48x48 grayscale", run.config.data_hash, "Children"):
        assert phrase in card, phrase
    predictions = runs.read_predictions(tiny_both_run)
    assert f"{(predictions['ethnicity_name'] == 'White').mean():.0%} are White" in card


def test_the_cli_writes_the_card_into_the_run_and_refuses_an_unfinished_run(tiny_both_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(tiny_both_run, run_dir)
    done = subprocess.run(
        [sys.executable, "-m", "core", "model_card", str(run_dir)], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0 and (run_dir / runs.MODEL_CARD_FILE).read_text() == model_card(runs.load_run(run_dir))
    (run_dir / runs.METRICS_FILE).unlink()
    with pytest.raises(ValueError, match="no metrics.json yet"):
        model_card(runs.load_run(run_dir))
