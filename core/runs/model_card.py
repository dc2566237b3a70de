"""A model card for a finished run, written from its own files: what the model predicts, how well, and where not.

    text = model_card(core.runs.load_run("models/starter"))   # Markdown
    python -m core model_card runs/<run_id>                  # writes runs/<run_id>/MODEL_CARD.md

Every number comes from the run directory (config.json, metrics.json,
predictions.csv, status.json), so the card of a run and the Runs page that
shows it always agree with the run.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd

from core import runs
from core.labels import AGE_BUCKET_LABELS, ETHNICITIES

# Buckets whose MAE the limitations quote: the oldest faces, where errors are largest.
OLDER_BUCKETS = ("50-59", "60-69", "70+")


def model_card(run: runs.RunInfo) -> str:
    """The card of a finished run, as Markdown.

    Raises:
        ValueError: the run has no test metrics yet.
    """
    if run.metrics is None:
        raise ValueError(f"run {run.run_id} has no {runs.METRICS_FILE} yet (state: {run.state}): no card before it has finished")
    config, test = run.config, run.metrics.test
    recipe = config.train.preset
    heads = " and ".join(
        {"gender": "gender (female or male, with a probability)", "age": "age in years"}[head] for head in config.heads
    )
    predictions = runs.read_predictions(run.run_dir) if (run.run_dir / runs.PREDICTIONS_FILE).is_file() else None
    lines = [
        f"# Model card: {run.run_id}",
        "",
        "## What it predicts",
        "",
        f"The {heads} of a face, from a 48x48 grayscale crop aligned like a UTKFace chip "
        "(the studio's photo path finds, aligns and crops faces in photos).",
        "",
        "## Data",
        "",
        f"Trained on `{Path(config.train.csv_path).name}` (content hash `{config.data_hash}`): "
        f"{_count(config.rows_used)} of its {_count(config.rows_in_file)} rows, split {_split_text(config)}. "
        'The faces come from UTKFace (the "age, gender, ethnicity (face data)" CSV is made from its aligned and '
        "cropped chips), which is for non-commercial research use only.",
    ]
    if predictions is not None and len(predictions):
        lines += ["", _skew_text(predictions)]
    lines += [
        "",
        "## Recipe",
        "",
        f"Preset `{recipe.name}`: {recipe.description} Task `{config.train.task}`, up to {config.train.epochs} epochs "
        f"(best epoch {run.metrics.best_epoch}, by {run.metrics.monitor}), batch size {config.train.batch_size}, "
        f"peak learning rate {config.train.learning_rate:g}, seed {config.train.seed}, arithmetic `{config.dtype_policy}`"
        f"{_duration_text(run)}. Saved in float32 (`{runs.MODEL_FILE}`) and as an int8 copy for batch inference "
        f"(`{runs.INT8_MODEL_FILE}`), which scored the test split below.",
        "",
        "## How well it does (test split)",
        "",
        f"{_count(test.n)} faces the model never trained on."
        + (f" Gender accuracy **{test.accuracy:.1%}**." if test.accuracy is not None else "")
        + (f" Age mean absolute error **{test.mae:.2f} years**." if test.mae is not None else ""),
        "",
        *_table("By age bucket", "age bucket", test.by_age_bucket, "age_bucket", AGE_BUCKET_LABELS),
        *_table("By gender", "gender", test.by_gender, "gender", ("female", "male")),
        *_table("By ethnicity", "ethnicity", test.by_ethnicity, "ethnicity", tuple(ETHNICITIES.values())),
        *_uncertainty_lines(run.metrics),
        "## Limitations",
        "",
        "- Gender is a binary label in the data (female or male), as annotated by UTKFace's makers; the model "
        "cannot say anything else, and says it about everyone.",
        "- The input is a 48x48 grayscale face: no colour, little detail. Faces turned far from the camera, "
        "covered, or much smaller than 48 pixels in the photo are read poorly.",
        _older_text(test.by_age_bucket),
        _children_text(test.by_age_bucket),
        "- Groups the data holds few of (by age, ethnicity) are predicted less reliably; the tables above show how much.",
        "",
        f"_Written by `python -m core model_card` on {datetime.date.today().isoformat()} from the run's own files._",
        "",
    ]
    return "\n".join(line for line in lines if line is not None)


def write_model_card(run_dir: Path) -> Path:
    """Write the card into the run directory; returns its path."""
    path = Path(run_dir) / runs.MODEL_CARD_FILE
    path.write_text(model_card(runs.load_run(run_dir)))
    return path


def _count(value) -> str:
    return "?" if value is None else f"{value:,}"


def _split_text(config: runs.RunConfig) -> str:
    sizes = config.split_sizes or {}
    parts = ", ".join(f"{_count(sizes.get(part))} {part}" for part in ("train", "val", "test"))
    kind = (
        "with every copy of a face on one side (grouped)"
        if config.train.split == "grouped"
        else "without keeping copies of a face together (stratified)"
    )
    return f"{parts}, stratified by gender and age band, {kind}"


def _skew_text(predictions: pd.DataFrame) -> str:
    white = (predictions["ethnicity_name"] == "White").mean()
    young_adults = predictions["age"].between(20, 35).mean()
    over_60 = (predictions["age"] >= 60).mean()
    return (
        f"The data is skewed: of the test faces (drawn like the rest) {white:.0%} are White and {young_adults:.0%} are "
        f"20 to 35 years old, while {over_60:.0%} are 60 or older."
    )


def _duration_text(run: runs.RunInfo) -> str:
    try:
        started = datetime.datetime.fromisoformat(run.status.started_at)
        ended = datetime.datetime.fromisoformat(run.status.ended_at)
    except (TypeError, ValueError):
        return ""
    return f", {(ended - started).total_seconds() / 60:.1f} minutes of training and scoring"


def _table(title: str, label: str, rows: list[dict], key: str, order: tuple[str, ...]) -> list[str]:
    if not rows:
        return []
    by_key = {row[key]: row for row in rows}
    columns = [column for column in ("accuracy", "mae") if any(row.get(column) is not None for row in rows)]
    names = {"accuracy": "gender accuracy", "mae": "age MAE (years)"}
    lines = [f"**{title}**", "", f"| {label} | faces | " + " | ".join(names[column] for column in columns) + " |"]
    lines.append("| --- " * (2 + len(columns)) + "|")
    for name in order:
        if name in by_key:
            row = by_key[name]
            values = [f"{row[column]:.1%}" if column == "accuracy" else f"{row[column]:.2f}" for column in columns]
            lines.append(f"| {name} | {row['n']:,} | " + " | ".join(values) + " |")
    return [*lines, ""]


def _uncertainty_lines(metrics: runs.RunMetrics) -> list[str]:
    """How far the answers can be trusted, when the run is calibrated (core.evaluation.calibration)."""
    lines = []
    if metrics.coverage:
        lines += [
            "## How sure it is",
            "",
            "Every age comes with an interval fitted on the validation split (label-conditional split conformal "
            "prediction, per bucket of the true age). On the test split the true age fell inside it this often:",
            "",
            "| interval | all | " + " | ".join(AGE_BUCKET_LABELS) + " |",
            "| --- " * (2 + len(AGE_BUCKET_LABELS)) + "|",
        ]
        for level in sorted({row["level"] for row in metrics.coverage}):
            by_bucket = {row["age_bucket"]: row for row in metrics.coverage if row["level"] == level}
            cells = [f"{by_bucket[key]['coverage']:.1%}" if key in by_bucket else "–" for key in ("all", *AGE_BUCKET_LABELS)]
            lines.append(f"| {level:.0%} (mean width {by_bucket['all']['mean_width']:.1f} years) | " + " | ".join(cells) + " |")
        lines.append("")
    if metrics.gender_ece:
        ece = metrics.gender_ece
        lines += [
            f"P(female) is calibrated by temperature scaling (T = {ece['temperature']:.2f}): its expected calibration "
            f"error on the test split went from {ece['before']:.3f} to {ece['after']:.3f}.",
            "",
        ]
    return lines


def _older_text(by_age_bucket: list[dict]) -> str | None:
    older = [row for row in by_age_bucket if row["age_bucket"] in OLDER_BUCKETS and row.get("mae") is not None]
    if not older:
        return None
    spread = ", ".join(f"{row['mae']:.1f} ({row['age_bucket']})" for row in older)
    return f"- Ages past 50 are the least accurate (mean errors of {spread} years); older faces are usually predicted too young."


def _children_text(by_age_bucket: list[dict]) -> str:
    young = [row for row in by_age_bucket if row["age_bucket"] in ("0-2", "3-9")]
    text = "- Children: the data has few of them, and a child's face changes fast."
    errors = [f"{row['mae']:.1f} ({row['age_bucket']})" for row in young if row.get("mae") is not None]
    accuracies = [f"{row['accuracy']:.0%} ({row['age_bucket']})" for row in young if row.get("accuracy") is not None]
    if errors:
        text += f" Mean age errors {', '.join(errors)} years, small in years but large for the age."
    if accuracies:
        text += f" Gender is hard to tell before puberty: accuracy {', '.join(accuracies)}."
    return text
