"""Reading a run's files through their schemas, and checking a whole run that way.

    runs.read_config(run_dir)        # RunConfig          (config.json)
    runs.read_metrics(run_dir)       # RunMetrics or None (metrics.json)
    runs.read_history(run_dir)       # [HistoryRecord]    (history.jsonl)
    runs.read_calibration(run_dir)   # Calibration or None
    runs.read_predictions(run_dir)   # labelled DataFrame (predictions.csv)
    runs.read_split(run_dir)         # Split              (split.npz)
    check_run(run_dir, running)      # RunFileError of the first damaged file, or None

Every reader raises `core.errors.RunFileError` (an InputError, so a
ValueError) when its file is there but damaged: not JSON, a truncated
archive, a value of the wrong kind, a missing column. The message names the
file's path and the fault, never the file's content. A file that is not
there is not damage: each reader says what it answers then.
"""

from __future__ import annotations

import functools
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from core.data.splits import Split
from core.errors import RunFileError
from core.evaluation.calibration import Calibration
from core.evaluation.metrics import label_predictions
from core.runs.layout import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PREDICTIONS_FILE,
    SPLIT_FILE,
    STATUS_FILE,
)
from core.runs.lifecycle import read_status
from core.runs.records import HistoryRecord, RunConfig, RunMetrics, read_json, read_record
from core.runs.schema import check_object, describe, fits, json_kind

# The columns of predictions.csv (core.evaluation.metrics.predictions_frame): for every run, and for each head.
PREDICTION_COLUMNS = ("row_id", "age", "gender", "ethnicity")
HEAD_PREDICTION_COLUMNS = {"gender": ("pred_gender_prob", "pred_gender"), "age": ("pred_age", "age_error")}
# What a calibration.json holds, part by part (core.evaluation.calibration.Calibration.to_json).
_CALIBRATION_SCHEMA = {
    "validation_faces": int,
    "gender": dict,
    "gender.temperature": float,
    "gender.ece_before": float | None,
    "gender.ece_after": float | None,
    "age": dict,
    "age.true": list[float],
    "age.predicted": list[float],
}


def read_config(run_dir: Path) -> RunConfig:
    """A run's config.json.

    Raises:
        ValueError: there is none: the folder is not a run directory.
        RunFileError: it is damaged, or not a valid run config (an unknown preset, say).
    """
    config = read_record(Path(run_dir) / CONFIG_FILE, RunConfig)
    if config is None:
        raise ValueError(f"{run_dir} is not a run directory (no {CONFIG_FILE})")
    return config


def read_metrics(run_dir: Path) -> RunMetrics | None:
    """A run's metrics.json, or None while there is none; a RunFileError when it is damaged."""
    return read_record(Path(run_dir) / METRICS_FILE, RunMetrics)


def read_calibration(run_dir: Path) -> Calibration | None:
    """A run's calibration, or None when it has none (runs trained before calibration existed).

    A calibration.json that is there but damaged raises a RunFileError: answering uncalibrated without a word would hide it.
    """
    path = Path(run_dir) / CALIBRATION_FILE
    values = read_json(path)
    if values is None:
        return None
    try:
        check_object(values)
        for key, kind in _CALIBRATION_SCHEMA.items():
            part, _, name = key.rpartition(".")
            holder = values[part] if part else values
            if name not in holder and kind is not float | None:
                raise ValueError(f"it lacks the field {key}")
            if not fits(holder.get(name), kind):
                raise ValueError(f"{key} is {json_kind(holder[name])}, expected {describe(kind)}")
        if len(values["age"]["true"]) != len(values["age"]["predicted"]):
            raise ValueError("age.true and age.predicted differ in length")
        if not values["gender"]["temperature"] > 0:
            raise ValueError("gender.temperature is not positive")
        return Calibration.from_json(values)
    except ValueError as error:
        raise RunFileError(path, str(error)) from None


def read_history(run_dir: Path) -> list[HistoryRecord]:
    """Every record of history.jsonl.

    A line that is not JSON at all is a write cut short (the trainer mid-line,
    or killed mid-line before a resume appended after it) and is skipped; a
    line of JSON that is not a record (a list, a metric that is text) is damage.

    Raises:
        RunFileError: a line is not a history record (the message gives its number).
    """
    path = Path(run_dir) / HISTORY_FILE
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as error:
        raise RunFileError(path, f"it could not be read ({error.strerror or type(error).__name__})") from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            values = json.loads(line)
        except json.JSONDecodeError:
            continue
        try:
            records.append(HistoryRecord.from_json(check_object(values, "the line")))
        except (TypeError, ValueError) as error:
            raise RunFileError(path, f"line {number}: {error}") from None
    return records


def read_predictions(run_dir: Path, heads: tuple[str, ...] | None = None) -> pd.DataFrame:
    """A run's test predictions with readable labels (core.evaluation.metrics.label_predictions).

    `heads`: the run's heads, whose prediction columns must be there (default: read from its config.json).

    Raises:
        FileNotFoundError: the run has no predictions.csv.
        RunFileError: the file is empty, not a CSV, lacks a column, or holds text where numbers belong.
    """
    path = Path(run_dir) / PREDICTIONS_FILE
    heads = read_config(run_dir).heads if heads is None else heads
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise
    except (ValueError, UnicodeDecodeError, OSError) as error:  # pandas' EmptyDataError and ParserError are ValueErrors.
        raise RunFileError(path, f"it is not a predictions table ({type(error).__name__})") from None
    needed = PREDICTION_COLUMNS + tuple(column for head in heads for column in HEAD_PREDICTION_COLUMNS[head])
    missing = [column for column in needed if column not in frame]
    if missing:
        raise RunFileError(path, f"it lacks the column(s) {', '.join(missing)}")
    not_numbers = [column for column in needed if not pd.api.types.is_numeric_dtype(frame[column])]
    if not_numbers:
        raise RunFileError(path, f"column(s) {', '.join(not_numbers)} hold something other than numbers")
    return label_predictions(frame)


def read_split(run_dir: Path) -> Split:
    """A run's train / validation / test rows.

    Raises:
        FileNotFoundError: the run has no split.npz.
        RunFileError: the file is truncated or not a split (each part must be a list of row numbers).
    """
    path = Path(run_dir) / SPLIT_FILE
    try:
        split = Split.load(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise RunFileError(path, f"it is not a readable split ({type(error).__name__})") from None
    for part in ("train", "val", "test"):
        rows = getattr(split, part)
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise RunFileError(path, f"its {part} part is not a list of row numbers")
    return split


def check_model_archive(run_dir: Path) -> None:
    """A RunFileError unless model.keras (when there) is a whole Keras archive; Keras itself reads it only when a model is needed."""
    path = Path(run_dir) / MODEL_FILE
    if not path.is_file():
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile, EOFError):
        raise RunFileError(path, "it is not a whole Keras model archive") from None
    if not {"config.json", "model.weights.h5"} <= names:
        raise RunFileError(path, "it is a zip archive without a Keras model's config and weights")


# Checked at every moment of a run; the rest only once it is no longer training (until then they may be mid-write).
_ALWAYS_CHECKED = {
    CONFIG_FILE: read_config,
    STATUS_FILE: read_status,
    HISTORY_FILE: read_history,
    SPLIT_FILE: read_split,
}
_CHECKED_WHEN_DONE = {
    METRICS_FILE: read_metrics,
    CALIBRATION_FILE: read_calibration,
    PREDICTIONS_FILE: read_predictions,
    MODEL_FILE: check_model_archive,
}


def check_run(run_dir: Path, running: bool = False) -> RunFileError | None:
    """The fault of the first damaged file of a run, or None when every file reads through its schema.

    `running`: the run is training now, so only the files it does not write at its end are checked.
    Each file's verdict is kept while its size and modification time stay the same, so lists of runs stay cheap.
    """
    readers = _ALWAYS_CHECKED if running else _ALWAYS_CHECKED | _CHECKED_WHEN_DONE
    for name, reader in readers.items():
        path = Path(run_dir) / name
        try:
            stat = path.stat()
        except OSError:
            continue  # Not there (yet): no damage.
        fault = _checked(reader, str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if fault is not None:
            return fault
    return None


@functools.lru_cache(maxsize=1024)
def _checked(reader, path: str, modified_ns: int, size: int, inode: int) -> RunFileError | None:
    try:
        reader(Path(path).parent)
    except RunFileError as error:
        return error
    except FileNotFoundError:
        return None  # Removed between the look and the read.
    return None
