"""Tune: search a preset's settings with Optuna; every trial is a run, pruned early when it is not promising.

    python -m core tune --study faces-v1 --trials 16 --epochs-per-trial 6 --limit 8000 --csv ../shared/data/age_gender.csv.gz
    python -m core tune --study faces-v1 --trials 16 --workers 2 ...        # two processes on this machine
    python -m core tune --study faces-v1 --trials 16 --storage postgresql://user@host/db ...   # on each of several machines
    python -m core tune --study faces-v1 --promote 7                         # score trial 7's run on its test split

The same command again goes on with the study (a different search under the
same name is refused). Progress goes to stderr; the last line is one JSON
object: the study, its trials by state, and its best trial(s).
The library behind it is core.tuning.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time

from core.config import TrainConfig
from core.networks.presets import DEFAULT_PRESET
from core.paths import default_csv_path
from core.progress import progress_bar

# Trials' length by default: enough for the pruner to compare curves, short enough for many trials.
DEFAULT_EPOCHS_PER_TRIAL = 6


def parse_args(argv=None) -> argparse.Namespace:
    from core.tuning.objectives import DEFAULT_OBJECTIVE, OBJECTIVES
    from core.tuning.study import GRACE_SECONDS, HEARTBEAT_SECONDS, PRUNERS, STARTUP_TRIALS

    parser = argparse.ArgumentParser(prog="python -m core tune", description=__doc__.split("\n")[0])
    parser.add_argument("--study", required=True, help="the study's name: the same name goes on with it")
    parser.add_argument("--trials", type=int, default=16, help="finished (complete or pruned) trials to reach (default: 16)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes to start on this machine (default: 1)")
    parser.add_argument("--storage", default=None,
                        help="an SQLAlchemy URL (postgresql://..., mysql://..., sqlite:///...) or an Optuna journal file's path "
                             "(default: runs/studies/STUDY.db)")  # fmt: skip
    parser.add_argument(
        "--space", default=None, help="a JSON file that narrows, widens, fixes or drops knobs (see docs/tuning.md)"
    )
    parser.add_argument("--objective", nargs="+", default=[DEFAULT_OBJECTIVE], choices=list(OBJECTIVES), metavar="OBJECTIVE",
                        help=f"one, or two for a Pareto front: {', '.join(OBJECTIVES)} (default: {DEFAULT_OBJECTIVE})")  # fmt: skip
    parser.add_argument("--pruner", choices=PRUNERS, default="median", help="(single objective only; default: median)")
    parser.add_argument("--startup-trials", type=int, default=STARTUP_TRIALS,
                        help="random trials before TPE takes over, and finished ones before the pruner prunes (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--preset", default=DEFAULT_PRESET, help=f"the preset whose settings are searched (default: {DEFAULT_PRESET})"
    )
    parser.add_argument("--task", default=None, help="both, gender or age (default: the preset's)")
    parser.add_argument("--epochs-per-trial", type=int, default=DEFAULT_EPOCHS_PER_TRIAL, help="(default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="use a seeded random sample of this many rows")
    parser.add_argument("--csv", default=None, help="the face CSV (default: AGEGENDER_CSV or data/age_gender.csv[.gz])")
    parser.add_argument("--seed", type=int, default=42, help="the seed of every trial's sample, split and weights (default: 42)")
    parser.add_argument("--keep-all-models", action="store_true", help="keep the models of pruned and failed trials too")
    parser.add_argument("--heartbeat", type=int, default=HEARTBEAT_SECONDS, help=argparse.SUPPRESS)
    parser.add_argument("--grace", type=int, default=GRACE_SECONDS,
                        help=f"seconds without a heartbeat before a worker's trial is failed and retried (default: {GRACE_SECONDS})")  # fmt: skip
    parser.add_argument("--promote", type=int, default=None, metavar="TRIAL",
                        help="score this trial's run on its test split (and int8 copy, calibration), then stop")  # fmt: skip
    parser.add_argument("--save-preset", nargs=2, default=None, metavar=("TRIAL", "NAME"),
                        help="save this trial's settings as your preset NAME (runs/presets/NAME.json), for --preset, then stop")  # fmt: skip
    return parser.parse_args(argv)


def search_from_args(args: argparse.Namespace):
    """The Search the flags describe; a ValueError when they are not valid."""
    from core.tuning.space import SearchSpace, read_space_file
    from core.tuning.study import Search

    base = TrainConfig(
        preset=args.preset,
        task=args.task,
        epochs=args.epochs_per_trial,
        patience=args.epochs_per_trial,  # The pruner, not early stopping, ends a trial early.
        limit=args.limit,
        csv_path=str(args.csv or default_csv_path()),
        seed=args.seed,
    )
    space = SearchSpace.default(base.preset)
    if args.space:
        space = space.narrowed(read_space_file(args.space))
    if args.trials < 1 or args.workers < 1:
        raise ValueError("--trials and --workers must be at least 1")
    return Search(
        study=args.study,
        base=base,
        space=space,
        objective_names=tuple(args.objective),
        pruner=args.pruner,
        storage=args.storage,
        keep_all_models=args.keep_all_models,
        heartbeat_seconds=args.heartbeat,
        grace_seconds=args.grace,
        startup_trials=args.startup_trials,
    )


def draw_progress(study, trials: int, started: float) -> None:
    from core.tuning.study import summary

    counts = summary(study)
    done = counts["COMPLETE"] + counts["PRUNED"]
    eta = ""
    durations = [t.duration.total_seconds() for t in study.get_trials(deepcopy=False) if t.duration and t.state.name != "FAIL"]
    if durations and done < trials:
        running = max(counts["RUNNING"], 1)
        eta = f" · ETA {sum(durations) / len(durations) * (trials - done) / running / 60:.0f} min"
    what = f"trials · {counts['PRUNED']} pruned · {counts['FAIL']} failed · {counts['RUNNING']} running{eta}"
    progress_bar(min(done, trials), trials, what)


def result_json(study, search) -> dict:
    from core.tuning.study import summary

    best = []
    if any(trial.state.name == "COMPLETE" for trial in study.get_trials(deepcopy=False)):
        best = [
            {"trial": trial.number, "values": trial.values, "params": trial.params, "run_dir": trial.user_attrs.get("run_dir")}
            for trial in study.best_trials
        ]
    return {"study": search.study, "storage": search.storage_url, "trials": dict(summary(study)), "best": best}


def run_workers(args: argparse.Namespace, argv: list[str], search) -> int:
    """Start `--workers` processes on this study and draw their progress until they end."""
    from core.tuning.study import load_study, stop_file
    from core.tuning.worker import stop_study

    command = [sys.executable, "-m", "core", "tune", *strip_workers(argv), "--workers", "1"]
    workers = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(args.workers)]
    signal.signal(signal.SIGTERM, lambda *_: stop_file(search.study).touch())
    started = time.time()
    try:
        while any(worker.poll() is None for worker in workers):
            time.sleep(2)
            if stop_file(search.study).exists():
                stop_study(load_study(search.study, search.storage))
            draw_progress(load_study(search.study, search.storage), args.trials, started)
    except KeyboardInterrupt:
        stop_study(load_study(search.study, search.storage))
        for worker in workers:
            worker.wait()
    study = load_study(search.study, search.storage)
    print(file=sys.stderr)
    print(json.dumps(result_json(study, search)))
    return 0 if all(worker.returncode == 0 for worker in workers) else 1


def strip_workers(argv: list[str]) -> list[str]:
    """`argv` without its --workers flag (and value)."""
    kept, skip = [], False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--workers":
            skip = index + 1 < len(argv)
        elif not arg.startswith("--workers="):
            kept.append(arg)
    return kept


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        if args.promote is not None:
            return promote(args)
        if args.save_preset is not None:
            return save_preset(args)
        search = search_from_args(args)
        from core.tuning.study import open_study, stop_file

        open_study(search)  # Refuses another search under this name before any worker starts.
        stop_file(search.study).unlink(missing_ok=True)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.workers > 1:
        return run_workers(args, argv, search)
    from core.tuning.study import load_study, stop_file
    from core.tuning.worker import TrialsKeepFailing, run_worker

    started = time.time()
    # SIGTERM (the dashboard's Stop, a scheduler's): the running trial stops after its batch, no new one starts.
    # Only the stop file is touched here: the handler may run while this process holds the study's lock.
    signal.signal(signal.SIGTERM, lambda *_: stop_file(search.study).touch())
    try:
        run_worker(search, args.trials, on_trial_end=lambda study: draw_progress(study, args.trials, started))
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    except TrialsKeepFailing as error:
        print(f"\nerror: {error}", file=sys.stderr)
        return 1
    study = load_study(search.study, search.storage)
    print(file=sys.stderr)
    print(json.dumps(result_json(study, search)))
    return 0


def trial_run_dir(study_name: str, storage: str | None, number: int) -> str:
    """The run folder of the study's trial `number`; a ValueError when there is none."""
    from core.tuning.study import load_study

    trials = [trial for trial in load_study(study_name, storage).get_trials(deepcopy=False) if trial.number == number]
    if not trials or "run_dir" not in trials[0].user_attrs:
        raise ValueError(f"study {study_name!r} has no trial {number} with a run")
    return trials[0].user_attrs["run_dir"]


def save_preset(args: argparse.Namespace) -> int:
    """Save a trial's settings as the user's preset: what `train --preset NAME` and the Train page then offer."""
    from core import runs
    from core.networks.presets import save_user_preset
    from core.tuning.space import SearchSpace

    number, name = args.save_preset
    if not number.isdigit():
        raise ValueError(f"--save-preset takes a trial's number, then a name; got {number!r}")
    trial_config = runs.read_config(trial_run_dir(args.study, args.storage, int(number))).train
    path = save_user_preset(SearchSpace.preset_of(trial_config, name))
    print(json.dumps({"preset": name, "path": str(path)}))
    return 0


def promote(args: argparse.Namespace) -> int:
    """Score a trial's run on its test split: what makes it a run like any trained one."""
    from core.training.loop import score_run

    run_dir = trial_run_dir(args.study, args.storage, args.promote)
    try:
        test = score_run(run_dir)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"run_dir": run_dir, "test": test}))
    return 0
