"""Seeded row samples, and the age bands that splits are stratified by."""

from __future__ import annotations

import numpy as np


def age_bands(age: np.ndarray) -> np.ndarray:
    """Coarse age bands (0-9, 10-19, ..., 70+) used to stratify splits."""
    return np.minimum(np.asarray(age) // 10, 7)


def seeded_sample(positions: np.ndarray, count: int | None, seed: int) -> np.ndarray:
    """Up to `count` of `positions` (all of them when `count` is None): a seeded random pick, kept in order.

    Random rather than the first ones: the CSV is sorted by age, so the first rows would all be babies.
    """
    positions = np.asarray(positions)
    if count is None or len(positions) <= count:
        return positions
    return np.sort(np.random.default_rng(seed).choice(positions, size=count, replace=False))


def sample_rows(count: int, limit: int | None, seed: int) -> np.ndarray:
    """Row positions of a seeded random sample of `limit` of `count` rows (all rows, in order, without a limit)."""
    return seeded_sample(np.arange(count), limit, seed)
