"""A runs folder of one good run and copies of it, each with one file damaged the way a disk, an editor or a sync tool does.

    folder = damaged_runs_folder(tmp_path / "runs", good_run)   # good_run: a finished `both` run (the starter)
    DAMAGES["status-pid-text"].file                            # "status.json": the file each damage spoils

The damaged copies are named to sort after the good run, so that every list
showing newest runs first would reach them before it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from core import runs

GOOD_RUN = "20260101-000000-both-best-good"


def _edit_json(path: Path, change: Callable[[object], object]) -> None:
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _set(key: str, value) -> Callable[[dict], dict]:
    return lambda values: {**values, key: value}


def _history_line(line: str) -> Callable[[Path], None]:
    """Put `line` in the middle of history.jsonl, where no half-written last line can be."""

    def spoil(path: Path) -> None:
        lines = path.read_text().splitlines()
        path.write_text("\n".join([*lines[:2], line, *lines[2:]]) + "\n")

    return spoil


def _truncate(keep: float) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def _drop_column(column: str) -> Callable[[Path], None]:
    return lambda path: pd.read_csv(path).drop(columns=[column]).to_csv(path, index=False)


@dataclasses.dataclass(frozen=True)
class Damage:
    file: str
    spoil: Callable[[Path], None]


DAMAGES = {
    "status-a-list": Damage(runs.STATUS_FILE, lambda path: path.write_text("[1, 2, 3]")),
    "status-pid-text": Damage(runs.STATUS_FILE, lambda path: _edit_json(path, _set("pid", "twelve"))),
    "status-state-number": Damage(runs.STATUS_FILE, lambda path: _edit_json(path, _set("state", 7))),
    "history-line-a-list": Damage(runs.HISTORY_FILE, _history_line('["epoch", 1, 2]')),
    "history-metric-text": Damage(
        runs.HISTORY_FILE, _history_line('{"kind": "epoch", "epoch": 1, "epochs": 3, "steps": 9, "elapsed": 2, "loss": "high"}')
    ),
    "calibration-empty-object": Damage(runs.CALIBRATION_FILE, lambda path: path.write_text("{}")),
    "calibration-garbage": Damage(runs.CALIBRATION_FILE, lambda path: path.write_bytes(b"\x00\xffnot json at all{")),
    "predictions-empty": Damage(runs.PREDICTIONS_FILE, lambda path: path.write_bytes(b"")),
    "predictions-no-pred-age": Damage(runs.PREDICTIONS_FILE, _drop_column("pred_age")),
    "split-truncated": Damage(runs.SPLIT_FILE, _truncate(0.5)),
    "config-truncated": Damage(runs.CONFIG_FILE, _truncate(0.6)),
    "config-unknown-preset": Damage(runs.CONFIG_FILE, lambda path: _edit_json(path, _set("preset", "no-such-preset"))),
    "metrics-test-a-list": Damage(runs.METRICS_FILE, lambda path: _edit_json(path, _set("test", [0.9]))),
    "model-truncated": Damage(runs.MODEL_FILE, _truncate(0.7)),
}
# Damage a run survives: the int8 copy is only a faster copy of model.keras, which answers instead (with a note).
INT8_DAMAGED = "int8-damaged"


def run_name(damage: str) -> str:
    """The damaged copy's folder name: newer than the good run's, as a later run would be."""
    return f"20260102-000000-both-best-{damage}"


def spoil_copy(good_run: Path, folder: Path, damage: str, file: str, spoil: Callable[[Path], None]) -> Path:
    copy = folder / run_name(damage)
    shutil.copytree(good_run, copy)
    spoil(copy / file)
    return copy


def damaged_runs_folder(folder: Path, good_run: Path) -> Path:
    """`folder` holding a copy of `good_run`, a copy per damage in DAMAGES, and a copy whose int8 model is damaged."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(good_run, folder / GOOD_RUN)
    for name, damage in DAMAGES.items():
        spoil_copy(good_run, folder, name, damage.file, damage.spoil)
    spoil_copy(good_run, folder, INT8_DAMAGED, runs.INT8_MODEL_FILE, lambda path: path.write_text("<net><layers>"))
    return folder
