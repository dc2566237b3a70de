"""Training on the real CSV: a model that learns, every run file, stopping from outside, failures."""

import dataclasses
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
from core.data.augment import make_dataset
from core.data.loading import load_faces
from core.errors import InputError
from core.inference.predictor import KerasModel, Predictor
from core.networks.arithmetic import dtype_policy_for
from core.networks.build import AGES
from core.networks.presets import DEFAULT_PRESET, get_preset
from core.training.callbacks import canonical_logs
from core.training.loop import train
from core.training.prepare import (
    MAX_GROUP_WEIGHT,
    age_label_distribution,
    group_balance_weights,
    load_prepared_data,
    training_dataset,
)
from tests.conftest import REPO_ROOT, assert_beats_constant_answers

RUN_FILES = (
    "config.json", "split.npz", "history.jsonl", "status.json", "model.keras", "model.int8.xml", "model.int8.bin",
    "metrics.json", "predictions.csv",
)  # fmt: skip


@pytest.fixture(scope="module")
def default_run(shared_csv, tmp_path_factory):
    """The default preset trained for 2 epochs on 4,000 real rows, in a folder an earlier run left files in."""
    run_dir = tmp_path_factory.mktemp("default-run") / "run"
    run_dir.mkdir()
    # What an earlier run in the same directory left must not mix with the new run.
    (run_dir / "history.jsonl").write_text(json.dumps({"kind": "epoch", "epoch": 7}) + "\n")
    (run_dir / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.0}}))
    config = TrainConfig(task="both", epochs=2, limit=4000, csv_path=str(shared_csv))
    return run_dir, train(config, run_dir=run_dir, verbose=0)


@pytest.mark.slow  # Uses default_run, a real training of the default preset.
def test_a_model_trained_on_real_faces_beats_trivial_baselines_and_leaves_every_run_file(shared_csv, default_run):
    run_dir, result = default_run
    assert result.status == "completed"
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name

    faces, _ = load_faces(shared_csv)
    split = np.load(run_dir / "split.npz")
    assert_beats_constant_answers(faces, split, result.test)
    test_rows = split["test"]

    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["task"] == "both" and saved["preset"] == DEFAULT_PRESET and len(saved["data_hash"]) == 32
    assert saved["learning_rate"] == get_preset(DEFAULT_PRESET).learning_rate
    # Copies of a face stay together, so the parts are 72 / 8 / 20 % of the rows within a few faces.
    sizes = saved["split_sizes"]
    assert saved["split"] == "grouped" and sum(sizes.values()) == 4000 and abs(sizes["test"] - 800) <= 16
    assert sizes == {part: len(split[part]) for part in ("train", "val", "test")}
    history = runs.read_history(run_dir)
    assert [record.epoch for record in history if record.kind == "epoch"] == [1, 2]
    assert any(record.kind == "batch" and record.epoch == 1 for record in history), "live points before epoch 1 ends"
    assert {"val_gender_accuracy", "val_age_mae"} <= set(history[-1].metrics)

    # metrics.json agrees with the predictions it was computed from.
    metrics = json.loads((run_dir / "metrics.json").read_text())
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert np.array_equal(np.sort(predictions["row_id"]), test_rows)
    truth = faces.gender[predictions["row_id"]]
    assert metrics["test"]["accuracy"] == pytest.approx(np.mean((predictions["pred_gender_prob"] >= 0.5) == truth))
    assert metrics["test"]["mae"] == pytest.approx(
        np.abs(predictions["pred_age"] - faces.age[predictions["row_id"]]).mean(), abs=0.01
    )
    assert metrics["test"]["accuracy"] == pytest.approx(result.test["accuracy"])
    assert len(metrics["test"]["by_age_bucket"]) == 9 and metrics["test"]["confusion_matrix"]

    # The test predictions come from the int8 copy; they stay close to the float model's.
    model = keras.saving.load_model(run_dir / "model.keras")
    in_file_order = predictions.set_index("row_id").loc[test_rows]
    flip = get_preset(DEFAULT_PRESET).flip_test_time
    float_predictions = Predictor(KerasModel(model), flip).predict(faces.as_float(test_rows))
    float_prob = float_predictions["gender"]
    assert np.mean((in_file_order["pred_gender_prob"] >= 0.5) == (float_prob >= 0.5)) > 0.95
    assert np.abs(in_file_order["pred_gender_prob_raw"] - float_prob).mean() < 0.03, "the network's own, before calibration"
    # An undertrained model quantizes less well than a trained one (README: within seed noise): about 1 year here.
    assert np.abs(in_file_order["pred_age"] - float_predictions["age"]).mean() < 2.0
    assert json.loads((run_dir / "status.json").read_text())["state"] == "completed"
    served = {"gender", "age"} | ({"age_distribution"} if get_preset(DEFAULT_PRESET).age_head == "distribution" else set())
    assert set(model.output_names) == served, "every head it answers with, no training-only one"
    # Whatever arithmetic training used here, the saved model computes in float32.
    assert saved["dtype_policy"] == dtype_policy_for(get_preset(DEFAULT_PRESET))
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}


@pytest.mark.slow  # Trains a real model or starts a real training process.
def test_retraining_where_a_stopped_run_was_runs_every_epoch(shared_csv, tmp_path):
    """Regression: the STOP file an earlier, stopped run left made the next run there stop after one batch."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    runs.request_stop(run_dir)  # What Stop left behind in an earlier run here.
    result = train(TrainConfig(task="gender", epochs=1, limit=200, csv_path=str(shared_csv)), run_dir=run_dir, verbose=0)
    assert result.status == "completed"
    assert [record.epoch for record in runs.read_history(run_dir) if record.is_complete_epoch] == [1]


def test_an_age_run_reports_the_mae_of_its_own_predictions(tiny_age_run, shared_csv):
    metrics = json.loads((tiny_age_run / "metrics.json").read_text())
    predictions = pd.read_csv(tiny_age_run / "predictions.csv")
    faces, _ = load_faces(shared_csv)
    assert "accuracy" not in metrics["test"] and "pred_gender_prob" not in predictions
    assert metrics["test"]["mae"] == pytest.approx(
        np.abs(predictions["pred_age"] - faces.age[predictions["row_id"]]).mean(), abs=0.01
    )


@pytest.mark.slow  # Trains a real model or starts a real training process.
def test_training_started_by_the_cli_stops_cleanly_on_sigterm(shared_csv, tmp_path):
    run_dir = tmp_path / "stopped-run"
    command = [sys.executable, "-m", "core", "train", "--task", "gender", "--epochs", "50", "--limit", "600",
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
    epochs = [record for record in runs.read_history(run_dir) if record.kind == "epoch"]
    assert 1 <= len(epochs) < 50
    metrics = json.loads((run_dir / "metrics.json").read_text())
    complete = [record.epoch for record in epochs if record.is_complete_epoch]
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
    assert (seed.task, seed.learning_rate, seed.batch_size, seed.epochs) == ("gender", 1e-4, 32, 30)
    compact = TrainConfig(preset="compact", epochs=3)
    assert compact.epochs == 3 and compact.learning_rate == 2e-3
    # A preset whose heads share a trunk trains both unless told otherwise.
    assert (compact.task, TrainConfig().task, TrainConfig(task="age").task) == ("both", "both", "age")
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


def test_training_refuses_data_it_cannot_learn_from_before_it_starts(shared_csv, tmp_path):
    rows = pd.read_csv(shared_csv, nrows=3000)
    women = tmp_path / "women.csv"
    rows[rows["gender"] == 1].head(400).to_csv(women, index=False)
    with pytest.raises(InputError, match="holds only women: a gender model cannot learn"):
        train(TrainConfig(task="gender", epochs=1, csv_path=str(women)), run_dir=tmp_path / "one-gender", verbose=0)
    status = runs.read_status(tmp_path / "one-gender")
    assert status.state == "failed" and "holds only women" in status.error
    assert not (tmp_path / "one-gender" / "history.jsonl").exists(), "refused before any training"
    # One gender is no obstacle to an age model; too few faces is, for any.
    few = tmp_path / "few.csv"
    rows.head(25).to_csv(few, index=False)
    with pytest.raises(InputError, match=r"the val part of the split holds \d faces, fewer than the 8 needed"):
        train(TrainConfig(task="age", epochs=1, csv_path=str(few)), run_dir=tmp_path / "few", verbose=0)


@pytest.mark.slow  # Uses default_run, a real training of the default preset.
def test_a_distribution_age_head_learns_from_soft_labels_and_its_run_serves_the_expected_age(shared_csv, default_run):
    ages = np.array([1, 30, 90])
    labels = age_label_distribution(ages, 2.0)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-5)
    assert list(labels.argmax(axis=1)) == [1, 30, 90]
    assert labels[1] @ AGES == pytest.approx(30.0, abs=1e-3), "symmetric away from the ends"

    # The default preset has the distribution head: its run (trained once for this module) is the one to check.
    run_dir, result = default_run
    assert runs.read_config(run_dir).train.preset.name == "compact-dldl", "train a compact-dldl run here if the default changes"
    faces, _ = load_faces(shared_csv)
    split = np.load(run_dir / "split.npz")
    assert_beats_constant_answers(faces, split, result.test)
    test_rows = split["test"]
    epochs = [record.metrics for record in runs.read_history(run_dir) if record.kind == "epoch"]
    assert "val_ethnicity_loss" in epochs[-1], "the ethnicity head trained"
    # Keras logs each output's loss unweighted: val_loss is their weighted sum (the preset's weights).
    weighted = [logs["val_gender_loss"] + 0.1 * logs["val_age_loss"] + 0.1 * logs["val_age_distribution_loss"]
                + 0.3 * logs["val_ethnicity_loss"] for logs in epochs]  # fmt: skip
    assert [logs["val_loss"] for logs in epochs] == pytest.approx(weighted, rel=1e-4)
    # The best epoch is chosen by the served heads' loss: val_loss less the ethnicity head's weighted term.
    served = [logs["val_loss"] - 0.3 * logs["val_ethnicity_loss"] for logs in epochs]
    assert [logs["val_served_loss"] for logs in epochs] == pytest.approx(served, rel=1e-5)
    metrics = runs.read_metrics(run_dir)
    assert metrics.monitor == "val_served_loss" and metrics.best_epoch == 1 + int(np.argmin(served))
    model = keras.saving.load_model(run_dir / "model.keras")
    assert sorted(model.output_names) == ["age", "age_distribution", "gender"]
    # The run's ages (int8 copy) are the float model's expected ages, within quantization.
    predictions = pd.read_csv(run_dir / "predictions.csv").set_index("row_id").loc[test_rows]
    outputs = model.predict(faces.as_float(test_rows), verbose=0)
    np.testing.assert_allclose(outputs["age"][:, 0], outputs["age_distribution"] @ AGES, rtol=1e-4)
    float_ages = Predictor(KerasModel(model), True).predict(faces.as_float(test_rows))["age"]
    assert np.abs(predictions["pred_age"] - float_ages).mean() < 2.0


@pytest.mark.slow  # Trains a real model or starts a real training process.
def test_group_balance_weighs_every_gender_and_ethnicity_group_the_same_and_its_run_learns(shared_csv, tmp_path):
    faces, _ = load_faces(shared_csv)
    rows = np.arange(len(faces))
    weights = group_balance_weights(faces, rows)
    groups = faces.gender.astype(int) * 5 + faces.ethnicity
    totals = np.array([weights[groups == group].sum() for group in np.unique(groups)])
    assert len(totals) == 10 and weights.mean() == pytest.approx(1.0)
    np.testing.assert_allclose(totals, len(rows) / 10, rtol=1e-4)
    sizes = np.bincount(groups)
    assert weights[groups == sizes.argmin()][0] > weights[groups == sizes.argmax()][0], "the smallest group weighs most"

    # The weights reach Keras' loss: it is the weighted mean of the faces' cross-entropies.
    rng = np.random.default_rng(0)
    images, gender = rng.integers(0, 256, (64, 48, 48, 1), dtype=np.uint8), rng.integers(0, 2, 64)
    face_weights = rng.uniform(0, 3, 64).astype(np.float32)
    dataset = make_dataset(images, {"gender": np.eye(2, dtype=np.float32)[gender]}, 64, False, 0, face_weights)
    inputs = keras.Input((48, 48, 1))
    model = keras.Model(
        inputs, {"gender": keras.layers.Dense(2, activation="softmax", name="gender")(keras.layers.Flatten()(inputs))}
    )
    model.compile(loss={"gender": "categorical_crossentropy"})
    cross_entropy = -np.log(model.predict(images / 255.0, verbose=0)["gender"][np.arange(64), gender])
    loss = model.evaluate(dataset, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx((face_weights * cross_entropy).mean(), rel=1e-4) and loss != pytest.approx(cross_entropy.mean())

    # A small sample: a group of a few faces is held to MAX_GROUP_WEIGHT times the mean.
    few = np.concatenate([np.flatnonzero(groups == sizes.argmax())[:500], np.flatnonzero(groups == sizes.argmin())[:2]])
    assert group_balance_weights(faces, few).max() <= MAX_GROUP_WEIGHT

    run_dir = tmp_path / "run"
    config = TrainConfig(task="both", preset="compact-dldl-balanced", epochs=2, limit=4000, csv_path=str(shared_csv))
    result = train(config, run_dir=run_dir, verbose=0)
    assert_beats_constant_answers(faces, np.load(run_dir / "split.npz"), result.test)
    # That run's training batches carried the weights (images, targets, weights), and only its.
    data = load_prepared_data(runs.load_run(run_dir))
    _, _, batch_weights = next(iter(training_dataset(data, ("gender", "age"), None)))
    assert len(batch_weights) == config.batch_size and not np.allclose(batch_weights, 1.0)
    unweighted = dataclasses.replace(
        data, config=dataclasses.replace(data.config, train=dataclasses.replace(config, preset="compact-dldl"))
    )
    assert len(training_dataset(unweighted, ("gender", "age"), None).element_spec) == 2


class _OwnWeightAverage(keras.callbacks.Callback):
    """An exponential moving average of the trainable weights kept here, after every step, as Keras' optimizer defines it."""

    def __init__(self, momentum: float):
        super().__init__()
        self.momentum, self.average, self.last_step, self.by_epoch = momentum, None, None, {}

    def on_train_batch_end(self, batch, logs=None):
        self.last_step = {variable.path: np.array(variable) for variable in self.model.trainable_variables}
        if self.average is None:  # The first step's weights start the average.
            self.average = dict(self.last_step)
        else:
            self.average = {
                path: self.momentum * self.average[path] + (1 - self.momentum) * value for path, value in self.last_step.items()
            }

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch[epoch + 1] = {"average": dict(self.average), "last_step": dict(self.last_step)}


@pytest.mark.slow  # Trains a real model or starts a real training process.
def test_weight_averaging_saves_the_average_of_the_steps_not_the_last_step(shared_csv, tmp_path):
    momentum = get_preset("compact-dldl-ema").ema_momentum
    own = _OwnWeightAverage(momentum)
    config = TrainConfig(task="both", preset="compact-dldl-ema", epochs=2, limit=2000, csv_path=str(shared_csv))
    result = train(config, run_dir=tmp_path / "run", verbose=0, callbacks=(own,))
    assert result.status == "completed"

    best_epoch = json.loads((tmp_path / "run" / "metrics.json").read_text())["best_epoch"]
    saved = keras.saving.load_model(tmp_path / "run" / "model.keras", compile=False)
    expected = own.by_epoch[best_epoch]
    assert saved.trainable_variables and {v.path for v in saved.trainable_variables} <= set(expected["average"])
    for variable in saved.trainable_variables:
        np.testing.assert_allclose(
            np.array(variable), expected["average"][variable.path], rtol=1e-4, atol=1e-5, err_msg=variable.path
        )
    # Not the weights of that epoch's last step, which a run without averaging would have saved.
    farthest = max(np.abs(np.array(v) - expected["last_step"][v.path]).max() for v in saved.trainable_variables)
    assert farthest > 1e-3
