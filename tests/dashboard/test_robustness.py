"""The dashboard under bad input and many users (AppTest): no traceback ever, limits a shared server needs, models loaded once."""

from __future__ import annotations

import pandas as pd
import pytest

from core import runs
from dashboard import loaders
from tests.dashboard_apptest import button, metric_values, open_page, texts


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


def test_two_sessions_share_one_copy_of_the_models(tiny_starter):
    first, second = open_page("predict"), open_page("predict")
    assert not first.exception and not second.exception
    run_dirs = [tiny_starter]
    assert loaders.load_predictor(run_dirs) is loaders.load_predictor(run_dirs), "cached once per process (st.cache_resource)"
    assert loaders.load_face_detector() is loaders.load_face_detector()


@pytest.mark.parametrize("page", ["data", "train", "predictions", "errors", "explain"])
def test_a_remembered_unreadable_csv_never_breaks_a_page(no_runs, tmp_path, page):
    bad = tmp_path / "table.csv"
    bad.write_bytes(b"PK\x03\x04" + bytes(100))
    app = open_page(page, session_state={"chosen_csv": str(bad)})
    assert not app.exception


def test_a_row_whose_name_is_not_utf8_is_kept_and_noted_on_the_data_page(no_runs, shared_csv):
    rows = pd.read_csv(shared_csv, nrows=40)
    rows.loc[3, "img_name"] = "Jos\xe9.jpg"
    app = open_page("data")
    app.file_uploader[0].upload("names.csv", rows.to_csv(index=False).encode("latin-1"), "text/csv")
    app.run()
    assert not app.exception
    assert metric_values(app)["Rows kept"] == "40"
    assert any(message.startswith("Kept with a note: 1 row(s)") for message in texts(app, "warning"))
