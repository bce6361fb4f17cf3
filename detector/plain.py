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
order; tuples and lists become lists in their order, sets sorted lists (a set's
iteration order depends on the hash seed and on how the set was built: one rebuilt from
its list, as a packed window's facts are, may iterate otherwise, and the same result must
encode the same whichever way it came); non-finite floats become
the strings "inf", "-inf" and "nan" (strict JSON has no such numbers); bytes become
base64 text; paths (a scan's options name its data files) become their text; a class
that is not a dataclass but is rebuilt from data of its own says so with ``__plain__()``
(encode) and a ``__from_plain__(data)`` class method (decode). ``None``
stands for itself whatever the declared type (stowed facts keep None for empty
containers).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import math
import types
import typing
from collections import Counter
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, TypeVar

T = TypeVar("T")


# Types whose values are their own plain data. The containers below test their items'
# type against these before calling to_plain: most items of a packed suspect are names and
# counts, and the call per item was a third of what packing it cost (cProfile, bench-scale's
# 10 M packets of real traffic).
_SELF_PLAIN = frozenset({str, int, bool, type(None)})


def to_plain(value: Any) -> Any:
    """``value`` as JSON-encodable data (see the module docstring)."""
    kind = type(value)
    if kind in _SELF_PLAIN:
        return value
    if kind is float:
        return value if math.isfinite(value) else str(value)
    same = _SELF_PLAIN
    names = _FIELDS.get(kind, _UNSEEN)
    if names is _UNSEEN:  # (lists and dicts too: asking is_dataclass each time cost more)
        names = _FIELDS[kind] = (
            tuple(f.name for f in dataclasses.fields(kind))
            if dataclasses.is_dataclass(kind)
            else None
        )
    if names is not None:
        fields = {}
        for name in names:
            item = getattr(value, name)
            fields[name] = item if type(item) in same else to_plain(item)
        return fields
    if isinstance(value, dict):
        if all(type(key) is str for key in value):
            return {key: item if type(item) in same else to_plain(item)
                    for key, item in value.items()}  # fmt: skip
        return [[to_plain(key), to_plain(item)] for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        return [item if type(item) in same else to_plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return _sorted_items([to_plain(item) for item in value])
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, PurePath):
        return str(value)
    plain = getattr(value, "__plain__", None)
    if plain is not None:  # a class that says what it is made of (owners.OwnerMap)
        return to_plain(plain())
    for base in (bool, int, float, str):  # subclasses (numpy's float64 is a float)
        if isinstance(value, base):
            return to_plain(base(value))
    raise TypeError(f"not plain data: {kind.__name__}")


# a type's field names, or None for a type that is not a dataclass
_FIELDS: dict[type, tuple[str, ...] | None] = {}
# (its own object: the empty tuple is a singleton, and a dataclass without fields has
# that as its names)
_UNSEEN: Any = object()


def _sorted_items(items: list[Any]) -> list[Any]:
    """A set's encoded items in a fixed order: their own (names, numbers), or that of their
    JSON text where they do not compare (mixed kinds, objects)."""
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def from_plain(kind: Any, data: Any) -> Any:
    """Rebuild a value of type ``kind`` (a class or a typing form) from ``to_plain``'s data."""
    return _decoder(kind)(data)


Decoder = Callable[[Any], Any]


@functools.cache
def _decoder(kind: Any) -> Decoder:
    """A function that rebuilds values of ``kind``, made once per type form (the codec
    runs for every packed suspect of a big scan: dispatching on the form per value cost
    three times as much)."""
    if kind is Any:
        return _same
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        choices = [_decoder(arg) for arg in args if arg is not type(None)]
        if len(choices) == 1:
            return choices[0]

        def first_that_fits(data: Any) -> Any:
            for choice in choices[:-1]:
                try:
                    return choice(data)
                except (TypeError, ValueError, KeyError, AttributeError):
                    continue
            return choices[-1](data)

        return _or_none(first_that_fits)
    if kind is float:
        return _or_none(float)
    if kind is bytes:
        return _or_none(base64.b64decode)
    if kind is Path:
        return _or_none(lambda data: Path(_exact(str, data)))
    if kind in (int, str, bool):
        return _exact_or_none(kind)
    if isinstance(kind, type) and hasattr(kind, "__from_plain__"):
        return _or_none(kind.__from_plain__)
    if isinstance(kind, type) and issubclass(kind, list) and kind is not list:
        return _or_none(kind)  # a list of plain values with methods (suspects.Bag)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        names = tuple(f.name for f in dataclasses.fields(kind) if f.init)
        fields = tuple((name, _decoder(hints[name])) for name in names)

        def instance(data: Any) -> Any:
            return kind(*[decode(data[name]) for name, decode in fields])

        return _or_none(instance)
    if origin is list:
        item = _decoder(args[0])
        return _or_none(lambda data: [item(x) for x in data])
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return _or_none(lambda data: tuple(item(x) for x in data))
        items = tuple(_decoder(arg) for arg in args)
        return _or_none(lambda data: tuple(f(x) for f, x in zip(items, data, strict=True)))
    if origin in (set, frozenset):
        item = _decoder(args[0])
        return _or_none(lambda data: origin(item(x) for x in data))
    if origin in (dict, Counter):
        key, value = (
            (_decoder(args[0]), _decoder(args[1])) if len(args) == 2 else (_decoder(args[0]), _same)
        )

        def mapping(data: Any) -> Any:
            pairs = data.items() if isinstance(data, dict) else data
            return origin({key(k): value(v) for k, v in pairs})

        return _or_none(mapping)
    raise TypeError(f"cannot rebuild {kind!r}")


def _same(data: Any) -> Any:
    return data


def _exact(kind: type, data: Any) -> Any:
    if type(data) is not kind:
        raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")
    return data


def _exact_or_none(kind: type) -> Decoder:
    """``_or_none(partial(_exact, kind))`` in one call: the decoder of most values."""

    def exact_or_none(data: Any) -> Any:
        if data is None or type(data) is kind:
            return data
        raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")

    return exact_or_none


def _or_none(decode: Decoder) -> Decoder:
    """``None`` stands for itself whatever the declared type (see the module docstring)."""

    def decode_or_none(data: Any) -> Any:
        return None if data is None else decode(data)

    return decode_or_none


def dumps(value: Any) -> str:
    """Strict JSON text of a result."""
    return json.dumps(to_plain(value), allow_nan=False, separators=(",", ":"))


def loads(kind: type[T], text: str | bytes) -> T:
    """A result of type ``kind`` from ``dumps``'s text."""
    return typing.cast(T, from_plain(kind, json.loads(text)))
