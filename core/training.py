"""Train a model into a run directory: prepare the data, fit with live history, export, score and calibrate.

    from core.config import TrainConfig
    result = train(TrainConfig(task="gender", epochs=2, limit=4000, csv_path="..."))
    result.run_dir, result.status, result.test   # a TrainResult
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
from core.augment import make_dataset
from core.batch_inference import CALIBRATION_FACES, BatchPredictor, save_int8
from core.calibrate import calibrate_run
from core.callbacks import (
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
from core.config import TrainConfig
from core.data import ETHNICITIES, FaceData, load_faces, sample_rows, seeded_sample
from core.data_health import conflicting_rows, duplicate_groups
from core.distillation import taught_targets
from core.errors import InputError
from core.evaluation import predictions_frame, summarize
from core.models import AGES, build_model, compile_model, dtype_policy_for, inference_copy, training_only_loss_weights
from core.multi_worker import build_before_fit
from core.presets import get_preset
from core.splits import Split, make_split

# What decides the best epoch, per task: (canonical log key, "max" or "min"). For `both`, the validation
# loss of the heads a saved model answers with (core.callbacks.ServedLoss).
MONITORS = {"gender": ("val_gender_accuracy", "max"), "age": ("val_age_mae", "min"), "both": (SERVED_LOSS, "min")}
# Fewer faces than this in the training, validation or test part leave nothing to learn or to measure.
MIN_FACES_PER_PART = 8
# With group balance, no face weighs more than this many times the mean.
MAX_GROUP_WEIGHT = 5.0
# Spread (years) of the Gaussian soft label a distribution age head learns (DLDL-v2 uses 2 on ChaLearn).
AGE_LABEL_SPREAD = 2.0


def targets_for(faces: FaceData, rows: np.ndarray, outputs) -> dict[str, np.ndarray]:
    """What each of a model's `outputs` should give for `rows`."""
    targets = {}
    if "gender" in outputs:
        targets["gender"] = np.eye(2, dtype=np.float32)[faces.gender[rows]]  # one-hot (n, 2)
    if "age" in outputs:
        targets["age"] = faces.age[rows].astype(np.float32)[:, None]  # (n, 1)
    if "age_distribution" in outputs:
        targets["age_distribution"] = age_label_distribution(faces.age[rows])
    if "ethnicity" in outputs:
        targets["ethnicity"] = np.eye(len(ETHNICITIES), dtype=np.float32)[faces.ethnicity[rows]]
    return targets


def group_balance_weights(faces: FaceData, rows: np.ndarray) -> np.ndarray:
    """Per face of `rows`, a loss weight that gives every (gender, ethnicity) group the same total; the mean is 1.

    No face weighs more than MAX_GROUP_WEIGHT, so that in a small sample a
    group of one or two faces cannot dominate its batches (the mean is then
    a little under 1; the groups of the shared CSV stay below it: at most 2.9).
    """
    groups = faces.gender[rows].astype(int) * len(ETHNICITIES) + faces.ethnicity[rows]
    _, group_of, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    weights = len(rows) / (len(sizes) * sizes[group_of])  # Mean 1: each of the groups sums to len(rows) / their count.
    return np.minimum(weights, MAX_GROUP_WEIGHT).astype(np.float32)


def training_dataset(data: PreparedData, outputs, teachers: list[keras.Model] | None) -> tf.data.Dataset:
    """The training faces, augmented, with their targets (blended with the `teachers`' answers, if any) and any group weights.

    With group weights, Keras weighs the training metrics too, not only the losses; validation stays unweighted.
    """
    config, faces, split = data.config.train, data.faces, data.split
    targets = targets_for(faces, split.train, outputs)
    weights = group_balance_weights(faces, split.train) if get_preset(config.preset).group_balance else None
    teach = taught_targets(teachers) if teachers else None
    return make_dataset(faces.images[split.train], targets, config.batch_size, True, config.seed, weights, teach)


def age_label_distribution(ages: np.ndarray) -> np.ndarray:
    """DLDL's soft label: a Gaussian of AGE_LABEL_SPREAD years around each true age, over 0..MAX_AGE (n, MAX_AGE + 1)."""
    weights = np.exp(-0.5 * ((AGES[None, :] - np.asarray(ages, dtype=np.float32)[:, None]) / AGE_LABEL_SPREAD) ** 2)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


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
    return _run(run_dir, lambda: prepare_data(config, run_dir), strategy, verbose, callbacks)


def resume(run_dir: Path, strategy: tf.distribute.Strategy | None = None, verbose: int = 2, also_stop_on: tuple[Path, ...] = ()) -> TrainResult:
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
    if run.status.pid != os.getpid() and runs.pid_alive(run.status.pid) and run.status.state == runs.RUNNING:
        raise ValueError(f"run {run.run_id} is training now (process {run.status.pid}); stop it before resuming it")
    try:
        state = checkpoint_state(run.run_dir)
        teachers_started = len(list((run.run_dir / runs.TEACHERS_DIR).glob("teacher-*")))
        if teachers_started > get_preset(run.config.train.preset).teachers:
            raise ValueError(f"run {run.run_id} was started by an earlier {run.config.train.preset!r} recipe with "
                             f"{teachers_started} teachers; train it again")  # fmt: skip
        if state is None and not (run.run_dir / runs.TEACHERS_DIR).is_dir():
            raise ValueError(f"run {run.run_id} has no checkpoint: it ended before its first whole epoch, so train it again instead")
        data = load_prepared_data(run)
    except ValueError as error:
        if run.status.pid == os.getpid() or not runs.pid_alive(run.status.pid):  # Ours to mark, or nobody's.
            runs.write_status(run.run_dir, runs.STOPPED, pid=os.getpid(), error=f"resume refused: {error}", ended_at=runs.now_iso())
        raise
    (run.run_dir / runs.STOP_FILE).unlink(missing_ok=True)  # The request that stopped it has been honoured.
    last_epoch = state["epoch"] if state is not None else 0
    kept = [record for record in runs.read_history(run.run_dir) if record.epoch <= last_epoch and not record.partial]
    (run.run_dir / runs.HISTORY_FILE).unlink(missing_ok=True)
    for record in kept:
        runs.append_history(run.run_dir, record)
    runs.write_status(run.run_dir, runs.RUNNING, pid=os.getpid(), ended_at=None, error=None,
                      resumes=run.status.resumes + 1, resumed_from_epoch=last_epoch)  # fmt: skip
    return _run(run.run_dir, lambda: data, strategy, verbose, (), state, also_stop_on)


def _run(run_dir: Path, prepare, strategy, verbose: int, callbacks, resumed_state: dict | None = None,
         also_stop_on: tuple[Path, ...] = ()) -> TrainResult:  # fmt: skip
    """Prepare, (teach,) fit, export and score, marking the run failed (and raising again) if anything goes wrong."""
    try:
        data = prepare()
        teachers = None
        if get_preset(data.config.train.preset).teachers:
            teachers = train_teachers(data, run_dir, strategy, verbose)
            if teachers is None:  # Stopped while a teacher trained.
                runs.write_status(run_dir, runs.STOPPED, ended_at=runs.now_iso())
                return TrainResult(run_dir, runs.STOPPED, {})
        model, keeper, watcher = fit(data, run_dir, strategy, verbose, callbacks, resumed_state, teachers, also_stop_on)
        test = export_and_score(data, run_dir, model, keeper) if keeper.best_weights is not None else {}
    except BaseException as error:
        message = f"{type(error).__name__}: {error}" if not isinstance(error, KeyboardInterrupt) else "interrupted"
        runs.write_status(run_dir, runs.FAILED, ended_at=runs.now_iso(), error=message)
        raise
    status = runs.STOPPED if watcher.stopped else runs.COMPLETED
    if status == runs.COMPLETED:
        shutil.rmtree(run_dir / runs.CHECKPOINT_DIR, ignore_errors=True)  # Nothing left to resume.
    runs.write_status(run_dir, status, ended_at=runs.now_iso())
    return TrainResult(run_dir, status, test)


def train_teachers(data: PreparedData, run_dir: Path, strategy, verbose: int) -> list[keras.Model] | None:
    """Train (or finish) the preset's teachers on the run's own split; their models.

    None when a stop was requested while a teacher trained (the run's own
    STOP file stops its teachers). A teacher that finished before is not
    trained again, so a resumed run goes on where it stopped.
    """
    recipe = get_preset(data.config.train.preset)
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
    config = dataclasses.replace(student, preset=get_preset(student.preset).teacher_preset, seed=student.seed + index)
    teacher_dir.mkdir(parents=True, exist_ok=True)
    runs.clear_results(teacher_dir)
    teacher_config = dataclasses.replace(data.config, train=config, created_at=runs.now_iso(), dtype_policy=dtype_policy_for(config.preset))
    runs.write_config(teacher_dir, teacher_config)
    data.split.save(teacher_dir / runs.SPLIT_FILE)
    runs.write_status(teacher_dir, runs.RUNNING, pid=os.getpid(), started_at=runs.now_iso(), ended_at=None, error=None)
    teacher_data = PreparedData(data.faces, data.split, teacher_config)
    return _run(teacher_dir, lambda: teacher_data, strategy, verbose, (), None, (student_dir,))


def rows_and_split(faces: FaceData, config: TrainConfig) -> tuple[np.ndarray, Split, int]:
    """The rows a run uses, their split, and how many conflicting copies were left out; depends only on the data and config.

    Copies of a face are found among the sampled rows (core.data_health):
    about 3 s for the 21k faces of the shared CSV.
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


def check_learnable(faces: FaceData, split: Split, heads: tuple[str, ...]) -> None:
    """Refuse, with the reason, data a model cannot learn from or be measured on; before any training time is spent."""
    for part in ("train", "val", "test"):
        rows = getattr(split, part)
        if len(rows) < MIN_FACES_PER_PART:
            raise InputError(
                f"the {part} part of the split holds {len(rows)} faces, fewer than the {MIN_FACES_PER_PART} needed: "
                "use more rows (a larger --limit, or a larger CSV)"
            )
        genders = np.unique(faces.gender[rows])
        if "gender" in heads and len(genders) < 2:
            only = {0: "men", 1: "women"}[int(genders[0])]
            raise InputError(
                f"the {part} part of the split holds only {only}: a gender model cannot learn (or be tested) from one gender; "
                "use data with both, or train the age task"
            )


def prepare_data(config: TrainConfig, run_dir: Path) -> PreparedData:
    """Load the CSV, sample and split it, check it can be learned from, and record it (split.npz, provenance in config.json)."""
    csv_path = Path(config.csv_path).resolve()
    faces, report = load_faces(csv_path)
    rows, split, conflicting_left_out = rows_and_split(faces, config)
    check_learnable(faces, split, config.heads)
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


def load_prepared_data(run: runs.RunInfo) -> PreparedData:
    """A run's own data and split again, to resume it: the same file (by content hash) and the saved split."""
    faces, _ = runs.load_run_faces(run)
    return PreparedData(faces, Split.load(run.run_dir / runs.SPLIT_FILE), run.config)


def fit(data: PreparedData, run_dir: Path, strategy, verbose: int, callbacks, resumed_state: dict | None = None,
        teachers: list[keras.Model] | None = None, also_stop_on: tuple[Path, ...] = ()):  # fmt: skip
    """Build the preset's model and fit it, writing the history, the best model and a checkpoint as it goes.

    With `resumed_state` (core.callbacks.checkpoint_state) the checkpoint is
    loaded into the new model and training goes on from the epoch after it.
    `teachers`: models whose answers on each augmented batch are blended into its targets (core.distillation).
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
    val_data = make_dataset(faces.images[split.val], targets_for(faces, split.val, outputs), config.batch_size, False, config.seed)
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
        build_before_fit(model, strategy, train_data)  # Keras' own build fails across workers (core.multi_worker).
    # `tensorboard --logdir runs/` shows every run: scalars per epoch and every N batches, and the graph.
    board = keras.callbacks.TensorBoard(str(run_dir / runs.TENSORBOARD_DIR), update_freq="epoch")
    batches = BatchScalars(run_dir / runs.TENSORBOARD_DIR, heads, config.log_every_batches)
    averaging = [AveragedWeights(resumed=resumed_state is not None)] if get_preset(config.preset).ema_momentum > 0 else []
    model.fit(
        train_data,
        validation_data=val_data,
        epochs=config.epochs,
        callbacks=[*averaging, watcher, served, history, keeper, checkpoint, board, batches, *callbacks],
        verbose=verbose,
    )
    return model, keeper, watcher


def export_and_score(data: PreparedData, run_dir: Path, model: keras.Model, keeper: BestModelKeeper) -> dict[str, float]:
    """Save the best model's int8 copy, score the test split with it, and calibrate the run on its validation split.

    The test predictions come from the int8 copy, so the metrics are those of
    what batch inference serves; calibration (core.calibrate) then adds the
    age intervals and the calibrated P(female), and writes the model card.
    """
    config, faces, split = data.config.train, data.faces, data.split
    keeper.restore_best()
    int8_path = run_dir / runs.INT8_MODEL_FILE
    save_int8(inference_copy(model), faces.as_float(seeded_sample(split.train, CALIBRATION_FACES, config.seed)), int8_path)
    flip = get_preset(config.preset).flip_test_time
    predictor = BatchPredictor(int8_path)
    frame = predictions_frame(faces, split.test, predictor.predict(faces.as_float(split.test), flip_test_time=flip))
    frame.to_csv(run_dir / runs.PREDICTIONS_FILE, index=False)
    summary = summarize(frame)
    metrics = runs.RunMetrics(config.task, config.preset, keeper.best_epoch, keeper.monitor, keeper.best_value, summary)
    runs.write_metrics(run_dir, metrics)
    calibrate_run(run_dir, faces, split, lambda images: predictor.predict(images, flip_test_time=flip))
    return summary.headline()
