"""Everything the dashboard keeps across reruns and sessions: the one caching module.

    faces, report = load_data(path)          # FaceData + LoadReport, once per file version
    frame = load_predictions(run)            # a run's labelled predictions.csv, or None

Caches are keyed by path *and* modification time (and size), so an edited
CSV or a re-evaluated run is read again while an unchanged one costs nothing.
`st.cache_resource` hands out the same object to every session instead of a
pickled copy (`st.cache_data` would copy the 50 MB of faces on each call);
callers must treat what they get as read-only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core import runs
from core.data import FaceData, LoadReport, load_faces
from dashboard.tables import label_predictions


@st.cache_resource(max_entries=4, show_spinner="Reading and checking the face CSV…")
def _faces(path: str, modified_ns: int, size: int) -> tuple[FaceData, LoadReport]:
    return load_faces(path)


def load_data(path: str | Path) -> tuple[FaceData, LoadReport]:
    """The faces and load report of a CSV.

    Raises:
        FileNotFoundError: there is no file at `path`.
        ValueError: the file is not a usable face CSV (the message says why).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"No CSV file at {path}")
    stat = path.stat()
    return _faces(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@st.cache_resource(max_entries=32, show_spinner=False)
def _predictions(path: str, modified_ns: int) -> pd.DataFrame:
    return label_predictions(pd.read_csv(path))


def load_predictions(run: runs.RunInfo) -> pd.DataFrame | None:
    """A run's test-set predictions with labels, age buckets and absolute errors (None if it has none)."""
    path = run.run_dir / runs.PREDICTIONS_FILE
    try:
        modified_ns = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _predictions(str(path), modified_ns)
