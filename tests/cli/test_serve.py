"""The serve command's choices before any server starts: which runs, which keys, and its flags from ServiceSettings."""

from __future__ import annotations

import dataclasses
import json

import pytest

from core import runs
from core.cli import serve
from core.service.settings import SETTINGS_VARIABLE, ServiceSettings, serve_command
from tests.conftest import SHIPPED_STARTER
from tests.runs.test_choice import fake_run


def test_without_a_run_it_serves_the_user_s_newest_finished_run_else_the_starter(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="no finished run with a model to serve, and no starter run"):
        serve.chosen_runs([])
    monkeypatch.setenv("AGEGENDER_STARTER", str(SHIPPED_STARTER))
    assert serve.chosen_runs([]) == [SHIPPED_STARTER]
    monkeypatch.setenv("AGEGENDER_RUNS", str(tmp_path))
    fake_run(tmp_path, "01-both", "both")
    fake_run(tmp_path, "02-both-failed", "both", state=runs.FAILED)
    assert serve.chosen_runs([]) == [tmp_path / "01-both"]


def test_a_run_given_must_be_finished_with_a_model(tmp_path):
    unfinished = fake_run(tmp_path, "01-both", "both", state=runs.FAILED, with_model=False)
    with pytest.raises(ValueError, match="run 01-both cannot be served: it is failed and has no model"):
        serve.chosen_runs([unfinished.run_dir])
    with pytest.raises(ValueError):
        serve.chosen_runs([tmp_path / "not-a-run"])


def test_a_bad_key_file_stops_the_command_before_a_server_starts(tmp_path, capsys):
    assert serve.main([str(SHIPPED_STARTER), "--key-file", str(tmp_path / "absent")]) == 1
    assert "could not be read" in json.loads(capsys.readouterr().out)["error"]


def test_the_flags_are_the_settings_fields_with_their_defaults():
    args = serve.parse_args(
        [str(SHIPPED_STARTER), "--max-images", "4", "--cors-origins", "https://a.example", "https://b.example"]
    )
    defaults = ServiceSettings(run_dirs=())
    assert (args.host, args.port, args.workers) == ("127.0.0.1", 8000, 1), "this machine only, unless told otherwise"
    assert (args.max_images, args.cors_origins) == (4, ["https://a.example", "https://b.example"])
    for field in dataclasses.fields(ServiceSettings):
        if field.name not in ("run_dirs", "max_images", "cors_origins"):
            assert getattr(args, field.name) == getattr(defaults, field.name), field.name
    assert defaults.cors_origins == () and defaults.key_file is None, "CORS off and no keys unless asked"


def test_the_settings_reach_each_worker_through_the_environment():
    settings = ServiceSettings(run_dirs=("runs/a", "runs/b"), max_images=3, cors_origins=("https://a.example",))
    assert ServiceSettings.from_environment(settings.to_environment()) == settings
    with pytest.raises(ValueError, match=f"{SETTINGS_VARIABLE} is not set"):
        ServiceSettings.from_environment({})


def test_the_command_that_serves_a_run_names_it_from_the_project_root(tmp_path):
    assert serve_command([SHIPPED_STARTER]) == "python -m core serve models/starter"
    assert serve_command([tmp_path / "my run", tmp_path / "b"]) == f"python -m core serve '{tmp_path}/my run' {tmp_path}/b"
