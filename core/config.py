"""One source of truth for paths and training settings.

The CLI, the dashboard and the tests all build a `TrainConfig` the same way,
so a default changed here changes everywhere.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from core.presets import DEFAULT_PRESET, get_preset

PROJECT_ROOT = Path(__file__).resolve().parent.parent

TASKS = ("gender", "age", "both")


def default_csv_path() -> Path:
    """The CSV to use when none is given: `AGEGENDER_CSV`, else `data/age_gender.csv[.gz]`."""
    from_env = os.environ.get("AGEGENDER_CSV")
    if from_env:
        return Path(from_env)
    plain = PROJECT_ROOT / "data" / "age_gender.csv"
    gzipped = PROJECT_ROOT / "data" / "age_gender.csv.gz"
    if not plain.exists() and gzipped.exists():
        return gzipped
    return plain


def runs_dir() -> Path:
    """Where run directories live: `AGEGENDER_RUNS`, else `runs/` in the project."""
    return Path(os.environ.get("AGEGENDER_RUNS", PROJECT_ROOT / "runs"))


def cache_dir() -> Path:
    """Where parsed-CSV caches live: `AGEGENDER_CACHE`, else `.cache/` in the project.

    Never beside the CSV: the shared data folder is read-only in CI.
    """
    return Path(os.environ.get("AGEGENDER_CACHE", PROJECT_ROOT / ".cache"))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything needed to repeat a training run.

    Epochs, batch size, learning rate and patience left as None take the
    preset's values (see core.presets), so `TrainConfig(preset="seed")` is
    exactly the seed recipe.
    """

    task: str = "gender"
    preset: str = DEFAULT_PRESET
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 42
    # Use only this many rows (a seeded random sample), for quick tries.
    limit: int | None = None
    csv_path: str = ""
    # Epochs without improvement of the validation metric before stopping.
    patience: int | None = None
    # Also log training loss every this many batches, so a live curve moves
    # before the first epoch ends.
    log_every_batches: int = 10

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        preset = get_preset(self.preset)
        for name in ("epochs", "batch_size", "learning_rate", "patience"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(preset, name))  # Frozen: set once, here.
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.limit is not None and self.limit < 20:
            raise ValueError(f"limit must be at least 20 rows, got {self.limit}")
        if self.patience < 1:
            raise ValueError(f"patience must be at least 1, got {self.patience}")
        if self.log_every_batches < 1:
            raise ValueError(f"log_every_batches must be at least 1, got {self.log_every_batches}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
