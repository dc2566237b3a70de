"""What the browser tests do and read on the dashboard, in a person's terms: open a page, pick a run, count points.

Every wait is for a condition (an element, a text, a chart's data), never a
fixed sleep: the machine is slow and shared, so the waits are generous.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Locator, Page, expect
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError:  # Under CI the browser tests must run, not skip.
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("browser tests need the playwright package (pip install playwright)", allow_module_level=True)

# How long to wait for content a person expects to see (ms): pages import
# TensorFlow, load models and run training beside the server on 2 cores.
WAIT_MS = 60_000
expect.set_options(timeout=WAIT_MS)

EXCEPTION = '[data-testid="stException"]'
# Screenshots grow the window to the page's height, up to this many pixels.
MAX_SCREENSHOT_HEIGHT = 12_000


def expect_no_exception(page: Page) -> None:
    """The page shows no Python traceback (Streamlit's exception box)."""
    exceptions = page.locator(EXCEPTION)
    if exceptions.count():
        raise AssertionError(f"the page shows an exception:\n{exceptions.first.inner_text()[:3000]}")


def heading(page: Page, title: str) -> Locator:
    """The page's title (`st.title`)."""
    return page.get_by_role("heading", name=title, level=1, exact=True)


def open_from_sidebar(page: Page, title: str) -> None:
    """Click the page's link in the sidebar, as a person does, and wait for its title."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    expect(heading(page, title)).to_be_visible()


def keyed(page: Page, key: str) -> Locator:
    """The element of the widget or chart created with `key=...` (Streamlit gives it the class st-key-<key>)."""
    return page.locator(f".st-key-{key}")


def choose_option(page: Page, label: str, option: str | re.Pattern) -> None:
    """Pick an option of the select box labelled `label` (options match by their shown text)."""
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    page.get_by_role("option", name=option, exact=isinstance(option, str)).click()
    expect(box).to_have_value(option)


def choose_run(page: Page, run_id: str) -> None:
    """Pick a run in a results page's "Run" box (shown as 'run id · state · metrics')."""
    choose_option(page, "Run", re.compile(rf"^{re.escape(run_id)} · "))


def table_row(scope: Page | Locator, containing: str) -> dict[str, str]:
    """The first row of an `st.dataframe` that contains `containing`, as {column: shown text} ({} if none yet).

    The grid draws on a canvas; these texts come from the accessible table
    Glide Data Grid keeps inside it (columns scrolled out of view are absent).
    """
    grid = scope.locator('[data-testid="stDataFrame"] table').first
    if not grid.count():
        return {}
    header = grid.locator('[role="columnheader"]').all_inner_texts()
    rows = grid.locator('[role="row"]').filter(has_text=containing)
    if not rows.count():
        return {}
    return dict(
        zip(header, rows.first.locator('[role="gridcell"]').all_inner_texts(), strict=False)
    )  # Cells past the header's are not ours.


def fill_number(page: Page, key: str, value: float) -> None:
    """Type a value into the number input created with `key`, as a person does (then leave the box)."""
    box = keyed(page, key).locator("input")
    box.fill(str(value))
    box.press("Tab")


def wait_until(check, what: str, timeout_ms: int = WAIT_MS, page: Page | None = None):
    """Poll `check()` until it returns something truthy, and return that; fail saying `what` was awaited."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout_ms / 1000:.0f} s for {what}")
        if page is not None:
            page.wait_for_timeout(200)  # Lets Playwright dispatch page events while we poll.
        else:
            time.sleep(0.2)


def plot_points(chart: Locator) -> int:
    """How many data points the Plotly chart inside `chart` draws, over all its traces; 0 when it is not there.

    Read from Plotly's processed traces (`_length`): the figure's own `x` may
    arrive as a base64 typed-array object rather than a list. Does not wait.
    """
    return chart.locator(".js-plotly-plot").evaluate_all(
        "plots => plots.length ? (plots[0]._fullData || []).reduce((total, trace) => total + (trace._length || 0), 0) : 0"
    )


def expect_plot_drawn(chart: Locator, at_least: int = 1) -> int:
    """Wait until the Plotly chart inside `chart` draws at least `at_least` points; return how many."""
    return wait_until(lambda: (n := plot_points(chart)) >= at_least and n, f"a chart with {at_least}+ points", page=chart.page)


def expect_images_loaded(images: Locator, at_least: int = 1) -> int:
    """Wait until at least `at_least` of these <img> elements are there and every one has loaded; return how many."""
    script = "(images, least) => images.length >= least && images.every(i => i.complete && i.naturalWidth > 0) && images.length"
    return wait_until(lambda: images.evaluate_all(script, at_least), f"{at_least}+ loaded images", page=images.page)


def image_captions(scope: Page | Locator) -> Locator:
    return scope.locator('[data-testid="stImageCaption"]')


def screenshot(page: Page, path: Path) -> None:
    """A picture of the whole page, not just the window: Streamlit scrolls inside its main block.

    The window is grown to the page's height for the shot (and restored), after
    giving images a few seconds to arrive.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PlaywrightTimeoutError):  # A picture with a missing image is still worth having.
        page.wait_for_function("() => [...document.images].every(image => image.complete)", timeout=5_000)
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 0")
    size = page.viewport_size
    if size and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height, MAX_SCREENSHOT_HEIGHT)})
    try:
        page.screenshot(path=str(path))
    finally:
        if size:
            page.set_viewport_size(size)
