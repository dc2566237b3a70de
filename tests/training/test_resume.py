"""Resume: a training killed with SIGKILL during an epoch goes on from its last whole epoch and finishes."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from core import runs
from core.data.loading import load_faces
from core.networks.presets import get_preset
from core.training.callbacks import checkpoint_state
from core.training.loop import MONITORS
from tests.conftest import REPO_ROOT
from tests.processes import wait_for

EPOCHS = 4


def train_in_background(*args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "core", "train", *args]
    return subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def whole_epochs(run_dir) -> list[int]:
    return [record.epoch for record in runs.read_history(run_dir) if record.is_complete_epoch]


@pytest.mark.slow  # Trains a real model or starts a real training process.
def test_a_run_killed_during_an_epoch_resumes_from_its_last_whole_epoch_and_finishes(shared_csv, tmp_path):
    run_dir = tmp_path / "run"
    process = train_in_background("--task", "gender", "--epochs", str(EPOCHS), "--limit", "600", "--batch-size", "16",
                                  "--log-every-batches", "2", "--csv", str(shared_csv), "--run-dir", str(run_dir))  # fmt: skip
    try:
        wait_for(lambda: checkpoint_state(run_dir) is not None, 240, "the first whole epoch's checkpoint", interval=0.2)
        # Well into the next epoch: batch records of epoch 2 are there.
        wait_for(lambda: any(record.epoch == 2 and record.kind == "batch" for record in runs.read_history(run_dir)), 120,
                 "epoch 2 to be under way", interval=0.1)  # fmt: skip
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    killed_at = checkpoint_state(run_dir)["epoch"]
    assert 1 <= killed_at < EPOCHS
    wait_for(lambda: runs.load_run(run_dir).state == runs.INTERRUPTED, 30, "the run to show as interrupted")
    assert runs.load_run(run_dir).can_resume and not (run_dir / runs.METRICS_FILE).exists()
    best_before = runs.read_json(run_dir / runs.CHECKPOINT_DIR / "keeper.json")["best_epoch"]

    done = subprocess.run([sys.executable, "-m", "core", "train", "--resume", str(run_dir)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed"
    run = runs.load_run(run_dir)
    assert run.state == runs.COMPLETED and (run.status.resumes, run.status.resumed_from_epoch) == (1, killed_at)
    # Every epoch once, in order: those before the kill kept, the unfinished one run again.
    assert whole_epochs(run_dir) == list(range(1, EPOCHS + 1))
    epochs = [record for record in runs.read_history(run_dir) if record.kind == "epoch"]
    assert all(later.elapsed > earlier.elapsed for earlier, later in itertools.pairwise(epochs)), "the clock runs on"
    assert run.metrics.best_epoch >= best_before and run.metrics.best_epoch in whole_epochs(run_dir)
    assert not (run_dir / runs.CHECKPOINT_DIR).exists(), "a completed run keeps no checkpoint"
    keras.saving.load_model(run_dir / runs.MODEL_FILE)
    # The resumed run scored its own test split, as an uninterrupted run does.
    faces, _ = load_faces(shared_csv)
    predictions = pd.read_csv(run_dir / runs.PREDICTIONS_FILE)
    assert np.array_equal(np.sort(predictions["row_id"]), np.load(run_dir / runs.SPLIT_FILE)["test"])
    truth = faces.gender[predictions["row_id"]]
    assert run.metrics.test.accuracy == pytest.approx(np.mean((predictions["pred_gender_prob"] >= 0.5) == truth))


def test_what_cannot_be_resumed_is_refused_with_the_reason(tiny_gender_run, tmp_path):
    finished = tmp_path / "finished"
    shutil.copytree(tiny_gender_run, finished)
    done = subprocess.run([sys.executable, "-m", "core", "train", "--resume", str(finished)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert (
        done.returncode == 1
        and "has completed: there is nothing to resume" in json.loads(done.stdout.strip().splitlines()[-1])["error"]
    )
    mixed = subprocess.run([sys.executable, "-m", "core", "train", "--resume", str(finished), "--epochs", "3"], cwd=REPO_ROOT,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert mixed.returncode == 2 and "--resume continues a run with its own settings; drop --epochs" in mixed.stderr
    assert not runs.load_run(finished).can_resume


def test_a_resume_refused_before_training_leaves_the_run_stopped_and_usable(tiny_gender_run, tmp_path):
    from core.training.loop import resume

    run_dir = tmp_path / "stopped"
    shutil.copytree(tiny_gender_run, run_dir)
    runs.lifecycle.mark_stopped(run_dir)
    (run_dir / runs.CHECKPOINT_DIR).mkdir()
    (run_dir / runs.CHECKPOINT_DIR / "keeper.json").write_text(
        json.dumps({"epoch": 1, "elapsed": 5.0, "best_value": 0.6, "best_epoch": 1})
    )
    (run_dir / runs.CHECKPOINT_DIR / "training_metadata.json").write_text(json.dumps({"epoch": 1, "batch": 0}))
    config = runs.read_config(run_dir)
    runs.write_config(run_dir, dataclasses.replace(config, data_hash="0" * 32))  # Its data is gone.
    with pytest.raises(ValueError, match="neither that file nor the default CSV"):
        resume(run_dir, verbose=0)
    run = runs.load_run(run_dir)
    assert run.state == runs.STOPPED and run.status.error.startswith("resume refused: ")
    assert run.is_usable and run.can_resume, "still a usable model, and resumable once the data is back"


def test_a_resumed_run_puts_its_saved_best_weights_back_into_a_model_with_a_training_only_head(tmp_path):
    """Regression: model.keras has no ethnicity head, so restoring it into the training model by position failed."""
    from core.networks.build import build_model, inference_copy
    from core.training.callbacks import BestModelKeeper, StopWatcher, save_model_atomic

    earlier = build_model(get_preset("compact-dldl"), "both", age_bias=30.0)
    save_model_atomic(inference_copy(earlier), tmp_path / runs.MODEL_FILE)  # What the earlier process kept as best.
    model = build_model(get_preset("compact-dldl"), "both", age_bias=30.0)  # The resumed process's network, other weights.
    keeper = BestModelKeeper(tmp_path, ("gender", "age"), *MONITORS["both"], 5, StopWatcher(tmp_path))
    keeper.set_model(model)
    keeper.resume({"monitor": MONITORS["both"][0], "best_value": 1.0, "best_epoch": 3})
    keeper.restore_best()
    saved = keras.saving.load_model(tmp_path / runs.MODEL_FILE)
    assert {layer.name for layer in model.layers} - {layer.name for layer in saved.layers} == {"ethnicity_dense", "ethnicity"}
    for layer in saved.layers:
        for restored, kept in zip(model.get_layer(layer.name).get_weights(), layer.get_weights(), strict=True):
            np.testing.assert_array_equal(restored, kept)


def test_the_best_epoch_is_the_one_whose_served_heads_did_best_and_an_old_checkpoint_keeps_its_monitor(tmp_path):
    """Epoch 2 has the lowest val_loss only thanks to the training-only ethnicity head; epoch 1 is kept."""
    from core.networks.build import build_model
    from core.training.callbacks import SERVED_LOSS, BestModelKeeper, ServedLoss, StopWatcher

    model = build_model(get_preset("compact-dldl"), "both", age_bias=30.0)
    keeper = BestModelKeeper(tmp_path, ("gender", "age"), *MONITORS["both"], 5, StopWatcher(tmp_path))
    # Keras' own callback list, which hands every callback the same logs in order.
    callbacks = keras.callbacks.CallbackList([ServedLoss({"ethnicity": 0.3}), keeper], model=model)
    for epoch, (val_loss, val_ethnicity_loss) in enumerate(((1.00, 0.5), (0.95, 0.1))):
        callbacks.on_epoch_end(epoch, {"val_loss": val_loss, "val_ethnicity_loss": val_ethnicity_loss})
    assert keeper.best_epoch == 1 and keeper.best_value == pytest.approx(0.85)
    assert keeper.state()["monitor"] == SERVED_LOSS

    # A checkpoint written before the served loss existed chose by val_loss; the resumed run goes on with it.
    resumed = BestModelKeeper(tmp_path, ("gender", "age"), *MONITORS["both"], 5, StopWatcher(tmp_path))
    resumed.set_model(model)
    resumed.resume({"best_value": 0.95, "best_epoch": 2})
    assert resumed.monitor == "val_loss"
