"""Tuning from the Tune page in a real browser: a tiny study started there, its trials live, its plots, and a trial trained.

Its own server with an empty runs folder, so the study's runs meet no other
test's. The study: 3 trials of one epoch on 300 rows of the shared CSV, a
real background `python -m core tune` (about 1-2 minutes on 2 cores).
"""

from __future__ import annotations

import os
import signal

import pytest

from core import runs
from dashboard.serving import serve
from tests.browser.conftest import open_tab
from tests.browser.ui import (
    expect,
    expect_no_exception,
    expect_plot_drawn,
    fill_number,
    heading,
    keyed,
    screenshot,
    table_row,
    wait_until,
)
from tests.processes import wait_for

STUDY, TRIALS = "browser-study", 3
# A study's process imports TensorFlow and loads the CSV before its first trial, beside the server, on 2 cores.
STUDY_WAIT_MS = 300_000


@pytest.fixture(scope="module")
def tune_runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tune-browser-runs")


@pytest.fixture(scope="module")
def tune_server(tmp_path_factory, tune_runs_dir, shared_csv):
    """A dashboard on an empty runs folder; any study it started is ended with it."""
    try:
        with serve(
            tmp_path_factory.mktemp("tune-server"), AGEGENDER_RUNS=str(tune_runs_dir), AGEGENDER_CSV=str(shared_csv)
        ) as running:
            yield running.url
    finally:
        for launch in (tune_runs_dir / "studies").glob("*.launch.json"):
            pid = runs.read_json(launch)["pid"]
            if runs.pid_alive(pid):
                os.killpg(pid, signal.SIGTERM)  # The command turns SIGTERM into a stop of its study.
                wait_for(lambda pid=pid: not runs.pid_alive(pid), 120, "the study's process to end", interval=0.5)


def test_a_study_started_on_the_tune_page_shows_its_trials_live_and_plots_and_a_trial_opens_train(
    browser, tune_server, tune_runs_dir, shots
):
    with open_tab(browser, tune_server, "tune-study") as page:
        page.goto("/tune")
        expect(heading(page, "Tune")).to_be_visible()
        box = keyed(page, "tune-name").locator("input")
        box.fill(STUDY)
        box.press("Tab")
        fill_number(page, "tune-trials", TRIALS)
        fill_number(page, "tune-epochs", 1)
        fill_number(page, "tune-limit", 300)
        page.get_by_role("button", name="Start the study").click()

        # The first trial shows up while the study runs (its Stop button is there).
        wait_until(lambda: table_row(page, f"{STUDY}-t0"), "the first trial in the table", STUDY_WAIT_MS, page)
        expect(page.get_by_role("button", name="Stop the study")).to_be_visible()
        expect_no_exception(page)

        # When it ends the page redraws by itself: every trial complete, the plots, and the trials to use.
        expect(page.get_by_role("heading", name="Use a trial")).to_be_visible(timeout=STUDY_WAIT_MS)
        for number in range(TRIALS):
            row = wait_until(lambda n=number: table_row(page, f"{STUDY}-t{n}"), f"trial {number} in the table", page=page)
            assert (row["trial"], row["state"], row["epochs"]) == (str(number), "complete", "1"), row
        expect(page.get_by_role("button", name="Promote")).to_be_visible()
        assert expect_plot_drawn(keyed(page, "tune-plot-history"), at_least=TRIALS) >= TRIALS
        for chart in ("tune-plot-parallel", "tune-plot-importances"):
            expect(keyed(page, chart).locator(".js-plotly-plot")).to_be_visible()
        expect_no_exception(page)
        screenshot(page, shots / "tune-finished.png")

        page.get_by_role("button", name="Train with these settings").click()
        expect(heading(page, "Train")).to_be_visible()
        expect(page.get_by_role("combobox", name="Preset", exact=True)).to_have_value(f"{STUDY}-t0")
        assert (tune_runs_dir / "presets" / f"{STUDY}-t0.json").is_file()
        expect(page.get_by_role("button", name="Start training")).to_be_enabled()
        expect_no_exception(page)
