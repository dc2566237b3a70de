"""Which test faces the Explain page explains, and which groups of them it averages maps over; Streamlit-free.

    picked = worst_faces(frame, "age", count=4)              # largest age errors of a labelled predictions frame
    picked = faces_by_row_id(frame, parse_row_ids("12, 40"))  # faces typed in or chosen on other pages
    groups = group_samples(frame, "gender_name", per_group=64, seed=0)  # for core.explain.maps.group_averages

`frame` is a run's predictions as `core.evaluation.metrics.label_predictions` gives
them; row ids are positions in the loaded CSV (`FaceData.images[row_id]`).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from core.data.sampling import seeded_sample
from dashboard.selection import sort_predictions

WORST = {"age": "Largest age error first", "gender": "Most confident gender mistakes first"}


def worst_faces(frame: pd.DataFrame, head: str, count: int) -> pd.DataFrame:
    """The `count` faces the `head` got most wrong: largest age error, or most confident wrong gender."""
    if head not in WORST:
        raise ValueError(f"head must be one of {', '.join(WORST)}, got {head!r}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if head == "gender" and "gender_correct" in frame:
        frame = frame[~frame["gender_correct"].astype(bool)]
    return sort_predictions(frame, WORST[head]).head(count)


def parse_row_ids(text: str) -> list[int]:
    """Row ids from text such as '12, 40 7': each once, in the order given."""
    tokens = [token for token in re.split(r"[\s,;]+", text.strip()) if token]
    bad = [token for token in tokens if not token.isdigit()]
    if bad:
        raise ValueError(f"row ids are whole numbers from 0 up; {', '.join(repr(token) for token in bad)} is not")
    return list(dict.fromkeys(int(token) for token in tokens))


def faces_by_row_id(frame: pd.DataFrame, row_ids: list[int]) -> tuple[pd.DataFrame, list[int]]:
    """The rows of `frame` with these row ids, in the order given, and the ids `frame` does not hold."""
    by_id = frame.set_index("row_id", drop=False)
    present = [row_id for row_id in row_ids if row_id in by_id.index]
    missing = [row_id for row_id in row_ids if row_id not in by_id.index]
    return by_id.loc[present].reset_index(drop=True), missing


def group_samples(frame: pd.DataFrame, column: str, per_group: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Row ids of up to `per_group` faces of each value of `column` (a seeded pick), groups in their sorted order."""
    if per_group < 1:
        raise ValueError(f"per_group must be at least 1, got {per_group}")
    return {
        str(value): seeded_sample(group["row_id"].to_numpy(), per_group, seed)
        for value, group in frame.groupby(column, observed=True, sort=True)
    }
