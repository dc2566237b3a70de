"""Streamlit pieces several pages share: the chosen CSV and run, guards that explain what to do, face grids.

Session state shared between pages lives under the keys below, and only here:
the CSV chosen on the Data page (used by Train), the run last looked at
(used by Predictions, Errors and Explain), the faces chosen on the
Predictions and Errors pages for the Explain page, and the preset the Tune
page hands to the Train page.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from core import runs
from core.data.loading import FaceData, LoadReport
from core.labels import ETHNICITIES, GENDERS
from core.paths import cache_dir, default_csv_path
from dashboard import launcher, loaders
from dashboard.selection import FaceFilter
from dashboard.tables import run_state

logger = logging.getLogger(__name__)

CSV_KEY = "chosen_csv"
RUN_KEY = "chosen_run"
UPLOAD_KEY = "stored_upload"
CHOSEN_FACES_KEY = "chosen_faces"
# The run the Train page shows (its live panel while it trains); the Runs page's Resume sets it too.
WATCHED_TRAINING_KEY = "watched_training"
# A preset name the Tune page hands to the Train page ("Train with these settings"); the Train page takes it once.
HANDED_PRESET_KEY = "handed_preset"
# The Explain page shows this many chosen faces at most, the latest first.
MAX_CHOSEN_FACES = 12
DATA_PAGE = "app_pages/data.py"
TRAIN_PAGE = "app_pages/train.py"
EXPLAIN_PAGE = "app_pages/explain.py"
PREDICT_PAGE = "app_pages/predict.py"
ERRORS_PAGE = "app_pages/errors.py"
TUNE_PAGE = "app_pages/tune.py"


def unexpected_error(error: Exception) -> None:
    """What a page shows instead of a traceback when something nobody foresaw went wrong; the details go to the server's log.

    With AGEGENDER_RAISE_ERRORS=1 (the test suite sets it) the error is raised instead, so tests see it.
    """
    if os.environ.get("AGEGENDER_RAISE_ERRORS") == "1":
        raise error
    logger.exception("Unexpected error on a dashboard page")
    st.error(
        f"Something went wrong on this page: {type(error).__name__}: {error}. Reload the page to try again; if it happens "
        "again, choose another data file on the Data page or another run, and see the server's log for the details.",
        icon=":material/error:",
    )


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def years(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} years"


def chosen_csv() -> Path:
    """The CSV this session works with: the Data page's choice, else the default."""
    return Path(st.session_state.get(CSV_KEY) or default_csv_path())


def choose_csv(path: str | Path) -> None:
    st.session_state[CSV_KEY] = str(Path(path).expanduser())


def save_upload(upload) -> Path:
    """Write an uploaded file to disk, once per upload, and return its path.

    `core.data.loading.load_faces`, the importer and the training process read files,
    not buffers, and runs remember the path, so uploads are kept in the
    (git-ignored) cache folder, `.cache/uploads/` by default, rather than a
    temp folder that a reboot empties.
    """
    path = cache_dir() / "uploads" / upload.file_id / (Path(upload.name).name or "upload")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(upload.getbuffer())
    return path


def store_upload(upload) -> Path:
    """Save an uploaded CSV (once per upload) and make it the chosen CSV."""
    stored = st.session_state.get(UPLOAD_KEY)
    if stored and stored["file_id"] == upload.file_id:
        return Path(stored["path"])
    path = save_upload(upload)
    st.session_state[UPLOAD_KEY] = {"file_id": upload.file_id, "path": str(path)}
    choose_csv(path)
    return path


def resume_and_watch(run: runs.RunInfo) -> bool:
    """Resume a run in the background and make the Train page watch it; False after saying why it could not."""
    try:
        launcher.resume_training(run.run_dir)
    except ValueError as error:  # Another training runs, or the run cannot go on: the message says which.
        st.error(str(error), icon=":material/error:")
        return False
    st.session_state[WATCHED_TRAINING_KEY] = str(run.run_dir)
    return True


def hand_preset_to_train_page(name: str) -> None:
    """Make the Train page choose preset `name` (and its defaults) the next time it opens."""
    st.session_state[HANDED_PRESET_KEY] = name


def take_handed_preset() -> str | None:
    """The preset name handed to the Train page, once (None when there is none)."""
    return st.session_state.pop(HANDED_PRESET_KEY, None)


def chosen_faces() -> list[int]:
    """Row ids of the faces chosen for the Explain page, latest first."""
    return list(st.session_state.get(CHOSEN_FACES_KEY, []))


def choose_faces(row_ids: list[int]) -> None:
    """Put these faces first among the chosen ones (each once, at most MAX_CHOSEN_FACES kept)."""
    latest = [int(row_id) for row_id in row_ids] + chosen_faces()
    st.session_state[CHOSEN_FACES_KEY] = list(dict.fromkeys(latest))[:MAX_CHOSEN_FACES]


def forget_chosen_faces() -> None:
    st.session_state[CHOSEN_FACES_KEY] = []


def explain_missing_data(path: Path) -> None:
    st.info(
        f"No face CSV at `{path}`. Put the CSV (columns age, ethnicity, gender, img_name, pixels; "
        "plain or .gz) at `data/age_gender.csv` or `data/age_gender.csv.gz`, start the app with "
        "`AGEGENDER_CSV=/path/to/file`, or type a path or upload a file on the Data page.",
        icon=":material/folder_open:",
    )


def load_data_or_explain(path: Path) -> tuple[FaceData, LoadReport] | None:
    """The faces of `path`, or None after telling the user what is wrong and what to do."""
    try:
        return loaders.load_data(path)
    except FileNotFoundError:
        explain_missing_data(path)
    except ValueError as error:
        st.error(f"Cannot use `{path}`: {error}", icon=":material/error:")
    return None


def describe_run(run: runs.RunInfo) -> str:
    parts = ["Starter model (ships with the studio)" if run.is_starter else run.run_id, run_state(run)]
    test = run.metrics.test if run.metrics else None
    if test is not None and test.accuracy is not None:
        parts.append(f"accuracy {percent(test.accuracy)}")
    if test is not None and test.mae is not None:
        parts.append(f"MAE {test.mae:.2f}")
    return " · ".join(parts)


def no_run_yet(what: str) -> None:
    st.info(
        f"No finished run with test predictions yet, so there is no {what} to show. Train a model on the Train page first.",
        icon=":material/info:",
    )
    st.page_link(TRAIN_PAGE, label="Go to the Train page", icon=":material/model_training:")


def pick_run(what: str) -> runs.RunInfo | None:
    """A run with test predictions, chosen by the user; remembered across pages."""
    candidates = [run for run in runs.available_runs() if (run.run_dir / runs.PREDICTIONS_FILE).is_file()]
    if not candidates:
        no_run_yet(what)
        return None
    by_id = {run.run_id: run for run in candidates}
    remembered = st.session_state.get(RUN_KEY)
    ids = list(by_id)
    chosen = st.selectbox(
        "Run",
        ids,
        index=ids.index(remembered) if remembered in by_id else 0,
        format_func=lambda run_id: describe_run(by_id[run_id]),
    )
    st.session_state[RUN_KEY] = chosen
    return by_id[chosen]


def run_predictions_or_explain(run: runs.RunInfo) -> pd.DataFrame | None:
    """A run's labelled test predictions, or None after saying why they cannot be read."""
    try:
        return loaders.load_predictions(run)
    except ValueError as error:  # pandas' parser errors are ValueErrors too.
        st.error(f"Cannot read the predictions of run {run.run_id}: {error}", icon=":material/error:")
        return None


def pick_run_with_predictions(what: str) -> tuple[runs.RunInfo, pd.DataFrame]:
    """The chosen run and its test predictions; stops the page after explaining when there are none."""
    run = pick_run(what)
    if run is None:
        st.stop()
    frame = run_predictions_or_explain(run)
    if frame is None:
        st.stop()
    return run, frame


def run_faces_or_explain(run: runs.RunInfo) -> FaceData | None:
    """The faces a run's row ids point at, or None after explaining why they cannot be shown.

    A run's row ids are positions in the exact file it was trained on, so the
    faces come from the CSV in use, or else from the run's own file (or the
    default CSV), only if that file has the run's content hash.
    """
    trained_on = Path(run.config.train.csv_path)
    try:
        return runs.load_run_faces(run, first=chosen_csv(), load=loaders.load_data)[0]
    except ValueError:
        pass  # Said below, in the page's words.
    st.info(
        f"The faces of run {run.run_id} belong to a different file: it was trained on `{trained_on.name}` "
        f"(content hash `{run.config.data_hash}`), and neither the CSV in use (`{chosen_csv()}`) nor a file at "
        f"`{trained_on}` is that file. Choose it on the Data page to see the faces; the numbers below need no faces.",
        icon=":material/image_not_supported:",
    )
    return None


def slice_controls(key: str, max_age: int) -> FaceFilter:
    """Age range, gender and ethnicity selectors side by side; empty selectors mean 'all'."""
    age_column, gender_column, ethnicity_column = st.columns([2, 1, 1])
    low, high = age_column.slider("True age (years)", 0, max_age, (0, max_age), key=f"{key}-age")
    genders = gender_column.multiselect("Gender", list(GENDERS), format_func=GENDERS.get, key=f"{key}-gender", placeholder="all")
    ethnicities = ethnicity_column.multiselect(
        "Ethnicity", list(ETHNICITIES), format_func=ETHNICITIES.get, key=f"{key}-ethnicity", placeholder="all"
    )
    return FaceFilter(
        age_range=None if (low, high) == (0, max_age) else (low, high),
        genders=tuple(genders) or None,
        ethnicities=tuple(ethnicities) or None,
    )


def face_strip(images: np.ndarray, captions: list[str]) -> None:
    """Faces in a wrapping row, no interaction: one element however many faces."""
    if len(images):
        st.image([image[:, :, 0] for image in images], caption=captions, width=96)


def face_grid(images: np.ndarray, captions: list[str], button_keys: list[str], columns: int = 8) -> int | None:
    """Faces in a grid, each with a Details button; returns the position whose button was pressed."""
    pressed = None
    for start in range(0, len(images), columns):
        cells = st.columns(columns)
        for offset in range(min(columns, len(images) - start)):
            position = start + offset
            with cells[offset]:
                st.image(images[position][:, :, 0], caption=captions[position], width="stretch")
                if st.button("Details", key=button_keys[position], width="stretch", type="tertiary"):
                    pressed = position
    return pressed


def damage_text(error: runs.RunFileError) -> str:
    """A damaged run's file and fault, for lists that name the run beside it."""
    return f"{error.path.name}: {error.fault}"


def sidebar_status() -> None:
    """Which CSV this session uses, which training (if any) runs on this machine, and which runs are damaged."""
    with st.sidebar:
        st.caption(f"Data: `{chosen_csv()}`")
        active = runs.active_run()
        if active is not None:
            st.caption(f":material/directions_run: Training now: `{active.run_id}`")
        damaged = runs.damaged_runs()
        if damaged:
            st.warning(
                "**Damaged runs**, left out of every list until mended or deleted (Runs page):\n"
                + "\n".join(f"- `{error.path.parent.name}`: {damage_text(error)}" for error in damaged),
                icon=":material/broken_image:",
            )
