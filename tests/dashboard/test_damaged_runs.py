"""A runs folder with one good run beside copies of it, each with one file damaged: every page still works (AppTest).

Each damaged run is named, with its file and fault, and left out of every
list of runs; the good run stays usable everywhere; no page shows an
exception or the generic "Something went wrong" box.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from core import runs
from tests.conftest import SHIPPED_STARTER
from tests.damaged_runs import DAMAGES, GOOD_RUN, INT8_DAMAGED, damaged_runs_folder, run_name
from tests.dashboard_apptest import button, images_shown, metric_values, open_page, texts
from tests.image_kinds import encode, framed

PAGES = ("home", "data", "train", "runs", "predictions", "errors", "predict", "explain")
GOOD_RUNS = (run_name(INT8_DAMAGED), GOOD_RUN)


@pytest.fixture(scope="module")
def damaged_folder(tmp_path_factory) -> Path:
    """The shipped starter run as the good run, and a copy of it per damage."""
    return damaged_runs_folder(tmp_path_factory.mktemp("damaged") / "runs", SHIPPED_STARTER)


@pytest.fixture
def with_damaged_runs(damaged_folder, monkeypatch, shared_csv) -> Path:
    monkeypatch.setenv("AGEGENDER_RUNS", str(damaged_folder))
    monkeypatch.setenv("AGEGENDER_CSV", str(shared_csv))
    monkeypatch.delenv("AGEGENDER_RAISE_ERRORS")  # As users run it: a page's fallback box would show, not raise.
    return damaged_folder


def assert_no_generic_box(app) -> None:
    assert not app.exception, [error.value for error in app.exception]
    generic = [message for message in texts(app, "error") if message.startswith("Something went wrong")]
    assert not generic, generic


def assert_damaged_runs_named(app) -> None:
    """The sidebar names every damaged run with its file and fault, and none of the good ones."""
    (notice,) = [warning.value for warning in app.sidebar.warning]
    for damage, spoiled in DAMAGES.items():
        assert f"`{run_name(damage)}`: {spoiled.file}: " in notice, damage
    assert not any(run in notice for run in GOOD_RUNS)


def offered(selectbox) -> list[str]:
    """The run ids a run selector offers (its options read "run id · state · metrics")."""
    return [option.split(" · ")[0] for option in selectbox.options]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_names_the_damaged_runs_and_shows_no_error_box(with_damaged_runs, page):
    app = open_page(page)
    assert_no_generic_box(app)
    assert_damaged_runs_named(app)


def test_home_proposes_a_good_run(with_damaged_runs):
    app = open_page("home")
    (models,) = [message for message in texts(app, "success") if message.startswith("**Models:**")]
    assert run_name(INT8_DAMAGED) in models, "the newest usable run; damaged runs are not proposed"


def test_train_page_offers_its_start(with_damaged_runs):
    app = open_page("train")
    assert not button(app, "Start training").disabled


def test_runs_page_lists_each_damaged_run_as_damaged_with_its_file_and_every_good_run(with_damaged_runs):
    app = open_page("runs")
    table = app.dataframe[0].value.set_index("run")
    for run in GOOD_RUNS:
        assert table.loc[run, "status"] == "completed" and pd.isna(table.loc[run, "problem"])
    for damage, spoiled in DAMAGES.items():
        assert table.loc[run_name(damage), "status"] == "damaged"
        assert table.loc[run_name(damage), "problem"].startswith(f"{spoiled.file}: ")
    assert run_name("status-a-list") in app.selectbox(key="delete-run").options, "a damaged run can be deleted"


def test_result_pages_work_on_the_good_run(with_damaged_runs):
    app = open_page("predictions")
    assert offered(app.selectbox[0]) == list(GOOD_RUNS), "only the good runs are offered"
    assert images_shown(app) == 48
    app = open_page("errors")
    assert metric_values(app)["Test faces"] == "4,273"


def test_predict_page_predicts_a_photo_with_the_good_run(with_damaged_runs, shared_faces):
    app = open_page("predict")
    assert offered(app.selectbox(key="predict-both-run")) == list(GOOD_RUNS)
    photo = encode(framed(Image.open(min(shared_faces.glob("*.jpg"))).convert("RGB")), "JPEG", quality=92)
    app.file_uploader(key="predict-uploads").upload("portrait.jpg", photo, "image/jpeg")
    app.run()
    assert_no_generic_box(app)
    assert not texts(app, "error")
    assert app.dataframe, "the photo's faces in a table"


def test_a_page_working_on_a_run_whose_model_turns_out_damaged_shows_that_one_message(with_damaged_runs, tmp_path, monkeypatch):
    """A model.keras that is a whole archive with broken weights passes the listing's check; loading it is refused."""
    folder = tmp_path / "runs"
    broken = folder / run_name("weights-broken")
    shutil.copytree(SHIPPED_STARTER, broken)
    with zipfile.ZipFile(SHIPPED_STARTER / runs.MODEL_FILE) as original, zipfile.ZipFile(broken / runs.MODEL_FILE, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            copy.writestr(item, data[: len(data) // 3] if item.filename.endswith(".h5") else data)
    monkeypatch.setenv("AGEGENDER_RUNS", str(folder))
    app = open_page("explain")
    assert_no_generic_box(app)
    (message,) = texts(app, "error")
    assert f"{broken / runs.MODEL_FILE} is damaged: Keras could not load it" in message


def test_a_stale_running_status_holding_a_live_unrelated_pid_does_not_block_the_train_page(tmp_path, monkeypatch, shared_csv):
    from core.runs.lifecycle import process_start

    folder = tmp_path / "runs"
    stale = folder / run_name("stale-running")
    shutil.copytree(SHIPPED_STARTER, stale)
    status = json.loads((stale / runs.STATUS_FILE).read_text())
    # A trainer that was pid 1 in a container, or before a reboot: the pid lives on as another process.
    status.update(state=runs.RUNNING, pid=1, pid_started=process_start(1) + 12_345, ended_at=None)
    (stale / runs.STATUS_FILE).write_text(json.dumps(status))
    monkeypatch.setenv("AGEGENDER_RUNS", str(folder))
    monkeypatch.setenv("AGEGENDER_CSV", str(shared_csv))
    app = open_page("train")
    assert not button(app, "Start training").disabled
    assert runs.load_run(stale).state == runs.INTERRUPTED
