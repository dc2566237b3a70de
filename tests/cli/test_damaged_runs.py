"""`evaluate` and `predict` on a run with a damaged file: exit 1 with one line naming the file, never a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from core import runs
from core.cli import evaluate, predict
from tests.conftest import REPO_ROOT, SHIPPED_STARTER
from tests.damaged_runs import DAMAGES, INT8_DAMAGED, damaged_runs_folder, run_name


@pytest.fixture(scope="module")
def damaged_folder(tmp_path_factory):
    return damaged_runs_folder(tmp_path_factory.mktemp("damaged") / "runs", SHIPPED_STARTER)


@pytest.fixture(scope="module")
def photo(shared_faces):
    return min(shared_faces.glob("*.jpg"))


def only_line(text: str) -> dict:
    (line,) = text.strip().splitlines()
    return json.loads(line)


@pytest.mark.parametrize("damage", DAMAGES)
def test_evaluate_and_predict_refuse_a_damaged_run_naming_the_file(damaged_folder, photo, damage, capsys):
    run_dir = damaged_folder / run_name(damage)
    expected = f"{run_dir / DAMAGES[damage].file} is damaged: "
    assert evaluate.main([str(run_dir)]) == 1
    assert only_line(capsys.readouterr().out)["error"].startswith(expected)
    assert predict.main([str(run_dir), str(photo)]) == 1
    assert only_line(capsys.readouterr().out)["error"].startswith(expected)


def test_the_commands_as_processes_print_one_line_and_no_traceback(damaged_folder, photo):
    run_dir = damaged_folder / run_name("status-pid-text")
    for command in (["evaluate", str(run_dir)], ["predict", str(run_dir), str(photo)]):
        done = subprocess.run(
            [sys.executable, "-m", "core", *command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 1, done.stderr
        assert (
            only_line(done.stdout)["error"]
            == f"{run_dir / runs.STATUS_FILE} is damaged: pid is text, expected a whole number or null"
        )
        assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_evaluate_falls_back_to_the_keras_model_when_the_int8_copy_is_damaged_and_says_so(damaged_folder, shared_csv, capsys):
    run_dir = damaged_folder / run_name(INT8_DAMAGED)
    assert evaluate.main([str(run_dir)]) == 0
    result = only_line(capsys.readouterr().out)
    assert result["note"].startswith(f"{run_dir / runs.INT8_MODEL_FILE} is damaged: OpenVINO could not load it")
    assert result["note"].endswith(f"used the Keras model {runs.MODEL_FILE} instead")
    starter_test = json.loads((SHIPPED_STARTER / runs.METRICS_FILE).read_text())["test"]
    assert abs(result["mae"] - starter_test["mae"]) < 0.3 and abs(result["accuracy"] - starter_test["accuracy"]) < 0.02


def test_evaluate_names_both_files_when_the_keras_model_is_damaged_too(damaged_folder, shared_csv, tmp_path, capsys):
    run_dir = tmp_path / "both-models-damaged"
    shutil.copytree(damaged_folder / run_name(INT8_DAMAGED), run_dir)
    with (run_dir / runs.MODEL_FILE).open("r+b") as model:  # A whole archive (so the run lists) whose weights are cut short.
        model.seek(0)
        model.write(b"PK\x03\x04" + bytes(2000))
    assert evaluate.main([str(run_dir)]) == 1
    error = only_line(capsys.readouterr().out)["error"]
    assert error.startswith(f"{run_dir / runs.INT8_MODEL_FILE} is damaged: OpenVINO could not load it")
    assert f"{run_dir / runs.MODEL_FILE} is damaged" in error
