"""Which test faces the Explain page explains, and maps averaged over groups of faces; Streamlit-free.

    picked = worst_faces(frame, "age", count=4)              # largest age errors of a labelled predictions frame
    picked = faces_by_row_id(frame, parse_row_ids("12, 40"))  # faces typed in or chosen on other pages
    groups = group_samples(frame, "gender_name", per_group=64, seed=0)
    averages = group_averages(explainer, images, groups, "gradcam")

`frame` is a run's predictions as `dashboard.tables.label_predictions` gives
them; row ids are positions in the loaded CSV (`FaceData.images[row_id]`).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd

from dashboard.selection import sample_positions, sort_predictions

# Labels of core.cams.METHODS (the page must not import core.cams, and with it
# TensorFlow, before it knows there is a model to explain; a test keeps the two in step).
METHOD_LABELS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "saliency": "Saliency"}
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
        str(value): sample_positions(group["row_id"].to_numpy(), per_group, seed)
        for value, group in frame.groupby(column, observed=True, sort=True)
    }


@dataclasses.dataclass(frozen=True)
class GroupAverage:
    label: str
    count: int
    mean_face: np.ndarray  # (48, 48, 1) uint8
    mean_map: np.ndarray  # (48, 48) float32 in [0, 1], scaled to its maximum like each single map


def group_averages(explainer, images: np.ndarray, groups: dict[str, np.ndarray], method: str) -> list[GroupAverage]:
    """The mean face and mean map of each group, the maps made by one `core.cams.Explainer` call.

    A face in several groups (a woman in her twenties is in 'female' and
    '20-29') is explained once.

    Args:
        explainer: a core.cams.Explainer.
        images: (n, 48, 48, 1) uint8 faces indexed by row id.
        groups: label -> row ids, as `group_samples` gives.
    """
    row_ids = (
        np.unique(np.concatenate([np.asarray(rows, dtype=int) for rows in groups.values()])) if groups else np.array([], int)
    )
    if len(row_ids) == 0:
        return []
    maps = explainer.heatmaps(images[row_ids], method)  # (n, 48, 48)
    position = {row_id: index for index, row_id in enumerate(row_ids)}
    averages = []
    for label, rows in groups.items():
        chosen = [position[row_id] for row_id in rows]
        mean_face = np.rint(images[row_ids[chosen]].astype(np.float32).mean(axis=0)).astype(np.uint8)
        mean_map = maps[chosen].mean(axis=0)
        # Maps that disagree average out to a faint map; scaled back to 1 its pattern stays visible.
        peak = float(mean_map.max())
        averages.append(GroupAverage(label, len(chosen), mean_face, mean_map / peak if peak > 0 else mean_map))
    return averages
