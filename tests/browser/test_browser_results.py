"""The result pages in a real browser: filtering the Predictions grid, and a box selection on the Errors scatter.

What the pages show is compared with what the run's predictions.csv says.
"""

from __future__ import annotations

import json

import pandas as pd

from dashboard.tables import prediction_caption
from tests.browser.ui import (
    choose_run,
    expect,
    expect_images_loaded,
    expect_no_exception,
    expect_plot_drawn,
    heading,
    image_captions,
    keyed,
    wait_until,
)

PER_PAGE = 48  # Faces per page of the Predictions grid.


def test_predictions_filtered_to_wrong_gender_show_exactly_the_wrong_faces(page, fixture_run):
    frame = pd.read_csv(fixture_run / "predictions.csv")
    wrong = frame[~frame["gender_correct"].astype(bool)]
    assert 0 < len(wrong) < len(frame), "the tiny run gets some genders right and some wrong"
    expected = [prediction_caption(row) for row in wrong.itertuples()]  # In test-set order, the default sort.

    page.goto("/predictions")
    expect(heading(page, "Predictions")).to_be_visible()
    choose_run(page, fixture_run.name)
    summary = page.get_by_text("Faces 1–")
    expect(summary).to_contain_text(f"of {len(frame)} matching ({len(frame)} test faces in all)")

    page.get_by_role("radiogroup", name="Gender prediction").get_by_role("radio", name="wrong", exact=True).click()
    expect(summary).to_contain_text(f"Faces 1–{min(PER_PAGE, len(wrong))} of {len(wrong)} matching")
    # Every face on every page of the grid is one of the wrong ones, each once, and none is missing.
    pages = -(-len(wrong) // PER_PAGE)
    for number in range(1, pages + 1):
        if number > 1:
            box = page.get_by_label(f"Page (of {pages})")
            box.fill(str(number))
            box.press("Enter")
            expect(summary).not_to_be_attached()
            expect(page.get_by_text(f"Faces {(number - 1) * PER_PAGE + 1}–")).to_be_visible()
        on_page = expected[(number - 1) * PER_PAGE : number * PER_PAGE]
        expect(image_captions(page)).to_have_text(on_page)
        assert all(caption.endswith("✗") for caption in on_page)
        expect_images_loaded(page.locator('[data-testid="stImage"] img'), at_least=len(on_page))
        expect_no_exception(page)


# Ages (years) the box spans on the scatter's x axis: half-way between whole ages, so no face sits on an edge.
BOX_AGES = (20.5, 45.5)


def test_a_box_selection_on_the_errors_scatter_shows_the_faces_inside_it(page, fixture_run):
    frame = pd.read_csv(fixture_run / "predictions.csv")
    page.goto("/errors")
    expect(heading(page, "Errors")).to_be_visible()
    choose_run(page, fixture_run.name)
    expect(page.locator('[data-testid="stMetric"]').filter(has_text="Test faces")).to_contain_text(str(len(frame)))
    chart = keyed(page, "errors-scatter")
    # Every test face is a point (plus the two ends of the "perfect" line).
    assert expect_plot_drawn(chart, at_least=len(frame)) == len(frame) + 2

    plot = chart.locator(".js-plotly-plot")
    # Keep the range Plotly reports for the selection, to know which faces it holds.
    plot.evaluate("plot => plot.on('plotly_selected', event => { plot.dataset.selectedRange = JSON.stringify(event.range); })")
    area = chart.locator("rect.nsewdrag")
    area.hover()  # Shows the chart's tool bar.
    chart.locator('[data-title="Box Select"]').click()
    left, top = area.bounding_box()["x"], area.bounding_box()["y"]
    # The box: those ages across, and the middle 80% of the predicted-age axis.
    corners = plot.evaluate(
        """(plot, ages) => {
            const xaxis = plot._fullLayout.xaxis, yaxis = plot._fullLayout.yaxis;
            const [bottom, top] = yaxis.range, margin = (top - bottom) * 0.1;
            return [xaxis.d2p(ages[0]), yaxis.d2p(top - margin), xaxis.d2p(ages[1]), yaxis.d2p(bottom + margin)];
        }""",
        list(BOX_AGES),
    )
    x0, y0, x1, y1 = left + corners[0], top + corners[1], left + corners[2], top + corners[3]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=5)
    page.mouse.move(x1, y1, steps=5)
    page.mouse.up()

    selected_range = wait_until(lambda: plot.get_attribute("data-selected-range"), "Plotly to report the selection", page=page)
    ranges = json.loads(selected_range)
    inside = frame[frame["age"].between(*sorted(ranges["x"])) & frame["pred_age"].between(*sorted(ranges["y"]))]
    assert 0 < len(inside) < len(frame), f"the box {ranges} should hold some faces, not all"
    shown = inside.head(48)
    more = f"; the first {len(shown)} are shown." if len(inside) > len(shown) else "."
    expect(page.get_by_text(f"{len(inside)} faces selected{more}", exact=True)).to_be_visible()
    expect(image_captions(page)).to_have_text([prediction_caption(row) for row in shown.itertuples()])
    expect_images_loaded(page.locator('[data-testid="stImage"] img'), at_least=len(shown))
    expect_no_exception(page)
