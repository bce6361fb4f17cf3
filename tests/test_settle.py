"""Windows that are over are packed as a scan goes (SuspectTable.settle, NodeTable.settle,
Analysis.settle), so a scan's memory does not grow with the time its capture covers; the
report must be exactly what it was with every suspect and node pair kept as objects."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from detector import nodehosts, plain, suspects
from detector.config import Detector, ScanConfig
from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.nodehosts import NodePair, NodeTable, _entries, _pack_window, _unpack_window
from detector.parallel import scan_split
from detector.replay import scan_capture
from detector.session import Analysis
from detector.source import expand_inputs
from detector.spill import spill
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


@pytest.fixture(autouse=True)
def _pack_small_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settling packs only past a floor of objects (what a short capture holds); these
    tables are small, so the floor is 0 here (tested on its own below)."""
    monkeypatch.setattr(nodehosts, "HOT_PAIRS", 0)
    monkeypatch.setattr(suspects, "SETTLED_HOT", 0)


def test_tables_under_the_floor_are_not_packed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodehosts, "HOT_PAIRS", 100)
    monkeypatch.setattr(suspects, "SETTLED_HOT", 20)
    rng = random.Random(2)
    miner_rules, node_rules = _rules()
    table_s, table_n = SuspectTable(WINDOW), NodeTable(WINDOW)
    for v in _spread(_node_verdicts(rng, node_rules, 60), rng, hours=6):
        table_n.add(v)
    for v in _spread(_miner_verdicts(rng, miner_rules, 30), rng, hours=3):
        table_s.add(v)
    last = max(table_n.windows()) + 5
    assert len(table_n.pairs) <= 100 and 1 < len(table_s.by_key) <= 20
    table_n.settle(last)
    table_s.settle(last)
    assert not table_n.packed and not table_s.packed
    for v in _spread(_node_verdicts(rng, node_rules, 400), rng, hours=6):
        table_n.add(v)
    assert len(table_n.pairs) > 100
    table_n.settle(last)
    assert not table_n.pairs and table_n.packed  # past the floor: every window that is over


def _spread(verdicts: list, rng: random.Random, hours: int) -> list:
    """The verdicts moved over ``hours`` windows; one in ten starts hours before it ends
    (a long flow: it ends after its window is over, and is late for it)."""
    out = []
    for i, v in enumerate(verdicts):
        hour = i * hours // len(verdicts)
        started = max(0, hour - rng.randrange(2, 5)) if rng.random() < 0.1 else hour
        record = replace(
            v.record,
            first_ts=v.record.first_ts + started * WINDOW,
            last_ts=v.record.last_ts + hour * WINDOW,
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
    packed_seen = thawed = 0
    for v in flows:
        packed_before = len(settled_n.packed)
        for s, n in ((kept_s, kept_n), (settled_s, settled_n)):
            if v.is_miner:
                s.add(v)
            else:
                n.add(v)
        thawed += len(settled_n.packed) < packed_before  # a late flow unpacked its window
        before = window_index(v.record.last_ts, WINDOW) - 1
        settled_s.settle(before)
        settled_n.settle(before)
        packed_seen = max(packed_seen, len(settled_n.packed))
    assert settled_s.packed and packed_seen > 0 and thawed > 0
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
    assert table.packed and table.pairs
    assert table.windows() == set(indexes)
    table.retire(indexes[-1] + 1)
    assert not table.pairs and not table.packed and table.budget.left == full


def _endpoints_of_pairs(table: NodeTable) -> Counter[str]:
    """What the table's endpoint_flows must be: each IP's flows summed over its pairs."""
    counts: Counter[str] = Counter()
    for (client, server, _, _), pair in table._in_order():
        counts[client] += pair.flow_count
        counts[server] += pair.flow_count
    return counts


def test_endpoint_flows_follow_the_pairs_through_settle_merge_and_retire(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nodehosts, "MAX_NODE_ENTRIES", 1000)  # some flows dropped too
    rng = random.Random(21)
    _, node_rules = _rules()
    verdicts = _spread(_node_verdicts(rng, node_rules, 900), rng, hours=8)
    run = NodeTable(WINDOW)
    for third in (verdicts[:300], verdicts[300:600], verdicts[600:]):
        part = NodeTable(WINDOW)
        for v in third:
            part.add(v)
            part.settle(window_index(v.record.last_ts, WINDOW) - 1)
        assert +part.endpoint_flows == _endpoints_of_pairs(part)
        run.merge(part)
        assert +run.endpoint_flows == _endpoints_of_pairs(run)
    assert run.dropped > 0
    held = run.windows()
    run.retire(sorted(held)[len(held) // 2])
    assert len(held) > 1 and run.windows() < held
    assert +run.endpoint_flows == _endpoints_of_pairs(run)
    wallets = run.wallets_only()
    assert +wallets.endpoint_flows == _endpoints_of_pairs(wallets)


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


def test_a_split_scan_packs_the_windows_it_tallies(tmp_path: Path) -> None:
    """A split run (-j 2 on one file) tallies its workers' verdicts itself: it settles
    those tables to the clock the workers hand in, as one session does, and reports the
    same."""
    capture = tmp_path / "hours.pcap"
    _farm_over_hours(capture)
    config = replace(ScanConfig(), split_from=0)
    detector = Detector.load(config)
    chain = expand_inputs([str(capture)])
    ((split,),) = list(scan_split(chain, config, detector, 2, capture.stat().st_size))
    assert len(split.suspects) == HOURS
    assert len(split.suspects.packed) >= HOURS - 2
    serial = scan_capture(chain[0], config, detector)
    assert plain.dumps(split.suspects.suspects()) == plain.dumps(serial.suspects.suspects())

    one = run_cli("scan", str(capture), "-f", "jsonl", "-q", "-j", "1")
    two = run_cli("scan", str(capture), "-f", "jsonl", "-q", "-j", "2", "--split-from", "0")
    assert one.rc == two.rc == 0, two.err
    assert two.out == one.out and len(one.out.splitlines()) == HOURS


def test_a_packed_pair_comes_back_with_every_field() -> None:
    """The pair codec lists NodePair's fields in order and FlowRecord's by name: a field
    added to either without the codec knowing fails here."""
    assert [f.name for f in dataclasses.fields(NodePair)] == [
        "first_seq", "first", "first_seen", "last_seen", "flow_count", "server_ports",
        "client_ports", "rules", "network", "agents", "commands", "name_network", "names",
        "client_is_node",
    ]  # fmt: skip
    assert [f.name for f in dataclasses.fields(FlowRecord)] == [
        "flow_id",
        "proto",
        "client_ip",
        "client_port",
        "server_ip",
        "server_port",
        "first_ts",
        "last_ts",
        "pkts_toserver",
        "pkts_toclient",
        "bytes_toserver",
        "bytes_toclient",
        "payload_toserver",
        "payload_toclient",
        "orientation",
        "end_reason",
        "facts",
        "client_side",
        "tunnel",
        "behaviour",
        "model_score",
        "model_alert",
        "model_why",
    ]  # fmt: skip  (a new field: see that nodehosts._pair_row carries it as it is)
    tunnel = [{"encap": "vxlan", "proto": "UDP", "src_ip": "192.0.2.1", "src_port": 4789,
               "dest_ip": "192.0.2.2", "dest_port": 4789, "ident": 7}]  # fmt: skip
    record = FlowRecord(
        123456789012345678, "TCP", "10.0.0.1", 40001, "2001:db8::9", 8333, 1.5e9 + 0.123456,
        1.5e9 + 99.000001, 3, 4, 300, 400, 100, 200, "syn", "idle", None, client_side=1,
        tunnel=tunnel, behaviour=bytes(range(40)), model_score=0.8125, model_alert=True,
        model_why=("pushes", "rhythm"),
    )  # fmt: skip
    pair = NodePair(
        17, record, 1.5e9, 1.5e9 + 7200.25, 9, {8333: [17, 5], 18333: [20, 4]},
        {40001: [17, 9]}, {3950001, 3950003}, (18, "main"), {"/Satoshi:27.0.0/": 17},
        {"version": (17, 0), "verack": (17, 1)}, (19, "filecoin"),
        {"bootstrap.filecoin.io": (19, 0)}, True,
    )  # fmt: skip
    key = ("10.0.0.1", "2001:db8::9", "bitcoin-p2p", 416666)
    bare = NodePair(3, replace(record, tunnel=None, behaviour=None, model_why=()))
    again = _unpack_window(spill(_pack_window([(key, pair), (key, bare)])))
    # the budget entries a retired window gives back: pair, ports, agent, commands, name; bare
    assert sum(_entries(p) for _, p in again) == 1 + 2 + 1 + 1 + 2 + 1 + 1
    assert again == [(key, pair), (key, bare)]
    for (_, mine), (_, theirs) in zip(again, [(key, pair), (key, bare)], strict=True):
        assert type(mine.network) is type(theirs.network)
        assert type(mine.first.model_why) is tuple
    with pytest.raises(ValueError):
        _pack_window([(key, NodePair(1, replace(record, facts=FlowFacts())))])
