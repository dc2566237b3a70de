"""Training from the Train page: a real background `python -m core train` whose history grows live."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import runs
from core.config import TrainConfig
from dashboard import launcher
from tests.dashboard_apptest import button, images_shown, open_page, texts
from tests.processes import stop_process_of, wait_for

# Every test here starts a real training process from the Train page.
pytestmark = pytest.mark.slow


@pytest.fixture
def runs_dir(tmp_path, monkeypatch, shared_csv):
    monkeypatch.setenv("AGEGENDER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("AGEGENDER_CSV", str(shared_csv))
    return tmp_path / "runs"


def test_start_on_the_train_page_runs_a_training_whose_history_grows_and_stop_ends_it(runs_dir):
    app = open_page("train")
    app.selectbox(key="train-task").set_value("gender")
    app.number_input(key="train-epochs").set_value(20)
    app.number_input(key="train-batch-size").set_value(8)
    app.number_input(key="train-limit").set_value(300)
    button(app, "Start training").click()
    app.run()
    assert not app.exception, [error.value for error in app.exception]
    run_dir = Path(app.session_state["watched_training"])
    assert run_dir.parent == runs_dir
    try:
        # Started through the command line, with the settings of the form.
        config = json.loads((run_dir / "config.json").read_text())
        assert (config["task"], config["epochs"], config["batch_size"], config["limit"]) == ("gender", 20, 8, 300)
        assert runs.active_run().run_dir == run_dir, "every session sees the training at once"
        assert button(app, "Start training").disabled, "one training at a time"

        first = wait_for(lambda: len(runs.read_history(run_dir)), 180, "the first history record")
        wait_for(lambda: len(runs.read_history(run_dir)) > first, 60, "history.jsonl to grow")

        # A second session (a reload, another browser) attaches to the running training.
        other = open_page("train")
        assert other.subheader[0].value == f"Run `{run_dir.name}`"
        (bar,) = other.get("progress")
        assert "Epoch " in bar.proto.text and "left" in bar.proto.text
        assert len(other.get("plotly_chart")) == 1, "the live curves"

        assert runs.load_run(run_dir).state == runs.RUNNING
        other.button(key="stop-training").click()
        other.run()
        assert not other.exception
        wait_for(lambda: runs.load_run(run_dir).state != runs.RUNNING, 120, "the training to stop", interval=0.5)
        assert runs.load_run(run_dir).state == runs.STOPPED

        app.run()
        assert not app.exception
        assert texts(app, "warning")[0].startswith("Stopped on request")
        assert not button(app, "Start training").disabled
        assert "Epoch 1/20" in launcher.log_tail(run_dir, 400), "the CLI's output is in train.log"
    finally:
        stop_process_of(run_dir)


def test_a_training_that_fails_shows_its_error_on_the_train_page(runs_dir, tmp_path):
    bad_csv = tmp_path / "not-faces.csv"
    bad_csv.write_text("name,score\nann,3\n")
    run_dir = launcher.start_training(TrainConfig(task="gender", epochs=1, csv_path=str(bad_csv)))
    try:
        wait_for(lambda: runs.load_run(run_dir).state not in (runs.RUNNING,), 180, "the training to fail", interval=0.5)
        app = open_page("train", session_state={"watched_training": str(run_dir)})
        (message,) = texts(app, "error")
        assert message.startswith("Failed: InputError") and "missing column(s)" in message
        assert images_shown(app) == 0 and not app.metric
    finally:
        stop_process_of(run_dir)
