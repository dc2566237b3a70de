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


# Where users put face CSVs (git-ignored), and where the dashboard writes imported ones.
DATA_DIR = PROJECT_ROOT / "data"


def default_csv_path() -> Path:
    """The CSV to use when none is given: `AGEGENDER_CSV`, else `data/age_gender.csv[.gz]`."""
    from_env = os.environ.get("AGEGENDER_CSV")
    if from_env:
        return Path(from_env)
    plain = DATA_DIR / "age_gender.csv"
    gzipped = DATA_DIR / "age_gender.csv.gz"
    if not plain.exists() and gzipped.exists():
        return gzipped
    return plain


def allowed_data_dirs() -> list[Path] | None:
    """The folders an operator allows data to be read from (`AGEGENDER_DATA_DIRS`, separated by `os.pathsep`); None: any."""
    setting = os.environ.get("AGEGENDER_DATA_DIRS", "").strip()
    return [Path(folder).expanduser().resolve() for folder in setting.split(os.pathsep) if folder.strip()] or None


def check_data_path(path: str | Path) -> Path:
    """`path`, resolved, if it lies in an allowed data folder (always, when none is set); an InputError otherwise.

    On a shared server the operator sets AGEGENDER_DATA_DIRS, so that a typed
    path cannot make the dashboard read files elsewhere on the machine.
    """
    resolved = Path(path).expanduser().resolve()
    allowed = allowed_data_dirs()
    if allowed is not None and not any(resolved.is_relative_to(folder) for folder in allowed):
        from core.errors import InputError

        raise InputError(f"{path} is outside the data folders this server allows ({', '.join(map(str, allowed))})")
    return resolved


def runs_dir() -> Path:
    """Where run directories live: `AGEGENDER_RUNS`, else `runs/` in the project."""
    return Path(os.environ.get("AGEGENDER_RUNS", PROJECT_ROOT / "runs"))


def starter_dir() -> Path:
    """The starter run that ships with the studio: `AGEGENDER_STARTER`, else `models/starter/` in the project.

    Pages fall back to it while the user has no finished run of their own.
    """
    return Path(os.environ.get("AGEGENDER_STARTER", PROJECT_ROOT / "models" / "starter"))


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
    exactly the seed recipe. The task left as None is `both` for a preset
    whose heads share a trunk (a one-head run would throw the other head
    away) and `gender` for the others.
    """

    task: str | None = _setting(None, "what to train: both heads (the default for a preset whose heads share a trunk), or one", choices=TASKS)
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
    # runs made before, in which 270 of 4,267 test faces had a copy in training
    # or validation (102 of them pixel-identical).
    split: str = _setting("grouped", "how to split: copies of a face kept together, or not", choices=SPLITS)
    # Leave out every copy of a face whose copies disagree on gender or age (core.data_health).
    drop_conflicting: bool = _setting(False, "leave out duplicate faces whose labels disagree", type=bool)

    def __post_init__(self):
        preset = get_preset(self.preset)
        if self.task is None:
            object.__setattr__(self, "task", "both" if preset.shared_trunk else "gender")  # Frozen: set once, here.
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
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
