"""Filters, sort orders, paging and chart selections of the dashboard (dashboard/selection.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from core.evaluation.metrics import label_predictions
from dashboard import figures
from dashboard.selection import (
    FaceFilter,
    page_bounds,
    page_count,
    selected_row_ids,
    sort_orders_for,
    sort_predictions,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    """Eight test faces with both heads' predictions."""
    raw = pd.DataFrame(
        {
            "row_id": [10, 11, 12, 13, 14, 15, 16, 17],
            "line": [12, 13, 14, 15, 16, 17, 18, 19],
            "img_name": [f"face{i}.jpg" for i in range(8)],
            "age": [2, 8, 25, 25, 41, 67, 80, 33],
            "gender": [0, 1, 1, 0, 1, 0, 1, 0],
            "ethnicity": [0, 1, 2, 3, 4, 0, 1, 2],
            "pred_age": [5.0, 8.5, 40.0, 22.0, 41.0, 50.0, 70.0, 33.0],
            "pred_gender_prob": [0.1, 0.9, 0.3, 0.8, 0.6, 0.05, 0.99, 0.5],
        }
    )
    raw["age_error"] = raw["pred_age"] - raw["age"]
    raw["pred_gender"] = (raw["pred_gender_prob"] >= 0.5).astype(int)
    raw["gender_correct"] = raw["pred_gender"] == raw["gender"]
    return label_predictions(raw)


def test_an_empty_filter_keeps_everything(frame):
    assert FaceFilter().apply(frame).equals(frame)


def test_filters_combine(frame):
    kept = FaceFilter(age_range=(20, 70), genders=(1,), ethnicities=(2, 4)).apply(frame)
    assert list(kept["row_id"]) == [12, 14]


def test_outcome_and_error_filters(frame):
    assert list(FaceFilter(outcome="wrong").apply(frame)["row_id"]) == [12, 13, 17]
    assert list(FaceFilter(outcome="correct", min_abs_error=5).apply(frame)["row_id"]) == [15, 16]
    assert list(FaceFilter(min_abs_error=3).apply(frame)["row_id"]) == [12, 15, 16], "strictly above"


def test_filters_refuse_what_the_predictions_cannot_answer(frame):
    gender_only = frame.drop(columns=["pred_age", "age_error", "abs_age_error"])
    with pytest.raises(ValueError, match="no 'age_error' column"):
        FaceFilter(min_abs_error=2).apply(gender_only)
    with pytest.raises(ValueError, match="outcome must be one of"):
        FaceFilter(outcome="maybe")
    with pytest.raises(ValueError, match=r"low to high, got \(50, 20\)"):
        FaceFilter(age_range=(50, 20))


def test_sort_orders(frame):
    assert list(sort_predictions(frame, "Largest age error first")["row_id"][:3]) == [15, 12, 16]
    assert list(sort_predictions(frame, "Smallest age error first")["row_id"][:3]) == [14, 17, 11]
    # P(female) 0.8 for a man and 0.3 for a woman are the most confident mistakes.
    assert list(sort_predictions(frame, "Most confident gender mistakes first")["row_id"][:2]) == [13, 12]
    assert sort_predictions(frame, "Test-set order").equals(frame)
    with pytest.raises(ValueError, match="Unknown sort order"):
        sort_predictions(frame, "Prettiest first")


def test_sort_orders_offered_follow_the_heads(frame):
    assert "Largest age error first" in sort_orders_for(frame)
    gender_only = frame.drop(columns=["pred_age", "age_error", "abs_age_error"])
    assert "Largest age error first" not in sort_orders_for(gender_only)
    with pytest.raises(ValueError, match="no 'age_error' column"):
        sort_predictions(gender_only, "Largest age error first")


def test_paging():
    assert page_count(0, 48) == 1 and page_count(48, 48) == 1 and page_count(49, 48) == 2
    assert page_bounds(100, 1, 48) == (0, 48)
    assert page_bounds(100, 3, 48) == (96, 100)
    with pytest.raises(ValueError, match=r"page must be in 1\.\.3"):
        page_bounds(100, 4, 48)
    with pytest.raises(ValueError, match="per_page"):
        page_count(10, 0)


def test_a_lasso_on_a_coloured_scatter_maps_back_to_the_right_rows(frame):
    """point_index counts within a trace: only the custom data names the row."""
    figure = figures.prediction_scatter(frame)
    women = next(trace for trace in figure.data if trace.name == "female")
    # What Streamlit reports for two points of the second trace, plus the identity line.
    selection = {
        "points": [
            {"curve_number": 1, "point_index": 0, "x": women.x[0], "y": women.y[0], "customdata": list(women.customdata[0])},
            {"curve_number": 1, "point_index": 2, "x": women.x[2], "y": women.y[2], "customdata": list(women.customdata[2])},
            {"curve_number": 2, "point_index": 0, "x": 0, "y": 0},
        ],
        "point_indices": [0, 2, 0],
        "box": [],
        "lasso": [{"x": [0, 1], "y": [0, 1]}],
    }
    row_ids = selected_row_ids(selection)
    women_rows = frame[frame["gender"] == 1]
    assert row_ids == [int(women_rows["row_id"].iloc[0]), int(women_rows["row_id"].iloc[2])] == [11, 14]
    picked = frame[frame["row_id"].isin(row_ids)]
    assert list(picked["age"]) == list(women.x[[0, 2]])


def test_selection_edge_cases():
    assert selected_row_ids(None) == [] and selected_row_ids({"points": []}) == []
    twice = {"points": [{"customdata": [7]}, {"customdata": [3]}, {"customdata": [7]}]}
    assert selected_row_ids(twice) == [7, 3]
