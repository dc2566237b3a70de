"""Train a model into a run directory: prepare the data (core.training.prepare), fit with live history,
export, score and calibrate.

    from core.config import TrainConfig
    result = train(TrainConfig(task="gender", epochs=2, limit=4000, csv_path="..."))
    result.run_dir, result.status, result.test   # a TrainResult
    score_run(result.run_dir)                      # a run trained with score=False (a tuning trial), promoted
    result = resume("runs/<run_id>")              # a stopped or killed run, from its last whole epoch

A run can be stopped from outside with `core.runs.request_stop(run_dir)` (the
CLI also turns SIGTERM / Ctrl-C into that request): it ends after the current
batch, is marked `stopped` and keeps its best model and a checkpoint of its
last whole epoch. An exception marks the run `failed` with the message and is
raised again. Data the model cannot learn from (one gender only, too few
faces in a part of the split) is refused before training starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core import runs
from core.config import TrainConfig
from core.data.augment import make_dataset
from core.data.sampling import seeded_sample
from core.evaluation.metrics import predictions_frame, summarize
from core.inference.int8 import CALIBRATION_FACES, save_int8
from core.inference.predictor import Predictor
from core.inference.scoring import calibrate_run
from core.networks.arithmetic import dtype_policy_for
from core.networks.build import build_model, compile_model, inference_copy, training_only_loss_weights
from core.runs import lifecycle
from core.training.callbacks import (
    SERVED_LOSS,
    AveragedWeights,
    BatchScalars,
    BestModelKeeper,
    EpochCheckpoint,
    HistoryWriter,
    ServedLoss,
    StopWatcher,
    checkpoint_state,
)
from core.training.estimate import keep_run_costs
from core.training.multi_worker import build_before_fit
from core.training.prepare import PreparedData, load_prepared_data, prepare_data, targets_for, training_dataset

# What decides the best epoch, per task: (canonical log key, "max" or "min"). For `both`, the validation
# loss of the heads a saved model answers with (core.training.callbacks.ServedLoss).
MONITORS = {"gender": ("val_gender_accuracy", "max"), "age": ("val_age_mae", "min"), "both": (SERVED_LOSS, "min")}


@dataclasses.dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    status: str  # runs.COMPLETED or runs.STOPPED
    test: dict[str, float]  # `accuracy` and/or `mae` on the test split; empty if stopped before a whole epoch

    def to_json(self) -> dict:
        return {"run_dir": str(self.run_dir), "status": self.status, "test": self.test}


def train(
    config: TrainConfig,
    run_dir: Path | None = None,
    strategy: tf.distribute.Strategy | None = None,
    verbose: int = 2,
    callbacks: tuple[keras.callbacks.Callback, ...] = (),
    provenance: dict | None = None,
    score: bool = True,
) -> TrainResult:
    """Train `config` into `run_dir` (a new one under runs/ by default): prepare the data, fit, export and score.

    `callbacks` are added to Keras' own (benchmarks use this to time quality per epoch; tuning, to prune).
    `provenance`: more fields of the run's config.json (a tuning trial's study and number).
    `score=False` keeps the best model but leaves the test split unread (no int8 copy, predictions,
    metrics or calibration; a tuning trial's, until `score_run` promotes it).
    """
    run_dir = Path(run_dir) if run_dir is not None else runs.new_run_dir(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.clear_results(run_dir)
    # Written before the data loads, so the run is visible (and "the active run") at once.
    runs.write_config(run_dir, runs.RunConfig(train=config, created_at=runs.now_iso(), **(provenance or {})))
    lifecycle.mark_started(run_dir)
    return _run(run_dir, lambda: prepare_data(config, run_dir), strategy, verbose, callbacks, score=score)


def resume(
    run_dir: Path, strategy: tf.distribute.Strategy | None = None, verbose: int = 2, also_stop_on: tuple[Path, ...] = ()
) -> TrainResult:
    """Continue a stopped or interrupted run from its last whole epoch, to the end its config plans.

    Keras' BackupAndRestore brings back the weights, the optimizer's state and
    the schedule's position; the best model so far, early stopping's count
    and the history go on as they were (the unfinished epoch's records are
    dropped). Uses the run's own split, from the same data (checked by hash).
    A run with teachers stopped while they trained goes on with them: the
    finished ones are kept, the stopped one resumed. `also_stop_on`: other
    runs whose stop request stops this one (a teacher's student).

    A resume refused before it trains (no checkpoint, the data gone or
    changed) leaves the run stopped, with the reason in its status, so it
    stays usable and can be resumed once the cause is mended.

    Raises:
        ValueError: the run has no whole epoch to resume from, is training now, or its data cannot be found.
    """
    run = runs.load_run(run_dir)
    if run.state == runs.COMPLETED:
        raise ValueError(f"run {run.run_id} has completed: there is nothing to resume")
    if run.status.pid != os.getpid() and runs.lifecycle.trainer_alive(run.status) and run.status.state == runs.RUNNING:
        raise ValueError(f"run {run.run_id} is training now (process {run.status.pid}); stop it before resuming it")
    try:
        state = checkpoint_state(run.run_dir)
        teachers_started = len(list((run.run_dir / runs.TEACHERS_DIR).glob("teacher-*")))
        if teachers_started > run.config.train.preset.teachers:
            raise ValueError(f"run {run.run_id} was started by an earlier {run.config.train.preset.name!r} recipe with "
                             f"{teachers_started} teachers; train it again")  # fmt: skip
        if state is None and not (run.run_dir / runs.TEACHERS_DIR).is_dir():
            raise ValueError(
                f"run {run.run_id} has no checkpoint: it ended before its first whole epoch, so train it again instead"
            )
        data = load_prepared_data(run)
    except ValueError as error:
        if run.status.pid == os.getpid() or not runs.lifecycle.trainer_alive(run.status):  # Ours to mark, or nobody's.
            lifecycle.mark_stopped(run.run_dir, reason=f"resume refused: {error}", pid=os.getpid())
        raise
    last_epoch = state["epoch"] if state is not None else 0
    kept = [record for record in runs.read_history(run.run_dir) if record.epoch <= last_epoch and not record.partial]
    (run.run_dir / runs.HISTORY_FILE).unlink(missing_ok=True)
    for record in kept:
        runs.append_history(run.run_dir, record)
    lifecycle.mark_resumed(run.run_dir, from_epoch=last_epoch)
    return _run(run.run_dir, lambda: data, strategy, verbose, (), state, also_stop_on)


def _run(run_dir: Path, prepare, strategy, verbose: int, callbacks, resumed_state: dict | None = None,
         also_stop_on: tuple[Path, ...] = (), score: bool = True) -> TrainResult:  # fmt: skip
    """Prepare, (teach,) fit, export and score, marking the run failed (and raising again) if anything goes wrong."""
    try:
        data = prepare()
        teachers = None
        if data.config.train.preset.teachers:
            teachers = train_teachers(data, run_dir, strategy, verbose)
            if teachers is None:  # Stopped while a teacher trained.
                lifecycle.mark_stopped(run_dir)
                return TrainResult(run_dir, runs.STOPPED, {})
        model, keeper, watcher = fit(data, run_dir, strategy, verbose, callbacks, resumed_state, teachers, also_stop_on)
        test = {}
        if keeper.best_weights is not None and score:
            keeper.restore_best()
            test = export_and_score(data, run_dir, model, keeper.best_epoch, keeper.monitor, keeper.best_value)
    except BaseException as error:
        message = f"{type(error).__name__}: {error}" if not isinstance(error, KeyboardInterrupt) else "interrupted"
        lifecycle.mark_failed(run_dir, message)
        raise
    if watcher.stopped:
        return TrainResult(run_dir, lifecycle.mark_stopped(run_dir).state, test)
    shutil.rmtree(run_dir / runs.CHECKPOINT_DIR, ignore_errors=True)  # Nothing left to resume.
    result = TrainResult(run_dir, lifecycle.mark_completed(run_dir).state, test)
    if score:  # What it took becomes this machine's figure for its recipe (a trial's, unscored, would not be whole).
        with contextlib.suppress(ValueError, OSError):  # A figure not kept costs the next estimate a measurement, no more.
            keep_run_costs(run_dir)
    return result


def train_teachers(data: PreparedData, run_dir: Path, strategy, verbose: int) -> list[keras.Model] | None:
    """Train (or finish) the preset's teachers on the run's own split; their models.

    None when a stop was requested while a teacher trained (the run's own
    STOP file stops its teachers). A teacher that finished before is not
    trained again, so a resumed run goes on where it stopped.
    """
    recipe = data.config.train.preset
    teacher_dirs = [run_dir / runs.TEACHERS_DIR / f"teacher-{index}" for index in range(1, recipe.teachers + 1)]
    for index, teacher_dir in enumerate(teacher_dirs, start=1):
        if not (teacher_dir / runs.STATUS_FILE).is_file() or runs.read_status(teacher_dir).state != runs.COMPLETED:
            if verbose:
                print(f"teacher {index} of {recipe.teachers}: {teacher_dir}", flush=True)
            if checkpoint_state(teacher_dir) is not None:
                result = resume(teacher_dir, strategy, verbose, also_stop_on=(run_dir,))
            else:  # Never started, or stopped before a whole epoch: from the start.
                result = _train_teacher(data, teacher_dir, index, strategy, verbose, run_dir)
            if result.status != runs.COMPLETED:
                return None
    with tf.device("/CPU:0"):  # They answer in the input pipeline, which runs on the CPU.
        return [runs.load_run(teacher_dir).load_model() for teacher_dir in teacher_dirs]


def _train_teacher(data: PreparedData, teacher_dir: Path, index: int, strategy, verbose: int, student_dir: Path) -> TrainResult:
    """A fresh teacher run: the teacher preset with the student's settings and split, and a seed of its own."""
    student = data.config.train
    config = dataclasses.replace(student, preset=student.preset.teacher_preset, seed=student.seed + index)
    teacher_dir.mkdir(parents=True, exist_ok=True)
    runs.clear_results(teacher_dir)
    teacher_config = dataclasses.replace(
        data.config, train=config, created_at=runs.now_iso(), dtype_policy=dtype_policy_for(config.preset)
    )
    runs.write_config(teacher_dir, teacher_config)
    data.split.save(teacher_dir / runs.SPLIT_FILE)
    lifecycle.mark_started(teacher_dir)
    teacher_data = PreparedData(data.faces, data.split, teacher_config)
    return _run(teacher_dir, lambda: teacher_data, strategy, verbose, (), None, (student_dir,))


def fit(data: PreparedData, run_dir: Path, strategy, verbose: int, callbacks, resumed_state: dict | None = None,
        teachers: list[keras.Model] | None = None, also_stop_on: tuple[Path, ...] = ()):  # fmt: skip
    """Build the preset's model and fit it, writing the history, the best model and a checkpoint as it goes.

    With `resumed_state` (core.training.callbacks.checkpoint_state) the checkpoint is
    loaded into the new model and training goes on from the epoch after it.
    `teachers`: models whose answers on each augmented batch are blended into its targets (core.training.distillation).
    """
    config, faces, split, heads = data.config.train, data.faces, data.split, data.config.heads
    keras.utils.set_random_seed(config.seed + (resumed_state or {}).get("epoch", 0))
    steps_per_epoch = int(np.ceil(len(split.train) / config.batch_size))
    age_bias = float(faces.age[split.train].mean())
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build_model(config.preset, config.task, age_bias=age_bias, dtype_policy=data.config.dtype_policy)
        compile_model(model, config.preset, config.learning_rate, total_steps=steps_per_epoch * config.epochs)

    outputs = model.output_names
    train_data = training_dataset(data, outputs, teachers)
    val_data = make_dataset(
        faces.images[split.val],
        targets_for(faces, split.val, outputs, config.preset.age_label_spread),
        config.batch_size,
        False,
        config.seed,
    )
    monitor, mode = MONITORS[config.task]
    watcher = StopWatcher(run_dir, also_stop_on)
    served = ServedLoss(training_only_loss_weights(model, config.preset))
    keeper = BestModelKeeper(run_dir, heads, monitor, mode, config.patience, watcher)
    elapsed_before = (resumed_state or {}).get("elapsed", 0.0)
    history = HistoryWriter(run_dir, heads, config.log_every_batches, steps_per_epoch, config.epochs, watcher, elapsed_before)
    if resumed_state is not None:
        keeper.resume(resumed_state)
    checkpoint = EpochCheckpoint(run_dir, keeper, history, watcher)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        build_before_fit(model, strategy, train_data)  # Keras' own build fails across workers (core.training.multi_worker).
    # `tensorboard --logdir runs/` shows every run: scalars per epoch and every N batches, and the graph.
    board = keras.callbacks.TensorBoard(str(run_dir / runs.TENSORBOARD_DIR), update_freq="epoch")
    batches = BatchScalars(run_dir / runs.TENSORBOARD_DIR, heads, config.log_every_batches)
    averaging = [AveragedWeights(resumed=resumed_state is not None)] if config.preset.ema_momentum > 0 else []
    model.fit(
        train_data,
        validation_data=val_data,
        epochs=config.epochs,
        callbacks=[*averaging, watcher, served, history, keeper, checkpoint, board, batches, *callbacks],
        verbose=verbose,
    )
    return model, keeper, watcher


def score_run(run_dir: Path) -> dict[str, float]:
    """Score a completed run that trained without scoring (a tuning trial, promoted): its int8 copy, test metrics and
    calibration, from its saved best model, as if it had been scored when it ended.

    Raises:
        ValueError: the run has not completed, has no model, is scored already, or its data cannot be found.
    """
    run = runs.load_run(run_dir)
    if run.state != runs.COMPLETED or not run.has_model:
        raise ValueError(f"run {run.run_id} is {run.state}{'' if run.has_model else ' without a model'}: only a completed "
                         "run with its model can be scored")  # fmt: skip
    if run.metrics is not None:
        raise ValueError(f"run {run.run_id} is scored already: its test metrics are in {runs.METRICS_FILE}")
    monitor, mode = MONITORS[run.task]
    epochs = [record for record in runs.read_history(run.run_dir) if record.is_complete_epoch and monitor in record.metrics]
    if not epochs:
        raise ValueError(f"run {run.run_id} has no whole epoch with {monitor} in its {runs.HISTORY_FILE}")
    best = (max if mode == "max" else min)(epochs, key=lambda record: record.metrics[monitor])
    return export_and_score(load_prepared_data(run), run.run_dir, run.load_model(), best.epoch, monitor, best.metrics[monitor])


def export_and_score(data: PreparedData, run_dir: Path, model: keras.Model, best_epoch: int, monitor: str,
                     best_value: float) -> dict[str, float]:  # fmt: skip
    """Save `model`'s int8 copy (the best epoch's), score the test split with it, and calibrate the run on its validation split.

    The test predictions come from the int8 copy, so the metrics are those of
    what batch inference serves; calibration (core.inference.scoring) then adds the
    age intervals and the calibrated P(female), and writes the model card.
    """
    config, faces, split = data.config.train, data.faces, data.split
    int8_path = run_dir / runs.INT8_MODEL_FILE
    save_int8(inference_copy(model), faces.as_float(seeded_sample(split.train, CALIBRATION_FACES, config.seed)), int8_path)
    predictor = Predictor.for_run(runs.load_run(run_dir))  # The int8 copy just saved, as batch inference serves it.
    frame = predictions_frame(faces, split.test, predictor.predict(faces.as_float(split.test)))
    runs.write_predictions(run_dir, frame)
    summary = summarize(frame)
    metrics = runs.RunMetrics(config.task, config.preset.name, best_epoch, monitor, best_value, summary)
    runs.write_metrics(run_dir, metrics)
    calibrate_run(run_dir, faces, split, predictor)
    return summary.headline()
