"""Optional API keys: from the AGEGENDER_API_KEYS variable (comma-separated) and/or a key file (one a line).

    keys = read_keys(key_file)        # () when none is set: the service is then open to whoever reaches it
    key_is_valid(given, keys)         # constant time, whatever key matches or how much of it

Only SHA-256 digests of the keys are kept, and compared with `hmac.compare_digest`,
so neither the keys' contents nor their lengths show in the time an answer takes.
Keys are never logged or printed: the serve command says how many there are.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from core.errors import InputError

KEYS_VARIABLE = "AGEGENDER_API_KEYS"
KEY_HEADER = "X-API-Key"
# A key of 16 random characters from [A-Za-z0-9] is 95 bits: beyond guessing over HTTP.
MIN_KEY_LENGTH = 16


def read_keys(key_file: str | Path | None = None, environ=os.environ) -> tuple[bytes, ...]:
    """The digests of the keys given; () when none is.

    Raises:
        InputError: the key file cannot be read or holds no key, or a key is
            shorter than MIN_KEY_LENGTH (the message never shows a key).
    """
    keys = [key.strip() for key in environ.get(KEYS_VARIABLE, "").split(",")]
    if key_file is not None:
        try:
            lines = Path(key_file).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"the key file {key_file} could not be read: {error}") from error
        in_file = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
        if not in_file:
            raise InputError(f"the key file {key_file} holds no key (one a line; lines starting with # are comments)")
        keys += in_file
    keys = [key for key in keys if key]
    short = sum(len(key) < MIN_KEY_LENGTH for key in keys)
    if short:
        raise InputError(
            f"{short} of the {len(keys)} API keys are shorter than {MIN_KEY_LENGTH} characters; use longer, random ones"
        )
    return tuple(dict.fromkeys(_digest(key) for key in keys))


def key_is_valid(given: str | None, keys: tuple[bytes, ...]) -> bool:
    """Whether `given` is one of the keys; every key is compared, so the time says nothing about which matched."""
    if not given:
        return False
    digest = _digest(given)
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(digest, key)
    return matched


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
