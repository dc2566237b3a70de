"""The Predict and Explain pages in a headless session (AppTest), on tiny real runs, real photos and real faces."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core.evaluation.metrics import age_bucket
from core.inference.photos import FacePredictor, predict_photo
from core.runs import read_predictions
from core.vision.faces import NO_FACE_MESSAGE
from dashboard import widgets
from dashboard.tables import prediction_caption
from tests.conftest import SHARED_CSV
from tests.dashboard_apptest import button, images_shown, open_page, runs_folder, texts
from tests.image_kinds import framed, png_header

# Names order the runs as list_runs does (newest first): the pair is older than the both run.
BOTH, GENDER, AGE = "20260101-000003-both-seed-tiny", "20260101-000001-gender-seed-tiny", "20260101-000002-age-seed-tiny"
PAIR_MODE = "A gender run and an age run"


@pytest.fixture
def runs_dir(tmp_path, monkeypatch, tiny_both_run, tiny_gender_run, tiny_age_run):
    folder = runs_folder(tmp_path / "runs", **{BOTH: tiny_both_run, GENDER: tiny_gender_run, AGE: tiny_age_run})
    monkeypatch.setenv("AGEGENDER_RUNS", str(folder))
    monkeypatch.setenv("AGEGENDER_CSV", str(SHARED_CSV))
    return folder


@pytest.fixture(scope="module")
def face_photo(shared_faces) -> bytes:
    """A real UTKFace photo as a JPEG: a shared chip with some background around it."""
    chip = Image.open(min(shared_faces.glob("*.jpg"))).convert("RGB")
    buffer = io.BytesIO()
    framed(chip).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def plain_photo() -> bytes:
    """A photo without a face: a grey gradient."""
    sky = np.tile(np.linspace(60, 200, 300, dtype=np.uint8)[None, :, None], (200, 1, 3))
    buffer = io.BytesIO()
    Image.fromarray(sky).save(buffer, "PNG")
    return buffer.getvalue()


def faces_shown(app) -> pd.DataFrame:
    (table,) = [frame.value for frame in app.dataframe]
    return table


def explained_faces(app) -> list[str]:
    """Captions of the faces the Explain page explains (each ends with ' · row ROW_ID')."""
    return [element.captions[0] for element in app.get("image") if element.captions and " · row " in element.captions[0]]


def column_titles(app) -> list[str]:
    return [text.strip("*") for text in texts(app, "caption") if text.startswith("**")]


def caption_of(run_dir, position: int) -> str:
    row = list(read_predictions(run_dir).itertuples())[position]
    return f"{prediction_caption(row)} · row {row.row_id}"


# Predict ------------------------------------------------------------------------------------------


def test_predict_page_without_models_says_what_to_do(no_runs):
    app = open_page("predict")
    assert "No finished run with a model yet" in texts(app, "info")[0]
    assert not app.file_uploader


def test_predict_page_finds_the_face_in_an_uploaded_photo_with_age_gender_and_cams(runs_dir, face_photo):
    app = open_page("predict")
    assert app.radio(key="predict-mode").value == "One run with both heads", "the newest usable run is the both run"
    assert app.selectbox(key="predict-both-run").value == BOTH
    assert not app.camera_input, "the camera is not asked for until the toggle is on"
    app.file_uploader(key="predict-uploads").upload("portrait.jpg", face_photo, "image/jpeg")
    app.run()
    assert not app.exception

    expected = predict_photo(FacePredictor.from_runs([runs_dir / BOTH]), face_photo)
    [face] = expected.faces
    table = faces_shown(app)
    assert table[["image", "face"]].values.tolist() == [["portrait.jpg", 1]]
    assert table.loc[0, ["x", "y", "width", "height"]].tolist() == list(face.box)
    assert table.loc[0, "age"] == pytest.approx(face.age, abs=0.05)
    assert table.loc[0, "female_probability"] == pytest.approx(face.female_probability, abs=5e-5)
    assert table.loc[0, "gender"] == face.gender
    assert texts(app, "markdown")[0].startswith(f"**Face 1 · {face.gender} ")
    # The photo with its box, then the crop, a gender CAM and an age CAM.
    assert images_shown(app) == 4
    assert app.get("image")[1].captions == ["what the models saw", "gender: Grad-CAM", "age ↑: Grad-CAM"]
    assert [element.label for element in app.download_button] == ["Download the faces as CSV"]

    app.selectbox(key="predict-cam-method").set_value("saliency")
    app.run()
    assert app.get("image")[1].captions[1:] == ["gender: Saliency", "age ↑: Saliency"]


def test_predict_page_reports_bad_files_and_still_shows_the_good_one(runs_dir, face_photo):
    app = open_page("predict")
    app.file_uploader(key="predict-uploads").set_value(
        [
            ("notes.jpg", b"these are my notes, not a photo", "image/jpeg"),
            ("huge.png", png_header(8000, 7000), "image/png"),
            ("portrait.jpg", face_photo, "image/jpeg"),
        ]
    )
    app.run()
    assert not app.exception
    assert texts(app, "error") == [
        "Cannot read notes.jpg: not a JPEG, PNG or WebP image",
        "Cannot read huge.png: image is 8000x7000 = 56.0 megapixels, over the 50-megapixel limit",
    ]
    assert faces_shown(app)["image"].tolist() == ["portrait.jpg"]


def test_predict_page_reads_a_faceless_image_whole_when_asked(runs_dir, plain_photo):
    app = open_page("predict")
    app.file_uploader(key="predict-uploads").upload("sky.png", plain_photo, "image/png")
    app.run()
    assert texts(app, "warning") == [NO_FACE_MESSAGE]
    assert not app.dataframe, "no face, no table"
    app.toggle(key="predict-whole-image-0-sky.png").set_value(True)
    app.run()
    assert not app.exception
    table = faces_shown(app)
    assert table.loc[0, ["x", "y", "width", "height"]].tolist() == [50, 0, 200, 200], "the central square"
    assert pd.isna(table.loc[0, "confidence"]) and table.loc[0, "age"] > 0


def test_predict_page_uses_a_gender_run_and_an_age_run_and_the_camera(runs_dir, face_photo):
    app = open_page("predict")
    app.radio(key="predict-mode").set_value(PAIR_MODE)
    app.run()
    assert app.selectbox(key="predict-gender-run").value == GENDER and app.selectbox(key="predict-age-run").value == AGE
    app.toggle(key="predict-camera").set_value(True)
    app.run()
    app.camera_input(key="predict-camera-shot").set_value(("shot.jpg", face_photo, "image/jpeg"))
    app.run()
    assert not app.exception
    expected = predict_photo(FacePredictor.from_runs([runs_dir / GENDER, runs_dir / AGE]), face_photo).faces[0]
    table = faces_shown(app)
    assert table.loc[0, "image"] == "camera.jpg"
    assert table.loc[0, "age"] == pytest.approx(expected.age, abs=0.05)
    assert table.loc[0, "female_probability"] == pytest.approx(expected.female_probability, abs=5e-5)

    app.selectbox(key="predict-age-run").select_index(0)  # "none" (AppTest cannot select None by value)
    app.run()
    assert "age" not in faces_shown(app).columns, "a gender run alone predicts gender only"
    assert app.get("image")[1].captions == ["what the models saw", "gender: Grad-CAM"]


# Explain ------------------------------------------------------------------------------------------


def test_explain_page_shows_every_method_for_both_heads_on_the_worst_faces(runs_dir):
    app = open_page("explain")
    app.selectbox[0].set_value(BOTH)
    app.run()
    assert not app.exception
    frame = pd.read_csv(runs_dir / BOTH / "predictions.csv")
    worst = frame["age_error"].abs().nlargest(4).index
    assert explained_faces(app) == [caption_of(runs_dir / BOTH, position) for position in worst]
    methods = ("Grad-CAM", "Grad-CAM++", "Saliency")
    assert column_titles(app)[1:] == [f"{head}: {method}" for head in ("gender", "age") for method in methods]
    # 4 faces with 6 maps each, then for each head the average maps of the 2 genders and of each age bucket present.
    buckets = age_bucket(frame["age"]).unique()
    assert images_shown(app) == 4 * 7 + 2 * (2 + len(buckets))


def test_faces_chosen_on_other_pages_are_explained_first(runs_dir):
    # The Predictions dialog's "Explain this face" button reruns only the dialog, which AppTest cannot
    # do (it reruns the whole page, where the dialog is closed); the browser check covers the click.
    # Here the faces arrive as that button leaves them: in the shared session key.
    test_ids = pd.read_csv(runs_dir / BOTH / "predictions.csv")["row_id"].tolist()
    outside = next(row_id for row_id in range(100_000) if row_id not in test_ids)
    app = open_page(
        "explain", session_state={widgets.RUN_KEY: BOTH, widgets.CHOSEN_FACES_KEY: [test_ids[5], outside, test_ids[0]]}
    )
    assert app.button_group(key="explain-source").value == "Chosen on other pages"
    assert explained_faces(app) == [caption_of(runs_dir / BOTH, 5), caption_of(runs_dir / BOTH, 0)]
    assert texts(app, "warning") == [f"Not in the test split of run {BOTH}, so not shown: row id(s) {outside}."]
    button(app, "Forget the chosen faces").click()
    app.run()
    assert app.session_state[widgets.CHOSEN_FACES_KEY] == [] and not explained_faces(app)
    assert "No face chosen yet" in texts(app, "info")[0]


def test_explain_page_takes_typed_row_ids_and_says_which_are_not_test_faces(runs_dir):
    app = open_page("explain", session_state={widgets.RUN_KEY: GENDER})
    assert column_titles(app)[1:] == ["gender: Grad-CAM", "gender: Grad-CAM++", "gender: Saliency"], (
        "a gender run has no age maps"
    )
    app.button_group(key="explain-source").set_value("Row ids")
    app.run()
    app.text_input(key="explain-row-ids").set_value("7, seven")
    app.run()
    assert texts(app, "error") == ["row ids are whole numbers from 0 up; 'seven' is not"]
    test_ids = pd.read_csv(runs_dir / GENDER / "predictions.csv")["row_id"].tolist()
    outside = next(row_id for row_id in range(100_000) if row_id not in test_ids)
    app.text_input(key="explain-row-ids").set_value(f"{test_ids[3]} {outside}")
    app.run()
    assert not app.exception
    assert texts(app, "warning") == [f"Not in the test split of run {GENDER}, so not shown: row id(s) {outside}."]
    assert explained_faces(app) == [caption_of(runs_dir / GENDER, 3)]


def test_explain_page_without_runs_says_what_to_do(no_runs):
    app = open_page("explain")
    assert "Train a model on the Train page" in texts(app, "info")[0]
    assert not app.get("image")
