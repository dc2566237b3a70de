"""The Train page's launcher (dashboard/launcher.py): command line, one-at-a-time rule, progress."""

from __future__ import annotations

import sys

import pytest

from core import runs
from core.cli.train import config_from_args, parse_args
from core.config import TrainConfig
from dashboard import launcher


def test_the_command_line_trains_the_run_s_own_config_with_every_setting(tmp_path):
    config = TrainConfig(
        task="both",
        preset="seed",
        epochs=7,
        batch_size=16,
        learning_rate=3e-4,
        seed=5,
        limit=900,
        patience=2,
        csv_path="/data/faces.csv.gz",
        log_every_batches=3,
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runs.write_config(run_dir, runs.RunConfig(train=config))  # As start_training does.
    command = launcher.train_command(run_dir)
    assert command[:4] == [sys.executable, "-m", "core", "train"]
    args = parse_args(command[4:])  # What `python -m core train` will make of it.
    assert config_from_args(args) == config and args.run_dir == run_dir


def test_start_refuses_a_config_without_data(tmp_path):
    with pytest.raises(ValueError, match="no csv_path"):
        launcher.start_training(TrainConfig(), parent=tmp_path)


def test_start_refuses_while_another_training_runs(tmp_path, shared_csv):
    running = runs.new_run_dir(TrainConfig(task="gender", preset="seed"), tmp_path)
    runs.write_config(running, runs.RunConfig(train=TrainConfig()))
    runs.lifecycle.mark_started(running)  # By this test's process: alive.
    with pytest.raises(launcher.TrainingBusy, match=f"Run {running.name} is still training"):
        launcher.start_training(TrainConfig(csv_path=str(shared_csv)), parent=tmp_path)
    assert [run.run_id for run in runs.list_runs(tmp_path)] == [running.name], "no second run was made"


def test_start_refuses_a_missing_csv(tmp_path):
    with pytest.raises(ValueError, match="No CSV file at"):
        launcher.start_training(TrainConfig(csv_path=str(tmp_path / "nowhere.csv")), parent=tmp_path)


def test_progress_and_eta_from_history_records():
    assert launcher.progress([]) is None
    middle = launcher.progress([runs.HistoryRecord("batch", epoch=2, epochs=4, steps=20, elapsed=30.0, batch=10)])
    assert (middle.epoch, middle.batch) == (2, 10)
    assert middle.fraction == pytest.approx(30 / 80)
    assert middle.eta_seconds == pytest.approx(50.0)
    end_of_epoch = launcher.progress([runs.HistoryRecord("epoch", epoch=4, epochs=4, steps=20, elapsed=80.0)])
    assert end_of_epoch.fraction == 1.0 and end_of_epoch.eta_seconds == 0
    # A first teacher of two, halfway: the rest of it, the second teacher and the student, each 60 s long.
    first_teacher = launcher.progress([runs.HistoryRecord("batch", epoch=2, epochs=4, steps=20, elapsed=30.0, batch=20)], 0, 2)
    assert first_teacher.fraction == pytest.approx(0.5) and first_teacher.eta_seconds == pytest.approx(30.0 + 2 * 60.0)
    assert first_teacher.overall_fraction == pytest.approx(0.5 / 3)
    # Where this machine's figures say what follows (a slower student, the int8 copy and scoring): those instead.
    measured = launcher.progress([runs.HistoryRecord("batch", epoch=2, epochs=4, steps=20, elapsed=30.0, batch=20)], 0, 2, 200.0)
    assert measured.eta_seconds == pytest.approx(30.0 + 200.0)
    assert middle.overall_fraction == middle.fraction, "a run without teachers: one training"


def test_format_seconds():
    assert [launcher.format_seconds(value) for value in (None, 12.4, 185, 3720)] == ["–", "12 s", "3 min 05 s", "1 h 02 min"]


def test_log_tail_keeps_the_final_state_of_redrawn_lines(tmp_path):
    (tmp_path / runs.LOG_FILE).write_text("Epoch 1/2\n1/9 ━━\r5/9 ━━━━\r9/9 ━━━━━━ done\nlast line\n")
    assert launcher.log_tail(tmp_path, 2) == "9/9 ━━━━━━ done\nlast line"
    assert launcher.log_tail(tmp_path / "missing") == ""
