"""Whether a run is still training: its pid, and when that process started, must both match a live process."""

from __future__ import annotations

import datetime
import json
import os

from core import runs
from core.runs.lifecycle import process_start


def write_status(run_dir, **values) -> None:
    run_dir.mkdir(exist_ok=True)
    (run_dir / runs.STATUS_FILE).write_text(json.dumps({"state": "running", **values}))


def test_a_running_status_names_its_process_start_and_is_running_while_that_process_lives(tmp_path):
    status = runs.lifecycle.mark_started(tmp_path)
    assert status.pid == os.getpid() and status.pid_started == process_start(os.getpid()) is not None
    assert runs.lifecycle.current_state(runs.read_status(tmp_path)) == runs.RUNNING


def test_a_live_unrelated_process_with_the_recorded_pid_is_not_the_trainer(tmp_path):
    # pid 1 is alive here, but it started at another moment than the process the status names.
    write_status(tmp_path, pid=1, pid_started=process_start(1) + 12_345)
    assert runs.pid_alive(1)
    assert runs.lifecycle.current_state(runs.read_status(tmp_path)) == runs.INTERRUPTED


def test_a_status_from_before_start_times_were_recorded_still_reads(tmp_path):
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    write_status(tmp_path, pid=os.getpid(), started_at=now, updated_at=now)
    status = runs.read_status(tmp_path)
    assert status.pid_started is None
    assert runs.lifecycle.current_state(status) == runs.RUNNING, "its process started before it wrote the status"
    # Written before this machine booted: its pid now names a process that started after it (pid 1 here, reused).
    write_status(tmp_path, pid=1, started_at="2001-01-01T00:00:00+00:00", updated_at="2001-01-01T00:00:00+00:00")
    assert runs.lifecycle.current_state(runs.read_status(tmp_path)) == runs.INTERRUPTED
