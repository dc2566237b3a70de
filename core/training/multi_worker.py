"""Training on several hosts (MultiWorkerMirroredStrategy) with Keras 3's `fit`, which does not run there as released.

    strategy = multi_worker_strategy()          # reads the cluster from TF_CONFIG; call before any TensorFlow work
    build_before_fit(model, strategy, train_data)

Keras 3.15's `fit` fails under MultiWorkerMirroredStrategy in two places
(keras-team/keras#20585, open): it builds the model by averaging the first
batch over all replicas ("Attempt to convert a value (PerReplica...) to a
Tensor"), and it averages each step's logs across workers along axis 0,
which scalar losses and metrics do not have ("Invalid reduction dimension 0
for input with 0 dimensions"). Both are worked around here, for this
strategy only: the model is built from one local batch before `fit`, and the
step logs of a multi-worker strategy are averaged as scalars. Everything
else (gradients, optimizer, checkpoints) is Keras' and TensorFlow's own.
Checked with keras==3.15.1, the version requirements.txt pins.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

_keras_reduce_per_replica = keras_tf_trainer.reduce_per_replica


def _reduce_per_replica(values, strategy, reduction):
    """Keras' reduction of per-replica step results, with scalars averaged across workers without an axis."""
    if keras_tf_trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean"):
        return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
    return _keras_reduce_per_replica(values, strategy, reduction)


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The strategy for the cluster TF_CONFIG describes, with Keras' step reduction made to work across workers."""
    keras_tf_trainer.reduce_per_replica = _reduce_per_replica
    return tf.distribute.MultiWorkerMirroredStrategy()


def build_before_fit(model: keras.Model, strategy, train_data: tf.data.Dataset) -> None:
    """Build the model's training state from one local batch inside the strategy's scope; `fit` then skips its own build."""
    with strategy.scope():
        model._symbolic_build(data_batch=next(iter(train_data)))
    model._maybe_symbolic_build = lambda *args, **kwargs: None
