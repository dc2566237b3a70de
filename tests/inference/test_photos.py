"""core.inference.photos: models of one or two real (tiny) runs, photo -> faces with age and gender, and the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from core import runs
from core.cli.predict import main
from core.data.loading import load_faces
from core.inference.photos import FacePredictor, predict_photo
from core.inference.predictor import KerasModel, Predictor
from core.networks.presets import get_preset
from core.runs import MODEL_FILE, load_run
from core.vision.faces import NO_FACE_MESSAGE
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def predictor(tiny_both_run) -> FacePredictor:
    return FacePredictor.from_runs([tiny_both_run])


@pytest.fixture(scope="module")
def chip_path(shared_faces):
    return sorted(shared_faces.glob("*.jpg"))[0]


@pytest.fixture(scope="module")
def plain_photo() -> bytes:
    """A photo without a face: a wide grey gradient."""
    sky = np.tile(np.linspace(60, 200, 400, dtype=np.uint8)[None, :, None], (200, 1, 3))
    buffer = io.BytesIO()
    Image.fromarray(sky).save(buffer, "PNG")
    return buffer.getvalue()


def test_predictions_match_the_models_own(predictor, tiny_both_run, shared_csv):
    data, _ = load_faces(shared_csv)
    crops = data.images[:16]
    predicted = predictor.predict(crops)
    assert predictor.heads == ("gender", "age")
    model = keras.models.load_model(tiny_both_run / MODEL_FILE, compile=False)
    flip = load_run(tiny_both_run).config.train.preset.flip_test_time
    expected = Predictor(KerasModel(model), flip).predict(crops.astype(np.float32) / 255.0)
    # P(female) is the network's, calibrated by the run's own temperature.
    calibrated = runs.read_calibration(tiny_both_run).female_probability(expected["gender"])
    assert np.allclose(predicted["gender"], calibrated, atol=1e-5)
    assert np.allclose(predicted["age"], expected["age"], atol=1e-3)


def test_a_gender_run_and_an_age_run_work_together(tiny_gender_run, tiny_age_run, shared_csv):
    pair = FacePredictor.from_runs([tiny_gender_run, tiny_age_run])
    assert pair.heads == ("gender", "age")
    assert pair.keras_model("gender") is not pair.keras_model("age")
    data, _ = load_faces(shared_csv)
    predicted = pair.predict(data.images[:5])
    # Each head is its own run's model's answer.
    for head, run_dir in (("gender", tiny_gender_run), ("age", tiny_age_run)):
        run = load_run(run_dir)
        own = Predictor(KerasModel(run.load_model()), run.config.train.preset.flip_test_time).predict(data.as_float(np.arange(5)))
        if head == "gender":
            own["gender"] = runs.read_calibration(run_dir).female_probability(own["gender"])
        assert list(own) == [head] and np.allclose(predicted[head], own[head], atol=1e-4)


def test_runs_that_do_not_fit_together_are_refused(tiny_both_run, tiny_gender_run, tmp_path):
    with pytest.raises(ValueError, match="both predict gender; give one run per head"):
        FacePredictor.from_runs([tiny_both_run, tiny_gender_run])
    with pytest.raises(ValueError, match="give one run with both heads, or a gender run and an age run; got 3 runs"):
        FacePredictor.from_runs([tiny_both_run] * 3)
    with pytest.raises(ValueError, match="is not a run directory"):
        FacePredictor.from_runs([tmp_path])


def test_a_photo_gives_its_face_with_box_age_and_gender(predictor, chip_path):
    photo = predict_photo(predictor, chip_path.read_bytes())
    assert (photo.width, photo.height) == (200, 200) and photo.message is None
    [face] = photo.faces
    assert face.crop.shape == (48, 48, 1) and face.detected is not None
    x, y, width, height = face.box
    assert 0 <= x < x + width <= 200 and 0 <= y < y + height <= 200 and width > 80
    # The photo's answer is the models' answer for the face it cut out.
    direct = predictor.predict(face.crop)
    assert face.age == pytest.approx(direct["age"][0]) and face.female_probability == pytest.approx(direct["gender"][0])
    assert face.gender == ("female" if face.female_probability >= 0.5 else "male")
    assert set(face.to_dict()) == {
        "box", "confidence", "age", "age_low", "age_high", "interval_level", "gender", "female_probability", "warnings",
    }  # fmt: skip
    low, high = predictor.age_interval(direct["age"], 0.8)
    assert (face.age_low, face.age_high, face.interval_level) == (pytest.approx(low[0]), pytest.approx(high[0]), 0.8)
    wider = predict_photo(predictor, chip_path.read_bytes(), level=0.95).faces[0]
    assert wider.age_low <= face.age_low and wider.age_high >= face.age_high


def test_no_face_is_reported_or_read_as_a_whole_image_chip(predictor, plain_photo):
    reported = predict_photo(predictor, plain_photo)
    assert reported.faces == [] and reported.message == NO_FACE_MESSAGE
    whole = predict_photo(predictor, plain_photo, if_no_face="whole-image")
    [face] = whole.faces
    assert face.detected is None and face.box == (100, 0, 200, 200)  # The central square.
    assert "whole image" in whole.message and face.age is not None
    with pytest.raises(ValueError, match="if_no_face must be one of"):
        predict_photo(predictor, plain_photo, if_no_face="guess")


def test_the_cli_prints_each_face_with_age_and_gender(tiny_gender_run, tiny_age_run, chip_path, plain_photo, tmp_path):
    plain = tmp_path / "plain.png"
    plain.write_bytes(plain_photo)
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    runs = [str(tiny_gender_run), str(tiny_age_run)]
    command = [sys.executable, "-m", "core", "predict", *runs, str(chip_path), str(plain), str(not_an_image), "--level", "0.9"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # One image could not be read.
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["runs"] == {"gender": str(tiny_gender_run), "age": str(tiny_age_run)}
    photo, no_face, bad = result["images"]
    [face] = photo["faces"]
    # The same answer as the library gives in this process, rounded as the JSON rounds it.
    expected = predict_photo(FacePredictor.from_runs([tiny_gender_run, tiny_age_run]), chip_path, level=0.9).faces[0].to_dict()
    assert set(face) == set(expected) and face["interval_level"] == 0.9
    assert (face["box"], face["gender"], face["warnings"]) == (expected["box"], expected["gender"], expected["warnings"])
    for key in ("age", "age_low", "age_high", "female_probability", "confidence"):
        assert face[key] == pytest.approx(expected[key], abs=0.051), key
    assert no_face["faces"] == [] and no_face["message"] == NO_FACE_MESSAGE
    assert bad == {"image": str(not_an_image), "error": "not a JPEG, PNG or WebP image"}


def test_the_cli_can_read_a_faceless_image_whole(tiny_both_run, plain_photo, tmp_path, capsys):
    plain = tmp_path / "plain.png"
    plain.write_bytes(plain_photo)
    assert main([str(tiny_both_run), str(plain), "--if-no-face", "whole-image"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [face] = result["images"][0]["faces"]
    assert face["box"] == [100, 0, 200, 200] and face["confidence"] is None and "age" in face and "gender" in face


def test_the_cli_needs_runs_then_images(tiny_both_run, chip_path, capsys):
    with pytest.raises(SystemExit):
        main([str(chip_path)])
    assert "expected one or two run directories" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tiny_both_run)])


def test_predictor_averages_with_the_mirror_image_for_flip_presets():
    from core.networks.build import build_model

    model = build_model(get_preset("compact"), "both", age_bias=30.0)
    crops = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1), dtype=np.uint8)
    faces = crops.astype(np.float32) / 255
    plain = model(faces, training=False)
    mirrored = model(np.ascontiguousarray(faces[:, :, ::-1]), training=False)
    flipped = Predictor(KerasModel(model), flip_test_time=True).predict(faces)
    expected_female = (np.asarray(plain["gender"])[:, 1] + np.asarray(mirrored["gender"])[:, 1]) / 2
    np.testing.assert_allclose(flipped["gender"], expected_female, rtol=1e-5)
    np.testing.assert_allclose(
        flipped["age"], (np.asarray(plain["age"])[:, 0] + np.asarray(mirrored["age"])[:, 0]) / 2, rtol=1e-5
    )
    unflipped = Predictor(KerasModel(model), flip_test_time=False).predict(faces)
    np.testing.assert_allclose(unflipped["age"], np.asarray(plain["age"])[:, 0], rtol=1e-5)


def test_a_folder_of_photos_becomes_a_table_of_faces_and_a_bad_photo_a_row(tiny_both_run, shared_faces, plain_photo, tmp_path):
    folder = tmp_path / "album"
    (folder / "2025").mkdir(parents=True)
    chips = sorted(shared_faces.glob("*.jpg"))[:3]
    for index, chip in enumerate(chips):
        (folder / ("2025" if index else "") / chip.name).write_bytes(chip.read_bytes())
    (folder / "2025" / "sky.png").write_bytes(plain_photo)
    (folder / "broken.jpg").write_text("not a photo")
    (folder / "notes.txt").write_text("not looked at")
    for out in (tmp_path / "faces.csv", tmp_path / "faces.jsonl"):
        done = subprocess.run([sys.executable, "-m", "core", "predict", str(tiny_both_run), str(folder), "--out", str(out)],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 1, done.stderr[-2000:]  # broken.jpg could not be read.
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert (summary["faces"], summary["without_face"], summary["unreadable"]) == (3, 1, 1)
        assert "5/5 images" in done.stderr, "a progress bar on stderr"
    table = pd.read_csv(tmp_path / "faces.csv")
    lines = [json.loads(line) for line in (tmp_path / "faces.jsonl").read_text().splitlines()]
    assert len(table) == len(lines) == 5 and list(table["image"]) == [line["image"] for line in lines]
    faces = table[table["face"].notna()]
    assert len(faces) == 3 and faces["age"].notna().all() and faces["gender"].isin(["female", "male"]).all()
    assert (faces["age_low"] <= faces["age_high"]).all()
    errors = dict(zip(table["image"].map(lambda path: path.rsplit("/", 1)[-1]), table["error"], strict=True))
    assert errors["broken.jpg"] == "not a JPEG, PNG or WebP image" and errors["sky.png"] == NO_FACE_MESSAGE
    # The same faces as one by one.
    predictor = FacePredictor.from_runs([tiny_both_run])
    first = predict_photo(predictor, chips[0]).faces[0]
    row = faces[faces["image"] == str(folder / chips[0].name)].iloc[0]
    assert row["age"] == pytest.approx(first.age, abs=0.051) and row["female_probability"] == pytest.approx(
        first.female_probability, abs=5e-5
    )
