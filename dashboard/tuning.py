"""Run a tuning study as a background `python -m core tune` process, stop it, promote its trials; Streamlit-free.

    start_study(StudyRequest("faces-v1", "compact-dldl", trials=16, epochs_per_trial=6, limit=8000, csv_path="..."))
    running_studies()                      # ["faces-v1"] while its command's process lives
    stop_study("faces-v1")                 # the running trials end after their batch, no new one starts
    promote_trial("faces-v1", 3)           # trial 3's run scored on its test split (`tune --promote 3`)
    save_trial_preset(run_dir, "mine")     # a trial's settings as the user's preset "mine"

The dashboard searches through the command line, as it trains: the process
lives in its own process group (it survives page reloads), and its output
goes to runs/studies/<study>.log. Beside it, <study>.launch.json names its
process and the number of trials asked for, and <study>.space.json the knobs
the page left out of the search. Studies started elsewhere (the command line,
another machine) are shown and stopped the same way; only their process is
not known here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from core import runs
from core.networks.presets import Preset, save_user_preset
from core.paths import PROJECT_ROOT, runs_dir, studies_dir
from core.tuning.space import KNOBS_BY_NAME, SearchSpace
from dashboard.launcher import TrainingBusy, file_tail, launch_lock, refuse_if_busy

# A promotion scores the test split with the int8 copy it makes first: well under this on 2 cores.
PROMOTE_TIMEOUT_SECONDS = 600


def log_path(study: str) -> Path:
    return studies_dir() / f"{study}.log"


def launch_path(study: str) -> Path:
    return studies_dir() / f"{study}.launch.json"


def space_path(study: str) -> Path:
    return studies_dir() / f"{study}.space.json"


@dataclasses.dataclass(frozen=True)
class StudyRequest:
    """What the Tune page's form asks for: the flags of one `python -m core tune` command."""

    study: str
    preset: str
    trials: int
    epochs_per_trial: int
    limit: int | None
    csv_path: str
    objectives: tuple[str, ...]
    workers: int = 1
    # The knobs to search; every other keeps the preset's value. None: all of them.
    searched: tuple[str, ...] | None = None

    def __post_init__(self):
        if not self.objectives:
            raise ValueError("Choose one objective, or two for a Pareto front")
        if self.searched is not None and not self.searched:
            raise ValueError("Choose at least one setting to search")

    @property
    def space_changes(self) -> dict:
        """A space file's content that leaves the knobs not chosen out of the search (see core.tuning.space)."""
        if self.searched is None:
            return {}
        return {name: None for name in KNOBS_BY_NAME if name not in self.searched}

    def argv(self, space_file: Path | None) -> list[str]:
        """The command's arguments after `python -m core tune`."""
        args = ["--study", self.study, "--preset", self.preset, "--trials", str(self.trials)]
        args += ["--epochs-per-trial", str(self.epochs_per_trial), "--csv", self.csv_path, "--objective", *self.objectives]
        args += ["--limit", str(self.limit)] if self.limit else []
        args += ["--workers", str(self.workers)] if self.workers > 1 else []
        return args + (["--space", str(space_file)] if space_file is not None else [])


def tune_command(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "core", "tune", *argv]


def start_study(request: StudyRequest) -> Path:
    """Check the request as the command would, then start the command in the background; returns its log's path.

    The study is created (or its stored search checked) here, so a bad request
    says why at once instead of in a log.

    Raises:
        TrainingBusy: a training or another study is running on this machine.
        ValueError: the settings are not a valid search, or the stored study of that name searched something else.
    """
    if not Path(request.csv_path).is_file():
        raise ValueError(f"No CSV file at {request.csv_path}: choose a data file on the Data page")
    with launch_lock(runs_dir()):
        refuse_if_busy(runs_dir())
        busy = running_studies()
        if busy:
            raise TrainingBusy(f"Study {busy[0]!r} is running; stop it or wait until it ends")
        changes = request.space_changes
        space_file = space_path(request.study) if changes else None
        # Checked from a file of its own (named before the study's name is known to be one), so that a refused
        # request leaves the study's space file as it was.
        studies_dir().mkdir(parents=True, exist_ok=True)
        handle, checked = tempfile.mkstemp(suffix=".space.json", dir=studies_dir())
        checked_file = Path(checked)
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(changes, out, indent=2)
            _check(request.argv(checked_file if changes else None))
            if space_file is not None:
                checked_file.replace(space_file)
        finally:
            checked_file.unlink(missing_ok=True)
        argv = request.argv(space_file)
        with open(log_path(request.study), "ab") as log:
            process = subprocess.Popen(
                tune_command(argv),
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Not killed with the server's terminal; its workers form one group.
            )
        runs.write_json_atomic(launch_path(request.study), {"pid": process.pid, "trials": request.trials, "argv": argv})
    # Waited for, so that it leaves no zombie that looks alive.
    threading.Thread(target=process.wait, daemon=True, name=f"reap-study-{request.study}").start()
    return log_path(request.study)


def _check(argv: list[str]) -> None:
    """The command's own checks of its flags, and of the stored study of that name (which this creates if new)."""
    from core.cli.tune import parse_args, search_from_args
    from core.tuning.study import open_study

    open_study(search_from_args(parse_args(argv)))


def launch_record(study: str) -> dict:
    """What start_study recorded about the study's process ({} for a study started elsewhere)."""
    return runs.read_json(launch_path(study)) or {}


def is_running(study: str) -> bool:
    """The process this dashboard started for the study is alive."""
    return runs.pid_alive(launch_record(study).get("pid"))


def running_studies() -> list[str]:
    return [path.name.removesuffix(".launch.json") for path in studies_dir().glob("*.launch.json")
            if is_running(path.name.removesuffix(".launch.json"))]  # fmt: skip


def stop_requested(study: str) -> bool:
    from core.tuning.study import stop_file

    return stop_file(study).exists()


def stop_study(study: str) -> None:
    """Ask the study's workers on this machine to stop: their running trials end after their batch (and count as failed).

    Raises:
        ValueError: there is no such study.
    """
    from core.tuning.study import load_study
    from core.tuning.worker import stop_study as stop

    stop(load_study(study))


def log_tail(study: str, lines: int = 30) -> str:
    """The last lines of the study's log ('' when there is none)."""
    return file_tail(log_path(study), lines)


def promote_trial(study: str, number: int) -> dict[str, float]:
    """Score a trial's run on its test split through `python -m core tune --promote`; its test metrics.

    Raises:
        ValueError: the trial cannot be promoted (no run, pruned, scored already...): the command's message.
    """
    try:
        done = subprocess.run(
            tune_command(["--study", study, "--promote", str(number)]),
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=PROMOTE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise ValueError(f"scoring trial {number} took over {PROMOTE_TIMEOUT_SECONDS} s and was ended") from None
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        raise ValueError(errors[-1].removeprefix("error: ") if errors else f"the command ended with code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])["test"]


def trial_preset(run_dir: Path, name: str) -> Preset:
    """The settings a trial's run trained with, as a preset called `name` (core.tuning.space.SearchSpace.preset_of)."""
    return SearchSpace.preset_of(runs.read_config(run_dir).train, name)


def save_trial_preset(run_dir: Path, name: str) -> Preset:
    """Save a trial's settings as the user's preset `name`; a ValueError for a name that cannot be one."""
    preset = trial_preset(run_dir, name)
    save_user_preset(preset)
    return preset
