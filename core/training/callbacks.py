"""The Keras callbacks a training run uses: stop on request, live history, the best model, and a checkpoint to resume from.

    watcher = StopWatcher(run_dir)                         # ends after the batch during which STOP appeared
    served = ServedLoss({"ethnicity": 0.3})                # val_served_loss: val_loss less training-only heads
    history = HistoryWriter(run_dir, heads, ...)           # history.jsonl, every epoch and every N batches
    keeper = BestModelKeeper(run_dir, heads, ...)          # model.keras, the best whole epoch; early stopping
    checkpoint = EpochCheckpoint(run_dir, keeper, history, watcher)   # checkpoint/, after every whole epoch

Order matters: the watcher first (so the others know an epoch was cut short),
the served loss before the keeper and the history (they read its key),
the checkpoint last (so it saves the keeper's state of that epoch).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core import runs
from core.networks.build import EXTRA_OUTPUTS, inference_copy

KEEPER_STATE_FILE = "keeper.json"
SERVED_LOSS = "val_served_loss"


def canonical_logs(logs: dict, heads: tuple[str, ...]) -> dict:
    """Keras names a one-head model's metrics `accuracy` / `mae`; name them by head always.

    Keys of a model's other outputs (`ethnicity_loss`, `age_distribution_loss`) and `val_served_loss` keep their names.
    """
    renamed = {}
    for key, value in (logs or {}).items():
        prefix, base = ("val_", key[4:]) if key.startswith("val_") else ("", key)
        if len(heads) == 1 and base not in ("loss", "served_loss") and not base.startswith((heads[0], *EXTRA_OUTPUTS)):
            base = f"{heads[0]}_{base}"
        renamed[prefix + base] = float(value)
    return renamed


class StopWatcher(keras.callbacks.Callback):
    """Ends training after the current batch once a stop was requested, of this run or of any in `also` (a teacher's student)."""

    def __init__(self, run_dir: Path, also: tuple[Path, ...] = ()):
        super().__init__()
        self.run_dirs = (run_dir, *also)
        self.stopped = False

    def on_train_batch_end(self, batch, logs=None):
        if any(runs.stop_requested(run_dir) for run_dir in self.run_dirs):
            self.stopped = True
            self.model.stop_training = True


class HistoryWriter(keras.callbacks.Callback):
    """Appends a record to history.jsonl every epoch and every N batches, flushed at once.

    `elapsed_before` is the training time of earlier processes of a resumed run, so its clock runs on.
    """

    def __init__(self, run_dir: Path, heads, every_batches: int, steps_per_epoch: int, epochs: int, watcher: StopWatcher,
                 elapsed_before: float = 0.0):  # fmt: skip
        super().__init__()
        self.run_dir, self.heads, self.every_batches, self.watcher = run_dir, heads, every_batches, watcher
        self.steps_per_epoch, self.epochs = steps_per_epoch, epochs
        self.started = time.time() - elapsed_before
        self.epoch = 0

    @property
    def elapsed(self) -> float:
        return round(time.time() - self.started, 3)

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
            kind=kind, epoch=self.epoch, epochs=self.epochs, steps=self.steps_per_epoch, elapsed=self.elapsed, **values
        )
        runs.append_history(self.run_dir, record)


class ServedLoss(keras.callbacks.Callback):
    """Adds `val_served_loss`: the validation loss less the training-only heads' terms, to choose the best epoch by.

    A training-only head (core.networks.build.TRAINING_ONLY_OUTPUTS) shapes the trunk
    but answers nothing once saved, so its loss should not decide which
    epoch's weights are kept. Keras logs each output's loss unweighted and
    hands every callback the same logs, so the callbacks after this one
    (the keeper, the history) see the new key.
    """

    def __init__(self, training_only_weights: dict[str, float]):
        super().__init__()
        self.training_only_weights = training_only_weights

    def on_epoch_end(self, epoch, logs=None):
        if logs and "val_loss" in logs:
            weighted = sum(weight * logs[f"val_{name}_loss"] for name, weight in self.training_only_weights.items())
            logs[SERVED_LOSS] = float(logs["val_loss"] - weighted)


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
            self.best_weights = layer_weights(self.model)
            save_model_atomic(inference_copy(self.model), self.run_dir / runs.MODEL_FILE)
        elif epoch + 1 - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def restore_best(self) -> None:
        """Put the best weights back, layer by layer: after a resume they come from model.keras, which has no training-only heads."""
        if self.best_weights is not None:
            for layer in self.model.layers:
                if layer.name in self.best_weights:
                    layer.set_weights(self.best_weights[layer.name])

    def state(self) -> dict:
        return {"monitor": self.monitor, "best_value": self.best_value, "best_epoch": self.best_epoch}

    def resume(self, state: dict) -> None:
        """Take up where an earlier process left off: its monitor, best value and epoch, and the best model it saved.

        A run goes on choosing by the monitor it started with: a checkpoint
        from before `val_served_loss` (no monitor saved) chose `both` runs by `val_loss`.
        """
        self.monitor = state.get("monitor", "val_loss" if self.monitor == SERVED_LOSS else self.monitor)
        self.best_value, self.best_epoch = state["best_value"], state["best_epoch"]
        if self.best_epoch is not None:
            # model.keras holds the best weights as a float32 twin of the training network: the same layer
            # names, less any training-only head (core.networks.build.TRAINING_ONLY_OUTPUTS), whose weights nothing needs.
            saved = keras.saving.load_model(self.run_dir / runs.MODEL_FILE, compile=False, safe_mode=True)
            self.best_weights = layer_weights(saved)


def layer_weights(model: keras.Model) -> dict[str, list[np.ndarray]]:
    """A model's weights by layer name (layers without weights left out)."""
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


class AveragedWeights(keras.callbacks.SwapEMAWeights):
    """Keras' SwapEMAWeights, swapping at each epoch's end: validation, BestModelKeeper and the checkpoint see the average.

    Placed before them in the callback list. The checkpoint therefore holds
    the averaged weights in the model and the last step's weights in the
    optimizer's average slots; a resumed run (`resumed=True`) swaps them back
    before its first epoch, as the same callback would have done had the
    process lived on.
    """

    def __init__(self, resumed: bool = False):
        super().__init__(swap_on_epoch=True)
        self.resumed = resumed

    def on_train_begin(self, logs=None):
        self._ema_weights_in_model = self.resumed


class EpochCheckpoint(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore (weights, optimizer state and schedule position, epoch) plus our own callbacks' state.

    Saved after every whole epoch into the run's checkpoint/ folder, with the
    previous one kept until the new one is complete (a kill mid-save loses
    nothing). An epoch cut short by a stop request is not saved: a resumed
    run goes on from the last whole one. Kept when training ends early, so
    the run can be resumed; training deletes it when a run completes.
    """

    def __init__(self, run_dir: Path, keeper: BestModelKeeper, history: HistoryWriter, watcher: StopWatcher):
        super().__init__(
            str(Path(run_dir) / runs.CHECKPOINT_DIR), save_freq="epoch", double_checkpoint=True, delete_checkpoint=False
        )
        self.keeper, self.history, self.watcher = keeper, history, watcher

    def on_epoch_end(self, epoch, logs=None):
        if self.watcher.stopped:
            return
        # Ours first: a kill between the two saves then leaves the keeper's state (which model.keras already
        # matches) one epoch ahead of Keras' backup, never behind it; the epoch resumed from is Keras'.
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        state = {"epoch": epoch + 1, "elapsed": self.history.elapsed, **self.keeper.state()}
        runs.write_json_atomic(Path(self.backup_dir) / KEEPER_STATE_FILE, state)
        super().on_epoch_end(epoch, logs)


class BatchScalars(keras.callbacks.Callback):
    """The running training loss and metrics every N batches, as `batch_<name>` scalars in TensorBoard's train run.

    Keras' TensorBoard callback can write them itself (update_freq=N), but then
    it records its epoch scalars only at steps that are multiples of N: with
    241 steps an epoch, only every tenth epoch. So it runs with
    update_freq="epoch", and this writes the batches (into the same folder,
    which TensorBoard reads as one run). The step is the optimizer's, so a
    resumed run goes on where it left off.
    """

    def __init__(self, log_dir: Path, heads, every_batches: int):
        super().__init__()
        self.log_dir, self.heads, self.every_batches = Path(log_dir) / "train", heads, every_batches
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every_batches == 0:
            with self.writer.as_default(step=step):
                for name, value in canonical_logs(logs, self.heads).items():
                    tf.summary.scalar(f"batch_{name}", value)

    def on_train_end(self, logs=None):
        self.writer.close()


def checkpoint_state(run_dir: Path) -> dict | None:
    """What the last whole epoch's checkpoint says (epoch, elapsed seconds, best value and epoch), or None without one.

    The epoch is the one Keras' backup holds (what fit goes on from), should a
    kill have come between its save and ours.
    """
    folder = Path(run_dir) / runs.CHECKPOINT_DIR
    ours, keras_metadata = runs.read_json(folder / KEEPER_STATE_FILE), runs.read_json(folder / "training_metadata.json")
    if ours is None or keras_metadata is None:
        return None
    return {**ours, "epoch": keras_metadata["epoch"]}


def save_model_atomic(model: keras.Model, path: Path) -> None:
    temp_path = path.with_name(f".{path.stem}.tmp.keras")
    model.save(temp_path)
    os.replace(temp_path, path)
