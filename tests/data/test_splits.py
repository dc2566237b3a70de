"""Splits are seeded, disjoint, of the agreed sizes and stratified."""

import numpy as np
import pytest

from core.data.splits import Split, make_split


@pytest.fixture
def labels():
    rng = np.random.default_rng(0)
    return rng.integers(0, 2, 2000), rng.integers(1, 90, 2000)


def test_same_seed_same_split_and_other_seed_other_split(labels):
    gender, age = labels
    rows = np.arange(2000)
    first, second = make_split(rows, gender, age, seed=1), make_split(rows, gender, age, seed=1)
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(first, part), getattr(second, part))
    assert not np.array_equal(first.test, make_split(rows, gender, age, seed=2).test)


def test_parts_are_disjoint_cover_the_rows_and_have_the_agreed_sizes(labels):
    gender, age = labels
    rows = np.arange(0, 2000, 2)  # a subset, as with --limit
    split = make_split(rows, gender, age, seed=0)
    together = np.concatenate([split.train, split.val, split.test])
    assert len(together) == len(np.unique(together)) == 1000
    assert set(together) == set(rows)
    assert len(split.test) == 200 and len(split.val) == 80 and len(split.train) == 720


def test_split_is_stratified_by_gender(labels):
    gender, age = labels
    split = make_split(np.arange(2000), gender, age, seed=0)
    assert abs(gender[split.test].mean() - gender[split.train].mean()) < 0.01


def test_tiny_inputs_fall_back_to_coarser_strata_and_save_roundtrip(tmp_path):
    gender, age = np.array([0, 1] * 10), np.arange(1, 21) * 5
    split = make_split(np.arange(20), gender, age, seed=0)
    assert len(split.test) == 4
    split.save(tmp_path / "split.npz")
    loaded = Split.load(tmp_path / "split.npz")
    assert np.array_equal(loaded.val, split.val)
    with pytest.raises(ValueError, match="at least 10 rows"):
        make_split(np.arange(5), gender, age, seed=0)


def test_grouped_splits_keep_each_group_on_one_side_and_say_so(labels, tmp_path):
    gender, age = labels
    groups = np.arange(2000) // 3  # Every three consecutive faces are copies of one face.
    split = make_split(np.arange(2000), gender, age, seed=0, groups=groups)
    assert split.kind == "grouped" and make_split(np.arange(2000), gender, age, seed=0).kind == "stratified"
    for part, other in (("test", "train"), ("test", "val"), ("val", "train")):
        assert not set(groups[getattr(split, part)]) & set(groups[getattr(split, other)]), (part, other)
    assert len(split.test) == pytest.approx(400, abs=6) and len(split.val) == pytest.approx(160, abs=6)
    split.save(tmp_path / "split.npz")
    assert Split.load(tmp_path / "split.npz").kind == "grouped"
    np.savez(tmp_path / "old.npz", train=split.train, val=split.val, test=split.test)  # As runs saved it before.
    assert Split.load(tmp_path / "old.npz").kind == "stratified"
