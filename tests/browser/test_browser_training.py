"""Training from the Train page in a real browser: live curves and progress without a reload, and Stop.

Two real background trainings run (gender, 400 rows, batch size 2, so an
epoch has 144 batches and the curves gain a point every 10); the
`no_training_left` fixture ends any process a failure leaves running.
"""

from __future__ import annotations

import json
import re

from core import runs
from tests.browser.ui import (
    choose_option,
    expect,
    expect_no_exception,
    expect_plot_drawn,
    fill_number,
    heading,
    keyed,
    open_from_sidebar,
    plot_points,
    table_row,
    wait_until,
)

# Starting a training imports TensorFlow and loads the CSV in a new process: slow on a busy 2-core machine.
TRAINING_WAIT_MS = 180_000
ROWS, BATCH_SIZE = 400, 2
RUN_HEADING = re.compile(r"^Run (\d{8}-\d{6}-\S+)$")


def progress_value(page) -> float:
    """Where the progress bar stands (0-100); -1 while there is none. Does not wait."""
    values = page.locator('[data-testid="stProgress"] [role="progressbar"]').evaluate_all(
        "bars => bars.map(bar => Number(bar.getAttribute('aria-valuenow')))"
    )
    return values[0] if values else -1


def progress_text(page) -> str:
    texts = page.locator('[data-testid="stProgress"]').all_inner_texts()
    return texts[0] if texts else ""


def start_training(page, epochs: int, previous_run: str | None = None) -> str:
    """Fill the form as a person does, press Start and return the id of the run the page then watches."""
    choose_option(page, "Task", "gender")
    fill_number(page, "train-epochs", epochs)
    fill_number(page, "train-batch-size", BATCH_SIZE)
    fill_number(page, "train-limit", ROWS)
    page.get_by_role("button", name="Start training").click()
    title = page.get_by_role("heading", name=RUN_HEADING)

    def new_run_id() -> str | None:
        texts = title.all_inner_texts()
        match = RUN_HEADING.match(texts[0].strip()) if texts else None
        return match and match.group(1) != previous_run and match.group(1)

    return wait_until(new_run_id, "the page to show the new run", page=page)


def test_training_curves_grow_live_and_stop_ends_a_run_early(page, no_training_left):
    runs_dir = no_training_left
    page.goto("/train")
    expect(heading(page, "Train")).to_be_visible()
    # Gone if the browser reloads the page: proves the live panel updates in place.
    page.evaluate("() => { window.sameDocument = true; }")

    run_id = start_training(page, epochs=2)
    run_dir = runs_dir / run_id
    config = json.loads((run_dir / runs.CONFIG_FILE).read_text())
    assert (config["task"], config["epochs"], config["batch_size"], config["limit"]) == ("gender", 2, BATCH_SIZE, ROWS)
    expect(page.get_by_role("button", name="Start training")).to_be_disabled()  # One training at a time.

    live = keyed(page, "live-curves")
    first_points = wait_until(lambda: plot_points(live), "the live curves' first points", TRAINING_WAIT_MS, page)
    first_progress = progress_value(page)
    assert re.match(r"^Epoch \d/2 · batch \d+/\d+ · elapsed", progress_text(page)), progress_text(page)
    wait_until(lambda: plot_points(live) > first_points, "the live curves to gain points", page=page)
    wait_until(lambda: progress_value(page) > first_progress, "the progress bar to move on", page=page)
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
    expect_no_exception(page)

    # When it ends the page shows the result by itself, still without a reload.
    expect(page.get_by_text("Completed in")).to_be_visible(timeout=TRAINING_WAIT_MS)
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Test accuracy")).to_be_visible()
    expect_plot_drawn(keyed(page, "final-curves"))
    assert page.evaluate("() => window.sameDocument === true"), "the page was reloaded"
    assert runs.load_run(run_dir).state == runs.COMPLETED
    epochs = [record for record in runs.read_history(run_dir) if record.kind == "epoch"]
    assert len(epochs) == 2
    expect_no_exception(page)

    # A second, long run, stopped as soon as it trains.
    stopped_id = start_training(page, epochs=20, previous_run=run_id)
    stopped_dir = runs_dir / stopped_id
    wait_until(lambda: progress_text(page).startswith("Epoch "), "the second run to train", TRAINING_WAIT_MS, page)
    page.get_by_role("button", name="Stop training").click()
    expect(page.get_by_text("Stopped on request")).to_be_visible(timeout=TRAINING_WAIT_MS)
    assert runs.load_run(stopped_dir).state == runs.STOPPED
    epochs_reached = max(record.epoch for record in runs.read_history(stopped_dir))
    assert epochs_reached < 20, "Stop ended the run early"
    expect_no_exception(page)

    open_from_sidebar(page, "Runs")
    stopped_row = wait_until(lambda: table_row(page, stopped_id), "the stopped run in the runs table", page=page)
    # The epoch Stop cut short counts: "1/20" when it stopped during the first.
    assert (stopped_row["status"], stopped_row["epochs"]) == ("stopped", f"{epochs_reached}/20"), stopped_row
    assert table_row(page, run_id)["status"] == "completed"
    expect_no_exception(page)
