"""The Tune page and its helpers: a study's trials and plots, starting one, and using a trial's settings.

The quick tests build Optuna studies in memory from trials given outright; the
slow ones open the pages on a tiny real study (2 trials of 1 epoch on 300
rows of the shared CSV, made once for the module, about 40 s on 2 cores).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import optuna
import plotly.graph_objects as go
import pytest

from core import runs
from core.config import TrainConfig
from core.networks.presets import get_preset
from core.tuning.space import KNOBS_BY_NAME, SearchSpace
from dashboard import figures, tables, tuning
from tests.dashboard_apptest import button, open_page, texts
from tests.processes import wait_for

LOW, HIGH = KNOBS_BY_NAME["dropout"].low, KNOBS_BY_NAME["dropout"].high
DROPOUT = optuna.distributions.FloatDistribution(LOW, HIGH)


def in_memory_study(directions: list[str], trials: list[tuple[str, list[float] | None, float]]) -> optuna.Study:
    """A study holding trials given as (state, values, dropout)."""
    study = optuna.create_study(directions=directions)
    for state, values, dropout in trials:
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState[state],
                values=values,
                params={"dropout": dropout},
                distributions={"dropout": DROPOUT},
                user_attrs={"epochs": 2},
            )
        )
    return study


def test_the_trials_table_has_a_row_per_trial_with_its_state_values_and_settings():
    study = in_memory_study(["minimize"], [("COMPLETE", [20.5], 0.1), ("PRUNED", None, 0.45), ("FAIL", None, 0.3)])
    table = tables.trials_table(study, ["combined"])
    assert list(table["trial"]) == [0, 1, 2]
    assert list(table["state"]) == ["complete", "pruned", "failed"]
    assert table["combined"].iloc[0] == 20.5 and table["combined"].iloc[1:].isna().all(), "values of complete trials only"
    assert list(table["dropout"]) == [0.1, 0.45, 0.3] and list(table["epochs"]) == [2, 2, 2]
    assert not table["test scored"].any(), "no trial has a run here, let alone a scored one"


def test_study_figures_wait_for_complete_trials_and_draw_a_pareto_front_for_two_objectives():
    assert set(figures.study_figures(in_memory_study(["minimize"], [("PRUNED", None, 0.2)]), ["combined"])) == {"history"}
    one = figures.study_figures(in_memory_study(["minimize"], [("COMPLETE", [3.0], 0.2)]), ["combined"])
    assert isinstance(one["history"], go.Figure) and isinstance(one["parallel"], go.Figure)
    assert "at least two complete trials" in one["importances"] and "pareto" not in one

    both = in_memory_study(
        ["maximize", "minimize"], [("COMPLETE", [0.8, 9.0], 0.1), ("COMPLETE", [0.7, 8.0], 0.3), ("COMPLETE", [0.6, 10.0], 0.4)]
    )
    drawn = figures.study_figures(both, ["gender_accuracy", "age_mae"])
    assert all(isinstance(figure, go.Figure) for figure in drawn.values()), drawn
    history_points = [len(trace.y) for trace in drawn["history"].data if trace.y is not None]
    assert max(history_points) == 3, "one point per complete trial: the first objective"
    front = [trace for trace in drawn["pareto"].data if "Best Trial" in trace.hovertemplate]
    assert len(front[0].x) == 2, "0.8/9.0 and 0.7/8.0 are the front; 0.6/10.0 is worse on both"


def test_a_study_request_becomes_the_tune_command_and_a_space_that_leaves_knobs_out():
    request = tuning.StudyRequest("s1", "compact-dldl", 5, 2, 300, "/data.csv", ("gender_accuracy", "age_mae"), workers=2,
                                  searched=("learning_rate", "dropout"))  # fmt: skip
    argv = request.argv(Path("/studies/s1.space.json"))
    assert argv == ["--study", "s1", "--preset", "compact-dldl", "--trials", "5", "--epochs-per-trial", "2", "--csv",
                    "/data.csv", "--objective", "gender_accuracy", "age_mae", "--limit", "300", "--workers", "2",
                    "--space", "/studies/s1.space.json"]  # fmt: skip
    space = SearchSpace.default(get_preset("compact-dldl")).narrowed(request.space_changes)
    assert [knob.name for knob in space.knobs] == ["learning_rate", "dropout"]
    with pytest.raises(ValueError, match="one objective"):
        tuning.StudyRequest("s1", "compact-dldl", 5, 2, None, "/data.csv", ())
    with pytest.raises(ValueError, match="at least one setting"):
        tuning.StudyRequest("s1", "compact-dldl", 5, 2, None, "/data.csv", ("combined",), searched=())


@pytest.fixture
def empty_runs(tmp_path, monkeypatch, shared_csv) -> Path:
    monkeypatch.setenv("AGEGENDER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("AGEGENDER_CSV", str(shared_csv))
    return tmp_path / "runs"


def start_from_the_page(app, **settings):
    for key, value in settings.items():
        kind = app.text_input if key == "tune-name" else app.number_input if isinstance(value, int) else app.multiselect
        kind(key=key).set_value(value)
    button(app, "Start the study").click()
    app.run()
    assert not app.exception, [error.value for error in app.exception]


def test_a_bad_study_is_refused_on_the_page_with_a_message_and_nothing_starts(empty_runs):
    app = open_page("tune")
    assert texts(app, "info")[0].startswith("No study yet")
    start_from_the_page(app, **{"tune-name": "no spaces allowed"})
    assert "a study's name is 1 to 64 letters" in texts(app, "error")[0]
    start_from_the_page(app, **{"tune-name": "fine", "tune-objectives": []})
    assert texts(app, "error")[0] == "Choose one objective, or two for a Pareto front"
    start_from_the_page(app, **{"tune-objectives": ["minutes"], "tune-knobs": ["dropout"]})
    assert "minutes alone would pick the shortest training" in texts(app, "error")[0]
    assert tuning.running_studies() == [] and not list((empty_runs / "studies").glob("*.json")), "nothing started, no file"


def test_a_pruned_trial_says_so_in_the_runs_table_and_on_the_train_page(empty_runs):
    run_dir = empty_runs / "20260101-000000-both-s-t3-abcd"
    run_dir.mkdir(parents=True)
    runs.write_config(run_dir, runs.RunConfig(train=TrainConfig(epochs=6), study="s", trial=3))
    runs.lifecycle.mark_started(run_dir)
    runs.lifecycle.mark_pruned(run_dir, epoch=2)
    (row,) = tables.runs_table([runs.load_run(run_dir)]).to_dict("records")
    assert (row["status"], row["study"]) == ("pruned at epoch 2", "s · trial 3")
    app = open_page("train", session_state={"watched_training": str(run_dir)})
    assert texts(app, "warning")[0].startswith("A tuning trial pruned after epoch 2 by its study's pruner")
    assert "its history was kept, not its model" in texts(app, "warning")[0]


# On a tiny real study ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory, shared_csv) -> tuple[Path, str]:
    """(runs folder, study name) of a finished study of 2 one-epoch trials on 300 rows."""
    from core.tuning.study import Search
    from core.tuning.worker import run_worker

    runs_dir = tmp_path_factory.mktemp("tune-runs")
    base = TrainConfig(epochs=1, patience=1, limit=300, csv_path=str(shared_csv))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGEGENDER_RUNS", str(runs_dir))
        run_worker(Search("tiny", base, SearchSpace.default(base.preset), ("combined",)), trials=2)
    return runs_dir, "tiny"


@pytest.fixture
def study_runs(tiny_study, monkeypatch, shared_csv):
    runs_dir, name = tiny_study
    monkeypatch.setenv("AGEGENDER_RUNS", str(runs_dir))
    monkeypatch.setenv("AGEGENDER_CSV", str(shared_csv))
    from core.tuning.study import load_study

    return load_study(name)


@pytest.mark.slow
def test_the_tune_page_shows_a_studys_trials_and_plots_and_promotes_a_trial(study_runs):
    trials = study_runs.get_trials()
    app = open_page("tune")
    assert app.selectbox(key="tune-study").value == "tiny"
    table = app.dataframe[0].value
    assert list(table["trial"]) == [0, 1] and list(table["state"]) == ["complete", "complete"]
    assert list(table["combined"]) == [trial.value for trial in trials] and list(table["epochs"]) == [1, 1]
    assert list(table["run"]) == [Path(trial.user_attrs["run_dir"]).name for trial in trials]
    assert list(table["learning_rate"]) == [float(f"{trial.params['learning_rate']:.4g}") for trial in trials]
    charts = {chart.proto.id for chart in app.get("plotly_chart")}
    assert len(charts) == 3, "history, parallel coordinates and importances"

    app.selectbox(key="tune-trial").set_value(1).run()
    button(app, "Promote").click().run(timeout=300)
    assert not app.exception and not app.error, texts(app, "error")
    run = runs.load_run(trials[1].user_attrs["run_dir"])
    assert run.metrics is not None, "scored on its test split"
    assert texts(app, "success")[0] == (
        f"Scored on its test split: accuracy {run.metrics.test.accuracy:.1%}, MAE {run.metrics.test.mae:.2f} years."
    )
    assert list(app.dataframe[0].value["test scored"]) == [False, True]


@pytest.mark.slow
def test_train_with_these_settings_saves_the_trials_preset_and_opens_train_with_it(study_runs):
    trial = study_runs.get_trials()[0]
    app = open_page("tune")
    app.selectbox(key="tune-trial").set_value(0).run()
    assert app.text_input(key="tune-preset-name-0").value == "tiny-t0"
    app.text_input(key="tune-preset-name-0").set_value("compact").run()
    button(app, "Train with these settings").click().run()
    assert "one of the studio's presets" in texts(app, "error")[0], "refused, with a message"

    app.text_input(key="tune-preset-name-0").set_value("my-tuned").run()
    button(app, "Train with these settings").click().run()
    assert not app.exception, [error.value for error in app.exception]
    assert app.title[0].value == "Train"
    saved = json.loads((Path(os.environ["AGEGENDER_RUNS"]) / "presets" / "my-tuned.json").read_text())
    assert saved["learning_rate"] == trial.params["learning_rate"] and saved["dropout"] == trial.params["dropout"]
    assert saved["epochs"] == get_preset("compact-dldl").epochs, "the base preset's length, not the trial's one epoch"
    assert app.selectbox(key="train-preset").value.name == "my-tuned"
    assert app.number_input(key="train-learning-rate").value == trial.params["learning_rate"]
    assert app.number_input(key="train-batch-size").value == trial.params["batch_size"]
    assert app.number_input(key="train-epochs").value == saved["epochs"]


@pytest.mark.slow
def test_the_runs_page_filters_runs_by_study(study_runs):
    runs_dir = Path(os.environ["AGEGENDER_RUNS"])
    trial_ids = sorted(Path(trial.user_attrs["run_dir"]).name for trial in study_runs.get_trials())
    own = runs_dir / "20200101-000000-both-compact-own0"  # A run trained outside any study: a trial's copy without its study.
    trial_run = Path(study_runs.get_trials()[0].user_attrs["run_dir"])
    own.mkdir()
    config = json.loads((trial_run / runs.CONFIG_FILE).read_text()) | {"study": None, "trial": None}
    (own / runs.CONFIG_FILE).write_text(json.dumps(config))
    (own / runs.STATUS_FILE).write_text((trial_run / runs.STATUS_FILE).read_text())
    try:
        app = open_page("runs")
        assert sorted(app.dataframe[0].value["run"]) == sorted([*trial_ids, own.name])
        app.selectbox(key="runs-study").set_value("tiny").run()
        shown = app.dataframe[0].value
        assert sorted(shown["run"]) == trial_ids and set(shown["study"]) == {"tiny · trial 0", "tiny · trial 1"}
        app.selectbox(key="runs-study").set_value("runs outside any study").run()
        assert list(app.dataframe[0].value["run"]) == [own.name]
    finally:
        runs.remove(own)


@pytest.mark.slow
def test_stop_on_the_tune_page_ends_a_running_study(empty_runs):
    from core.tuning.study import load_study, summary

    app = open_page("tune")
    settings = {"tune-name": "stopped", "tune-trials": 5, "tune-epochs": 20, "tune-limit": 300, "tune-knobs": ["dropout"]}
    start_from_the_page(app, **settings)
    pid = tuning.launch_record("stopped")["pid"]
    try:
        assert app.selectbox(key="tune-study").value == "stopped" and tuning.running_studies() == ["stopped"]
        assert json.loads(tuning.space_path("stopped").read_text())["learning_rate"] is None, "only dropout is searched"
        wait_for(lambda: summary(load_study("stopped"))["RUNNING"], 180, "the first trial to start", interval=0.5)
        app.run()
        app.button(key="tune-stop").click().run()
        assert not app.exception, [error.value for error in app.exception]
        wait_for(lambda: not tuning.is_running("stopped"), 120, "the study's process to end", interval=0.5)
        assert dict(summary(load_study("stopped"))) == {"FAIL": 1}, "its running trial ended early, no other started"
        app.run()
        assert not app.exception and not [widget for widget in app.button if widget.key == "tune-stop"]
        (progress,) = [caption for caption in texts(app, "caption") if "trials finished" in caption]
        assert progress.startswith("0 of 5 trials finished") and "1 failed" in progress, progress
    finally:
        if runs.pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
