"""A real browser on a dashboard whose runs folder holds damaged runs beside a good one: named, marked, never a traceback."""

from __future__ import annotations

from dashboard.serving import serve
from tests.browser.conftest import open_tab
from tests.browser.ui import expect, expect_no_exception, heading, open_from_sidebar, table_row, wait_until
from tests.conftest import SHIPPED_STARTER
from tests.damaged_runs import DAMAGES, GOOD_RUN, damaged_runs_folder, run_name


def test_the_runs_page_marks_each_damaged_run_and_the_sidebar_names_them(browser, tmp_path, shared_csv):
    folder = damaged_runs_folder(tmp_path / "runs", SHIPPED_STARTER)
    env = {"AGEGENDER_RUNS": str(folder), "AGEGENDER_CSV": str(shared_csv), "AGEGENDER_RAISE_ERRORS": "0"}
    with serve(tmp_path, **env) as running, open_tab(browser, running.url, "damaged-runs") as page:
        page.goto("/")
        expect(heading(page, "Age & gender CNN studio")).to_be_visible()
        sidebar = page.locator('[data-testid="stSidebar"]')
        for damage, spoiled in DAMAGES.items():
            expect(sidebar.get_by_text(f"{spoiled.file}: ", exact=False).first).to_be_visible()
            expect(sidebar.get_by_text(run_name(damage))).to_be_visible()
        open_from_sidebar(page, "Runs")
        good = wait_until(lambda: table_row(page, GOOD_RUN), f"run {GOOD_RUN} in the runs table", page=page)
        assert good["status"] == "completed", good
        damaged = table_row(page, run_name("status-pid-text"))
        assert damaged["status"] == "damaged", damaged
        expect(page.get_by_text("Something went wrong")).to_have_count(0)
        expect_no_exception(page)
