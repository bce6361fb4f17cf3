"""Load YAML keeping the line of every mapping, so rule errors can name file and line.

PyYAML is imported on the first file that is not in the parsed cache (parsedcache.py): a
run that loads only the shipped files never needs it."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from detector import parsedcache
from detector.errors import InputError


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that remembers the (1-based) line it started on."""

    line: int = 0


@functools.cache
def _loader() -> Any:
    """The loader class, made on first use. libyaml's C parser when PyYAML was built with
    it (the usual wheels are): rule files load ~10x faster. Both are *safe* loaders: no
    arbitrary Python objects."""
    import yaml

    class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    _Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    return _Loader


def _construct_mapping(loader: Any, node: Any) -> LineDict:
    import yaml

    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:  # a mapping or list as a key (`? {a: 1}`), as SafeLoader checks
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key {type(key).__name__}", key_node.start_mark
            ) from None
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def line_dict(obj: dict[str, Any]) -> LineDict:
    """A cached mapping (a JSON object, its line under parsedcache.LINE_KEY) as the
    LineDict PyYAML made of it."""
    line = obj.pop(parsedcache.LINE_KEY)
    result = LineDict(obj)
    result.line = line
    return result


def load_yaml(path: Path) -> Any:
    """Parse a YAML file safely (no arbitrary objects); InputError names file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    found, data = parsedcache.lookup("yaml", text, line_dict)
    return data if found else parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> Any:
    """``text`` (the file ``path``) parsed by PyYAML."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader/CSafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise InputError(f"{path}:{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from None


def line_of(node: Any, default: int = 0) -> int:
    return getattr(node, "line", default) or default


def cache_entries(paths: Iterable[Path]) -> tuple[list[list[str]], list[Path]]:
    """The parsed cache's entries for ``paths`` (tools/parsed_cache.py): each file parsed
    by PyYAML and checked to come back the same through the cache; and the files left
    out (parsedcache.encode)."""
    entries: list[list[str]] = []
    left_out: list[Path] = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        data = parse_yaml(text, path)
        encoded = parsedcache.encode(data, line_of)
        back = None if encoded is None else json.loads(encoded, object_hook=line_dict)
        if encoded is None or not parsedcache.same(data, back, line_of):
            left_out.append(path)
            continue
        entries.append([text, encoded])
    return entries, left_out
