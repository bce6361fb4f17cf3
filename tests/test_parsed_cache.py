"""detector/parsedcache.py: the shipped YAML files and pool lists are answered from their
parsed cache, exactly as they parse; any other text is parsed (and refused) as before."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from detector import parsedcache, pools, yamlsrc
from detector.errors import InputError
from tests.conftest import python_prints


def test_every_shipped_yaml_file_is_in_the_cache() -> None:
    """make writes the cache before the tests (the Makefile's $(PARSED_CACHE)): every shipped
    file must then be in it, or start-up parses it."""
    files = parsedcache.shipped_yaml()
    assert len(files) >= 15
    for path in files:
        found, _ = parsedcache.lookup("yaml", path.read_text(encoding="utf-8"), yamlsrc.line_dict)
        assert found, f"{path}: not in {parsedcache.CACHE.name}: run `make parsed-cache`"
    pool_lists = parsedcache.shipped_pools()
    assert len(pool_lists) >= 3
    for path in pool_lists:
        found, _ = parsedcache.lookup("pools", path.read_text(encoding="utf-8"))
        assert found, f"{path}: not in {parsedcache.CACHE.name}: run `make parsed-cache`"


def test_the_cache_gives_what_pyyaml_makes_to_the_last_detail() -> None:
    for path in parsedcache.shipped_yaml():
        text = path.read_text(encoding="utf-8")
        cached = yamlsrc.load_yaml(path)
        parsed = yamlsrc.parse_yaml(text, path)
        assert parsedcache.same(cached, parsed, yamlsrc.line_of), path
        assert isinstance(cached, yamlsrc.LineDict) and cached.line >= 1


def test_the_comparison_sees_a_difference() -> None:
    a = yamlsrc.line_dict({"x": [1, 2.5, True, None], parsedcache.LINE_KEY: 3})
    b = yamlsrc.line_dict({"x": [1, 2.5, True, None], parsedcache.LINE_KEY: 3})
    line_of = yamlsrc.line_of
    assert parsedcache.same(a, b, line_of)
    b.line = 4
    assert not parsedcache.same(a, b, line_of)
    assert not parsedcache.same({"x": 1}, {"x": True}, line_of)
    assert not parsedcache.same({"x": 1}, {"x": 1.0}, line_of)
    assert not parsedcache.same({"a": 1, "b": 2}, {"b": 2, "a": 1}, line_of)
    assert parsedcache.same([math.nan], [math.nan], line_of)
    assert not parsedcache.same([0.0], [-0.0], line_of)


def test_each_load_is_fresh() -> None:
    path = parsedcache.shipped_yaml()[0]
    first = yamlsrc.load_yaml(path)
    first["rules"].clear()
    assert yamlsrc.load_yaml(path)["rules"]


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [1]\nb: *x\n",  # an alias: one list twice
        "when: 2024-01-01\n",  # a date
        "1: one\n",  # a key that is not a string
        "b: !!binary aGk=\n",
        "s: !!set {a, b}\n",
    ],
)
def test_what_json_cannot_carry_exactly_is_left_out(text: str, tmp_path: Path) -> None:
    data = yamlsrc.parse_yaml(text, tmp_path / "x.yaml")
    assert parsedcache.encode(data, yamlsrc.line_of) is None


def test_yaml_entries_leave_out_what_json_cannot_carry(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("rules:\n  - id: 1\n    weight: 0.5\n")
    bad.write_text("a: &x [1]\nb: *x\n")
    entries, left_out = yamlsrc.cache_entries([good, bad])
    assert left_out == [bad]
    assert [text for text, _ in entries] == [good.read_text()]
    out = tmp_path / "parsed.json"
    parsedcache.write({"yaml": entries}, out)
    assert list(parsedcache.read(out)["yaml"]) == [good.read_text()]


def test_the_shipped_pool_lists_load_as_they_parse() -> None:
    for path in parsedcache.shipped_pools():
        parsed = pools._parse(path, path.read_text(encoding="utf-8"))
        assert parsed
        assert pools.parse_pool_file(path) == parsed


def test_a_pool_list_under_another_name_names_its_own_file(tmp_path: Path) -> None:
    shipped = parsedcache.shipped_pools()[0]
    copy = tmp_path / "copy.csv"
    copy.write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    entries = pools.parse_pool_file(copy)
    assert entries == pools._parse(copy, copy.read_text(encoding="utf-8"))
    assert all(e.source.startswith("copy.csv:") for e in entries)


def test_other_texts_are_parsed_and_refused_as_before(tmp_path: Path) -> None:
    shipped = parsedcache.shipped_yaml()[0]
    edited = tmp_path / "edited.yaml"
    edited.write_text(shipped.read_text(encoding="utf-8") + "\nrules: []\n")
    with pytest.raises(InputError, match=r"edited.yaml:\d+: invalid YAML: duplicate key 'rules'"):
        yamlsrc.load_yaml(edited)
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    with pytest.raises(InputError, match=r"broken.yaml:2: invalid YAML"):
        yamlsrc.load_yaml(broken)


def test_a_missing_or_foreign_cache_means_parsing(tmp_path: Path) -> None:
    assert parsedcache.read(tmp_path / "none.json") == {}
    other = tmp_path / "other.json"
    other.write_text('{"format": "something else", "yaml": [["a: 1\\n", "{}"]]}')
    assert parsedcache.read(other) == {}
    other.write_text("not json")
    assert parsedcache.read(other) == {}


def test_loading_the_shipped_signatures_does_not_import_pyyaml() -> None:
    """What the cache is for: start-up without PyYAML (~70 M instructions)."""
    code = (
        "import sys\n"
        "from detector.config import Detector, ScanConfig\n"
        "Detector.load(ScanConfig(model=None))\n"
        "print('yaml' in sys.modules)\n"
    )
    printed = python_prints(code)
    assert printed == "False"
