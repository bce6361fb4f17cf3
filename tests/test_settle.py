"""Windows that are over are packed as a scan goes (SuspectTable.settle, NodeTable.settle,
Analysis.settle), so a scan's memory does not grow with the time its capture covers; the
report must be exactly what it was with every suspect and node pair kept as objects."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from detector import nodehosts, plain
from detector.config import Detector, ScanConfig
from detector.nodehosts import NodeTable, PackedPair
from detector.replay import scan_capture
from detector.session import Analysis
from detector.source import expand_inputs
from detector.suspects import SuspectTable, window_index
from detector.synth.links import Ethernet
from detector.synth.pcap import pcap_bytes
from tests.conftest import run_cli
from tests.test_memory_bounded import (
    MINER,
    _miner_verdicts,
    _node_dump,
    _node_verdicts,
    _rules,
    _session,
    _suspect_dump,
    _with_client_port,
)

WINDOW = 3600.0


def _spread(verdicts: list, rng: random.Random, hours: int) -> list:
    """The verdicts moved over ``hours`` windows, mostly in time order with some late."""
    out = []
    for i, v in enumerate(verdicts):
        hour = i * hours // len(verdicts)
        if rng.random() < 0.1:
            hour = max(0, hour - rng.randrange(1, 4))  # a flow that ends after its window
        shift = hour * WINDOW
        record = replace(
            v.record, first_ts=v.record.first_ts + shift, last_ts=v.record.last_ts + shift
        )
        out.append(replace(v, record=record))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_settled_tables_report_exactly_what_unsettled_ones_do(seed: int) -> None:
    rng = random.Random(seed)
    miner_rules, node_rules = _rules()
    flows = _spread(
        _miner_verdicts(rng, miner_rules, 500) + _node_verdicts(rng, node_rules, 500), rng, hours=12
    )
    flows.sort(key=lambda v: v.record.last_ts)  # the order flows end in

    kept_s, kept_n = SuspectTable(WINDOW, shared_verdicts=True), NodeTable(WINDOW)
    settled_s, settled_n = SuspectTable(WINDOW, shared_verdicts=True), NodeTable(WINDOW)
    packed_seen = 0
    for v in flows:
        for s, n in ((kept_s, kept_n), (settled_s, settled_n)):
            if v.is_miner:
                s.add(v)
            else:
                n.add(v)
        before = window_index(v.record.last_ts, WINDOW) - 1
        settled_s.settle(before)
        settled_n.settle(before)
        packed_seen = max(packed_seen, sum(type(p) is PackedPair for p in settled_n.pairs.values()))
    assert settled_s.packed and packed_seen > 0  # settling did pack (and late flows unpacked)
    assert _suspect_dump(settled_s) == _suspect_dump(kept_s)
    assert _node_dump(settled_n) == _node_dump(kept_n)
    # a settled table still crosses a process as plain data, and merges like any other
    again = plain.loads(NodeTable, plain.dumps(settled_n))
    assert _node_dump(again) == _node_dump(kept_n)
    node_flow = next(v for v in flows if not v.is_miner)
    into, into_kept = NodeTable(WINDOW), NodeTable(WINDOW)
    into.add(node_flow)  # not new: the merge goes pair by pair, unpacking theirs
    into_kept.add(node_flow)
    into.merge(again)
    into_kept.merge(plain.loads(NodeTable, plain.dumps(kept_n)))
    assert _node_dump(into) == _node_dump(into_kept)


def test_retiring_packed_pairs_gives_their_budget_back() -> None:
    rng = random.Random(11)
    _, node_rules = _rules()
    table = NodeTable(WINDOW)
    for v in _spread(_node_verdicts(rng, node_rules, 400), rng, hours=6):
        table.add(v)
    full = nodehosts.MAX_NODE_ENTRIES
    indexes = sorted({key[3] for key in table.pairs})
    table.settle(indexes[len(indexes) // 2])  # half packed, half objects
    assert any(type(p) is PackedPair for p in table.pairs.values())
    assert any(type(p) is not PackedPair for p in table.pairs.values())
    table.retire(indexes[-1] + 1)
    assert not table.pairs and not table.hot and table.budget.left == full


def test_hosts_in_order_packs_past_hot_hosts_and_keeps_the_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(3)
    _, node_rules = _rules()
    table = NodeTable(WINDOW)
    for v in _spread(_node_verdicts(rng, node_rules, 600), rng, hours=8):
        table.add(v)
    expected = _node_dump(table)
    monkeypatch.setattr(nodehosts, "HOT_HOSTS", 2)
    assert len(expected) > 2
    assert _node_dump(table) == expected  # hosts() is hosts_in_order(), packed on the way


def test_first_merge_takes_the_table_over_as_a_pairwise_merge_would() -> None:
    rng = random.Random(5)
    _, node_rules = _rules()
    part = NodeTable(WINDOW)
    for v in _node_verdicts(rng, node_rules, 300):
        part.add(v)
    copy = plain.loads(NodeTable, plain.dumps(part))
    taken, pairwise = NodeTable(WINDOW), NodeTable(WINDOW)
    pairwise.add(_node_verdicts(random.Random(9), node_rules, 1)[0])  # not new: merges pairwise
    taken.merge(part)
    assert taken.pairs is part.pairs and taken.seq == copy.seq
    assert _node_dump(taken) == _node_dump(copy)
    assert taken.budget.left == copy.budget.left and taken.dropped == copy.dropped
    pairwise.merge(copy)
    assert pairwise.seq == copy.seq + 1


# --- a scan over many windows ----------------------------------------------------------

HOURS = 9
PER_HOUR = 4


def _farm_over_hours(path: Path) -> None:
    """One miner, PER_HOUR short Stratum sessions every hour for HOURS hours."""
    template = _session(True)
    link = Ethernet()
    records = []
    for n in range(HOURS * PER_HOUR):
        shift = int((n // PER_HOUR * WINDOW + n % PER_HOUR * 60.0) * 1e9)
        for pkt in template:
            moved = replace(pkt, l3=_with_client_port(pkt.l3, 20000 + n), ts_ns=pkt.ts_ns + shift)
            records.append((moved.ts_ns, link.frame(moved)))
    path.write_bytes(pcap_bytes(records, Ethernet.linktype))


def test_a_scan_packs_windows_that_are_over_and_reports_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = tmp_path / "hours.pcap"
    _farm_over_hours(capture)
    config = ScanConfig()
    detector = Detector.load(config)
    (cap,) = expand_inputs([str(capture)])
    settled = scan_capture(cap, config, detector)
    # every window but the last two was packed while the capture was read
    assert len(settled.suspects) == HOURS
    assert len(settled.suspects.packed) >= HOURS - 2

    monkeypatch.setattr(Analysis, "settle", lambda self, now: None)
    kept = scan_capture(cap, config, detector)
    assert not kept.suspects.packed
    assert plain.dumps(settled.suspects.suspects()) == plain.dumps(kept.suspects.suspects())

    # through the CLI: one alert per hour, each with its hour's flows
    result = run_cli("scan", str(capture), "-f", "jsonl", "-q")
    assert result.rc == 0, result.err
    alerts = [json.loads(line) for line in result.out.splitlines()]
    assert [a["src_ip"] for a in alerts] == [MINER] * HOURS
    counts = [a["alert"]["metadata"]["mining_flow_count"] for a in alerts]
    assert counts == [[str(PER_HOUR)]] * HOURS  # EVE metadata values are lists of strings
