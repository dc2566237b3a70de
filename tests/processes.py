"""Waiting for conditions and stopping training processes that tests started."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from core import runs


def wait_for(condition, timeout: float, what: str, interval: float = 0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_process_of(run_dir: Path) -> None:
    """Make sure no training process outlives the test."""
    status = runs.read_json(run_dir / runs.STATUS_FILE) or {}
    pid = status.get("pid")
    if runs.pid_alive(pid):
        os.killpg(pid, signal.SIGTERM)  # The CLI turns SIGTERM into a stop request.
        try:
            wait_for(lambda: not runs.pid_alive(pid), 60, "the training process to end", interval=0.5)
        except AssertionError:
            os.killpg(pid, signal.SIGKILL)
