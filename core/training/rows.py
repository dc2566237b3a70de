"""The rows a run uses and their split, from its data and settings alone; imports no TensorFlow (the Train page's
time estimate asks it for the split's sizes).
"""

from __future__ import annotations

import numpy as np

from core.config import TrainConfig
from core.data.health import conflicting_rows, duplicate_groups
from core.data.loading import FaceData
from core.data.sampling import sample_rows
from core.data.splits import Split, make_split


def rows_and_split(faces: FaceData, config: TrainConfig) -> tuple[np.ndarray, Split, int]:
    """The rows a run uses, their split, and how many conflicting copies were left out; depends only on the data and config.

    Copies of a face are found among the sampled rows (core.data.health):
    about 3 s for the 21k faces of the shared CSV.
    """
    rows = sample_rows(len(faces), config.limit, config.seed)
    if config.split == "stratified" and not config.drop_conflicting:
        return rows, make_split(rows, faces.gender, faces.age, config.seed), 0
    copies = duplicate_groups(faces.images[rows])
    # One id per face of the whole file, as make_split wants: the first row of its group of copies.
    group_ids = np.arange(len(faces))
    group_ids[rows] = rows[copies.group_ids]
    left_out = rows[conflicting_rows(faces.subset(rows), copies)] if config.drop_conflicting else np.empty(0, int)
    rows = np.setdiff1d(rows, left_out)
    split = make_split(rows, faces.gender, faces.age, config.seed, groups=group_ids if config.split == "grouped" else None)
    return rows, split, len(left_out)
