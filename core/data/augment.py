"""tf.data input pipelines with the seed's augmentation (rotation, zoom, shift) plus a flip.

Images travel as uint8 and become float32 in [0, 1] per batch; augmentation is
mapped over whole batches (about twice the throughput of per-image mapping)
and only on the training pipeline.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

ROTATION_DEGREES = 10
ZOOM_FRACTION = 0.1
SHIFT_FRACTION = 0.1


def make_augmenter(seed: int, strength: float = 1.0) -> keras.layers.Pipeline:
    """Rotation, zoom and shift `strength` times the seed's (none at 0), then a horizontal flip."""
    geometric = [
        # RandomRotation takes a fraction of a full turn.
        layers.RandomRotation(strength * ROTATION_DEGREES / 360, fill_mode="nearest", seed=seed),
        layers.RandomZoom(strength * ZOOM_FRACTION, fill_mode="nearest", seed=seed + 1),
        layers.RandomTranslation(strength * SHIFT_FRACTION, strength * SHIFT_FRACTION, fill_mode="nearest", seed=seed + 2),
    ]
    flip = layers.RandomFlip("horizontal", seed=seed + 3)
    return keras.layers.Pipeline([*(geometric if strength > 0 else []), flip], name="augmentation")


def make_dataset(
    images: np.ndarray,
    targets: dict[str, np.ndarray],
    batch_size: int,
    training: bool,
    seed: int,
    sample_weights: np.ndarray | None = None,
    teach=None,
    augmentation: float = 1.0,
) -> tf.data.Dataset:
    """Batches of (float images, targets[, sample weights]); shuffled and augmented when `training`.

    One weight per face weighs it in every output's loss (Keras' sample_weight).
    `teach`, (images, targets) -> targets, rewrites each batch's targets after
    augmentation (core.training.distillation: teachers answer the faces as augmented).
    `augmentation`: the strength of the training pipeline's augmentation (make_augmenter).
    """
    parts = (images, targets) if sample_weights is None else (images, targets, sample_weights)
    dataset = tf.data.Dataset.from_tensor_slices(parts)
    if training:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def to_float(batch_images, *rest):
        return tf.cast(batch_images, tf.float32) / 255.0, *rest

    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        augmenter = make_augmenter(seed, augmentation)

        def augment(batch_images, *rest):
            return augmenter(batch_images, training=True), *rest

        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    if teach is not None:

        def taught(batch_images, targets, *rest):
            return batch_images, teach(batch_images, targets), *rest

        dataset = dataset.map(taught, num_parallel_calls=tf.data.AUTOTUNE)
    # tf.data's autotuning thread sleeps up to a minute between rounds, and freeing an epoch's
    # iterator waits for it: about one epoch in two started 40 s late in our benchmarks (a quarter
    # of the training time). Without it, AUTOTUNE means one parallel call per core.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)
