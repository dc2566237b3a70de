"""Streamlit-free helpers of the Predict and Explain pages: dashboard/photos.py, model_choice.py and explaining.py."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from core import runs
from core.inference.photos import FacePrediction, PhotoPrediction
from dashboard import explaining, model_choice
from dashboard.photos import BOX_COLOURS, annotated_photo, face_label, face_numbers, faces_table

GREY = 128


def face(box, age=34.4, female_probability=0.87) -> FacePrediction:
    return FacePrediction(
        box=box, crop=np.zeros((48, 48, 1), np.uint8), detected=None, age=age, female_probability=female_probability
    )


# photos.py ----------------------------------------------------------------------------------------


def test_face_labels_give_number_gender_confidence_and_age_and_the_numbers_in_full():
    assert face_label(2, face((0, 0, 9, 9))) == "2 · female 87% · 34 y"
    assert face_label(1, face((0, 0, 9, 9), female_probability=0.1)) == "1 · male 90% · 34 y"
    assert face_label(3, face((0, 0, 9, 9), age=None)) == "3 · female 87%"
    assert face_label(4, face((0, 0, 9, 9), female_probability=None)) == "4 · 34 y"
    assert face_numbers(face((115, 75, 213, 277))) == "box (115, 75, 213, 277) · age 34.4 years · P(female) 0.870"
    assert face_numbers(face((1, 2, 3, 4), age=None)) == "box (1, 2, 3, 4) · P(female) 0.870"
    with_interval = dataclasses.replace(face((0, 0, 9, 9)), age_low=28.0, age_high=41.0, interval_level=0.8)
    assert face_label(5, with_interval) == "5 · female 87% · 34 y (28-41)"
    assert face_numbers(with_interval) == "box (0, 0, 9, 9) · age 34.4 years · 80% interval 28.0-41.0 · P(female) 0.870"


def test_boxes_are_drawn_where_the_faces_are_in_their_gender_colour():
    photo = np.full((400, 600, 3), GREY, np.uint8)
    woman, man = face((100, 150, 120, 140)), face((400, 160, 100, 100), female_probability=0.2)
    picture = annotated_photo(photo, [woman, man])
    assert picture.shape == photo.shape and picture.dtype == np.uint8
    assert tuple(picture[220, 100]) == BOX_COLOURS["female"], "left edge of the first box"
    assert tuple(picture[290, 150]) == BOX_COLOURS["female"], "bottom edge"
    assert tuple(picture[210, 400]) == BOX_COLOURS["male"]
    assert tuple(picture[220, 160]) == (GREY,) * 3, "inside a box the photo is untouched"
    label_band = picture[120:148, 100:220]  # Above the first box: its label on a coloured band.
    assert (label_band == BOX_COLOURS["female"]).all(axis=2).mean() > 0.3
    assert (label_band == 255).all(axis=2).any(), "white text"
    assert (photo == GREY).all(), "the photo itself is not drawn on"


def test_a_big_photo_is_shrunk_and_its_boxes_with_it():
    photo = np.full((1000, 2048, 3), GREY, np.uint8)
    picture = annotated_photo(photo, [face((1000, 400, 200, 200))])
    assert picture.shape == (500, 1024, 3)
    assert tuple(picture[250, 500]) == BOX_COLOURS["female"], "the left edge, halved"
    assert tuple(picture[250, 560]) == (GREY,) * 3


def test_a_label_at_the_top_edge_goes_inside_the_box():
    picture = annotated_photo(np.full((300, 300, 3), GREY, np.uint8), [face((50, 0, 200, 200))])
    assert (picture[5:20, 60:120] == BOX_COLOURS["female"]).all(axis=2).mean() > 0.3


def test_annotated_photo_refuses_what_is_not_an_rgb_photo():
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 RGB image, got ndarray \(10, 10\)"):
        annotated_photo(np.zeros((10, 10), np.uint8), [])


def test_the_faces_table_has_a_row_per_face_of_every_photo():
    first = PhotoPrediction(640, 480, [face((10, 20, 30, 40)), face((100, 20, 30, 40), age=61.26, female_probability=0.123456)])
    second = PhotoPrediction(200, 200, [face((0, 0, 200, 200), female_probability=0.5)], message="read whole")
    table = faces_table([("party.jpg", first), ("empty.png", PhotoPrediction(9, 9, [], "no face")), ("chip.png", second)])
    assert list(table.columns) == [
        "image",
        "face",
        "x",
        "y",
        "width",
        "height",
        "confidence",
        "age",
        "gender",
        "female_probability",
        "warnings",
    ]
    assert table[["image", "face"]].values.tolist() == [["party.jpg", 1], ["party.jpg", 2], ["chip.png", 1]]
    assert table.loc[1, ["x", "y", "width", "height"]].tolist() == [100, 20, 30, 40]
    assert table.loc[1, "age"] == 61.3 and table.loc[1, "female_probability"] == 0.1235 and table.loc[1, "gender"] == "male"
    assert table.loc[2, "gender"] == "female", "0.5 counts as female, as in core.inference.photos"
    assert table["confidence"].isna().all()
    assert pd.read_csv(io.StringIO(table.to_csv(index=False))).shape == (3, 11)
    honest = dataclasses.replace(
        face((5, 5, 30, 30)), age_low=30.0, age_high=41.0, interval_level=0.8, warnings=("small", "turned")
    )
    row = faces_table([("small.jpg", PhotoPrediction(99, 99, [honest]))]).iloc[0]
    assert (row["age_low"], row["age_high"], row["interval_level"], row["warnings"]) == (30.0, 41.0, 0.8, "small; turned")


def test_the_faces_table_leaves_out_a_head_the_models_lack():
    gender_only = PhotoPrediction(50, 50, [face((0, 0, 50, 50), age=None)])
    assert "age" not in faces_table([("a.jpg", gender_only)]).columns
    age_only = PhotoPrediction(50, 50, [face((0, 0, 50, 50), female_probability=None)])
    assert not {"gender", "female_probability"} & set(faces_table([("a.jpg", age_only)]).columns)
    assert faces_table([]).empty


# model_choice.py ----------------------------------------------------------------------------------


def fake_run(tmp_path, name: str, task: str, state: str = runs.COMPLETED, with_model: bool = True) -> runs.RunInfo:
    """A run folder with the files model_choice looks at (an archive with a Keras model's two entries stands for a model)."""
    run_dir = tmp_path / name
    run_dir.mkdir()
    (run_dir / runs.CONFIG_FILE).write_text(json.dumps({"task": task}))
    (run_dir / runs.STATUS_FILE).write_text(json.dumps({"state": state}))
    if with_model:
        with zipfile.ZipFile(run_dir / runs.MODEL_FILE, "w") as model:
            model.writestr("config.json", "{}")
            model.writestr("model.weights.h5", b"")
    return runs.load_run(run_dir)


def test_only_finished_runs_with_a_model_can_predict(tmp_path):
    listed = [
        fake_run(tmp_path, "06-both-failed", "both", state=runs.FAILED),
        fake_run(tmp_path, "05-both-no-model", "both", with_model=False),
        fake_run(tmp_path, "04-age", "age"),
        fake_run(tmp_path, "03-gender-stopped", "gender", state=runs.STOPPED),
        fake_run(tmp_path, "02-both", "both"),
        fake_run(tmp_path, "01-gender", "gender"),
    ]
    usable = model_choice.runs_by_task(listed)
    assert {task: [run.run_id for run in found] for task, found in usable.items()} == {
        "both": ["02-both"],
        "gender": ["03-gender-stopped", "01-gender"],
        "age": ["04-age"],
    }
    assert [run.run_id for run in model_choice.default_runs(usable)] == ["03-gender-stopped", "04-age"], "the pair is newer"


def test_the_newest_both_run_is_proposed_unless_a_newer_pair_exists(tmp_path):
    both, gender, age = (
        fake_run(tmp_path, "03-both", "both"),
        fake_run(tmp_path, "04-gender", "gender"),
        fake_run(tmp_path, "01-age", "age"),
    )
    assert model_choice.default_runs({"both": [both], "gender": [gender], "age": [age]}) == [both], (
        "the pair is as old as its age run"
    )
    assert model_choice.default_runs({"both": [both], "gender": [gender], "age": []}) == [both]
    assert model_choice.default_runs({"both": [], "gender": [gender], "age": []}) == [gender]
    assert model_choice.default_runs({"both": [], "gender": [], "age": []}) == []


# explaining.py ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def predictions(tiny_both_run) -> pd.DataFrame:
    return runs.read_predictions(tiny_both_run)


def test_worst_faces_are_the_largest_age_errors_and_the_most_confident_gender_mistakes(predictions):
    worst_age = explaining.worst_faces(predictions, "age", 5)
    assert list(worst_age["row_id"]) == list(predictions.loc[predictions["age_error"].abs().nlargest(5).index, "row_id"])
    worst_gender = explaining.worst_faces(predictions, "gender", 5)
    wrong = predictions[~predictions["gender_correct"]]
    assert len(worst_gender) == min(5, len(wrong)) and not worst_gender["gender_correct"].any()
    confidence_in_wrong_answer = (worst_gender["pred_gender_prob"] - worst_gender["gender"]).abs()
    assert confidence_in_wrong_answer.is_monotonic_decreasing
    assert confidence_in_wrong_answer.iloc[0] == pytest.approx((wrong["pred_gender_prob"] - wrong["gender"]).abs().max())
    with pytest.raises(ValueError, match="head must be one of age, gender, got 'ethnicity'"):
        explaining.worst_faces(predictions, "ethnicity", 5)
    with pytest.raises(ValueError, match="count must be at least 1"):
        explaining.worst_faces(predictions, "age", 0)


def test_row_ids_are_parsed_and_looked_up_in_the_given_order(predictions):
    assert explaining.parse_row_ids(" 12, 40 7;12 ") == [12, 40, 7]
    assert explaining.parse_row_ids("") == []
    with pytest.raises(ValueError, match="'-3', 'x1' is not"):
        explaining.parse_row_ids("5 -3 x1")
    ids = predictions["row_id"].tolist()
    picked, missing = explaining.faces_by_row_id(predictions, [ids[7], 999_999, ids[2]])
    assert list(picked["row_id"]) == [ids[7], ids[2]] and missing == [999_999]
    assert picked.loc[0, "img_name"] == predictions.loc[7, "img_name"]


def test_group_samples_cap_each_group_and_are_seeded(predictions):
    by_gender = explaining.group_samples(predictions, "gender_name", per_group=10, seed=1)
    assert list(by_gender) == ["female", "male"]
    for label, rows in by_gender.items():
        assert len(rows) == min(10, (predictions["gender_name"] == label).sum())
        assert set(predictions.set_index("row_id").loc[rows, "gender_name"]) == {label}
    assert all(
        np.array_equal(by_gender[label], rows)
        for label, rows in explaining.group_samples(predictions, "gender_name", 10, seed=1).items()
    )
    by_bucket = explaining.group_samples(predictions, "age_bucket", per_group=1000)
    assert next(iter(by_bucket)) == "0-2" and sum(map(len, by_bucket.values())) == len(predictions), (
        "buckets in age order, all faces"
    )
    with pytest.raises(ValueError, match="per_group must be at least 1"):
        explaining.group_samples(predictions, "age_bucket", per_group=0)
