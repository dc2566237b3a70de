"""core.runs: the run directory's schema, its registry of files, and old run directories."""

from __future__ import annotations

import json

import pytest

from core import runs
from core.config import TrainConfig
from core.evaluation.metrics import Summary


def test_every_run_file_round_trips_through_its_type(tmp_path):
    config = runs.RunConfig(
        train=TrainConfig(task="both", preset="seed", epochs=3, csv_path="/data/faces.csv"),
        created_at="2026-12-01T10:00:00+00:00",
        data_hash="ab" * 16,
        rows_in_file=100,
        rows_used=90,
        split_sizes={"train": 64, "val": 8, "test": 18},
        dtype_policy="mixed_bfloat16",
        versions={"keras": "3"},
    )
    runs.write_config(tmp_path, config)
    assert runs.read_config(tmp_path) == config
    saved = json.loads((tmp_path / runs.CONFIG_FILE).read_text())
    assert saved["task"] == "both" and saved["epochs"] == 3 and saved["heads"] == ["gender", "age"], "flat, as users read it"

    started = runs.lifecycle.mark_started(tmp_path, pid=12)
    status = runs.lifecycle.mark_completed(tmp_path)
    assert (status.state, status.pid, status.started_at) == (runs.COMPLETED, 12, started.started_at), "the start is kept"
    assert status.ended_at >= status.started_at and status.error is None
    assert runs.read_status(tmp_path) == status

    records = [
        runs.HistoryRecord("batch", 1, 3, 10, 1.5, batch=4, metrics={"loss": 2.0}),
        runs.HistoryRecord("epoch", 1, 3, 10, 3.0, partial=True, metrics={"loss": 1.0, "val_age_mae": 9.0}),
    ]
    for record in records:
        runs.append_history(tmp_path, record)
    assert runs.read_history(tmp_path) == records
    first_line = json.loads((tmp_path / runs.HISTORY_FILE).read_text().splitlines()[0])
    assert first_line == {"kind": "batch", "epoch": 1, "epochs": 3, "steps": 10, "elapsed": 1.5, "batch": 4, "loss": 2.0}
    assert [record.batches_done for record in records] == [4, 10] and not records[1].is_complete_epoch

    metrics = runs.RunMetrics("both", "seed", 2, "val_loss", 0.5, Summary(n=18, accuracy=0.9, mae=6.0))
    runs.write_metrics(tmp_path, metrics)
    assert runs.read_metrics(tmp_path) == metrics


def test_a_run_directory_from_before_the_schema_still_loads(tmp_path):
    """Runs written by earlier versions: no preset (the seed recipe), no dtype policy, a history line half-written."""
    (tmp_path / runs.CONFIG_FILE).write_text(json.dumps({"task": "gender", "epochs": 4, "csv_path": "old.csv", "seed": 1}))
    (tmp_path / runs.STATUS_FILE).write_text(json.dumps({"state": "completed", "pid": 1, "finished": "yes"}))
    (tmp_path / runs.HISTORY_FILE).write_text(
        '{"kind": "epoch", "epoch": 1, "epochs": 4, "steps": 9, "elapsed": 2, "loss": 1}\n{"kind": "ep'
    )
    (tmp_path / runs.METRICS_FILE).write_text(json.dumps({"task": "gender", "test": {"n": 5, "accuracy": 0.8}}))
    run = runs.load_run(tmp_path)
    assert (run.config.train.preset.name, run.config.dtype_policy, run.config.data_hash) == ("seed", "float32", None)
    assert run.task == "gender" and run.status.state == runs.COMPLETED
    assert run.metrics.test.accuracy == 0.8 and run.metrics.test.mae is None and run.metrics.best_epoch is None
    (record,) = runs.read_history(tmp_path)
    assert record.metrics == {"loss": 1.0}


def test_a_config_that_is_not_a_run_config_is_refused_with_its_reason(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / runs.CONFIG_FILE).write_text(json.dumps({"task": "gender", "preset": "gone-preset"}))
    with pytest.raises(runs.RunFileError, match="config.json is damaged: Unknown preset 'gone-preset'"):
        runs.load_run(run_dir)
    assert runs.list_runs(tmp_path) == []
    (damaged,) = runs.scan_runs(tmp_path)[1]
    assert damaged.path == run_dir / runs.CONFIG_FILE, "listed as damaged, not left out without a word"


def test_clearing_results_removes_every_file_a_training_writes_and_keeps_the_rest(tmp_path):
    for entry in runs.FILES:
        (tmp_path / entry.name).write_text("old")
    runs.clear_results(tmp_path)
    left = sorted(path.name for path in tmp_path.iterdir())
    assert left == sorted(entry.name for entry in runs.FILES if not entry.from_training)
    assert runs.STOP_FILE not in left and set(left) == {runs.CONFIG_FILE, runs.STATUS_FILE, runs.LOG_FILE}
