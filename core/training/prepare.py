"""Preparing a run's data: the rows it uses, their split, checks that a model can learn from them, and the targets.

data = prepare_data(config, run_dir)     # PreparedData: faces, split, the run's config with its data's provenance
data = load_prepared_data(run)           # the same again from a run's own files, to resume it
training_dataset(data, outputs, teachers)   # augmented training batches with each output's targets
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from core import runs
from core.config import TrainConfig
from core.data.augment import make_dataset
from core.data.loading import FaceData, load_faces
from core.data.splits import Split
from core.errors import InputError
from core.labels import ETHNICITIES
from core.networks.arithmetic import dtype_policy_for
from core.networks.build import AGES
from core.training.distillation import taught_targets
from core.training.rows import rows_and_split

# Fewer faces than this in the training, validation or test part leave nothing to learn or to measure.
MIN_FACES_PER_PART = 8
# With group balance, no face weighs more than this many times the mean.
MAX_GROUP_WEIGHT = 5.0


@dataclasses.dataclass(frozen=True)
class PreparedData:
    faces: FaceData
    split: Split
    config: runs.RunConfig  # with the data's provenance


def targets_for(faces: FaceData, rows: np.ndarray, outputs, age_label_spread: float = 2.0) -> dict[str, np.ndarray]:
    """What each of a model's `outputs` should give for `rows` (`age_label_spread`: the recipe's, for a distribution head)."""
    targets = {}
    if "gender" in outputs:
        targets["gender"] = np.eye(2, dtype=np.float32)[faces.gender[rows]]  # one-hot (n, 2)
    if "age" in outputs:
        targets["age"] = faces.age[rows].astype(np.float32)[:, None]  # (n, 1)
    if "age_distribution" in outputs:
        targets["age_distribution"] = age_label_distribution(faces.age[rows], age_label_spread)
    if "ethnicity" in outputs:
        targets["ethnicity"] = np.eye(len(ETHNICITIES), dtype=np.float32)[faces.ethnicity[rows]]
    return targets


def group_balance_weights(faces: FaceData, rows: np.ndarray) -> np.ndarray:
    """Per face of `rows`, a loss weight that gives every (gender, ethnicity) group the same total; the mean is 1.

    No face weighs more than MAX_GROUP_WEIGHT, so that in a small sample a
    group of one or two faces cannot dominate its batches (the mean is then
    a little under 1; the groups of the shared CSV stay below it: at most 2.9).
    """
    groups = faces.gender[rows].astype(int) * len(ETHNICITIES) + faces.ethnicity[rows]
    _, group_of, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    weights = len(rows) / (len(sizes) * sizes[group_of])  # Mean 1: each of the groups sums to len(rows) / their count.
    return np.minimum(weights, MAX_GROUP_WEIGHT).astype(np.float32)


def training_dataset(data: PreparedData, outputs, teachers: list[keras.Model] | None) -> tf.data.Dataset:
    """The training faces, augmented, with their targets (blended with the `teachers`' answers, if any) and any group weights.

    With group weights, Keras weighs the training metrics too, not only the losses; validation stays unweighted.
    """
    config, faces, split = data.config.train, data.faces, data.split
    targets = targets_for(faces, split.train, outputs, config.preset.age_label_spread)
    weights = group_balance_weights(faces, split.train) if config.preset.group_balance else None
    teach = taught_targets(teachers) if teachers else None
    return make_dataset(
        faces.images[split.train], targets, config.batch_size, True, config.seed, weights, teach, config.preset.augmentation
    )


def age_label_distribution(ages: np.ndarray, spread: float) -> np.ndarray:
    """DLDL's soft label: a Gaussian of `spread` years around each true age, over 0..MAX_AGE (n, MAX_AGE + 1)."""
    weights = np.exp(-0.5 * ((AGES[None, :] - np.asarray(ages, dtype=np.float32)[:, None]) / spread) ** 2)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def check_learnable(faces: FaceData, split: Split, heads: tuple[str, ...]) -> None:
    """Refuse, with the reason, data a model cannot learn from or be measured on; before any training time is spent."""
    for part in ("train", "val", "test"):
        rows = getattr(split, part)
        if len(rows) < MIN_FACES_PER_PART:
            raise InputError(
                f"the {part} part of the split holds {len(rows)} faces, fewer than the {MIN_FACES_PER_PART} needed: "
                "use more rows (a larger --limit, or a larger CSV)"
            )
        genders = np.unique(faces.gender[rows])
        if "gender" in heads and len(genders) < 2:
            only = {0: "men", 1: "women"}[int(genders[0])]
            raise InputError(
                f"the {part} part of the split holds only {only}: a gender model cannot learn (or be tested) from one gender; "
                "use data with both, or train the age task"
            )


def prepare_data(config: TrainConfig, run_dir: Path) -> PreparedData:
    """Load the CSV, sample and split it, check it can be learned from, and record it (split.npz, provenance in config.json)."""
    csv_path = Path(config.csv_path).resolve()
    faces, report = load_faces(csv_path)
    rows, split, conflicting_left_out = rows_and_split(faces, config)
    check_learnable(faces, split, config.heads)
    split.save(run_dir / runs.SPLIT_FILE)
    run_config = dataclasses.replace(
        runs.read_config(run_dir),
        train=dataclasses.replace(config, csv_path=str(csv_path)),
        data_hash=report.file_hash,
        rows_in_file=report.rows_read,
        rows_used=len(rows),
        split_sizes={"train": len(split.train), "val": len(split.val), "test": len(split.test)},
        conflicting_rows_left_out=conflicting_left_out,
        dtype_policy=dtype_policy_for(config.preset),
        versions={"tensorflow": tf.__version__, "keras": keras.__version__},
    )
    runs.write_config(run_dir, run_config)
    return PreparedData(faces, split, run_config)


def load_prepared_data(run: runs.RunInfo) -> PreparedData:
    """A run's own data and split again, to resume it: the same file (by content hash) and the saved split."""
    faces, _ = runs.load_run_faces(run)
    return PreparedData(faces, runs.read_split(run.run_dir), run.config)
