"""One source of truth for paths, tasks and training settings.

The CLI builds its flags from `TrainConfig`'s fields (`setting_flags`), the
dashboard hands the trainer a saved `TrainConfig` (`--config`), and the tests
build one directly, so a setting or default changed here changes everywhere.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from core.presets import DEFAULT_PRESET, get_preset

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The heads a model can have, in the order every output, table and page lists them.
HEADS = ("gender", "age")
# What each task trains; `both` is one model with both heads.
HEADS_BY_TASK = {"both": HEADS, "gender": ("gender",), "age": ("age",)}
TASKS = tuple(HEADS_BY_TASK)
# How a run's rows are split (core.splits): keeping copies of a face together or not.
SPLITS = ("grouped", "stratified")


def ordered_heads(names) -> tuple[str, ...]:
    """The heads among `names` (a model's output names, say), in HEADS order."""
    present = set(names)
    return tuple(head for head in HEADS if head in present)


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


def _setting(default, help: str, type=str, flag: str | None = None, choices=None):
    """A TrainConfig field that is also a command-line flag (`--field-name` unless `flag` says otherwise)."""
    return dataclasses.field(default=default, metadata={"help": help, "type": type, "flag": flag, "choices": choices})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything needed to repeat a training run.

    Epochs, batch size, learning rate and patience left as None take the
    preset's values (see core.presets), so `TrainConfig(preset="seed")` is
    exactly the seed recipe.
    """

    task: str = _setting("gender", "what to train: one head, or one model with both heads", choices=TASKS)
    preset: str = _setting(DEFAULT_PRESET, "the network and training recipe (core.presets)")
    epochs: int | None = _setting(None, "at most this many epochs (default: the preset's)", type=int)
    batch_size: int | None = _setting(None, "faces per batch (default: the preset's)", type=int)
    learning_rate: float | None = _setting(None, "peak learning rate (default: the preset's)", type=float)
    seed: int = _setting(42, "seed of the sample, the split, the initial weights and the augmentation", type=int)
    # Use only this many rows (a seeded random sample), for quick tries.
    limit: int | None = _setting(None, "use a seeded random sample of this many rows", type=int)
    csv_path: str = _setting("", "the face CSV (default: AGEGENDER_CSV or data/age_gender.csv[.gz])", flag="--csv")
    # Epochs without improvement of the validation metric before stopping.
    patience: int | None = _setting(None, "epochs without improvement before stopping (default: the preset's)", type=int)
    # Also log training loss every this many batches, so a live curve moves
    # before the first epoch ends.
    log_every_batches: int = _setting(10, "also log the training loss every this many batches", type=int)
    # "grouped" keeps every copy of a face (core.data_health) on one side of the
    # split, so no test face was seen in training; "stratified" is the split
    # runs made before, which let 102 of 4,267 test faces have a twin in training.
    split: str = _setting("grouped", "how to split: copies of a face kept together, or not", choices=SPLITS)
    # Leave out every copy of a face whose copies disagree on gender or age (core.data_health).
    drop_conflicting: bool = _setting(False, "leave out duplicate faces whose labels disagree", type=bool)

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
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")

    @property
    def heads(self) -> tuple[str, ...]:
        return HEADS_BY_TASK[self.task]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values: dict) -> TrainConfig:
        """The settings among `values` (a saved config.json may hold more: the run's provenance)."""
        return cls(**{field.name: values[field.name] for field in dataclasses.fields(cls) if field.name in values})


def setting_flags() -> list[tuple[str, dataclasses.Field]]:
    """(flag, field) for every TrainConfig setting, in field order: what the CLI's flags are built from."""
    return [(field.metadata["flag"] or "--" + field.name.replace("_", "-"), field) for field in dataclasses.fields(TrainConfig)]
