"""Training on the real CSV: a model that learns, every run file, stopping from outside, failures."""

import json
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest

from core import runs
from core.config import TrainConfig
from core.data import load_faces
from core.evaluation import predict_heads
from core.models import dtype_policy_for
from core.presets import DEFAULT_PRESET, get_preset
from core.training import canonical_logs, train
from tests.conftest import REPO_ROOT

RUN_FILES = (
    "config.json", "split.npz", "history.jsonl", "status.json", "model.keras", "model.int8.xml", "model.int8.bin",
    "metrics.json", "predictions.csv",
)  # fmt: skip


def test_gender_model_trained_on_real_faces_beats_chance_and_leaves_every_run_file(shared_csv, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # What an earlier run in the same directory left must not mix with the new run.
    (run_dir / "history.jsonl").write_text(json.dumps({"kind": "epoch", "epoch": 7}) + "\n")
    (run_dir / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.0}}))
    config = TrainConfig(task="gender", epochs=2, limit=4000, csv_path=str(shared_csv))
    result = train(config, run_dir=run_dir, verbose=0)
    assert result["status"] == "completed"
    assert result["test"]["accuracy"] > 0.65, "clearly above the 0.5 of chance"
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name

    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["task"] == "gender" and saved["preset"] == DEFAULT_PRESET and len(saved["data_hash"]) == 32
    assert saved["learning_rate"] == get_preset(DEFAULT_PRESET).learning_rate
    assert saved["split_sizes"] == {"train": 2880, "val": 320, "test": 800}
    history = runs.read_history(run_dir)
    assert [record["epoch"] for record in history if record["kind"] == "epoch"] == [1, 2]
    assert any(record["kind"] == "batch" and record["epoch"] == 1 for record in history), "live points before epoch 1 ends"
    assert "val_gender_accuracy" in history[-1]

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] == pytest.approx(result["test"]["accuracy"])
    assert len(metrics["test"]["by_age_bucket"]) == 9 and metrics["test"]["confusion_matrix"]
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert len(predictions) == 800 and predictions["pred_gender_prob"].between(0, 1).all()

    model = keras.saving.load_model(run_dir / "model.keras")
    test_rows = np.load(run_dir / "split.npz")["test"]
    assert np.array_equal(np.sort(predictions["row_id"]), test_rows)
    # The test predictions come from the int8 copy; they stay close to the float model's.
    faces, _ = load_faces(shared_csv)
    in_file_order = predictions.set_index("row_id").loc[test_rows, "pred_gender_prob"].to_numpy()
    float_prob = predict_heads(model, faces.as_float(test_rows), flip_test_time=get_preset(DEFAULT_PRESET).flip_test_time)["gender"]
    assert np.mean((in_file_order >= 0.5) == (float_prob >= 0.5)) > 0.95
    assert np.abs(in_file_order - float_prob).mean() < 0.03
    assert json.loads((run_dir / "status.json").read_text())["state"] == "completed"
    assert model.output_names == ["gender"]
    # Whatever arithmetic training used here, the saved model computes in float32.
    assert saved["dtype_policy"] == dtype_policy_for(DEFAULT_PRESET)
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}


def test_age_run_reports_mae(tiny_age_run):
    metrics = json.loads((tiny_age_run / "metrics.json").read_text())
    assert 0 < metrics["test"]["mae"] < 40 and "accuracy" not in metrics["test"]
    assert {"pred_age", "age_error"} <= set(pd.read_csv(tiny_age_run / "predictions.csv").columns)


def test_training_started_by_the_cli_stops_cleanly_on_sigterm(shared_csv, tmp_path):
    run_dir = tmp_path / "stopped-run"
    command = [sys.executable, "-m", "core.train", "--task", "gender", "--epochs", "50", "--limit", "600",
               "--csv", str(shared_csv), "--run-dir", str(run_dir)]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.time() + 180
        while not (run_dir / "model.keras").exists():
            assert time.time() < deadline and process.poll() is None, "training should have saved a model by now"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    result = json.loads(output.strip().splitlines()[-1])
    assert process.returncode == 0 and result["status"] == "stopped"
    assert json.loads((run_dir / "status.json").read_text())["state"] == "stopped"
    epochs = [record for record in runs.read_history(run_dir) if record["kind"] == "epoch"]
    assert 1 <= len(epochs) < 50
    metrics = json.loads((run_dir / "metrics.json").read_text())
    complete = [record["epoch"] for record in epochs if not record.get("partial")]
    assert metrics["best_epoch"] in complete, "the best model is always a whole epoch"
    keras.saving.load_model(run_dir / "model.keras")


def test_a_failing_run_is_marked_failed_with_its_message(tmp_path):
    config = TrainConfig(task="gender", epochs=1, csv_path=str(tmp_path / "missing.csv"))
    with pytest.raises(FileNotFoundError):
        train(config, run_dir=tmp_path / "run")
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and "missing.csv" in status["error"]


def test_one_head_logs_are_named_by_their_head():
    assert canonical_logs({"loss": 1, "accuracy": 0.5, "val_accuracy": 0.6}, ("gender",)) == {
        "loss": 1.0, "gender_accuracy": 0.5, "val_gender_accuracy": 0.6}  # fmt: skip
    assert canonical_logs({"val_age_mae": 3}, ("gender", "age")) == {"val_age_mae": 3.0}


def test_config_takes_unset_settings_from_its_preset():
    seed = TrainConfig(preset="seed")
    assert (seed.learning_rate, seed.batch_size, seed.epochs) == (1e-4, 32, 30)
    compact = TrainConfig(preset="compact", epochs=3)
    assert compact.epochs == 3 and compact.learning_rate == 2e-3
    with pytest.raises(ValueError, match="Unknown preset"):
        TrainConfig(preset="nope")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="task must be one of"):
        TrainConfig(task="height")
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        TrainConfig(epochs=0)


def test_runs_list_skips_folders_without_a_readable_config(tiny_gender_run, tmp_path):
    import shutil

    shutil.copytree(tiny_gender_run, tmp_path / "good")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    assert [run.run_id for run in runs.list_runs(tmp_path)] == ["good"]
