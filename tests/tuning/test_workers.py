"""Studies run by real worker processes on one storage: every trial once, a killed worker's trial retried, pruning.

Trials are tiny real trainings (a few hundred faces of the shared CSV, 1-3 epochs).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys

import optuna
import pytest

from core import runs
from core.config import TrainConfig
from core.networks.presets import get_preset
from core.paths import PROJECT_ROOT
from core.tuning.space import SearchSpace
from core.tuning.study import Search, load_study, open_study
from core.tuning.worker import run_worker
from tests.processes import wait_for

pytestmark = pytest.mark.slow  # Every test here trains and most start processes.

ROWS, EPOCHS, TRIALS = 300, 2, 6


def tune_command(study: str, storage: str, csv, *extra: str) -> list[str]:
    return [sys.executable, "-m", "core", "tune", "--study", study, "--storage", storage, "--trials", str(TRIALS),
            "--epochs-per-trial", str(EPOCHS), "--limit", str(ROWS), "--csv", str(csv), "--pruner", "none", *extra]  # fmt: skip


def trials_by_state(study: optuna.Study) -> dict[str, list[optuna.trial.FrozenTrial]]:
    found: dict[str, list] = {}
    for trial in study.get_trials():
        found.setdefault(trial.state.name, []).append(trial)
    return found


def assert_every_trial_is_its_own_run(trials: list[optuna.trial.FrozenTrial], study_name: str) -> list[runs.RunInfo]:
    run_dirs = [trial.user_attrs["run_dir"] for trial in trials]
    assert len(set(run_dirs)) == len(trials), "each trial trains its own run"
    infos = [runs.load_run(run_dir) for run_dir in run_dirs]
    for trial, info in zip(trials, infos, strict=True):
        assert (info.config.study, info.config.trial) == (study_name, trial.number)
        assert info.config.train.preset.name == f"{study_name}-t{trial.number}"
        assert info.metrics is None and not (info.run_dir / runs.PREDICTIONS_FILE).exists(), "the test split stays unread"
        scores = trial.user_attrs["scores"]
        # The trial's value is its run's validation figure, not a number from nowhere: the history agrees on the epochs.
        assert trial.values == [scores["combined"]]
        assert trial.user_attrs["epochs"] == runs.epochs_done(runs.read_history(info.run_dir)) == EPOCHS
    return infos


def test_two_worker_processes_run_a_study_to_its_end_each_trial_once(shared_csv, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    environment = os.environ | {"AGEGENDER_RUNS": str(tmp_path / "runs")}
    command = tune_command("pair", storage, shared_csv, "--workers", "2")
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["trials"] == {"COMPLETE": TRIALS}

    study = load_study("pair", storage)
    trials = study.get_trials()
    assert [trial.number for trial in trials] == list(range(TRIALS)), "no trial missing, none run twice, none too many"
    infos = assert_every_trial_is_its_own_run(trials, "pair")
    assert len({info.status.pid for info in infos}) == 2, "both workers ran trials"
    best = min(trials, key=lambda trial: trial.values[0])
    assert result["best"][0]["trial"] == best.number

    # Promoted, the best trial is scored on its test split like any trained run; its settings become a preset.
    def tune(*flags: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "core", "tune", "--study", "pair", "--storage", storage, *flags]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)

    promoted = tune("--promote", str(best.number))
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    scored = runs.load_run(best.user_attrs["run_dir"])
    assert json.loads(promoted.stdout.splitlines()[-1])["test"] == scored.metrics.test.headline()
    assert scored.metrics.test.n == scored.config.split_sizes["test"] and 1 <= scored.metrics.best_epoch <= EPOCHS
    again = tune("--promote", str(best.number))
    assert again.returncode == 1 and "is scored already" in again.stderr
    saved = tune("--save-preset", str(best.number), "pair-best")
    assert saved.returncode == 0, saved.stderr[-2000:]
    os.environ["AGEGENDER_RUNS"], previous = environment["AGEGENDER_RUNS"], os.environ["AGEGENDER_RUNS"]
    try:
        trained = scored.config.train
        assert get_preset("pair-best") == dataclasses.replace(
            trained.preset, name="pair-best", learning_rate=trained.learning_rate, batch_size=trained.batch_size
        ), "the trial's settings, with the learning rate and batch size it trained with"
        assert (trained.learning_rate, trained.batch_size) == (best.params["learning_rate"], best.params["batch_size"])
    finally:
        os.environ["AGEGENDER_RUNS"] = previous


def test_a_worker_killed_mid_trial_leaves_the_study_whole_and_its_trial_is_failed_and_retried(shared_csv, tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    environment = os.environ | {"AGEGENDER_RUNS": str(tmp_path / "runs")}
    # A heartbeat every 2 s and 15 s of grace (a living worker's heartbeat thread can lag a few seconds on a busy
    # machine), so that the dead worker's trial is noticed within the test.
    command = tune_command("kill", storage, shared_csv, "--heartbeat", "2", "--grace", "15")
    doomed_log = tmp_path / "doomed.log"
    with open(doomed_log, "w") as log:
        doomed = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    try:
        # Kill it once it is inside a trial: the trial's run has started in the doomed process.
        def doomed_is_training():
            assert doomed.poll() is None, f"the first worker ended before a trial:\n{doomed_log.read_text()[-3000:]}"
            try:
                study = load_study("kill", storage)
            except ValueError:  # Not created yet.
                return None
            for trial in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
                run_dir = trial.user_attrs.get("run_dir")
                if run_dir and runs.read_status(run_dir).pid == doomed.pid:
                    return trial.number
            return None

        killed_trial = wait_for(doomed_is_training, 600, "the first worker to be training a trial", interval=0.2)
        survivor = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    cwd=PROJECT_ROOT)  # fmt: skip
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        out, err = survivor.communicate(timeout=600)
        assert survivor.returncode == 0, err[-3000:]
    finally:
        for process in (doomed,):
            if process.poll() is None:
                process.kill()

    study = load_study("kill", storage)
    states = trials_by_state(study)
    assert len(states["COMPLETE"]) == TRIALS and [trial.number for trial in states["FAIL"]] == [killed_trial]
    assert set(states) == {"COMPLETE", "FAIL"}
    retries = [
        t for t in states["COMPLETE"] if optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed_trial
    ]
    assert len(retries) == 1 and retries[0].params == states["FAIL"][0].params, "the killed trial ran again, with its values"
    killed_run = runs.load_run(states["FAIL"][0].user_attrs["run_dir"])
    assert killed_run.state == runs.FAILED and "no heartbeat" in killed_run.status.error
    assert not killed_run.has_model, "a failed trial keeps its history, not its model"
    assert_every_trial_is_its_own_run(states["COMPLETE"], "kill")


def test_the_pruner_stops_a_hopeless_trial_before_its_last_epoch_and_its_run_says_pruned(shared_csv, tmp_path):
    epochs = 3
    base = TrainConfig(epochs=epochs, patience=epochs, limit=ROWS, csv_path=str(shared_csv))
    # Only the learning rate is searched; two sensible trials first, then one absurdly high.
    space = SearchSpace.default(base.preset).narrowed(
        {
            knob: None
            for knob in (
                "weight_decay",
                "batch_size",
                "dropout",
                "width",
                "extra_convolutions",
                "label_smoothing",
                "augmentation",
                "age_label_spread",
                "age_distribution_weight",
                "ethnicity_loss_weight",
            )
        }  # fmt: skip
        | {"learning_rate": {"low": 1e-4, "high": 1e4}}
    )
    search = Search("prune", base, space, storage=f"sqlite:///{tmp_path / 'prune.db'}", startup_trials=2)
    study = open_study(search)
    for learning_rate in (2e-3, 3e-3, 5e3):
        study.enqueue_trial({"learning_rate": learning_rate})
    run_worker(search, trials=3)

    trials = load_study("prune", search.storage).get_trials()
    assert [trial.state.name for trial in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    hopeless = runs.load_run(trials[2].user_attrs["run_dir"])
    assert hopeless.state == runs.PRUNED and hopeless.status.pruned_at_epoch < epochs
    assert runs.epochs_done(runs.read_history(hopeless.run_dir)) == hopeless.status.pruned_at_epoch
    assert not hopeless.has_model
    # What the pruner saw: the hopeless trial's loss at the epoch it was pruned, worse than both sensible ones'.
    step = hopeless.status.pruned_at_epoch
    reported = trials[2].intermediate_values[step]
    assert not reported < max(trial.intermediate_values[step] for trial in trials[:2])

    # The same search again goes on with the study: one trial more, the earlier three untouched.
    run_worker(dataclasses.replace(search), trials=4)
    again = load_study("prune", search.storage).get_trials()
    assert [trial.number for trial in again] == [0, 1, 2, 3] and again[:3] == trials
