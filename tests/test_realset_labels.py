"""pcaps/realset/ (captures of real programs, made by tools/realset/) is labelled whole.

What minewatch finds there is measured by ``minewatch verify pcaps/realset --manifest
pcaps/realset/labels.csv`` and ``minewatch eval pcaps/realset``, not asserted here: TLS
miners are not found yet. This checks only that the labels and the files agree, in the
corpus format that ``verify`` and ``eval`` read.
"""

from __future__ import annotations

import csv

import pytest

from detector.dialects import KNOWN
from detector.evaluate import load_labels
from detector.verify import load_manifest
from tests.conftest import PCAPS

REALSET = PCAPS / "realset"
LABELS = REALSET / "labels.csv"

pytestmark = pytest.mark.skipif(not LABELS.exists(), reason="no pcaps/realset/labels.csv")


def _rows() -> list[dict[str, str]]:
    with LABELS.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_capture_is_labelled_once_and_every_label_has_its_capture() -> None:
    listed = [row["file"] for row in _rows()]
    assert len(listed) == len(set(listed))
    on_disk = {p.name for p in REALSET.iterdir() if p.name.endswith((".pcap", ".pcap.gz"))}
    assert set(listed) == on_disk


def test_rows_are_in_the_corpus_format() -> None:
    rows = _rows()
    assert list(rows[0]) == ["file", "class", "miner_ips", "pool_endpoints", "dialects", "notes"]
    for row in rows:
        assert row["class"] in ("miner", "benign"), row["file"]
        dialects = {d for d in row["dialects"].split(";") if d}
        assert dialects <= KNOWN, row["file"]
        if row["class"] == "miner":
            assert row["miner_ips"] and row["pool_endpoints"] and dialects, row["file"]
        else:
            assert not (row["miner_ips"] or row["pool_endpoints"] or dialects), row["file"]
        assert row["notes"], row["file"]


def test_verify_and_eval_read_the_labels() -> None:
    expectations = load_manifest(LABELS)
    assert len(expectations) == len(_rows())
    assert all(e.file.is_file() for e in expectations)
    labels = load_labels([REALSET])
    assert {str(x.path) for x in labels} == {str(e.file) for e in expectations}
