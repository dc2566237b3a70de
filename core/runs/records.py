"""The schema of a run's files: one dataclass per file with `to_json` / `from_json`, so a new field is one edit.

Old run directories still load: fields they lack take defaults. A value of
the wrong kind (a pid that is text, a status that is a list) is refused by
`from_json` with a ValueError naming the field (core.runs.schema), and
`read_record` turns that into a `RunFileError` naming the file.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path

from core.config import TrainConfig
from core.errors import RunFileError
from core.evaluation.metrics import Summary
from core.files import write_atomic
from core.runs.layout import FAILED, LEGACY_SETTINGS
from core.runs.schema import check_fields, check_object, json_kind


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write JSON through a temp file and a rename, so readers never see half a file."""
    write_atomic(path, json.dumps(payload, indent=2).encode())


def read_json(path: Path):
    """The JSON value in a file, or None when there is no file.

    Raises:
        RunFileError: the file is not JSON (a truncated write, say) or cannot be read.
    """
    try:
        return json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise RunFileError(path, f"it is not valid JSON{where}") from None
    except OSError as error:
        raise RunFileError(path, f"it could not be read ({error.strerror or type(error).__name__})") from None


def read_record(path: Path, cls):
    """The record of type `cls` (a dataclass with `from_json`) that a JSON file holds, or None when there is no file.

    Raises:
        RunFileError: the file is not JSON, or not the shape `cls` reads (the message says which field is wrong).
    """
    values = read_json(path)
    if values is None:
        return None
    try:
        return cls.from_json(check_object(values))
    except KeyError as error:
        raise RunFileError(path, f"it lacks the field {error}") from None
    except (TypeError, ValueError, AttributeError) as error:
        raise RunFileError(path, str(error)) from None


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
    # A tuning trial's study and number (core.tuning); None for a run trained on its own.
    study: str | None = None
    trial: int | None = None
    versions: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def heads(self) -> tuple[str, ...]:
        return self.train.heads

    def to_json(self) -> dict:
        provenance = {field.name: getattr(self, field.name) for field in dataclasses.fields(self) if field.name != "train"}
        return {**self.train.to_json(), **provenance, "heads": list(self.heads)}

    @classmethod
    def from_json(cls, values: dict) -> RunConfig:
        """Raises ValueError when the settings are not a valid TrainConfig (an unknown preset, say) or a field is of the wrong kind."""
        check_fields(TrainConfig, values, skip=("preset",))
        if not isinstance(values.get("preset", ""), str):
            raise ValueError(f"preset is {json_kind(values['preset'])}, expected text")
        train = TrainConfig.from_json({**LEGACY_SETTINGS, **values})
        provenance = _known_fields(cls, {key: value for key, value in values.items() if key != "train"})
        return cls(train=train, **check_fields(cls, provenance))


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
    # A pruned tuning trial: the last epoch it trained.
    pruned_at_epoch: int | None = None
    # When process `pid` started (clock ticks after boot, core.runs.lifecycle.process_start), so that another
    # process given the same pid later is not taken for the trainer. None in status files from before it.
    pid_started: int | None = None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values: dict) -> Status:
        return cls(**check_fields(cls, _known_fields(cls, values)))


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
        fields = check_fields(cls, _known_fields(cls, values), skip=("metrics",))
        metrics = {key: value for key, value in values.items() if key not in fields and key != "metrics"}
        for key, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"metric {key} is {json_kind(value)}, expected a number")
        return cls(**fields, metrics={key: float(value) for key, value in metrics.items()})


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
    # Of a calibrated run (core.evaluation.calibration.calibration_report): interval coverage per level and age
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
        check_fields(cls, values, skip=("monitor",))
        monitor = check_object(values.get("monitor") or {}, "monitor")
        check_fields(Summary, check_object(values["test"], "test"))
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
