"""Reading and writing run directories: create, list, load (with the faces a run points at), delete.

    run = load_run("runs/<run_id>")      # RunInfo: config, status, metrics
    run.state, run.is_usable, run.load_model()
    list_runs(), available_runs()        # newest first; the latter ends with the starter run
    damaged_runs()                       # RunFileError of each run with a damaged file, newest first

A run with a damaged file (core.runs.reading.check_run) is left out of
`list_runs` and listed by `damaged_runs` instead, so no page or command works
on it without saying what is wrong. This module imports no TensorFlow at
import time, so the dashboard can list runs cheaply.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import secrets
import shutil
from pathlib import Path

import pandas as pd

from core.config import TrainConfig
from core.data.loading import FaceData, LoadReport, load_faces
from core.errors import RunFileError
from core.evaluation.calibration import Calibration
from core.files import write_atomic
from core.paths import default_csv_path, runs_dir, starter_dir
from core.runs.layout import (
    CALIBRATION_FILE,
    CHECKPOINT_DIR,
    CONFIG_FILE,
    FILES,
    FINISHED,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    NOT_RUNS,
    PREDICTIONS_FILE,
    RESUMABLE,
    RUNNING,
    TEACHERS_DIR,
)
from core.runs.lifecycle import current_state, read_status
from core.runs.reading import check_run, read_config, read_metrics
from core.runs.records import HistoryRecord, RunConfig, RunMetrics, Status, write_json_atomic


def new_run_dir(config: TrainConfig, parent: Path | None = None) -> Path:
    """Create an empty, uniquely named run directory for a training of `config` (under runs/ by default)."""
    parent = Path(parent) if parent is not None else runs_dir()
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = parent / f"{stamp}-{config.task}-{config.preset.name}-{secrets.token_hex(2)}"
    run_dir.mkdir()
    return run_dir


def clear_results(run_dir: Path) -> None:
    """Delete every file an earlier training left in `run_dir`, so that a new run there starts clean.

    Without this a reused directory (`--run-dir`, the benchmarks' fixed paths)
    would append to the old history, show the old metrics until the new run
    ends, or stop at once on an old stop request.
    """
    for entry in FILES:
        if entry.from_training:
            remove(Path(run_dir) / entry.name)


def remove(path: Path) -> None:
    """Delete a run's file or folder, if it is there."""
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def write_config(run_dir: Path, config: RunConfig) -> None:
    write_json_atomic(Path(run_dir) / CONFIG_FILE, config.to_json())


def write_metrics(run_dir: Path, metrics: RunMetrics) -> None:
    write_json_atomic(Path(run_dir) / METRICS_FILE, metrics.to_json())


def append_history(run_dir: Path, record: HistoryRecord) -> None:
    with open(Path(run_dir) / HISTORY_FILE, "a") as out:
        out.write(json.dumps(record.to_json()) + "\n")
        out.flush()


def write_calibration(run_dir: Path, calibration: Calibration) -> None:
    write_json_atomic(Path(run_dir) / CALIBRATION_FILE, calibration.to_json())


def write_predictions(run_dir: Path, frame: pd.DataFrame) -> None:
    """predictions.csv, written atomically: a page reading it while a run ends never sees half a table."""
    write_atomic(Path(run_dir) / PREDICTIONS_FILE, frame.to_csv(index=False).encode())


def epochs_done(history: list[HistoryRecord]) -> int:
    return max((record.epoch for record in history if record.kind == "epoch"), default=0)


@dataclasses.dataclass(frozen=True)
class RunInfo:
    run_dir: Path
    config: RunConfig
    status: Status
    metrics: RunMetrics | None

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def task(self) -> str:
        return self.config.train.task

    @property
    def is_starter(self) -> bool:
        """The run that ships with the studio (models/starter), not one the user trained."""
        return self.run_dir.resolve() == starter_dir().resolve()

    @property
    def state(self) -> str:
        return current_state(self.status)

    @property
    def has_model(self) -> bool:
        return (self.run_dir / MODEL_FILE).is_file()

    @property
    def can_resume(self) -> bool:
        """Ended early (stopped, or killed) after a whole epoch of its own, or once its teachers had started, so it can be continued."""
        progress = (self.run_dir / CHECKPOINT_DIR).is_dir() or (self.run_dir / TEACHERS_DIR).is_dir()
        return self.state in RESUMABLE and progress and not self.is_starter

    @property
    def is_usable(self) -> bool:
        """Finished with a saved model: what Predict and Explain can use."""
        return self.state in FINISHED and self.has_model

    def load_model(self):
        """The run's saved best model (Keras is imported only here), or a ValueError saying why there is none."""
        if not self.has_model:
            raise ValueError(
                f"run {self.run_id} has no {MODEL_FILE} yet (state: {self.state}); one is saved after its first whole epoch"
            )
        import keras

        try:
            # Safe mode refuses a model file that would run arbitrary code (a Lambda layer's pickled function).
            return keras.saving.load_model(self.run_dir / MODEL_FILE, compile=False, safe_mode=True)
        except Exception as error:  # Keras, h5py and zipfile raise many kinds on a damaged archive.
            first_line = (str(error).strip().splitlines() or [""])[0][:200]
            raise RunFileError(
                self.run_dir / MODEL_FILE, f"Keras could not load it ({type(error).__name__}: {first_line})"
            ) from None


def load_run_faces(run: RunInfo, first: Path | None = None, load=load_faces) -> tuple[FaceData, LoadReport]:
    """The faces a run's row ids point at: from `first` (the CSV in use, say), the run's own CSV or the default CSV,
    whichever comes first with the run's content hash.

    `load` reads a CSV (core.data.loading.load_faces; the dashboard passes its cached loader).

    Raises:
        ValueError: no such file is there with that hash (the message names the file the run needs).
    """
    candidates = [path for path in (first, Path(run.config.train.csv_path), default_csv_path()) if path is not None]
    for path in dict.fromkeys(candidates):
        try:
            faces, report = load(path)
        except (FileNotFoundError, ValueError):
            continue  # Missing or unusable: the message below names the file the run needs.
        if report.file_hash == run.config.data_hash:
            return faces, report
    raise ValueError(
        f"run {run.run_id} was trained on {run.config.train.csv_path} (content hash {run.config.data_hash}); neither that "
        f"file nor the default CSV ({default_csv_path()}){'' if first is None else f' nor {first}'} is that data any more, "
        "so its row ids name no faces here"
    )


def load_run(run_dir: Path) -> RunInfo:
    """A run directory, every file of it checked against its schema.

    Raises:
        ValueError: the folder is not a run directory (it has no config.json).
        RunFileError: a file of the run is damaged (the message names it and the fault).
    """
    run_dir = Path(run_dir)
    status = read_status(run_dir)
    damage = check_run(run_dir, running=current_state(status) == RUNNING)
    if damage is not None:
        raise damage
    return RunInfo(run_dir=run_dir, config=read_config(run_dir), status=status, metrics=read_metrics(run_dir))


def scan_runs(parent: Path | None = None) -> tuple[list[RunInfo], list[RunFileError]]:
    """The runs of a runs folder, newest first, and the fault of each run with a damaged file.

    Folders without a config.json are not runs (or not yet), nor are the studies' and presets' folders
    (layout.NOT_RUNS); they are in neither list.
    """
    parent = Path(parent) if parent is not None else runs_dir()
    if not parent.is_dir():
        return [], []
    found, damaged = [], []
    for child in sorted(parent.iterdir(), reverse=True):
        if child.name not in NOT_RUNS and (child / CONFIG_FILE).is_file():
            try:
                found.append(load_run(child))
            except RunFileError as error:
                damaged.append(error)
    return found, damaged


def list_runs(parent: Path | None = None) -> list[RunInfo]:
    """All runs whose files are whole, newest first (`damaged_runs` lists the others)."""
    return scan_runs(parent)[0]


def damaged_runs() -> list[RunFileError]:
    """What is wrong with each run with a damaged file, the user's (newest first) and then the starter run."""
    damaged = scan_runs()[1]
    try:
        load_run(starter_dir())
    except RunFileError as error:
        damaged.append(error)
    except ValueError:
        pass  # No starter here.
    return damaged


def available_runs() -> list[RunInfo]:
    """The user's runs, newest first, then the starter run (when it is there): what the result pages offer."""
    found = list_runs()
    try:
        starter = load_run(starter_dir())
    except ValueError:
        return found  # No starter here (or not a readable one): the user's runs only.
    return [run for run in found if run.run_dir.resolve() != starter.run_dir.resolve()] + [starter]


def active_run(parent: Path | None = None) -> RunInfo | None:
    """The run whose training process is alive right now, if any."""
    return next((run for run in list_runs(parent) if run.state == RUNNING), None)


def delete_run(run_dir: Path) -> None:
    """Delete a run that is not training (a damaged one too), never the starter run."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise ValueError(f"{run_dir} is not a run directory (no {CONFIG_FILE})")
    if run_dir.resolve() == starter_dir().resolve():
        raise ValueError(f"{run_dir.name} is the starter model that ships with the studio; it cannot be deleted")
    try:
        training = current_state(read_status(run_dir)) == RUNNING
    except RunFileError:
        training = False  # Its status is damaged: no trainer would leave it so.
    if training:
        raise ValueError(f"Run {run_dir.name} is still training; stop it before deleting it")
    shutil.rmtree(run_dir)
