"""Train: train a model and evaluate it on its test split.

    python -m core train --task gender --epochs 2 --limit 4000 --csv ../shared/data/age_gender.csv.gz
    python -m core train --config runs/<run_id>/config.json --seed 7   # a saved run's settings, one changed
    python -m core train --resume runs/<run_id>                        # a stopped or killed run, from its last whole epoch
    python -m core train --preset compact-dldl --dry-run               # how long it would take here, without training

Progress goes to the terminal; the last line is one JSON object:
{"run_dir": ..., "status": ..., "test": {"accuracy": ..., "mae": ...}}.
Ctrl-C or SIGTERM stops after the current batch and keeps the best model.
Before training, a line says how long it should take on this machine when
that is known (core.training.estimate); `--dry-run` measures it if need be
(about half a minute) and prints it, with the estimate as the JSON line.
The setting flags are `core.config.TrainConfig`'s fields; the library
behind it is core.training.loop.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from core import runs
from core.config import TrainConfig, setting_flags
from core.paths import default_csv_path

STRATEGIES = ("none", "mirrored", "multi-worker")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core train", description=__doc__.split("\n")[0])
    settings = parser.add_argument_group("settings (default: the --config file's, else core.config.TrainConfig's)")
    for flag, field in setting_flags():
        default = "" if field.default in (None, "") else f" (default: {field.default})"
        # None: not given on the command line. A yes/no setting is a pair of flags (--x / --no-x).
        kind = {"action": argparse.BooleanOptionalAction} if field.metadata["type"] is bool else {"type": field.metadata["type"]}
        settings.add_argument(
            flag, dest=field.name, choices=field.metadata["choices"], default=None, help=field.metadata["help"] + default, **kind
        )
    parser.add_argument("--config", type=Path, default=None, help="start from the settings of this config.json (a run's)")
    parser.add_argument("--run-dir", type=Path, default=None, help="write the run here instead of a new folder under runs/")
    parser.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                        help="continue this stopped or interrupted run from its last whole epoch (no other settings)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true",
                        help="say how long the training would take on this machine (measured if need be) and stop")  # fmt: skip
    parser.add_argument(
        "--distribute", choices=STRATEGIES, default="none", help="tf.distribute strategy for GPUs or several hosts"
    )
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The settings of --config (if given), overridden by the flags given; a ValueError if they are not valid."""
    saved = {}
    if args.config is not None:
        values = runs.read_json(args.config)
        if values is None:
            raise ValueError(f"--config {args.config}: no readable JSON file there")
        saved = runs.RunConfig.from_json(values).train.to_json()
    given = {field.name: getattr(args, field.name) for _, field in setting_flags() if getattr(args, field.name) is not None}
    given["csv_path"] = str(given.get("csv_path") or saved.get("csv_path") or default_csv_path())
    return TrainConfig.overridden(saved, given)


def is_chief() -> bool:
    """Whether this process writes the run under `--distribute multi-worker`: the chief, else worker 0 (TF_CONFIG)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task", {})
    kind, index = task.get("type", "worker"), task.get("index", 0)
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in tf_config.get("cluster", {}))


def make_strategy(name: str):
    if name == "none":
        return None
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    from core.training.multi_worker import multi_worker_strategy

    return multi_worker_strategy()  # Reads the cluster from TF_CONFIG.


def dry_run(config: TrainConfig) -> int:
    """Print how long `config` would train on this machine (measuring it first if need be), and train nothing."""
    from core.training.estimate import estimate_training

    print(f"estimating {config.preset.name} ({config.task}) on this machine ...", file=sys.stderr, flush=True)
    try:
        estimate = estimate_training(config)
    except (ValueError, OSError) as error:  # The data's faults (InputError is a ValueError).
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"estimate: {estimate.describe()}")
    print(json.dumps({"estimate": estimate.to_json()}))
    return 0


def say_known_estimate(config: TrainConfig) -> None:
    """One line before training with the expected minutes, when this machine's figures for the recipe are kept."""
    from core.training.estimate import cached_estimate

    try:
        estimate = cached_estimate(config)
    except (ValueError, OSError):  # The data's faults are training's to report, with its own message.
        return
    if estimate is not None:
        print(f"estimate: {estimate.describe()}", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        if args.resume is not None:
            given = [flag for flag, field in setting_flags() if getattr(args, field.name) is not None]
            if given or args.config is not None or args.run_dir is not None:
                raise ValueError(
                    f"--resume continues a run with its own settings; drop {', '.join(given) or '--config / --run-dir'}"
                )
            if args.distribute == "multi-worker":
                raise ValueError("--resume runs on one host: the other workers' checkpoints are not kept")
            runs.read_config(args.resume)  # Refuses a folder that is not a run, before TensorFlow loads.
        else:
            config = config_from_args(args)
        if args.dry_run and args.resume is not None:
            raise ValueError("--dry-run estimates a new training; a resumed run's ETA is on its Train page")
    except (ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        return dry_run(config)

    from core.training.loop import resume, train  # TensorFlow loads here, after the arguments are checked.

    if args.distribute == "multi-worker" and not is_chief():
        # Every worker trains the same model; only the chief's run directory is kept, the others write to a scratch one.
        run_dir = Path(tempfile.mkdtemp(prefix="agegender-worker-"))
    else:
        run_dir = args.resume or args.run_dir or runs.new_run_dir(config)
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: runs.request_stop(run_dir))
    strategy, verbose = make_strategy(args.distribute), 1 if sys.stdout.isatty() else 2
    try:
        if args.resume is not None:
            result = resume(run_dir, strategy=strategy, verbose=verbose)
        else:
            say_known_estimate(config)
            result = train(config, run_dir=run_dir, strategy=strategy, verbose=verbose)
    except (ValueError, FileNotFoundError) as error:
        print(json.dumps({"run_dir": str(run_dir), "status": runs.FAILED, "error": str(error)}))
        return 1
    print(json.dumps(result.to_json()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
