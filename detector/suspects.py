"""Suspect stage: aggregate miner flows per miner IP and time window.

A suspect is the IP that mines (the client of a miner flow), with its flows as evidence.
Like Zeek's notice suppression, each suspect is reported once per window (default one
hour) with first/last seen, not once per flow or packet. Windows are aligned to the epoch
so the result does not depend on the order in which flows ended - a directory scanned in
parallel aggregates exactly like a serial scan.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass, field

from detector.rules import Rule
from detector.score import Verdict

MAX_EVIDENCE_FLOWS = 50


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
    pools: Counter[str] = field(default_factory=Counter)  # "ip:port" -> flows
    pool_names: set[str] = field(default_factory=set)  # pool-list names ("Nanopool")
    pool_hosts: set[str] = field(default_factory=set)  # SNI, Stratum host, DNS names
    dialects: set[str] = field(default_factory=set)
    coins: set[str] = field(default_factory=set)
    algos: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    logins: set[str] = field(default_factory=set)
    wallets: set[str] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)
    jobs: int = 0
    submits: int = 0
    accepted: int = 0
    reported_hashrate: float | None = None

    def add(self, v: Verdict) -> None:
        r, f = v.record, v.record.facts
        self.first_seen = min(self.first_seen, r.first_ts)
        self.last_seen = max(self.last_seen, r.last_ts)
        self.flow_count += 1
        self.score = max(self.score, v.score)
        for rule in v.rules:
            self.rules[rule.id] = rule
            self.rule_hits[rule.id] += 1
        self.pools[f"{_host(r.server_ip)}:{r.server_port}"] += 1
        self.dialects |= v.dialects
        if f is not None:
            for name, value in (
                ("coins", f.coin),
                ("agents", f.agent),
                ("logins", f.login),
                ("wallets", f.wallet),
                ("workers", f.worker),
            ):
                bag = getattr(self, name)
                if value and len(bag) < 16:
                    bag.add(value)
            if f.algo:
                self.algos.add(f.algo)
            if f.pool.get("name") and f.pool.get("via") != "dns-query":
                self.pool_names.add(f.pool["name"])
            for host in (f.pool_host, f.tls.get("sni"), f.http.get("host"), *f.dns_names[:2]):
                if host and len(self.pool_hosts) < 16:
                    self.pool_hosts.add(host)
            self.jobs += f.jobs
            self.submits += f.submits
            self.accepted += f.accepted
            if f.reported_hashrate is not None:
                self.reported_hashrate = max(self.reported_hashrate or 0.0, f.reported_hashrate)
        self.flows.append(v)
        self.flows.sort(key=_flow_rank)
        del self.flows[MAX_EVIDENCE_FLOWS:]

    @property
    def top(self) -> Verdict:
        return self.flows[0]

    def sort_key(self) -> tuple[float, str]:
        return (self.first_seen, self.ip)


def _flow_rank(v: Verdict) -> tuple[float, float, int]:
    return (-v.score, v.record.first_ts, v.record.flow_id)


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


class SuspectTable:
    """Collects miner verdicts into suspects keyed by (miner IP, window)."""

    def __init__(self, window: float = 3600.0) -> None:
        self.window = window
        self._by_key: dict[tuple[str, int], Suspect] = {}

    def add(self, v: Verdict) -> None:
        if not v.is_miner:
            return
        ip = v.record.client_ip
        index = int(v.record.first_ts // self.window) if self.window > 0 else 0
        key = (ip, index)
        suspect = self._by_key.get(key)
        if suspect is None:
            suspect = self._by_key[key] = Suspect(ip=ip, window_start=index * self.window)
        suspect.add(v)

    def suspects(self) -> list[Suspect]:
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
    flows: list[Verdict] = field(default_factory=list)

    def add(self, v: Verdict, rules: list[Rule]) -> None:
        r, f = v.record, v.record.facts
        self.first_seen = min(self.first_seen, r.first_ts)
        self.last_seen = max(self.last_seen, r.last_ts)
        self.flow_count += 1
        peer = (
            (r.server_ip, r.server_port) if r.client_ip == self.ip else (r.client_ip, r.client_port)
        )
        self.peers[f"{_host(peer[0])}:{peer[1]}"] += 1
        self.ports.add(r.server_port)
        for rule in rules:
            self.rules[rule.id] = rule
        if f is not None:
            self.network = self.network or f.node.get("network")
            agent = f.node.get("user_agent")
            if agent and len(self.user_agents) < 8:
                self.user_agents.add(agent)
            self.commands.update(f.node.get("commands", [])[:16])
        if len(self.flows) < MAX_EVIDENCE_FLOWS:
            self.flows.append(v)

    def sort_key(self) -> tuple[float, str, str]:
        return (self.first_seen, self.ip, self.protocol)


class NodeTable:
    """Informational crypto-node sightings keyed by (host, protocol, window).

    In peer-to-peer traffic both ends are nodes and either may open the connection, so
    the host reported is the local end: the private (RFC 1918/4193) address if exactly one
    end has one, otherwise the end that takes part in more node flows (the node whose
    traffic was captured talks to many peers; each peer is seen once).
    """

    MAX_SIGHTINGS = 200_000

    def __init__(self, window: float = 3600.0) -> None:
        self.window = window
        self._sightings: list[tuple[Verdict, list[Rule]]] = []
        self._endpoint_flows: Counter[str] = Counter()
        self.dropped = 0

    def add(self, v: Verdict) -> None:
        node_rules = [rule for rule in v.info_rules if rule.kind == "node"]
        if not node_rules or v.is_miner or v.record.facts is None:
            return
        if len(self._sightings) >= self.MAX_SIGHTINGS:
            self.dropped += 1
            return
        self._sightings.append((v, node_rules))
        self._endpoint_flows[v.record.client_ip] += 1
        self._endpoint_flows[v.record.server_ip] += 1

    def _local(self, client: str, server: str) -> str:
        c_private, s_private = _is_private(client), _is_private(server)
        if c_private != s_private:
            return client if c_private else server
        if self._endpoint_flows[server] > self._endpoint_flows[client]:
            return server
        return client

    def hosts(self) -> list[NodeHost]:
        by_key: dict[tuple[str, str, int], NodeHost] = {}
        for v, rules in self._sightings:
            r = v.record
            assert r.facts is not None
            protocol = r.facts.node.get("protocol", "unknown")
            ip = self._local(r.client_ip, r.server_ip)
            index = int(r.first_ts // self.window) if self.window > 0 else 0
            key = (ip, protocol, index)
            host = by_key.get(key)
            if host is None:
                host = by_key[key] = NodeHost(ip, protocol, index * self.window)
            host.add(v, rules)
        return sorted(by_key.values(), key=NodeHost.sort_key)


def _is_private(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False
