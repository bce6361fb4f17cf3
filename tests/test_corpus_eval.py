"""Evaluation on real public captures (../shared/corpus, labels.csv), through the CLI.

Every miner IP of every cleartext miner capture must be found; node and benign captures
must produce no suspect. zeek/coinhive.pcap is browser mining inside TLS (no cleartext
method to see): it is evaluated by the TLS/SNI rules tests, not here.
"""

from __future__ import annotations

import pytest

from tests.conftest import CORPUS, corpus_labels, meta, needs_corpus, run_cli

TLS_ONLY = {"zeek/coinhive.pcap"}

pytestmark = needs_corpus()


def _rows(kind: str) -> list[dict[str, str]]:
    if not (CORPUS / "labels.csv").is_file():
        return []
    return [r for r in corpus_labels() if r["class"] == kind and r["file"] not in TLS_ONLY]


@pytest.mark.parametrize("row", _rows("miner"), ids=lambda r: r["file"])
def test_every_cleartext_miner_ip_is_found(row: dict[str, str]) -> None:
    result = run_cli("scan", "--format", "jsonl", "-q", str(CORPUS / row["file"]))
    assert result.rc == 0, result.err
    found = {e["src_ip"] for e in result.events()}
    expected = {ip for ip in row["miner_ips"].split(";") if ip}
    assert expected <= found, f"missing {expected - found}"
    assert found <= expected, f"unexpected suspects {found - expected}"
    dialects = set()
    for event in result.events():
        dialects |= set(meta(event, "mining_dialect"))
    assert set(row["dialects"].split(";")) <= dialects


@pytest.mark.parametrize("row", _rows("node") + _rows("benign"), ids=lambda r: r["file"])
def test_no_suspect_in_node_or_benign_capture(row: dict[str, str]) -> None:
    result = run_cli("scan", "--format", "jsonl", "-q", str(CORPUS / row["file"]))
    assert result.rc == 0, result.err
    assert result.events() == []


def test_verify_against_labels_reports_each_capture() -> None:
    result = run_cli("verify", str(CORPUS), "--manifest", str(CORPUS / "labels.csv"))
    lines = [line for line in result.out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(lines) == len(corpus_labels())
    failing = {line.split()[1] for line in lines if line.startswith("FAIL")}
    assert failing <= TLS_ONLY, failing
