"""Suspect stage: aggregate miner flows per miner IP and time window.

A suspect is the IP that mines (the client of a miner flow), with its flows as evidence.
Like Zeek's notice suppression, each suspect is reported once per window (default one
hour) with first/last seen, not once per flow or packet. Windows are aligned to the epoch
so the result does not depend on the order in which flows ended - a directory scanned in
parallel aggregates exactly like a serial scan.
"""

from __future__ import annotations

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
    pool_names: set[str] = field(default_factory=set)
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
        if f is not None:
            self.dialects |= f.dialects
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
            if f.pool_host:
                self.pool_names.add(f.pool_host)
            sni = f.tls.get("sni")
            if sni:
                self.pool_names.add(sni)
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
