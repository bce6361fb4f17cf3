"""Load YAML keeping the line of every mapping, so rule errors can name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from detector.errors import InputError


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping that remembers the (1-based) line it started on."""

    line: int = 0


# libyaml's C parser when PyYAML was built with it (the usual wheels are): rule files
# load ~10x faster. Both are *safe* loaders: no arbitrary Python objects.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
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


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file safely (no arbitrary objects); InputError names file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader/CSafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise InputError(f"{path}:{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: invalid YAML: {exc}") from None


def line_of(node: Any, default: int = 0) -> int:
    return getattr(node, "line", default) or default
