"""The studio's own error for input a user can get wrong: a file that is not what it should be.

    try:
        faces, report = load_faces(path)
    except InputError as error:
        show(str(error))   # names the file and what is wrong with it

`core.data.loading` and `core.vision.images` raise nothing else, whatever bytes a file
holds. It is a `ValueError`, so callers that caught those keep working; a
missing file is an `InputFileNotFound`, which is also a `FileNotFoundError`.
A file of a run directory that does not fit its schema is a `RunFileError`.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """A file or upload the studio cannot use; the message says which and why."""


class InputFileNotFound(InputError, FileNotFoundError):
    """There is no file at the path given."""


class RunFileError(InputError):
    """A file of a run directory that is damaged: not what its schema (core.runs.records) says it holds.

    The message names the file's path (so the run and the file) and the fault, never the file's content.
    """

    def __init__(self, path: str | Path, fault: str):
        self.path = Path(path)
        self.fault = fault
        super().__init__(f"{self.path} is damaged: {fault}")
