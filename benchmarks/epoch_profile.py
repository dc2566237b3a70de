"""Where one training epoch's time goes, on this machine: a table, and training faces/s against the CPU's peak.

    python -m benchmarks.epoch_profile [--preset compact-dldl] [--task both] [--steps 60] [--batch-sizes 32 64 128]
    ONEDNN_MAX_CPU_ISA=AVX2 python -m benchmarks.epoch_profile     # as on a CPU without bfloat16 instructions

Each part is timed on its own over `--steps` batches of the real data and
pipeline (the shared CSV, split as training splits it) and scaled to the
whole epoch, after warm-up batches that trace the functions:

- input pipeline: shuffling, the float conversion, augmentation and targets, with no model;
- compute: the training step alone (forward, backward, update) on batches already made;
- fit, no callbacks: Keras' fit over the real pipeline (where the pipeline overlaps the compute);
- validation: the validation pass;
- then a whole epoch as `train` runs it (core.training.loop.fit: every callback, the per-batch history,
  TensorBoard's scalars, the best model and checkpoint saves, validation), its second epoch; the
  callbacks' and saves' share is what it took beyond fit and validation.

Then the training step's faces/s at other batch sizes and compiled by XLA, and the model's multiply-adds per face: the
training step's achieved multiply-adds per second (about three times the forward pass's per face)
against a matrix product's on this machine (the practical peak for this arithmetic).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import core.quiet  # noqa: F401  (must come before TensorFlow)
from benchmarks.paths import SHARED_CSV
from core import runs
from core.config import TrainConfig
from core.data.augment import make_dataset
from core.networks.build import build_model, compile_model
from core.training.estimate import machine_description
from core.training.loop import fit
from core.training.prepare import prepare_data, targets_for, training_dataset

WARM_UP_STEPS = 5


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="compact-dldl")
    parser.add_argument("--task", default="both")
    parser.add_argument("--steps", type=int, default=60, help="batches timed per part (an epoch of the full CSV: ~240)")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[32, 64, 128, 256])
    parser.add_argument("--csv", type=Path, default=SHARED_CSV)
    return parser.parse_args(argv)


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def multiply_adds_per_face(model: keras.Model) -> int:
    """The forward pass's multiply-adds for one face: its convolutions' and dense layers' (the rest is a few percent)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, channels_out = layer.output.shape
            kernel_height, kernel_width, channels_in, _ = layer.kernel.shape
            total += height * width * channels_out * kernel_height * kernel_width * channels_in
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def matmul_multiply_adds_per_second(dtype: tf.DType, size: int = 1024, repeats: int = 20) -> float:
    """A large matrix product's multiply-adds per second on this machine, in `dtype`: the practical peak."""
    a = tf.random.uniform((size, size), dtype=tf.float32)
    a = tf.cast(a, dtype)
    product = tf.function(lambda x: tf.matmul(x, x))
    product(a).numpy()  # Traced and warmed.
    seconds = timed(lambda: [product(a) for _ in range(repeats - 1)] + [product(a).numpy()])
    return repeats * size**3 / seconds


def training_step_rate(data, batch_size: int, faces: int, xla: bool = False) -> float:
    """Faces/s of the training step alone (batches made beforehand) for a fresh model trained with `batch_size`
    (compiled by XLA if `xla`)."""
    config = data.config.train
    model = build_model(config.preset, config.task, age_bias=30.0, dtype_policy=data.config.dtype_policy)
    compile_model(model, config.preset, config.learning_rate, total_steps=10_000)
    model.jit_compile = xla
    rows = data.split.train[: max(faces, (WARM_UP_STEPS + 4) * batch_size)]
    targets = targets_for(data.faces, rows, model.output_names, config.preset.age_label_spread)
    batches = make_dataset(data.faces.images[rows], targets, batch_size, False, config.seed).cache()
    [None for _ in batches]
    model.fit(batches.take(WARM_UP_STEPS), verbose=0)
    return len(rows) / timed(lambda: model.fit(batches, verbose=0))


class EpochClock(keras.callbacks.Callback):
    """The wall time of each epoch (training, validation and every other callback's work) and of its validation."""

    def __init__(self):
        super().__init__()
        self.epochs, self.validations = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_test_begin(self, logs=None):
        self.validation_started = time.perf_counter()

    def on_test_end(self, logs=None):
        self.validations.append(time.perf_counter() - self.validation_started)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(time.perf_counter() - self.started)


def main(argv=None) -> None:
    args = parse_args(argv)
    config = TrainConfig(preset=args.preset, task=args.task, csv_path=str(args.csv), epochs=2)
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        runs.write_config(run_dir, runs.RunConfig(train=config))
        data = prepare_data(config, run_dir)
        train_faces, batch_size = len(data.split.train), config.batch_size
        steps_per_epoch = int(np.ceil(train_faces / batch_size))
        scale = steps_per_epoch / args.steps
        policy = data.config.dtype_policy
        print(f"{config.preset.name} ({config.task}), {train_faces:,} training faces, batch {batch_size} "
              f"({steps_per_epoch} steps an epoch), {policy}; {machine_description(config.preset)}", flush=True)  # fmt: skip

        model = build_model(config.preset, config.task, age_bias=30.0, dtype_policy=policy)
        compile_model(model, config.preset, config.learning_rate, total_steps=10_000)
        pipeline = training_dataset(data, model.output_names, None)
        pipeline_seconds = timed(lambda: [None for _ in pipeline.take(args.steps)]) * scale

        made = pipeline.take(args.steps).cache()
        [None for _ in made]  # Made once, kept in memory: the next passes are compute alone.
        model.fit(made.take(WARM_UP_STEPS), verbose=0)
        # The faster of two passes: in float32 on AVX2 the first pass after the warm-up ran 10-20 % slower than every
        # later one, which left the callbacks a negative share.
        compute_seconds = min(timed(lambda: model.fit(made, verbose=0)) for _ in range(2)) * scale
        fit_seconds = timed(lambda: model.fit(pipeline.take(args.steps), verbose=0)) * scale
        validation = make_dataset(data.faces.images[data.split.val],
                                  targets_for(data.faces, data.split.val, model.output_names, config.preset.age_label_spread),
                                  batch_size, False, config.seed)  # fmt: skip
        model.evaluate(validation.take(2), verbose=0)
        validation_seconds = timed(lambda: model.evaluate(validation, verbose=0))

        clock = EpochClock()
        print("training two whole epochs as `train` does ...", flush=True)
        fit(data, run_dir, None, 0, (clock,))
        whole_epoch = clock.epochs[-1]

        sizes = {size: training_step_rate(data, size, args.steps * batch_size) for size in args.batch_sizes}
        xla = training_step_rate(data, batch_size, args.steps * batch_size, xla=True)

    print_table(pipeline_seconds, compute_seconds, fit_seconds, validation_seconds, whole_epoch, clock.validations[-1])
    print("\ntraining step alone, faces/s by batch size: "
          + ", ".join(f"{size}: {rate:,.0f}" for size, rate in sizes.items())
          + f"; compiled by XLA (jit_compile), batch {batch_size}: {xla:,.0f}")  # fmt: skip
    forward = multiply_adds_per_face(model)
    peak = matmul_multiply_adds_per_second(tf.bfloat16 if policy == "mixed_bfloat16" else tf.float32)
    compute_rate = train_faces / compute_seconds
    epoch_rate = train_faces / whole_epoch
    achieved = 3 * forward * compute_rate
    print(f"forward pass: {forward / 1e6:.1f} million multiply-adds a face; training about 3x that")
    print(f"matrix product on this machine ({'bfloat16' if policy == 'mixed_bfloat16' else 'float32'}): "
          f"{peak / 1e9:.1f} billion multiply-adds/s")  # fmt: skip
    print(f"training step: {compute_rate:,.0f} faces/s = {achieved / 1e9:.1f} billion multiply-adds/s, "
          f"{achieved / peak:.0%} of that peak; a whole epoch: {epoch_rate:,.0f} faces/s")  # fmt: skip


def print_table(
    pipeline: float, compute: float, fit_alone: float, validation: float, whole: float, whole_validation: float
) -> None:
    rest = whole - fit_alone - validation
    rows = [
        ("input pipeline alone (augmentation, targets)", pipeline, "overlaps the compute in fit"),
        ("training step alone (forward, backward, update)", compute, ""),
        ("fit over the real pipeline, no callbacks", fit_alone, f"pipeline cost beyond compute: {fit_alone - compute:+.1f} s"),
        ("validation pass", validation, f"in the whole epoch: {whole_validation:.1f} s"),
        ("callbacks, history, TensorBoard, saves", rest, "the whole epoch less fit and validation"),
        ("a whole epoch as train runs it", whole, ""),
    ]
    print("\n| part | seconds an epoch | share of the epoch | note |\n| --- | --- | --- | --- |")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.1f} | {seconds / whole:.0%} | {note} |")


if __name__ == "__main__":
    main()
