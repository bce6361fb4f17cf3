"""Memory does not grow with the number of mining flows in a capture.

A capture's miner and node flows are aggregated as they end into per-capture tables that
keep bounded evidence (at most 50 flows per suspect), and the run merges those tables in
input order. These tests check (1) through the CLI and the public API, on a generated
capture of thousands of short mining flows from one miner, that the retained evidence
stays at 50 flows while the reported flow count is exact, and (2) that tables merged from
any split of a flow sequence equal the table built flow by flow - and, for crypto nodes,
equal what keeping every sighting (the previous design) reported.
"""

from __future__ import annotations

import gc
import ipaddress
import json
import random
import struct
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from detector import nodehosts
from detector.config import Detector, ScanConfig
from detector.facts import _CONTAINERS, _STRINGS, FlowFacts, SideFacts
from detector.flows import FlowRecord
from detector.nodehosts import NodeTable
from detector.replay import scan_capture
from detector.rules import Rule
from detector.score import Verdict
from detector.source import expand_inputs
from detector.suspects import MAX_EVIDENCE_FLOWS, SuspectTable
from detector.synth.clock import at
from detector.synth.conversation import Conversation
from detector.synth.links import Ethernet
from detector.synth.pcap import pcap_bytes
from tests.conftest import run_cli

MINER = "10.77.0.9"
POOL = ("198.51.100.70", 3333)
FLOWS = 3000
STRONG_EVERY = 7  # every 7th flow also gets a job and submits a share: a higher score


# --- a capture with thousands of short mining flows ------------------------------------


def _session(full: bool) -> list:
    """One short Stratum session; ``full`` adds a job and an accepted share."""
    c = Conversation((MINER, 40000), POOL, start=at(0))
    c.client_send(b'{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.12.0"]}\n',
                  at(0.1))
    c.server_send(b'{"id":1,"result":[[["mining.notify","ae6812eb"]],"08000002",4],'
                  b'"error":null}\n', at(0.15))
    c.client_send(b'{"id": 2, "method": "mining.authorize", "params": ["bc1qminer.rig1", "x"]}'
                  b"\n", at(0.2))
    c.server_send(b'{"id":2,"result":true,"error":null}\n', at(0.25))
    if full:
        notify = {"id": None, "method": "mining.notify", "params": [
            "4d16", "00" * 32, "01000000010000", "ffffffff", [], "20000000", "1705ae3a",
            "65972a8c", True]}
        c.server_send(json.dumps(notify).encode() + b"\n", at(0.3))
        submit = {"id": 4, "method": "mining.submit", "params": [
            "bc1qminer.rig1", "4d16", "00000001", "65972a8c", "a1b2c3d4"]}
        c.client_send(json.dumps(submit).encode() + b"\n", at(0.35))
        c.server_send(b'{"id":4,"result":true,"error":null}\n', at(0.4))
    c.close(at(0.45))
    return c.finish()


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _with_client_port(l3: bytes, port: int) -> bytes:
    """An IPv4/TCP packet of the template session moved to another client port."""
    ihl = (l3[0] & 0x0F) * 4
    tcp = bytearray(l3[ihl:])
    outgoing = l3[12:16] == ipaddress.ip_address(MINER).packed
    struct.pack_into("!H", tcp, 0 if outgoing else 2, port)
    struct.pack_into("!H", tcp, 16, 0)
    pseudo = l3[12:20] + struct.pack("!BBH", 0, 6, len(tcp))
    struct.pack_into("!H", tcp, 16, _checksum(pseudo + bytes(tcp)))
    return l3[:ihl] + bytes(tcp)


def write_mining_farm(path: Path, flows: int, first: int = 0) -> dict[int, bool]:
    """``flows`` sessions of one miner to one pool, 0.5 s apart, each on its own client
    port (10000 + n); returns client port -> whether that flow is a strong one."""
    templates = {full: _session(full) for full in (False, True)}
    link = Ethernet()
    records, strong = [], {}
    for n in range(first, first + flows):
        full = n % STRONG_EVERY == 0
        port = 10000 + n
        strong[port] = full
        shift = int(n * 0.5 * 1e9)
        for pkt in templates[full]:
            moved = replace(pkt, l3=_with_client_port(pkt.l3, port), ts_ns=pkt.ts_ns + shift)
            records.append((moved.ts_ns, link.frame(moved)))
    path.write_bytes(pcap_bytes(records, Ethernet.linktype))
    return strong


def _expected_evidence(strong: dict[int, bool]) -> list[int]:
    """Client ports of the 50 flows a suspect keeps: strongest first, then earliest."""
    return sorted(strong, key=lambda port: (not strong[port], port))[:MAX_EVIDENCE_FLOWS]


def test_many_mining_flows_keep_bounded_evidence_and_exact_counts(tmp_path: Path) -> None:
    capture = tmp_path / "farm.pcap"
    strong = write_mining_farm(capture, FLOWS)

    # Public API: the capture's own table holds 50 flows for the suspect, no verdict list.
    config = ScanConfig()
    detector = Detector.load(config)
    (cap,) = expand_inputs([str(capture)])
    gc.collect()
    verdicts_before = sum(isinstance(o, Verdict) for o in gc.get_objects())
    scanned = scan_capture(cap, config, detector)
    gc.collect()
    retained = sum(isinstance(o, Verdict) for o in gc.get_objects()) - verdicts_before
    assert scanned.report.error is None
    assert scanned.verdicts == []
    (suspect,) = scanned.suspects.suspects()
    assert suspect.ip == MINER and suspect.flow_count == FLOWS
    assert len(suspect.flows) == MAX_EVIDENCE_FLOWS
    assert retained <= MAX_EVIDENCE_FLOWS  # nothing else keeps a verdict alive
    assert [v.record.client_port for v in suspect.flows] == _expected_evidence(strong)

    # The CLI reports the exact count and the same evidence.
    result = run_cli("scan", "-f", "jsonl", "-q", "--eve-extended", str(capture))
    assert result.rc == 0, result.err
    (alert,) = result.events()
    mining = alert["mining"]
    assert alert["src_ip"] == MINER
    assert mining["flow_count"] == FLOWS
    assert mining["submits"] == sum(strong.values())
    assert [f["src_port"] for f in mining["flows"]] == _expected_evidence(strong)


def test_many_mining_flows_split_over_files_serial_equals_parallel(tmp_path: Path) -> None:
    """The same miner over three files: merged per-capture tables, serial or by workers,
    give one suspect with every flow counted and the evidence of the whole run."""
    strong: dict[int, bool] = {}
    for part, first in enumerate((0, 700, 1400)):
        strong |= write_mining_farm(tmp_path / f"farm-{part}.pcap", 700, first)
    serial = run_cli("scan", "-f", "jsonl", "-q", "--eve-extended", "-j", "1", str(tmp_path))
    parallel = run_cli("scan", "-f", "jsonl", "-q", "--eve-extended", "-j", "2", str(tmp_path))
    assert serial.rc == parallel.rc == 0, serial.err + parallel.err
    assert serial.out == parallel.out
    (alert,) = serial.events()
    assert alert["mining"]["flow_count"] == 2100
    assert [f["src_port"] for f in alert["mining"]["flows"]] == _expected_evidence(strong)


# --- merged tables equal tables built flow by flow -------------------------------------


def _rules() -> tuple[list[Rule], list[Rule]]:
    rules = Detector.load(ScanConfig()).rules.rules
    return [r for r in rules if r.kind == "miner"], [r for r in rules if r.kind == "node"]


def _record(rng: random.Random, client: tuple[str, int], server: tuple[str, int], ts: float,
            facts: FlowFacts) -> FlowRecord:
    return FlowRecord(
        flow_id=rng.randrange(40), proto="TCP", client_ip=client[0], client_port=client[1],
        server_ip=server[0], server_port=server[1], first_ts=ts,
        last_ts=ts + rng.choice([0.0, 5.0, 300.0]), pkts_toserver=5, pkts_toclient=5,
        bytes_toserver=500, bytes_toclient=700, payload_toserver=300, payload_toclient=400,
        orientation="syn", end_reason="closed", facts=facts,
    )


def _miner_verdicts(rng: random.Random, miner_rules: list[Rule], n: int) -> list[Verdict]:
    """Miner flows made to hit every cap and tie: >16 distinct agents, wallets, algos and
    hosts per suspect, >50 flows, equal (score, first_ts, flow_id) ranks, three windows."""
    out = []
    t0 = 1_767_607_200.0
    for _ in range(n):
        facts = FlowFacts()
        facts.agent = rng.choice([None, *(f"agent-{i}" for i in range(30))])
        facts.wallet = f"wallet-{rng.randrange(25)}"
        facts.login = rng.choice([None, f"login-{rng.randrange(20)}"])
        facts.worker = f"w{rng.randrange(20)}"
        facts.coin = rng.choice(["XMR", "BTC", "ETH", None])
        facts.algo = rng.choice([None, *(f"algo-{i}" for i in range(20))])
        facts.pool_host = rng.choice([None, *(f"pool{i}.example" for i in range(20))])
        facts.dns_names = [f"dns{rng.randrange(9)}.example", f"dns{rng.randrange(9)}.example"]
        facts.tls = {"sni": f"sni{rng.randrange(6)}.example"} if rng.random() < 0.3 else {}
        facts.pool = rng.choice([{}, {"name": "Nanopool", "via": "sni"},
                                 {"name": "F2Pool", "via": "dns-query"},
                                 {"name": f"Pool{rng.randrange(5)}", "via": "ip"}])
        facts.dialects = {rng.choice(["stratum-v1", "cryptonote", "eth-proxy"])}
        facts.jobs, facts.submits, facts.accepted = rng.randrange(5), rng.randrange(3), 1
        facts.reported_hashrate = rng.choice([None, None, rng.uniform(1e3, 1e6)])
        client = (rng.choice(["10.0.0.5", "10.0.0.6", "2001:db8::7"]), rng.randrange(1024, 1100))
        server = (f"203.0.113.{rng.randrange(40)}", rng.choice([3333, 4444, 443]))
        ts = t0 + rng.randrange(3 * 3600 // 200) * 200  # repeated timestamps: rank ties
        record = _record(rng, client, server, ts, facts)
        fired = sorted(rng.sample(miner_rules, rng.randrange(1, 4)), key=lambda r: (-r.weight, r.id))
        score = rng.choice([0.75, 0.9, 0.98, 1.0])
        out.append(Verdict(record=record, score=score, is_miner=True, rules=tuple(r.id for r in fired),
                           rule_dialects=tuple(r.dialect for r in fired if r.dialect)))
    return out


def _node_verdicts(rng: random.Random, node_rules: list[Rule], n: int) -> list[Verdict]:
    """Node flows both ways between a private node, public peers and public hubs."""
    out = []
    t0 = 1_767_607_200.0
    hosts = ["192.168.1.10", "192.168.1.11", "198.51.100.1", "198.51.100.2",
             *(f"203.0.113.{i}" for i in range(30))]
    for i in range(n):
        a, b = rng.sample(hosts[:4], 1)[0], rng.choice(hosts)
        if a == b:
            continue
        client, server = (a, b) if rng.random() < 0.6 else (b, a)
        facts = FlowFacts()
        facts.node = {"protocol": rng.choice(["bitcoin-p2p", "monero-levin"])}
        if rng.random() < 0.5:
            facts.node["network"] = rng.choice(["main", "testnet3", "regtest"])
        if rng.random() < 0.4:
            facts.node["user_agent"] = f"/Satoshi:{rng.randrange(12)}/"
        if rng.random() < 0.8:
            facts.node["commands"] = rng.sample([f"cmd{j}" for j in range(40)], 5)
        # client ports sometimes equal to server ports: one peer key from both directions
        ports = (rng.choice([*range(40000, 40030), 8333, 18333]), rng.choice([8333, 18080, 18333]))
        ts = t0 + i * 9.0
        record = _record(rng, (client, ports[0]), (server, ports[1]), ts, facts)
        fired = rng.sample(node_rules, min(2, len(node_rules)))
        ids = tuple(r.id for r in fired)
        out.append(Verdict(record=record, score=0.0, is_miner=False, info_rules=ids, node_rules=ids))
    return out


def _split(rng: random.Random, items: list, parts: int) -> list[list]:
    cuts = sorted(rng.sample(range(1, len(items)), parts - 1)) if parts > 1 else []
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


def _suspect_dump(table: SuspectTable) -> list[tuple]:
    out = []
    for s in table.suspects():
        out.append((
            s.ip, s.window_start, s.first_seen, s.last_seen, s.flow_count, s.score,
            [(v.record.flow_id, v.record.first_ts, v.record.client_port) for v in s.flows],
            sorted(s.rules), sorted(s.rule_hits.items()),
            list(s.pools.items()), s.pools.most_common(16), sorted(s.pool_names),
            sorted(s.dialects), s.jobs, s.submits, s.accepted, s.reported_hashrate,
            *(list(getattr(s, name)) for name in
              ("pool_hosts", "coins", "algos", "agents", "logins", "wallets", "workers")),
        ))
    return out


def _node_dump(table: NodeTable) -> list[tuple]:
    return [
        (h.ip, h.protocol, h.window_start, h.network, h.first_seen, h.last_seen, h.flow_count,
         list(h.peers.items()), sorted(h.ports), sorted(h.user_agents), sorted(h.commands),
         sorted(h.rules), [(r.flow_id, r.first_ts, r.client_port) for r in h.flows])
        for h in table.hosts()
    ]


@pytest.mark.parametrize("seed", range(8))
def test_merged_tables_equal_tables_built_flow_by_flow(seed: int) -> None:
    rng = random.Random(seed)
    miner_rules, node_rules = _rules()
    miners = _miner_verdicts(rng, miner_rules, 600)
    nodes = _node_verdicts(rng, node_rules, 600)
    flows = miners + nodes
    rng.shuffle(flows)

    # the same verdicts go into several tables here: each table copies what it keeps
    whole_s, whole_n = SuspectTable(3600.0, shared_verdicts=True), NodeTable(3600.0)
    for v in flows:
        whole_s.add(v)
        whole_n.add(v)
    assert max(len(s.flows) for s in whole_s.suspects()) == MAX_EVIDENCE_FLOWS
    assert max(len(s.agents) for s in whole_s.suspects()) == 16  # the caps are exercised

    for parts in (2, 3, 7):
        run_s, run_n = SuspectTable(3600.0, shared_verdicts=True), NodeTable(3600.0)
        for chunk in _split(rng, flows, parts):
            part_s, part_n = SuspectTable(3600.0, shared_verdicts=True), NodeTable(3600.0)
            for v in chunk:
                part_s.add(v)
                part_n.add(v)
            run_s.merge(part_s)
            run_n.merge(part_n)
        assert _suspect_dump(run_s) == _suspect_dump(whole_s)
        assert _node_dump(run_n) == _node_dump(whole_n)
    assert whole_n.dropped == whole_n.details_dropped == 0


def _hosts_from_every_sighting(verdicts: list[Verdict], window: float) -> list[tuple]:
    """What the node table reported when it kept every sighting (the previous design)."""
    sightings = [v for v in verdicts if not v.is_miner and v.record.facts is not None
                 and v.node_rules]
    endpoint: Counter[str] = Counter()
    for v in sightings:
        endpoint[v.record.client_ip] += 1
        endpoint[v.record.server_ip] += 1

    def local(c: str, s: str) -> str:
        cp, sp = ipaddress.ip_address(c).is_private, ipaddress.ip_address(s).is_private
        if cp != sp:
            return c if cp else s
        return s if endpoint[s] > endpoint[c] else c

    hosts: dict[tuple, dict] = {}
    for v in sightings:
        r, f = v.record, v.record.facts
        assert f is not None
        ip = local(r.client_ip, r.server_ip)
        index = int(r.first_ts // window)
        h = hosts.setdefault((ip, f.node.get("protocol", "unknown"), index), {
            "first": r, "network": None, "first_seen": float("inf"), "last_seen": float("-inf"),
            "flows": 0, "peers": Counter(), "ports": set(), "agents": set(), "commands": set(),
            "rules": set()})
        h["first_seen"] = min(h["first_seen"], r.first_ts)
        h["last_seen"] = max(h["last_seen"], r.last_ts)
        h["flows"] += 1
        peer = (r.server_ip, r.server_port) if r.client_ip == ip else (r.client_ip, r.client_port)
        h["peers"][f"{peer[0]}:{peer[1]}"] += 1
        h["ports"].add(r.server_port)
        h["rules"] |= set(v.node_rules)
        h["network"] = h["network"] or f.node.get("network")
        agent = f.node.get("user_agent")
        if agent and len(h["agents"]) < 8:
            h["agents"].add(agent)
        h["commands"].update(f.node.get("commands", [])[:16])
    out = [(ip, protocol, index * window, h["network"], h["first_seen"], h["last_seen"],
            h["flows"], list(h["peers"].items()), sorted(h["ports"]), sorted(h["agents"]),
            sorted(h["commands"]), sorted(h["rules"]), h["first"].flow_id)
           for (ip, protocol, index), h in hosts.items()]
    return sorted(out, key=lambda row: (row[4], row[0], row[1]))


@pytest.mark.parametrize("seed", range(4))
def test_node_pairs_report_what_every_sighting_did(seed: int) -> None:
    rng = random.Random(100 + seed)
    _, node_rules = _rules()
    verdicts = _node_verdicts(rng, node_rules, 800)
    table = NodeTable(3600.0)
    for v in verdicts:
        table.add(v)
    got = [(*row[:12], row[12][0][0]) for row in _node_dump(table)]
    assert got == _hosts_from_every_sighting(verdicts, 3600.0)


def test_node_table_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its entry budget a node table drops new pairs and details, and says so; a run
    merged from capture tables is the same whichever way the flows are scanned."""
    monkeypatch.setattr(nodehosts, "MAX_NODE_ENTRIES", 300)
    rng = random.Random(7)
    _, node_rules = _rules()
    verdicts = _node_verdicts(rng, node_rules, 2000)
    halves = [verdicts[:1000], verdicts[1000:]]

    def run() -> NodeTable:
        total = NodeTable(3600.0)
        for half in halves:
            part = NodeTable(3600.0)
            for v in half:
                part.add(v)
            assert len(part.pairs) <= 300 and part.budget.left >= 0
            total.merge(part)
        return total

    first, second = run(), run()
    assert first.dropped > 0 and first.details_dropped > 0
    assert first.budget.left >= 0 and len(first.pairs) <= 300
    assert _node_dump(first) == _node_dump(second)


# --- compact facts: flows waiting for their end, and evidence ---------------------------


def _facts_state(facts: FlowFacts) -> tuple:
    """Every fact with its container type, so a set that came back as a frozenset (or a
    container that came back as None) counts as a difference."""
    return tuple(
        (name, type(getattr(facts, name)).__name__, repr(getattr(facts, name)))
        for name in FlowFacts.__slots__
    )


def test_stowed_facts_drop_empty_containers_and_unstow_to_the_same_facts() -> None:
    rng = random.Random(5)
    miner_rules, _ = _rules()
    for v in _miner_verdicts(rng, miner_rules, 40):
        facts = v.record.facts
        before = _facts_state(facts)
        facts.stow()
        assert facts.http is None and facts.node is None  # empty in every generated flow
        assert isinstance(facts.dialects, frozenset)
        with pytest.raises(AttributeError):
            facts.dialects.add("x")  # stowed facts are not for writing: it shows at once
        assert _facts_state(facts.unstow()) == before
        assert _facts_state(facts.unstow()) == before  # idempotent


def test_stow_covers_every_container_field_of_the_facts() -> None:
    """stow/unstow name the container fields one by one (for speed): a container field
    added to FlowFacts but not to them fails here."""
    assert len(_CONTAINERS) >= 11
    for name, factory in _CONTAINERS.items():
        facts = FlowFacts()
        facts.stow()
        assert getattr(facts, name) is None, f"stow keeps the empty {name}"
        facts.unstow()
        assert type(getattr(facts, name)) is factory and not getattr(facts, name), name
        full = FlowFacts()
        value = {"x": "y"} if factory is dict else factory(["x"])
        setattr(full, name, value)
        full.stow()
        kept = getattr(full, name)
        assert kept is not None and list(kept) == ["x"], f"stow drops a non-empty {name}"
        full.unstow()
        assert type(getattr(full, name)) is factory and list(getattr(full, name)) == ["x"]


def test_stow_shares_each_repeated_string_alone() -> None:
    """stow tests the string fields one by one (for speed) before sharing them: a field of
    _STRINGS left out of that test would stay unshared when it is the only one set."""
    assert len(_STRINGS) == 10
    for name in _STRINGS:
        first, second = FlowFacts(), FlowFacts()
        setattr(first, name, "".join(["shared-", name]))  # equal strings, distinct objects
        setattr(second, name, "".join(["shared-", name]))
        assert getattr(first, name) is not getattr(second, name)
        first.stow(), second.stow()
        assert getattr(first, name) is getattr(second, name), f"stow does not share {name}"


def test_unstowed_sides_are_the_flows_own() -> None:
    """Flows with the same side facts share them while stowed; unstowed, each flow has
    copies of its own again (methods included), equal to what it had."""
    flows = [FlowFacts(), FlowFacts()]
    for facts in flows:
        facts.sides = (SideFacts({"mining.submit": 3}, 4, 0, 2), SideFacts())
        facts.stow()
    assert flows[0].sides is flows[1].sides
    for facts in flows:
        facts.unstow()
    a, b = flows
    assert a.sides == b.sides == (SideFacts({"mining.submit": 3}, 4, 0, 2), SideFacts())
    assert type(a.sides) is tuple and a.sides[0] is not b.sides[0]
    assert a.sides[0].methods is not b.sides[0].methods
    assert a.sides[1].methods is not b.sides[1].methods
    a.sides[0].methods["mining.submit"] += 1
    a.sides[1].json_messages += 1
    assert b.sides == (SideFacts({"mining.submit": 3}, 4, 0, 2), SideFacts())


def test_evidence_is_kept_compact_and_handed_out_whole_without_touching_the_verdict() -> None:
    rng = random.Random(6)
    miner_rules, _ = _rules()
    verdicts = _miner_verdicts(rng, miner_rules, 300)
    originals = {id(v): _facts_state(v.record.facts) for v in verdicts}
    table = SuspectTable(3600.0, shared_verdicts=True)
    for v in verdicts:
        table.add(v)
    kept = [ev for s in table.by_key.values() for ev in s.flows]
    assert kept and all(ev.record.facts.http is None for ev in kept)  # compact while kept
    by_flow = {(v.record.flow_id, v.record.first_ts, v.record.client_port): v for v in verdicts}
    for s in table.suspects():
        for ev in s.flows:
            source = by_flow[(ev.record.flow_id, ev.record.first_ts, ev.record.client_port)]
            assert ev is not source  # a copy: the flow log's verdict is another object
            assert _facts_state(ev.record.facts) == originals[id(source)]
    # the verdicts added were not changed (the flow log writes them after the scan)
    assert all(_facts_state(v.record.facts) == originals[id(v)] for v in verdicts)


def test_retired_facts_are_stowed_as_the_next_batch_starts() -> None:
    """The inspector keeps a retired flow's facts as they are until the feeder's next
    batch (most short flows end first), then stows them in place - twice over if the
    flow was retired again - and hands back the same facts either way."""
    from detector.dissect.inspector import Inspector

    def http_flow(insp: Inspector, slot: int) -> None:
        request = b"GET /x HTTP/1.1\r\nHost: pool.example\r\nUser-Agent: t\r\n\r\n"
        insp.tcp_packet(slot, 0, 100, 100, request, len(request), 1.0, 40000, 80)
        insp.retire(slot)

    insp = Inspector()
    http_flow(insp, 3)
    http_flow(insp, 4)
    kept = insp.retired[3]
    assert kept.node == {} and insp.unstowed == [3, 4]  # not stowed yet
    ended = insp.finish(4)  # ended in its batch: never stowed
    assert ended is not None and ended.http["host"] == "pool.example"
    before = _facts_state(kept)
    insp.stow_retired()
    assert insp.retired[3] is kept and kept.node is None and not insp.unstowed
    insp.stow_retired()
    assert _facts_state(insp.finish(3)) == before == _facts_state(ended)
