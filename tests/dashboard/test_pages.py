"""Every dashboard page in a headless session (AppTest), on tiny real runs and real faces.

Each test is a fresh browser session; the runs folder and the default CSV come
from environment variables, as they do for `streamlit run`.
"""

from __future__ import annotations

import gzip
import json
import os

import pandas as pd
import pytest

from core.data import health as data_health
from core.evaluation.metrics import age_bucket
from core.labels import TASKS
from core.networks.presets import DEFAULT_PRESET, QUICK_PRESET, get_preset
from tests.conftest import SHARED_CSV, SHIPPED_STARTER
from tests.dashboard_apptest import button, images_shown, metric_values, open_page, runs_folder, texts

BOTH, GENDER = "20260101-000000-both-seed-tiny", "20260101-000001-gender-seed-tiny"
# Rows of the small CSV that are broken on purpose: index -> (column, new value, reason in the load report).
BROKEN = {
    3: ("age", "-4", "age: negative"),
    7: ("age", "250", "age: over 120"),
    11: ("gender", "3", "gender: out of range"),
    15: ("ethnicity", "", "ethnicity: missing"),
    19: ("pixels", "drop-last", "pixels: wrong pixel count"),
    23: ("pixels", "abc-first", "pixels: non-numeric value"),
}


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory, shared_csv) -> tuple[bytes, pd.DataFrame]:
    """42 real rows spread over all ages, six of them broken: the file's bytes and its valid rows."""
    rows = pd.read_csv(shared_csv, skiprows=lambda line: line > 0 and line % 500 != 0, dtype=str, keep_default_na=False)
    broken = rows.copy()
    for index, (column, value, _) in BROKEN.items():
        if value == "drop-last":
            value = broken.at[index, "pixels"].rsplit(" ", 1)[0]
        elif value == "abc-first":
            value = "abc " + broken.at[index, "pixels"].split(" ", 1)[1]
        broken.at[index, column] = value
    valid = rows.drop(index=list(BROKEN)).astype({"age": int, "gender": int, "ethnicity": int})
    return broken.to_csv(index=False).encode(), valid


@pytest.fixture
def runs_dir(tmp_path, monkeypatch, tiny_both_run, tiny_gender_run):
    """A runs folder with a finished both-heads run and a finished gender run; the shared CSV as default."""
    folder = runs_folder(tmp_path / "runs", **{BOTH: tiny_both_run, GENDER: tiny_gender_run})
    monkeypatch.setenv("AGEGENDER_RUNS", str(folder))
    monkeypatch.setenv("AGEGENDER_CSV", str(SHARED_CSV))
    return folder


def read_metrics(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())["test"]


def predictions(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "predictions.csv")


# Data ---------------------------------------------------------------------------------------------


def assert_load_report(app, small_csv) -> None:
    _raw, valid = small_csv
    load_report = {"Rows read": "42", "Rows kept": str(len(valid)), "Rows left out": str(len(BROKEN))}
    assert load_report.items() <= metric_values(app).items()
    assert metric_values(app)["Exact duplicate groups"] == "0", "42 rows spread over the file have no copies"
    reasons, offending = app.dataframe[0].value, app.dataframe[1].value
    assert dict(zip(reasons["problem"], reasons["rows"], strict=True)) == {reason: 1 for _, _, reason in BROKEN.values()}
    assert sorted(offending["line"]) == [index + 2 for index in BROKEN], "the header is line 1"


def test_data_page_shows_the_default_csv_with_distributions_48_sample_faces_and_its_copies(no_runs):
    app = open_page("data")
    metrics = metric_values(app)
    assert metrics["Rows kept"] == "21,333"
    assert texts(app, "success") == ["Every row is valid."]
    assert len(app.get("plotly_chart")) == 4
    assert "Showing 48 of 21,333 matching faces." in texts(app, "caption")
    # Data health: the shared CSV's 297 groups of identical faces, and the faces of the first conflicting group.
    assert metrics["Exact duplicate groups"] == "297" and int(metrics["Groups with conflicting labels"]) > 0
    groups = app.dataframe[-1].value
    assert groups["conflicting"].all(), "conflicting groups first"
    first = groups.iloc[0]
    assert images_shown(app) == 48 + first["faces"]
    assert len(first["ages"].split(", ")) == first["faces"]
    app.toggle(key="health-conflicts").set_value(False)
    app.run()
    assert len(app.dataframe[-1].value) == int(metrics["Groups of copies, near included"].replace(",", ""))


def plant_label_doubts(run_dir) -> dict[int, set[str]]:
    """Rewrite a run's predictions so that exactly known faces have doubted labels: row id -> the labels in doubt.

    Every face gets its labels predicted confidently; six then get predictions on
    either side of the rule that core.data.health states (the other gender at
    DOUBT_GENDER_PROBABILITY or more, or the age off by DOUBT_AGE_YEARS or more),
    so the expected doubts come from the rule, not from label_doubts itself.
    """
    path = run_dir / "predictions.csv"
    frame = pd.read_csv(path)
    doubt_gender = 1 - data_health.DOUBT_GENDER_PROBABILITY - 0.02  # The other gender at 97%.
    keep_gender = 1 - data_health.DOUBT_GENDER_PROBABILITY + 0.03  # The other gender at 92%: not sure enough.
    years = data_health.DOUBT_AGE_YEARS
    planted = [  # (probability of the labelled gender, age error, labels in doubt)
        (doubt_gender, 0.0, {"gender"}),
        (keep_gender, 0.0, set()),
        (0.99, years + 5, {"age"}),
        (0.99, -years, {"age"}),  # Exactly the limit.
        (0.99, -(years - 0.5), set()),
        (doubt_gender, years + 5, {"gender", "age"}),
    ]
    probability_of_label, age_error = pd.Series(0.99, index=frame.index), pd.Series(0.0, index=frame.index)
    # Adults (no predicted age below 0), spread over the file.
    chosen = frame.index[frame["age"].between(30, 80)][::5][: len(planted)]
    for index, (probability, error, _) in zip(chosen, planted, strict=True):
        probability_of_label[index], age_error[index] = probability, error
    frame["pred_gender_prob"] = probability_of_label.where(frame["gender"] == 1, 1 - probability_of_label).round(4)
    frame["pred_gender"] = (frame["pred_gender_prob"] >= 0.5).astype(int)
    frame["gender_correct"] = frame["pred_gender"] == frame["gender"]
    frame["age_error"] = age_error
    frame["pred_age"] = frame["age"] + age_error
    frame.to_csv(path, index=False)
    return {int(frame.at[index, "row_id"]): labels for index, (_, _, labels) in zip(chosen, planted, strict=True) if labels}


def test_data_page_lists_exactly_the_test_faces_whose_labels_a_confident_prediction_contradicts(runs_dir):
    expected = plant_label_doubts(runs_dir / BOTH)
    app = open_page("data")
    app.selectbox(key="health-run").set_value(BOTH)
    app.run()
    assert not app.exception
    (count,) = [caption.split(" of ")[0] for caption in texts(app, "caption") if " of this run's test faces" in caption]
    assert count == str(len(expected))
    shown = app.dataframe[-1].value
    assert list(shown["row_id"]) == list(expected), "the planted faces, in the predictions' order"
    labels_in_doubt = [{reason.split(":")[0] for reason in doubt.split("; ")} for doubt in shown["doubt"]]
    assert labels_in_doubt == list(expected.values())
    assert len(app.get("image")[-1].value) == len(expected), "the doubted faces, last on the page"


def test_data_page_path_box_reports_the_bad_rows_and_filters_the_sample_grid(tmp_path, no_runs, small_csv):
    path = tmp_path / "small.csv"
    path.write_bytes(small_csv[0])
    app = open_page("data")
    app.text_input[0].set_value(str(path))
    button(app, "Use this file").click()
    app.run()
    assert not app.exception
    assert_load_report(app, small_csv)
    assert images_shown(app) == len(small_csv[1]), "fewer faces than a page: all are shown"

    app.slider(key="data-sample-age").set_value((20, 45))
    app.multiselect(key="data-sample-gender").set_value([1])
    app.run()
    valid = small_csv[1]
    expected = int(((valid["age"].between(20, 45)) & (valid["gender"] == 1)).sum())
    assert 0 < expected < len(valid)
    assert images_shown(app) == expected
    assert f"Showing {expected} of {expected} matching faces." in texts(app, "caption")


def test_data_page_upload_of_a_gzipped_csv_is_used_and_shared_with_the_train_page(no_runs, small_csv):
    app = open_page("data")
    app.file_uploader[0].upload("small.csv.gz", gzip.compress(small_csv[0]), "application/gzip")
    app.run()
    assert not app.exception
    assert_load_report(app, small_csv)
    uploaded = app.text_input[0].value
    assert uploaded.endswith("small.csv.gz") and uploaded.startswith(os.environ["AGEGENDER_CACHE"]), "kept in the cache folder"

    app.switch_page("app_pages/train.py")
    app.run()
    assert any(uploaded in caption for caption in texts(app, "caption")), "Train uses the uploaded file"


def test_data_page_without_a_data_file_says_where_to_put_one(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.csv"
    monkeypatch.setenv("AGEGENDER_CSV", str(missing))
    app = open_page("data")
    (message,) = texts(app, "info")
    assert str(missing) in message and "data/age_gender.csv" in message
    assert app.file_uploader, "an upload is offered"
    assert not app.metric


def test_data_page_shows_an_unreadable_csv_as_a_message(tmp_path, no_runs):
    path = tmp_path / "not-faces.csv"
    path.write_text("name,score\nann,3\n")
    app = open_page("data")
    app.text_input[0].set_value(str(path))
    button(app, "Use this file").click()
    app.run()
    assert not app.exception
    (message,) = texts(app, "error")
    assert "missing column(s)" in message and "pixels" in message


# Train (starting a training is in test_dashboard_training.py) --------------------------------------


def test_train_page_offers_the_settings_and_says_what_to_do(no_runs):
    app = open_page("train")
    assert app.selectbox(key="train-task").options == list(TASKS)
    assert app.selectbox(key="train-task").value == "both", "the quick preset's heads share a trunk"
    assert app.selectbox(key="train-preset").value.name == QUICK_PRESET, "no run of one's own yet: a quick first one"
    assert app.number_input(key="train-epochs").value == get_preset(QUICK_PRESET).epochs
    assert not button(app, "Start training").disabled
    assert any("Start a training above" in message for message in texts(app, "info"))

    app.selectbox(key="train-preset").set_value(get_preset("seed")).run()
    assert app.selectbox(key="train-task").value == "gender"
    assert app.number_input(key="train-epochs").value == 30
    assert app.number_input(key="train-learning-rate").value == 1e-4
    assert app.number_input(key="train-batch-size").value == 32


def test_train_page_offers_the_default_preset_first_once_there_is_a_run_of_one_s_own(tmp_path, monkeypatch, tiny_both_run):
    monkeypatch.setenv("AGEGENDER_RUNS", str(runs_folder(tmp_path / "runs", mine=tiny_both_run)))
    app = open_page("train")
    assert app.selectbox(key="train-preset").value.name == DEFAULT_PRESET
    assert app.number_input(key="train-epochs").value == get_preset(DEFAULT_PRESET).epochs


def test_train_page_shows_bad_settings_as_a_message_and_starts_nothing(no_runs, tmp_path):
    app = open_page("train")
    app.number_input(key="train-limit").set_value(5)
    button(app, "Start training").click()
    app.run()
    assert not app.exception
    assert texts(app, "error") == ["limit must be at least 20 rows, got 5"]
    assert not (tmp_path / "empty-runs").exists() or not any((tmp_path / "empty-runs").iterdir())


def test_train_page_without_data_disables_start(tmp_path, monkeypatch, no_runs):
    monkeypatch.setenv("AGEGENDER_CSV", str(tmp_path / "nowhere.csv.gz"))
    app = open_page("train")
    assert button(app, "Start training").disabled
    assert any("No face CSV" in message for message in texts(app, "info"))


def test_train_page_shows_how_a_finished_run_ended(runs_dir):
    app = open_page("train", session_state={"watched_training": str(runs_dir / BOTH)})
    test = read_metrics(runs_dir / BOTH)
    assert texts(app, "success")[0].startswith("Completed in")
    assert metric_values(app)["Test accuracy"] == f"{test['accuracy']:.1%}"
    assert metric_values(app)["Test MAE"] == f"{test['mae']:.2f} years"
    assert len(app.get("plotly_chart")) == 1, "the run's curves"


# Runs ---------------------------------------------------------------------------------------------


def test_runs_page_lists_runs_with_their_test_metrics(runs_dir):
    app = open_page("runs")
    table = app.dataframe[0].value.set_index("run")
    assert list(table.index) == [GENDER, BOTH], "newest first"
    assert set(table["status"]) == {"completed"}
    assert table.loc[BOTH, "test accuracy"] == pytest.approx(read_metrics(runs_dir / BOTH)["accuracy"])
    assert table.loc[BOTH, "test MAE (years)"] == pytest.approx(read_metrics(runs_dir / BOTH)["mae"])
    assert table.loc[GENDER, "test accuracy"] == pytest.approx(read_metrics(runs_dir / GENDER)["accuracy"])
    assert pd.isna(table.loc[GENDER, "test MAE (years)"])
    assert table.loc[BOTH, "epochs"] == "1/1"


def test_runs_page_compares_two_runs(runs_dir):
    app = open_page("runs")
    assert not app.get("plotly_chart")
    app.multiselect(key="compare-runs").set_value([BOTH, GENDER])
    app.run()
    assert not app.exception
    assert app.radio(key="compare-metric").options == ["Loss", "Gender accuracy", "Age MAE (years)"]
    # The curves, MAE by bucket (only the both run has it) and accuracy by bucket.
    assert len(app.get("plotly_chart")) == 3
    assert sorted(app.dataframe[1].value["run"]) == sorted([BOTH, GENDER])


def test_runs_page_deletes_a_run_only_after_confirmation(runs_dir):
    app = open_page("runs")
    app.selectbox(key="delete-run").set_value(GENDER)
    app.run()
    button(app, "Delete…").click()
    app.run()
    assert "cannot be undone" in texts(app, "warning")[0]
    button(app, "Cancel").click()
    app.run()
    assert (runs_dir / GENDER).is_dir()

    button(app, "Delete…").click()
    app.run()
    button(app, "Yes, delete it").click()
    app.run()
    assert not app.exception
    assert not (runs_dir / GENDER).exists() and (runs_dir / BOTH).is_dir()
    assert texts(app, "success") == [f"Deleted run `{GENDER}`."]
    assert list(app.dataframe[0].value["run"]) == [BOTH]


def test_runs_page_shows_the_command_that_serves_a_finished_run(no_runs, monkeypatch):
    monkeypatch.setenv("AGEGENDER_STARTER", str(SHIPPED_STARTER))
    app = open_page("runs")
    assert not app.exception
    assert app.selectbox(key="serve-run").value == "starter"
    assert [block.value for block in app.code] == ["python -m core serve models/starter"]


def test_runs_page_without_runs_says_what_to_do(no_runs):
    app = open_page("runs")
    assert "No runs yet" in texts(app, "info")[0]


# Predictions --------------------------------------------------------------------------------------


def test_predictions_page_shows_a_page_of_faces_and_filters_them(runs_dir):
    app = open_page("predictions")
    app.selectbox[0].set_value(BOTH)
    app.run()
    frame = predictions(runs_dir / BOTH)
    assert len(frame) > 48, "the tiny run's test split fills more than one page"
    assert images_shown(app) == 48
    first_caption = app.get("image")[0].captions[0]
    first = frame.iloc[0]
    assert first_caption.startswith(f"{first['age']} → {first['pred_age']:.0f}")

    # A gender the tiny model gets wrong at times (it may call nearly everyone one gender).
    gender = int(frame.loc[~frame["gender_correct"], "gender"].mode()[0])
    wrong = frame[(frame["gender"] == gender) & ~frame["gender_correct"]]
    # A whole number of years that leaves a page's worth or less of them.
    threshold = float(int(wrong["age_error"].abs().sort_values(ascending=False).iloc[min(len(wrong), 20) - 1]))
    app.multiselect(key="predictions-gender").set_value([gender])
    app.button_group(key="predictions-outcome").set_value("wrong")
    app.number_input(key="predictions-min-error").set_value(threshold)
    app.run()
    assert not app.exception
    expected = wrong[wrong["age_error"].abs() > threshold]
    assert 0 < len(expected) <= 48
    assert images_shown(app) == len(expected)
    assert len([b for b in app.button if b.label == "Details"]) == len(expected)


def test_predictions_page_sorts_by_error_pages_and_opens_details(runs_dir):
    app = open_page("predictions")
    app.selectbox[0].set_value(BOTH)
    app.run()
    app.selectbox(key="predictions-sort").set_value("Largest age error first")
    app.run()
    frame = predictions(runs_dir / BOTH)
    worst = frame.loc[frame["age_error"].abs().idxmax()]
    assert app.get("image")[0].captions[0].startswith(f"{worst['age']} → {worst['pred_age']:.0f}")

    page = next(widget for widget in app.number_input if widget.key.startswith("predictions-page-"))
    page.set_value(2)
    app.run()
    assert images_shown(app) == min(48, len(frame) - 48)

    last = frame.loc[frame["age_error"].abs().sort_values(ascending=False, kind="stable").index[48 + images_shown(app) - 1]]
    details_buttons = [widget for widget in app.button if widget.label == "Details"]
    details_buttons[-1].click()  # the last face on page 2
    app.run()
    assert not app.exception
    details = app.dataframe[-1].value.set_index("field")["value"]
    assert details["image name"] == last["img_name"]
    assert details["true age"] == str(last["age"])


def test_predictions_page_of_a_gender_run_offers_only_gender_filters(runs_dir):
    app = open_page("predictions")
    app.selectbox[0].set_value(GENDER)
    app.run()
    assert app.number_input(key="predictions-min-error").disabled
    assert "Largest age error first" not in app.selectbox(key="predictions-sort").options
    assert app.get("image")[0].captions[0].startswith("age ")


def test_predictions_page_without_runs_says_what_to_do(no_runs):
    app = open_page("predictions")
    assert "Train a model on the Train page" in texts(app, "info")[0]


def test_predictions_page_shows_faces_from_the_csv_in_use_only_when_it_is_the_run_s_file(runs_dir, monkeypatch):
    config_path = runs_dir / BOTH / "config.json"
    config = json.loads(config_path.read_text())
    config["csv_path"] = str(runs_dir / "moved-away.csv.gz")
    config_path.write_text(json.dumps(config))
    app = open_page("predictions")
    app.selectbox[0].set_value(BOTH)
    app.run()
    assert images_shown(app) == 48, "the CSV in use has the run's content hash: its faces are the run's"

    config["data_hash"] = "0" * 32  # Trained on some other file.
    config_path.write_text(json.dumps(config))
    app = open_page("predictions")
    app.selectbox[0].set_value(BOTH)
    app.run()
    assert not app.exception
    (message,) = texts(app, "info")
    assert "belong to a different file" in message and "moved-away.csv.gz" in message and "0" * 32 in message
    assert images_shown(app) == 0 and len(app.dataframe[0].value) == 48, "the predictions still show, as a table"


def test_predictions_and_errors_pages_leave_a_run_with_unreadable_predictions_out_and_say_why(runs_dir):
    (runs_dir / GENDER / "predictions.csv").write_text("row_id,score\n1,2\n")
    for page in ("predictions", "errors"):
        app = open_page(page)
        assert not texts(app, "error") and not app.exception
        assert GENDER not in app.selectbox[0].options, "a damaged run is offered nowhere"
        (notice,) = [warning.value for warning in app.sidebar.warning]
        assert f"`{GENDER}`: predictions.csv" in notice and "ethnicity" in notice, "the run, its file and the missing column"


# Errors -------------------------------------------------------------------------------------------


def test_errors_page_metrics_match_metrics_json_and_slices_update_every_view(runs_dir):
    app = open_page("errors")
    app.selectbox[0].set_value(BOTH)
    app.run()
    test = read_metrics(runs_dir / BOTH)
    shown = metric_values(app)
    assert shown["Test faces"] == f"{test['n']:,}"
    assert shown["MAE"] == f"{test['mae']:.2f} years"
    assert shown["Gender accuracy"] == f"{test['accuracy']:.1%}"
    # Scatter, residuals, MAE and accuracy by bucket, MAE and accuracy by ethnicity x gender, confusion, calibration.
    assert len(app.get("plotly_chart")) == 9, "the eight views and the intervals' coverage"
    bucket_table = app.dataframe[0].value
    assert list(bucket_table["mae"]) == pytest.approx([row["mae"] for row in test["by_age_bucket"]])

    app.multiselect(key="errors-gender").set_value([1])
    app.slider(key="errors-age").set_value((20, 60))
    app.run()
    frame = predictions(runs_dir / BOTH)
    part = frame[(frame["gender"] == 1) & frame["age"].between(20, 60)]
    shown = metric_values(app)
    assert shown["Test faces"] == f"{len(part):,}"
    assert shown["MAE"] == f"{part['age_error'].abs().mean():.2f} years"
    assert shown["Gender accuracy"] == f"{part['gender_correct'].mean():.1%}"
    buckets_shown = set(app.dataframe[0].value["age_bucket"])
    assert buckets_shown == set(age_bucket(part["age"]).unique())


def test_errors_page_of_a_gender_run_shows_accuracy_confusion_and_calibration(runs_dir):
    app = open_page("errors")
    app.selectbox[0].set_value(GENDER)
    app.run()
    test = read_metrics(runs_dir / GENDER)
    assert metric_values(app) == {"Test faces": f"{test['n']:,}", "Gender accuracy": f"{test['accuracy']:.1%}"}
    # Probability scatter, accuracy by bucket, accuracy by ethnicity x gender, confusion, calibration.
    assert len(app.get("plotly_chart")) == 5


def test_errors_page_says_when_no_face_matches(runs_dir):
    app = open_page("errors")
    app.slider(key="errors-age").set_value((0, 0))  # The data's youngest faces are 1 year old.
    app.run()
    assert not app.exception
    assert texts(app, "warning") == ["No test face matches these selectors."]


def test_errors_page_without_runs_says_what_to_do(no_runs):
    app = open_page("errors")
    assert "Train a model on the Train page" in texts(app, "info")[0]
    assert not app.get("plotly_chart")
