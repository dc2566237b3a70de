"""One way to predict: a run's model answering for faces, its flip averaging decided once, from the run's preset.

    predictor = Predictor.for_run(run)                    # the int8 copy where the run has one, else its Keras model
    predictor = Predictor.for_run(run, backend="keras")   # the float model (a photo's few faces: no compile, ~2 ms)
    predictor.predict(images)                             # {"gender": P(female) (n,), "age": years (n,)}, uncalibrated

`images` are float faces (n, 48, 48, 1) in [0, 1]. A back-end turns a list of
such arrays ("passes": the faces, and their mirror images when the preset
flips) into the model's raw outputs; `Predictor` averages the passes and picks
each head's value. Evaluation, calibration, training's own scoring, photos,
the command line and the dashboard all predict through this class.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from core import runs
from core.labels import ordered_heads

# Which column of a head's raw output is its answer: gender is (P(male), P(female)); age is (years,).
_ANSWER_COLUMN = {"gender": 1, "age": 0}
BACKENDS = ("int8", "keras")


class Backend(Protocol):
    """A model that runs: its raw outputs by name for each array of faces (`Predictor` hands it contiguous float32)."""

    @property
    def output_names(self) -> tuple[str, ...]: ...

    def run(self, passes: list[np.ndarray]) -> list[dict[str, np.ndarray]]: ...


class KerasModel:
    """A Keras model as a back-end, traced once into one graph: ~2 ms a call instead of ~20 ms eagerly."""

    def __init__(self, model, batch_size: int = 512):
        import tensorflow as tf

        self.model = model
        self.batch_size = batch_size
        self._graph = tf.function(model, reduce_retracing=True)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self.model.output_names)

    def run(self, passes: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        return [self._run_one(images) for images in passes]

    def _run_one(self, images: np.ndarray) -> dict[str, np.ndarray]:
        if not len(images):  # Batch norm cannot run an empty batch; every output keeps its width, (0, 2) for gender, say.
            return {name: np.empty((0, self.model.output[name].shape[-1]), np.float32) for name in self.output_names}
        batches = [
            self._graph(images[start : start + self.batch_size], training=False)
            for start in range(0, len(images), self.batch_size)
        ]
        return {name: np.concatenate([np.asarray(batch[name]) for batch in batches]) for name in self.output_names}


def mirror(images: np.ndarray) -> np.ndarray:
    """The faces flipped left to right, (n, 48, 48, 1) like the input."""
    return np.ascontiguousarray(np.asarray(images)[:, :, ::-1])


def head_values(outputs: dict, mirrored: dict | None = None) -> dict[str, np.ndarray]:
    """`gender` P(female) and/or `age` in years, (n,) each, from a model's raw outputs.

    `mirrored`, the outputs for the mirrored faces, is averaged in when given.
    """
    result = {}
    for head in ordered_heads(outputs):
        values = np.asarray(outputs[head])[:, _ANSWER_COLUMN[head]]
        if mirrored is not None:
            values = (values + np.asarray(mirrored[head])[:, _ANSWER_COLUMN[head]]) / 2
        result[head] = values
    return result


@dataclasses.dataclass(frozen=True)
class Predictor:
    """A back-end and whether each answer is averaged with the mirrored face's (flip test-time augmentation)."""

    backend: Backend
    flip_test_time: bool = False
    # Why the back-end is not the one asked for (a damaged int8 copy, say); None when it is.
    note: str | None = None

    @classmethod
    def for_run(cls, run: runs.RunInfo, backend: str = "int8") -> Predictor:
        """The run's model with its preset's flip averaging: the one place that decision is made.

        `backend="int8"` uses the run's int8 copy (what training scored the
        test split with), or its Keras model for runs made before int8 copies
        were saved; `"keras"` always the Keras model.
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        int8_path = run.run_dir / runs.INT8_MODEL_FILE
        flip = run.config.train.preset.flip_test_time
        if backend == "int8" and int8_path.is_file():
            from core.inference.int8 import Int8Model  # OpenVINO loads only for batch work.

            try:
                return cls(Int8Model(int8_path), flip)
            except Exception as error:  # OpenVINO raises RuntimeError (and others) on a damaged .xml or .bin.
                damage = runs.RunFileError(int8_path, f"OpenVINO could not load it ({type(error).__name__})")
            try:
                return cls(KerasModel(run.load_model()), flip, note=f"{damage}; used the Keras model {runs.MODEL_FILE} instead")
            except runs.RunFileError as keras_damage:
                raise runs.RunFileError(int8_path, f"{damage.fault}, and {keras_damage}") from None
        return cls(KerasModel(run.load_model()), flip)

    @property
    def heads(self) -> tuple[str, ...]:
        return ordered_heads(self.backend.output_names)

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """`gender` P(female) and/or `age` in years, (n,) each, for float faces (n, 48, 48, 1)."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        # Both passes go to the back-end at once, so the int8 one keeps its streams busy across them.
        outputs = self.backend.run([images, mirror(images)] if self.flip_test_time else [images])
        return head_values(outputs[0], outputs[1] if self.flip_test_time else None)
