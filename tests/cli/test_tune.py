"""The tune command refuses a search it cannot run, saying why, before anything starts."""

from __future__ import annotations

import json

from core.cli import tune


def test_a_bad_space_file_or_another_search_under_a_stored_name_starts_nothing(tmp_path, monkeypatch, capsys, shared_csv):
    runs_folder = tmp_path / "runs"
    monkeypatch.setenv("AGEGENDER_RUNS", str(runs_folder))
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"dropout": {"low": 0.5, "high": 0.1}}))
    common = ["--study", "s", "--epochs-per-trial", "1", "--limit", "300", "--csv", str(shared_csv)]

    assert tune.main([*common, "--space", str(space)]) == 2
    assert "dropout: the range 0.5 .. 0.1 is empty" in capsys.readouterr().err
    assert not runs_folder.exists(), "nothing created: no study, no run"

    assert tune.main([*common, "--objective", "age_mae", "--task", "gender"]) == 2
    assert "objective 'age_mae' needs a model with the age head" in capsys.readouterr().err

    # A stored study (as a first command would leave it), then the same name with another row limit.
    from core.tuning.study import open_study

    open_study(tune.search_from_args(tune.parse_args(common)))
    assert tune.main([*common[:-4], "--limit", "400", "--csv", str(shared_csv), "--trials", "1"]) == 2
    message = capsys.readouterr().err
    assert "study 's' was started with another search (base.limit: 400, stored 300)" in message
    assert [path.name for path in runs_folder.iterdir()] == ["studies"], "no trial ran"


def test_a_worker_whose_trials_keep_failing_gives_up_saying_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AGEGENDER_RUNS", str(tmp_path / "runs"))
    missing = tmp_path / "gone.csv"
    assert tune.main(["--study", "s", "--trials", "5", "--epochs-per-trial", "1", "--csv", str(missing)]) == 1
    message = capsys.readouterr().err
    assert "3 trials in a row failed; the last with:" in message and str(missing) in message
    from core.tuning.study import load_study

    assert [trial.state.name for trial in load_study("s").get_trials()] == ["FAIL"] * 3
