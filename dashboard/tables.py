"""Tables the pages show, built from run files and predictions; Streamlit-free.

    frame = core.runs.read_predictions(run_dir)           # labelled by core.evaluation.metrics.label_predictions
    breakdown_table(summarize(frame).by_age_bucket)        # MAE / accuracy per age bucket
    calibration_table(frame)                               # predicted vs observed P(female)
    runs_table(list_runs(), damaged_runs())                # the Runs page overview
    trials_table(study, ["combined"])                      # the Tune page's trials of an Optuna study

The numbers come from `core.evaluation.metrics`; this module only shapes them.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from core import runs
from core.data.health import HealthReport
from core.data.loading import FaceData
from core.evaluation.metrics import Summary
from core.labels import AGE_BUCKET_LABELS, GENDERS
from core.paths import starter_dir

# Columns of a predictions frame worth showing in a table, in reading order.
DISPLAY_COLUMNS = (
    "row_id", "img_name", "age", "pred_age", "age_error", "gender_name", "pred_gender_name", "pred_gender_prob", "ethnicity_name",
)  # fmt: skip


def display_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The readable columns of a (labelled) predictions frame, those it has."""
    return frame[[column for column in DISPLAY_COLUMNS if column in frame]]


def breakdown_table(rows: list[dict]) -> pd.DataFrame:
    """One `core.evaluation.breakdown` (a list of dicts) as a frame, columns in a fixed order."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    group_columns = [column for column in frame.columns if column not in ("n", "accuracy", "mae")]
    value_columns = [column for column in ("n", "accuracy", "mae") if column in frame]
    frame = frame[group_columns + value_columns]
    if "age_bucket" in frame:
        frame["age_bucket"] = pd.Categorical(frame["age_bucket"], categories=AGE_BUCKET_LABELS, ordered=True)
    return frame


ALL = "all"


def gender_ethnicity_table(summary: Summary) -> pd.DataFrame:
    """The by-gender, by-ethnicity and crossed breakdowns of a `summarize` result as one frame.

    Rows are (ethnicity, gender) pairs, where either may be "all": ("Asian",
    "female") is a cell of the crossing, ("Asian", "all") all Asian faces,
    ("all", "female") all women and ("all", "all") the whole slice; so one
    grouped chart shows the two margins beside the crossing.
    """
    overall = {"n": summary.n, **summary.headline()}
    rows = [
        *summary.by_gender_and_ethnicity,
        *({**row, "gender": ALL} for row in summary.by_ethnicity),
        *({**row, "ethnicity": ALL} for row in summary.by_gender),
        {"ethnicity": ALL, "gender": ALL, **overall},
    ]
    return breakdown_table(rows)[["ethnicity", "gender", *(key for key in ("n", "accuracy", "mae") if key in overall)]]


def calibration_table(frame: pd.DataFrame, bins: int = 10, column: str = "pred_gender_prob") -> pd.DataFrame:
    """Predicted P(female) against how often those faces really are female, per probability bin.

    A well-calibrated model has `observed_female` close to `mean_predicted`
    in every bin. Empty bins are left out. `column` is the probability to
    look at: the shown (calibrated) one, or `pred_gender_prob_raw`, the network's own.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    if column not in frame:
        raise ValueError(f"Calibration needs gender predictions (a {column} column)")
    probability = frame[column].to_numpy(float)
    # Bin i holds [i/bins, (i+1)/bins); a probability of exactly 1 goes in the last bin.
    which = np.minimum((probability * bins).astype(int), bins - 1)
    grouped = pd.DataFrame({"bin": which, "predicted": probability, "female": frame["gender"].to_numpy() == 1})
    table = grouped.groupby("bin").agg(
        mean_predicted=("predicted", "mean"), observed_female=("female", "mean"), n=("female", "size")
    )
    table.insert(0, "bin_low", table.index / bins)
    return table.reset_index(drop=True)


def _parse_time(text: str | None) -> datetime.datetime | None:
    try:
        return datetime.datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def run_duration_seconds(run: runs.RunInfo, now: datetime.datetime | None = None) -> float | None:
    """Seconds from start to end, or to `now` while the run goes on."""
    started = _parse_time(run.status.started_at)
    if started is None:
        return None
    ended = _parse_time(run.status.ended_at)
    if ended is None:
        if run.state != runs.RUNNING:
            return None
        ended = now or datetime.datetime.now(datetime.UTC)
    return max(0.0, (ended - started).total_seconds())


# The Runs page's overview, in order; `problem` says what is wrong with a damaged run.
RUNS_TABLE_COLUMNS = (
    "run", "model", "status", "task", "preset", "test accuracy", "test MAE (years)", "epochs", "best epoch", "duration (min)",
    "rows", "test faces", "started (UTC)", "study", "problem",
)  # fmt: skip


def runs_table(run_list: list[runs.RunInfo], damaged: list[runs.RunFileError] = ()) -> pd.DataFrame:
    """One row per run: what it was, how it went and its test metrics; then a row per damaged run saying what is wrong."""
    rows = []
    for run in run_list:
        test = run.metrics.test if run.metrics else None
        rows.append(
            {
                "run": run.run_id,
                "model": "starter (ships with the studio)" if run.is_starter else "yours",
                "status": run_state(run),
                "task": run.task,
                "preset": run.config.train.preset.name,
                "test accuracy": test and test.accuracy,
                "test MAE (years)": test and test.mae,
                "epochs": f"{runs.epochs_done(runs.read_history(run.run_dir))}/{run.config.train.epochs}",
                "best epoch": run.metrics and run.metrics.best_epoch,
                "duration (min)": _minutes(run_duration_seconds(run)),
                "rows": run.config.rows_used,
                "test faces": test and test.n,
                "started (UTC)": _short_time(run.status.started_at),
                "study": run.config.study and f"{run.config.study} · trial {run.config.trial}",
                "problem": None,
            }
        )
    for error in damaged:
        is_starter = error.path.parent.resolve() == starter_dir().resolve()
        rows.append({"run": error.path.parent.name, "model": "starter (ships with the studio)" if is_starter else "yours",
                     "status": "damaged", "problem": f"{error.path.name}: {error.fault}"})  # fmt: skip
    return pd.DataFrame(rows, columns=RUNS_TABLE_COLUMNS)


def run_state(run: runs.RunInfo) -> str:
    """A run's state as the tables show it: a pruned tuning trial says after which epoch."""
    if run.state == runs.PRUNED and run.status.pruned_at_epoch is not None:
        return f"{runs.PRUNED} at epoch {run.status.pruned_at_epoch}"
    return run.state


# Optuna's trial states (optuna.trial.TrialState names) in the words the runs use.
TRIAL_STATES = {"COMPLETE": "complete", "PRUNED": runs.PRUNED, "FAIL": runs.FAILED, "RUNNING": runs.RUNNING, "WAITING": "waiting"}


def trials_table(study, objective_names: list[str]) -> pd.DataFrame:
    """One row per trial of an Optuna study: state, objective value(s), epochs run, settings tried and its run.

    A running trial's epochs come from its run's history, which grows while it
    trains; a finished one's from what the worker recorded (core.tuning.worker).
    """
    rows = []
    for trial in study.get_trials(deepcopy=False):
        run_dir = trial.user_attrs.get("run_dir")
        epochs = trial.user_attrs.get("epochs")
        if epochs is None and run_dir:
            epochs = runs.epochs_done(runs.read_history(Path(run_dir)))
        values = trial.values if trial.state.name == "COMPLETE" and trial.values else [None] * len(objective_names)
        rows.append(
            {
                "trial": trial.number,
                "state": TRIAL_STATES.get(trial.state.name, trial.state.name.lower()),
                **dict(zip(objective_names, values, strict=True)),
                "epochs": epochs,
                "run": Path(run_dir).name if run_dir else None,
                "test scored": bool(run_dir) and (Path(run_dir) / runs.METRICS_FILE).is_file(),
                **{name: float(f"{value:.4g}") if isinstance(value, float) else value for name, value in trial.params.items()},
            }
        )
    return pd.DataFrame(rows)


def _short_time(text: str | None) -> str | None:
    moment = _parse_time(text)
    return None if moment is None else moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def health_groups_table(health: HealthReport, faces: FaceData) -> pd.DataFrame:
    """One row per group of copies (core.data.health), indexed and numbered by its position in `health.groups`."""
    rows = []
    for number, group in enumerate(health.groups):
        genders = ", ".join(GENDERS[gender] for gender in group.genders)
        ages = ", ".join(map(str, group.ages))
        rows.append(
            {
                "group": number,
                "faces": len(group.rows),
                "kind": "exact" if group.exact else "near",
                "ages": ages,
                "genders": genders,
                "conflicting": group.conflicting,
                "CSV lines": ", ".join(str(faces.line[row]) for row in group.rows),
                "summary": f"#{number} · {len(group.rows)} faces · ages {ages} · {genders}"
                + (" · conflicting" if group.conflicting else ""),
            }
        )
    return pd.DataFrame(rows)


def prediction_caption(row) -> str:
    """A short caption for one face of a predictions frame (a row from `itertuples` or a Series).

    '34 → 41' is true → predicted age; 'F→M 0.31 ✗' is true → predicted
    gender, P(female) and whether the gender is right.
    """
    parts = []
    if hasattr(row, "age_low"):
        parts.append(f"{row.age} → {row.pred_age:.0f} ({row.age_low:.0f}–{row.age_high:.0f})")
    elif hasattr(row, "pred_age"):
        parts.append(f"{row.age} → {row.pred_age:.0f}")
    else:
        parts.append(f"age {row.age}")
    if hasattr(row, "pred_gender"):
        mark = "✓" if row.gender_correct else "✗"
        true, predicted = GENDERS[row.gender][0].upper(), GENDERS[row.pred_gender][0].upper()
        parts.append(f"{true}→{predicted} {row.pred_gender_prob:.2f} {mark}")
    else:
        parts.append(GENDERS[row.gender])
    return " · ".join(parts)


def face_details_table(row: pd.Series) -> pd.DataFrame:
    """Everything known about one test face, as (field, value) rows for a details view."""
    fields = [
        ("image name", row["img_name"]),
        ("CSV line", row["line"]),
        ("row id", row["row_id"]),
        ("ethnicity", row["ethnicity_name"]),
        ("true age", row["age"]),
        ("age bucket", row["age_bucket"]),
    ]
    if "pred_age" in row:
        fields += [("predicted age", f"{row['pred_age']:.1f}"), ("age error (years)", f"{row['age_error']:+.1f}")]
    if "age_low" in row:
        fields.append((f"{row['interval_level']:.0%} age interval", f"{row['age_low']:.1f}–{row['age_high']:.1f}"))
    fields.append(("true gender", row["gender_name"]))
    if "pred_gender" in row:
        fields += [
            ("predicted gender", row["pred_gender_name"]),
            ("P(female)", f"{row['pred_gender_prob']:.3f}"),
            ("gender right?", "yes" if row["gender_correct"] else "no"),
        ]
    return pd.DataFrame(fields, columns=["field", "value"]).astype(str)
