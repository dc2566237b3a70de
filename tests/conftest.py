"""Shared fixtures: the real data, and tiny real runs trained once per test session; and the markers.

Markers (registered in pyproject.toml) are given here from what a test uses,
so that no test has to remember them: `needs_data` for every test that reads
../shared/data, `slow` for every test that needs a trained run (and, in its
module, for tests that train or start processes themselves), `browser` (and
`slow`) for tests/browser. While working, `python -m pytest -m "not slow and
not browser"` runs the quick subset.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import core.quiet  # noqa: F401  (must come before TensorFlow)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SHARED_CSV = SHARED_DATA / "age_gender.csv.gz"
SHARED_FACES = SHARED_DATA / "faces"
# The starter run that ships in the repository (tests otherwise see none: `isolated_cache`).
SHIPPED_STARTER = REPO_ROOT / "models" / "starter"


# Fixtures that train real models (once per session, about a minute each): a test that uses one is slow.
TRAINED_RUN_FIXTURES = {
    "tiny_both_run",
    "tiny_gender_run",
    "tiny_age_run",
    "tiny_starter",
    "default_run",
    "fixture_run",
    "server",
}
DATA_FIXTURES = {"shared_csv", "shared_faces"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(item.fixturenames)
        if used & DATA_FIXTURES:
            item.add_marker(pytest.mark.needs_data)
        if used & TRAINED_RUN_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if "browser" in item.path.relative_to(REPO_ROOT).parts:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.slow)


def assert_beats_constant_answers(faces, split, test: dict, accuracy_margin: float = 0.1) -> None:
    """A run's test figures beat the best constant answers: the commoner gender, and the training faces' mean age."""
    test_rows = split["test"]
    majority_share = max(np.mean(faces.gender[test_rows] == gender) for gender in (0, 1))
    mean_age_mae = np.abs(faces.age[test_rows] - faces.age[split["train"]].mean()).mean()
    assert test["accuracy"] > majority_share + accuracy_margin, (test, majority_share)
    assert test["mae"] < mean_age_mae - 1, (test, mean_age_mae)


def _require(path: Path) -> Path:
    """The path, or a skip when it is absent; under CI the real data must be there."""
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the shared data at {path}")
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture(scope="session")
def shared_csv() -> Path:
    return _require(SHARED_CSV)


@pytest.fixture(scope="session")
def shared_faces() -> Path:
    return _require(SHARED_FACES)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Tests never write caches or runs into the checkout, and see no starter run unless they ask for one."""
    cache = tmp_path_factory.mktemp("cache")
    runs = tmp_path_factory.mktemp("runs")
    previous = {
        key: os.environ.get(key) for key in ("AGEGENDER_CACHE", "AGEGENDER_RUNS", "AGEGENDER_STARTER", "AGEGENDER_RAISE_ERRORS")
    }
    os.environ["AGEGENDER_CACHE"] = str(cache)
    os.environ["AGEGENDER_RUNS"] = str(runs)
    os.environ["AGEGENDER_STARTER"] = str(tmp_path_factory.mktemp("no-starter") / "missing")
    # A page's last-line error guard shows a message to users; tests want the error itself.
    os.environ["AGEGENDER_RAISE_ERRORS"] = "1"
    yield
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _tiny_run(tmp_path_factory, shared_csv: Path, task: str) -> Path:
    from core.config import TrainConfig
    from core.training.loop import train

    run_dir = tmp_path_factory.mktemp(f"tiny-{task}-run") / "run"
    # compact-long, not the default: one epoch on 600 rows is all these runs get, and the default's extra
    # losses (age distribution, ethnicity) leave such a model with some near-flat CAMs now and then.
    config = TrainConfig(task=task, preset="compact-long", epochs=1, limit=600, csv_path=str(shared_csv), log_every_batches=2)
    train(config, run_dir=run_dir, verbose=0)
    return run_dir


@pytest.fixture(scope="session")
def tiny_both_run(tmp_path_factory, shared_csv) -> Path:
    """A finished run with gender and age heads, trained for one epoch on 600 real rows."""
    return _tiny_run(tmp_path_factory, shared_csv, "both")


@pytest.fixture(scope="session")
def tiny_gender_run(tmp_path_factory, shared_csv) -> Path:
    return _tiny_run(tmp_path_factory, shared_csv, "gender")


@pytest.fixture(scope="session")
def tiny_age_run(tmp_path_factory, shared_csv) -> Path:
    return _tiny_run(tmp_path_factory, shared_csv, "age")


@pytest.fixture
def tiny_starter(tmp_path, monkeypatch, tiny_both_run) -> Path:
    """A copy of the tiny `both` run standing in for the starter run that ships in models/starter."""
    starter = tmp_path / "models" / "starter"
    shutil.copytree(tiny_both_run, starter)
    monkeypatch.setenv("AGEGENDER_STARTER", str(starter))
    return starter


@pytest.fixture
def no_runs(tmp_path, monkeypatch, shared_csv):
    """An empty runs folder and the shared CSV as the default data, for pages with nothing trained yet."""
    monkeypatch.setenv("AGEGENDER_RUNS", str(tmp_path / "empty-runs"))
    monkeypatch.setenv("AGEGENDER_CSV", str(shared_csv))
