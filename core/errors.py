"""The studio's own error for input a user can get wrong: a file that is not what it should be.

    try:
        faces, report = load_faces(path)
    except InputError as error:
        show(str(error))   # names the file and what is wrong with it

`core.data.loading` and `core.vision.images` raise nothing else, whatever bytes a file
holds. It is a `ValueError`, so callers that caught those keep working; a
missing file is an `InputFileNotFound`, which is also a `FileNotFoundError`.
"""

from __future__ import annotations


class InputError(ValueError):
    """A file or upload the studio cannot use; the message says which and why."""


class InputFileNotFound(InputError, FileNotFoundError):
    """There is no file at the path given."""
