"""Which runs can answer for photos, and which are proposed first: the Predict page's default, and what `serve` serves.

    usable = runs.runs_by_task(runs.available_runs())   # {"both": [...], "gender": [...], "age": [...]}, newest first
    first = runs.default_runs(usable)                   # [a both run] or [a gender run, an age run] (or one of them)

A run is usable once it has finished (completed, or stopped with its best
model kept) and has its model.keras; a tuning trial's run only once it is
promoted (scored on its test split): before that it is one of a study's many
short trainings. The user's own runs come before the starter run that ships with the studio, which is proposed only when there
is no usable run of the user's.
"""

from __future__ import annotations

from core.labels import TASKS
from core.runs.store import RunInfo


def runs_by_task(run_list: list[RunInfo]) -> dict[str, list[RunInfo]]:
    """The finished runs with a model, by task, in the order given (list_runs gives newest first)."""
    usable = {task: [] for task in TASKS}
    for run in run_list:
        if run.is_usable and (run.config.study is None or run.metrics is not None):
            usable[run.task].append(run)
    return usable


def default_runs(usable: dict[str, list[RunInfo]]) -> list[RunInfo]:
    """The newest `both` run, or the newest gender run with the newest age run, whichever is newer.

    A pair counts as new as its older member. With no `both` run and only one
    of gender or age, that single run is proposed; with no run of the user's,
    the starter; with nothing usable, [].
    """
    own = {task: [run for run in found if not run.is_starter] for task, found in usable.items()}
    if not any(own.values()):
        return next(([run] for found in usable.values() for run in found), [])
    usable = own
    newest_both = usable["both"][0] if usable["both"] else None
    pair = [usable[task][0] for task in ("gender", "age") if usable[task]]
    if newest_both is None:
        return pair
    if len(pair) == 2 and min(run.run_id for run in pair) > newest_both.run_id:
        return pair
    return [newest_both]
