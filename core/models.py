"""The CNNs, built by presets.

Every model takes `face` (48, 48, 1) float32 in [0, 1] and has named outputs:
`gender` (2-way softmax: male, female) and/or `age` (one ReLU unit, years).
The convolution whose maps feed a head's CAM is named `<head>_last_conv`, or
`last_conv` when the heads share a trunk: `cam_layer_name` finds it.

    model = build_model("seed", "gender")
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
from keras import layers

from core.data import IMAGE_SIDE

HEADS_BY_TASK = {"gender": ("gender",), "age": ("age",), "both": ("gender", "age")}
# The mean age of the shared CSV; the age head starts there instead of at 0 so
# that a few epochs are enough to leave the trivial regime.
DEFAULT_AGE_BIAS = 33.3


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    description: str
    # (inputs, head, age_bias) -> the output tensor of that head.
    build_tower: Callable


def _seed_tower(inputs, head: str, age_bias: float):
    """The seed recipe: three conv blocks, then a dense layer and the head."""
    x = inputs
    for block, filters in enumerate((32, 64, 128), start=1):
        name = f"{head}_last_conv" if filters == 128 else f"{head}_conv{block}"
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{head}_bn{block}")(x)
        x = layers.MaxPool2D(2, name=f"{head}_pool{block}")(x)
        if block > 1:
            x = layers.Dropout(0.25, name=f"{head}_dropout{block}")(x)
    x = layers.Flatten(name=f"{head}_flatten")(x)
    x = layers.Dense(128, activation="relu", name=f"{head}_dense")(x)
    x = layers.BatchNormalization(momentum=0.9, name=f"{head}_bn_dense")(x)
    x = layers.Dropout(0.5, name=f"{head}_dropout_dense")(x)
    return _head(x, head, age_bias)


def _head(features, head: str, age_bias: float):
    if head == "gender":
        # Softmax inside the Dense layer (not a separate layer) so CAM tools can linearise it.
        return layers.Dense(2, activation="softmax", name="gender")(features)
    return layers.Dense(1, activation="relu", name="age", bias_initializer=keras.initializers.Constant(age_bias))(features)


PRESETS = {
    "seed": Preset(
        name="seed",
        description="The seed recipe: a 3-block CNN per task, Adam 1e-4, MSE for age.",
        build_tower=_seed_tower,
    ),
}


def build_model(preset: str, task: str, age_bias: float = DEFAULT_AGE_BIAS) -> keras.Model:
    """A compiled-ready functional model for `task` ('gender', 'age' or 'both').

    For 'both' each head gets its own tower in one model, so the two are
    trained side by side and saved, loaded and explained as one file.
    """
    if preset not in PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if task not in HEADS_BY_TASK:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(HEADS_BY_TASK)}")
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="face")
    outputs = {head: PRESETS[preset].build_tower(inputs, head, age_bias) for head in HEADS_BY_TASK[task]}
    return keras.Model(inputs, outputs, name=f"{preset}_{task}")


def compile_model(model: keras.Model, learning_rate: float) -> None:
    heads = model_heads(model)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={head: {"gender": "categorical_crossentropy", "age": "mean_squared_error"}[head] for head in heads},
        metrics={head: {"gender": ["accuracy"], "age": ["mae"]}[head] for head in heads},
    )


def model_heads(model: keras.Model) -> tuple[str, ...]:
    """The heads ('gender', 'age') a model predicts, in a fixed order."""
    names = set(model.output_names)
    return tuple(head for head in ("gender", "age") if head in names)


def cam_layer_name(model: keras.Model, head: str) -> str:
    """Name of the convolution whose maps explain `head`."""
    for name in (f"{head}_last_conv", "last_conv"):
        try:
            model.get_layer(name)
            return name
        except ValueError:
            continue
    raise ValueError(f"Model {model.name!r} has no `{head}_last_conv` or `last_conv` layer")
