"""Run directories: their files (layout), each file's schema (records, schema), reading them through it (reading),
writing and listing them (store), the state machine of a run (lifecycle), its model card (model_card), and which
runs answer for photos (choice).

May import: labels, paths, errors, files, config, data, evaluation. The names below are the package's
public face (`from core import runs; runs.load_run(...)`); lifecycle's transitions are used as
`runs.lifecycle.mark_started(...)` so that every status change reads as one.
"""

from core.errors import RunFileError
from core.runs import lifecycle
from core.runs.choice import default_runs, runs_by_task
from core.runs.layout import *  # noqa: F403  (the file names and states)
from core.runs.lifecycle import pid_alive, read_status, request_stop, stop_requested
from core.runs.reading import read_calibration, read_config, read_history, read_metrics, read_predictions, read_split
from core.runs.records import HistoryRecord, RunConfig, RunMetrics, Status, now_iso, read_json, write_json_atomic
from core.runs.store import (
    RunInfo,
    active_run,
    append_history,
    available_runs,
    clear_results,
    damaged_runs,
    delete_run,
    epochs_done,
    list_runs,
    load_run,
    load_run_faces,
    new_run_dir,
    remove,
    scan_runs,
    write_calibration,
    write_config,
    write_metrics,
    write_predictions,
)
