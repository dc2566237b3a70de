"""core.runs.choice: which runs can answer for photos, and which are proposed first."""

from __future__ import annotations

import json
import zipfile

from core import runs


def fake_run(tmp_path, name: str, task: str, state: str = runs.COMPLETED, with_model: bool = True, **provenance) -> runs.RunInfo:
    """A run folder with the files the choice looks at (an archive with a Keras model's two entries stands for a model)."""
    run_dir = tmp_path / name
    run_dir.mkdir()
    (run_dir / runs.CONFIG_FILE).write_text(json.dumps({"task": task, **provenance}))
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
    usable = runs.runs_by_task(listed)
    assert {task: [run.run_id for run in found] for task, found in usable.items()} == {
        "both": ["02-both"],
        "gender": ["03-gender-stopped", "01-gender"],
        "age": ["04-age"],
    }
    assert [run.run_id for run in runs.default_runs(usable)] == ["03-gender-stopped", "04-age"], "the pair is newer"


def test_a_tuning_trials_model_is_offered_only_once_it_is_promoted(tmp_path):
    own = fake_run(tmp_path, "01-both", "both")
    trial = fake_run(tmp_path, "02-both-study-t0", "both", study="study", trial=0)
    assert trial.is_usable and trial.metrics is None, "a complete trial with its model, not scored on its test split"
    assert runs.runs_by_task([trial, own])["both"] == [own]


def test_the_newest_both_run_is_proposed_unless_a_newer_pair_exists(tmp_path):
    both, gender, age = (
        fake_run(tmp_path, "03-both", "both"),
        fake_run(tmp_path, "04-gender", "gender"),
        fake_run(tmp_path, "01-age", "age"),
    )
    assert runs.default_runs({"both": [both], "gender": [gender], "age": [age]}) == [both], "the pair is as old as its age run"
    assert runs.default_runs({"both": [both], "gender": [gender], "age": []}) == [both]
    assert runs.default_runs({"both": [], "gender": [gender], "age": []}) == [gender]
    assert runs.default_runs({"both": [], "gender": [], "age": []}) == []
