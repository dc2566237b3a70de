"""Which faces to show: filters, sort orders, paging and Plotly selections mapped back to rows.

Streamlit-free, so the rules the pages apply are unit-tested on their own:

    keep = FaceFilter(age_range=(20, 39), genders=(1,), outcome="wrong")
    shown = sort_predictions(keep.apply(predictions), "Largest age error first")
    start, stop = page_bounds(len(shown), page=2, per_page=48)
    rows = selected_row_ids(st.plotly_chart(..., on_select="rerun").selection)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

OUTCOMES = ("all", "correct", "wrong")


@dataclasses.dataclass(frozen=True)
class FaceFilter:
    """A slice of faces; `None` (or "all") means "do not filter on this".

    Works on any frame with `age`, `gender` and `ethnicity` columns (codes, as
    in the CSV); the outcome and error filters need a predictions frame.
    """

    age_range: tuple[int, int] | None = None  # inclusive, true age in years
    genders: tuple[int, ...] | None = None
    ethnicities: tuple[int, ...] | None = None
    outcome: str = "all"  # of the gender prediction
    min_abs_error: float | None = None  # keep faces whose age is off by more than this

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}")
        if self.age_range is not None and self.age_range[0] > self.age_range[1]:
            raise ValueError(f"age_range must run from low to high, got {self.age_range}")
        if self.min_abs_error is not None and self.min_abs_error < 0:
            raise ValueError(f"min_abs_error must not be negative, got {self.min_abs_error}")

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        keep = np.ones(len(frame), dtype=bool)
        if self.age_range is not None:
            keep &= frame["age"].between(*self.age_range).to_numpy()
        if self.genders is not None:
            keep &= frame["gender"].isin(self.genders).to_numpy()
        if self.ethnicities is not None:
            keep &= frame["ethnicity"].isin(self.ethnicities).to_numpy()
        if self.outcome != "all":
            _require(frame, "gender_correct", "filter by correct / wrong gender")
            keep &= frame["gender_correct"].to_numpy(bool) == (self.outcome == "correct")
        if self.min_abs_error is not None:
            _require(frame, "age_error", "filter by age error")
            keep &= frame["age_error"].abs().to_numpy() > self.min_abs_error
        return keep

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.mask(frame)]


def _require(frame: pd.DataFrame, column: str, purpose: str) -> None:
    if column not in frame:
        raise ValueError(f"Cannot {purpose}: these predictions have no {column!r} column")


# Sort orders offered on the Predictions page: label -> (column, ascending, needed column).
SORT_ORDERS = {
    "Test-set order": (None, True, None),
    "Largest age error first": ("abs_age_error", False, "age_error"),
    "Smallest age error first": ("abs_age_error", True, "age_error"),
    "Most confident gender mistakes first": ("gender_confidence_error", False, "pred_gender_prob"),
    "Youngest first": ("age", True, None),
    "Oldest first": ("age", False, None),
}


def sort_orders_for(frame: pd.DataFrame) -> list[str]:
    """The sort orders that make sense for the heads these predictions have."""
    return [label for label, (_, _, needs) in SORT_ORDERS.items() if needs is None or needs in frame]


def sort_predictions(frame: pd.DataFrame, order: str) -> pd.DataFrame:
    if order not in SORT_ORDERS:
        raise ValueError(f"Unknown sort order {order!r}; choose one of {', '.join(SORT_ORDERS)}")
    column, ascending, needs = SORT_ORDERS[order]
    if needs is not None:
        _require(frame, needs, f"sort by {order.lower()}")
    if column is None:
        return frame
    if column == "abs_age_error":
        key = frame["age_error"].abs()
    elif column == "gender_confidence_error":
        # How far the predicted P(female) is from the true answer: 1 is a fully confident mistake.
        key = (frame["pred_gender_prob"] - frame["gender"]).abs()
    else:
        key = frame[column]
    # A stable sort keeps ties in test-set order, so pages do not reshuffle between reruns.
    order_index = key.sort_values(ascending=ascending, kind="stable").index
    return frame.loc[order_index]


def page_count(total: int, per_page: int) -> int:
    """Pages needed for `total` items; at least one, so an empty result still has a page 1."""
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, got {per_page}")
    return max(1, -(-total // per_page))


def page_bounds(total: int, page: int, per_page: int) -> tuple[int, int]:
    """[start, stop) of 1-based `page` over `total` items."""
    pages = page_count(total, per_page)
    if not 1 <= page <= pages:
        raise ValueError(f"page must be in 1..{pages} for {total} items at {per_page} per page, got {page}")
    start = (page - 1) * per_page
    return start, min(start + per_page, total)


def selected_row_ids(selection) -> list[int]:
    """Row ids of the points picked on a chart built with `custom_data=["row_id"]`.

    `selection` is the `.selection` of what `st.plotly_chart(..., on_select="rerun")`
    returns (or a plain dict of the same shape). `point_index` counts within one
    trace, so a chart coloured by group would map it to the wrong rows; the
    row id travels with each point as its first custom-data value instead.
    Points without custom data (an identity line, say) are ignored; each row
    is listed once, in the order it was first picked.
    """
    if not selection:
        return []
    row_ids = []
    for point in selection.get("points", []) or []:
        custom = point.get("customdata")
        if custom is None:
            continue
        value = custom[0] if isinstance(custom, (list, tuple)) else custom
        row_ids.append(int(value))
    return list(dict.fromkeys(row_ids))
