"""The shipped YAML files (rule files, coins.yaml), parsed ahead of time.

Every run loads the same fifteen YAML files, and reading them through PyYAML costs ~14 %
of a small capture's scan (callgrind: importing PyYAML ~70 M instructions, parsing and
constructing ~50 M). ``signatures/parsed-yaml.json`` holds what yamlsrc.load_yaml makes of
each of them - mappings as LineDicts with their lines, lists, strings, numbers, booleans
and nulls - next to the file's text: a text found there word for word is answered from
it (json's C decoder), any other goes through PyYAML as before. The YAML stays the
source; what is made of it is validated by its loader as before (rules/engine.py,
enrich.py). A file edited without writing the cache again is only slower to load, and
tests/test_parsed_yaml.py fails until ``make parsed-yaml`` (yamlsrc.write_cache) writes it.

Only what JSON carries exactly is cached: a file whose data holds anything else (dates,
bytes, sets, keys that are not strings) or one object twice (YAML aliases) is left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE = Path(__file__).resolve().parent.parent / "signatures" / "parsed-yaml.json"
FORMAT = "minewatch parsed YAML 1"
# a mapping's line, as the last key of its JSON object; no YAML key is this text (see _fits)
LINE_KEY = "\x00line"


class _Entries:
    """The cache's texts and their data (JSON text each), read on first use: every
    ``lookup`` decodes afresh, so no two loads share an object."""

    def __init__(self) -> None:
        self._by_text: dict[str, str] | None = None

    def get(self, text: str) -> str | None:
        if self._by_text is None:
            self._by_text = _read(CACHE)
        return self._by_text.get(text)


def _read(path: Path) -> dict[str, str]:
    """The entries of a cache file; none when it is missing, unreadable or of another
    format (the files are then parsed as YAML)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return {}
    return {entry[0]: entry[1] for entry in doc.get("entries", ())}


_ENTRIES = _Entries()


def lookup(text: str, mapping: Callable[[dict[str, Any]], Any]) -> tuple[bool, Any]:
    """``(True, data)`` when ``text`` is a cached file's text word for word, the data made
    fresh (``mapping`` turns each JSON object, its line under LINE_KEY, into the loader's
    mapping); else ``(False, None)``."""
    data = _ENTRIES.get(text)
    if data is None:
        return False, None
    return True, json.loads(data, object_hook=mapping)


def encode(data: Any, line_of: Callable[[Any], int]) -> str | None:
    """What ``data`` (load_yaml's result) is cached as; None when JSON would not give it
    back exactly (see _fits)."""
    if not _fits(data, set()):
        return None

    def plain(node: Any) -> Any:
        if isinstance(node, dict):
            return {**{k: plain(v) for k, v in node.items()}, LINE_KEY: line_of(node)}
        if isinstance(node, list):
            return [plain(item) for item in node]
        return node

    return json.dumps(plain(data), ensure_ascii=False, separators=(",", ":"))


def _fits(node: Any, seen: set[int]) -> bool:
    """Whether JSON carries ``node`` exactly: only str, int, float, bool, None, lists and
    mappings with string keys, and no container twice (a YAML alias shares one object)."""
    if node is None or type(node) in (str, int, float, bool):
        return True
    if type(node) is not list and not isinstance(node, dict):
        return False
    if id(node) in seen:
        return False
    seen.add(id(node))
    if isinstance(node, list):
        return all(_fits(item, seen) for item in node)
    return all(
        type(key) is str and key != LINE_KEY and _fits(value, seen) for key, value in node.items()
    )


def same(a: Any, b: Any, line_of: Callable[[Any], int]) -> bool:
    """Whether two loads are the same to the last detail: types, key order, lines, and
    floats bit for bit (NaN included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (
            list(a) == list(b)
            and line_of(a) == line_of(b)
            and all(same(a[k], b[k], line_of) for k in a)
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y, line_of) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a.hex() == b.hex() or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def shipped(signatures: Path = CACHE.parent) -> list[Path]:
    """The YAML files every run loads: the rule files and coins.yaml."""
    rules = sorted(p for p in (signatures / "rules").rglob("*") if p.suffix in (".yaml", ".yml"))
    return [*rules, signatures / "coins.yaml"]
