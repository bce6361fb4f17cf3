"""Results as plain data: any result dataclass to JSON values and back.

Why: a capture's result crosses processes (the worker scans of a directory) and, with
scale-out and shared stores, machines. pickle is fine between our own processes, but
nothing read from elsewhere may ever be unpickled (docs/ARCHITECTURE.md §9); JSON
is what any other process, language or machine reads. The codec follows the dataclasses'
type hints, so a new field of a result needs no code here, and a result that holds
something that is not plain data (a compiled rule, a numpy array) fails loudly in the
round-trip test instead of silently.

Encoding: dataclasses become objects of their fields; dicts with string keys stay
objects, others (tuple or int keys, Counters) become ``[key, value]`` pair lists in their
order; sets, tuples and lists become lists in iteration order; non-finite floats become
the strings "inf", "-inf" and "nan" (strict JSON has no such numbers). ``None`` stands for
itself whatever the declared type (stowed facts keep None for empty containers).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from collections import Counter
from typing import Any, TypeVar

T = TypeVar("T")


def to_plain(value: Any) -> Any:
    """``value`` as JSON-encodable data (see the module docstring)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        if all(type(key) is str for key in value):
            return {key: to_plain(item) for key, item in value.items()}
        return [[to_plain(key), to_plain(item)] for key, item in value.items()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(item) for item in value]
    raise TypeError(f"not plain data: {type(value).__name__}")


def from_plain(kind: Any, data: Any) -> Any:
    """Rebuild a value of type ``kind`` (a class or a typing form) from ``to_plain``'s data."""
    if data is None or kind is Any:
        return data
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        choices = [arg for arg in args if arg is not type(None)]
        for choice in choices[:-1]:
            try:
                return from_plain(choice, data)
            except (TypeError, ValueError, KeyError, AttributeError):
                continue
        return from_plain(choices[-1], data)
    if kind is float:
        return float(data)
    if kind in (int, str, bool):
        if not isinstance(data, kind):
            raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")
        return data
    if isinstance(kind, type) and issubclass(kind, list) and kind is not list:
        return kind(data)  # a list of plain values with methods (suspects.Bag)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        values = {name: from_plain(hints[name], data[name]) for name in _field_names(kind)}
        return kind(**values)
    if origin is list:
        return [from_plain(args[0], item) for item in data]
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], item) for item in data)
        return tuple(from_plain(arg, item) for arg, item in zip(args, data, strict=True))
    if origin in (set, frozenset):
        return origin(from_plain(args[0], item) for item in data)
    if origin in (dict, Counter):
        key_kind, value_kind = args if len(args) == 2 else (args[0], int)
        pairs = data.items() if isinstance(data, dict) else data
        result = origin()
        for key, item in pairs:
            result[from_plain(key_kind, key)] = from_plain(value_kind, item)
        return result
    raise TypeError(f"cannot rebuild {kind!r}")


def dumps(value: Any) -> str:
    """Strict JSON text of a result."""
    return json.dumps(to_plain(value), allow_nan=False, separators=(",", ":"))


def loads(kind: type[T], text: str | bytes) -> T:
    """A result of type ``kind`` from ``dumps``'s text."""
    return typing.cast(T, from_plain(kind, json.loads(text)))


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if f.init)
