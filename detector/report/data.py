"""The report as plain data: what ``collect`` and ``summary`` build and every renderer reads.

Plain dataclasses (detector/plain.py round-trips them), so a report can be written as JSON,
built on one machine and rendered on another, and tested without a browser. A fact the
input did not carry is ``None`` - never 0, which would read as a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detector.dialects import POOL_MINER
from detector.energy import EnergyEstimate
from detector.hashrate import HashrateEstimate

UNKNOWN_SPACE = "unknown address space"  # the entity of an IP no owners prefix holds
NOT_AVAILABLE = "not available from this input"


@dataclass(slots=True)
class ReportSuspect:
    """One miner IP over everything the input holds of it (its windows merged: a rate and
    an energy per day are per miner, not per reporting window)."""

    ip: str
    first_seen: float
    last_seen: float
    windows: int = 1  # reporting windows of the input merged into this row
    # what the host is (dialects.role_of, EVE mining_role, the store's role): pool-miner,
    # solo-miner, storage-farmer, or crypto-node (a node host made a suspect by policy)
    role: str = POOL_MINER
    nodes: list[str] = field(default_factory=list)  # that node host's protocols
    flows: int = 0
    score: float = 0.0
    dialects: list[str] = field(default_factory=list)  # the strongest flow's first
    coins: list[str] = field(default_factory=list)
    algos: list[str] = field(default_factory=list)
    pool_names: list[str] = field(default_factory=list)  # from the pool lists
    pool_hosts: list[str] = field(default_factory=list)  # SNI, Stratum host, DNS names
    pool_endpoints: list[str] = field(default_factory=list)  # "ip:port", most flows first
    agents: list[str] = field(default_factory=list)
    wallets: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    jobs: int = 0
    submits: int = 0
    accepted: int = 0
    reported_hashrate: float | None = None  # what the miner said of itself (H/s)
    hashrate: HashrateEstimate | None = None
    energy: EnergyEstimate | None = None
    evidence: list[str] = field(default_factory=list)  # notes of the strongest flow
    rules: list[int] = field(default_factory=list)  # miner rules that fired, ascending
    rule_names: list[str] = field(default_factory=list)  # "id name", same order
    model_score: float | None = None  # the flow model's score of the strongest flow
    model_fired: bool = False  # a rule of the flow model fired
    # jobs and shares over time: (bucket start, bucket seconds, jobs, shares); None when
    # the input does not carry it (the store; EVE lines of an older minewatch) or nobody
    # could read them (TLS)
    activity: list[tuple[float, float, int, int]] | None = None
    spans: list[tuple[float, float]] = field(default_factory=list)  # evidence flows' spans
    # the owner, filled by summary.py from the owners map
    entity: str = UNKNOWN_SPACE
    department: str = ""
    contact: str = ""

    @property
    def algo(self) -> str:
        """What its hashrate counts: the algorithm, else the coin, else unknown."""
        if self.energy is not None and self.energy.algo:
            return self.energy.algo
        return (self.algos or self.coins or ["unknown algorithm"])[0]


@dataclass(slots=True)
class Collected:
    """What an input gave: its suspects and, where the input saw the traffic itself, the
    screened hosts (distinct internal hosts seen; None for EVE lines and the store)."""

    source: str  # what was read, for the report's header
    suspects: list[ReportSuspect]
    screened: int | None = None
    screened_overflow: int = 0  # hosts past the screened list's cap (counted, not listed)

    @property
    def activity_available(self) -> bool:
        """Did the input carry any miner's jobs and shares over time?"""
        return any(s.activity is not None for s in self.suspects)


@dataclass(slots=True)
class RateSum:
    """Hashrates of one algorithm added up (H/s of different algorithms do not add)."""

    algo: str
    hs: float  # sum of the best estimates
    low: float  # sum of the interval bounds (a suspect without one adds its estimate)
    high: float
    known: int  # suspects with an estimate
    unknown: int  # suspects of this algorithm whose rate is unknown


@dataclass(slots=True)
class EntityRow:
    """One owner (or the unknown address space) and its miners."""

    entity: str
    departments: list[str]
    contacts: list[str]
    ips: list[str]
    coins: list[str]
    pools: list[str]
    rates: list[RateSum]
    kwh_day_low: float
    kwh_day_high: float
    energy_unknown: int  # miners without an energy estimate
    known: bool  # False for the unknown address space


@dataclass(slots=True)
class Summary:
    """The report's headline: N screened, M mining, K entities, coins, pools, power."""

    screened: int | None  # None: not available from this input
    screened_overflow: int
    mining_ips: int  # distinct suspect IPs, crypto nodes (by site policy) apart
    entities: int  # owners with at least one miner (the unknown space not counted)
    unknown_ips: int  # mining IPs in no owners prefix
    coins: list[str]
    pools: list[str]  # distinct pool endpoints ("ip:port")
    pool_names: list[str]
    kwh_day_low: float
    kwh_day_high: float
    energy_unknown: int  # mining IPs without an energy estimate
    first_seen: float | None
    last_seen: float | None
    # suspects of role crypto-node only (scan --nodes-as-suspects: the site's policy
    # forbids nodes); not in mining_ips, nor among those without an energy estimate
    node_ips: int = 0


@dataclass(slots=True)
class Report:
    """Everything a renderer needs."""

    source: str
    owners: str  # the owners file used, or a note that none was
    generated: float  # when the report was made (epoch seconds)
    summary: Summary
    entities: list[EntityRow]
    suspects: list[ReportSuspect]
    activity_available: bool
