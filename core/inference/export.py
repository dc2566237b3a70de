"""Take a run's model out of the studio, as ONNX, LiteRT or a TensorFlow SavedModel, with a parity check.

    export_run("runs/<run_id>", "onnx")          # Export: runs/<run_id>/export/model.onnx, and the differences found
    export_bytes("runs/<run_id>", "onnx")        # the file (a folder zipped) to download, once exported

Every export is checked at once: the exported model, run by its own runtime
(onnxruntime, the LiteRT interpreter, TensorFlow), and Keras answer the same
256 test faces of the run, P(female) within 1e-4 and the age within 0.01
years; an export that differs more is deleted and a ValueError says by how much.

The converters are Keras' own `model.export` (tf2onnx for ONNX, TensorFlow's
LiteRT converter). What is exported is the network: its raw outputs (gender
softmax, age in years), without the preset's flip averaging or the run's
calibration, which a caller applies as core.inference.predictor and core.evaluation.calibration do.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path

import numpy as np

from core import runs
from core.data.sampling import seeded_sample
from core.inference.predictor import head_values
from core.labels import MAX_AGE

# Format -> (file or folder in the run's export/ folder, Keras' name for the format).
FORMATS = {"onnx": ("model.onnx", "onnx"), "litert": ("model.tflite", "litert"), "saved_model": ("saved_model", "tf_saved_model")}
PARITY_FACES = 256
TOLERANCES = {"gender": 1e-4, "age": 0.01}  # P(female); years


@dataclasses.dataclass(frozen=True)
class Export:
    format: str
    path: Path
    faces: int
    max_difference: dict[str, float]  # head -> largest |exported - Keras| over the faces

    def to_json(self) -> dict:
        return {"format": self.format, "path": str(self.path), "parity_faces": self.faces, "max_difference": self.max_difference,
                "tolerance": {head: TOLERANCES[head] for head in self.max_difference}}  # fmt: skip


def export_path(run_dir: Path, fmt: str) -> Path:
    return Path(run_dir) / runs.EXPORT_DIR / FORMATS[fmt][0]


def export_run(run_dir: Path, fmt: str) -> Export:
    """Export a run's model in `fmt` beside the run and check it against Keras on test faces.

    Raises:
        ValueError: an unknown format, a run without a model or without its data, or a failed parity check.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    run = runs.load_run(run_dir)
    model = run.load_model()
    faces, _ = runs.load_run_faces(run)
    rows = seeded_sample(runs.read_split(run.run_dir).test, PARITY_FACES, seed=0)
    images = faces.as_float(rows)
    path = export_path(run.run_dir, fmt)
    path.parent.mkdir(exist_ok=True)
    runs.remove(path)
    expected = head_values(model.predict(images, verbose=0))  # Also "calls" the loaded model, as the ONNX export needs.
    model.export(str(path), format=FORMATS[fmt][1], verbose=False)
    exported = head_values(_run_exported(path, fmt, images))
    differences = {head: float(np.max(np.abs(exported[head] - expected[head]))) for head in expected}
    failed = {head: difference for head, difference in differences.items() if difference > TOLERANCES[head]}
    if failed:
        runs.remove(path)
        raise ValueError(
            f"the {fmt} export differs from Keras by {failed} on {len(rows)} test faces (tolerance {TOLERANCES}); removed it"
        )
    return Export(fmt, path, len(rows), differences)


def export_bytes(run_dir: Path, fmt: str) -> tuple[bytes, str] | None:
    """A run's export in `fmt` as one file to download (a SavedModel folder zipped) and its name; None before one was made."""
    path = export_path(run_dir, fmt)
    if not path.exists():
        return None
    if path.is_file():
        return path.read_bytes(), f"{Path(run_dir).name}-{path.name}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                archive.write(file, Path(path.name) / file.relative_to(path))
    return buffer.getvalue(), f"{Path(run_dir).name}-{path.name}.zip"


def _run_exported(path: Path, fmt: str, images: np.ndarray) -> dict[str, np.ndarray]:
    """Raw outputs of an exported model, by head, each (n, width) like Keras' dict of outputs."""
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outputs = session.run(None, {session.get_inputs()[0].name: images})
    elif fmt == "litert":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(model_path=str(path)).get_signature_runner()
        (input_name,) = runner.get_input_details()
        outputs = list(runner(**{input_name: images}).values())
    else:
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # Kept in a name: the endpoint needs its variables alive.
        # The endpoint takes the model's inputs as a list, as the functional model was built.
        outputs = loaded.serve([tf.constant(images)])
        outputs = list(outputs.values()) if isinstance(outputs, dict) else list(outputs)
    return _by_head([np.asarray(output) for output in outputs])


def _by_head(outputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Name outputs by their width: gender gives two columns (P(male), P(female)), age one, an age distribution one per age."""
    heads = {2: "gender", 1: "age", MAX_AGE + 1: "age_distribution"}
    named = {heads.get(output.shape[-1]): output.reshape(len(output), -1) for output in outputs}
    if None in named or len(named) != len(outputs):
        raise ValueError(f"cannot tell the heads apart in outputs of shapes {[output.shape for output in outputs]}")
    return named
