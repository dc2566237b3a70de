"""A study: its search (base settings, space, objectives, pruner), where it is stored, and opening it again.

    search = Search("faces-v1", TrainConfig(limit=8000, epochs=6, csv_path=...), SearchSpace.default(), ("combined",))
    study = open_study(search)                 # created, or the stored one after checking it is the same search
    summary(study)                             # counts of complete / pruned / failed / running trials

The default storage is an SQLite file in the runs folder (studies/<name>.db):
no server, safe for several processes on one machine, and its trials'
heartbeats let a worker that dies mid-trial be noticed (its trial is failed
and retried). `storage` takes any SQLAlchemy URL Optuna takes (PostgreSQL or
MySQL, for several machines) or the path of an Optuna journal file (on a
shared disk; journal files keep no heartbeats, so a dead worker's trial stays
running there).
"""

from __future__ import annotations

import collections
import dataclasses
import fcntl
import json
import re
import warnings
from pathlib import Path

import optuna

from core import runs
from core.config import TrainConfig
from core.paths import studies_dir
from core.runs import lifecycle
from core.tuning.objectives import Objective, check_objectives
from core.tuning.space import SearchSpace

# Heartbeats and failing stale trials are marked experimental (since Optuna 2.9); they are the documented way
# to retry a trial whose worker died.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
PRUNERS = ("median", "hyperband", "none")
# A worker's trial is failed (and retried) when it has not sent a heartbeat for GRACE_SECONDS.
HEARTBEAT_SECONDS, GRACE_SECONDS = 20, 120
# Optuna's TPE starts from 10 random trials; 4 leave most of a 16-trial study to TPE.
STARTUP_TRIALS = 4
# Each trial's number of tries: the first, then retries of a trial whose worker died.
MAX_RETRIES = 2
_STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SEARCH_ATTR = "search"


@dataclasses.dataclass(frozen=True)
class Search:
    """What a study searches: every trial is `base` with the space's values, scored by the objectives."""

    study: str
    base: TrainConfig
    space: SearchSpace
    objective_names: tuple[str, ...] = ("combined",)
    pruner: str = "median"
    storage: str | None = None  # None: the SQLite file in the runs folder
    # Keep the model of a pruned or failed trial (off: their history is kept, their model.keras is not).
    keep_all_models: bool = False
    heartbeat_seconds: int = HEARTBEAT_SECONDS
    grace_seconds: int = GRACE_SECONDS
    # Trials drawn at random before TPE models the results, and finished before the pruner prunes.
    startup_trials: int = STARTUP_TRIALS

    def __post_init__(self):
        if not _STUDY_NAME.fullmatch(self.study):
            raise ValueError(f"a study's name is 1 to 64 letters, digits, '.', '_' or '-', not {self.study!r}")
        if self.pruner not in PRUNERS:
            raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        check_objectives(self.objective_names, self.base.heads)
        if self.startup_trials < 1:
            raise ValueError(f"startup trials must be at least 1, got {self.startup_trials}")
        if not 0 < self.heartbeat_seconds < self.grace_seconds:
            raise ValueError("the heartbeat must be more often than the grace period (0 < heartbeat < grace)")

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return check_objectives(self.objective_names, self.base.heads)

    @property
    def prunes(self) -> bool:
        """Optuna prunes single-objective studies only."""
        return self.pruner != "none" and len(self.objective_names) == 1

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{studies_dir() / f'{self.study}.db'}"

    def definition(self) -> dict:
        """What must stay the same for a later command to go on with the study (stored with it)."""
        base = self.base.to_json()
        return {"base": base, "space": self.space.to_json(), "objectives": list(self.objective_names), "pruner": self.pruner,
                "startup_trials": self.startup_trials}  # fmt: skip


def _storage(search: Search) -> optuna.storages.BaseStorage:
    url = search.storage_url
    if "://" not in url:  # An Optuna journal file, for a shared disk.
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return _journal(url)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # SQLite lets one writer in at a time; the others wait instead of failing at once.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs=engine,
        heartbeat_interval=search.heartbeat_seconds,
        grace_period=search.grace_seconds,
        heartbeat_stale_trial_callback=_RetryDeadWorkersTrial(search.keep_all_models),
    )


def _journal(path: str) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(path))


class _RetryDeadWorkersTrial(optuna.storages.RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a trial whose worker stopped sending heartbeats, which also marks that trial's run failed."""

    def __init__(self, keep_model: bool):
        super().__init__(max_retry=MAX_RETRIES)
        self.keep_model = keep_model

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        run_dir = trial.user_attrs.get("run_dir")
        if run_dir and (Path(run_dir) / runs.STATUS_FILE).is_file():
            lifecycle.mark_failed(Path(run_dir), "its tuning worker stopped (no heartbeat); the trial is retried")
            if not self.keep_model:
                discard_model(Path(run_dir))
        super().__call__(study, trial)


def discard_model(run_dir: Path) -> None:
    """Delete a pruned or failed trial's model and checkpoint; its config, status and history stay."""
    for name in (runs.MODEL_FILE, runs.CHECKPOINT_DIR):
        runs.remove(run_dir / name)


def open_study(search: Search, sampler_seed: int | None = None) -> optuna.Study:
    """The study called `search.study`: created, or the stored one when it is the same search.

    Raises:
        ValueError: the stored study searched something else (the message lists what differs).
    """
    directions = [objective.direction for objective in search.objectives]
    startup = search.startup_trials
    sampler = optuna.samplers.TPESampler(multivariate=True, n_startup_trials=startup, seed=sampler_seed)
    pruner = {
        "median": optuna.pruners.MedianPruner(n_startup_trials=startup),
        "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource=search.base.epochs),
        "none": optuna.pruners.NopPruner(),
    }[search.pruner]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    wanted = json.loads(json.dumps(search.definition()))  # As the storage gives it back (tuples become lists).
    with StudyLock(search.storage_url):  # Several workers starting at once must not create the storage's tables twice.
        study = optuna.create_study(
            storage=_storage(search), sampler=sampler, pruner=pruner, study_name=search.study, directions=directions,
            load_if_exists=True,
        )  # fmt: skip
        stored = study.user_attrs.get(SEARCH_ATTR)
        if stored is None:
            study.set_user_attr(SEARCH_ATTR, wanted)
    if stored is not None and stored != wanted:
        raise ValueError(f"study {search.study!r} was started with another search ({'; '.join(differences(stored, wanted))}): "
                         "give this search another --study name, or run the stored one with its own settings")  # fmt: skip
    return study


def load_study(name: str, storage: str | None = None) -> optuna.Study:
    """A stored study as it is, to show or stop it (`storage` None: the runs folder's SQLite file of that name).

    Raises:
        ValueError: there is no such study there.
    """
    url = storage or f"sqlite:///{studies_dir() / f'{name}.db'}"
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise ValueError(f"no study {name!r}: there is no {url.removeprefix('sqlite:///')}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        # Not while a worker creates the storage's tables. (Never called while this process holds the lock:
        # a second lock on the same file from one process would wait for ever.)
        with StudyLock(url):
            return optuna.load_study(study_name=name, storage=url if "://" in url else _journal(url))
    except KeyError:
        raise ValueError(f"no study {name!r} in {url}") from None


def stored_studies() -> list[str]:
    """The studies stored in the runs folder's default place, newest first."""
    files = sorted(studies_dir().glob("*.db"), key=lambda path: path.stat().st_mtime, reverse=True)
    return [path.stem for path in files]


def differences(stored: dict, wanted: dict, where: str = "") -> list[str]:
    """Where two stored searches differ, as 'space.knobs.dropout: {...} was {...}' lines."""
    found = []
    for key in sorted(set(stored) | set(wanted)):
        old, new = stored.get(key), wanted.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            found += differences(old, new, f"{where}{key}.")
        elif old != new:
            found.append(f"{where}{key}: {new!r}, stored {old!r}")
    return found


def summary(study: optuna.Study) -> collections.Counter:
    """Trials by state name: COMPLETE, PRUNED, FAIL, RUNNING, WAITING."""
    return collections.Counter(trial.state.name for trial in study.get_trials(deepcopy=False))


class StudyLock:
    """A file lock beside a file storage (SQLite, journal), held while a worker decides whether to start one more
    trial (so that several never start one too many) and while a process opens the storage (so that two never
    create its tables at once).

    A study in a database server has none: there up to (workers - 1) trials more than asked may run.
    `release` may be called more than once (the trial releases it as it starts). The suffix is not Optuna's
    journal lock's (`.lock`), which must stay free for it.
    """

    def __init__(self, storage_url: str):
        url = storage_url
        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url if "://" not in url else None
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(f"{path}.workers-lock", "a") if path is not None else None  # noqa: SIM115  (held across calls)
        self.held = False

    def acquire(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        self.held = True

    def release(self) -> None:
        if self.held and self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.held = False

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *_) -> None:
        self.release()


def stop_file(study_name: str) -> Path:
    """Present while a stop of the study's workers on this machine is requested (the Tune page's Stop, SIGTERM)."""
    studies_dir().mkdir(parents=True, exist_ok=True)
    return studies_dir() / f"{study_name}.STOP"
