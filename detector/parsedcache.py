"""The shipped data files every run loads (rule files, coins.yaml, pool lists), parsed
ahead of time.

Every run reads the same fifteen YAML files and three pool lists, and parsing them cost
~20 % of a small capture's scan (callgrind: importing PyYAML ~70 M instructions, parsing
and constructing the YAML ~50 M, the pool lists' 1,300 CSV rows ~20 M).
``signatures/parsed-cache.json`` holds, next to each file's text, what its loader makes of
it: for a YAML file what yamlsrc.load_yaml returns (mappings as LineDicts with their
lines, lists, strings, numbers, booleans, nulls), for a pool list the fields of its rows
(pools.parse_pool_file). A text found there word for word is answered from it by json's C
decoder; any other is parsed as before. The files stay the source, and what is made of
them is validated by their loaders as before (rules/engine.py, enrich.py, pools.py). The
cache is made like byte-code, not kept in git: make writes it (tools/parsed_cache.py)
before demo, test and bench, again whenever a file or its loader changed. A file edited
since is only slower to load until then.

Only what JSON carries exactly is cached: a YAML file whose data holds anything else
(dates, bytes, sets, keys that are not strings) or one object twice (YAML aliases) is
left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIGNATURES = Path(__file__).resolve().parent.parent / "signatures"
CACHE = SIGNATURES / "parsed-cache.json"
FORMAT = "minewatch parsed cache 1"
SECTIONS = ("yaml", "pools")
# a mapping's line, as the last key of its JSON object; no YAML key is this text (see _fits)
LINE_KEY = "\x00line"


class _Entries:
    """The cache's texts and their data (JSON text each) per section, read on first use:
    every ``lookup`` decodes afresh, so no two loads share an object."""

    def __init__(self) -> None:
        self._sections: dict[str, dict[str, str]] | None = None

    def get(self, section: str, text: str) -> str | None:
        if self._sections is None:
            self._sections = read(CACHE)
        return self._sections.get(section, {}).get(text)


def read(path: Path) -> dict[str, dict[str, str]]:
    """The sections of a cache file; none when it is missing, unreadable or of another
    format (the files are then parsed)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return {}
    return {name: {text: data for text, data in doc.get(name, ())} for name in SECTIONS}


_ENTRIES = _Entries()


def lookup(
    section: str, text: str, mapping: Callable[[dict[str, Any]], Any] | None = None
) -> tuple[bool, Any]:
    """``(True, data)`` when ``text`` is a cached file's text word for word, the data made
    fresh (``mapping``, if given, turns each JSON object into the loader's mapping); else
    ``(False, None)``."""
    data = _ENTRIES.get(section, text)
    if data is None:
        return False, None
    return True, json.loads(data, object_hook=mapping)


def write(sections: dict[str, list[list[str]]], out: Path = CACHE) -> None:
    """Write a cache file: per section, ``[text, data as JSON text]`` pairs."""
    doc: dict[str, Any] = {"format": FORMAT, **sections}
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


def encode(data: Any, line_of: Callable[[Any], int]) -> str | None:
    """What a YAML file's ``data`` (load_yaml's result) is cached as; None when JSON would
    not give it back exactly (see _fits)."""
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


def shipped_yaml(signatures: Path = SIGNATURES) -> list[Path]:
    """The YAML files every run loads: the rule files and coins.yaml."""
    rules = sorted(p for p in (signatures / "rules").rglob("*") if p.suffix in (".yaml", ".yml"))
    return [*rules, signatures / "coins.yaml"]


def shipped_pools(signatures: Path = SIGNATURES) -> list[Path]:
    """The pool lists every run loads (pools.load_pools)."""
    return sorted((signatures / "pools").glob("*.csv"))
