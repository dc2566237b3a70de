"""Run directories: the plain files a training run leaves, and reading them back.

    runs/<run_id>/
        config.json      everything needed to repeat the run
        split.npz        train / val / test row positions
        history.jsonl    one JSON object per epoch and per N batches, appended live
        status.json      running / completed / stopped / failed, times, error
        model.keras      the best model so far by validation, written atomically
        model.int8.xml   the final model quantized to int8 for fast batch inference
        model.int8.bin   (with its weights beside it), written when training ends
        metrics.json     final test metrics and breakdowns
        predictions.csv  one row per test face

This module imports no TensorFlow at import time, so the dashboard can list runs cheaply.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from core.config import runs_dir

CONFIG_FILE = "config.json"
SPLIT_FILE = "split.npz"
HISTORY_FILE = "history.jsonl"
STATUS_FILE = "status.json"
MODEL_FILE = "model.keras"
INT8_MODEL_FILE = "model.int8.xml"
INT8_WEIGHTS_FILE = "model.int8.bin"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
STOP_FILE = "STOP"

RUNNING, COMPLETED, STOPPED, FAILED = "running", "completed", "stopped", "failed"
# A run whose status says running but whose process is gone (killed, machine
# restarted) is shown as interrupted; it is never written to disk as such.
INTERRUPTED = "interrupted"


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON through a temp file and a rename, so readers never see half a file."""
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump(payload, out, indent=2)
    os.replace(temp_name, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def new_run_dir(task: str, preset: str, parent: Path | None = None) -> Path:
    """Create an empty, uniquely named run directory."""
    parent = Path(parent) if parent is not None else runs_dir()
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = parent / f"{stamp}-{task}-{preset}-{secrets.token_hex(2)}"
    run_dir.mkdir()
    return run_dir


def clear_results(run_dir: Path) -> None:
    """Delete what an earlier run left in `run_dir`, so that a new run there starts clean.

    Without this a reused directory (`--run-dir`, the benchmarks' fixed paths)
    would append to the old history and show the old metrics until the new run ends.
    """
    for name in (HISTORY_FILE, SPLIT_FILE, MODEL_FILE, INT8_MODEL_FILE, INT8_WEIGHTS_FILE, METRICS_FILE, PREDICTIONS_FILE):
        (run_dir / name).unlink(missing_ok=True)


def write_status(run_dir: Path, state: str, **fields) -> dict:
    """Merge `fields` into status.json and set its state."""
    status = read_json(run_dir / STATUS_FILE) or {}
    status.update(fields, state=state, updated_at=now_iso())
    write_json_atomic(run_dir / STATUS_FILE, status)
    return status


def append_history(run_dir: Path, record: dict) -> None:
    with open(run_dir / HISTORY_FILE, "a") as out:
        out.write(json.dumps(record) + "\n")
        out.flush()


def read_history(run_dir: Path) -> list[dict]:
    """Every complete record of history.jsonl (a half-written last line is skipped)."""
    try:
        text = (Path(run_dir) / HISTORY_FILE).read_text()
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # The writer is mid-line; the next read will have it.
    return records


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


@dataclasses.dataclass(frozen=True)
class RunInfo:
    run_dir: Path
    config: dict
    status: dict
    metrics: dict | None

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def state(self) -> str:
        state = self.status.get("state", FAILED)
        if state == RUNNING and not pid_alive(self.status.get("pid")):
            return INTERRUPTED
        return state

    @property
    def has_model(self) -> bool:
        return (self.run_dir / MODEL_FILE).is_file()

    def load_model(self):
        """The run's saved best model (Keras is imported only here), or a ValueError saying why there is none."""
        if not self.has_model:
            raise ValueError(
                f"run {self.run_id} has no {MODEL_FILE} yet (state: {self.state}); one is saved after its first whole epoch"
            )
        import keras

        return keras.saving.load_model(self.run_dir / MODEL_FILE, compile=False)

    def predictions(self) -> pd.DataFrame | None:
        path = self.run_dir / PREDICTIONS_FILE
        return pd.read_csv(path) if path.is_file() else None


def load_run(run_dir: Path) -> RunInfo:
    run_dir = Path(run_dir)
    config = read_json(run_dir / CONFIG_FILE)
    if config is None:
        raise ValueError(f"{run_dir} is not a run directory (no readable {CONFIG_FILE})")
    return RunInfo(
        run_dir=run_dir,
        config=config,
        status=read_json(run_dir / STATUS_FILE) or {},
        metrics=read_json(run_dir / METRICS_FILE),
    )


def list_runs(parent: Path | None = None) -> list[RunInfo]:
    """All runs, newest first; folders without a readable config.json are not runs and are left out."""
    parent = Path(parent) if parent is not None else runs_dir()
    if not parent.is_dir():
        return []
    runs = []
    for child in sorted(parent.iterdir(), reverse=True):
        if child.is_dir():
            try:
                runs.append(load_run(child))
            except ValueError:
                continue  # No readable config.json: not a run (or not one yet).
    return runs


def active_run(parent: Path | None = None) -> RunInfo | None:
    """The run whose training process is alive right now, if any."""
    return next((run for run in list_runs(parent) if run.state == RUNNING), None)


def delete_run(run_dir: Path) -> None:
    run = load_run(run_dir)  # Refuses folders that are not runs.
    if run.state == RUNNING:
        raise ValueError(f"Run {run.run_id} is still training; stop it before deleting it")
    shutil.rmtree(run.run_dir)
