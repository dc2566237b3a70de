"""The dashboard under bad input and many users (AppTest): no traceback ever, limits a shared server needs, models loaded once."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from core import runs
from core.explain.maps import METHODS
from dashboard import loaders
from tests.dashboard_apptest import button, images_shown, metric_values, open_page, runs_folder, texts
from tests.image_kinds import encode, framed

RUN = "20260101-000000-both-seed-tiny"


@pytest.fixture
def one_run(tmp_path, monkeypatch, tiny_both_run, shared_csv) -> Path:
    """A runs folder with one finished both-heads run, trained on the shared CSV, which is also the default."""
    folder = runs_folder(tmp_path / "runs", **{RUN: tiny_both_run})
    monkeypatch.setenv("AGEGENDER_RUNS", str(folder))
    monkeypatch.setenv("AGEGENDER_CSV", str(shared_csv))
    return folder / RUN


@pytest.fixture
def unreadable_csv(tmp_path) -> Path:
    """A file with a zip archive's first bytes, named as a CSV."""
    bad = tmp_path / "table.csv"
    bad.write_bytes(b"PK\x03\x04" + bytes(100))
    return bad


@pytest.fixture(scope="module")
def face_photo(shared_faces) -> bytes:
    """A real UTKFace photo as a JPEG: a shared chip with some background around it."""
    return encode(framed(Image.open(min(shared_faces.glob("*.jpg"))).convert("RGB")), "JPEG", quality=92)


def test_a_file_that_is_not_text_uploaded_as_a_csv_gets_a_message_on_every_page(no_runs):
    app = open_page("data")
    app.file_uploader[0].upload("faces.csv", bytes(range(256)) * 400, "text/csv")
    app.run()
    assert not app.exception
    (message,) = texts(app, "error")
    assert "faces.csv is not a text CSV" in message
    # The choice is remembered: the other pages that load data say the same, calmly.
    app.switch_page("app_pages/train.py")
    app.run()
    assert not app.exception
    assert any("faces.csv is not a text CSV" in message for message in texts(app, "error"))
    assert button(app, "Start training").disabled


def test_an_unexpected_error_on_a_page_is_a_message_not_a_traceback(no_runs, monkeypatch):
    monkeypatch.delenv("AGEGENDER_RAISE_ERRORS")

    def broken(*args, **kwargs):
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(runs, "available_runs", broken)
    app = open_page("runs")
    assert not app.exception
    (message,) = texts(app, "error")
    assert message.startswith("Something went wrong on this page: RuntimeError: the disk went away. Reload the page")


def test_typed_paths_outside_the_allowed_data_folders_are_refused(no_runs, monkeypatch, tmp_path, shared_csv):
    monkeypatch.setenv("AGEGENDER_DATA_DIRS", str(tmp_path / "allowed"))
    app = open_page("data")
    app.text_input[0].set_value(str(shared_csv))
    button(app, "Use this file").click()
    app.run()
    assert not app.exception
    assert any("is outside the data folders this server allows" in message for message in texts(app, "error"))


def test_a_typed_path_to_a_file_that_is_not_a_face_csv_is_named_without_quoting_it(no_runs, monkeypatch):
    monkeypatch.delenv("AGEGENDER_DATA_DIRS", raising=False)  # The default: any path may be typed.
    app = open_page("data")
    app.text_input[0].set_value("/etc/passwd")
    button(app, "Use this file").click()
    app.run()
    assert not app.exception
    (message,) = texts(app, "error")
    assert "/etc/passwd is missing column(s) age, ethnicity, gender, img_name, pixels; found no column names" in message
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert not any(part in message for part in first_line.split(":") if len(part) > 3), message


def test_two_sessions_share_one_copy_of_the_models(tiny_starter, face_photo, monkeypatch):
    # The real loaders, watched: what each of the page's calls returned, so that two sessions' models can be compared.
    returned = {"predictor": [], "detector": []}

    def watch(name, loader):
        def watched(*args):
            returned[name].append(loader(*args))
            return returned[name][-1]

        return watched

    monkeypatch.setattr(loaders, "load_predictor", watch("predictor", loaders.load_predictor))
    monkeypatch.setattr(loaders, "load_face_detector", watch("detector", loaders.load_face_detector))
    sessions = []
    for _ in range(2):  # Two browser tabs, each predicting on a photo.
        for calls in returned.values():
            calls.clear()
        app = open_page("predict")
        app.file_uploader(key="predict-uploads").upload("portrait.jpg", face_photo, "image/jpeg")
        app.run()
        assert not app.exception
        assert returned["predictor"] and returned["detector"], "the page loaded its models"
        sessions.append({name: calls[-1] for name, calls in returned.items()})
    first, second = sessions
    assert second["predictor"] is first["predictor"], "one copy of the models per process (st.cache_resource), not per session"
    # core.vision.faces keeps one detector too; the loader's cache only adds the spinner. Either way, one per process.
    assert second["detector"] is first["detector"]


# A remembered CSV that cannot be read: each page still renders what it can (open_page asserts there was no exception).


def open_remembering(page: str, csv: Path):
    app = open_page(page, session_state={"chosen_csv": str(csv)})
    assert [title.value for title in app.title] == [page.capitalize()]
    return app


def test_a_remembered_unreadable_csv_is_named_on_the_data_page(one_run, unreadable_csv):
    app = open_remembering("data", unreadable_csv)
    (message,) = texts(app, "error")
    assert message.startswith(f"Cannot use `{unreadable_csv}`: ") and "it is a ZIP archive" in message
    assert app.text_input[0].value == str(unreadable_csv), "the path box shows it, to be corrected"


def test_a_remembered_unreadable_csv_is_named_on_the_train_page_which_offers_no_start(one_run, unreadable_csv):
    app = open_remembering("train", unreadable_csv)
    assert any(message.startswith(f"Cannot use `{unreadable_csv}`: ") for message in texts(app, "error"))
    assert f"Trains on `{unreadable_csv}` (choose another file on the Data page)." in texts(app, "caption")
    assert button(app, "Start training").disabled


# The result pages take a run's faces from the CSV in use only when it is the run's file; else from the run's own file.


def test_a_remembered_unreadable_csv_leaves_the_predictions_page_showing_the_run_s_faces(one_run, unreadable_csv):
    app = open_remembering("predictions", unreadable_csv)
    assert images_shown(app) == 48, "a page of the run's test faces"


def test_a_remembered_unreadable_csv_leaves_the_errors_page_showing_the_run_s_figures(one_run, unreadable_csv):
    app = open_remembering("errors", unreadable_csv)
    test = json.loads((one_run / runs.METRICS_FILE).read_text())["test"]
    assert metric_values(app)["Test faces"] == f"{test['n']:,}"
    assert app.get("plotly_chart"), "its charts"


def test_a_remembered_unreadable_csv_leaves_the_explain_page_explaining_the_run_s_faces(one_run, unreadable_csv):
    app = open_remembering("explain", unreadable_csv)
    explained = [element for element in app.get("image") if element.captions and " · row " in element.captions[0]]
    assert explained, "no face explained"
    assert len(explained) == app.slider(key="explain-count").value, "the faces whose age is worst predicted"
    maps = [element for element in app.get("image") if element.captions == [""]]
    assert len(maps) == len(explained) * 2 * len(METHODS), "each face beside its maps: both heads, every method"


def test_a_row_whose_name_is_not_utf8_is_kept_and_noted_on_the_data_page(no_runs, shared_csv):
    rows = pd.read_csv(shared_csv, nrows=40)
    rows.loc[3, "img_name"] = "Jos\xe9.jpg"
    app = open_page("data")
    app.file_uploader[0].upload("names.csv", rows.to_csv(index=False).encode("latin-1"), "text/csv")
    app.run()
    assert not app.exception
    assert metric_values(app)["Rows kept"] == "40"
    assert any(message.startswith("Kept with a note: 1 row(s)") for message in texts(app, "warning"))
