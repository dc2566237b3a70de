"""A tuning worker: takes trials of a study one at a time until the study has its number of finished trials.

    run_worker(search, trials=16)                   # this process, against the study's storage
    (any number of processes, on any machines sharing the storage, may run this at once)

Each trial is an ordinary run (core.training.loop.train) in the runs folder,
its preset the search's base with the trial's values; its config.json names
the study and the trial. It is fed to the pruner after every epoch (its
validation loss) and scored on its validation split when it ends; the test
split is left unread until the user promotes the trial (`score_run`).
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import optuna

from core import runs
from core.runs import lifecycle
from core.training.callbacks import SERVED_LOSS
from core.training.loop import train
from core.tuning.objectives import validation_scores
from core.tuning.study import Search, StudyLock, discard_model, open_study, stop_file, summary

# A worker gives up after this many of its trials failed one after another.
MAX_FAILURES_IN_A_ROW = 3


class TrialsKeepFailing(RuntimeError):
    """A worker's trials failed again and again, so it stopped taking new ones."""


# Trials that count towards the number asked for: those that ended without an error.
FINISHED_STATES = ("COMPLETE", "PRUNED")


class PruneOnValidationLoss(keras.callbacks.Callback):
    """Reports the validation loss to the trial after every epoch and ends the training when the pruner says so."""

    def __init__(self, trial: optuna.Trial, monitor: str):
        super().__init__()
        self.trial, self.monitor = trial, monitor
        self.pruned_at_epoch: int | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = float((logs or {}).get(self.monitor, np.nan))
        self.trial.report(value, step=epoch + 1)
        if self.trial.should_prune():
            self.pruned_at_epoch = epoch + 1
            self.model.stop_training = True


class StopWithTheStudy(keras.callbacks.Callback):
    """Asks the trial's run to stop after its batch once a stop of the whole study is requested (its STOP file)."""

    def __init__(self, study_stop: Path, run_dir: Path):
        super().__init__()
        self.study_stop, self.run_dir = study_stop, run_dir

    def on_train_batch_end(self, batch, logs=None):
        if self.study_stop.exists():
            runs.request_stop(self.run_dir)  # The run's own StopWatcher ends it at the next batch, as `stopped`.


def trial_name(search: Search, number: int) -> str:
    """A trial's preset name (and part of its run's folder name)."""
    return f"{search.study}-t{number}"


def run_trial(trial: optuna.Trial, search: Search) -> float | tuple[float, ...]:
    """Train one trial's run and return its objective values; optuna.TrialPruned when the pruner ends it."""
    config = search.space.apply(search.base, search.space.suggest(trial), trial_name(search, trial.number))
    run_dir = runs.new_run_dir(config)
    trial.set_user_attr("run_dir", str(run_dir))
    monitor = SERVED_LOSS if config.task == "both" else "val_loss"
    pruning = PruneOnValidationLoss(trial, monitor) if search.prunes else None
    callbacks = (StopWithTheStudy(stop_file(search.study), run_dir), *([pruning] if pruning else []))
    provenance = {"study": search.study, "trial": trial.number}
    try:
        result = train(config, run_dir, verbose=0, callbacks=callbacks, provenance=provenance, score=False)
    except Exception:
        if not search.keep_all_models:
            discard_model(run_dir)
        raise
    finally:
        keras.backend.clear_session()  # A worker trains many models: free each one's graph.
    epochs = runs.epochs_done(runs.read_history(run_dir))
    trial.set_user_attr("epochs", epochs)
    if result.status != runs.COMPLETED:  # Stopped on request (the study's Stop): not a result.
        raise RuntimeError(f"trial {trial.number} was stopped after {epochs} epochs")
    if pruning is not None and pruning.pruned_at_epoch is not None:
        lifecycle.mark_pruned(run_dir, pruning.pruned_at_epoch)
        if not search.keep_all_models:
            discard_model(run_dir)
        raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at_epoch}")
    scores = validation_scores(run_dir)
    trial.set_user_attr("scores", scores)
    return tuple(scores[objective.name] for objective in search.objectives)


def run_worker(search: Search, trials: int, on_trial_end=None) -> optuna.Study:
    """Run trials of the study until it has `trials` finished (complete or pruned) ones, or a stop is requested.

    `on_trial_end(study)` is called after each trial (the command draws its progress with it).
    A trial that fails (an error, a worker that died) does not count: another is run in its place.
    """
    # Unseeded: several workers must not draw the same first trials (and their interleaving is not repeatable anyway).
    study = open_study(search)
    lock = StudyLock(search.storage_url)
    errors: list[Exception] = []  # This worker's failed trials since its last good one.

    def objective(trial: optuna.Trial):
        lock.release()  # The trial exists now: the other workers count it.
        try:
            result = run_trial(trial, search)
        except optuna.TrialPruned:
            errors.clear()
            raise
        except Exception as error:
            errors.append(error)
            raise
        errors.clear()
        return result

    while not stop_file(search.study).exists():
        if len(errors) >= MAX_FAILURES_IN_A_ROW:
            # The same fault every time (the CSV gone, say): trying on would fail trial after trial for ever.
            raise TrialsKeepFailing(f"{len(errors)} trials in a row failed; the last with: {errors[-1]}")
        lock.acquire()
        try:
            optuna.storages.fail_stale_trials(study)
            counts = summary(study)
            finished = sum(counts[state] for state in FINISHED_STATES)
            if finished >= trials:
                break
            if finished + counts["RUNNING"] >= trials and not counts["WAITING"]:
                # The last trials are running elsewhere; wait in case their worker dies and they need running again.
                lock.release()
                time.sleep(min(search.heartbeat_seconds, 5))
                continue
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[lambda *_: on_trial_end and on_trial_end(study)])
        finally:
            lock.release()
    return study


def stop_study(study: optuna.Study) -> None:
    """Ask every worker of the study on this machine to stop: their running trials end after the current batch."""
    path = stop_file(study.study_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        run_dir = trial.user_attrs.get("run_dir")
        if run_dir and Path(run_dir).is_dir():
            runs.request_stop(Path(run_dir))
