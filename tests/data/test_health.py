"""core.data.health and leak-free splits: copies found on real faces, grouped, kept on one side of every split."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from core.data import health as data_health
from core.data.loading import load_faces
from core.data.splits import GROUPED, STRATIFIED, make_split
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def faces(shared_csv):
    loaded, _ = load_faces(shared_csv)
    return loaded


def planted(faces, count: int = 400):
    """`count` real faces spread over the file, the last a copy of the first with other labels, and one a brightened copy."""
    rows = np.linspace(0, len(faces) - 1, count).astype(int)
    sample = faces.subset(rows)
    images, age, gender = sample.images.copy(), sample.age.copy(), sample.gender.copy()
    images[-1] = images[0]  # The same pixels ...
    age[-1], gender[-1] = age[0] + 30, 1 - gender[0]  # ... with other labels.
    images[-2] = np.clip(images[1].astype(int) + 12, 0, 255).astype(np.uint8)  # The same photo, brighter,
    age[-2], gender[-2] = age[1], gender[1]  # with the same labels.
    return dataclasses.replace(sample, images=images, age=age, gender=gender)


def test_a_planted_copy_with_other_labels_is_found_and_kept_on_one_side_of_the_split(faces):
    sample = planted(faces)
    found = data_health.duplicate_groups(sample.images)
    groups = [sorted(group.tolist()) for group in found.groups()]
    assert [0, len(sample) - 1] in groups and [1, len(sample) - 2] in groups
    assert found.exact_pairs >= 1 and found.near_pairs >= 1
    assert {0, len(sample) - 1} <= set(data_health.conflicting_rows(sample, found))
    assert not {1, len(sample) - 2} & set(data_health.conflicting_rows(sample, found)), "same labels: no conflict"

    rows = np.arange(len(sample))
    for seed in range(5):
        split = make_split(rows, sample.gender, sample.age, seed, groups=found.group_ids)
        assert split.kind == GROUPED
        for copies in ([0, len(sample) - 1], [1, len(sample) - 2]):
            sides = [part for part in ("train", "val", "test") for row in copies if row in getattr(split, part)]
            assert len(set(sides)) == 1, (seed, copies, sides)
        assert sorted(np.concatenate([split.train, split.val, split.test])) == list(rows)


def test_faces_without_copies_form_no_group(faces):
    found = data_health.duplicate_groups(faces.images[:40:4])  # ten different babies
    assert found.groups() == [] and (found.exact_pairs, found.near_pairs) == (0, 0)
    assert list(found.group_ids) == list(range(10))
    assert data_health.duplicate_groups(faces.images[:0]).groups() == []


def test_grouped_splits_keep_the_sizes_and_the_mix_of_faces(faces):
    rows = np.arange(len(faces))
    found = data_health.duplicate_groups(faces.images)
    grouped = make_split(rows, faces.gender, faces.age, 42, groups=found.group_ids)
    plain = make_split(rows, faces.gender, faces.age, 42)
    assert plain.kind == STRATIFIED
    for split in (grouped, plain):
        assert len(split.test) == pytest.approx(0.2 * len(faces), rel=0.02)
        assert len(split.val) == pytest.approx(0.1 * 0.8 * len(faces), rel=0.05)
        assert np.mean(faces.gender[split.test]) == pytest.approx(np.mean(faces.gender), abs=0.01)
    # No test face of the grouped split has a copy in training or validation; the plain split leaks.
    leaked = np.isin(found.group_ids[grouped.test], found.group_ids[np.concatenate([grouped.train, grouped.val])])
    assert not leaked.any()
    plain_leaks = np.isin(found.group_ids[plain.test], found.group_ids[np.concatenate([plain.train, plain.val])])
    assert plain_leaks.sum() > 50


def test_the_report_on_the_shared_csv(faces):
    report = data_health.health_report(faces)
    counts = report.counts()
    # The shared CSV's known copies (shared/docs/STACK_NOTES.md): 297 groups of identical pixels, 605 rows, 176 with other labels.
    assert (counts["exact_duplicate_groups"], counts["exact_duplicate_rows"]) == (297, 605)
    assert counts["duplicate_groups"] >= 297 and counts["near_duplicate_groups"] > 0
    assert counts["conflicting_rows"] == sum(len(group.rows) for group in report.groups if group.conflicting)
    first = report.groups[0]
    assert len(first.rows) == len(first.ages) == len(first.genders) >= 2
    assert counts["low_contrast_faces"] == 0


def test_label_doubts_are_confident_contradictions():
    predictions = pd.DataFrame(
        {
            "gender": [1, 0, 1, 0],
            "pred_gender_prob": [0.02, 0.5, 0.99, 0.97],
            "age": [30, 30, 30, 80],
            "age_error": [1, -26, 2, -3],
        }
    )
    doubts = data_health.label_doubts(predictions)
    assert list(doubts.index) == [0, 1, 3]
    assert doubts.loc[0, "doubt"].startswith("gender") and doubts.loc[1, "doubt"].startswith("age")


def test_the_cli_prints_the_counts(shared_csv, tiny_both_run):
    done = subprocess.run(
        [sys.executable, "-m", "core", "data_health", str(shared_csv), "--run", str(tiny_both_run)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0 and result["exact_duplicate_groups"] == 297
    assert isinstance(result["doubted_labels"], list)
