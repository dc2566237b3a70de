"""How long a training will take on this machine, said before it starts.

    estimate = estimate_training(config)     # a TrainingEstimate: minutes, epochs, and where the figures come from
    print(estimate.describe())
    cached_estimate(config, split_sizes)     # the same from figures already kept, or None (no TensorFlow, instant)
    figures_kept(config)                     # whether cached_estimate would answer, before any data is loaded

A recipe's time is measured here, not assumed: its model is built and, once
the functions are traced, fits of a few batches of the real augmented
pipeline and of a few more are timed (the difference is the batches' own
time), a few validation batches evaluated, a best model and an int8 copy
saved (about half a minute in all). The figures are per face, so one
measurement serves any data size; they are kept in the cache folder by
machine and settings, so the next estimate of the same recipe is instant.
A run that completes replaces them with what it really took (its epochs'
seconds from history.jsonl, every callback and save included), which is the
figure the Train page and `train --dry-run` then give.

Early stopping can end a run sooner than its planned epochs: an estimate is
for all of them.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from core import runs
from core.config import TrainConfig
from core.files import write_atomic
from core.paths import cache_dir

ESTIMATES_FILE = "training-time.json"
# Batches fitted to trace the training function (and fill the pipeline). Then a short fit and a longer one are timed:
# their difference is TIMED_STEPS batches without what every fit call costs once (its iterator, its callbacks), which
# made a small recipe's 12 batches 20 % slower than its epochs' (quick: 26 s an epoch estimated, 21.5 s trained).
# Three rounds of both, their medians: one round on a shared 2-core machine moved the default's epoch by a fifth.
WARM_UP_STEPS, SHORT_FIT_STEPS, TIMED_STEPS, FIT_ROUNDS = 3, 4, 16, 3
# Kept figures say how they were measured: those of an older way are measured again.
MEASUREMENT = "fit difference"
VALIDATION_STEPS = 4


@dataclasses.dataclass(frozen=True)
class Costs:
    """Seconds one training of a recipe spends on this machine, per face where it grows with the data."""

    train_seconds_per_face: float  # a training step's share per face: augmentation, forward, backward, update
    val_seconds_per_face: float  # the validation pass's, per validation face
    epoch_seconds: float  # each epoch's saves (the best model and a checkpoint) and callbacks
    start_seconds: float  # once: building the model and tracing its functions
    finish_seconds: float  # once: the int8 copy, scoring the test split, calibration
    source: str  # "measured on <date>" or "run <id>"

    def training_seconds(self, train_faces: int, val_faces: int, epochs: int) -> float:
        epoch = train_faces * self.train_seconds_per_face + val_faces * self.val_seconds_per_face + self.epoch_seconds
        return self.start_seconds + epochs * epoch + self.finish_seconds


@dataclasses.dataclass(frozen=True)
class TrainingEstimate:
    preset: str
    task: str
    train_faces: int
    val_faces: int
    epochs: int
    trainings: int  # the preset's teachers, then the model itself
    epoch_seconds: float  # the model's own epochs
    total_seconds: float
    early_stopping: bool  # patience below the epochs: the run may end sooner
    source: str
    machine: str

    @property
    def minutes(self) -> float:
        return self.total_seconds / 60

    def describe(self) -> str:
        """One line for a person: 'about 18 minutes on this machine (...): 36 epochs of 29 s on ... faces; <source>'."""
        teachers = f", after {self.trainings - 1} teacher training(s) of its own" if self.trainings > 1 else ""
        stop = " at most: early stopping may end it sooner" if self.early_stopping else ""
        return (
            f"about {_minutes_text(self.minutes)} on this machine ({self.machine}){stop}: {self.epochs} "
            f"epoch{'s' if self.epochs != 1 else ''} of "
            f"{self.epoch_seconds:.0f} s on {self.train_faces:,} training faces{teachers}; {self.source}"
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"minutes": round(self.minutes, 2)}


def _minutes_text(minutes: float) -> str:
    if minutes < 1.5:
        return f"{max(round(minutes * 6), 1) * 10} seconds"  # To the nearest ten.
    return f"{round(minutes)} minutes"


def split_sizes_for(config: TrainConfig, faces=None) -> dict[str, int]:
    """How many faces each part of `config`'s split holds: its data (`faces`, if loaded already) split as training will."""
    from core.data.loading import load_faces
    from core.training.rows import rows_and_split

    if faces is None:
        faces, _ = load_faces(config.csv_path)
    _, split, _ = rows_and_split(faces, config)
    return {"train": len(split.train), "val": len(split.val), "test": len(split.test)}


def estimate_training(
    config: TrainConfig, split_sizes: dict[str, int] | None = None, measure: bool = True
) -> TrainingEstimate | None:
    """The expected time of training `config` on this machine: from kept figures, else measured now (None if not `measure`).

    `split_sizes`: the parts' sizes if known (a run's config.json has them), else the data is loaded and split.
    """
    recipes = _recipes(config)
    kept = [kept_costs(config, recipe) for recipe in recipes]
    if None in kept and not measure:
        return None  # Before the data is loaded: asking costs nothing then.
    split_sizes = split_sizes or split_sizes_for(config)
    total, costs = 0.0, None
    for recipe, costs in zip(recipes, kept, strict=True):
        if costs is None:
            costs = measure_costs(config, recipe)
            keep_costs(config, recipe, costs)
        total += costs.training_seconds(split_sizes["train"], split_sizes["val"], config.epochs)
    own_epoch = split_sizes["train"] * costs.train_seconds_per_face + split_sizes["val"] * costs.val_seconds_per_face
    return TrainingEstimate(
        preset=config.preset.name,
        task=config.task,
        train_faces=split_sizes["train"],
        val_faces=split_sizes["val"],
        epochs=config.epochs,
        trainings=len(recipes),
        epoch_seconds=round(own_epoch + costs.epoch_seconds, 2),
        total_seconds=round(total, 1),
        early_stopping=config.patience < config.epochs,
        source=costs.source,
        machine=machine_description(config.preset),
    )


def figures_kept(config: TrainConfig) -> bool:
    """Whether `config` can be estimated without measuring (its recipes' figures are kept for this machine)."""
    return all(kept_costs(config, recipe) is not None for recipe in _recipes(config))


def _recipes(config: TrainConfig) -> list:
    """The recipes `config` trains, in order: its teachers' (a teacher trains as a run of its own recipe would,
    with the run's batch size, so the figures are that recipe's), then its own."""
    return [*([config.preset.teacher_preset] * config.preset.teachers), config.preset]


def cached_estimate(config: TrainConfig, split_sizes: dict[str, int] | None = None) -> TrainingEstimate | None:
    """The estimate from figures kept for this machine and recipe, or None when they would have to be measured."""
    return estimate_training(config, split_sizes, measure=False)


def seconds_after(config: TrainConfig, split_sizes: dict[str, int], training: int) -> float | None:
    """Seconds a run will still take once its training number `training` (0-based: teachers, then its own) has
    fitted its last epoch: that training's finish (the int8 copy, scoring) and every later training whole.

    None when a figure is not kept. The live ETA adds this to the pace of the epochs under way, so that a
    student that trains slower than its teachers, and the work after the last epoch, are counted as measured.
    """
    recipes = _recipes(config)[training:]
    kept = [kept_costs(config, recipe) for recipe in recipes]
    if None in kept:
        return None
    later = sum(costs.training_seconds(split_sizes["train"], split_sizes["val"], config.epochs) for costs in kept[1:])
    return kept[0].finish_seconds + later


# --- This machine, and the figures kept for it --------------------------------------------------------------------


def machine_description(recipe) -> str:
    """'AMD EPYC 9R14, 2 cores, bfloat16': what decides a recipe's speed here (the key its figures are kept by)."""
    from core.networks.arithmetic import dtype_policy_for

    arithmetic = "bfloat16" if dtype_policy_for(recipe) == "mixed_bfloat16" else "float32"
    # oneDNN limited to fewer instructions trains float32 slower too: another machine, as far as timing goes.
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip()
    return f"{_cpu_name()}, {_cores()} cores, {arithmetic}{f', oneDNN limited to {limit}' if limit else ''}"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "an unknown CPU"


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _key(config: TrainConfig, recipe) -> str:
    """What the figures depend on: the machine, TensorFlow, the recipe's every setting, the task and the batch size."""
    settings = {"machine": machine_description(recipe), "tensorflow": importlib.metadata.version("tensorflow"), "preset": recipe.to_json(),
                "task": config.task, "batch_size": config.batch_size, "measurement": MEASUREMENT}  # fmt: skip
    return json.dumps(settings, sort_keys=True)


def _estimates_path() -> Path:
    return cache_dir() / ESTIMATES_FILE


def _read_kept() -> dict:
    try:
        kept = json.loads(_estimates_path().read_text())
    except (OSError, ValueError):  # None yet, or a damaged cache: measured again.
        return {}
    return kept if isinstance(kept, dict) else {}


def kept_costs(config: TrainConfig, recipe) -> Costs | None:
    values = _read_kept().get(_key(config, recipe))
    try:
        return Costs(**values) if isinstance(values, dict) else None
    except TypeError:  # Kept by another version of this module.
        return None


def keep_costs(config: TrainConfig, recipe, costs: Costs) -> None:
    kept = _read_kept() | {_key(config, recipe): dataclasses.asdict(costs)}
    _estimates_path().parent.mkdir(parents=True, exist_ok=True)
    write_atomic(_estimates_path(), json.dumps(kept, indent=1).encode())


# --- Measuring ------------------------------------------------------------------------------------------------------


def measure_costs(config: TrainConfig, recipe) -> Costs:
    """Time `recipe`'s real model and pipeline on a few batches of random faces (timing does not depend on the pixels)."""
    import numpy as np

    from core.data.augment import make_dataset
    from core.data.loading import FaceData
    from core.data.splits import Split
    from core.inference.int8 import CALIBRATION_FACES, save_int8
    from core.networks.arithmetic import dtype_policy_for
    from core.networks.build import build_model, compile_model, inference_copy
    from core.training.callbacks import save_model_atomic
    from core.training.prepare import PreparedData, targets_for, training_dataset

    train_config, batch_size = dataclasses.replace(config, preset=recipe), config.batch_size
    faces = _random_faces(FaceData, batch_size * (SHORT_FIT_STEPS + TIMED_STEPS), config.seed)
    rows = np.arange(len(faces))
    data = PreparedData(faces, Split(rows, rows, rows), runs.RunConfig(train=train_config))

    started = time.perf_counter()
    model = build_model(recipe, config.task, dtype_policy=dtype_policy_for(recipe))
    compile_model(model, recipe, train_config.learning_rate, total_steps=1000)
    teachers = [
        inference_copy(build_model(recipe.teacher_preset, config.task, dtype_policy=dtype_policy_for(recipe.teacher_preset)))
        for _ in range(recipe.teachers)
    ]
    training = training_dataset(data, model.output_names, teachers)
    validation = make_dataset(faces.images, targets_for(faces, rows, model.output_names, recipe.age_label_spread),
                              batch_size, False, config.seed)  # fmt: skip
    model.fit(training.take(WARM_UP_STEPS), epochs=1, verbose=0)
    model.evaluate(validation.take(1), verbose=0)
    start_seconds = time.perf_counter() - started

    def fit_seconds(steps: int) -> float:
        return _timed(lambda: model.fit(training.take(steps), epochs=1, verbose=0))

    short_fits, long_fits = [], []
    for _ in range(FIT_ROUNDS):
        short_fits.append(fit_seconds(SHORT_FIT_STEPS))
        long_fits.append(fit_seconds(SHORT_FIT_STEPS + TIMED_STEPS))
    short_fit, long_fit = statistics.median(short_fits), statistics.median(long_fits)
    # Five times the batches take about four times as long; under twice, busy moments disturbed the short fits, and
    # the long fits' share (start-up and all) is the safer figure.
    if long_fit > 2 * short_fit:
        train_seconds = long_fit - short_fit
    else:
        train_seconds = long_fit * TIMED_STEPS / (SHORT_FIT_STEPS + TIMED_STEPS)
    val_seconds = _timed(lambda: model.evaluate(validation.take(VALIDATION_STEPS), verbose=0))
    with tempfile.TemporaryDirectory() as folder:
        # Each epoch saves the best model (when it improved: counted always) and a checkpoint of similar size.
        epoch_seconds = 2 * _timed(lambda: save_model_atomic(inference_copy(model), Path(folder) / "model.keras"))
        images = faces.as_float(rows[:CALIBRATION_FACES])
        finish_seconds = _timed(lambda: save_int8(inference_copy(model), images, Path(folder) / "model.int8.xml"))
    return Costs(
        train_seconds_per_face=train_seconds / (TIMED_STEPS * batch_size),
        val_seconds_per_face=val_seconds / (VALIDATION_STEPS * batch_size),
        epoch_seconds=epoch_seconds,
        start_seconds=start_seconds,
        finish_seconds=finish_seconds,
        source=f"measured on {time.strftime('%Y-%m-%d')} ({TIMED_STEPS} batches)",
    )


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _random_faces(face_data, count: int, seed: int):
    import numpy as np

    from core.labels import ETHNICITIES

    generator = np.random.default_rng(seed)
    return face_data(
        images=generator.integers(0, 256, (count, 48, 48, 1), dtype=np.uint8),
        age=generator.integers(1, 90, count).astype(np.int16),
        gender=(np.arange(count) % 2).astype(np.int8),
        ethnicity=generator.integers(0, len(ETHNICITIES), count).astype(np.int8),
        img_name=np.array([f"random-{index}" for index in range(count)]),
        line=np.arange(count, dtype=np.int32) + 2,
    )


# --- What a completed run took --------------------------------------------------------------------------------------


def keep_run_costs(run_dir: Path) -> Costs | None:
    """Replace the kept figures of a completed run's recipe with what the run took; the Costs kept, or None.

    Only a run trained in one go from its first epoch (not resumed) with at
    least two epochs says what a steady epoch costs. Its epochs' seconds
    come from history.jsonl; its time outside them from status.json.
    """
    run = runs.load_run(run_dir)
    if run.state != runs.COMPLETED or run.status.resumes or not run.config.split_sizes:
        return None
    elapsed = [record.elapsed for record in runs.read_history(run.run_dir) if record.is_complete_epoch]
    if len(elapsed) < 2:
        return None
    durations = [later - earlier for earlier, later in zip(elapsed, elapsed[1:], strict=False)]
    steady = statistics.median(durations)
    wall = _seconds_between(run.status.started_at, run.status.ended_at)
    if wall is not None:  # A student's run also spans its teachers' trainings, which are runs of their own.
        for teacher_dir in (run.run_dir / runs.TEACHERS_DIR).glob("teacher-*"):
            teacher = runs.read_status(teacher_dir)
            wall -= _seconds_between(teacher.started_at, teacher.ended_at) or 0.0
    config, sizes = run.config.train, run.config.split_sizes
    measured = kept_costs(config, config.preset)
    # A steady epoch is training, validation and saves; shared out as the measured figures share it, else all to training.
    share = (
        (sizes["train"] * measured.train_seconds_per_face, sizes["val"] * measured.val_seconds_per_face, measured.epoch_seconds)
        if measured is not None
        else (1.0, 0.0, 0.0)
    )
    scale = steady / sum(share)
    costs = Costs(
        train_seconds_per_face=share[0] * scale / sizes["train"],
        val_seconds_per_face=share[1] * scale / sizes["val"],
        epoch_seconds=share[2] * scale,
        start_seconds=max(elapsed[0] - steady, 0.0),  # The first epoch's tracing.
        # Outside the epochs: loading and splitting the data, building the model, the int8 copy, scoring, calibrating.
        finish_seconds=max(wall - elapsed[-1], 0.0) if wall is not None else 0.0,
        source=f"from run {run.run_id}, trained on this machine",
    )
    keep_costs(config, config.preset, costs)
    return costs


def _seconds_between(start: str | None, end: str | None) -> float | None:
    from datetime import datetime

    if not start or not end:
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
