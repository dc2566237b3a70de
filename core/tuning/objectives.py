"""What a study optimizes: figures of a trial's model on its validation split (never the test split), and its minutes.

    scores = validation_scores(run_dir)     # {"gender_accuracy": 0.87, "age_mae": 6.9, "combined": 19.9, ...}
    OBJECTIVES["age_mae"].direction         # "minimize"

A trial's run is scored once it has trained: its best epoch's model answers
its validation faces as it would serve them (flip averaging included), and
the figures below come from those answers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from core import runs
from core.evaluation.metrics import predictions_frame, summarize


@dataclasses.dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" or "minimize", as Optuna takes it
    help: str
    # The heads a run needs for this figure.
    needs: tuple[str, ...]


OBJECTIVES = {
    objective.name: objective
    for objective in (
        Objective("gender_accuracy", "maximize", "validation gender accuracy", ("gender",)),
        Objective("age_mae", "minimize", "validation age MAE (years)", ("age",)),
        Objective(
            "combined", "minimize", "validation gender error (percent) plus age MAE (years): one point each", ("gender", "age")
        ),
        Objective(
            "worst_group_accuracy",
            "maximize",
            "the lowest validation gender accuracy of any gender x ethnicity group (for fairness audits)",
            ("gender",),
        ),
        Objective("minutes", "minimize", "training minutes (with another objective: quality against time)", ()),
    )
}
DEFAULT_OBJECTIVE = "combined"


def check_objectives(names: tuple[str, ...], heads: tuple[str, ...]) -> tuple[Objective, ...]:
    """The objectives called `names` (one, or two for a Pareto front); a ValueError for unknown, repeated or unmet ones."""
    if not 1 <= len(names) <= 2 or len(set(names)) != len(names):
        raise ValueError(f"choose one objective, or two different ones for a Pareto front; got {', '.join(names) or 'none'}")
    unknown = [name for name in names if name not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective {unknown[0]!r}; choose from {', '.join(OBJECTIVES)}")
    if names == ("minutes",):
        raise ValueError("minutes alone would pick the shortest training, however bad; pair it with a quality objective")
    for name in names:
        missing = [head for head in OBJECTIVES[name].needs if head not in heads]
        if missing:
            raise ValueError(f"objective {name!r} needs a model with the {' and '.join(missing)} head; this search trains "
                             f"{' and '.join(heads)}")  # fmt: skip
    return tuple(OBJECTIVES[name] for name in names)


def validation_scores(run_dir: Path) -> dict[str, float]:
    """Every objective's figure that the run's heads allow, from its best model on its validation split."""
    # Imported here: they bring TensorFlow, which the objectives' names and checks (the Tune page's) do not need.
    from core.inference.predictor import Predictor
    from core.training.prepare import load_prepared_data

    run = runs.load_run(run_dir)
    data = load_prepared_data(run)
    faces, rows = data.faces, data.split.val
    summary = summarize(predictions_frame(faces, rows, Predictor.for_run(run, backend="keras").predict(faces.as_float(rows))))
    history = runs.read_history(run.run_dir)
    scores = {"minutes": round(history[-1].elapsed / 60, 3) if history else 0.0}
    if summary.accuracy is not None:
        scores["gender_accuracy"] = summary.accuracy
        scores["worst_group_accuracy"] = min(group["accuracy"] for group in summary.by_gender_and_ethnicity)
    if summary.mae is not None:
        scores["age_mae"] = summary.mae
    if summary.accuracy is not None and summary.mae is not None:
        scores["combined"] = 100 * (1 - summary.accuracy) + summary.mae
    return scores
