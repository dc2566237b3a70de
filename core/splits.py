"""Seeded, stratified train / validation / test splits, saved with each run.

80/20 train/test, then the train part 90/10 train/validation, stratified by
gender and age band so that each part sees the same mix of faces.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from core.data import age_bands

TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class Split:
    """Row positions (into the loaded faces) of each part."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def save(self, path: Path) -> None:
        np.savez(path, train=self.train, val=self.val, test=self.test)

    @classmethod
    def load(cls, path: Path) -> Split:
        with np.load(path) as stored:
            return cls(train=stored["train"], val=stored["val"], test=stored["test"])


def make_split(rows: np.ndarray, gender: np.ndarray, age: np.ndarray, seed: int) -> Split:
    """Split `rows` (positions into the data) stratified by gender x age band.

    Falls back to coarser strata (gender only, then none) when a stratum is too
    small for scikit-learn to split, as happens with tiny row limits.
    """
    rows = np.sort(np.asarray(rows))
    if len(rows) < 10:
        raise ValueError(f"Need at least 10 rows to split into train, validation and test; got {len(rows)}")
    strata_options = [gender[rows] * 10 + age_bands(age[rows]), gender[rows]]
    train_val, test = _split_with_fallback(rows, TEST_FRACTION, strata_options, seed)
    inner_positions = np.searchsorted(rows, train_val)
    inner_options = [strata[inner_positions] for strata in strata_options]
    train, val = _split_with_fallback(train_val, VALIDATION_FRACTION, inner_options, seed)
    return Split(train=np.sort(train), val=np.sort(val), test=np.sort(test))


def _split_with_fallback(rows, fraction, strata_options, seed):
    for strata in strata_options:
        try:
            return train_test_split(rows, test_size=fraction, random_state=seed, stratify=strata)
        except ValueError:
            continue  # A stratum too small to split: try coarser strata.
    return train_test_split(rows, test_size=fraction, random_state=seed)
