"""The search space: which settings of a preset a study searches, over which values, declared here and nowhere else.

    space = SearchSpace.default()                        # every knob below
    space = SearchSpace.default().narrowed(read_space_file("space.json"))
    params = space.suggest(trial)                        # {"learning_rate": 0.0021, "dropout": 0.35, ...}
    config = space.apply(base_config, params, name="my-study-t3")

A space file is a JSON object whose keys are knob names; each value narrows
or replaces that knob, or fixes it, or leaves it out of the search:

    {"learning_rate": {"low": 5e-4, "high": 5e-3},   # a narrower (or wider) range, still log-scaled
     "batch_size": {"choices": [64, 128]},
     "epochs": 4,                                    # fixed: every trial trains 4 epochs
     "width": null}                                  # not searched: the preset's own value

Unknown knobs and empty ranges are refused with a message, before anything starts.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from core.config import TrainConfig
from core.networks.presets import Preset


@dataclasses.dataclass(frozen=True)
class Knob:
    """One searched setting: a float or int range (log-scaled or not), or a list of choices."""

    name: str
    help: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple | None = None

    def __post_init__(self):
        if self.choices is not None:
            if not self.choices:
                raise ValueError(f"{self.name}: the list of choices is empty")
            return
        if self.low is None or self.high is None:
            raise ValueError(f"{self.name}: give a range (low and high) or choices")
        if not self.low < self.high:
            raise ValueError(f"{self.name}: the range {self.low} .. {self.high} is empty (low must be below high)")
        if self.log and self.low <= 0:
            raise ValueError(f"{self.name}: a log-scaled range must start above 0, not at {self.low}")

    def suggest(self, trial):
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def to_json(self) -> dict:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log, "integer": self.integer}

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        return f"{self.low:g} .. {self.high:g}{' (log scale)' if self.log else ''}"


# Every knob a study may search: settings that presets (core.networks.presets) and TrainConfig already have.
KNOBS = (
    Knob("learning_rate", "peak learning rate", 3e-4, 6e-3, log=True),
    Knob("weight_decay", "AdamW's weight decay", 1e-6, 1e-3, log=True),
    Knob("batch_size", "faces per batch", choices=(32, 64, 128)),
    Knob("dropout", "dropout before the heads", 0.0, 0.5),
    Knob("width", "multiplier of the trunk's filters", 0.5, 1.5),
    Knob("extra_convolutions", "convolutions added to each of the trunk's last two blocks", 0, 1, integer=True),
    Knob("label_smoothing", "label smoothing of the gender head", 0.0, 0.2),
    Knob("augmentation", "multiplier of the rotation, zoom and shift", 0.0, 2.0),
    Knob("age_label_spread", "width (years) of the age distribution's soft label", 1.0, 4.0),
    Knob("age_distribution_weight", "weight of the age distribution's loss", 0.0, 0.5),
    Knob("ethnicity_loss_weight", "weight of the training-only ethnicity head", 0.0, 0.6),
)
KNOBS_BY_NAME = {knob.name: knob for knob in KNOBS}


def unused_knobs(preset: Preset) -> set[str]:
    """Knobs that would not change how `preset` trains."""
    unused = set()
    if not preset.shared_trunk:  # The seed towers keep the seed's shape and train one head at a time.
        unused |= {"dropout", "width", "extra_convolutions", "ethnicity_loss_weight"}
    if preset.age_head != "distribution":
        unused |= {"age_label_spread", "age_distribution_weight"}
    if preset.weight_decay == 0:  # Plain Adam: no weight decay to tune.
        unused.add("weight_decay")
    return unused


# Settings of a trial that belong to TrainConfig rather than to its preset.
TRAIN_SETTINGS = ("learning_rate", "batch_size", "epochs")
# Fixed-value keys a space file may hold beside the knobs: trials' length is fixed, not searched, by default.
FIXED_ONLY = ("epochs",)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    knobs: tuple[Knob, ...]
    # Settings every trial takes as given (from a space file), by name.
    fixed: tuple[tuple[str, object], ...] = ()

    @classmethod
    def default(cls, preset: Preset | None = None) -> SearchSpace:
        """Every knob, or those that change `preset`'s training (the seed towers have no trunk to shape, say)."""
        return cls(tuple(knob for knob in KNOBS if preset is None or knob.name not in unused_knobs(preset)))

    def narrowed(self, changes: dict) -> SearchSpace:
        """This space with a space file's `changes` (see the module's docstring); a ValueError for unknown keys or empty ranges."""
        if not isinstance(changes, dict):
            raise ValueError(f"a search space is a JSON object of knob names, not {type(changes).__name__}")
        unknown = sorted(set(changes) - set(KNOBS_BY_NAME) - set(FIXED_ONLY))
        if unknown:
            raise ValueError(
                f"unknown knobs in the search space: {', '.join(unknown)}; known: {', '.join([*KNOBS_BY_NAME, *FIXED_ONLY])}"
            )
        knobs, fixed = {knob.name: knob for knob in self.knobs}, dict(self.fixed)
        for name, change in changes.items():
            knobs.pop(name, None)
            fixed.pop(name, None)
            if isinstance(change, dict):
                if name in FIXED_ONLY:
                    raise ValueError(f'{name} is not searched; give it one value (e.g. "{name}": 4)')
                allowed = {"low", "high", "log", "choices"}
                if set(change) - allowed:
                    raise ValueError(f"{name}: unknown keys {sorted(set(change) - allowed)}; use low / high / log or choices")
                base = KNOBS_BY_NAME[name]
                shape = {"choices": tuple(change["choices"]), "low": None, "high": None} if "choices" in change else {
                    "choices": None, **{key: change[key] for key in ("low", "high", "log") if key in change}}  # fmt: skip
                knobs[name] = dataclasses.replace(base, **shape)
            elif change is not None:
                if isinstance(change, (list, str, bool)):
                    raise ValueError(f'{name}: give a number, a {{"low", "high"}} range, {{"choices": [...]}} or null')
                fixed[name] = change
        ordered = tuple(knobs[knob.name] for knob in KNOBS if knob.name in knobs)
        return SearchSpace(ordered, tuple(sorted(fixed.items())))

    def suggest(self, trial) -> dict:
        """A trial's values for every knob, drawn by the study's sampler."""
        return {knob.name: knob.suggest(trial) for knob in self.knobs}

    def apply(self, base: TrainConfig, params: dict, name: str) -> TrainConfig:
        """`base` with a trial's `params` (and the space's fixed values): its preset a new one called `name`."""
        values = dict(self.fixed) | params
        preset_changes = {key: value for key, value in values.items() if key not in TRAIN_SETTINGS}
        description = f"{base.preset.name} with " + ", ".join(f"{key}={value:.3g}" if isinstance(value, float) else
                                                               f"{key}={value}" for key, value in sorted(values.items()))  # fmt: skip
        preset = dataclasses.replace(base.preset, name=name, description=description, **preset_changes)
        settings = {key: values[key] for key in TRAIN_SETTINGS if key in values}
        return dataclasses.replace(base, preset=preset, **settings)

    @staticmethod
    def preset_of(trial_config: TrainConfig, name: str) -> Preset:
        """A trial's settings as a preset called `name`, to train at full length: its preset with the learning rate
        and batch size it trained with (which TrainConfig held); its epochs and patience stay the base preset's."""
        return dataclasses.replace(
            trial_config.preset, name=name, learning_rate=trial_config.learning_rate, batch_size=trial_config.batch_size
        )

    def to_json(self) -> dict:
        """What a study stores, to refuse a later run of it with another space."""
        return {"knobs": {knob.name: knob.to_json() for knob in self.knobs}, "fixed": dict(self.fixed)}


def read_space_file(path: Path) -> dict:
    """A space file's changes; a ValueError naming the file when it is not a JSON object."""
    try:
        changes = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"no search space file at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"search space file {path} is not valid JSON ({error.__class__.__name__} at its position "
                         f"{getattr(error, 'pos', '?')})") from None  # fmt: skip
    if not isinstance(changes, dict):
        raise ValueError(f"search space file {path} holds a JSON {type(changes).__name__}, not an object of knob names")
    return changes
