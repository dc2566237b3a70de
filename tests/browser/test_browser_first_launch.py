"""First launch of a fresh checkout in a real browser: no face CSV anywhere, no runs, only the starter that ships.

A server of its own runs with `AGEGENDER_CSV` pointing at a missing file, an
empty runs folder and the starter run of the repository (models/starter).
Home opens first; a shared face photo uploaded on Predict gets a face, an
age and a gender from the starter model; Errors shows MAE by age bucket from
the starter's own predictions, with no CSV.
"""

from __future__ import annotations

import pytest

from core import runs
from dashboard.serving import serve
from tests.browser.conftest import open_tab
from tests.browser.test_browser_predict import FACE_TITLE, FIRST_PREDICTION_MS, PHOTO
from tests.browser.ui import expect, expect_no_exception, expect_plot_drawn, heading, keyed, open_from_sidebar
from tests.conftest import SHIPPED_STARTER as STARTER


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory):
    if not (STARTER / runs.MODEL_FILE).is_file():
        pytest.fail(f"the starter run must ship with the repository in {STARTER}")
    scratch = tmp_path_factory.mktemp("fresh-checkout")
    empty_runs = scratch / "runs"
    empty_runs.mkdir()
    with serve(
        scratch, AGEGENDER_CSV=str(scratch / "no-such.csv"), AGEGENDER_RUNS=str(empty_runs), AGEGENDER_STARTER=str(STARTER)
    ) as server:
        yield server.url


def test_a_fresh_checkout_opens_home_predicts_a_photo_and_shows_errors_with_the_starter(browser, fresh_server, shared_faces):
    with open_tab(browser, fresh_server, "first-launch") as page:
        page.goto("/")
        expect(heading(page, "Age & gender CNN studio")).to_be_visible()
        expect(page.get_by_text("Data: none yet", exact=False)).to_be_visible()
        expect(page.get_by_text("the starter model that ships with the studio", exact=False)).to_be_visible()
        expect_no_exception(page)

        page.get_by_role("button", name="Try a photo").click()
        expect(heading(page, "Predict")).to_be_visible()
        page.locator('.st-key-predict-uploads input[type="file"]').set_input_files(shared_faces / PHOTO)
        title = page.get_by_text(FACE_TITLE).first
        expect(title).to_be_visible(timeout=FIRST_PREDICTION_MS)
        assert FACE_TITLE.match(title.inner_text()).group(1) in ("female", "male")
        expect_no_exception(page)

        open_from_sidebar(page, "Errors")
        starter_faces = f"{runs.read_metrics(STARTER).test.n:,}"
        expect(page.locator('[data-testid="stMetric"]').filter(has_text=starter_faces)).to_be_visible()
        assert expect_plot_drawn(keyed(page, "errors-bucket-mae")) >= 9, "a bar per age bucket"
        expect(page.get_by_text("belong to a different file", exact=False)).to_have_count(0)
        expect_no_exception(page)
