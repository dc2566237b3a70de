"""Batch inference on the CPU: a trained model quantized to int8 and run by OpenVINO.

Keras runs the default network at about 1,000 faces/s on a 2-core CPU.
OpenVINO runs the same network with its convolutions in int8 (AVX-512 VNNI
where the CPU has it) and one inference stream per core at about 6,000 faces/s.
Test accuracy and MAE stay within seed noise of the float model's
(docs/experiments.md). NNCF, OpenVINO's own quantizer, sets the int8 ranges
from a sample of training faces; it also corrects the biases that rounding
shifts, which a hand-written quantizer would not.

    save_int8(model, faces.as_float(seeded_sample(split.train, CALIBRATION_FACES, seed)), run_dir / runs.INT8_MODEL_FILE)
    Predictor(Int8Model(run_dir / runs.INT8_MODEL_FILE), flip_test_time=True).predict(images)   # core.inference.predictor
    # -> {"gender": P(female) (n,), "age": years (n,)}
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import openvino as ov

# Faces of every age and group; quantizing with a thousand takes about 3 s on 2 cores.
CALIBRATION_FACES = 1000
# With two requests per stream, batches of 64 ran fastest of 64, 128 and 256 (docs/experiments.md).
BATCH_SIZE = 64


@contextlib.contextmanager
def _native_instruction_set():
    """OpenVINO's CPU plugin with all of this CPU's instructions, whatever ONEDNN_MAX_CPU_ISA says.

    ONEDNN_MAX_CPU_ISA caps TensorFlow's oneDNN so that this machine can train and be timed as
    a CPU without bfloat16 would (core.networks.arithmetic). OpenVINO's plugin carries its own
    oneDNN, which reads the same variable once, when it first runs: capped, it picks kernels for
    the instructions it detects and then cannot build them (the age head's dense layer fails to
    run). Inference is not what the cap is there to time, so OpenVINO never sees it.
    """
    capped = os.environ.pop("ONEDNN_MAX_CPU_ISA", None)
    try:
        yield
    finally:
        if capped is not None:
            os.environ["ONEDNN_MAX_CPU_ISA"] = capped


def save_int8(model: keras.Model, calibration_images: np.ndarray, path: Path) -> None:
    """Quantize `model` to int8 with ranges from `calibration_images` and write it to `path` (.xml, beside it .bin).

    The .bin is moved into place before the .xml, so whoever finds the .xml finds its weights.
    """
    # Imported here: only training quantizes, and NNCF takes a third of a second to import.
    import nncf

    # NNCF logs and draws progress bars on stdout, where the CLI's last line must be its JSON
    # result: its notes are silenced, and its progress bars go to stderr.
    nncf.set_log_level(logging.ERROR)
    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch, _native_instruction_set():
        exported = Path(scratch) / "float.xml"
        model.export(str(exported), format="openvino", verbose=False)
        float_model = ov.Core().read_model(exported)
        faces = nncf.Dataset([calibration_images[index : index + 1] for index in range(len(calibration_images))])
        with contextlib.redirect_stdout(sys.stderr):
            quantized = nncf.quantize(
                float_model,
                faces,
                # Asymmetric ranges for activations: symmetric ones (NNCF's default) cost about 0.3 years of MAE.
                preset=nncf.QuantizationPreset.MIXED,
                # The dense layers stay float32: they are a sliver of the work, and int8 inputs to the
                # age head cost up to 0.2 years of MAE, most of it on the oldest faces.
                ignored_scope=nncf.IgnoredScope(types=["MatMul"]),
                subset_size=len(calibration_images),
            )
        staged = Path(scratch) / "int8.xml"
        ov.save_model(quantized, staged, compress_to_fp16=False)
        os.replace(staged.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(staged, path)


class Int8Model:
    """An int8 model compiled for this CPU's cores, run on batches of faces: a back-end of core.inference.predictor."""

    def __init__(self, path: Path):
        path = Path(path)
        if not path.is_file() or not path.with_suffix(".bin").is_file():
            raise FileNotFoundError(f"no int8 model at {path} (the .xml and its .bin are both needed)")
        # THROUGHPUT: one stream per core, so two batches run at once on a 2-core CPU.
        with _native_instruction_set():
            self._compiled = ov.Core().compile_model(path, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
        self._outputs = [output.get_any_name() for output in self._compiled.outputs]
        # Two requests per stream, started in turn and each refilled as soon as its batch is
        # collected, so a stream always has its next batch waiting (about 6 % more faces/s than
        # running the streams' batches in lockstep). Not OpenVINO's AsyncInferQueue: with a Python
        # callback it made about one process in three that had also loaded TensorFlow abort at exit
        # ("Resource deadlock avoided").
        count = 2 * self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        self._requests = [self._compiled.create_infer_request() for _ in range(count)]

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(self._outputs)

    def run(self, passes: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Raw outputs for each array in `passes`, batch by batch through the requests in turn.

        All passes go through one queue of batches, so the streams never wait between them.
        """
        jobs = [(which, start) for which, images in enumerate(passes) for start in range(0, len(images), BATCH_SIZE)]
        collected: list[list[dict[str, np.ndarray]]] = [[] for _ in passes]
        count = len(self._requests)
        # Job i runs on request i % count. Step i first collects job i - count from that request
        # (so batches are collected in order), then starts job i on it.
        for index in range(len(jobs) + count):
            request = self._requests[index % count]
            if index >= count:
                request.wait()
                collected[jobs[index - count][0]].append(
                    {name: request.get_output_tensor(position).data.copy() for position, name in enumerate(self._outputs)}
                )
            if index < len(jobs):
                which, start = jobs[index]
                request.start_async({0: passes[which][start : start + BATCH_SIZE]})
        return [
            {name: self._concatenate([batch[name] for batch in batches], name) for name in self._outputs} for batches in collected
        ]

    def _concatenate(self, parts: list[np.ndarray], name: str) -> np.ndarray:
        if parts:
            return np.concatenate(parts)
        width = self._compiled.output(name).get_partial_shape()[1].get_length()
        return np.empty((0, width), dtype=np.float32)
