"""A model's predictions lined up with the labels, and the metrics and breakdowns built from them.

`predictions_frame` lines a predictor's outputs (core.inference.predictor) up
with the labels; `label_predictions` adds readable labels; `summarize` turns
such a frame (or any filtered part of it, as the dashboard does) into a
`Summary`: accuracy, MAE, a confusion matrix and breakdowns by age bucket,
gender and ethnicity.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from core.data.loading import FaceData
from core.labels import AGE_BUCKET_EDGES, AGE_BUCKET_LABELS, ETHNICITIES, GENDERS


def age_bucket(age) -> pd.Categorical:
    """Label each age with its bucket ('0-2', '3-9', '10-19', ..., '70+')."""
    positions = np.searchsorted(AGE_BUCKET_EDGES, np.asarray(age), side="right") - 1
    return pd.Categorical.from_codes(
        np.clip(positions, 0, len(AGE_BUCKET_LABELS) - 1), categories=AGE_BUCKET_LABELS, ordered=True
    )


def predictions_frame(faces: FaceData, rows: np.ndarray, predicted: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per face: its labels beside what the model predicted.

    `row_id` is the face's position in the loaded data, `line` its line in the CSV.
    """
    frame = pd.DataFrame(
        {
            "row_id": rows,
            "line": faces.line[rows],
            "img_name": faces.img_name[rows],
            "age": faces.age[rows].astype(int),
            "gender": faces.gender[rows].astype(int),
            "ethnicity": faces.ethnicity[rows].astype(int),
        }
    )
    if "age" in predicted:
        frame["pred_age"] = predicted["age"].astype(float).round(2)
        frame["age_error"] = (frame["pred_age"] - frame["age"]).round(2)
    if "gender" in predicted:
        frame["pred_gender_prob"] = predicted["gender"].astype(float).round(4)
        frame["pred_gender"] = (frame["pred_gender_prob"] >= 0.5).astype(int)
        frame["gender_correct"] = frame["pred_gender"] == frame["gender"]
    return frame


def label_predictions(frame: pd.DataFrame) -> pd.DataFrame:
    """A predictions frame plus readable labels and the columns breakdowns, filters and sorts use."""
    missing = [column for column in ("row_id", "age", "gender", "ethnicity") if column not in frame]
    if missing:
        raise ValueError(f"predictions are missing column(s) {', '.join(missing)}")
    labelled = frame.assign(
        age_bucket=age_bucket(frame["age"]),
        gender_name=frame["gender"].map(GENDERS),
        ethnicity_name=frame["ethnicity"].map(ETHNICITIES),
    )
    if "age_error" in labelled:
        labelled["abs_age_error"] = labelled["age_error"].abs()
    if "pred_gender" in labelled:
        labelled["pred_gender_name"] = labelled["pred_gender"].map(GENDERS)
    return labelled


@dataclasses.dataclass(frozen=True)
class Summary:
    """Headline metrics of some predicted faces and their breakdowns.

    `accuracy` and `confusion_matrix` are there when gender was predicted,
    `mae` when age was (None otherwise, and for no faces). Each breakdown row
    is a dict: the group's key(s), `n`, and `accuracy` and/or `mae`.
    """

    n: int
    accuracy: float | None = None
    mae: float | None = None
    confusion_matrix: list[list[int]] | None = None
    by_age_bucket: list[dict] = dataclasses.field(default_factory=list)
    by_gender: list[dict] = dataclasses.field(default_factory=list)
    by_ethnicity: list[dict] = dataclasses.field(default_factory=list)
    by_gender_and_ethnicity: list[dict] = dataclasses.field(default_factory=list)

    # The headline figure of each head: gender's accuracy, age's MAE.
    HEADLINE_KEYS = {"gender": "accuracy", "age": "mae"}

    def headline(self) -> dict[str, float]:
        """`accuracy` and/or `mae`, those there are."""
        return {self.HEADLINE_KEYS[head]: getattr(self, self.HEADLINE_KEYS[head]) for head in self.heads()}

    def heads(self) -> tuple[str, ...]:
        """The heads these figures are of."""
        return tuple(head for head, key in self.HEADLINE_KEYS.items() if getattr(self, key) is not None)

    def to_json(self) -> dict:
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, values: dict) -> Summary:
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in names})


def summarize(frame: pd.DataFrame) -> Summary:
    """Headline metrics and breakdowns of a predictions frame (labelled or not)."""
    labelled = frame if "age_bucket" in frame else label_predictions(frame)
    return Summary(
        n=len(frame),
        **_headline(frame),
        confusion_matrix=confusion_matrix(frame).tolist() if "pred_gender" in frame and len(frame) else None,
        by_age_bucket=breakdown(labelled, "age_bucket"),
        by_gender=breakdown(labelled, "gender_name"),
        by_ethnicity=breakdown(labelled, "ethnicity_name"),
        by_gender_and_ethnicity=breakdown(labelled, ["gender_name", "ethnicity_name"]),
    )


def _headline(frame: pd.DataFrame) -> dict:
    values = {}
    if "gender_correct" in frame and len(frame):
        values["accuracy"] = float(frame["gender_correct"].mean())
    if "age_error" in frame and len(frame):
        values["mae"] = float(frame["age_error"].abs().mean())
    return values


def breakdown(frame: pd.DataFrame, by: str | list[str]) -> list[dict]:
    """Count, accuracy and/or MAE for each group; empty groups are left out."""
    rows = []
    for key, group in frame.groupby(by, observed=True, sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        names = by if isinstance(by, list) else [by]
        row = {name.removesuffix("_name"): str(value) for name, value in zip(names, keys, strict=True)}
        row["n"] = len(group)
        row.update(_headline(group))
        rows.append(row)
    return rows


def confusion_matrix(frame: pd.DataFrame) -> np.ndarray:
    """2x2 counts: rows are the true gender (male, female), columns the predicted one."""
    matrix = np.zeros((2, 2), dtype=int)
    np.add.at(matrix, (frame["gender"].to_numpy(int), frame["pred_gender"].to_numpy(int)), 1)
    return matrix
