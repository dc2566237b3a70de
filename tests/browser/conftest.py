"""A real Streamlit server and a real headless Chromium, for end-to-end tests.

The server runs `streamlit run dashboard/app.py` on a free localhost port with
a temporary runs folder holding one tiny finished run, and the shared CSV.
Every test's page is screenshotted into artifacts/screenshots/ (git-ignored),
pass or fail, so a failure can be looked at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
# Flags that keep Chromium from reaching for the network this machine does not have.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_health(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"streamlit did not answer {url}/_stcore/health within {timeout} s")


@pytest.fixture(scope="session")
def browser_runs_dir(tmp_path_factory, tiny_both_run) -> Path:
    """A runs folder for the server, starting with one finished tiny run."""
    runs_dir = tmp_path_factory.mktemp("browser-runs")
    shutil.copytree(tiny_both_run, runs_dir / "20260101-000000-both-seed-tiny")
    return runs_dir


@pytest.fixture(scope="session")
def server(tmp_path_factory, browser_runs_dir, shared_csv) -> str:
    """Base URL of a running dashboard."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "streamlit.log"
    env = {**os.environ, "AGEGENDER_RUNS": str(browser_runs_dir), "AGEGENDER_CSV": str(shared_csv)}
    command = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
               "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]  # fmt: skip
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, process, timeout=90)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
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


@pytest.fixture
def page(browser, server, request):
    """A fresh browser page at 1400x1000; screenshotted when the test ends."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    finally:
        context.close()
