"""Where things are: the project, the face CSV, runs, caches, the starter run, and the folders data may come from.

Each location can be moved by an environment variable (README's settings
table); nothing here creates a folder or reads a file.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Where users put face CSVs (git-ignored), and where the dashboard writes imported ones.
DATA_DIR = PROJECT_ROOT / "data"


def default_csv_path() -> Path:
    """The CSV to use when none is given: `AGEGENDER_CSV`, else `data/age_gender.csv[.gz]`."""
    from_env = os.environ.get("AGEGENDER_CSV")
    if from_env:
        return Path(from_env)
    plain = DATA_DIR / "age_gender.csv"
    gzipped = DATA_DIR / "age_gender.csv.gz"
    if not plain.exists() and gzipped.exists():
        return gzipped
    return plain


def allowed_data_dirs() -> list[Path] | None:
    """The folders an operator allows data to be read from (`AGEGENDER_DATA_DIRS`, separated by `os.pathsep`); None: any."""
    setting = os.environ.get("AGEGENDER_DATA_DIRS", "").strip()
    return [Path(folder).expanduser().resolve() for folder in setting.split(os.pathsep) if folder.strip()] or None


def check_data_path(path: str | Path) -> Path:
    """`path`, resolved, if it lies in an allowed data folder (always, when none is set); an InputError otherwise.

    On a shared server the operator sets AGEGENDER_DATA_DIRS, so that a typed
    path cannot make the dashboard read files elsewhere on the machine.
    """
    resolved = Path(path).expanduser().resolve()
    allowed = allowed_data_dirs()
    if allowed is not None and not any(resolved.is_relative_to(folder) for folder in allowed):
        raise InputError(f"{path} is outside the data folders this server allows ({', '.join(map(str, allowed))})")
    return resolved


def runs_dir() -> Path:
    """Where run directories live: `AGEGENDER_RUNS`, else `runs/` in the project."""
    return Path(os.environ.get("AGEGENDER_RUNS", PROJECT_ROOT / "runs"))


# Folders of the runs folder that hold no run: the user's presets (core.networks.presets) and the tuning
# studies' storage (core.tuning).
USER_PRESETS_FOLDER, STUDIES_FOLDER = "presets", "studies"


def user_presets_dir() -> Path:
    return runs_dir() / USER_PRESETS_FOLDER


def studies_dir() -> Path:
    return runs_dir() / STUDIES_FOLDER


def starter_dir() -> Path:
    """The starter run that ships with the studio: `AGEGENDER_STARTER`, else `models/starter/` in the project.

    Pages fall back to it while the user has no finished run of their own.
    """
    return Path(os.environ.get("AGEGENDER_STARTER", PROJECT_ROOT / "models" / "starter"))


def cache_dir() -> Path:
    """Where parsed-CSV caches live: `AGEGENDER_CACHE`, else `.cache/` in the project.

    Never beside the CSV: the shared data folder is read-only in CI.
    """
    return Path(os.environ.get("AGEGENDER_CACHE", PROJECT_ROOT / ".cache"))
