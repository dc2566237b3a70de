"""A run's life: the one owner of status.json's state (running, then completed, stopped, pruned or failed).

    lifecycle.mark_started(run_dir)                # a new training, by this process (or `pid`)
    lifecycle.mark_resumed(run_dir, from_epoch=3)  # a stopped or interrupted run continues
    lifecycle.mark_completed(run_dir) / mark_stopped(run_dir) / mark_failed(run_dir, "ValueError: ...")
    lifecycle.mark_pruned(run_dir, epoch=2)        # a tuning trial its study's pruner ended
    lifecycle.request_stop(run_dir)                # ask a running training to stop after its batch

A run is never written as interrupted: `current_state` derives it from a
status that says running while its process is gone (killed, machine
restarted). A pid alone does not say the process is gone: after a reboot,
or on another machine sharing the runs folder, the same pid is some other
process (pid 1, say). So status.json records when its process started
beside the pid, and a live process that started at another time is not
the trainer.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from pathlib import Path

from core.runs.layout import COMPLETED, FAILED, INTERRUPTED, PRUNED, RUNNING, STATUS_FILE, STOP_FILE, STOPPED
from core.runs.records import Status, now_iso, read_record, write_json_atomic

# Status files carry whole seconds and the boot time is in whole seconds: the slack when comparing them.
_CLOCK_SLACK_SECONDS = 2


def read_status(run_dir: Path) -> Status:
    """A run's status.json (a failed one without a message when there is none).

    Raises:
        RunFileError: status.json is damaged (not JSON, or a field of the wrong kind).
    """
    return read_record(Path(run_dir) / STATUS_FILE, Status) or Status()


def _write_status(run_dir: Path, state: str, **changes) -> Status:
    """Set status.json's state and the given fields, keeping the others."""
    status = dataclasses.replace(read_status(run_dir), **changes, state=state, updated_at=now_iso())
    write_json_atomic(Path(run_dir) / STATUS_FILE, status.to_json())
    return status


def request_stop(run_dir: Path) -> None:
    """Ask a running training to stop after the current batch, keeping its best model."""
    (Path(run_dir) / STOP_FILE).touch()


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / STOP_FILE).exists()


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int | None) -> int | None:
    """When process `pid` started, in clock ticks after boot (/proc/PID/stat); None when there is no such process (or no /proc)."""
    if not pid:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
        # The command name, in parentheses, may hold spaces: the fields are counted after its closing one.
        return int(stat.rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _started_after(ticks: int, moment: str) -> bool:
    """Whether a process that started `ticks` after boot started after the ISO time `moment`."""
    try:
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        written = datetime.datetime.fromisoformat(moment).timestamp()
    except (OSError, StopIteration, ValueError):
        return False
    return boot + ticks / os.sysconf("SC_CLK_TCK") > written + _CLOCK_SLACK_SECONDS


def trainer_alive(status: Status) -> bool:
    """Whether the process that status.json names is alive and is the one that wrote it.

    With the process's start time recorded, the live process must have that
    start time. Status files from before it was recorded are checked as far
    as they can be: their process must not have started after the status was last written.
    """
    if not pid_alive(status.pid):
        return False
    started = process_start(status.pid)
    if started is None:
        return True  # No /proc to tell by: the pid is all there is.
    if status.pid_started is not None:
        return started == status.pid_started
    return not (status.updated_at and _started_after(started, status.updated_at))


def current_state(status: Status) -> str:
    """The state to show: the saved one, except that a running run whose process is gone is interrupted."""
    if status.state == RUNNING and not trainer_alive(status):
        return INTERRUPTED
    return status.state


def mark_started(run_dir: Path, pid: int | None = None) -> Status:
    """A new training of the run begins, in process `pid` (this one by default)."""
    pid = pid or os.getpid()
    return _write_status(
        run_dir, RUNNING, pid=pid, pid_started=process_start(pid), started_at=now_iso(), ended_at=None, error=None
    )


def mark_resumed(run_dir: Path, from_epoch: int | None = None, pid: int | None = None) -> Status:
    """A stopped or interrupted run trains again, in process `pid` (this one by default).

    `from_epoch`: the trainer continues after this whole epoch, the stop
    request that ended the run is honoured (removed), and the run's count of
    resumes goes up; None when a launcher only hands the run to the process
    that will resume it (the trainer then says from which epoch).
    """
    counted = {}
    if from_epoch is not None:
        (Path(run_dir) / STOP_FILE).unlink(missing_ok=True)
        counted = {"resumes": read_status(run_dir).resumes + 1, "resumed_from_epoch": from_epoch}
    pid = pid or os.getpid()
    return _write_status(run_dir, RUNNING, pid=pid, pid_started=process_start(pid), ended_at=None, error=None, **counted)


def mark_completed(run_dir: Path) -> Status:
    """The run trained to its end (or early stopping's) and was scored."""
    return _write_status(run_dir, COMPLETED, ended_at=now_iso())


def mark_stopped(run_dir: Path, reason: str | None = None, pid: int | None = None) -> Status:
    """The run ended before its end, on request, keeping its best model.

    `reason` when it was refused a resume, say; `pid` when the process marking it is not the one that trained it.
    """
    changes = ({} if reason is None else {"error": reason}) | (
        {} if pid is None else {"pid": pid, "pid_started": process_start(pid)}
    )
    return _write_status(run_dir, STOPPED, ended_at=now_iso(), **changes)


def mark_pruned(run_dir: Path, epoch: int) -> Status:
    """A tuning trial's pruner ended the run after `epoch`: its validation loss was not promising (core.tuning)."""
    return _write_status(run_dir, PRUNED, ended_at=now_iso(), pruned_at_epoch=epoch)


def mark_failed(run_dir: Path, error: str) -> Status:
    """The run ended with an error; `error` says what happened."""
    return _write_status(run_dir, FAILED, ended_at=now_iso(), error=error)
