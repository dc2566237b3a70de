"""Training settings: one frozen dataclass that the CLI, the dashboard and the tests all build the same way.

The CLI builds its flags from `TrainConfig`'s fields (`setting_flags`), the
dashboard hands the trainer a saved `TrainConfig` (`--config`), and the tests
build one directly, so a setting or default changed here changes everywhere.
The preset is resolved here, once, from its name to a `Preset` object, and
its defaults are filled in here and nowhere else.
"""

from __future__ import annotations

import dataclasses

from core.labels import HEADS_BY_TASK, SPLITS, TASKS
from core.networks.presets import DEFAULT_PRESET, Preset, get_preset

# The settings a preset brings its own value for, taken from it whenever they are not given: these four as they
# stand in the Preset, and the task, which follows from whether the preset's heads share a trunk.
PRESET_VALUES = ("epochs", "batch_size", "learning_rate", "patience")
PRESET_DEFAULTS = ("task", *PRESET_VALUES)
# config.json's key for all the settings of a preset that is not one of the studio's own.
PRESET_SETTINGS = "preset_settings"


def _setting(default, help: str, type=str, flag: str | None = None, choices=None):
    """A TrainConfig field that is also a command-line flag (`--field-name` unless `flag` says otherwise)."""
    return dataclasses.field(default=default, metadata={"help": help, "type": type, "flag": flag, "choices": choices})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything needed to repeat a training run.

    `preset` may be given by name; it is held as the `Preset` itself. Epochs,
    batch size, learning rate and patience left as None take the preset's
    values (core.networks.presets), so `TrainConfig(preset="seed")` is
    exactly the seed recipe. The task left as None is `both` for a preset
    whose heads share a trunk (a one-head run would throw the other head
    away) and `gender` for the others.
    """

    task: str | None = _setting(
        None, "what to train: both heads (the default for a preset whose heads share a trunk), or one", choices=TASKS
    )
    preset: Preset = _setting(DEFAULT_PRESET, "the network and training recipe (core.networks.presets)")
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
    # "grouped" keeps every copy of a face (core.data.health) on one side of the
    # split, so no test face was seen in training; "stratified" is the split
    # runs made before, in which 270 of 4,267 test faces had a copy in training
    # or validation (102 of them pixel-identical).
    split: str = _setting("grouped", "how to split: copies of a face kept together, or not", choices=SPLITS)
    # Leave out every copy of a face whose copies disagree on gender or age (core.data.health).
    drop_conflicting: bool = _setting(False, "leave out duplicate faces whose labels disagree", type=bool)

    def __post_init__(self):
        # Frozen: each value below is set once, here.
        preset = self.preset if isinstance(self.preset, Preset) else get_preset(self.preset)
        object.__setattr__(self, "preset", preset)
        if self.task is None:
            object.__setattr__(self, "task", "both" if preset.shared_trunk else "gender")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        for name in PRESET_VALUES:
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(preset, name))
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
        """The settings as config.json holds them: the preset by its name, and all its settings unless it is the
        studio's own (a user's preset file may change or go, a tuning trial's exists nowhere else)."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)} | {"preset": self.preset.name}
        return values if self.preset.is_builtin else values | {PRESET_SETTINGS: self.preset.to_json()}

    @classmethod
    def from_json(cls, values: dict) -> TrainConfig:
        """The settings among `values` (a saved config.json may hold more: the run's provenance)."""
        settings = {field.name: values[field.name] for field in dataclasses.fields(cls) if field.name in values}
        if values.get(PRESET_SETTINGS) is not None:
            settings["preset"] = Preset.from_json(values[PRESET_SETTINGS])
        return cls(**settings)

    @classmethod
    def overridden(cls, saved: dict, given: dict) -> TrainConfig:
        """The `saved` settings (a config.json's, say) with the `given` ones on top.

        A newly given preset brings its own task, epochs, batch size, learning
        rate and patience, unless those are given too.
        """
        values = dict(saved)
        if "preset" in given:
            for name in (*PRESET_DEFAULTS, PRESET_SETTINGS):
                values.pop(name, None)
        return cls.from_json(values | given)


def setting_flags() -> list[tuple[str, dataclasses.Field]]:
    """(flag, field) for every TrainConfig setting, in field order: what the CLI's flags are built from."""
    return [(field.metadata["flag"] or "--" + field.name.replace("_", "-"), field) for field in dataclasses.fields(TrainConfig)]
