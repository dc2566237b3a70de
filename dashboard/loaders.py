"""Everything the dashboard keeps across reruns and sessions: the one caching module.

    faces, report = load_data(path)          # FaceData + LoadReport, once per file version
    health = load_health(path)               # duplicates and conflicting labels (core.data.health)
    sizes = split_sizes(config)              # how many faces a training's split would hold in each part
    frame = load_predictions(run)            # a run's labelled predictions.csv, or None
    predictor = load_predictor(run_dirs)     # the models of one or two runs (core.inference.photos.FacePredictor)
    maps = heatmaps(run_dirs, "age", "gradcam", crops)  # CAMs of these faces, from a kept Explainer
    figures = study_figures(study, ["combined"])  # a tuning study's plots, drawn again when a trial completes
    photo, picture = predict_upload(run_dirs, data, "report", 0.8)  # an uploaded photo's faces, and the photo with boxes

Caches are keyed by path *and* modification time (and size), so an edited
CSV or a re-evaluated run is read again while an unchanged one costs nothing.
`st.cache_resource` hands out the same object to every session instead of a
pickled copy (`st.cache_data` would copy the 50 MB of faces on each call);
callers must treat what they get as read-only. Models are keyed by run
folder and model.keras modification time, so a retrained model is loaded
again. TensorFlow is imported only when a model is first needed, so pages
that need none stay light.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from core import runs
from core.config import TrainConfig
from core.data.health import HealthReport, health_report
from core.data.loading import FaceData, LoadReport, load_faces
from core.explain.maps import GroupAverage
from core.explain.maps import group_averages as average_groups
from core.paths import studies_dir
from core.training.estimate import split_sizes_for

if TYPE_CHECKING:
    from core.explain.cams import Explainer
    from core.inference.photos import FacePredictor, PhotoPrediction

# (resolved run folder, model.keras and calibration.json mtimes in ns) of each run the models come from.
ModelKey = tuple[tuple[str, int, int], ...]


@st.cache_resource(max_entries=4, show_spinner="Reading and checking the face CSV…")
def _faces(path: str, modified_ns: int, size: int) -> tuple[FaceData, LoadReport]:
    return load_faces(path)


def _file_key(path: str | Path) -> tuple[str, int, int]:
    """(resolved path, modification time, size): what identifies one version of a file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No CSV file at {path}")
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def load_data(path: str | Path) -> tuple[FaceData, LoadReport]:
    """The faces and load report of a CSV.

    Raises:
        FileNotFoundError: there is no file at `path`.
        ValueError: the file is not a usable face CSV (the message says why).
    """
    return _faces(*_file_key(path))


@st.cache_resource(max_entries=4, show_spinner="Looking for duplicate faces (a few seconds)…")
def _health(path: str, modified_ns: int, size: int) -> HealthReport:
    return health_report(_faces(path, modified_ns, size)[0])


def load_health(path: str | Path) -> HealthReport:
    """The data-health report of a CSV (core.data.health), once per file version; raises as `load_data` does."""
    return _health(*_file_key(path))


@st.cache_resource(max_entries=16, show_spinner="Splitting the data as training will (a few seconds)…")
def _split_sizes(path: str, modified_ns: int, size: int, limit: int | None, seed: int, split: str, drop: bool) -> dict:
    config = TrainConfig(csv_path=path, limit=limit, seed=seed, split=split, drop_conflicting=drop)
    return split_sizes_for(config, _faces(path, modified_ns, size)[0])


def split_sizes(config: TrainConfig) -> dict[str, int]:
    """The sizes of `config`'s split (train, val, test), once per file version and sampling settings."""
    return _split_sizes(*_file_key(config.csv_path), config.limit, config.seed, config.split, config.drop_conflicting)


@st.cache_resource(max_entries=32, show_spinner=False)
def _predictions(run_dir: str, modified_ns: int) -> pd.DataFrame:
    return runs.read_predictions(Path(run_dir))


def load_predictions(run: runs.RunInfo) -> pd.DataFrame | None:
    """A run's test-set predictions with labels, age buckets and absolute errors (None if it has none)."""
    try:
        modified_ns = (run.run_dir / runs.PREDICTIONS_FILE).stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _predictions(str(run.run_dir), modified_ns)


def model_key(run_dirs: list[Path]) -> ModelKey:
    """What identifies the models of these runs: each folder and its model's modification time.

    Raises:
        ValueError: a run has no model.keras.
    """
    key = []
    for run_dir in map(Path, run_dirs):
        try:
            modified = (run_dir / runs.MODEL_FILE).stat().st_mtime_ns
        except FileNotFoundError:
            raise ValueError(f"run {run_dir.name} has no {runs.MODEL_FILE}") from None
        # A calibration added later (python -m core calibrate) changes the answers too.
        calibration = run_dir / runs.CALIBRATION_FILE
        key.append((str(run_dir.resolve()), modified, calibration.stat().st_mtime_ns if calibration.is_file() else 0))
    return tuple(key)


@st.cache_resource(max_entries=4, show_spinner="Loading the models…")
def _predictor(key: ModelKey) -> FacePredictor:
    from core.inference.photos import FacePredictor

    return FacePredictor.from_runs([run_dir for run_dir, *_ in key])


def load_predictor(run_dirs: list[Path]) -> FacePredictor:
    """The models of one `both` run or of a gender run and an age run, loaded once.

    Raises:
        ValueError: the runs cannot serve together, or one has no model (the message says why).
    """
    return _predictor(model_key(run_dirs))


@st.cache_resource(show_spinner="Loading the face detector…")
def load_face_detector():
    """MTCNN, built once (2-4 s); core.vision.faces keeps it too, this only shows a spinner the first time."""
    from core.vision.faces import face_detector

    return face_detector()


@st.cache_resource(max_entries=8, show_spinner="Preparing the CAMs…")
def _explainer(key: ModelKey, head: str, _predictor: FacePredictor) -> Explainer:
    """The CAM maker of one head of these models (tf-keras-vis objects), built once; `key` names the models."""
    from core.explain.cams import Explainer

    return Explainer(_predictor.keras_model(head), head)


@st.cache_resource(max_entries=64, show_spinner=False)
def _heatmaps(key: ModelKey, head: str, method: str, faces: np.ndarray) -> np.ndarray:
    return _explainer(key, head, _predictor(key)).heatmaps(faces, method)


def heatmaps(run_dirs: list[Path], head: str, method: str, faces: np.ndarray) -> np.ndarray:
    """(n, 48, 48) CAMs in [0, 1] of (n, 48, 48, 1) uint8 faces; kept, so a rerun does not recompute them."""
    return _heatmaps(model_key(run_dirs), head, method, faces)


# A result holds each face's aligned colour chip at the photo's resolution
# (a few MB for a big face in a phone photo), so fewer are kept, and not for long.
@st.cache_resource(max_entries=32, ttl="1h", show_spinner=False)
def _photo(key: ModelKey, data: bytes, if_no_face: str, level: float) -> tuple[PhotoPrediction, np.ndarray]:
    from core.inference.photos import predict_rgb
    from core.vision.images import load_rgb
    from dashboard.photos import annotated_photo

    rgb = load_rgb(data)  # Decoded once, for the prediction and the drawing.
    photo = predict_rgb(_predictor(key), rgb, if_no_face=if_no_face, level=level)
    return photo, annotated_photo(rgb, photo.faces)


def predict_upload(run_dirs: list[Path], data: bytes, if_no_face: str, level: float) -> tuple[PhotoPrediction, np.ndarray]:
    """An uploaded photo's faces with age (and its interval at `level`) and gender, and the photo with their boxes.

    Kept once per file content and setting.

    Raises:
        ValueError: the file is not a usable image (core.vision.images says why).
    """
    return _photo(model_key(run_dirs), data, if_no_face, level)


@st.cache_resource(max_entries=8, show_spinner=False)
def _export_download(run_dir: str, fmt: str, modified_ns: int) -> tuple[bytes, str] | None:
    from core.inference.export import export_bytes

    return export_bytes(Path(run_dir), fmt)


def export_download(run_dir: Path, fmt: str) -> tuple[bytes, str] | None:
    """A run's export in `fmt` as one file to download, read (and a SavedModel zipped) once per export; None before one exists."""
    from core.inference.export import export_path

    path = export_path(run_dir, fmt)
    if not path.exists():
        return None
    return _export_download(str(run_dir), fmt, path.stat().st_mtime_ns)


@st.cache_resource(max_entries=16, show_spinner="Averaging maps over a sample of test faces…")
def _group_averages(
    key: ModelKey, head: str, method: str, data_hash: str, groups: tuple[tuple[str, tuple[int, ...]], ...], _images: np.ndarray
) -> list[GroupAverage]:
    explainer = _explainer(key, head, _predictor(key))
    return average_groups(explainer, _images, {label: np.array(rows) for label, rows in groups}, method)


def group_averages(
    run: runs.RunInfo, head: str, method: str, faces: FaceData, groups: dict[str, np.ndarray]
) -> list[GroupAverage]:
    """The mean face and mean map of each group of a run's test faces (core.explain.maps.group_averages), kept."""
    frozen_groups = tuple((label, tuple(int(row_id) for row_id in rows)) for label, rows in groups.items())
    # The faces are a CSV's rows; its hash (checked against the run's by the page) keys them.
    return _group_averages(model_key([run.run_dir]), head, method, run.config.data_hash or "", frozen_groups, faces.images)


@st.cache_resource(max_entries=8, show_spinner=False)
def _study_figures(where: str, name: str, complete: tuple, objective_names: tuple[str, ...], _study) -> dict:
    from dashboard.figures import study_figures as draw

    return draw(_study, list(objective_names))


def study_figures(study, objective_names: list[str]) -> dict:
    """The Tune page's plots of an Optuna study (dashboard.figures.study_figures), drawn again only when a trial completes."""
    complete = tuple(
        (trial.number, tuple(trial.values)) for trial in study.get_trials(deepcopy=False) if trial.state.name == "COMPLETE"
    )
    return _study_figures(str(studies_dir()), study.study_name, complete, tuple(objective_names), study)
