"""The search space and the study's definition: refused before anything starts when they are not valid."""

from __future__ import annotations

import json

import optuna
import pytest

from core.config import TrainConfig
from core.networks.presets import get_preset
from core.tuning.space import KNOBS_BY_NAME, SearchSpace, read_space_file
from core.tuning.study import Search, open_study


def test_a_space_file_narrows_fixes_and_drops_knobs_and_a_trial_becomes_a_preset_of_its_own():
    space = SearchSpace.default(get_preset("compact-dldl")).narrowed(
        {"learning_rate": {"low": 1e-3, "high": 2e-3}, "batch_size": {"choices": [64]}, "width": None, "epochs": 3}
    )
    assert "width" not in [knob.name for knob in space.knobs]
    assert space.to_json()["knobs"]["learning_rate"] == {"low": 1e-3, "high": 2e-3, "log": True, "integer": False}
    study = optuna.create_study()
    trial = study.ask()
    params = space.suggest(trial)
    assert 1e-3 <= params["learning_rate"] <= 2e-3 and params["batch_size"] == 64
    config = space.apply(TrainConfig(), params, name="s-t0")
    assert config.epochs == 3 and config.batch_size == 64 and config.learning_rate == params["learning_rate"]
    assert config.preset.name == "s-t0" and config.preset.dropout == params["dropout"]
    assert config.preset.width == get_preset("compact-dldl").width, "a dropped knob keeps the preset's value"
    # The trial's preset exists nowhere but in its run's config.json: it must come back from there whole.
    assert TrainConfig.from_json(json.loads(json.dumps(config.to_json()))) == config


def test_knobs_that_do_not_change_a_preset_are_not_searched_for_it():
    seed_knobs = {knob.name for knob in SearchSpace.default(get_preset("seed")).knobs}
    assert not seed_knobs & {"dropout", "width", "extra_convolutions", "age_label_spread", "weight_decay"}
    assert {knob.name for knob in SearchSpace.default(get_preset("compact-dldl")).knobs} == set(KNOBS_BY_NAME)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"learnin_rate": {"low": 1, "high": 2}}, "unknown knobs in the search space: learnin_rate"),
        ({"dropout": {"low": 0.4, "high": 0.2}}, r"dropout: the range 0.4 .. 0.2 is empty"),
        ({"learning_rate": {"low": 0, "high": 1e-2}}, "log-scaled range must start above 0"),
        ({"batch_size": {"choices": []}}, "the list of choices is empty"),
        ({"dropout": {"low": 0.1, "hi": 0.2}}, r"unknown keys \['hi'\]"),
        ({"dropout": "high"}, "give a number"),
        ({"epochs": {"low": 1, "high": 4}}, "epochs is not searched"),
    ],
)
def test_a_space_that_cannot_be_searched_is_refused_with_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace.default().narrowed(changes)


def test_a_space_file_that_is_not_a_json_object_names_the_file(tmp_path):
    path = tmp_path / "space.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=f"search space file {path} holds a JSON list"):
        read_space_file(path)
    path.write_text("{oops")
    with pytest.raises(ValueError, match=f"search space file {path} is not valid JSON"):
        read_space_file(path)


def test_an_objective_the_task_cannot_give_is_refused():
    with pytest.raises(ValueError, match="objective 'age_mae' needs a model with the age head"):
        Search("s", TrainConfig(task="gender"), SearchSpace.default(), ("age_mae",))
    with pytest.raises(ValueError, match="minutes alone"):
        Search("s", TrainConfig(), SearchSpace.default(), ("minutes",))
    with pytest.raises(ValueError, match="a study's name"):
        Search("../etc", TrainConfig(), SearchSpace.default())


def test_the_same_name_with_another_search_is_refused_saying_what_differs(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = Search("s", TrainConfig(epochs=2), SearchSpace.default(), storage=storage)
    open_study(first)
    open_study(first)  # The same search again goes on with it.
    other = Search(
        "s", TrainConfig(epochs=2), SearchSpace.default().narrowed({"dropout": {"low": 0.1, "high": 0.2}}), storage=storage
    )
    with pytest.raises(ValueError, match=r"another search \(space.knobs.dropout.high: 0.2, stored 0.5; space.knobs.dropout.low"):
        open_study(other)
    with pytest.raises(ValueError, match=r"objectives: \['gender_accuracy'\], stored \['combined'\]"):
        open_study(Search("s", TrainConfig(epochs=2), SearchSpace.default(), ("gender_accuracy",), storage=storage))
