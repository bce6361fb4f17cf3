"""Suspect stage: aggregate miner flows per miner IP and time window.

A suspect is the IP that mines (the client of a miner flow), with its flows as evidence.
Like Zeek's notice suppression, each suspect is reported once per window (default one
hour) with first/last seen, not once per flow or packet. Windows are aligned to the epoch
so the result does not depend on the order in which flows ended - a directory scanned in
parallel aggregates exactly like a serial scan.

Memory does not grow with the number of flows: a suspect keeps its strongest
MAX_EVIDENCE_FLOWS flows and bounded bags of names. Each capture is aggregated into its
own table (``add``, one flow at a time, which says when a suspect is new so that a live
sink can alert at once), which the run then ``merge``s in input order; merging gives
exactly what adding every flow to one table would give (see ``Suspect.merge`` for the only
exception, past the caps). Everything here is plain data (rules by id), so a table
crosses a process or a machine as it is. Crypto-node sightings, the other aggregate, are
in nodehosts.py.
"""

from __future__ import annotations

import bisect
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from detector import activity, plain
from detector.dialects import MINING_DIALECTS, role_of
from detector.facts import FlowFacts, intern
from detector.flows import FlowRecord
from detector.score import Verdict
from detector.spill import Spilled, spill

MAX_EVIDENCE_FLOWS = 50
MAX_BAG = 16  # distinct agents, wallets, logins, workers, coins, algos, pool hosts
MAX_POOL_ENDPOINTS = 256  # distinct "ip:port" a suspect's flows went to
MAX_WORK_KINDS = 32  # distinct (dialect, kind of difficulty, coin) of a suspect's shares
MAX_SPANS = 64  # disjoint stretches of time a suspect's share-carrying flows ran in
# Kinds of share work (FlowFacts.work_*): hashes said by the job's target, the pool's
# difficulty units, or shares without a known difficulty.
WORK_HASHES = "hashes"
WORK_DIFF = "diff"
WORK_NONE = "none"


class Bag(list[str]):
    """A set of at most MAX_BAG strings: the first distinct ones added, in that order.

    Ordered rather than a ``set`` so that merging bags is exact: adding another bag's
    values in *its* order keeps exactly the values that adding the underlying flows one by
    one would have kept, even once the cap is reached. A list itself: with at most
    MAX_BAG values a scan is as quick as a hash, a suspect has seven of them, and a
    farm has tens of thousands of suspects (a list object is a third of a dict's size,
    half of a wrapper holding a list). Iterates like a set; sinks sort it anyway."""

    __slots__ = ()
    cap = MAX_BAG

    def add(self, value: str | None) -> None:
        if value and value not in self and len(self) < self.cap:
            self.append(intern(value))

    def merge(self, other: Bag) -> None:
        for value in other:
            if len(self) >= self.cap:
                return
            self.add(value)


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class ShareWork:
    """The shares of a suspect's flows of one kind (``Suspect.work``): what they are worth
    together (hashes, or difficulty units), how many, from how many flows, and when those
    flows ran - the union of their times, so that a miner that reconnects after a pause
    is not taken to have mined in it, and concurrent flows count their time once. Sums,
    maxima and unions: merging is exact, up to ``MAX_SPANS`` disjoint stretches (past it
    the shortest gap is filled: a miner reconnecting over and over). hashrate.py turns
    it into a hashrate (docs/ARCHITECTURE.md §13)."""

    amount: float = 0.0  # hashes or difficulty units (WORK_NONE: 0)
    shares: int = 0
    square: float = 0.0  # sum of each share's amount squared
    top: float = 0.0  # the largest share's amount
    flows: int = 0
    first: float = float("inf")  # first packet of the first of those flows
    last: float = float("-inf")  # last packet of the last
    cut: int = 0  # flows whose shares stopped being counted early (FlowFacts.shares_cut)
    spans: list[tuple[float, float]] = field(default_factory=list)  # disjoint, sorted

    def add(
        self, amount: float, shares: int, square: float, top: float, first: float, last: float,
        cut: bool,
    ) -> None:  # fmt: skip
        self.amount += amount
        self.shares += shares
        self.square += square
        self.top = max(self.top, top)
        self.flows += 1
        self.first = min(self.first, first)
        self.last = max(self.last, last)
        self.cut += cut
        self.spans = union_spans(self.spans, [(first, last)])

    def merge(self, other: ShareWork) -> None:
        self.amount += other.amount
        self.shares += other.shares
        self.square += other.square
        self.top = max(self.top, other.top)
        self.flows += other.flows
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.cut += other.cut
        self.spans = union_spans(self.spans, other.spans)


def union_spans(
    mine: list[tuple[float, float]], theirs: list[tuple[float, float]], cap: int = MAX_SPANS
) -> list[tuple[float, float]]:
    """The union of two lists of (start, end) stretches as disjoint sorted stretches; past
    ``cap`` the shortest gaps are filled (the earliest first on ties)."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(mine + theirs):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    while len(out) > cap:
        k = min(range(len(out) - 1), key=lambda i: out[i + 1][0] - out[i][1])
        out[k : k + 2] = [(out[k][0], out[k + 1][1])]
    return out


def work_key(dialect: str, kind: str, label: str = "") -> str:
    """``Suspect.work``'s key: "dialect|kind|label" (label: the coin or algorithm whose
    hash count a difficulty unit needs; empty for the other kinds)."""
    return f"{dialect}|{kind}|{label}"


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class Suspect:
    """One miner IP in one reporting window."""

    ip: str
    window_start: float
    first_seen: float = float("inf")
    last_seen: float = float("-inf")
    flow_count: int = 0
    score: float = 0.0
    flows: list[Verdict] = field(default_factory=list)  # strongest first, bounded
    rule_hits: Counter[int] = field(default_factory=Counter)  # miner rule id -> flows
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
    # jobs and shares over time: (bucket start, epoch s; bucket width, s; jobs; shares),
    # bounded and mergeable (activity.py)
    activity: list[tuple[float, float, int, int]] = field(default_factory=list)
    # what its flows' shares are worth, by work_key (hashrate.py reads it), bounded
    work: dict[str, ShareWork] = field(default_factory=dict)
    unread_flows: int = 0  # miner flows whose messages could not be read (TLS, binary)
    # A crypto-node host made a suspect by the site's policy (nodehosts.node_suspects):
    # its node protocols (nodehosts.PROTOCOLS, a fixed vocabulary) and how many of
    # ``flow_count`` were node flows; empty and 0 for a miner
    nodes: Bag = field(default_factory=Bag)
    node_flows: int = 0

    def add(self, v: Verdict, shared: bool = False) -> None:
        """Account for one more miner flow (``shared``: someone else keeps the verdict
        too, so evidence takes a copy of it; see _stowed)."""
        r, f = v.record, v.record.facts
        self.first_seen = min(self.first_seen, r.first_ts)
        self.last_seen = max(self.last_seen, r.last_ts)
        self.flow_count += 1
        self.score = max(self.score, v.score)
        for rule_id in v.rules:
            self.rule_hits[rule_id] += 1
        self._count_pool(intern(f"{bracketed(r.server_ip)}:{r.server_port}"), 1)
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
            if f.activity:
                self.activity = activity.merge(self.activity, f.activity, activity.SUSPECT_CAP)
        self._add_work(f, r.first_ts, r.last_ts)
        self._keep_evidence(v, shared)

    def _add_work(self, f: FlowFacts | None, first: float, last: float) -> None:
        """Account for what a miner flow's shares are worth (FlowFacts.work_*), by kind."""
        dialect = _share_dialect(f)
        if f is None or dialect is None:
            self.unread_flows += 1
            return
        cut = f.shares_cut
        if f.hash_shares:
            self._work(work_key(dialect, WORK_HASHES)).add(
                f.work_hashes, f.hash_shares, f.hashes_sq, f.hashes_max, first, last, cut
            )
        if f.diff_shares:
            label = f.coin or f.algo or "?"
            self._work(work_key(dialect, WORK_DIFF, label)).add(
                f.work_diff, f.diff_shares, f.diff_sq, f.diff_max, first, last, cut
            )
        unrated = f.submits - f.hash_shares - f.diff_shares
        if unrated > 0 or not (f.hash_shares or f.diff_shares):
            self._work(work_key(dialect, WORK_NONE)).add(
                0.0, max(unrated, 0), 0.0, 0.0, first, last, cut
            )

    def merge_work(self, work: dict[str, ShareWork], unread_flows: int) -> None:
        """Fold in the share work of other flows of this suspect (``Suspect.work``)."""
        for key, part in work.items():
            self._work(key).merge(part)
        self.unread_flows += unread_flows

    def _work(self, key: str) -> ShareWork:
        found = self.work.get(key)
        if found is None:
            if len(self.work) >= MAX_WORK_KINDS:  # only forged input has so many
                dialect, kind, _ = key.split("|", 2)
                key = work_key(dialect, kind, "other")
                found = self.work.get(key)
            if found is None:
                found = self.work[intern(key)] = ShareWork()
        return found

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
        self.activity = activity.merge(self.activity, other.activity, activity.SUSPECT_CAP)
        self.merge_work(other.work, other.unread_flows)
        self.nodes.merge(other.nodes)
        self.node_flows += other.node_flows
        merged = sorted(self.flows + other.flows, key=_flow_rank)  # stable: ours first on ties
        self.flows = merged[:MAX_EVIDENCE_FLOWS]

    def _count_pool(self, endpoint: str, flows: int) -> None:
        if endpoint in self.pools or len(self.pools) < MAX_POOL_ENDPOINTS:
            self.pools[endpoint] += flows

    def _keep_evidence(self, v: Verdict, shared: bool) -> None:
        """Insert by rank after equal ranks (as append + stable sort would), keep the top."""
        if len(self.flows) >= MAX_EVIDENCE_FLOWS and _flow_rank(v) >= _flow_rank(self.flows[-1]):
            return
        bisect.insort_right(self.flows, _stowed(v, shared), key=_flow_rank)
        del self.flows[MAX_EVIDENCE_FLOWS:]

    @property
    def top(self) -> Verdict:
        return self.flows[0]

    @property
    def role(self) -> str:
        """What the host is (dialects.role_of): a miner's role, or ``crypto-node`` when
        all its flows were a node's (a suspect by the site's policy)."""
        node_only = self.node_flows > 0 and self.node_flows >= self.flow_count
        return role_of(self.dialects, bool(self.pool_names), node_only)

    @property
    def rules(self) -> list[int]:
        """Ids of the miner rules that fired on its flows, ascending (a node host made a
        suspect by the site's policy: its node rules)."""
        return sorted(self.rule_hits)

    def sort_key(self) -> tuple[float, str]:
        return (self.first_seen, self.ip)

    def unstow(self) -> Suspect:
        """Its evidence facts whole again, as sinks read them (see _stowed)."""
        for v in self.flows:
            if v.record.facts is not None:
                v.record.facts.unstow()
        return self


def _share_dialect(f: FlowFacts | None) -> str | None:
    """The mining dialect a flow's facts read (the first in report order), if any."""
    if f is None or not f.dialects:
        return None
    for dialect in MINING_DIALECTS:
        if dialect in f.dialects:
            return dialect
    return None


def _stowed(v: Verdict, shared: bool) -> Verdict:
    """An evidence verdict whose facts drop their empty containers and share their
    strings with every other flow's (FlowFacts.stow): a run keeps its suspects' evidence to
    the end, and a farm has tens of thousands of suspects. ``SuspectTable.suspects`` hands
    them out whole again. Its record's behaviour tuple goes (38 numbers, ~0.7 KB: the flow
    was scored already, and no sink writes it from evidence). A copy when the verdict is
    ``shared`` (the flow log keeps every verdict), so that its holder sees it unchanged."""
    record = v.record
    facts = record.facts
    if facts is None and record.behaviour is None:
        return v
    if shared:
        facts = replace(facts) if facts is not None else None
        v = replace(v, record=replace(record, facts=facts, behaviour=None))
    else:
        record.behaviour = None
    if facts is not None:
        facts.activity = None  # the suspect's timeline holds it (the flow log its own copy)
        facts.stow()
    return v


def _flow_rank(v: Verdict) -> tuple[float, float, int]:
    return (-v.score, v.record.first_ts, v.record.flow_id)


def bracketed(ip: str) -> str:
    """An address as it stands before ":port" (IPv6 in brackets)."""
    return f"[{ip}]" if ":" in ip else ip


def window_index(ts: float, window: float) -> int:
    """Which reporting window a time falls in (windows aligned to the epoch)."""
    return int(ts // window) if window > 0 else 0


# Suspects kept as objects at once; the others are packed (see SuspectTable).
HOT_SUSPECTS = 2048
# Suspects kept as objects before ``settle`` packs those of windows that are over (~2 MB;
# a 1 M-packet capture of the bench's real traffic has 124): short scans pay nothing.
SETTLED_HOT = 256


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class Packed:
    """A suspect not touched lately, as compressed plain JSON (~1 KB at zlib level 1,
    _zdict's measure, instead of ~4 KB as objects) in the spill file (spill.py: not the
    process's memory), with what report order needs without unpacking it."""

    first_seen: float
    blob: Spilled


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class SuspectTable:
    """Collects miner verdicts into suspects keyed by (miner IP, window).

    Memory stays bounded however many suspects there are (a farm, or an attacker forging
    miners from spoofed addresses): the HOT_SUSPECTS most recently touched are objects,
    the others are packed (``Packed``) and unpacked when a flow touches them again, when
    tables merge or when a sink reads them one at a time (``stream``). Packing goes
    through the plain-data codec, so it is exact: the output is the same as with every
    suspect kept whole."""

    window: float = 3600.0
    by_key: dict[tuple[str, int], Suspect] = field(default_factory=dict)  # least recent first
    packed: dict[tuple[str, int], Packed] = field(default_factory=dict)
    shared_verdicts: bool = False  # the caller keeps the verdicts it adds (see _stowed)

    def add(self, v: Verdict) -> Suspect | None:
        """Account for a miner flow; the suspect if this flow made it (a new IP, or a new
        window of a known one: what a live sink alerts on), else None."""
        if not v.is_miner:
            return None
        key = self.key(v.record)
        suspect, created = self._take(key), False
        if suspect is None:
            suspect, created = Suspect(ip=key[0], window_start=key[1] * self.window), True
        suspect.add(v, self.shared_verdicts)
        self._keep(key, suspect)
        return suspect if created else None

    def merge(self, other: SuspectTable) -> None:
        """Fold in the table of a later capture (``other`` is consumed: its suspects may be
        taken over as they are)."""
        if other.window != self.window:
            raise ValueError(f"window {other.window} differs from {self.window}")
        for key, theirs in other.packed.items():
            if key in self.by_key or key in self.packed:
                self._merge_one(key, _unpack_freed(theirs))
            else:
                self.packed[key] = theirs
        for key, suspect in other.by_key.items():
            self._merge_one(key, suspect)

    def _merge_one(self, key: tuple[str, int], theirs: Suspect) -> None:
        mine = self._take(key)
        if mine is not None:
            mine.merge(theirs)
        self._keep(key, mine or theirs)

    def _take(self, key: tuple[str, int]) -> Suspect | None:
        """The suspect of ``key`` as an object, out of the table (``_keep`` puts it back)."""
        suspect = self.by_key.pop(key, None)
        if suspect is None:
            packed = self.packed.pop(key, None)
            if packed is not None:
                suspect = _unpack_freed(packed)
        return suspect

    def _keep(self, key: tuple[str, int], suspect: Suspect) -> None:
        self.by_key[key] = suspect  # the most recent now
        if len(self.by_key) > HOT_SUSPECTS:
            oldest = next(iter(self.by_key))
            self.packed[oldest] = _pack(self.by_key.pop(oldest))

    def __len__(self) -> int:
        return len(self.by_key) + len(self.packed)

    def key(self, record: FlowRecord) -> tuple[str, int]:
        """The (miner IP, window index) a miner flow counts under."""
        return record.client_ip, window_index(record.first_ts, self.window)

    def __contains__(self, key: tuple[str, int]) -> bool:
        """Is there a suspect for (IP, window index)?"""
        return key in self.by_key or key in self.packed

    def settle(self, before: int) -> None:
        """Pack the suspects of windows before index ``before`` (windows that are over: a
        scan keeps them for its report at the end). Why: a scan of weeks of traffic holds
        one suspect per miner and hour; as objects they would grow its memory with the
        time the capture covers (~8 KB each with their evidence), packed they are ~1 KB in
        the spill file (spill.py). Only past SETTLED_HOT objects, and then every window that
        is over. Exact (the codec round-trips), so the report is the same; a late flow of
        such a window unpacks its suspect again (``_take``)."""
        if len(self.by_key) <= SETTLED_HOT:
            return  # as many as a short capture holds: not worth the packing
        old = [k for k in self.by_key if k[1] < before]
        for key in old:
            self.packed[key] = _pack(self.by_key.pop(key))

    def retire(self, before: int) -> list[Suspect]:
        """Take out the suspects of windows before index ``before``, whole. A sensor runs
        for weeks: a window that is over was told of and stored, and keeping it would
        make the table grow with time (a scan keeps everything for its final report)."""
        old = [k for k in self.by_key if k[1] < before]
        old_packed = [k for k in self.packed if k[1] < before]
        done = [self.by_key.pop(k).unstow() for k in old]
        done += [_unpack_freed(self.packed.pop(k)).unstow() for k in old_packed]
        return done

    def stream(self, key: Callable[[float, str], Any] | None = None) -> Iterator[Suspect]:
        """The suspects in report order (by first seen, then IP, or by ``key(first_seen,
        ip)``), one at a time, their evidence facts whole (see _stowed): a sink that
        writes each as it comes holds one unpacked suspect at a time."""
        order = key or _first_seen_then_ip
        entries = [(order(s.first_seen, k[0]), k, False) for k, s in self.by_key.items()]
        entries += [(order(p.first_seen, k[0]), k, True) for k, p in self.packed.items()]
        entries.sort(key=lambda entry: entry[0])
        for _, table_key, packed in entries:
            suspect = _unpack(self.packed[table_key]) if packed else self.by_key[table_key]
            yield suspect.unstow()

    def suspects(self) -> list[Suspect]:
        """Every suspect in report order, unpacked (for small tables; sinks ``stream``)."""
        return list(self.stream())

    def ips(self) -> set[str]:
        return {ip for ip, _ in self.by_key} | {ip for ip, _ in self.packed}


def _first_seen_then_ip(first_seen: float, ip: str) -> tuple[float, str]:
    return (first_seen, ip)


def _pack(suspect: Suspect) -> Packed:
    # Level 1: the blob goes to the spill file, not the process's memory, so its size
    # matters less than the time (realsame 3 M packets, 260 suspects: 59 against 78 ms of
    # packing, 293 against 240 KB; level 6 was chosen when blobs stayed in memory).
    packer = zlib.compressobj(1, zdict=_ZDICT)
    blob = packer.compress(plain.dumps(suspect).encode()) + packer.flush()
    return Packed(suspect.first_seen, spill(blob))


def _unpack(packed: Packed) -> Suspect:
    unpacker = zlib.decompressobj(zdict=_ZDICT)
    return plain.loads(Suspect, unpacker.decompress(packed.blob.read()) + unpacker.flush())


def _unpack_freed(packed: Packed) -> Suspect:
    """``packed`` unpacked for good: its place in the spill file is freed."""
    suspect = _unpack(packed)
    packed.blob.free()
    return suspect


def _zdict() -> bytes:
    """A preset dictionary for packing: the JSON of an empty suspect with an empty
    evidence flow holds every key, which is most of a small suspect's text (real-1m's 126
    suspects at level 1: 1.04 KB each instead of 1.46 KB without it)."""
    record = FlowRecord(0, "TCP", "", 0, "", 0, 0.0, 0.0, 0, 0, 0, 0, 0, 0, "", "", FlowFacts())
    empty = Suspect(ip="", window_start=0.0, flows=[Verdict(record, 0.0, False)])
    return plain.dumps(empty).encode()


_ZDICT = _zdict()
