"""Command line: train a model and evaluate it on its test split.

    python -m core.train --task gender --epochs 2 --limit 4000 --csv ../shared/data/age_gender.csv.gz

Progress goes to the terminal; the last line is one JSON object:
{"run_dir": ..., "status": ..., "test": {"accuracy": ..., "mae": ...}}.
Ctrl-C or SIGTERM stops after the current batch and keeps the best model.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

import core.quiet  # noqa: F401  (must come before TensorFlow)
from core import runs
from core.config import TASKS, TrainConfig, default_csv_path
from core.presets import DEFAULT_PRESET, PRESETS

STRATEGIES = ("none", "mirrored", "multi-worker")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core.train", description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=TASKS, default=TrainConfig.task)
    parser.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET)
    parser.add_argument("--epochs", type=int, default=None, help="default: the preset's")
    parser.add_argument("--limit", type=int, default=None, help="use a seeded random sample of N rows")
    parser.add_argument("--csv", type=Path, default=None, help=f"face CSV (default {default_csv_path()})")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--learning-rate", type=float, default=None, help="default: the preset's")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--patience", type=int, default=None, help="epochs without improvement before stopping (default: the preset's)")
    parser.add_argument("--run-dir", type=Path, default=None, help="write the run here instead of a new folder under runs/")
    parser.add_argument("--distribute", choices=STRATEGIES, default="none", help="tf.distribute strategy for GPUs or several hosts")
    return parser.parse_args(argv)


def make_strategy(name: str):
    if name == "none":
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()  # Reads the cluster from TF_CONFIG.


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = TrainConfig(
            task=args.task,
            preset=args.preset,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            seed=args.seed,
            limit=args.limit,
            csv_path=str(args.csv or default_csv_path()),
            patience=args.patience,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    from core.training import train  # TensorFlow loads here, after the arguments are checked.

    run_dir = args.run_dir or runs.new_run_dir(config.task, config.preset)
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: runs.request_stop(run_dir))
    try:
        result = train(config, run_dir=run_dir, strategy=make_strategy(args.distribute), verbose=1 if sys.stdout.isatty() else 2)
    except (ValueError, FileNotFoundError) as error:
        print(json.dumps({"run_dir": str(run_dir), "status": runs.FAILED, "error": str(error)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
