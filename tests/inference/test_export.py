"""core.inference.export: the model leaves the studio as ONNX, LiteRT or a SavedModel, checked against Keras every time."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile

import pytest

from core import runs
from core.inference import export
from tests.conftest import REPO_ROOT


@pytest.fixture
def run_copy(tiny_both_run, tmp_path):
    copied = tmp_path / "run"
    shutil.copytree(tiny_both_run, copied)
    return copied


@pytest.mark.parametrize("fmt", list(export.FORMATS))
def test_each_format_is_exported_beside_the_run_and_agrees_with_keras(run_copy, fmt):
    result = export.export_run(run_copy, fmt).to_json()
    assert result["parity_faces"] == min(export.PARITY_FACES, runs.read_metrics(run_copy).test.n)
    assert set(result["max_difference"]) == {"gender", "age"}
    for head, difference in result["max_difference"].items():
        assert difference <= export.TOLERANCES[head], (head, difference)
    print(f"{fmt}: {result['max_difference']}")
    path = export.export_path(run_copy, fmt)
    assert path.exists() and path.parent.name == runs.EXPORT_DIR
    data, name = export.export_bytes(run_copy, fmt)
    assert name.startswith("run-") and len(data) > 100_000
    if path.is_dir():
        assert "saved_model/saved_model.pb" in zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_the_cli_prints_the_parity_check(run_copy):
    done = subprocess.run([sys.executable, "-m", "core", "export", str(run_copy), "--format", "onnx"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["format"] == "onnx" and result["path"].endswith("export/model.onnx")
    assert all(result["max_difference"][head] <= result["tolerance"][head] for head in ("gender", "age"))


def test_an_export_that_does_not_match_is_removed_and_says_by_how_much(run_copy, monkeypatch):
    monkeypatch.setattr(export, "TOLERANCES", {"gender": -1.0, "age": -1.0})  # Nothing can match.
    with pytest.raises(ValueError, match="the litert export differs from Keras by .* removed it"):
        export.export_run(run_copy, "litert")
    assert not export.export_path(run_copy, "litert").exists() and export.export_bytes(run_copy, "litert") is None
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        export.export_run(run_copy, "pdf")
