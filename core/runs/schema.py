"""Whether a JSON value fits a run record's field: each record's dataclass annotations are its file's schema.

    check_fields(Status, {"state": "running", "pid": "abc"})   # ValueError: pid is text, expected a whole number

A fault is described by the JSON kinds of the value found and of the value
expected, never by the value itself: a damaged file's content is not echoed.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing

_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text", dict: "an object", list: "a list"}


def json_kind(value) -> str:
    """What a parsed JSON value is, in words: 'text', 'a list', 'null', ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    return next((kind for cls, kind in _KINDS.items() if isinstance(value, cls)), type(value).__name__)


def fits(value, hint) -> bool:
    """Whether a parsed JSON value fits a type annotation (int, float, str, bool, X | None, dict[str, V], list[V], ...).

    A float field takes whole numbers too (JSON writes 2.0 as 2); a whole-number field takes no true or false.
    Types that are not JSON's (a dataclass, say) are checked by their own reader: any object fits here.
    """
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    if hint is dict or origin is dict:
        args = typing.get_args(hint)
        return isinstance(value, dict) and (not args or all(fits(item, args[1]) for item in value.values()))
    if hint is list or origin is list or origin is tuple:
        args = typing.get_args(hint)
        return isinstance(value, list) and (not args or all(fits(item, args[0]) for item in value))
    return True


def describe(hint) -> str:
    """A type annotation as the JSON kinds it takes, in words."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(describe(option) for option in typing.get_args(hint))
    if hint is type(None):
        return "null"
    return _KINDS.get(typing.get_origin(hint) or hint, "an object")


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def check_object(values, what: str = "the file") -> dict:
    """`values` if it is a JSON object; a ValueError saying what it is instead."""
    if not isinstance(values, dict):
        raise ValueError(f"{what} holds {json_kind(values)}, expected an object")
    return values


def check_fields(cls, values, skip: tuple[str, ...] = ()) -> dict:
    """`values` if every field of dataclass `cls` that it holds has the JSON kind the field's annotation takes.

    Raises:
        ValueError: `values` is not an object, or a field's value is of the wrong kind (the message names the field).
    """
    check_object(values)
    hints = _hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in values and field.name not in skip and not fits(values[field.name], hints[field.name]):
            raise ValueError(f"{field.name} is {json_kind(values[field.name])}, expected {describe(hints[field.name])}")
    return values
