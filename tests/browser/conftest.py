"""A real Streamlit server and a real headless Chromium, for end-to-end tests.

    python3 -m pytest tests/browser          # about 2-3 minutes on 2 cores

The server runs `streamlit run dashboard/app.py` on a free localhost port with
a temporary runs folder holding one tiny finished run, and the shared CSV; all
browser tests share it. Every test's page is screenshotted whole into
artifacts/screenshots/ (git-ignored), pass or fail, so a failure can be looked
at. Under CI=true a missing Chromium or Playwright fails instead of skipping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from core import runs
from dashboard.serving import serve
from tests.conftest import REPO_ROOT
from tests.processes import stop_process_of

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
# Flags that keep Chromium from reaching for the network this machine does not have.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
VIEWPORT = {"width": 1400, "height": 1000}
# The finished run every browser test can rely on (trained on 600 rows for one epoch).
FIXTURE_RUN = "20260101-000000-both-seed-tiny"


def stop_all_trainings(runs_dir: Path) -> None:
    """End every training still running under `runs_dir`, by the pid in its status.json.

    Only runs marked running: the fixture run was trained inside this pytest
    process and records its pid.
    """
    for run in runs.list_runs(runs_dir):
        if run.state == runs.RUNNING:
            stop_process_of(run.run_dir)


@pytest.fixture(scope="session")
def browser_runs_dir(tmp_path_factory, tiny_both_run) -> Path:
    """A runs folder for the server, starting with one finished tiny run."""
    runs_dir = tmp_path_factory.mktemp("browser-runs")
    shutil.copytree(tiny_both_run, runs_dir / FIXTURE_RUN)
    return runs_dir


@pytest.fixture(scope="session")
def fixture_run(browser_runs_dir) -> Path:
    """The folder of the tiny `both` run the server starts with (tests must not change it)."""
    return browser_runs_dir / FIXTURE_RUN


# Package scope: the server and browser go away once the browser tests are done, not at the end of the whole suite.
@pytest.fixture(scope="package")
def server(tmp_path_factory, browser_runs_dir, shared_csv) -> str:
    """Base URL of a running dashboard."""
    try:
        with serve(
            tmp_path_factory.mktemp("server"), AGEGENDER_RUNS=str(browser_runs_dir), AGEGENDER_CSV=str(shared_csv)
        ) as running:
            yield running.url
    finally:
        # Trainings run in their own process groups and outlive the server; none may outlive the tests.
        stop_all_trainings(browser_runs_dir)


@pytest.fixture(scope="package")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Debian's chromium at {CHROMIUM}")
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextlib.contextmanager
def open_tab(browser, base_url: str, name: str):
    """A fresh browser tab (a new Streamlit session) on a server, screenshotted whole as `name` when done, pass or fail."""
    # Imported here: the module skips (or fails under CI) without Playwright, which a conftest must not.
    from tests.browser.ui import WAIT_MS, screenshot

    context = browser.new_context(viewport=VIEWPORT, base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        yield page
    finally:
        try:
            screenshot(page, SCREENSHOTS / f"{name}.png")
        finally:
            context.close()


@pytest.fixture
def page(browser, server, request):
    """A fresh browser tab on the server; `page.goto("/train")` opens a page."""
    with open_tab(browser, server, request.node.name) as tab:
        yield tab


@pytest.fixture
def shots() -> Path:
    """Where a test puts screenshots of its own (one per page it checks)."""
    return SCREENSHOTS


@pytest.fixture
def no_training_left(browser_runs_dir):
    """Ends, after the test, any training the test started and left running."""
    yield browser_runs_dir
    stop_all_trainings(browser_runs_dir)
