"""A progress bar on stderr for long command-line jobs, redrawn in place (stdout stays for the result)."""

from __future__ import annotations

import sys


def progress_bar(done: int, total: int, what: str = "images", width: int = 30) -> None:
    """Draw `done` of `total` as a bar; the last call ends the line."""
    filled = round(width * done / total) if total else width
    end = "\n" if done >= total else ""
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what}", end=end, file=sys.stderr, flush=True)
