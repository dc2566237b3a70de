"""core.service.keys: where keys come from, what is refused, and the check."""

from __future__ import annotations

import pytest

from core.errors import InputError
from core.service.keys import KEYS_VARIABLE, MIN_KEY_LENGTH, key_is_valid, read_keys

GOOD, OTHER = "a" * MIN_KEY_LENGTH, "b" * (MIN_KEY_LENGTH + 4)


def test_keys_come_from_the_variable_and_the_file_and_none_means_open(tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(f"# a comment\n\n  {OTHER}  \n")
    keys = read_keys(key_file, {KEYS_VARIABLE: f" {GOOD} , "})
    assert len(keys) == 2 and key_is_valid(GOOD, keys) and key_is_valid(OTHER, keys)
    assert read_keys(None, {}) == () and read_keys(None, {KEYS_VARIABLE: " , "}) == ()


def test_only_an_exact_key_is_valid():
    keys = read_keys(None, {KEYS_VARIABLE: GOOD})
    assert not any(key_is_valid(given, keys) for given in (None, "", GOOD[:-1], GOOD + "a", GOOD.upper(), OTHER))
    assert not key_is_valid(GOOD, ())


def test_a_bad_key_file_or_a_short_key_stops_the_service_without_showing_a_key(tmp_path):
    with pytest.raises(InputError, match="could not be read"):
        read_keys(tmp_path / "absent", {})
    empty = tmp_path / "empty"
    empty.write_text("# only a comment\n")
    with pytest.raises(InputError, match="holds no key"):
        read_keys(empty, {})
    with pytest.raises(InputError, match=f"1 of the 2 API keys are shorter than {MIN_KEY_LENGTH} characters") as refused:
        read_keys(None, {KEYS_VARIABLE: f"{GOOD},short-secret"})
    assert "short-secret" not in str(refused.value)
