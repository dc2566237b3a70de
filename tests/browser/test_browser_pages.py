"""Every page of the dashboard opens from the sidebar and shows its real content, with no exception."""

from __future__ import annotations

import re

from tests.browser.ui import (
    expect,
    expect_images_loaded,
    expect_no_exception,
    expect_plot_drawn,
    heading,
    image_captions,
    keyed,
    open_from_sidebar,
    screenshot,
    table_row,
    wait_until,
)


def check_home(page) -> None:
    expect(page.get_by_text("Loaded now")).to_be_visible()
    for label in ("Try a photo", "Go to the Data page", "Train a model"):
        expect(page.get_by_role("button", name=label)).to_be_visible()


def check_data(page) -> None:
    expect(page.get_by_text("Every row is valid.")).to_be_visible()
    for label in ("Rows read", "Rows kept", "Rows left out"):
        expect(page.locator('[data-testid="stMetric"]').filter(has_text=label)).to_be_visible()
    for chart in ("age-histogram", "age-by-gender", "gender-balance", "ethnicity-balance"):
        expect_plot_drawn(keyed(page, chart))
    expect(page.get_by_text(re.compile(r"^Showing 48 of [\d,]+ matching faces\.$"))).to_be_visible()
    assert expect_images_loaded(page.locator('[data-testid="stImage"] img'), at_least=48) >= 48


def check_train(page) -> None:
    for label in ("Task", "Epochs", "Batch size", "Learning rate", "Row limit (0 = all rows)"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Start training")).to_be_visible()


def check_tune(page) -> None:
    expect(page.get_by_text("No study yet")).to_be_visible()
    for label in ("Study name", "Trials", "Epochs per trial", "Row limit (0 = all rows)", "Workers"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Start the study")).to_be_visible()


def check_runs(page, run_dir) -> None:
    row = wait_until(lambda: table_row(page, run_dir.name), f"run {run_dir.name} in the runs table", page=page)
    assert (row["run"], row["model"], row["status"], row["task"]) == (run_dir.name, "yours", "completed", "both"), row
    expect(page.get_by_role("heading", name="Compare")).to_be_visible()


def check_predictions(page) -> None:
    expect(page.get_by_text(re.compile(r"^Faces 1–\d+ of \d+ matching \(\d+ test faces in all\)"))).to_be_visible()
    expect_images_loaded(page.locator('[data-testid="stImage"] img'))
    expect(page.get_by_role("button", name="Details").first).to_be_visible()


def check_errors(page) -> None:
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Test faces")).to_be_visible()
    expect_plot_drawn(keyed(page, "errors-scatter"))
    # Whichever run the page picks (the fixture's, or a gender run another test trained) has this chart.
    expect_plot_drawn(keyed(page, "errors-bucket-accuracy"))
    expect(page.get_by_text("Drag a box or lasso over points")).to_be_visible()


def check_predict(page) -> None:
    expect(page.get_by_text("Photos (JPEG, PNG or WebP)")).to_be_visible()
    expect(page.get_by_text("Upload one or more photos, or take a picture with the camera.")).to_be_visible()


def check_explain(page) -> None:
    # The worst faces of the run with their CAMs, then maps averaged over groups.
    expect(page.get_by_text("Face: true → predicted")).to_be_visible()
    expect(page.get_by_role("heading", name="Average maps per group")).to_be_visible()
    expect(image_captions(page).filter(has_text=re.compile(r"^male \(\d+ faces\)$")).first).to_be_visible()
    expect_images_loaded(page.locator('[data-testid="stImage"] img'), at_least=8)


def test_every_page_opens_from_the_sidebar_and_shows_its_content(page, fixture_run, shots):
    page.goto("/")
    expect(page.locator('[data-testid="stApp"]')).to_be_visible()
    expect(heading(page, "Age & gender CNN studio")).to_be_visible()  # Home, the default page.
    pages = {
        "Home": check_home,
        "Data": check_data,
        "Train": check_train,
        "Tune": check_tune,
        "Runs": lambda page: check_runs(page, fixture_run),
        "Predictions": check_predictions,
        "Errors": check_errors,
        "Predict": check_predict,
        "Explain": check_explain,
    }
    for title, check in pages.items():
        if title != "Home":
            open_from_sidebar(page, title)
        check(page)
        expect_no_exception(page)
        screenshot(page, shots / f"page-{title.lower()}.png")
