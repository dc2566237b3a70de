"""core.cli.train's flags: one per TrainConfig field, and a saved config.json as the starting point."""

from __future__ import annotations

import dataclasses

import pytest

from core import runs
from core.cli.train import config_from_args, parse_args
from core.config import TrainConfig, setting_flags


def test_every_training_setting_is_a_flag():
    flags = dict(setting_flags())
    assert {field.name for field in flags.values()} == {field.name for field in dataclasses.fields(TrainConfig)}
    assert "--csv" in flags and "--log-every-batches" in flags
    config = config_from_args(parse_args(["--task", "age", "--log-every-batches", "3", "--limit", "500", "--csv", "f.csv"]))
    assert (config.task, config.log_every_batches, config.limit, config.csv_path) == ("age", 3, 500, "f.csv")


def test_unset_flags_take_the_config_s_defaults(monkeypatch):
    monkeypatch.setenv("AGEGENDER_CSV", "/data/default.csv")
    assert config_from_args(parse_args([])) == TrainConfig(csv_path="/data/default.csv")


def test_a_saved_config_is_the_starting_point_and_flags_override_it(tmp_path):
    saved = TrainConfig(task="both", preset="seed", epochs=7, seed=5, csv_path="/data/faces.csv", log_every_batches=2)
    runs.write_config(tmp_path, runs.RunConfig(train=saved, data_hash="provenance is ignored"))
    config_file = str(tmp_path / runs.CONFIG_FILE)
    assert config_from_args(parse_args(["--config", config_file])) == saved
    assert config_from_args(parse_args(["--config", config_file, "--seed", "9"])) == dataclasses.replace(saved, seed=9)
    # Another preset brings its own schedule, unless it is given too.
    compact = config_from_args(parse_args(["--config", config_file, "--preset", "compact"]))
    assert (compact.preset.name, compact.epochs, compact.seed) == ("compact", TrainConfig(preset="compact").epochs, 5)
    with pytest.raises(ValueError, match="no readable JSON"):
        config_from_args(parse_args(["--config", str(tmp_path / "missing.json")]))


def test_bad_settings_are_refused_before_tensorflow_loads(capsys):
    from core.cli.train import main

    assert main(["--epochs", "0"]) == 2
    assert "epochs must be at least 1" in capsys.readouterr().err
