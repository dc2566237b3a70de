"""Run directories: the plain files a training run leaves, their schema, and reading them back.

    runs/<run_id>/
        config.json      RunConfig: the TrainConfig and where the run's data came from
        split.npz        train / val / test row positions
        history.jsonl    HistoryRecord per epoch and per N batches, appended live
        status.json      Status: running / completed / stopped / failed, times, error, resumes
        model.keras      the best model so far by validation, written atomically
        model.int8.xml   the final model quantized to int8 for fast batch inference
        model.int8.bin   (with its weights beside it), written when training ends
        metrics.json     RunMetrics: final test metrics, breakdowns, interval coverage
        predictions.csv  one row per test face
        calibration.json age intervals and the P(female) temperature (core.calibration)
        MODEL_CARD.md    the model card (core.model_card)
        checkpoint/      the last whole epoch's state, for --resume
        tensorboard/     TensorBoard's logs
        export/          ONNX, LiteRT, SavedModel exports (core.export)

`FILES` is the registry of everything a run directory may hold; each file's
shape is one dataclass here with `to_json` / `from_json`, so a new field is
one edit. Old run directories still load: fields they lack take defaults.

This module imports no TensorFlow at import time, so the dashboard can list runs cheaply.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import secrets
import shutil
from pathlib import Path

import pandas as pd

from core.config import TrainConfig, default_csv_path, runs_dir, starter_dir
from core.data import FaceData, LoadReport, load_faces
from core.evaluation import Summary, label_predictions
from core.files import write_atomic


@dataclasses.dataclass(frozen=True)
class RunFile:
    name: str
    holds: str
    # Written by a training: deleted before another training starts in the same directory.
    from_training: bool = True


FILES = (
    CONFIG := RunFile("config.json", "everything needed to repeat the run", from_training=False),
    STATUS := RunFile("status.json", "running / completed / stopped / failed, times, error", from_training=False),
    # The dashboard's launcher writes the trainer's output here before the trainer starts.
    LOG := RunFile("train.log", "what the training process printed", from_training=False),
    SPLIT := RunFile("split.npz", "train / val / test row positions"),
    HISTORY := RunFile("history.jsonl", "one record per epoch and per N batches, appended live"),
    MODEL := RunFile("model.keras", "the best model so far by validation, float32"),
    INT8_MODEL := RunFile("model.int8.xml", "the best model quantized to int8, for batch inference"),
    INT8_WEIGHTS := RunFile("model.int8.bin", "the int8 model's weights"),
    METRICS := RunFile("metrics.json", "final test metrics and breakdowns"),
    PREDICTIONS := RunFile("predictions.csv", "one row per test face"),
    CALIBRATION := RunFile("calibration.json", "age intervals and the P(female) temperature, fitted on the validation split"),
    MODEL_CARD := RunFile("MODEL_CARD.md", "what the model predicts, how well, and its limitations"),
    STOP := RunFile("STOP", "present while a stop of the training is requested"),
    # Keras' BackupAndRestore backup (weights, optimizer state, epoch) and the best-model keeper's
    # state, after every whole epoch: what --resume continues from. Deleted when a run completes.
    CHECKPOINT := RunFile("checkpoint", "the state after the last whole epoch, for --resume (a folder)"),
    TENSORBOARD := RunFile("tensorboard", "TensorBoard's logs: scalars per epoch and per N batches, the graph (a folder)"),
    EXPORT := RunFile("export", "the model as ONNX, LiteRT or a SavedModel (core.export; a folder)"),
    # A preset with teachers (core.distillation) trains them first, each a whole run of its own here.
    TEACHERS := RunFile("teachers", "the teachers' runs, teacher-1, teacher-2, ... (presets with teachers; a folder)"),
)
CONFIG_FILE, STATUS_FILE, LOG_FILE = CONFIG.name, STATUS.name, LOG.name
SPLIT_FILE, HISTORY_FILE, MODEL_FILE = SPLIT.name, HISTORY.name, MODEL.name
INT8_MODEL_FILE, INT8_WEIGHTS_FILE, METRICS_FILE = INT8_MODEL.name, INT8_WEIGHTS.name, METRICS.name
PREDICTIONS_FILE, STOP_FILE = PREDICTIONS.name, STOP.name
CALIBRATION_FILE, MODEL_CARD_FILE, CHECKPOINT_DIR = CALIBRATION.name, MODEL_CARD.name, CHECKPOINT.name
TENSORBOARD_DIR, EXPORT_DIR, TEACHERS_DIR = TENSORBOARD.name, EXPORT.name, TEACHERS.name

RUNNING, COMPLETED, STOPPED, FAILED = "running", "completed", "stopped", "failed"
# A run whose status says running but whose process is gone (killed, machine
# restarted) is shown as interrupted; it is never written to disk as such.
INTERRUPTED = "interrupted"
# Finished with a best model kept: what the result pages can use.
FINISHED = (COMPLETED, STOPPED)
# Ended before its last epoch (on request, by a kill, or by an error): what --resume can continue.
RESUMABLE = (STOPPED, INTERRUPTED, FAILED)
# What runs from before a setting existed did: the seed recipe, and a split
# that did not keep copies of a face together.
LEGACY_SETTINGS = {"preset": "seed", "split": "stratified"}


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON through a temp file and a rename, so readers never see half a file."""
    write_atomic(path, json.dumps(payload, indent=2).encode())


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _known_fields(cls, values: dict) -> dict:
    """The entries of `values` that are fields of dataclass `cls` (newer files may hold more)."""
    names = {field.name for field in dataclasses.fields(cls)}
    return {key: value for key, value in values.items() if key in names}


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """config.json: the settings a run trained with, and where its data came from.

    Saved flat (the TrainConfig's fields beside the provenance), as users and
    scripts read it. Provenance is filled in once the data has loaded; until
    then the fields are None.
    """

    train: TrainConfig
    created_at: str | None = None
    # The CSV's content hash: a run's row ids only name faces in a file with this hash.
    data_hash: str | None = None
    rows_in_file: int | None = None
    rows_used: int | None = None
    split_sizes: dict[str, int] | None = None
    # Rows left out because their copies' labels disagree (TrainConfig.drop_conflicting).
    conflicting_rows_left_out: int = 0
    # "float32", or "mixed_bfloat16" where the preset trained in bfloat16.
    dtype_policy: str = "float32"
    versions: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def heads(self) -> tuple[str, ...]:
        return self.train.heads

    def to_json(self) -> dict:
        provenance = {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != "train"}
        return {**self.train.to_json(), **provenance, "heads": list(self.heads)}

    @classmethod
    def from_json(cls, values: dict) -> RunConfig:
        """Raises ValueError when the settings are not a valid TrainConfig (an unknown preset, say)."""
        train = TrainConfig.from_json({**LEGACY_SETTINGS, **values})
        return cls(train=train, **_known_fields(cls, {key: value for key, value in values.items() if key != "train"}))


@dataclasses.dataclass(frozen=True)
class Status:
    """status.json: the state of a run and its process."""

    state: str = FAILED
    pid: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    updated_at: str | None = None
    error: str | None = None
    # How often the run was continued with --resume, and the epoch the last one started from.
    resumes: int = 0
    resumed_from_epoch: int | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values: dict) -> Status:
        return cls(**_known_fields(cls, values))


@dataclasses.dataclass(frozen=True)
class HistoryRecord:
    """One line of history.jsonl: the metrics after an epoch, or the running ones after N batches.

    Saved flat: the metric keys (`loss`, `val_gender_accuracy`, ...) beside the fields.
    """

    kind: str  # "epoch" or "batch"
    epoch: int  # 1-based
    epochs: int  # planned; early stopping may end sooner
    steps: int  # batches per epoch
    elapsed: float  # seconds since fitting began
    batch: int | None = None  # batch records: batches done in this epoch
    # An epoch cut short by a stop request: its training metrics cover a few batches only.
    partial: bool = False
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def batches_done(self) -> int:
        """Batches done in this record's epoch."""
        return self.steps if self.kind == "epoch" else (self.batch or 0)

    @property
    def is_complete_epoch(self) -> bool:
        return self.kind == "epoch" and not self.partial

    def to_json(self) -> dict:
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != "metrics"}
        if self.batch is None:
            del values["batch"]
        if not self.partial:
            del values["partial"]
        return {**values, **self.metrics}

    @classmethod
    def from_json(cls, values: dict) -> HistoryRecord:
        fields = _known_fields(cls, values)
        metrics = {key: float(value) for key, value in values.items() if key not in fields and key != "metrics"}
        return cls(**fields, metrics=metrics)


@dataclasses.dataclass(frozen=True)
class RunMetrics:
    """metrics.json: how the best model scored on the test split, and which epoch it was."""

    task: str
    preset: str
    best_epoch: int | None
    # The validation metric that chose the best epoch, and its value then.
    monitor: str | None
    monitor_value: float | None
    test: Summary
    # Of a calibrated run (core.calibration.calibration_report): interval coverage per level and age
    # bucket, and P(female)'s expected calibration error before and after, on the test split.
    coverage: list[dict] | None = None
    gender_ece: dict | None = None

    def to_json(self) -> dict:
        values = {
            "task": self.task,
            "preset": self.preset,
            "best_epoch": self.best_epoch,
            "monitor": {"name": self.monitor, "value": self.monitor_value},
            "test": self.test.to_json(),
        }
        extras = {"coverage": self.coverage, "gender_ece": self.gender_ece}
        return {**values, **{key: value for key, value in extras.items() if value is not None}}

    @classmethod
    def from_json(cls, values: dict) -> RunMetrics:
        monitor = values.get("monitor") or {}
        return cls(
            task=values["task"],
            preset=values.get("preset", LEGACY_SETTINGS["preset"]),
            best_epoch=values.get("best_epoch"),
            monitor=monitor.get("name"),
            monitor_value=monitor.get("value"),
            test=Summary.from_json(values["test"]),
            coverage=values.get("coverage"),
            gender_ece=values.get("gender_ece"),
        )


def new_run_dir(task: str, preset: str, parent: Path | None = None) -> Path:
    """Create an empty, uniquely named run directory."""
    parent = Path(parent) if parent is not None else runs_dir()
    parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = parent / f"{stamp}-{task}-{preset}-{secrets.token_hex(2)}"
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


def read_config(run_dir: Path) -> RunConfig:
    """A run's config.json; a ValueError when there is none or it is not a valid run config."""
    values = read_json(Path(run_dir) / CONFIG_FILE)
    if values is None:
        raise ValueError(f"{run_dir} is not a run directory (no readable {CONFIG_FILE})")
    try:
        return RunConfig.from_json(values)
    except (TypeError, KeyError, ValueError) as error:
        raise ValueError(f"{run_dir}/{CONFIG_FILE} is not a valid run config: {error}") from error


def read_status(run_dir: Path) -> Status:
    """A run's status.json (a failed one without a message when it is missing or unreadable)."""
    return Status.from_json(read_json(Path(run_dir) / STATUS_FILE) or {})


def write_status(run_dir: Path, state: str, **changes) -> Status:
    """Set status.json's state and the given fields, keeping the others."""
    status = dataclasses.replace(read_status(run_dir), **changes, state=state, updated_at=now_iso())
    write_json_atomic(Path(run_dir) / STATUS_FILE, status.to_json())
    return status


def read_metrics(run_dir: Path) -> RunMetrics | None:
    """A run's metrics.json, or None while there is none (or it is not one)."""
    values = read_json(Path(run_dir) / METRICS_FILE)
    try:
        return None if values is None else RunMetrics.from_json(values)
    except (KeyError, TypeError):
        return None


def write_metrics(run_dir: Path, metrics: RunMetrics) -> None:
    write_json_atomic(Path(run_dir) / METRICS_FILE, metrics.to_json())


def append_history(run_dir: Path, record: HistoryRecord) -> None:
    with open(Path(run_dir) / HISTORY_FILE, "a") as out:
        out.write(json.dumps(record.to_json()) + "\n")
        out.flush()


def read_history(run_dir: Path) -> list[HistoryRecord]:
    """Every complete record of history.jsonl (a half-written last line is skipped)."""
    try:
        text = (Path(run_dir) / HISTORY_FILE).read_text()
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        try:
            records.append(HistoryRecord.from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue  # The writer is mid-line; the next read will have it.
    return records


def epochs_done(history: list[HistoryRecord]) -> int:
    return max((record.epoch for record in history if record.kind == "epoch"), default=0)


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
        if self.status.state == RUNNING and not pid_alive(self.status.pid):
            return INTERRUPTED
        return self.status.state

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

        # Safe mode refuses a model file that would run arbitrary code (a Lambda layer's pickled function).
        return keras.saving.load_model(self.run_dir / MODEL_FILE, compile=False, safe_mode=True)


def read_predictions(run_dir: Path) -> pd.DataFrame:
    """A run's test predictions with readable labels (core.evaluation.label_predictions).

    Raises:
        FileNotFoundError: the run has no predictions.csv.
        ValueError: the file is not a predictions table (pandas' parser errors are ValueErrors too).
    """
    return label_predictions(pd.read_csv(Path(run_dir) / PREDICTIONS_FILE))


def load_run_faces(run: RunInfo, first: Path | None = None, load=load_faces) -> tuple[FaceData, LoadReport]:
    """The faces a run's row ids point at: from `first` (the CSV in use, say), the run's own CSV or the default CSV,
    whichever comes first with the run's content hash.

    `load` reads a CSV (core.data.load_faces; the dashboard passes its cached loader).

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
    run_dir = Path(run_dir)
    return RunInfo(run_dir=run_dir, config=read_config(run_dir), status=read_status(run_dir), metrics=read_metrics(run_dir))


def list_runs(parent: Path | None = None) -> list[RunInfo]:
    """All runs, newest first; folders without a readable config.json are not runs and are left out."""
    parent = Path(parent) if parent is not None else runs_dir()
    if not parent.is_dir():
        return []
    found = []
    for child in sorted(parent.iterdir(), reverse=True):
        if child.is_dir():
            try:
                found.append(load_run(child))
            except ValueError:
                continue  # No readable config.json: not a run (or not one yet).
    return found


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
    run = load_run(run_dir)  # Refuses folders that are not runs.
    if run.is_starter:
        raise ValueError(f"{run.run_id} is the starter model that ships with the studio; it cannot be deleted")
    if run.state == RUNNING:
        raise ValueError(f"Run {run.run_id} is still training; stop it before deleting it")
    shutil.rmtree(run.run_dir)

