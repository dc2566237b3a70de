"""The int8 copy that training saves, run by OpenVINO: what it returns, in which order, and when it is missing."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core import runs
from core.data.loading import load_faces
from core.data.splits import Split
from core.inference.int8 import BATCH_SIZE, Int8Model
from core.inference.predictor import Predictor
from core.inference.scoring import evaluate_run


@pytest.fixture(scope="module")
def faces(shared_csv):
    loaded, _ = load_faces(shared_csv)
    return loaded


def test_predictions_keep_the_order_of_the_faces_across_batches(tiny_both_run, faces):
    predictor = Predictor(Int8Model(tiny_both_run / runs.INT8_MODEL_FILE))
    # More batches than the predictor has requests, so each request runs several and the last is short.
    images = faces.as_float(np.arange(0, len(faces), 20)[: 9 * BATCH_SIZE + 17])
    together = predictor.predict(images)
    one_by_one = [predictor.predict(images[index : index + 1]) for index in range(0, len(images), 97)]
    assert set(together) == {"gender", "age"} and len(together["age"]) == len(images)
    for head in ("gender", "age"):
        np.testing.assert_allclose(
            together[head][::97], np.concatenate([single[head] for single in one_by_one]), rtol=1e-5, atol=1e-4
        )
    assert together["gender"].min() >= 0 and together["gender"].max() <= 1


def test_flip_test_time_averages_each_face_with_its_mirror_image(tiny_both_run, faces):
    model = Int8Model(tiny_both_run / runs.INT8_MODEL_FILE)
    images = faces.as_float(np.arange(0, len(faces), 50))
    plain, mirrored = Predictor(model).predict(images), Predictor(model).predict(images[:, :, ::-1])
    averaged = Predictor(model, flip_test_time=True).predict(images)
    for head in ("gender", "age"):
        np.testing.assert_allclose(averaged[head], (plain[head] + mirrored[head]) / 2, rtol=1e-5, atol=1e-4)


def test_a_one_head_model_predicts_only_its_head_and_no_faces_give_empty_arrays(tiny_gender_run):
    predictor = Predictor(Int8Model(tiny_gender_run / runs.INT8_MODEL_FILE), flip_test_time=True)
    assert predictor.heads == ("gender",)
    result = predictor.predict(np.zeros((0, 48, 48, 1), np.float32))
    assert list(result) == ["gender"] and result["gender"].shape == (0,)


def test_a_missing_int8_model_is_named_in_the_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no int8 model at .*model.int8.xml"):
        Int8Model(tmp_path / runs.INT8_MODEL_FILE)


def test_evaluate_uses_the_keras_model_of_a_run_saved_before_int8_copies(tiny_both_run, tmp_path):
    old_run = tmp_path / "old-run"
    shutil.copytree(tiny_both_run, old_run)
    for name in (runs.INT8_MODEL_FILE, runs.INT8_WEIGHTS_FILE):
        (old_run / name).unlink()
    result = evaluate_run(old_run)
    # Scored by Keras in float32 this time; training scored the same faces with the int8 copy.
    int8_scores = runs.read_metrics(tiny_both_run).test
    assert result["n"] == int8_scores.n == len(Split.load(tiny_both_run / runs.SPLIT_FILE).test)
    assert result["accuracy"] == pytest.approx(int8_scores.accuracy, abs=3 / 120)
    assert result["mae"] == pytest.approx(int8_scores.mae, abs=0.5)


def test_an_instruction_set_capped_for_training_does_not_stop_int8_inference(tiny_both_run, faces, tmp_path):
    # ONEDNN_MAX_CPU_ISA=AVX2 times training as on a CPU without bfloat16. OpenVINO's own oneDNN, capped
    # too, could not run the age head's dense layer on a CPU with more than AVX2.
    images = faces.as_float(np.arange(0, len(faces), 100))
    np.save(tmp_path / "images.npy", images)
    script = (
        "import sys, numpy as np\n"
        "from core.inference.int8 import Int8Model\n"
        "from core.inference.predictor import Predictor\n"
        "result = Predictor(Int8Model(sys.argv[1])).predict(np.load(sys.argv[2]))\n"
        "np.save(sys.argv[3], result['age'])\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2"}
    subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(tiny_both_run / runs.INT8_MODEL_FILE),
            str(tmp_path / "images.npy"),
            str(tmp_path / "age.npy"),
        ],
        env=env,
        check=True,
        capture_output=True,
        cwd=Path(__file__).parents[2],
    )
    uncapped = Predictor(Int8Model(tiny_both_run / runs.INT8_MODEL_FILE)).predict(images)["age"]
    np.testing.assert_allclose(np.load(tmp_path / "age.npy"), uncapped, rtol=1e-5, atol=1e-3)
