"""detector/parsedyaml.py: the shipped YAML files are answered from their parsed cache,
exactly as PyYAML reads them; any other text is parsed (and refused) as before."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from detector import parsedyaml, yamlsrc
from detector.errors import InputError
from tests.conftest import REPO


def test_every_shipped_yaml_file_is_in_the_cache() -> None:
    """Fails after a rule file or coins.yaml is edited until `make parsed-yaml` runs."""
    files = parsedyaml.shipped()
    assert len(files) >= 15
    for path in files:
        found, _ = parsedyaml.lookup(path.read_text(encoding="utf-8"), yamlsrc.line_dict)
        assert found, f"{path}: not in {parsedyaml.CACHE.name}: run `make parsed-yaml`"


def test_the_cache_gives_what_pyyaml_makes_to_the_last_detail() -> None:
    for path in parsedyaml.shipped():
        text = path.read_text(encoding="utf-8")
        cached = yamlsrc.load_yaml(path)
        parsed = yamlsrc.parse_yaml(text, path)
        assert parsedyaml.same(cached, parsed, yamlsrc.line_of), path
        assert isinstance(cached, yamlsrc.LineDict) and cached.line >= 1


def test_the_comparison_sees_a_difference() -> None:
    a = yamlsrc.line_dict({"x": [1, 2.5, True, None], parsedyaml.LINE_KEY: 3})
    b = yamlsrc.line_dict({"x": [1, 2.5, True, None], parsedyaml.LINE_KEY: 3})
    line_of = yamlsrc.line_of
    assert parsedyaml.same(a, b, line_of)
    b.line = 4
    assert not parsedyaml.same(a, b, line_of)
    assert not parsedyaml.same({"x": 1}, {"x": True}, line_of)
    assert not parsedyaml.same({"x": 1}, {"x": 1.0}, line_of)
    assert not parsedyaml.same({"a": 1, "b": 2}, {"b": 2, "a": 1}, line_of)
    assert parsedyaml.same([math.nan], [math.nan], line_of)
    assert not parsedyaml.same([0.0], [-0.0], line_of)


def test_each_load_is_fresh() -> None:
    path = parsedyaml.shipped()[0]
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
    assert parsedyaml.encode(data, yamlsrc.line_of) is None


def test_write_keeps_out_what_it_cannot_carry(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("rules:\n  - id: 1\n    weight: 0.5\n")
    bad.write_text("a: &x [1]\nb: *x\n")
    out = tmp_path / "parsed.json"
    assert yamlsrc.write_cache([good, bad], out) == [bad]
    entries = parsedyaml._read(out)
    assert list(entries) == [good.read_text()]


def test_other_texts_are_parsed_and_refused_as_before(tmp_path: Path) -> None:
    shipped = parsedyaml.shipped()[0]
    edited = tmp_path / "edited.yaml"
    edited.write_text(shipped.read_text(encoding="utf-8") + "\nrules: []\n")
    with pytest.raises(InputError, match=r"edited.yaml:\d+: invalid YAML: duplicate key 'rules'"):
        yamlsrc.load_yaml(edited)
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [\n")
    with pytest.raises(InputError, match=r"broken.yaml:2: invalid YAML"):
        yamlsrc.load_yaml(broken)


def test_a_missing_or_foreign_cache_means_parsing(tmp_path: Path) -> None:
    assert parsedyaml._read(tmp_path / "none.json") == {}
    other = tmp_path / "other.json"
    other.write_text('{"format": "something else", "entries": [["a: 1\\n", "{}"]]}')
    assert parsedyaml._read(other) == {}
    other.write_text("not json")
    assert parsedyaml._read(other) == {}


def test_loading_the_shipped_signatures_does_not_import_pyyaml() -> None:
    code = (
        "import sys\n"
        "from detector.config import Detector, ScanConfig\n"
        "Detector.load(ScanConfig(model=None))\n"
        "print('yaml' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"
