"""The CNNs that presets name, and how they are compiled.

Every model takes `face` (48, 48, 1) float32 in [0, 1] and has named outputs:
`gender` (2-way softmax: male, female) and/or `age` (one ReLU unit, years).
A preset whose age head is a distribution also outputs `age_distribution`
(softmax over ages 0..MAX_AGE), and `age` is then its expected value (a fixed
linear unit, so every tool that reads `age` works unchanged). A preset with an
ethnicity loss trains a third head, `ethnicity`, that only helps the trunk
learn: `inference_copy` leaves it out of what a run saves.
The convolution whose maps feed a head's CAM is named `<head>_last_conv`, or
`last_conv` when the heads share a trunk: `cam_layer_name` finds it.

    model = build_model(get_preset("seed"), "gender")
    compile_model(model, get_preset("seed"), learning_rate=1e-4, total_steps=1000)

A preset with `mixed_precision` trains in bfloat16 where the CPU has
bfloat16 instructions (core.networks.arithmetic); what a run saves is always the
float32 twin (`inference_copy`), so inference and CAMs never depend on the CPU.
"""

from __future__ import annotations

import contextlib
import functools

import keras
import numpy as np
from keras import layers

from core.labels import ETHNICITIES, HEADS_BY_TASK, IMAGE_SIDE, MAX_AGE, ordered_heads
from core.networks.presets import Preset

# The mean age of the shared CSV; the age head starts there instead of at 0 so
# that a few epochs are enough to leave the trivial regime.
DEFAULT_AGE_BIAS = 33.3
# Every age a distribution head gives a probability to.
AGES = np.arange(MAX_AGE + 1, dtype=np.float32)
# Width (years) of the prior the distribution head starts from, around the mean age.
_AGE_PRIOR_SPREAD = 20.0
# Outputs that only shape training; a saved model has none of them.
TRAINING_ONLY_OUTPUTS = ("ethnicity",)
# Every output a model may have beside its heads (core.labels.HEADS).
EXTRA_OUTPUTS = ("age_distribution", *TRAINING_ONLY_OUTPUTS)


def _head(features, head: str, age_bias: float, age_head: str) -> dict:
    """The named output(s) of one head on `features`."""
    # The heads compute in float32 under any policy: in bfloat16 an age near 70 could only move in half-years.
    if head == "gender":
        # Softmax inside the Dense layer (not a separate layer) so CAM tools can linearise it.
        return {"gender": layers.Dense(2, activation="softmax", name="gender", dtype="float32")(features)}
    if head == "ethnicity":
        return {"ethnicity": layers.Dense(len(ETHNICITIES), activation="softmax", name="ethnicity", dtype="float32")(features)}
    if age_head == "distribution":
        # Starts as a broad bump around the mean age, as the regression head starts at it.
        prior = -0.5 * ((AGES - age_bias) / _AGE_PRIOR_SPREAD) ** 2
        distribution = layers.Dense(
            len(AGES),
            activation="softmax",
            name="age_distribution",
            bias_initializer=keras.initializers.Constant(prior),
            dtype="float32",
        )(features)
        # The expected age: a fixed dot product with 0..MAX_AGE (ReLU is a no-op on it, kept so `age` ends as every age head does).
        expected = layers.Dense(
            1,
            activation="relu",
            use_bias=False,
            trainable=False,
            name="age",
            dtype="float32",
            kernel_initializer=keras.initializers.Constant(AGES[:, None]),
        )(distribution)
        return {"age_distribution": distribution, "age": expected}
    return {
        "age": layers.Dense(
            1, activation="relu", name="age", bias_initializer=keras.initializers.Constant(age_bias), dtype="float32"
        )(features)
    }


def _seed_towers(inputs, heads, age_bias: float, recipe: Preset) -> dict:
    """The seed recipe: per head its own tower of three conv blocks, a dense layer and the head."""
    outputs = {}
    for head in heads:
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
        outputs.update(_head(x, head, age_bias, recipe.age_head))
    return outputs


def _compact_trunk(inputs, heads, age_bias: float, recipe: Preset, batchnorm_momentum: float) -> dict:
    """One trunk for both heads (age helps gender): 4 conv blocks, global average pooling, two heads.

    Sized for a CPU: about 54 M multiply-adds per face, a little over the two
    seed towers together (the recipe's width and extra convolutions change that).
    """
    x = inputs
    # (filters, convolutions) per block; the spatial size halves after each of the first three.
    extra = recipe.extra_convolutions
    blocks = ((32, 1), (64, 1), (128, 2 + extra), (256, 1 + extra))
    for block, (base_filters, convolutions) in enumerate(blocks, start=1):
        filters = max(8, round(base_filters * recipe.width))
        for index in range(1, convolutions + 1):
            last = block == len(blocks) and index == convolutions
            name = "last_conv" if last else f"conv{block}_{index}"
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)(x)
            x = layers.BatchNormalization(momentum=batchnorm_momentum, name=f"bn{block}_{index}")(x)
        if block < len(blocks):
            x = layers.MaxPool2D(2, name=f"pool{block}")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dropout(recipe.dropout, name="dropout")(x)
    outputs = {}
    for head in heads:
        features = layers.Dense(128, activation="relu", name=f"{head}_dense")(x)
        outputs.update(_head(features, head, age_bias, recipe.age_head))
    return outputs


ARCHITECTURES = {
    "seed_towers": _seed_towers,
    # Keras's default batch-norm momentum (0.99) leaves the moving statistics
    # near their initial values after a few hundred steps, so a short run
    # predicts at chance at test time; 0.9 (as the seed towers use) settles in
    # about 50 steps.
    "compact_trunk": functools.partial(_compact_trunk, batchnorm_momentum=0.99),
    "compact_trunk_quick_bn": functools.partial(_compact_trunk, batchnorm_momentum=0.9),
}


def build_model(recipe: Preset, task: str, age_bias: float = DEFAULT_AGE_BIAS, dtype_policy: str = "float32") -> keras.Model:
    """A functional model of `recipe`'s architecture for `task` ('gender', 'age' or 'both').

    `dtype_policy` ("float32" or "mixed_bfloat16") applies to every layer but the heads.
    """
    architecture = ARCHITECTURES[recipe.architecture]
    if task not in HEADS_BY_TASK:
        raise ValueError(f"Unknown task {task!r}; choose one of {', '.join(HEADS_BY_TASK)}")
    heads = HEADS_BY_TASK[task] + (("ethnicity",) if recipe.ethnicity_loss_weight > 0 else ())
    with _default_dtype_policy(dtype_policy):
        inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE, 1), name="face")
        return keras.Model(inputs, architecture(inputs, heads, age_bias, recipe), name=f"{recipe.name}_{task}")


@contextlib.contextmanager
def _default_dtype_policy(policy: str):
    """Keras takes a new layer's policy from a process-wide default; this sets it for one model only."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def inference_copy(model: keras.Model) -> keras.Model:
    """The same network with `model`'s weights, computing in float32 and never compiled: what a run saves.

    Not compiled, so the saved file holds no optimizer state (a third of the
    size for Adam) and no bfloat16 arithmetic, whatever training used.
    """

    def in_float32(layer: keras.layers.Layer) -> keras.layers.Layer:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    clone = keras.models.clone_model(model, clone_function=in_float32)
    clone.set_weights(model.get_weights())
    # clone_model compiles the clone like the original; a new model over its layers (and its dict of outputs) is not.
    kept = {name: output for name, output in clone.output.items() if name not in TRAINING_ONLY_OUTPUTS}
    return keras.Model(clone.inputs, kept, name=model.name)


def compile_model(model: keras.Model, recipe: Preset, learning_rate: float, total_steps: int) -> None:
    """Compile with the preset's optimizer, schedule and losses."""
    rate = learning_rate
    if recipe.schedule == "cosine":
        warmup = max(1, total_steps // 20)
        rate = keras.optimizers.schedules.CosineDecay(
            learning_rate / 10, decay_steps=max(1, total_steps - warmup), warmup_target=learning_rate, warmup_steps=warmup
        )
    averaging = {"use_ema": True, "ema_momentum": recipe.ema_momentum} if recipe.ema_momentum > 0 else {}
    if recipe.weight_decay > 0:
        optimizer = keras.optimizers.AdamW(rate, weight_decay=recipe.weight_decay, **averaging)
    else:
        optimizer = keras.optimizers.Adam(rate, **averaging)
    losses = output_losses(recipe)
    outputs = model.output_names
    model.compile(
        optimizer=optimizer,
        loss={name: losses[name][0] for name in outputs},
        loss_weights={name: losses[name][1] for name in outputs},
        metrics={head: {"gender": ["accuracy"], "age": ["mae"]}[head] for head in model_heads(model)},
    )


def output_losses(recipe: Preset) -> dict[str, tuple]:
    """Per output: its loss and that loss's weight beside gender's cross-entropy."""
    return {
        "gender": (keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing), 1.0),
        "age": (recipe.age_loss, recipe.age_loss_weight),
        # DLDL-v2 (Gao et al., 2018): KL divergence to a Gaussian around the true age, beside L1 on the expected age.
        "age_distribution": (keras.losses.KLDivergence(), recipe.age_distribution_weight),
        "ethnicity": (keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing), recipe.ethnicity_loss_weight),
    }


def training_only_loss_weights(model: keras.Model, recipe: Preset) -> dict[str, float]:
    """The loss weights of `model`'s training-only outputs (none for most presets)."""
    losses = output_losses(recipe)
    return {name: losses[name][1] for name in model.output_names if name in TRAINING_ONLY_OUTPUTS}


def model_heads(model: keras.Model) -> tuple[str, ...]:
    """The heads ('gender', 'age') a model predicts, in a fixed order."""
    return ordered_heads(model.output_names)


def cam_layer_name(model: keras.Model, head: str) -> str:
    """Name of the convolution whose maps explain `head`."""
    for name in (f"{head}_last_conv", "last_conv"):
        try:
            model.get_layer(name)
            return name
        except ValueError:
            continue
    raise ValueError(f"Model {model.name!r} has no `{head}_last_conv` or `last_conv` layer")
