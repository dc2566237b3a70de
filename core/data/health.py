"""Data health: duplicate and conflicting faces, faces that are probably unusable, and labels a model doubts.

    groups = duplicate_groups(faces)                 # DuplicateGroups: exact and near-duplicate faces, grouped
    groups.group_ids                                 # (n,) one id per face; copies share theirs (leak-free splits use it)
    report = health_report(faces)                    # HealthReport: counts, groups, low-contrast faces
    doubts = label_doubts(predictions)               # test faces whose labels a confident model disagrees with

    python -m core data_health ../shared/data/age_gender.csv.gz [--run RUN]   # the report as JSON

Exact duplicates have the same 2,304 pixels. Near-duplicates are the same
photo saved again (re-cropped, brightened, re-compressed): two faces whose
small DCT hashes (`HASH_BITS`, like pHash) differ in at most
`CANDIDATE_DISTANCE` bits are candidates, and a candidate pair is a
near-duplicate when its pixels correlate at `NEAR_CORRELATION` or more. On
the shared CSV, pairs above 0.95 were the same photo in every sample we
looked at, pairs at 0.90-0.93 mostly different people with the same pose;
the hash alone (even at distance 4) paired babies with adults. A hand-written
hash rather than the `imagehash` package: hashing all 21k faces at once with
OpenCV's DCT takes half a second, where `imagehash` works one PIL image at a
time and brings SciPy's wavelets along.

Nothing here changes or drops a row: the report says what it found, and
`conflicting_rows` lists rows only for a caller that chose to leave them out.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pandas as pd

from core.data.loading import FaceData

# The hash: the 8x8 lowest frequencies of a 32x32 DCT, less the constant term,
# each bit saying whether that coefficient is above the face's median.
HASH_SIDE = 32
HASH_BITS = 63
CANDIDATE_DISTANCE = 10
NEAR_CORRELATION = 0.95
# Copies whose ages differ by more than this, or whose genders differ, conflict.
AGE_CONFLICT_YEARS = 5
# A face whose pixels vary this little (standard deviation, grey levels) is
# probably no face: the shared CSV's lowest is 12.4.
LOW_CONTRAST_STD = 8.0
# A label is doubted when a model gives the other gender at least this
# probability, or misses the age by at least this many years.
DOUBT_GENDER_PROBABILITY = 0.95
DOUBT_AGE_YEARS = 25
# Rows compared at once by the pairwise hash distances (rows x n x 8 bytes).
_CHUNK_ROWS = 512


@dataclasses.dataclass(frozen=True)
class DuplicateGroups:
    """Faces that are copies of each other, as groups of row positions."""

    group_ids: np.ndarray  # (n,) int: rows with the same id are copies; a face without copies has its own id
    exact_pairs: int  # pairs of rows with identical pixels
    near_pairs: int  # pairs of rows that are near-duplicates but not identical

    def groups(self) -> list[np.ndarray]:
        """Row positions of each group of two or more faces, largest first."""
        order = np.argsort(self.group_ids, kind="stable")
        ids = self.group_ids[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        groups = [rows for rows in np.split(order, starts[1:]) if len(rows) > 1]
        return sorted(groups, key=len, reverse=True)


def dct_hashes(images: np.ndarray) -> np.ndarray:
    """(n,) uint64 perceptual hashes of (n, 48, 48, 1) faces."""
    hashes = np.zeros(len(images), dtype=np.uint64)
    for index, image in enumerate(images):
        small = cv2.resize(image[:, :, 0].astype(np.float32), (HASH_SIDE, HASH_SIDE), interpolation=cv2.INTER_AREA)
        low = cv2.dct(small)[:8, :8].ravel()[1:]  # (63,) without the constant term
        bits = np.packbits(low > np.median(low))  # (8,) bytes, the last padded
        hashes[index] = np.frombuffer(bits.tobytes(), dtype=">u8")[0]
    return hashes


def _candidate_pairs(hashes: np.ndarray) -> np.ndarray:
    """(m, 2) row pairs i < j whose hashes differ in at most CANDIDATE_DISTANCE bits: every pair compared, in chunks."""

    def chunk_pairs(start: int) -> np.ndarray:
        # Only the later rows: each pair once. numpy releases the GIL, so chunks run on every core.
        distances = np.bitwise_count(hashes[start : start + _CHUNK_ROWS, None] ^ hashes[None, start:])  # (chunk, n - start) uint8
        first, second = np.nonzero(distances <= CANDIDATE_DISTANCE)
        keep = first < second
        return np.stack([first[keep], second[keep]], axis=1) + start

    with ThreadPoolExecutor() as pool:
        pairs = list(pool.map(chunk_pairs, range(0, len(hashes), _CHUNK_ROWS)))
    return np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64)


def _correlations(images: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Pearson correlation of the pixels of each pair (only the faces in a pair are converted, pairs in chunks)."""
    if len(pairs) == 0:
        return np.empty(0, dtype=np.float32)
    needed, positions = np.unique(pairs, return_inverse=True)
    flat = images[needed].reshape(len(needed), -1).astype(np.float32)
    flat -= flat.mean(axis=1, keepdims=True)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True) + 1e-6
    positions = positions.reshape(pairs.shape)
    correlations = np.empty(len(pairs), dtype=np.float32)
    for start in range(0, len(pairs), _CHUNK_ROWS * 16):
        chunk = positions[start : start + _CHUNK_ROWS * 16]
        correlations[start : start + len(chunk)] = np.einsum("ij,ij->i", flat[chunk[:, 0]], flat[chunk[:, 1]])
    return correlations


def _components(count: int, pairs: np.ndarray) -> np.ndarray:
    """(count,) the smallest row of each row's connected component, pairs being the edges (union-find)."""
    parent = np.arange(count)

    def root(row: int) -> int:
        while parent[row] != row:
            parent[row] = parent[parent[row]]
            row = parent[row]
        return row

    for first, second in pairs:
        low, high = sorted((root(first), root(second)))
        parent[high] = low
    return np.array([root(row) for row in range(count)])


def duplicate_groups(images: np.ndarray) -> DuplicateGroups:
    """Exact and near-duplicate faces among (n, 48, 48, 1) uint8 images, grouped (a copy of a copy is one group)."""
    images = np.asarray(images)
    if len(images) == 0:
        return DuplicateGroups(np.empty(0, dtype=np.int64), 0, 0)
    pairs = _candidate_pairs(dct_hashes(images))
    correlation = _correlations(images, pairs)
    identical = np.array([np.array_equal(images[i], images[j]) for i, j in pairs], dtype=bool)
    copies = pairs[identical | (correlation >= NEAR_CORRELATION)]
    near = int(np.count_nonzero(~identical & (correlation >= NEAR_CORRELATION)))
    # Identical faces always hash alike, so every exact pair is among the candidates.
    return DuplicateGroups(_components(len(images), copies), int(np.count_nonzero(identical)), near)


def conflicting_rows(faces: FaceData, groups: DuplicateGroups, age_years: int = AGE_CONFLICT_YEARS) -> np.ndarray:
    """Rows of every group whose copies disagree on gender, or on age by more than `age_years`; sorted."""
    rows = [group for group in groups.groups() if _conflicts(faces, group, age_years)]
    return np.sort(np.concatenate(rows)) if rows else np.empty(0, dtype=np.int64)


def _conflicts(faces: FaceData, group: np.ndarray, age_years: int) -> bool:
    ages = faces.age[group]
    return len(np.unique(faces.gender[group])) > 1 or int(ages.max()) - int(ages.min()) > age_years


@dataclasses.dataclass(frozen=True)
class GroupSummary:
    rows: list[int]
    exact: bool  # every face of the group has the same pixels
    ages: list[int]
    genders: list[int]
    conflicting: bool


@dataclasses.dataclass(frozen=True)
class HealthReport:
    faces: int
    exact_groups: int
    exact_rows: int
    exact_conflicting_groups: int
    groups: list[GroupSummary]  # exact and near-duplicate groups together, largest first
    low_contrast_rows: list[int]
    age_conflict_years: int = AGE_CONFLICT_YEARS

    @property
    def duplicate_rows(self) -> int:
        return sum(len(group.rows) for group in self.groups)

    @property
    def conflicting_groups(self) -> int:
        return sum(group.conflicting for group in self.groups)

    @property
    def conflicting_rows(self) -> int:
        return sum(len(group.rows) for group in self.groups if group.conflicting)

    def counts(self) -> dict:
        return {
            "faces": self.faces,
            "exact_duplicate_groups": self.exact_groups,
            "exact_duplicate_rows": self.exact_rows,
            "exact_groups_with_conflicting_labels": self.exact_conflicting_groups,
            "duplicate_groups": len(self.groups),
            "near_duplicate_groups": sum(not group.exact for group in self.groups),
            "duplicate_rows": self.duplicate_rows,
            "conflicting_groups": self.conflicting_groups,
            "conflicting_rows": self.conflicting_rows,
            "low_contrast_faces": len(self.low_contrast_rows),
        }


def health_report(faces: FaceData, age_years: int = AGE_CONFLICT_YEARS) -> HealthReport:
    """Duplicates (exact and near), conflicting labels among them, and low-contrast faces of loaded data."""
    found = duplicate_groups(faces.images)
    summaries = []
    for group in found.groups():
        exact = all(np.array_equal(faces.images[group[0]], faces.images[row]) for row in group[1:])
        summaries.append(
            GroupSummary(
                rows=group.tolist(),
                exact=exact,
                ages=faces.age[group].tolist(),
                genders=faces.gender[group].tolist(),
                conflicting=_conflicts(faces, group, age_years),
            )
        )
    _, exact_ids, exact_counts = np.unique(faces.images.reshape(len(faces), -1), axis=0, return_inverse=True, return_counts=True)
    exact_groups = np.flatnonzero(exact_counts > 1)
    exact_conflicts = sum(_conflicts(faces, np.flatnonzero(exact_ids == group), age_years) for group in exact_groups)
    contrast = faces.images.reshape(len(faces), -1).std(axis=1)
    return HealthReport(
        faces=len(faces),
        exact_groups=len(exact_groups),
        exact_rows=int(exact_counts[exact_groups].sum()),
        exact_conflicting_groups=int(exact_conflicts),
        groups=summaries,
        low_contrast_rows=np.flatnonzero(contrast < LOW_CONTRAST_STD).tolist(),
        age_conflict_years=age_years,
    )


def label_doubts(predictions: pd.DataFrame) -> pd.DataFrame:
    """Test faces (a run's labelled predictions) whose label a confident prediction contradicts.

    Only the test split is looked at: the model never trained on those faces.
    A `doubt` column says which label is in doubt and why.
    """
    reasons = pd.Series("", index=predictions.index)
    if "pred_gender_prob" in predictions:
        probability_of_label = np.where(
            predictions["gender"] == 1, predictions["pred_gender_prob"], 1 - predictions["pred_gender_prob"]
        )
        wrong_gender = probability_of_label <= 1 - DOUBT_GENDER_PROBABILITY
        reasons[wrong_gender] = "gender: the model is sure of the other one"
    if "age_error" in predictions:
        far = predictions["age_error"].abs() >= DOUBT_AGE_YEARS
        reasons[far] = reasons[far].where(reasons[far] == "", reasons[far] + "; ") + f"age: off by {DOUBT_AGE_YEARS}+ years"
    return predictions[reasons != ""].assign(doubt=reasons[reasons != ""])
