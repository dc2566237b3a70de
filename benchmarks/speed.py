"""Speed benchmark: how soon the default preset reaches the seed's final test quality, and inference speed.

    python -m benchmarks.speed [--seed-runs GENDER_RUN AGE_RUN] [--epochs N] [--limit N]
    python -m benchmarks.speed --inference-only RUN_DIR
    python -m benchmarks.speed --presets seed compact-dldl quick [--limit N]

(a) Trains the `seed` preset (a gender and an age model; or reuses finished
seed runs given with --seed-runs) and notes its training time and final test
accuracy and MAE. Then trains the default preset, scoring the test split
after every epoch (that scoring is not counted as training time), and reports
when it first reached the seed's accuracy and the seed's MAE, and the ratio to
the seed's own training time (target: at most 1/4).
(b) Batch inference speed of the default preset's model in faces per second
(target: at least 3,000): its int8 copy run by OpenVINO, the way training and
`core.inference.scoring` score faces, against the Keras model (the naive way).
(c) With --presets, only this: each preset trained once on this machine (the
`seed` preset as a gender and an age model, the others as they train), with
the estimate `train --dry-run` gives before it (measured first if need be;
not counted), the training minutes, their ratio to the seed's minutes, the
estimate's error, and test gender accuracy and age MAE.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import keras
import numpy as np

import core.quiet  # noqa: F401  (must come before TensorFlow)
from benchmarks.paths import RUNS, SHARED_CSV
from core import runs
from core.config import TrainConfig
from core.data.loading import FaceData, load_faces
from core.inference.int8 import Int8Model
from core.inference.predictor import Predictor
from core.networks.presets import DEFAULT_PRESET
from core.training.loop import train
from core.training.rows import rows_and_split


class TestQualityClock(keras.callbacks.Callback):
    """After each epoch, scores the test split and notes the training seconds spent so far."""

    def __init__(self, images: np.ndarray, gender: np.ndarray, age: np.ndarray, flip_test_time: bool):
        super().__init__()
        self.images, self.gender, self.age, self.flip = images, gender, age, flip_test_time
        self.training_seconds = 0.0
        self.points = []  # (training seconds, accuracy or None, mae or None) per epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.training_seconds += time.perf_counter() - self.epoch_started
        predicted = Predictor(KerasPredict(self.model), self.flip).predict(self.images)
        accuracy = float(((predicted["gender"] >= 0.5) == self.gender).mean()) if "gender" in predicted else None
        mae = float(np.abs(predicted["age"] - self.age).mean()) if "age" in predicted else None
        self.points.append((self.training_seconds, accuracy, mae))


def run_seconds(run_dir: Path) -> float:
    status = runs.read_status(run_dir)
    started, ended = (datetime.datetime.fromisoformat(moment) for moment in (status.started_at, status.ended_at))
    return (ended - started).total_seconds()


def seed_baseline(args) -> dict:
    """Training seconds and final test quality of the seed preset per head, and the seed and test rows of its split."""
    run_dirs = args.seed_runs or []
    if not run_dirs:
        for task in ("gender", "age"):
            run_dir = RUNS / f"speed-seed-{task}"
            train(
                TrainConfig(task=task, preset="seed", epochs=args.epochs, limit=args.limit, csv_path=str(args.csv)),
                run_dir,
                verbose=0,
            )
            run_dirs.append(run_dir)
    baseline = {}
    for run_dir in map(Path, run_dirs):
        test = runs.read_metrics(run_dir).test
        for head in test.heads():
            key = test.HEADLINE_KEYS[head]
            baseline[head] = {"seconds": run_seconds(run_dir), key: getattr(test, key)}
    splits = {(runs.read_config(run_dir).train.seed, runs.read_config(run_dir).train.split) for run_dir in run_dirs}
    if len(splits) != 1:
        raise SystemExit(f"the seed runs were split differently {sorted(splits)}; give two runs with one seed and split")
    baseline["split_seed"], baseline["split"] = splits.pop()
    baseline["test_rows"] = runs.read_split(Path(run_dirs[0])).test
    return baseline


def first_time(points, index: int, reached) -> float | None:
    return next((point[0] for point in points if point[index] is not None and reached(point[index])), None)


def faces_per_second(predict, images: np.ndarray, repeats: int = 3) -> float:
    predict(images[:1024])  # Warm-up: builds Keras' predict function, starts OpenVINO's streams.
    started = time.perf_counter()
    for _ in range(repeats):
        predict(images)
    return repeats * len(images) / (time.perf_counter() - started)


class KerasPredict:
    """The naive way as a back-end of core.inference.predictor: Keras' own `model.predict`, batches of 512."""

    def __init__(self, model):
        self.model = model

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.model.output_names)

    def run(self, passes: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        return [self.model.predict(images, batch_size=512, verbose=0) for images in passes]


def inference_speed(run_dir: Path, images: np.ndarray) -> None:
    """Print faces/s of the run's Keras model (the naive way: `model.predict`) and of its int8 copy, one pass and with flip TTA."""
    model = keras.saving.load_model(run_dir / runs.MODEL_FILE)
    # Keras is timed first: OpenVINO's worker threads, once started, keep spinning for a while and would slow it.
    naive = {flip: faces_per_second(Predictor(KerasPredict(model), flip).predict, images) for flip in (False, True)}
    int8_model = Int8Model(run_dir / runs.INT8_MODEL_FILE)
    fast = {flip: faces_per_second(Predictor(int8_model, flip).predict, images) for flip in (False, True)}
    print(f"\n(b) batch inference ({len(images):,} faces, warm; {run_dir.name})\n")
    for flip, label in ((False, "one pass per face"), (True, "with flip test-time augmentation")):
        print(f"{label}: Keras float32 {naive[flip]:,.0f} faces/s; OpenVINO int8 {fast[flip]:,.0f} faces/s "
              f"= {fast[flip] / naive[flip]:.1f}x (target >= 3,000)")  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=SHARED_CSV)
    parser.add_argument("--seed-runs", nargs=2, type=Path, metavar=("GENDER_RUN", "AGE_RUN"))
    parser.add_argument("--epochs", type=int, default=None, help="default: each preset's own")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--inference-only", type=Path, metavar="RUN_DIR", help="skip (a); measure (b) on this finished run")
    parser.add_argument("--presets", nargs="+", metavar="PRESET", help="only (c): train these, in this order ('seed' first)")
    args = parser.parse_args(argv)
    if args.presets:
        training_times(args)
        return
    faces, _ = load_faces(args.csv)
    run_dir = args.inference_only or time_to_seed_quality(args, faces)
    inference_speed(run_dir, faces.as_float(np.arange(min(len(faces), 10_000))))


def time_to_seed_quality(args, faces: FaceData) -> Path:
    """Part (a); returns the default preset's run directory."""
    baseline = seed_baseline(args)
    seed_seconds = baseline["gender"]["seconds"] + baseline["age"]["seconds"]
    # The seed runs' own seed and kind of split, so that both are scored on the same test faces.
    config = TrainConfig(
        preset=DEFAULT_PRESET,
        seed=baseline["split_seed"],
        split=baseline["split"],
        epochs=args.epochs,
        limit=args.limit,
        csv_path=str(args.csv),
    )
    run_dir = RUNS / f"speed-{DEFAULT_PRESET}-{config.task}"
    # The split depends only on the data and the config, so it is known before training.
    test_rows = rows_and_split(faces, config)[1].test
    if not np.array_equal(test_rows, baseline["test_rows"]):
        raise SystemExit("the seed runs were tested on other faces (another --limit or CSV?); use the same for both")
    clock = TestQualityClock(
        faces.as_float(test_rows), faces.gender[test_rows], faces.age[test_rows], config.preset.flip_test_time
    )
    train(config, run_dir, verbose=0, callbacks=(clock,))
    if not np.array_equal(runs.read_split(run_dir).test, test_rows):
        raise RuntimeError("the run's test split differs from the one scored per epoch")

    print(f"\n(a) time to the seed's final test quality ({args.csv.name}, this machine)\n")
    print(f"seed preset: gender {baseline['gender']['accuracy']:.3f} in {baseline['gender']['seconds'] / 60:.1f} min, "
          f"age MAE {baseline['age']['mae']:.2f} in {baseline['age']['seconds'] / 60:.1f} min; "
          f"together {seed_seconds / 60:.1f} min")  # fmt: skip
    for head, index, reached in (
        ("gender", 1, lambda accuracy: accuracy >= baseline["gender"]["accuracy"]),
        ("age", 2, lambda mae: mae <= baseline["age"]["mae"]),
    ):
        seconds = first_time(clock.points, index, reached)
        if seconds is None:
            print(f"{DEFAULT_PRESET}: never reached the seed's {head} quality")
        else:
            print(f"{DEFAULT_PRESET}: reached the seed's {head} quality after {seconds / 60:.1f} min of training "
                  f"= {seconds / seed_seconds:.2f} of the seed's time (target <= 0.25)")  # fmt: skip
    print("per epoch (training minutes, accuracy, MAE): " + ", ".join(
        f"({s / 60:.1f}, {a if a is None else round(a, 3)}, {m if m is None else round(m, 2)})" for s, a, m in clock.points))  # fmt: skip

    print(json.dumps({"seed_seconds": seed_seconds, "points": clock.points}))
    return run_dir


def training_times(args) -> None:
    """Part (c): each preset's training minutes against its estimate and the seed's minutes, and its test quality."""
    from core.networks.presets import get_preset
    from core.training.estimate import estimate_training, machine_description

    rows = []
    for name in args.presets:
        preset = get_preset(name)
        estimated = actual = 0.0
        test = {}
        for task in preset.full_model_tasks:
            config = TrainConfig(task=task, preset=preset, epochs=args.epochs, limit=args.limit, csv_path=str(args.csv))
            estimate = estimate_training(config)
            print(f"{name} ({task}): {estimate.describe()}", flush=True)
            run_dir = RUNS / f"time-{name}-{task}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
            started = time.perf_counter()
            result = train(config, run_dir, verbose=0)
            actual += time.perf_counter() - started
            estimated += estimate.total_seconds
            test |= result.test
        rows.append((name, estimated / 60, actual / 60, test.get("accuracy"), test.get("mae")))
        print(f"  trained in {actual / 60:.1f} min: {json.dumps(test)}", flush=True)

    seed_minutes = next((row[2] for row in rows if row[0] == "seed"), None)
    print(f"\n(c) training time per preset ({args.csv.name}{f', {args.limit} rows' if args.limit else ''}; "
          f"{machine_description(get_preset(args.presets[-1]))})\n")  # fmt: skip
    print("| preset | estimate (min) | trained (min) | estimate's error | × seed's minutes | gender accuracy | age MAE |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, estimated, minutes, accuracy, mae in rows:
        ratio = f"{minutes / seed_minutes:.2f}" if seed_minutes else "–"
        print(f"| {name} | {estimated:.1f} | {minutes:.1f} | {(estimated - minutes) / minutes:+.0%} | {ratio} | "
              f"{accuracy:.1%} | {mae:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
