"""Seeded, stratified train / validation / test splits, saved with each run.

80/20 train/test, then the train part 90/10 train/validation, stratified by
gender and age band so that each part sees the same mix of faces.

    split = make_split(rows, gender, age, seed, groups=duplicate_groups(images).group_ids)   # leak-free
    split = make_split(rows, gender, age, seed)                                              # as runs before

With `groups` (core.data.health: copies of a face share a group id) the
split is *grouped*: every copy of a face lands in the same part, so no test
face has a twin it was trained on. The groups are split as faces are (one
row per group, stratified): scikit-learn's StratifiedGroupKFold does the same
job but took 15 s on the shared CSV's 20k groups, this 0.1 s.
Without, it is the plain *stratified* split earlier runs used; `Split.kind`
and split.npz say which.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from core.data.sampling import age_bands
from core.labels import SPLITS

TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1
GROUPED, STRATIFIED = SPLITS


@dataclasses.dataclass(frozen=True)
class Split:
    """Row positions (into the loaded faces) of each part, and how they were drawn."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    kind: str = STRATIFIED

    def save(self, path: Path) -> None:
        np.savez(path, train=self.train, val=self.val, test=self.test, kind=np.array(self.kind))

    @classmethod
    def load(cls, path: Path) -> Split:
        with np.load(path) as stored:
            # Splits saved before grouped splits existed are stratified ones.
            kind = str(stored["kind"]) if "kind" in stored else STRATIFIED
            return cls(train=stored["train"], val=stored["val"], test=stored["test"], kind=kind)


def make_split(rows: np.ndarray, gender: np.ndarray, age: np.ndarray, seed: int, groups: np.ndarray | None = None) -> Split:
    """Split `rows` (positions into the data) stratified by gender x age band.

    `groups`, one id per face of the data (not only of `rows`), keeps faces
    with the same id on one side. Falls back to coarser strata (gender only,
    then none) when a stratum is too small to split, as happens with tiny row limits.
    """
    rows = np.sort(np.asarray(rows))
    if len(rows) < 10:
        raise ValueError(f"Need at least 10 rows to split into train, validation and test; got {len(rows)}")
    strata = [gender * 10 + age_bands(age), np.asarray(gender)]
    if groups is None:
        train_val, test = _stratified_part(rows, TEST_FRACTION, strata, seed)
        train, val = _stratified_part(train_val, VALIDATION_FRACTION, strata, seed)
    else:
        train_val, test = _grouped_part(rows, TEST_FRACTION, strata, groups, seed)
        train, val = _grouped_part(train_val, VALIDATION_FRACTION, strata, groups, seed)
    return Split(train=np.sort(train), val=np.sort(val), test=np.sort(test), kind=STRATIFIED if groups is None else GROUPED)


def _stratified_part(rows, fraction, strata_options, seed):
    for strata in strata_options:
        try:
            return train_test_split(rows, test_size=fraction, random_state=seed, stratify=strata[rows])
        except ValueError:
            continue  # A stratum too small to split: try coarser strata.
    return train_test_split(rows, test_size=fraction, random_state=seed)


def _grouped_part(rows, fraction, strata_options, groups, seed):
    """(rest, part) of `rows` with whole groups on each side: the groups split as the stratified split splits rows.

    Each group is represented by its first row (its stratum); almost every
    group is a single face (of 21,333 shared faces 1,549 are in 746 groups),
    so `fraction` of the groups is `fraction` of the rows within a few faces.
    """
    ids = groups[rows]
    _, first = np.unique(ids, return_index=True)
    _, part_representatives = _stratified_part(rows[first], fraction, strata_options, seed)
    in_part = np.isin(ids, groups[part_representatives])
    return rows[~in_part], rows[in_part]
