"""Helpers for the dashboard's AppTest tests: open a page, read what it shows, a runs folder of tiny runs."""

from __future__ import annotations

import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

APP = REPO_ROOT / "dashboard" / "app.py"
# The Train page imports Keras on its first visit in a process.
TIMEOUT = 60


def open_page(page: str, session_state: dict | None = None) -> AppTest:
    """A fresh session (a new browser tab) that has opened `page` ('data', 'train', ...)."""
    app = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in (session_state or {}).items():
        app.session_state[key] = value
    app.run()
    if page != "home":  # Home is the default page.
        app.switch_page(f"app_pages/{page}.py")
        app.run()
    assert not app.exception, [error.value for error in app.exception]
    return app


def metric_values(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def images_shown(app: AppTest) -> int:
    """How many face images the page shows (an `st.image` element can hold several)."""
    return sum(len(element.value) for element in app.get("image"))


def texts(app: AppTest, kind: str) -> list[str]:
    """Bodies of every element of a kind: 'info', 'error', 'warning', 'success', 'caption', ..."""
    return [element.value for element in getattr(app, kind)]


def button(app: AppTest, label: str):
    matches = [candidate for candidate in app.button if candidate.label == label]
    assert matches, f"no button {label!r}; buttons: {[candidate.label for candidate in app.button]}"
    return matches[0]


def runs_folder(parent: Path, **named_runs: Path) -> Path:
    """A runs folder holding copies of finished runs under the given names (tests may delete them)."""
    parent.mkdir(parents=True, exist_ok=True)
    for name, run_dir in named_runs.items():
        shutil.copytree(run_dir, parent / name)
    return parent
