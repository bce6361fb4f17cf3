"""Crypto-node sightings: hosts that speak a cryptocurrency node's P2P protocol.

Not miners: Bitcoin, Ethereum, Monero or Nano *nodes* are reported apart, as informational
crypto-node alerts (sinks/eve.py), one per host, protocol and window (the suspect table's
windows).
Bounded and mergeable like the suspect table (suspects.py), and plain data (rules by id).

**Name hints.** Some networks show only in what a host looks up beside its node traffic:
libp2p (dissect/libp2p.py) is spoken by IPFS, Filecoin, Ethereum's consensus clients
alike, and what makes a libp2p host a *Filecoin* node is that it resolved Filecoin's
bootstrap peers or drand, or fetched its proof parameters' verifying keys (netnames.py,
enrich.py: ``node.name_network``). A flow that used such names but spoke no node
protocol (a DNS lookup, an HTTPS fetch) is a *hint* (``NameHint``): kept per (client,
network, window), never reported alone, and at ``hosts()`` a libp2p host of the same IP
and window with a hint of a network that runs on libp2p (LIBP2P_NETWORKS) becomes that
network's node, with the names and the hint's rules as evidence (docs/ARCHITECTURE.md §3,
"Filecoin and libp2p").

**Site policy.** Where a site forbids running nodes (``scan --nodes-as-suspects``), the
hosts are suspects instead of sightings (``node_suspects``): each becomes a ``Suspect`` of
role ``crypto-node`` (dialects.role_of) with its node rules, flows and user agents as
evidence, and every sink and the store take it as they take a miner.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import ipaddress
import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from detector.chia import NODE_PROTOCOL as CHIA
from detector.dialects import CRYPTO_NODE, WALLET
from detector.dissect import wallets
from detector.dissect.filecoin import NODE_PROTOCOL as FILECOIN_RPC
from detector.dissect.libp2p import NODE_PROTOCOL as LIBP2P
from detector.flows import FlowRecord
from detector.score import Verdict
from detector.spill import Spilled, spill
from detector.suspects import MAX_EVIDENCE_FLOWS, Suspect, SuspectTable, bracketed, window_index


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class NodeHost:
    """One host seen speaking a cryptocurrency node protocol, in one window."""

    ip: str
    protocol: str
    window_start: float
    network: str | None = None
    first_seen: float = float("inf")
    last_seen: float = float("-inf")
    flow_count: int = 0
    peers: Counter[str] = field(default_factory=Counter)  # "ip:port" -> flows
    ports: set[int] = field(default_factory=set)
    user_agents: set[str] = field(default_factory=set)
    commands: set[str] = field(default_factory=set)
    rules: set[int] = field(default_factory=set)  # node rule ids
    # names of the network's own infrastructure the host used (name hints, node flows to
    # peers DNS named so): what makes a libp2p host a Filecoin node
    names: set[str] = field(default_factory=set)
    # The first flow with each of the host's first MAX_EVIDENCE_FLOWS peers (client/server
    # pairs), in capture order, without their facts (the host keeps what it needs of them).
    flows: list[FlowRecord] = field(default_factory=list)

    def sort_key(self) -> tuple[float, str, str]:
        return (self.first_seen, self.ip, self.protocol)

    @property
    def role(self) -> str:
        """``wallet`` for a wallet protocol's client (dissect/wallets.py), else
        ``crypto-node``: both informational (dialects.ROLES)."""
        return WALLET if self.protocol in WALLET_PROTOCOLS else CRYPTO_NODE


MAX_NODE_AGENTS = 8  # distinct user agents per node host
MAX_NODE_COMMANDS = 64  # distinct protocol commands per node host
COMMANDS_PER_FLOW = 16
MAX_NODE_NAMES = 16  # distinct infrastructure names per node host (and per hint)


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class Budget:
    """Entries a NodeTable may still create (pairs, ports, agents, commands)."""

    left: int

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        return True


@dataclass(slots=True)
class NodePair:
    """The node flows from one client IP to one server IP (one protocol and window).

    Which end is the node host is only known at the end of the run (NodeTable), so a pair
    keeps what the host needs whichever end it turns out to be. Values that feed an
    order-dependent result carry the sequence number of the flow that brought them
    (``seq``, counted over the run's node flows), so hosts built from pairs - and pairs
    merged from captures - see them in capture order."""

    first_seq: int
    first: FlowRecord  # its first flow, facts dropped (node_event's 5-tuple and flow id)
    first_seen: float = float("inf")
    last_seen: float = float("-inf")
    flow_count: int = 0
    server_ports: dict[int, list[int]] = field(default_factory=dict)  # port -> [seq, flows]
    client_ports: dict[int, list[int]] = field(default_factory=dict)
    rules: set[int] = field(default_factory=set)  # node rule ids
    network: tuple[int, str] | None = None  # (seq, network) of the first flow naming one
    agents: dict[str, int] = field(default_factory=dict)  # agent -> seq, first ones
    commands: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (seq, position)
    # (seq, network) of the first flow whose peer a network's own name named, and the names
    name_network: tuple[int, str] | None = None
    names: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (seq, position)
    # the client is the node whatever the counts: it looked a node network's seeder up
    # (FlowFacts.node "host": "client"; the server is only its resolver)
    client_is_node: bool = False

    def add(self, seq: int, v: Verdict, budget: Budget) -> int:
        """Account for one flow; returns how many details the budget could not hold."""
        r, f = v.record, v.record.facts
        assert f is not None
        self.first_seen = min(self.first_seen, r.first_ts)
        self.last_seen = max(self.last_seen, r.last_ts)
        self.flow_count += 1
        lost = _count_port(self.server_ports, r.server_port, seq, 1, budget)
        lost += _count_port(self.client_ports, r.client_port, seq, 1, budget)
        self.rules.update(v.node_rules)
        if f.node.get("host") == "client":
            self.client_is_node = True
        network = f.node.get("network")
        if self.network is None and network:
            self.network = (seq, network)
        agent = f.node.get("user_agent")
        if agent:
            lost += _first_distinct(self.agents, agent, seq, MAX_NODE_AGENTS, budget)
        for position, command in enumerate(f.node.get("commands", [])[:COMMANDS_PER_FLOW]):
            lost += _first_distinct(
                self.commands, command, (seq, position), MAX_NODE_COMMANDS, budget
            )
        named = f.node.get("name_network")
        if named:
            if self.name_network is None:
                self.name_network = (seq, named)
            lost += _add_names(self.names, f.node, seq, budget)
        return lost

    def absorb(self, other: NodePair, offset: int, budget: Budget) -> int:
        """Fold in the same pair from a later capture whose seqs start at ``offset``."""
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.flow_count += other.flow_count
        lost = 0
        for mine, theirs in (
            (self.server_ports, other.server_ports),
            (self.client_ports, other.client_ports),
        ):
            for port, (seq, flows) in theirs.items():
                lost += _count_port(mine, port, seq + offset, flows, budget)
        self.rules.update(other.rules)
        self.client_is_node = self.client_is_node or other.client_is_node
        if self.network is None and other.network is not None:
            self.network = (other.network[0] + offset, other.network[1])
        for agent, seq in other.agents.items():
            lost += _first_distinct(self.agents, agent, seq + offset, MAX_NODE_AGENTS, budget)
        for command, (seq, position) in other.commands.items():
            lost += _first_distinct(
                self.commands, command, (seq + offset, position), MAX_NODE_COMMANDS, budget
            )
        if self.name_network is None and other.name_network is not None:
            self.name_network = (other.name_network[0] + offset, other.name_network[1])
        for name, (seq, position) in other.names.items():
            lost += _first_distinct(
                self.names, name, (seq + offset, position), MAX_NODE_NAMES, budget
            )
        return lost


def _entries(pair: NodePair) -> int:
    """Budget entries a pair holds: itself and each port, agent, command or name."""
    kept = (pair.server_ports, pair.client_ports, pair.agents, pair.commands, pair.names)
    return 1 + sum(len(d) for d in kept)


def _pack_window(items: list[tuple[PairKey, NodePair]]) -> bytes:
    """The pairs of one window that is over (``NodeTable.settle``), in first-flow order:
    their rows (``_pair_row``) as compressed JSON."""
    text = json.dumps([_pair_row(key, pair) for key, pair in items], separators=(",", ":"))
    return zlib.compress(text.encode(), 1)


def _unpack_window(packed: Spilled) -> list[tuple[PairKey, NodePair]]:
    return [_row_pair(row) for row in json.loads(zlib.decompress(packed.read()))]


def _take_window(packed: dict[int, Spilled], index: int) -> list[tuple[PairKey, NodePair]]:
    """The pairs of packed window ``index``, taken out of ``packed`` (its blob freed)."""
    blob = packed.pop(index)
    items = _unpack_window(blob)
    blob.free()
    return items


# A packed pair is a JSON row of its fields in order (``_pair_row``), not the plain codec's
# objects: a scan of weeks packs and unpacks every pair once, and the generic codec costs
# ~110 us a pair against ~30 us (both measured on the bench's real-traffic pairs).
# tests/test_settle.py round-trips a pair with every field set and fails when NodePair or
# FlowRecord gain a field this does not know.
_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(FlowRecord))
_BEHAVIOUR = _RECORD_FIELDS.index("behaviour")
_MODEL_WHY = _RECORD_FIELDS.index("model_why")
_FACTS = _RECORD_FIELDS.index("facts")


def _pair_row(key: PairKey, pair: NodePair) -> list[Any]:
    record = [getattr(pair.first, name) for name in _RECORD_FIELDS]
    if record[_FACTS] is not None:
        raise ValueError("a node pair's first record keeps no facts")
    behaviour = record[_BEHAVIOUR]
    record[_BEHAVIOUR] = None if behaviour is None else base64.b64encode(behaviour).decode()
    return [
        key,
        pair.first_seq,
        record,
        pair.first_seen,
        pair.last_seen,
        pair.flow_count,
        [[port, *at] for port, at in pair.server_ports.items()],
        [[port, *at] for port, at in pair.client_ports.items()],
        list(pair.rules),
        pair.network,
        pair.agents,
        pair.commands,
        pair.name_network,
        pair.names,
        pair.client_is_node,
    ]


def _row_pair(row: list[Any]) -> tuple[PairKey, NodePair]:
    (key, first_seq, record, first_seen, last_seen, flow_count, server_ports, client_ports,
     rules, network, agents, commands, name_network, names, client_is_node) = row  # fmt: skip
    behaviour = record[_BEHAVIOUR]
    record[_BEHAVIOUR] = None if behaviour is None else base64.b64decode(behaviour)
    record[_MODEL_WHY] = tuple(record[_MODEL_WHY])
    pair = NodePair(
        first_seq,
        FlowRecord(*record),
        first_seen,
        last_seen,
        flow_count,
        {port: [seq, flows] for port, seq, flows in server_ports},
        {port: [seq, flows] for port, seq, flows in client_ports},
        set(rules),
        None if network is None else tuple(network),  # type: ignore[arg-type]
        agents,
        {command: tuple(at) for command, at in commands.items()},  # type: ignore[misc]
        None if name_network is None else tuple(name_network),  # type: ignore[arg-type]
        {name: tuple(at) for name, at in names.items()},  # type: ignore[misc]
        client_is_node,
    )
    return tuple(key), pair  # type: ignore[return-value]


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class NameHint:
    """The flows of one client IP, in one window, that used one network's own names
    (netnames.py) but spoke no node protocol: a DNS lookup of Filecoin's bootstrap peers,
    an HTTPS fetch from drand. Evidence for that host's node flows; no sighting alone."""

    first_seq: int
    first_seen: float = float("inf")
    last_seen: float = float("-inf")
    flow_count: int = 0
    rules: set[int] = field(default_factory=set)
    names: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (seq, position)

    def add(self, seq: int, v: Verdict, budget: Budget) -> int:
        r, f = v.record, v.record.facts
        assert f is not None
        self.first_seen = min(self.first_seen, r.first_ts)
        self.last_seen = max(self.last_seen, r.last_ts)
        self.flow_count += 1
        self.rules.update(v.node_rules)
        return _add_names(self.names, f.node, seq, budget)

    def absorb(self, other: NameHint, offset: int, budget: Budget) -> int:
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.flow_count += other.flow_count
        self.rules.update(other.rules)
        lost = 0
        for name, (seq, position) in other.names.items():
            lost += _first_distinct(
                self.names, name, (seq + offset, position), MAX_NODE_NAMES, budget
            )
        return lost


def _count_port(ports: dict[int, list[int]], port: int, seq: int, flows: int, b: Budget) -> int:
    entry = ports.get(port)
    if entry is not None:
        entry[1] += flows
    elif b.take():
        ports[port] = [seq, flows]
    else:
        return 1
    return 0


def _first_distinct(
    kept: dict[str, int] | dict[str, tuple[int, int]],
    value: str,
    key: int | tuple[int, int],
    cap: int,
    budget: Budget,
) -> int:
    """Keep ``value`` (first seen at ``key``) if it is new and there is room.

    A pair's first ``cap`` distinct values are enough for a host built from several pairs:
    any value among the host's first ``cap`` is among the first ``cap`` of its pair."""
    if value in kept or len(kept) >= cap:
        return 0
    if not budget.take():
        return 1
    kept[value] = key  # type: ignore[assignment]
    return 0


MAX_NODE_ENTRIES = 100_000  # see NodeTable
# Pairs a table keeps as objects before ``settle`` packs those of windows that are over:
# ~4 MB, about what a 1 M-packet capture of an office's traffic holds (1,629 on the
# bench's real traffic), so short scans pay nothing for packing.
HOT_PAIRS = 2048
PairKey = tuple[str, str, str, int]  # (client, server, protocol, window index)
# The node protocols (FlowFacts.node "protocol", EVE node_protocol): dissect/nodes.py's
# P2P framings, lotus's JSON-RPC API (dissect/filecoin.py), Chia's peers (chia.py).
PROTOCOLS = (
    "bitcoin-p2p",
    "monero-levin",
    "ethereum-devp2p",
    "ethereum-discv4",
    "nano",
    FILECOIN_RPC,
    CHIA,
    *wallets.PROTOCOLS,
)
# Protocols whose host is a wallet, not a node (the client of the flow: it asks about
# its own addresses). Informational whatever the site's node policy: node_suspects leaves
# them out, and a wallet host stays a sighting.
WALLET_PROTOCOLS = frozenset(wallets.PROTOCOLS)
# Node protocols of a client/server API rather than peer to peer: the node is the server
# (a lotus daemon answering Filecoin.ChainHead), whoever the client is and however many
# flows it makes - a wallet polling its node makes more flows than the node.
SERVER_PROTOCOLS = frozenset({FILECOIN_RPC})
# Networks that run on libp2p: a libp2p host with a name hint (or a libp2p flow to a peer
# named) of one of these is that network's node, reported under that network's name.
# IPFS or Ethereum's consensus clients would join with name lists of their own.
LIBP2P_NETWORKS = ("filecoin",)


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class NodeTable:
    """Informational crypto-node sightings keyed by (host, protocol, window).

    In peer-to-peer traffic both ends are nodes and either may open the connection, so
    the host reported is the local end: the private (RFC 1918/4193) address if exactly one
    end has one, otherwise the end that takes part in more node flows (the node whose
    traffic was captured talks to many peers; each peer is seen once). That needs the
    whole run's counts, so flows are kept as compact per (client, server, protocol,
    window) pairs until ``hosts()`` assigns each pair to its host.

    Bounded: a table holds at most MAX_NODE_ENTRIES entries - a pair, or a port, user agent or
    command of a pair. Measured (tracemalloc): a new pair with its first flow's record and
    its two ports is three entries and ~1.4 KB (IPv6), a further port or command ~0.15 KB;
    so a table never exceeds ~50 MB, whatever the number of flows (the sightings list it
    replaces held up to 200,000 verdicts of ~3.5 KB: 700 MB). A flow that would need a new
    pair once the budget is spent is dropped (``dropped``); a new port, agent or command is
    not kept (``details_dropped``: a peer, port or name missing from its host). Below the
    budget the hosts are exactly those of keeping every flow (tested against that); with it
    spent, a capture's table merged into the run's is cut where its own table was, so the
    result is deterministic and the same for serial and parallel scans (both merge
    per-capture tables in input order).
    """

    window: float = 3600.0
    # (client, server, protocol, window index) -> pair, of the windows not packed
    pairs: dict[PairKey, NodePair] = field(default_factory=dict)
    # window index -> the pairs of a window that is over, packed (``settle``), in the
    # spill file (spill.py)
    packed: dict[int, Spilled] = field(default_factory=dict)
    # (client, network, window index) -> the name hints of that host (see NameHint)
    hints: dict[tuple[str, str, int], NameHint] = field(default_factory=dict)
    seq: int = 0  # node flows seen (numbering for order-dependent details)
    budget: Budget = field(default_factory=lambda: Budget(MAX_NODE_ENTRIES))
    dropped: int = 0
    details_dropped: int = 0
    # IP -> node flows of the pairs it is an end of (which end of a pair is the local
    # host, ``_local``): kept as pairs come and go, so ``hosts()`` needs no pass of its own
    endpoint_flows: Counter[str] = field(default_factory=Counter)

    def add(self, v: Verdict) -> None:
        r = v.record
        if not v.node_rules or v.is_miner or r.facts is None:
            return
        seq = self.seq
        self.seq += 1
        node = r.facts.node
        protocol = node.get("protocol")
        if protocol is None and node.get("name_network"):
            self._hint(seq, v, node["name_network"])
            return
        protocol = protocol or "unknown"
        key = (r.client_ip, r.server_ip, protocol, window_index(r.first_ts, self.window))
        pair = self._pair(key)
        if pair is None:
            if not self.budget.take():
                self.dropped += 1
                return
            pair = self.pairs[key] = NodePair(seq, r.without_facts())
        self.details_dropped += pair.add(seq, v, self.budget)
        self.endpoint_flows[key[0]] += 1
        self.endpoint_flows[key[1]] += 1

    def _pair(self, key: PairKey) -> NodePair | None:
        """The pair of ``key``, or None; a packed window it falls in is unpacked first (a
        late flow of a window that is over: its pairs are objects again until the next
        ``settle``)."""
        if key[3] in self.packed:
            self.pairs.update(_take_window(self.packed, key[3]))
        return self.pairs.get(key)

    def _hint(self, seq: int, v: Verdict, network: str) -> None:
        r = v.record
        key = (r.client_ip, network, window_index(r.first_ts, self.window))
        hint = self.hints.get(key)
        if hint is None:
            if not self.budget.take():
                self.dropped += 1
                return
            hint = self.hints[key] = NameHint(seq)
        self.details_dropped += hint.add(seq, v, self.budget)

    def merge(self, other: NodeTable) -> None:
        """Fold in the table of a later capture; its flows come after all of ours.
        ``other`` is consumed (the first one's pairs become ours as they are)."""
        if other.window != self.window:
            raise ValueError(f"window {other.window} differs from {self.window}")
        if self._is_new():
            # The first capture of a run: folding it in pair by pair would rebuild every
            # pair beside the capture's own until the merge ends (twice the table at the
            # end of a long scan); with nothing of ours to fold into, its table is ours.
            self.pairs, self.packed = other.pairs, other.packed
            self.hints, self.budget = other.hints, other.budget
            self.endpoint_flows = other.endpoint_flows
            self.seq, self.dropped, self.details_dropped = (
                other.seq,
                other.dropped,
                other.details_dropped,
            )
            return
        offset = self.seq
        for key, theirs in other._in_order():
            mine = self._pair(key)
            if mine is None:
                if not self.budget.take():
                    self.dropped += theirs.flow_count
                    continue
                mine = self.pairs[key] = NodePair(theirs.first_seq + offset, theirs.first)
            self.details_dropped += mine.absorb(theirs, offset, self.budget)
            self.endpoint_flows[key[0]] += theirs.flow_count
            self.endpoint_flows[key[1]] += theirs.flow_count
        for key, their_hint in other.hints.items():
            my_hint = self.hints.get(key)
            if my_hint is None:
                if not self.budget.take():
                    self.dropped += their_hint.flow_count
                    continue
                my_hint = self.hints[key] = NameHint(their_hint.first_seq + offset)
            self.details_dropped += my_hint.absorb(their_hint, offset, self.budget)
        for blob in other.packed.values():  # consumed: read above, kept by no one
            blob.free()
        other.packed.clear()
        self.seq += other.seq
        self.dropped += other.dropped
        self.details_dropped += other.details_dropped

    def _in_order(self) -> list[tuple[PairKey, NodePair]]:
        """Every pair, packed windows unpacked, in first-flow order: the order the table
        made them in (a pair's ``first_seq`` is its first flow's number, and every pair
        is made by a flow later than those of the pairs before it)."""
        items = list(self.pairs.items())
        for packed in self.packed.values():
            items += _unpack_window(packed)
        items.sort(key=lambda item: item[1].first_seq)
        return items

    def _is_new(self) -> bool:
        """Nothing added or merged yet (so a merge may take the other table over)."""
        return (
            not self.pairs
            and not self.packed
            and not self.hints
            and self.seq == 0
            and self.dropped == 0
            and self.budget.left == MAX_NODE_ENTRIES
            and not self.endpoint_flows
        )

    def windows(self) -> set[int]:
        """The window indexes the table holds pairs of, packed or not."""
        return {key[3] for key in self.pairs} | set(self.packed)

    def retire(self, before: int) -> None:
        """Forget the pairs and hints of windows (indexes) before ``before``: a live
        sensor's windows that are over, told of already (live.py). Their entries go back to
        the budget - each pair or hint took one, and one per port, agent, command or name it
        keeps - so weeks of running stay within MAX_NODE_ENTRIES."""
        gone = [(key, self.pairs.pop(key)) for key in [k for k in self.pairs if k[3] < before]]
        for index in [i for i in self.packed if i < before]:
            gone += _take_window(self.packed, index)
        for (client, server, _, _), pair in gone:
            self.budget.left += _entries(pair)
            self.endpoint_flows[client] -= pair.flow_count
            self.endpoint_flows[server] -= pair.flow_count
        for hint_key in [k for k in self.hints if k[2] < before]:
            self.budget.left += 1 + len(self.hints.pop(hint_key).names)

    def settle(self, before: int) -> None:
        """Pack the pairs of windows before index ``before`` (windows that are over), a
        window to a blob. Why: a scan keeps every pair for ``hosts()`` at its end, and as
        objects (~2 KB each with its first flow's record) they would grow its memory with
        the time the capture covers; a packed window takes ~0.13 KB per pair, and that in the
        spill file, not the process's memory (spill.py). Only past
        HOT_PAIRS objects, and then every window that is over. Exact (the codec
        round-trips, and ``_in_order`` restores the order)."""
        if len(self.pairs) <= HOT_PAIRS:
            return  # as many as a short capture holds: not worth the packing
        old: dict[int, list[tuple[PairKey, NodePair]]] = {}
        for key in [k for k in self.pairs if k[3] < before]:
            old.setdefault(key[3], []).append((key, self.pairs.pop(key)))
        for index, items in old.items():
            items.sort(key=lambda item: item[1].first_seq)
            self.packed[index] = spill(_pack_window(items))

    def wallets_only(self) -> NodeTable:
        """A table of this one's wallet pairs only (the site's policy made every node host
        a suspect; its wallets stay informational sightings). Budget and counts restart:
        the pairs are moved, not copied, so this table is not used after."""
        kept = NodeTable(self.window, seq=self.seq)
        for key, pair in self._in_order():
            if key[2] in WALLET_PROTOCOLS:
                kept.pairs[key] = pair
                kept.endpoint_flows[key[0]] += pair.flow_count
                kept.endpoint_flows[key[1]] += pair.flow_count
        return kept

    def hosts(self) -> list[NodeHost]:
        """Every host, in report order (first seen, IP, protocol)."""
        return list(self.hosts_in_order())

    def hosts_in_order(self) -> Iterator[NodeHost]:
        """The hosts in report order, one at a time, a window after the other. Why: a scan
        of weeks of traffic has a host per node and hour, each with up to
        MAX_EVIDENCE_FLOWS flow records (~14 KB): built all at once at the end of a long
        scan they would be its peak of memory. Report order is window order: a host's
        first_seen lies in its window (every flow of its pairs started there), so sorting
        each window's hosts is sorting them all. Equal report keys keep the order of their
        hosts' first pairs (as a stable sort of hosts built in that order would)."""
        by_window: dict[int, list[tuple[PairKey, NodePair]]] = {}
        for key, pair in self.pairs.items():
            by_window.setdefault(key[3], []).append((key, pair))
        for index in sorted(set(by_window) | set(self.packed)):
            packed = self.packed.get(index)
            items = by_window.pop(index, []) + (_unpack_window(packed) if packed else [])
            hosts = sorted(self._window_hosts(index, items), key=lambda item: item[0])
            yield from (host for _, host in hosts)

    def _window_hosts(
        self, index: int, items: list[tuple[PairKey, NodePair]]
    ) -> Iterator[tuple[tuple[float, str, str, int], NodeHost]]:
        """The hosts of one window from its pairs, each with its sort key: report order,
        then its first pair's ``first_seq``."""
        items.sort(key=lambda item: item[1].first_seq)
        groups: dict[tuple[str, str], list[NodePair]] = {}
        for (client, server, protocol, _), pair in items:
            if protocol in SERVER_PROTOCOLS:
                ip = server
            elif pair.client_is_node:
                ip = client
            else:
                ip = _local(client, server, self.endpoint_flows)
            groups.setdefault((ip, protocol), []).append(pair)
        for (ip, protocol), pairs in groups.items():
            host = _build_host(ip, protocol, index * self.window, pairs)
            if protocol == LIBP2P:
                self._name_network(host, index, pairs)
            yield (*host.sort_key(), pairs[0].first_seq), host

    def _name_network(self, host: NodeHost, index: int, pairs: list[NodePair]) -> None:
        """A libp2p host that used a libp2p network's own names in its window - a hint of
        its own, or a connection to a peer DNS named so - is that network's node: its
        protocol and network become the network's name, the names and the hints' rules
        join its evidence (the module docstring)."""
        named: list[tuple[int, str]] = [p.name_network for p in pairs if p.name_network]
        hints = {}
        for network in LIBP2P_NETWORKS:
            hint = self.hints.get((host.ip, network, index))
            if hint is not None:
                hints[network] = hint
                named.append((hint.first_seq, network))
        named = [(seq, network) for seq, network in named if network in LIBP2P_NETWORKS]
        if not named:
            return
        network = min(named)[1]
        names: dict[str, tuple[int, int]] = {}
        for pair in pairs:
            if pair.name_network and pair.name_network[1] == network:
                for name, at in pair.names.items():
                    names[name] = min(names.get(name, at), at)
        hint = hints.get(network)
        if hint is not None:
            host.rules.update(hint.rules)
            for name, at in hint.names.items():
                names[name] = min(names.get(name, at), at)
        host.protocol = host.network = network
        host.names = set(_first_keys(names, MAX_NODE_NAMES))


def _add_names(names: dict[str, tuple[int, int]], node: dict, seq: int, budget: Budget) -> int:
    """A flow's network names into a pair's or a hint's first ones; how many were lost."""
    lost = 0
    for position, name in enumerate(node.get("names", [])):
        lost += _first_distinct(names, name, (seq, position), MAX_NODE_NAMES, budget)
    return lost


def _local(client: str, server: str, endpoint_flows: Counter[str]) -> str:
    c_private, s_private = _is_private(client), _is_private(server)
    if c_private != s_private:
        return client if c_private else server
    if endpoint_flows[server] > endpoint_flows[client]:
        return server
    return client


def _build_host(ip: str, protocol: str, window_start: float, pairs: list[NodePair]) -> NodeHost:
    """One host from its pairs (in first-flow order), as if built flow by flow."""
    host = NodeHost(ip, protocol, window_start)
    peers: dict[str, list[int]] = {}  # "ip:port" -> [first seq, flows]
    networks: list[tuple[int, str]] = []
    agents: dict[str, int] = {}
    commands: dict[str, tuple[int, int]] = {}
    for pair in pairs:
        r = pair.first
        host.first_seen = min(host.first_seen, pair.first_seen)
        host.last_seen = max(host.last_seen, pair.last_seen)
        host.flow_count += pair.flow_count
        host.ports.update(pair.server_ports)
        host.rules.update(pair.rules)
        local_is_client = r.client_ip == ip
        peer_ip = r.server_ip if local_is_client else r.client_ip
        for port, (seq, flows) in (
            pair.server_ports if local_is_client else pair.client_ports
        ).items():
            entry = peers.setdefault(f"{bracketed(peer_ip)}:{port}", [seq, 0])
            entry[0] = min(entry[0], seq)
            entry[1] += flows
        if pair.network is not None:
            networks.append(pair.network)
        for agent, seq in pair.agents.items():
            agents[agent] = min(agents.get(agent, seq), seq)
        for command, at in pair.commands.items():
            commands[command] = min(commands.get(command, at), at)
        if len(host.flows) < MAX_EVIDENCE_FLOWS:
            host.flows.append(r)
    for name, (_, flows) in sorted(peers.items(), key=lambda item: item[1][0]):
        host.peers[name] = flows  # Counter order = first seen: most_common ties as before
    host.network = min(networks)[1] if networks else None
    host.user_agents = set(_first_keys(agents, MAX_NODE_AGENTS))
    host.commands = set(_first_keys(commands, MAX_NODE_COMMANDS))
    return host


def _first_keys(first_seen: dict[str, int] | dict[str, tuple[int, int]], cap: int) -> Iterable[str]:
    ranked = sorted(first_seen.items(), key=lambda item: item[1])
    return (value for value, _ in ranked[:cap])


@functools.lru_cache(maxsize=8192)
def _is_private(ip: str) -> bool:
    """Whether ``ip`` is private (ipaddress' is_private); remembered, as the same node
    hosts and peers come back flow after flow (an ipaddress object costs ~1 us to build
    and is_private walks a dozen networks), for the 8,192 used last: the memory of a scan
    should not grow with the hosts it has seen (flows.ip_text). An IPv4 address is tested
    against is_private's own networks as integers (_V4_PRIVATE): is_private's walk of
    them, a Python ``in`` per network, was most of the cost of writing the node hosts of
    real traffic, whose peers are mostly new addresses (cProfile)."""
    if _V4_PRIVATE is not None:
        value = _v4_value(ip)  # (None: not IPv4 text, ip_address below says what it is)
        if value is not None:
            networks, exceptions = _V4_PRIVATE
            for network, mask in networks:
                if value & mask == network:
                    break
            else:
                return False
            return all(value & mask != network for network, mask in exceptions)
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False


def _v4_value(ip: str) -> int | None:
    """The value of ``ip`` if it is IPv4 text as IPv4Address takes it - four dot-separated
    ASCII decimal octets of up to three digits, no leading zero, none above 255 - else None
    (IPv4Address refuses it too). Spelled out: building the object, ~1 us, was most of
    _is_private's cost, and real traffic's node peers are mostly new addresses.
    tests/test_node_private.py compares the two."""
    parts = ip.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not (0 < len(part) <= 3 and part.isascii() and part.isdigit()) or (
            part[0] == "0" and part != "0"
        ):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = value << 8 | octet
    return value


def _v4_private() -> tuple[list[tuple[int, int]], list[tuple[int, int]]] | None:
    """The (network, mask) pairs IPv4Address.is_private tests, and those of its
    exceptions (Python 3.11.4+: 192.0.0.9/32 ...), as integers; None if this Python's
    ipaddress keeps them elsewhere (then _is_private asks is_private itself).
    tests/test_nodehosts.py compares the two on the networks' edges and random addresses."""
    constants = getattr(ipaddress.IPv4Address, "_constants", None)
    networks = getattr(constants, "_private_networks", None)
    if not isinstance(networks, list):
        return None
    exceptions = getattr(constants, "_private_networks_exceptions", [])

    def pairs(nets: list[ipaddress.IPv4Network]) -> list[tuple[int, int]]:
        return [(int(n.network_address), int(n.netmask)) for n in nets]

    return pairs(networks), pairs(exceptions)


_V4_PRIVATE = _v4_private()


def node_suspects(hosts: Iterable[NodeHost], window: float) -> SuspectTable:
    """The node hosts as suspects (the site's policy forbids nodes; module docstring) -
    wallets left out - one
    per IP and window: a host that spoke two node protocols in a window is one suspect
    with both. Their score is 0 (no rule weighed any mining evidence); their top rule is
    the host's lowest node rule id, the one its informational alert would have named."""
    table = SuspectTable(window)
    for host in hosts:
        if host.protocol in WALLET_PROTOCOLS:
            continue  # a wallet is no node: never a suspect (WALLET_PROTOCOLS)
        suspect = Suspect(
            ip=host.ip,
            window_start=host.window_start,
            first_seen=host.first_seen,
            last_seen=host.last_seen,
            flow_count=host.flow_count,
            node_flows=host.flow_count,
        )
        suspect.nodes.add(host.protocol)
        for agent in sorted(host.user_agents):
            suspect.agents.add(agent)
        rules = tuple(sorted(host.rules))
        for rule_id in rules:
            suspect.rule_hits[rule_id] += host.flow_count
        # the host's evidence flows (the first flow with each of its first peers), as
        # verdicts of its node rules: what a suspect's evidence is made of
        records = sorted(host.flows, key=lambda r: (r.first_ts, r.flow_id))  # evidence order
        suspect.flows = [Verdict(record, 0.0, False, rules=rules) for record in records]
        key = (host.ip, window_index(host.window_start, window))
        table.merge(SuspectTable(window, by_key={key: suspect}))
    return table
