"""Training recipes ("presets"): which network to build and how to train it.

This module imports no TensorFlow, so the CLI and the dashboard can list
presets and their defaults cheaply; `core.networks.build` builds the networks they name.
A name is turned into its `Preset` once, by `get_preset` (core.config does
it when a run's settings are read); everything else is handed the object.
A user's own presets are JSON files in the runs folder's presets/ (the
Tune page saves one from a trial); `get_preset` finds them after the studio's.
The `seed` preset reproduces the recipe the project started from and never
changes; `DEFAULT_PRESET` is the best one measured over two seeds within the 20-minute training budget;
`QUICK_PRESET` the best a search found for ten minutes on a 2-core laptop without bfloat16 instructions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from pathlib import Path

from core.paths import user_presets_dir


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    description: str
    # A key of core.networks.build.ARCHITECTURES.
    architecture: str
    # True when the gender and age heads share one trunk, so `both` is the way to train them.
    shared_trunk: bool
    learning_rate: float
    epochs: int
    batch_size: int
    patience: int
    # Keras loss name for the age head, and its weight beside gender's cross-entropy.
    age_loss: str = "mean_squared_error"
    age_loss_weight: float = 1.0
    # "regression" (one unit) or "distribution" (a probability per age, `age` its expected value; DLDL-v2)
    # with the weight of its KL loss to a Gaussian around the true age.
    age_head: str = "regression"
    age_distribution_weight: float = 0.0
    # Above zero: a training-only ethnicity head with this loss weight, to shape the shared trunk.
    ethnicity_loss_weight: float = 0.0
    # Weigh each training face by the inverse of its (gender, ethnicity) group's share, so that every group
    # counts the same in the loss (a fairness measure; validation and test stay unweighted).
    group_balance: bool = False
    # Distillation (core.training.distillation): train this many runs of `teacher_preset` on the run's own split
    # first, then this preset's model on their averaged answers beside the true labels.
    teachers: int = 0
    teacher_preset: Preset | None = None
    # AdamW when above zero, plain Adam otherwise.
    weight_decay: float = 0.0
    # "constant" or "cosine" (cosine decay over the whole run after a short warm-up).
    schedule: str = "constant"
    label_smoothing: float = 0.0
    # The compact trunk's shape: dropout before the heads, a multiplier of every block's filters, and
    # convolutions added to each of its last two blocks (the seed towers keep the seed's shape).
    dropout: float = 0.3
    width: float = 1.0
    extra_convolutions: int = 0
    # A multiplier of the seed's augmentation (rotation, zoom and shift; 0 leaves only the flip).
    augmentation: float = 1.0
    # Spread (years) of the Gaussian soft label a distribution age head learns (DLDL-v2 uses 2 on ChaLearn).
    age_label_spread: float = 2.0
    # Average each prediction with that of the mirrored face.
    flip_test_time: bool = False
    # Train in bfloat16 (weights and heads stay float32) where the CPU has bfloat16 instructions.
    mixed_precision: bool = False
    # Above zero: keep an exponential moving average of the weights with this momentum (Keras' `use_ema`);
    # validation, the choice of the best epoch and the saved model all use the averaged weights.
    ema_momentum: float = 0.0

    @property
    def full_model_tasks(self) -> tuple[str, ...]:
        """The trainings that give both answers: one `both` run on a shared trunk, else a gender and an age run."""
        return ("both",) if self.shared_trunk else ("gender", "age")

    def __str__(self) -> str:
        return self.name

    @property
    def is_builtin(self) -> bool:
        """One of the studio's own presets, as it ships (not a user's preset or a tuning trial's)."""
        return PRESETS.get(self.name) == self

    def to_json(self) -> dict:
        """Every setting, the teacher preset by its name: what a user's preset file and a trial's config.json hold."""
        return dataclasses.asdict(self) | {"teacher_preset": self.teacher_preset and self.teacher_preset.name}

    @classmethod
    def from_json(cls, values: dict) -> Preset:
        """A preset from `to_json`'s dict; a ValueError naming the unknown or missing settings."""
        if not isinstance(values, dict):
            raise ValueError(f"a preset is a JSON object of settings, not {type(values).__name__}")
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown preset settings: {', '.join(unknown)}")
        teacher = values.get("teacher_preset")
        try:
            return cls(**(values | {"teacher_preset": get_preset(teacher) if teacher else None}))
        except TypeError as error:  # A required setting is missing.
            raise ValueError(f"not a complete preset: {error}") from None


_SEED = Preset(
    name="seed",
    description="The seed recipe: a 3-block CNN per task, Adam 1e-4, MSE for age.",
    architecture="seed_towers",
    shared_trunk=False,
    # 32 rather than 64: twice the updates per epoch, which the small learning rate needs.
    learning_rate=1e-4,
    epochs=30,
    batch_size=32,
    patience=5,
)
_COMPACT = Preset(
    name="compact",
    description="One shared 4-block trunk with global pooling and two heads; AdamW, cosine schedule, "
    "L1 loss for age, label smoothing, flip test-time augmentation.",
    architecture="compact_trunk",
    shared_trunk=True,
    learning_rate=2e-3,
    epochs=20,
    batch_size=64,
    patience=20,
    age_loss="mean_absolute_error",
    age_loss_weight=0.1,
    weight_decay=1e-4,
    schedule="cosine",
    label_smoothing=0.1,
    flip_test_time=True,
)
_COMPACT_LONG = dataclasses.replace(
    _COMPACT,
    name="compact-long",
    description="The compact recipe with batch norm that settles in a few steps (so short runs work too), "
    "bfloat16 arithmetic where the CPU has it (a quarter less time per epoch), and the 36 epochs "
    "that this buys within 20 minutes on a 2-core CPU with bfloat16 instructions (about an hour without).",
    architecture="compact_trunk_quick_bn",
    epochs=36,
    patience=36,
    mixed_precision=True,
)
_COMPACT_DLDL = dataclasses.replace(
    _COMPACT_LONG,
    name="compact-dldl",
    description="compact-long with an age head that predicts a probability for each age (DLDL-v2: KL to a "
    "Gaussian around the true age beside L1 on the expected age) and a training-only ethnicity head.",
    age_head="distribution",
    age_distribution_weight=0.1,
    ethnicity_loss_weight=0.3,
)
_COMPACT_DLDL_BALANCED = dataclasses.replace(
    _COMPACT_DLDL,
    name="compact-dldl-balanced",
    description="compact-dldl with every (gender, ethnicity) group weighing the same in the training loss.",
    group_balance=True,
)
_COMPACT_DLDL_EMA = dataclasses.replace(
    _COMPACT_DLDL,
    name="compact-dldl-ema",
    description="compact-dldl that validates and saves an exponential moving average of its weights "
    "(momentum 0.999: about the last four epochs' steps) instead of the last step's weights.",
    ema_momentum=0.999,
)
_BEST = dataclasses.replace(
    _COMPACT_DLDL,
    name="best",
    description="A compact-dldl teacher (another seed, the same split), then a compact-dldl student taught its "
    "gender probabilities and age distributions for each augmented batch, beside the true labels: two trainings, "
    "one model to serve.",
    teachers=1,
    teacher_preset=_COMPACT_DLDL,
)
# Trial 10 of a `tune` search of compact-dldl for quality against minutes (objectives combined and minutes, 14
# trials of 8 epochs on the full CSV, 2 cores with oneDNN limited to AVX2, float32; docs/experiments.md): on the
# Pareto front, the best combined validation score in the time budget (10 minutes where the default's epoch takes
# 97 s, as on a 2-core laptop without bfloat16 instructions: 4.3 minutes where it took 42 s).
_QUICK = dataclasses.replace(
    _COMPACT_DLDL,
    name="quick",
    description="A first model in minutes: compact-dldl at about half the width for 8 epochs, with settings a "
    "search of quality against training minutes found (milder augmentation, a wider age label, the ethnicity head all but off).",
    learning_rate=1.86e-3,
    epochs=8,
    patience=8,
    batch_size=64,
    weight_decay=2.67e-5,
    dropout=0.12,
    width=0.553,
    label_smoothing=0.0325,
    augmentation=0.24,
    age_label_spread=2.9,
    age_distribution_weight=0.319,
    ethnicity_loss_weight=0.0045,
)
PRESETS = {
    preset.name: preset
    for preset in (_QUICK, _SEED, _COMPACT, _COMPACT_LONG, _COMPACT_DLDL, _COMPACT_DLDL_BALANCED, _COMPACT_DLDL_EMA, _BEST)
}
DEFAULT_PRESET = "compact-dldl"
# What the Train page offers first to someone without a finished run of their own.
QUICK_PRESET = "quick"


# A user's own presets ("Train with these settings" on the Tune page saves one) are core.paths.user_presets_dir()/<name>.json.
_USER_PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def user_presets() -> dict[str, Preset]:
    """The user's saved presets that can be read, by name (a damaged file is left out here; `get_preset` names its fault)."""
    found = {}
    for path in sorted(user_presets_dir().glob("*.json")):
        with contextlib.suppress(ValueError):
            found[path.stem] = get_preset(path.stem)
    return found


def all_presets() -> dict[str, Preset]:
    """The studio's presets, then the user's: what the Train page and `--preset` offer."""
    return PRESETS | user_presets()


def save_user_preset(preset: Preset) -> Path:
    """Save `preset` as the user's preset file (its name is the file's); refuses the name of one of the studio's presets."""
    if preset.name in PRESETS:
        raise ValueError(f"{preset.name!r} is one of the studio's presets; give yours another name")
    if not _USER_PRESET_NAME.fullmatch(preset.name):
        raise ValueError(f"a preset's name is 1 to 64 letters, digits, '.', '_' or '-', not {preset.name!r}")
    path = user_presets_dir() / f"{preset.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(preset.to_json(), indent=2))
    temporary.replace(path)
    return path


def get_preset(name: str) -> Preset:
    """The studio's preset called `name`, else the user's; a ValueError naming the choices when there is none."""
    if name in PRESETS:
        return PRESETS[name]
    path = user_presets_dir() / f"{name}.json"
    if not _USER_PRESET_NAME.fullmatch(str(name)) or not path.is_file():
        raise ValueError(f"Unknown preset {name!r}; choose one of {', '.join(all_presets())}")
    try:
        preset = Preset.from_json(json.loads(path.read_text()))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"preset file {path}: {error}") from None
    if preset.name != name:
        raise ValueError(f"preset file {path} holds a preset named {preset.name!r}; rename one to match the other")
    return preset
