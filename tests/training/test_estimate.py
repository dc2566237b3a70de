"""The time estimate: measured on this machine before a training, close to what the training then takes, and
replaced by that training's own figures; a damaged figures file means measuring again, never a crash."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from core import runs
from core.config import TrainConfig
from core.training import estimate
from tests.conftest import REPO_ROOT
from tests.dashboard_apptest import button, open_page

TINY = ["--task", "both", "--preset", "compact-dldl", "--epochs", "3", "--limit", "1500"]


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache folder with no figures kept yet."""
    monkeypatch.setenv("AGEGENDER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def train_command(arguments: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "core", "train", *arguments], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_dry_run_s_estimate_comes_close_to_the_training_and_the_run_s_own_figures_replace_it(
    own_cache, tmp_path, monkeypatch, shared_csv
):
    monkeypatch.setenv("AGEGENDER_RUNS", str(tmp_path / "runs"))
    arguments = [*TINY, "--csv", str(shared_csv)]
    before = last_json(train_command([*arguments, "--dry-run"]).stdout)["estimate"]
    assert before["source"].startswith("measured on")
    assert not (tmp_path / "runs").exists(), "a dry run trains nothing"

    trained = train_command([*arguments, "--run-dir", str(tmp_path / "run")])
    said = [line for line in trained.stdout.splitlines() if line.startswith("estimate: about ")]
    assert len(said) == 1 and before["source"] in said[0], "the known estimate is said before training"
    status = runs.load_run(tmp_path / "run").status
    actual = estimate._seconds_between(status.started_at, status.ended_at)
    # A tiny run is mostly fixed costs (tracing, the int8 copy), noisier than a long one: a wider margin here.
    assert abs(before["total_seconds"] - actual) <= 0.3 * actual + 2, (before, actual)

    after = last_json(train_command([*arguments, "--dry-run"]).stdout)["estimate"]
    assert after["source"] == f"from run {runs.load_run(tmp_path / 'run').run_id}, trained on this machine"
    assert abs(after["total_seconds"] - actual) <= 0.1 * actual, (after, actual)


@pytest.mark.slow
def test_the_train_page_measures_the_chosen_preset_when_asked_and_then_knows_it(own_cache, no_runs, shared_csv):
    app = open_page("train")
    assert not [info for info in app.info if info.value.startswith("Expected:")], "nothing measured yet"
    assert any("Estimate the time" in caption.value for caption in app.caption)

    app.selectbox(key="train-preset").set_value("compact-dldl")
    app.number_input(key="train-limit").set_value(1500)
    button(app, "Estimate the time").click()
    app.run(timeout=180)
    assert not app.exception, [error.value for error in app.exception]
    (expected,) = [info.value for info in app.info if info.value.startswith("Expected:")]
    config = TrainConfig(preset="compact-dldl", limit=1500, csv_path=str(shared_csv.resolve()))
    kept = estimate.cached_estimate(config)
    assert kept is not None and kept.describe() in expected, (expected, kept)

    # Another session (a reload) gives the same from the kept figures, measuring nothing again.
    figures = own_cache / estimate.ESTIMATES_FILE
    measured_at = figures.stat().st_mtime_ns
    again = open_page("train")
    again.selectbox(key="train-preset").set_value("compact-dldl")
    again.number_input(key="train-limit").set_value(1500)
    button(again, "Estimate the time").click()
    again.run()
    assert figures.stat().st_mtime_ns == measured_at
    assert [info.value for info in again.info if info.value.startswith("Expected:")] == [expected]


@pytest.mark.parametrize(
    "content",
    [b"not json at all", b"[1, 2, 3]", b'{"key": "a string, not figures"}', b"\x00\xff" * 50, b""],
    ids=["text", "list", "not-figures", "binary", "empty"],
)
def test_a_damaged_figures_file_means_measuring_again_not_a_crash(own_cache, content):
    own_cache.mkdir()
    (own_cache / estimate.ESTIMATES_FILE).write_bytes(content)
    config = TrainConfig(csv_path="faces.csv")
    assert not estimate.figures_kept(config)
    assert estimate.cached_estimate(config, {"train": 900, "val": 100, "test": 250}) is None


def test_figures_are_kept_per_machine_arithmetic_and_instruction_set(own_cache, monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    config = TrainConfig(preset="seed", csv_path="faces.csv")  # float32 whatever the CPU
    estimate.keep_costs(config, config.preset, estimate.Costs(1e-3, 5e-4, 1.0, 4.0, 3.0, "measured on a test day"))
    assert estimate.figures_kept(config)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # float32 still, but slower: not the same figures
    assert not estimate.figures_kept(config)
    assert estimate.machine_description(config.preset).endswith("float32, oneDNN limited to AVX2")


def test_figures_kept_by_another_version_of_the_studio_are_not_used(own_cache):
    config = TrainConfig(csv_path="faces.csv")
    costs = estimate.Costs(1e-3, 5e-4, 1.0, 4.0, 3.0, "measured on a test day")
    estimate.keep_costs(config, config.preset, costs)
    assert estimate.kept_costs(config, config.preset) == costs
    kept = json.loads((own_cache / estimate.ESTIMATES_FILE).read_text())
    (key,) = kept
    kept[key] = dataclasses.asdict(costs) | {"a_field_this_version_lacks": 1}
    (own_cache / estimate.ESTIMATES_FILE).write_text(json.dumps(kept))
    assert estimate.kept_costs(config, config.preset) is None


def test_an_estimate_adds_every_epoch_and_the_teachers_trainings_and_says_so(own_cache):
    config = TrainConfig(preset="best", csv_path="faces.csv")
    sizes = {"train": 1000, "val": 100, "test": 300}
    own = estimate.Costs(0.01, 0.005, 2.0, 10.0, 20.0, "measured on a test day")
    teacher = estimate.Costs(0.02, 0.01, 3.0, 5.0, 6.0, "measured on a test day")
    estimate.keep_costs(config, config.preset, own)
    assert not estimate.figures_kept(config), "the teacher's recipe is not known yet"
    estimate.keep_costs(config, config.preset.teacher_preset, teacher)
    known = estimate.cached_estimate(config, sizes)
    teachers = config.preset.teachers
    own_epoch, teacher_epoch = 1000 * 0.01 + 100 * 0.005 + 2.0, 1000 * 0.02 + 100 * 0.01 + 3.0
    expected = 10 + 20 + config.epochs * own_epoch + teachers * (5 + 6 + config.epochs * teacher_epoch)
    assert known.total_seconds == pytest.approx(expected, abs=0.1)
    assert known.epoch_seconds == pytest.approx(own_epoch)
    assert f"after {teachers} teacher training(s) of its own" in known.describe()
    # The live ETA's part after a training's last epoch: its finish, then every later training whole.
    teacher_whole, own_whole = 5 + 6 + config.epochs * teacher_epoch, 10 + 20 + config.epochs * own_epoch
    assert estimate.seconds_after(config, sizes, 0) == pytest.approx(6 + (teachers - 1) * teacher_whole + own_whole)
    assert estimate.seconds_after(config, sizes, teachers) == pytest.approx(20)
    assert estimate.seconds_after(TrainConfig(preset="seed", csv_path="faces.csv"), sizes, 0) is None, "not kept"
