"""Suspect stage: aggregate miner flows per miner IP and time window.

A suspect is the IP that mines (the client of a miner flow), with its flows as evidence.
Like Zeek's notice suppression, each suspect is reported once per window (default one
hour) with first/last seen, not once per flow or packet. Windows are aligned to the epoch
so the result does not depend on the order in which flows ended - a directory scanned in
parallel aggregates exactly like a serial scan.

Memory does not grow with the number of flows: a suspect keeps its strongest
MAX_EVIDENCE_FLOWS flows and bounded bags of names, and the node table keeps compact
per-pair aggregates within a fixed entry budget (NodeTable). Each capture is aggregated
into its own tables (``add``, one flow at a time), which the run then ``merge``s in input
order; merging gives exactly what adding every flow to one table would give (see
``Suspect.merge`` and ``NodeTable.merge`` for the only exceptions, past the caps).
"""

from __future__ import annotations

import bisect
import ipaddress
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from detector.flows import FlowRecord
from detector.rules import Rule
from detector.score import Verdict

MAX_EVIDENCE_FLOWS = 50
MAX_BAG = 16  # distinct agents, wallets, logins, workers, coins, algos, pool hosts
MAX_POOL_ENDPOINTS = 256  # distinct "ip:port" a suspect's flows went to


class Bag:
    """A set of at most ``cap`` strings: the first distinct ones added, in that order.

    Ordered rather than a ``set`` so that merging bags is exact: adding another bag's
    values in *its* order keeps exactly the values that adding the underlying flows one by
    one would have kept, even once the cap is reached. A list: with at most ``cap``
    values a scan is as quick as a hash, and a suspect's seven bags, mostly of one value,
    take a third of the memory dicts did. Iterates like a set; sinks sort it anyway."""

    __slots__ = ("cap", "_items")

    def __init__(self, cap: int = MAX_BAG) -> None:
        self.cap = cap
        self._items: list[str] = []

    def add(self, value: str | None) -> None:
        if value and value not in self._items and len(self._items) < self.cap:
            self._items.append(value)

    def merge(self, other: Bag) -> None:
        for value in other._items:
            if len(self._items) >= self.cap:
                return
            self.add(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, value: object) -> bool:
        return value in self._items

    def __repr__(self) -> str:
        return f"Bag({self._items!r})"


@dataclass(slots=True)
class Suspect:
    """One miner IP in one reporting window."""

    ip: str
    window_start: float
    first_seen: float = float("inf")
    last_seen: float = float("-inf")
    flow_count: int = 0
    score: float = 0.0
    flows: list[Verdict] = field(default_factory=list)  # strongest first, bounded
    rules: dict[int, Rule] = field(default_factory=dict)
    rule_hits: Counter[int] = field(default_factory=Counter)
    pools: Counter[str] = field(default_factory=Counter)  # "ip:port" -> flows, bounded
    pool_names: set[str] = field(default_factory=set)  # pool-list names (a fixed list)
    pool_hosts: Bag = field(default_factory=Bag)  # SNI, Stratum host, DNS names
    dialects: set[str] = field(default_factory=set)  # dissector and rule names: fixed
    coins: Bag = field(default_factory=Bag)
    algos: Bag = field(default_factory=Bag)
    agents: Bag = field(default_factory=Bag)
    logins: Bag = field(default_factory=Bag)
    wallets: Bag = field(default_factory=Bag)
    workers: Bag = field(default_factory=Bag)
    jobs: int = 0
    submits: int = 0
    accepted: int = 0
    reported_hashrate: float | None = None

    def add(self, v: Verdict) -> None:
        """Account for one more miner flow."""
        r, f = v.record, v.record.facts
        self.first_seen = min(self.first_seen, r.first_ts)
        self.last_seen = max(self.last_seen, r.last_ts)
        self.flow_count += 1
        self.score = max(self.score, v.score)
        for rule in v.rules:
            self.rules[rule.id] = rule
            self.rule_hits[rule.id] += 1
        self._count_pool(f"{_host(r.server_ip)}:{r.server_port}", 1)
        self.dialects |= v.dialects
        if f is not None:
            self.coins.add(f.coin)
            self.agents.add(f.agent)
            self.logins.add(f.login)
            self.wallets.add(f.wallet)
            self.workers.add(f.worker)
            self.algos.add(f.algo)
            if f.pool.get("name") and f.pool.get("via") != "dns-query":
                self.pool_names.add(f.pool["name"])
            for host in (f.pool_host, f.tls.get("sni"), f.http.get("host"), *f.dns_names[:2]):
                self.pool_hosts.add(host)
            self.jobs += f.jobs
            self.submits += f.submits
            self.accepted += f.accepted
            if f.reported_hashrate is not None:
                self.reported_hashrate = max(self.reported_hashrate or 0.0, f.reported_hashrate)
        self._keep_evidence(v)

    def merge(self, other: Suspect) -> None:
        """Fold in a suspect of the same key aggregated from later flows (a later capture).

        Exactly what adding ``other``'s flows one by one would give: min/max/sums are
        associative, the top MAX_EVIDENCE_FLOWS of both lists are the top of all flows
        (the rank is a total order; ties keep the earlier flow first, as ``add`` does), and
        bags keep insertion order (see Bag). The one exception is past the pool cap: once
        MAX_POOL_ENDPOINTS endpoints are tracked, flows that ``other`` could not track to
        one of them (its own cap was full) are missing from that endpoint's count."""
        self.first_seen = min(self.first_seen, other.first_seen)
        self.last_seen = max(self.last_seen, other.last_seen)
        self.flow_count += other.flow_count
        self.score = max(self.score, other.score)
        self.rules.update(other.rules)
        self.rule_hits.update(other.rule_hits)
        for endpoint, flows in other.pools.items():
            self._count_pool(endpoint, flows)
        self.pool_names |= other.pool_names
        self.dialects |= other.dialects
        for name in ("pool_hosts", "coins", "algos", "agents", "logins", "wallets", "workers"):
            getattr(self, name).merge(getattr(other, name))
        self.jobs += other.jobs
        self.submits += other.submits
        self.accepted += other.accepted
        if other.reported_hashrate is not None:
            self.reported_hashrate = max(self.reported_hashrate or 0.0, other.reported_hashrate)
        merged = sorted(self.flows + other.flows, key=_flow_rank)  # stable: ours first on ties
        self.flows = merged[:MAX_EVIDENCE_FLOWS]

    def _count_pool(self, endpoint: str, flows: int) -> None:
        if endpoint in self.pools or len(self.pools) < MAX_POOL_ENDPOINTS:
            self.pools[endpoint] += flows

    def _keep_evidence(self, v: Verdict) -> None:
        """Insert by rank after equal ranks (as append + stable sort would), keep the top."""
        if len(self.flows) >= MAX_EVIDENCE_FLOWS and _flow_rank(v) >= _flow_rank(self.flows[-1]):
            return
        bisect.insort_right(self.flows, _stowed(v), key=_flow_rank)
        del self.flows[MAX_EVIDENCE_FLOWS:]

    @property
    def top(self) -> Verdict:
        return self.flows[0]

    def sort_key(self) -> tuple[float, str]:
        return (self.first_seen, self.ip)


def _stowed(v: Verdict) -> Verdict:
    """A copy of an evidence verdict whose facts drop their empty containers
    (FlowFacts.stow): a run with hundreds of suspects keeps their evidence flows to the
    end, and the empty containers were a third of each. ``SuspectTable.suspects`` hands
    them out whole again. A copy, so that whoever else holds the verdict (the flow log)
    sees it unchanged."""
    facts = v.record.facts
    if facts is None:
        return v
    return replace(v, record=replace(v.record, facts=replace(facts).stow()))


def _flow_rank(v: Verdict) -> tuple[float, float, int]:
    return (-v.score, v.record.first_ts, v.record.flow_id)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _window_index(ts: float, window: float) -> int:
    return int(ts // window) if window > 0 else 0


class SuspectTable:
    """Collects miner verdicts into suspects keyed by (miner IP, window)."""

    def __init__(self, window: float = 3600.0) -> None:
        self.window = window
        self._by_key: dict[tuple[str, int], Suspect] = {}

    def add(self, v: Verdict) -> None:
        if not v.is_miner:
            return
        ip = v.record.client_ip
        index = _window_index(v.record.first_ts, self.window)
        key = (ip, index)
        suspect = self._by_key.get(key)
        if suspect is None:
            suspect = self._by_key[key] = Suspect(ip=ip, window_start=index * self.window)
        suspect.add(v)

    def merge(self, other: SuspectTable) -> None:
        """Fold in the table of a later capture (``other`` is consumed: its suspects may be
        taken over as they are)."""
        if other.window != self.window:
            raise ValueError(f"window {other.window} differs from {self.window}")
        for key, suspect in other._by_key.items():
            mine = self._by_key.get(key)
            if mine is None:
                self._by_key[key] = suspect
            else:
                mine.merge(suspect)

    def suspects(self) -> list[Suspect]:
        """The suspects in report order, their evidence facts whole (see _stowed)."""
        for suspect in self._by_key.values():
            for v in suspect.flows:
                if v.record.facts is not None:
                    v.record.facts.unstow()
        return sorted(self._by_key.values(), key=Suspect.sort_key)

    def ips(self) -> set[str]:
        return {ip for ip, _ in self._by_key}


@dataclass(slots=True)
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
    rules: dict[int, Rule] = field(default_factory=dict)
    # The first flow with each of the host's first MAX_EVIDENCE_FLOWS peers (client/server
    # pairs), in capture order, without their facts (the host keeps what it needs of them).
    flows: list[FlowRecord] = field(default_factory=list)

    def sort_key(self) -> tuple[float, str, str]:
        return (self.first_seen, self.ip, self.protocol)


MAX_NODE_AGENTS = 8  # distinct user agents per node host
MAX_NODE_COMMANDS = 64  # distinct protocol commands per node host
COMMANDS_PER_FLOW = 16


class _Budget:
    """Entries a NodeTable may still create (pairs, ports, agents, commands)."""

    __slots__ = ("left",)

    def __init__(self, entries: int) -> None:
        self.left = entries

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
    rules: dict[int, Rule] = field(default_factory=dict)
    network: tuple[int, str] | None = None  # (seq, network) of the first flow naming one
    agents: dict[str, int] = field(default_factory=dict)  # agent -> seq, first ones
    commands: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (seq, position)

    def add(self, seq: int, v: Verdict, rules: list[Rule], budget: _Budget) -> int:
        """Account for one flow; returns how many details the budget could not hold."""
        r, f = v.record, v.record.facts
        assert f is not None
        self.first_seen = min(self.first_seen, r.first_ts)
        self.last_seen = max(self.last_seen, r.last_ts)
        self.flow_count += 1
        lost = _count_port(self.server_ports, r.server_port, seq, 1, budget)
        lost += _count_port(self.client_ports, r.client_port, seq, 1, budget)
        for rule in rules:
            self.rules[rule.id] = rule
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
        return lost

    def absorb(self, other: NodePair, offset: int, budget: _Budget) -> int:
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
        if self.network is None and other.network is not None:
            self.network = (other.network[0] + offset, other.network[1])
        for agent, seq in other.agents.items():
            lost += _first_distinct(self.agents, agent, seq + offset, MAX_NODE_AGENTS, budget)
        for command, (seq, position) in other.commands.items():
            lost += _first_distinct(
                self.commands, command, (seq + offset, position), MAX_NODE_COMMANDS, budget
            )
        return lost


def _count_port(ports: dict[int, list[int]], port: int, seq: int, flows: int, b: _Budget) -> int:
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
    budget: _Budget,
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


class NodeTable:
    """Informational crypto-node sightings keyed by (host, protocol, window).

    In peer-to-peer traffic both ends are nodes and either may open the connection, so
    the host reported is the local end: the private (RFC 1918/4193) address if exactly one
    end has one, otherwise the end that takes part in more node flows (the node whose
    traffic was captured talks to many peers; each peer is seen once). That needs the
    whole run's counts, so flows are kept as compact per (client, server, protocol,
    window) pairs until ``hosts()`` assigns each pair to its host.

    Bounded: a table holds at most MAX_ENTRIES entries - a pair, or a port, user agent or
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

    MAX_ENTRIES = 100_000

    def __init__(self, window: float = 3600.0) -> None:
        self.window = window
        self._pairs: dict[tuple[str, str, str, int], NodePair] = {}  # in first-flow order
        self._seq = 0  # node flows seen (numbering for order-dependent details)
        self._budget = _Budget(self.MAX_ENTRIES)
        self.dropped = 0
        self.details_dropped = 0

    def add(self, v: Verdict) -> None:
        node_rules = [rule for rule in v.info_rules if rule.kind == "node"]
        r = v.record
        if not node_rules or v.is_miner or r.facts is None:
            return
        seq = self._seq
        self._seq += 1
        protocol = r.facts.node.get("protocol", "unknown")
        key = (r.client_ip, r.server_ip, protocol, _window_index(r.first_ts, self.window))
        pair = self._pairs.get(key)
        if pair is None:
            if not self._budget.take():
                self.dropped += 1
                return
            pair = self._pairs[key] = NodePair(seq, replace(r, facts=None))
        self.details_dropped += pair.add(seq, v, node_rules, self._budget)

    def merge(self, other: NodeTable) -> None:
        """Fold in the table of a later capture; its flows come after all of ours."""
        if other.window != self.window:
            raise ValueError(f"window {other.window} differs from {self.window}")
        offset = self._seq
        for key, theirs in other._pairs.items():
            mine = self._pairs.get(key)
            if mine is None:
                if not self._budget.take():
                    self.dropped += theirs.flow_count
                    continue
                mine = self._pairs[key] = NodePair(theirs.first_seq + offset, theirs.first)
            self.details_dropped += mine.absorb(theirs, offset, self._budget)
        self._seq += other._seq
        self.dropped += other.dropped
        self.details_dropped += other.details_dropped

    def hosts(self) -> list[NodeHost]:
        endpoint_flows: Counter[str] = Counter()
        for (client, server, _, _), pair in self._pairs.items():
            endpoint_flows[client] += pair.flow_count
            endpoint_flows[server] += pair.flow_count
        groups: dict[tuple[str, str, int], list[NodePair]] = {}
        for (client, server, protocol, index), pair in self._pairs.items():
            ip = _local(client, server, endpoint_flows)
            groups.setdefault((ip, protocol, index), []).append(pair)
        hosts = [
            _build_host(ip, protocol, index * self.window, pairs)
            for (ip, protocol, index), pairs in groups.items()
        ]
        return sorted(hosts, key=NodeHost.sort_key)


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
            entry = peers.setdefault(f"{_host(peer_ip)}:{port}", [seq, 0])
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


def _is_private(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False
