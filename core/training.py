"""Train a model into a run directory: data, split, fit with live history, best model, test metrics.

    from core.config import TrainConfig
    result = train(TrainConfig(task="gender", epochs=2, limit=4000, csv_path="..."))
    result.run_dir, result.status, result.test   # a TrainResult

A run can be stopped from outside with `core.runs.request_stop(run_dir)` (the
CLI also turns SIGTERM / Ctrl-C into that request): it ends after the current
batch, is marked `stopped` and keeps its best model. An exception marks the
run `failed` with the message and is raised again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core import runs
from core.augment import make_dataset
from core.batch_inference import CALIBRATION_FACES, BatchPredictor, save_int8
from core.config import TrainConfig
from core.data import FaceData, load_faces, sample_rows, seeded_sample
from core.data_health import conflicting_rows, duplicate_groups
from core.evaluation import predictions_frame, summarize
from core.models import build_model, compile_model, dtype_policy_for, inference_copy
from core.presets import get_preset
from core.splits import Split, make_split

# What decides the best epoch, per task: (canonical log key, "max" or "min").
MONITORS = {"gender": ("val_gender_accuracy", "max"), "age": ("val_age_mae", "min"), "both": ("val_loss", "min")}


def targets_for(faces: FaceData, rows: np.ndarray, heads: tuple[str, ...]) -> dict[str, np.ndarray]:
    targets = {}
    if "gender" in heads:
        targets["gender"] = np.eye(2, dtype=np.float32)[faces.gender[rows]]  # one-hot (n, 2)
    if "age" in heads:
        targets["age"] = faces.age[rows].astype(np.float32)[:, None]  # (n, 1)
    return targets


def canonical_logs(logs: dict, heads: tuple[str, ...]) -> dict:
    """Keras names a one-head model's metrics `accuracy` / `mae`; name them by head always."""
    renamed = {}
    for key, value in (logs or {}).items():
        prefix, base = ("val_", key[4:]) if key.startswith("val_") else ("", key)
        if len(heads) == 1 and base != "loss" and not base.startswith(heads[0]):
            base = f"{heads[0]}_{base}"
        renamed[prefix + base] = float(value)
    return renamed


class HistoryWriter(keras.callbacks.Callback):
    """Appends a record to history.jsonl every epoch and every N batches, flushed at once."""

    def __init__(self, run_dir: Path, heads, every_batches: int, steps_per_epoch: int, epochs: int, watcher: StopWatcher):
        super().__init__()
        self.run_dir, self.heads, self.every_batches, self.watcher = run_dir, heads, every_batches, watcher
        self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
        self.started = time.time()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        step = batch + 1
        if step % self.every_batches == 0 or step == self.steps_per_epoch:
            self._write("batch", batch=step, metrics=canonical_logs(logs, self.heads))

    def on_epoch_end(self, epoch, logs=None):
        # An epoch cut short by a stop request has training metrics over a few batches only.
        self._write("epoch", partial=self.watcher.stopped, metrics=canonical_logs(logs, self.heads))

    def _write(self, kind: str, **values):
        record = runs.HistoryRecord(
            kind=kind,
            epoch=self.epoch,
            epochs=self.epochs,
            steps=self.steps_per_epoch,
            elapsed=round(time.time() - self.started, 3),
            **values,
        )
        runs.append_history(self.run_dir, record)


class BestModelKeeper(keras.callbacks.Callback):
    """Saves the best model so far (atomically), stops after `patience` epochs without gain.

    Doing early stopping here, on the same canonical metric as the checkpoint,
    keeps "best" meaning one thing.
    """

    def __init__(self, run_dir: Path, heads, monitor: str, mode: str, patience: int, watcher: StopWatcher):
        super().__init__()
        self.run_dir, self.heads, self.monitor, self.mode, self.patience = run_dir, heads, monitor, mode, patience
        self.watcher = watcher
        self.best_value = None
        self.best_epoch = None
        self.best_weights = None

    def _improved(self, value: float) -> bool:
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def on_epoch_end(self, epoch, logs=None):
        value = canonical_logs(logs, self.heads).get(self.monitor)
        if value is None or not np.isfinite(value) or self.watcher.stopped:
            return  # "Best" is only ever a whole epoch.
        if self._improved(value):
            self.best_value, self.best_epoch = value, epoch + 1
            self.best_weights = self.model.get_weights()
            save_model_atomic(inference_copy(self.model), self.run_dir / runs.MODEL_FILE)
        elif epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def restore_best(self) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class StopWatcher(keras.callbacks.Callback):
    """Ends training after the current batch once a stop was requested."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if runs.stop_requested(self.run_dir):
            self.stopped = True
            self.model.stop_training = True


def save_model_atomic(model: keras.Model, path: Path) -> None:
    temp_path = path.with_name(f".{path.stem}.tmp.keras")
    model.save(temp_path)
    os.replace(temp_path, path)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    status: str  # runs.COMPLETED or runs.STOPPED
    test: dict[str, float]  # `accuracy` and/or `mae` on the test split; empty if stopped before a whole epoch

    def to_json(self) -> dict:
        return {"run_dir": str(self.run_dir), "status": self.status, "test": self.test}


@dataclasses.dataclass(frozen=True)
class PreparedData:
    faces: FaceData
    split: Split
    config: runs.RunConfig  # with the data's provenance


def train(
    config: TrainConfig,
    run_dir: Path | None = None,
    strategy: tf.distribute.Strategy | None = None,
    verbose: int = 2,
    callbacks: tuple[keras.callbacks.Callback, ...] = (),
) -> TrainResult:
    """Train `config` into `run_dir` (a new one under runs/ by default): prepare the data, fit, export and score.

    `callbacks` are added to Keras' own (benchmarks use this to time quality per epoch).
    """
    run_dir = Path(run_dir) if run_dir is not None else runs.new_run_dir(config.task, config.preset)
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.clear_results(run_dir)
    # Written before the data loads, so the run is visible (and "the active run") at once.
    runs.write_config(run_dir, runs.RunConfig(train=config, created_at=runs.now_iso()))
    runs.write_status(run_dir, runs.RUNNING, pid=os.getpid(), started_at=runs.now_iso(), ended_at=None, error=None)
    try:
        data = prepare_data(config, run_dir)
        model, keeper, watcher = fit(data, run_dir, strategy, verbose, callbacks)
        test = export_and_score(data, run_dir, model, keeper) if keeper.best_weights is not None else {}
    except BaseException as error:
        message = f"{type(error).__name__}: {error}" if not isinstance(error, KeyboardInterrupt) else "interrupted"
        runs.write_status(run_dir, runs.FAILED, ended_at=runs.now_iso(), error=message)
        raise
    status = runs.STOPPED if watcher.stopped else runs.COMPLETED
    runs.write_status(run_dir, status, ended_at=runs.now_iso())
    return TrainResult(run_dir, status, test)


def rows_and_split(faces: FaceData, config: TrainConfig) -> tuple[np.ndarray, Split, int]:
    """The rows a run uses, their split, and how many conflicting copies were left out; depends only on the data and config.

    Copies of a face are found among the sampled rows (core.data_health):
    about 5 s for the 21k faces of the shared CSV.
    """
    rows = sample_rows(len(faces), config.limit, config.seed)
    if config.split == "stratified" and not config.drop_conflicting:
        return rows, make_split(rows, faces.gender, faces.age, config.seed), 0
    copies = duplicate_groups(faces.images[rows])
    # One id per face of the whole file, as make_split wants: the first row of its group of copies.
    group_ids = np.arange(len(faces))
    group_ids[rows] = rows[copies.group_ids]
    left_out = rows[conflicting_rows(faces.subset(rows), copies)] if config.drop_conflicting else np.empty(0, int)
    rows = np.setdiff1d(rows, left_out)
    split = make_split(rows, faces.gender, faces.age, config.seed, groups=group_ids if config.split == "grouped" else None)
    return rows, split, len(left_out)


def prepare_data(config: TrainConfig, run_dir: Path) -> PreparedData:
    """Load the CSV, sample and split it, and record both (split.npz, the provenance in config.json)."""
    csv_path = Path(config.csv_path).resolve()
    faces, report = load_faces(csv_path)
    rows, split, conflicting_left_out = rows_and_split(faces, config)
    split.save(run_dir / runs.SPLIT_FILE)
    run_config = dataclasses.replace(
        runs.read_config(run_dir),
        train=dataclasses.replace(config, csv_path=str(csv_path)),
        data_hash=report.file_hash,
        rows_in_file=report.rows_read,
        rows_used=len(rows),
        split_sizes={"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        conflicting_rows_left_out=conflicting_left_out,
        dtype_policy=dtype_policy_for(config.preset),
        versions={"tensorflow": tf.__version__, "keras": keras.__version__},
    )
    runs.write_config(run_dir, run_config)
    return PreparedData(faces, split, run_config)


def fit(data: PreparedData, run_dir: Path, strategy, verbose: int, callbacks) -> tuple[keras.Model, BestModelKeeper, StopWatcher]:
    """Build the preset's model and fit it, writing the history and the best model as it goes."""
    config, faces, split, heads = data.config.train, data.faces, data.split, data.config.heads
    keras.utils.set_random_seed(config.seed)
    steps_per_epoch = int(np.ceil(len(split.train) / config.batch_size))
    age_bias = float(faces.age[split.train].mean())
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(config.preset, config.task, age_bias=age_bias, dtype_policy=data.config.dtype_policy)
        compile_model(model, config.preset, config.learning_rate, total_steps=steps_per_epoch * config.epochs)

    train_data = make_dataset(faces.images[split.train], targets_for(faces, split.train, heads), config.batch_size, True, config.seed)
    val_data = make_dataset(faces.images[split.val], targets_for(faces, split.val, heads), config.batch_size, False, config.seed)
    monitor, mode = MONITORS[config.task]
    watcher = StopWatcher(run_dir)
    keeper = BestModelKeeper(run_dir, heads, monitor, mode, config.patience, watcher)
    history = HistoryWriter(run_dir, heads, config.log_every_batches, steps_per_epoch, config.epochs, watcher)
    model.fit(train_data, validation_data=val_data, epochs=config.epochs, callbacks=[watcher, history, keeper, *callbacks], verbose=verbose)
    return model, keeper, watcher


def export_and_score(data: PreparedData, run_dir: Path, model: keras.Model, keeper: BestModelKeeper) -> dict[str, float]:
    """Save the best model's int8 copy and score the test split with it (metrics.json, predictions.csv).

    The test predictions come from the int8 copy, so the metrics are those of what batch inference serves.
    """
    config, faces, split = data.config.train, data.faces, data.split
    keeper.restore_best()
    int8_path = run_dir / runs.INT8_MODEL_FILE
    save_int8(inference_copy(model), faces.as_float(seeded_sample(split.train, CALIBRATION_FACES, config.seed)), int8_path)
    flip = get_preset(config.preset).flip_test_time
    frame = predictions_frame(faces, split.test, BatchPredictor(int8_path).predict(faces.as_float(split.test), flip_test_time=flip))
    frame.to_csv(run_dir / runs.PREDICTIONS_FILE, index=False)
    summary = summarize(frame)
    metrics = runs.RunMetrics(config.task, config.preset, keeper.best_epoch, keeper.monitor, keeper.best_value, summary)
    runs.write_metrics(run_dir, metrics)
    return summary.headline()
