"""The dashboard on a first launch (AppTest): the starter run answers when nothing else is there, and yields to the user's.

A copy of the tiny `both` run stands in for models/starter (`tiny_starter`);
the real starter is checked end to end in tests/browser/test_browser_first_launch.py.
"""

from __future__ import annotations

import dataclasses

import pytest

from core import runs
from core.runs.model_card import model_card
from tests.dashboard_apptest import button, metric_values, open_page, runs_folder, texts

MINE = "20260102-000000-both-compact-long-mine"


@pytest.fixture
def first_launch(tmp_path, monkeypatch, tiny_starter):
    """No CSV anywhere (not even where the starter was trained), no runs of the user's: only the starter."""
    monkeypatch.setenv("AGEGENDER_CSV", str(tmp_path / "no-such.csv"))
    monkeypatch.setenv("AGEGENDER_RUNS", str(tmp_path / "empty-runs"))
    config = runs.read_config(tiny_starter)
    runs.write_config(
        tiny_starter, dataclasses.replace(config, train=dataclasses.replace(config.train, csv_path="/elsewhere/faces.csv.gz"))
    )
    return tiny_starter


def test_home_opens_first_and_says_what_is_loaded(first_launch):
    app = open_page("home")
    assert app.title[0].value == "Age & gender CNN studio"
    messages = texts(app, "warning") + texts(app, "success")
    assert any("Data:** none yet" in message for message in messages)
    assert any("the starter model that ships with the studio" in message for message in messages)
    for label in ("Try a photo", "Go to the Data page", "Train a model"):
        button(app, label)


def test_errors_page_shows_the_starter_s_analysis_without_any_csv(first_launch):
    app = open_page("errors")
    assert not app.exception
    summary = runs.load_run(first_launch).metrics.test
    assert metric_values(app)["MAE"] == f"{summary.mae:.2f} years"
    assert any("MAE by age bucket" in chart.proto.spec for chart in app.get("plotly_chart"))


def test_predictions_and_explain_pages_say_the_starter_s_faces_belong_to_a_different_file(first_launch):
    predictions = open_page("predictions")
    assert any("belong to a different file" in message for message in texts(predictions, "info"))
    assert len(predictions.dataframe[0].value) == 48, "the table of predictions still shows"
    explain = open_page("explain")
    assert any("belong to a different file" in message for message in texts(explain, "info"))


def test_runs_page_marks_the_starter_shows_its_card_and_never_offers_to_delete_it(
    tmp_path, monkeypatch, tiny_starter, tiny_both_run
):
    monkeypatch.setenv("AGEGENDER_RUNS", str(runs_folder(tmp_path / "runs", **{MINE: tiny_both_run})))
    app = open_page("runs")
    table = app.dataframe[0].value
    assert list(table["run"]) == [MINE, "starter"], "the user's runs first"
    assert list(table["model"]) == ["yours", "starter (ships with the studio)"]
    assert app.selectbox(key="delete-run").options == [MINE]
    app.selectbox(key="card-run").set_value("starter")
    app.run()
    assert app.markdown[-1].value.strip() == model_card(runs.load_run(tiny_starter)).strip()
    with pytest.raises(ValueError, match="starter model .* cannot be deleted"):
        runs.delete_run(tiny_starter)


def test_predict_proposes_the_user_s_run_before_the_starter(tmp_path, monkeypatch, tiny_starter, tiny_both_run):
    app = open_page("predict")
    assert app.selectbox(key="predict-both-run").value == "starter", "nothing else: the starter"
    monkeypatch.setenv("AGEGENDER_RUNS", str(runs_folder(tmp_path / "runs", **{MINE: tiny_both_run})))
    app = open_page("predict")
    assert app.selectbox(key="predict-both-run").value == MINE
    shown = app.selectbox(key="predict-both-run").options
    assert shown[0].startswith(MINE) and shown[1].startswith("Starter model (ships with the studio)")
