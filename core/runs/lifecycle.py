"""A run's life: the one owner of status.json's state (running, then completed, stopped, pruned or failed).

    lifecycle.mark_started(run_dir)                # a new training, by this process (or `pid`)
    lifecycle.mark_resumed(run_dir, from_epoch=3)  # a stopped or interrupted run continues
    lifecycle.mark_completed(run_dir) / mark_stopped(run_dir) / mark_failed(run_dir, "ValueError: ...")
    lifecycle.mark_pruned(run_dir, epoch=2)        # a tuning trial its study's pruner ended
    lifecycle.request_stop(run_dir)                # ask a running training to stop after its batch

A run is never written as interrupted: `current_state` derives it from a
status that says running while its process is gone (killed, machine
restarted).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from core.runs.layout import COMPLETED, FAILED, INTERRUPTED, PRUNED, RUNNING, STATUS_FILE, STOP_FILE, STOPPED
from core.runs.records import Status, now_iso, read_json, write_json_atomic


def read_status(run_dir: Path) -> Status:
    """A run's status.json (a failed one without a message when it is missing or unreadable)."""
    return Status.from_json(read_json(Path(run_dir) / STATUS_FILE) or {})


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


def current_state(status: Status) -> str:
    """The state to show: the saved one, except that a running run whose process is gone is interrupted."""
    if status.state == RUNNING and not pid_alive(status.pid):
        return INTERRUPTED
    return status.state


def mark_started(run_dir: Path, pid: int | None = None) -> Status:
    """A new training of the run begins, in process `pid` (this one by default)."""
    return _write_status(run_dir, RUNNING, pid=pid or os.getpid(), started_at=now_iso(), ended_at=None, error=None)


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
    return _write_status(run_dir, RUNNING, pid=pid or os.getpid(), ended_at=None, error=None, **counted)


def mark_completed(run_dir: Path) -> Status:
    """The run trained to its end (or early stopping's) and was scored."""
    return _write_status(run_dir, COMPLETED, ended_at=now_iso())


def mark_stopped(run_dir: Path, reason: str | None = None, pid: int | None = None) -> Status:
    """The run ended before its end, on request, keeping its best model.

    `reason` when it was refused a resume, say; `pid` when the process marking it is not the one that trained it.
    """
    changes = ({} if reason is None else {"error": reason}) | ({} if pid is None else {"pid": pid})
    return _write_status(run_dir, STOPPED, ended_at=now_iso(), **changes)


def mark_pruned(run_dir: Path, epoch: int) -> Status:
    """A tuning trial's pruner ended the run after `epoch`: its validation loss was not promising (core.tuning)."""
    return _write_status(run_dir, PRUNED, ended_at=now_iso(), pruned_at_epoch=epoch)


def mark_failed(run_dir: Path, error: str) -> Status:
    """The run ended with an error; `error` says what happened."""
    return _write_status(run_dir, FAILED, ended_at=now_iso(), error=error)
