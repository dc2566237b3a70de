"""Predictions of a model on faces, and the metrics and breakdowns built from them.

`predict_heads` runs a model; `predictions_frame` lines its outputs up with the
labels; `summarize` turns such a frame (or any filtered part of it, as the
dashboard does) into accuracy, MAE, a confusion matrix and breakdowns by age
bucket, gender and ethnicity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.data import ETHNICITIES, GENDERS, FaceData

AGE_BUCKET_EDGES = (0, 3, 10, 20, 30, 40, 50, 60, 70)
AGE_BUCKET_LABELS = ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+")


def age_bucket(age) -> pd.Categorical:
    """Label each age with its bucket ('0-2', '3-9', '10-19', ..., '70+')."""
    positions = np.searchsorted(AGE_BUCKET_EDGES, np.asarray(age), side="right") - 1
    return pd.Categorical.from_codes(np.clip(positions, 0, len(AGE_BUCKET_LABELS) - 1), categories=AGE_BUCKET_LABELS, ordered=True)


def predict_heads(model, images: np.ndarray, flip_test_time: bool = False, batch_size: int = 512) -> dict[str, np.ndarray]:
    """Run `model` on float images; returns `gender` P(female) (n,) and/or `age` (n,).

    With `flip_test_time` each prediction is the mean of the face's and its mirror image's.
    """
    outputs = model.predict(images, batch_size=batch_size, verbose=0)
    mirrored = None
    if flip_test_time:
        mirrored = model.predict(np.ascontiguousarray(images[:, :, ::-1]), batch_size=batch_size, verbose=0)
    return head_values(outputs, mirrored)


def head_values(outputs: dict, mirrored: dict | None = None) -> dict[str, np.ndarray]:
    """`gender` P(female) and/or `age` in years, (n,) each, from a model's raw outputs.

    `mirrored`, the outputs for the mirrored faces, is averaged in when given.
    """
    columns = {"gender": 1, "age": 0}  # gender: (P(male), P(female)); age: (years,)
    result = {}
    for head, column in columns.items():
        if head in outputs:
            values = np.asarray(outputs[head])[:, column]
            if mirrored is not None:
                values = (values + np.asarray(mirrored[head])[:, column]) / 2
            result[head] = values
    return result


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


def summarize(frame: pd.DataFrame) -> dict:
    """Headline metrics and breakdowns of a predictions frame."""
    summary = {"n": len(frame)}
    summary.update(_headline(frame))
    if "pred_gender" in frame and len(frame):
        summary["confusion_matrix"] = confusion_matrix(frame).tolist()
    labelled = frame.assign(
        age_bucket=age_bucket(frame["age"]),
        gender_name=frame["gender"].map(GENDERS),
        ethnicity_name=frame["ethnicity"].map(ETHNICITIES),
    )
    summary["by_age_bucket"] = breakdown(labelled, "age_bucket")
    summary["by_gender"] = breakdown(labelled, "gender_name")
    summary["by_ethnicity"] = breakdown(labelled, "ethnicity_name")
    summary["by_gender_and_ethnicity"] = breakdown(labelled, ["gender_name", "ethnicity_name"])
    return summary


def _headline(frame: pd.DataFrame) -> dict:
    values = {}
    if "gender_correct" in frame:
        values["accuracy"] = float(frame["gender_correct"].mean()) if len(frame) else None
    if "age_error" in frame:
        values["mae"] = float(frame["age_error"].abs().mean()) if len(frame) else None
    return values


def breakdown(frame: pd.DataFrame, by: str | list[str]) -> list[dict]:
    """Count, accuracy and/or MAE for each group; empty groups are left out."""
    rows = []
    for key, group in frame.groupby(by, observed=True, sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        names = by if isinstance(by, list) else [by]
        row = {name.removesuffix("_name"): str(value) for name, value in zip(names, keys)}
        row["n"] = len(group)
        row.update(_headline(group))
        rows.append(row)
    return rows


def confusion_matrix(frame: pd.DataFrame) -> np.ndarray:
    """2x2 counts: rows are the true gender (male, female), columns the predicted one."""
    matrix = np.zeros((2, 2), dtype=int)
    np.add.at(matrix, (frame["gender"].to_numpy(int), frame["pred_gender"].to_numpy(int)), 1)
    return matrix
