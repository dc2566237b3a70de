"""Start training as a background `python -m core train` process and read its progress.

    run_dir = start_training(TrainConfig(task="gender", epochs=3, csv_path="..."))
    progress(read_history(run_dir))   # epoch, batch, elapsed, ETA
    live_training(run_dir)            # the history under way (a teacher's while a `best` run trains them) and what follows
    request_stop(run_dir)             # from core.runs: ends after the current batch

The dashboard trains through the command line, the same code path users
script, in its own process group: it survives page reloads, can be stopped,
and gives its TensorFlow memory back when it ends. Its output goes to
`train.log` in the run directory. The settings travel as the run's own
config.json (`--config`), so the dashboard never re-types the CLI's flags. At most one training runs at a time per
runs folder; `core.runs.active_run` tells every session which one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import subprocess
import sys
import threading
from pathlib import Path

from core import runs
from core.config import TrainConfig
from core.paths import PROJECT_ROOT, runs_dir
from core.training.estimate import seconds_after

LOCK_FILE = ".launch.lock"


class TrainingBusy(ValueError):
    """Another training is running; only one at a time is allowed."""


def train_command(run_dir: Path) -> list[str]:
    """The command line that trains the config saved in `run_dir` into `run_dir`."""
    return [sys.executable, "-m", "core", "train", "--config", str(Path(run_dir) / runs.CONFIG_FILE), "--run-dir", str(run_dir)]


@contextlib.contextmanager
def launch_lock(parent: Path):
    """Serialise launches, so two sessions pressing Start together cannot both start one."""
    parent.mkdir(parents=True, exist_ok=True)
    with open(parent / LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start_training(config: TrainConfig, parent: Path | None = None) -> Path:
    """Launch training in the background and return its new run directory.

    Raises:
        TrainingBusy: a training is already running under `parent`.
        ValueError: the config has no CSV, or the CSV does not exist.
    """
    parent = Path(parent) if parent is not None else runs_dir()
    if not config.csv_path:
        raise ValueError("The training config has no csv_path: choose a data file first")
    if not Path(config.csv_path).is_file():
        raise ValueError(f"No CSV file at {config.csv_path}: choose a data file on the Data page")
    with launch_lock(parent):
        refuse_if_busy(parent)
        run_dir = runs.new_run_dir(config, parent)
        # The trainer reads its settings from this config.json, and completes it
        # and status.json once TensorFlow has loaded, seconds from now; until then
        # these make the run visible (and count as "the active run") to every session.
        runs.write_config(run_dir, runs.RunConfig(train=config))
        _launch(train_command(run_dir), run_dir, runs.lifecycle.mark_started)
    return run_dir


def resume_training(run_dir: Path) -> Path:
    """Continue a stopped or interrupted run in the background from its last whole epoch (`python -m core train --resume`).

    Raises:
        TrainingBusy: a training is already running in the run's folder.
        ValueError: the run cannot be resumed (the message says why).
    """
    run = runs.load_run(run_dir)
    if not run.can_resume:
        raise ValueError(f"Run {run.run_id} cannot be resumed: it is {run.state}, and only a stopped or interrupted run "
                         "with at least one whole epoch can")  # fmt: skip
    with launch_lock(run.run_dir.parent):
        refuse_if_busy(run.run_dir.parent)
        _launch([sys.executable, "-m", "core", "train", "--resume", str(run.run_dir)], run.run_dir, runs.lifecycle.mark_resumed)
    return run.run_dir


def refuse_if_busy(parent: Path) -> None:
    running = runs.active_run(parent)
    if running is not None:
        raise TrainingBusy(f"Run {running.run_id} is still training; stop it or wait until it ends")


def _launch(command: list[str], run_dir: Path, mark_running) -> None:
    """Start `command` in its own process group, its output appended to the run's train.log, and mark the run running."""
    with open(run_dir / runs.LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Not killed with the server's terminal; stoppable as a group.
        )
    mark_running(run_dir, pid=process.pid)  # Until the trainer, seconds from now, marks the run itself.
    threading.Thread(target=_reap, args=(process, run_dir), daemon=True, name=f"reap-{run_dir.name}").start()


def _reap(process: subprocess.Popen, run_dir: Path) -> None:
    """Wait for the process (so it leaves no zombie that looks alive) and record a silent death.

    The trainer marks its own failures; this catches a process that died
    before it could, such as one killed or refused by the command line.
    """
    code = process.wait()
    status = runs.read_status(run_dir)
    if status.state == runs.RUNNING and status.pid == process.pid:
        last_line = (log_tail(run_dir, 1) or "no output").strip()
        runs.lifecycle.mark_failed(run_dir, f"the training process exited with code {code}: {last_line}")


def log_tail(run_dir: Path, lines: int = 30) -> str:
    """The last `lines` lines of the run's train.log ('' when there is none)."""
    return file_tail(Path(run_dir) / runs.LOG_FILE, lines)


def file_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a command's output file ('' when there is none)."""
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""
    # Keras progress bars redraw with carriage returns; keep only the final state of each line.
    cleaned = [line.rsplit("\r", 1)[-1] for line in text.splitlines()]
    return "\n".join(line for line in cleaned[-lines:])


@dataclasses.dataclass(frozen=True)
class Progress:
    epoch: int  # 1-based, the epoch under way (or just finished)
    epochs: int  # planned; early stopping may end sooner
    batch: int  # batches done in this epoch
    steps: int  # batches per epoch
    elapsed: float  # seconds since fitting began
    # Whole trainings of the same length before and after this one (a `best` run's teachers and student).
    trainings_before: int = 0
    trainings_after: int = 0
    # Seconds after this training's last epoch (its finish and the later trainings), from this machine's kept
    # figures (core.training.estimate.seconds_after); None: the later trainings are taken to go at this one's pace.
    later_seconds: float | None = None

    @property
    def fraction(self) -> float:
        """Share of this training's planned batches done, 0..1."""
        total = self.epochs * self.steps
        return min(1.0, ((self.epoch - 1) * self.steps + self.batch) / total) if total else 0.0

    @property
    def overall_fraction(self) -> float:
        """Share of all the run's trainings done, 0..1."""
        return (self.trainings_before + self.fraction) / (self.trainings_before + 1 + self.trainings_after)

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left if all planned epochs run: this training's at its pace so far, then what comes after it."""
        if self.fraction <= 0:
            return None
        whole = self.elapsed / self.fraction
        after = self.later_seconds if self.later_seconds is not None else whole * self.trainings_after
        return whole * (1 - self.fraction) + after


def progress(history: list[runs.HistoryRecord], trainings_before: int = 0, trainings_after: int = 0,
             later_seconds: float | None = None) -> Progress | None:  # fmt: skip
    """Where training stands, from history.jsonl records (None before the first one)."""
    if not history:
        return None
    last = history[-1]
    return Progress(
        last.epoch, last.epochs, last.batches_done, last.steps, last.elapsed, trainings_before, trainings_after, later_seconds
    )


@dataclasses.dataclass(frozen=True)
class LiveTraining:
    stage: str  # "Teacher 1 of 1" while a teacher trains, "" for the run's own epochs
    history: list[runs.HistoryRecord]  # the records of the training under way
    trainings_before: int  # whole trainings before it: the teachers that finished
    trainings_after: int  # whole trainings after it: later teachers and the student
    later_seconds: float | None = None  # what follows its last epoch, where this machine's figures are kept

    def progress(self) -> Progress | None:
        return progress(self.history, self.trainings_before, self.trainings_after, self.later_seconds)


def live_training(run_dir: Path) -> LiveTraining:
    """The training under way and its history: a run with teachers (core.training.distillation) trains them before its own epochs.

    Teachers train with the run's epochs and split. What follows the training
    under way (its int8 copy and scoring, later teachers, the student, which
    its teachers answer for batch by batch and so trains slower) is counted
    from this machine's kept figures (core.training.estimate) where they are
    known; otherwise at the pace of the training under way, a little low.
    """
    run_dir = Path(run_dir)
    own = runs.read_history(run_dir)
    teachers = {int(path.name.rsplit("-", 1)[1]): path for path in (run_dir / runs.TEACHERS_DIR).glob("teacher-*")}
    config = runs.read_config(run_dir)
    count = config.train.preset.teachers if teachers else 0
    if own or not teachers:
        return LiveTraining("", own, count, 0, _seconds_after(config, config.train.preset.teachers))
    number = max(teachers)
    return LiveTraining(f"Teacher {number} of {count}", runs.read_history(teachers[number]), number - 1,
                        count - number + 1, _seconds_after(config, number - 1))  # fmt: skip


def _seconds_after(config: runs.RunConfig, training: int) -> float | None:
    if not config.split_sizes:  # Known once the data is split.
        return None
    try:
        return seconds_after(config.train, config.split_sizes, training)
    except (ValueError, OSError):  # No figures worth showing: the pace alone, as before.
        return None


def format_seconds(seconds: float | None) -> str:
    """'1 h 02 min', '3 min 05 s', '12 s' or '–'."""
    if seconds is None:
        return "–"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"
