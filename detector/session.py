"""A capture session: one stream of packets - a capture file, a pipe, an interface - from
record batches to suspects.

``scan`` drives one session per capture file, the worker processes of a directory scan
drive the same sessions, and a live sensor drives one per interface:

* ``feed(batch)`` takes a record batch: decode, place into flows, dissect, and the flows
  that ended on the way go through enrich, score and aggregation;
* ``tick(now)`` moves the clock when no packet arrives (a pipe or an interface gone quiet)
  and ends the flows that timed out by then, as Suricata's flow manager sweeps idle flows
  on its own clock;
* ``snapshot()`` shows the flows still open, with their facts and counters so far: what
  scoring in progress looks at; ``take_checkpoints()`` only those whose server pushes
  reached a checkpoint (1 ... 8, 12, 24 ... pushes) since it was last asked;
* ``take_new_suspects()`` says which suspects (or suspects' windows) appeared since it was
  last asked, so a live sink can alert at once;
* ``finish()`` ends the remaining flows and returns the capture's result, plain data
  (``CaptureScan``) that crosses a process or a machine as it is (see plain.py).

The stages talk through data: the flow stage queues ended flows as FlowRecords
(flows.py), the session hands them to the analysis (enrich, score, suspects), and each
stage's time is the time of its own calls (docs/ARCHITECTURE.md §7).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from detector import fanout, heap
from detector.config import Detector, ScanConfig
from detector.decode import (
    PROTO_TCP,
    PROTO_UDP,
    SUPPORTED_LINKTYPES,
    DecodeRows,
    DecodeStats,
    PacketBatch,
    decode,
)
from detector.dissect.base import InspectContext
from detector.dissect.dnsparse import answer_groups
from detector.dissect.feeder import PayloadFeeder
from detector.dissect.inspector import Inspector
from detector.dissect.triage import DNS_PORTS, triage
from detector.enrich import Intel, enrich_all
from detector.facts import FlowFacts
from detector.flows import FlowRecord, FlowStats, FlowTracker
from detector.flowtable import FlowTable
from detector.nodehosts import NodeTable
from detector.owners import ScreenedHosts
from detector.pdns import Parsed, PassiveDns
from detector.score import Verdict, score_flow, verdict_of
from detector.screen import HostScreen
from detector.source import RecordBatch
from detector.suspects import Suspect, SuspectTable, window_index

# Flows ended per step when a session finishes: their records are analysed step by step,
# so ending a full flow table never holds all of its records at once.
FINISH_STEP = 8192
MAX_TOLD_EARLY = 65536  # (IP, window) keys remembered as told of early (oldest forgotten)


@dataclass(slots=True)
class CaptureReport:
    """What happened while reading one capture."""

    path: str
    packets: int = 0
    error: str | None = None  # unusable input or damage (one line)
    warnings: list[str] = field(default_factory=list)
    # rotated files of the same stream read on in this session after ``path``, in order
    # (replay.scan_chain): their packets are counted in ``packets``
    joined: list[str] = field(default_factory=list)


STAGES = ("read", "decode", "flows", "dissect", "score", "output")


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class StageTimes:
    """Seconds spent per pipeline stage (``--stats``), each measured around that stage's
    own calls."""

    read: float = 0.0
    decode: float = 0.0
    flows: float = 0.0
    dissect: float = 0.0
    score: float = 0.0
    output: float = 0.0

    def add(self, other: StageTimes) -> None:
        for name in STAGES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class CaptureScan:
    """Everything one capture produced: plain data, merged into the run's result in input
    order. Miner and node flows are aggregated as they end into bounded tables
    (suspects.py, nodehosts.py), so the result does not grow with the number of flows;
    only ``keep_all_flows`` keeps every verdict."""

    report: CaptureReport
    suspects: SuspectTable
    nodes: NodeTable
    verdicts: list[Verdict]  # every flow's verdict, only with keep_all_flows (else empty)
    decode: DecodeStats
    flows: FlowStats
    times: StageTimes
    # distinct internal hosts seen (only with ScanConfig.screen; else empty)
    hosts: ScreenedHosts = field(default_factory=ScreenedHosts)
    # A split scan's worker (ScanConfig.share): what the run needs to put the workers'
    # sessions together as one (parallel.merge_shares); None otherwise.
    share: ShareTrace | None = None


# The steps of a batch in which the flow stage ends flows, in the order it takes them:
# a new SYN on a closed flow's 5-tuple while placing, then the sweep's idle, closed and
# active-timeout ends; PHASE_END when the session finishes. Within a step, flows end in
# the order of their flow keys (FlowTable.used_slots: a key's flows that its return after
# the idle or close timeout ended come first, oldest first).
PHASE_PLACE, PHASE_IDLE, PHASE_CLOSED, PHASE_CUT, PHASE_END = range(5)
_PHASE_OF = {"idle": PHASE_IDLE, "closed": PHASE_CLOSED, "active-timeout": PHASE_CUT,
             "end": PHASE_END, "evicted": PHASE_PLACE}  # fmt: skip
Tag = tuple[int, int, int]  # (batch, phase, flow key): where a flow ended in the stream
Tagged = tuple[int, int, int, Verdict]
# A split scan's worker process sets this (parallel._scan_share): each of its sessions
# hands it, after every batch and at its end, (session ordinal, batch, the session's clock,
# tagged verdicts of the batch), so that the run tallies them as they come and settles its
# tables as the clock moves: neither a worker nor the run holds a capture's worth of
# verdicts or results (memory stays flat). None: the session keeps them (ShareTrace.tagged).
TAG_SINK: Callable[[tuple[int, int, float, list[Tagged]]], None] | None = None
_share_sessions = 0  # sessions a split worker started (their ordinals, for TAG_SINK)


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class ShareTrace:
    """What a split scan's worker session reports besides its tables, so that the run
    can tell what one session holding every flow would have done (parallel.merge_shares):
    per batch, how many flows its table held after placing, whether it created any, and
    the most flows under inspection and counting shares at once (Inspector.high_*); and
    its verdicts that reach the suspect and node tables (or every verdict, with
    keep_all_flows), each tagged with where its flow ended. The tables' ``add`` depends
    on the order of the flows (first bag values, first node peers), so the run replays
    the workers' verdicts in tag order - the order one session ends the flows in."""

    used: list[int] = field(default_factory=list)
    created: list[bool] = field(default_factory=list)
    inspecting: list[int] = field(default_factory=list)
    counting: list[int] = field(default_factory=list)
    tagged: list[tuple[int, int, int, Verdict]] = field(default_factory=list)


_NOT_SETTLED = -(2**62)


class Settler:
    """Packs the suspects and node pairs of the windows that are over as a scan's clock
    moves - all but the current window and the one before, whose flows may still end -
    so that a scan's memory does not grow with the time its capture covers
    (SuspectTable.settle, NodeTable.settle). A session's Analysis settles its tables; a
    split run settles the tables it tallies its workers' verdicts into, with the clock
    they hand in (parallel._Tally)."""

    __slots__ = ("suspects", "nodes", "_before")

    def __init__(self, suspects: SuspectTable, nodes: NodeTable) -> None:
        self.suspects = suspects
        self.nodes = nodes
        self._before = _NOT_SETTLED  # windows (indexes) below this were settled

    def settle(self, now: float) -> None:
        """The clock is at ``now``: settle the windows before the one before it, once per
        window the clock enters."""
        if not math.isfinite(now):
            return
        before = window_index(now, self.suspects.window) - 1
        if before <= self._before:
            return
        started = self._before > _NOT_SETTLED  # not the scan's first window
        self._before = before
        self.suspects.settle(before)
        self.nodes.settle(before)
        if started:  # a window is over: what its flows held is free (heap.py)
            heap.give_back()


class Analysis:
    """The consumer of ended flows: enrich, score, aggregate into suspects and nodes."""

    def __init__(
        self, config: ScanConfig, detector: Detector, pdns: PassiveDns, announce: bool
    ) -> None:
        self.intel = Intel(
            coins=detector.coins,
            pools=detector.pools,
            pdns=pdns,
            names=detector.names,
        )
        self.rules = detector.rules
        self.model = detector.model
        self.threshold = config.threshold
        self.keep_all = config.keep_all_flows
        self.suspects = SuspectTable(config.window, shared_verdicts=self.keep_all)
        self.nodes = NodeTable(config.window)
        self.verdicts: list[Verdict] = []
        self.announce = announce  # someone takes the new suspects (else none are kept)
        self.new_suspects: list[Suspect] = []
        # (IP, window index) told of from an open flow (consume_open), oldest first
        self.told_early: dict[tuple[str, int], None] = {}
        # A split scan's worker: verdicts are not added to the tables here but kept with
        # where their flow ended, for the run to replay in order (ShareTrace).
        self.tagged: list[tuple[int, int, int, Verdict]] | None = None
        self.settler = Settler(self.suspects, self.nodes)

    def settle(self, now: float) -> None:
        """The clock is at ``now``: pack what is over (Settler)."""
        self.settler.settle(now)

    def consume_open(self, records: list[FlowRecord]) -> None:
        """Open flows at a checkpoint (CaptureSession.take_checkpoints: enriched), scored as
        they stand, the flow model included. A miner among them whose (IP, window) has no
        suspect yet, and was not told of yet, is told of now, while it mines, with that
        open flow as its evidence (``end_reason`` "open"). The suspect tables are not
        touched: a flow counts once, when it ends; the driver tells of an (IP, window)
        once (pipeline's ``announced``), so the suspect the ended flow makes later is not
        told again. Why: a miner inside TLS mines for hours on one connection; waiting for
        it to end would alert hours late, or never if the sensor stops first."""
        if not self.announce or not records:
            return
        if self.model is not None:
            self.model.annotate(records)
        for record in records:
            verdict = score_flow(record, self.rules, self.threshold)
            if not verdict.is_miner:
                continue
            key = self.suspects.key(record)
            if key in self.suspects or key in self.told_early:
                continue
            if len(self.told_early) >= MAX_TOLD_EARLY:
                self.told_early.pop(next(iter(self.told_early)))
            self.told_early[key] = None
            early = Suspect(ip=key[0], window_start=key[1] * self.suspects.window)
            early.add(verdict)
            self.new_suspects.append(early)

    def consume(self, records: list[FlowRecord], tags: list[Tag] | None = None) -> None:
        """Enrich, score and tally ended flows; with ``tags`` (a split scan's worker) the
        verdicts worth tallying are kept with their tags instead (ShareTrace)."""
        intel, rules, threshold = self.intel, self.rules, self.threshold
        enrich_all(records, intel)
        if self.model is not None:
            self.model.annotate(records)  # one call for the batch; rules read its verdict
        # A flow no rule fires on is a miner only at a threshold of 0 and a node never:
        # unless every verdict is kept, it makes none (most flows)
        every = self.keep_all or threshold <= 0.0
        fired_all = rules.evaluate_all(records)
        if tags is not None and self.tagged is not None:
            keep_all, tagged = self.keep_all, self.tagged
            for record, tag, fired in zip(records, tags, fired_all, strict=True):
                if not fired and not every:
                    continue
                verdict = verdict_of(record, fired, threshold)
                if verdict.is_miner or verdict.node_rules or keep_all:
                    tagged.append((*tag, verdict))
            return
        keep_all = self.keep_all
        for record, fired in zip(records, fired_all, strict=True):
            if not fired and not every:
                continue
            verdict = verdict_of(record, fired, threshold)
            if verdict.is_miner or verdict.node_rules or keep_all:  # else tally adds nothing
                self.tally(verdict)

    def tally(self, verdict: Verdict) -> None:
        new = tally(verdict, self.suspects, self.nodes, self.verdicts if self.keep_all else None)
        if new is not None and self.announce:
            self.new_suspects.append(new)


def tally(
    verdict: Verdict, suspects: SuspectTable, nodes: NodeTable, verdicts: list[Verdict] | None
) -> Suspect | None:
    """Add one ended flow's verdict to the suspects or the node sightings, and to
    ``verdicts`` when every verdict is kept; return the suspect it made, if new. A session
    tallies its flows as they end; a split run replays its workers' verdicts through this
    (parallel.merge_shares)."""
    new = None
    if verdict.is_miner:
        new = suspects.add(verdict)
    elif verdict.node_rules:
        nodes.add(verdict)
    if verdicts is not None:
        verdicts.append(verdict)
    return new


class CaptureSession:
    """One capture stream, with its own flow table and passive DNS: captures stay
    independent (a directory's files can be scanned in any order, or in parallel)."""

    def __init__(
        self, name: str, config: ScanConfig, detector: Detector, announce: bool = False
    ) -> None:
        """``announce``: the driver takes new suspects as they appear (a live sink,
        ``scan --as-found``); otherwise none are kept for it."""
        pdns = PassiveDns()
        # A split scan's worker (ScanConfig.share; never when alerting as it goes, which
        # a split run does not do): its main inspector hears no DNS answer - passive DNS
        # is fed by the shadow, with every flow's answers (_DnsShadow).
        self.share = config.share if not announce else None
        heard = pdns if self.share is None else _DeafDns()
        ctx = InspectContext(pdns=heard, pools=detector.pools, names=detector.names)
        self.inspector = Inspector(config.inspect, ctx)
        # Behaviour (§11) feeds the model, scoring in progress, the flow log and the rules
        # on the message rhythm (rhythm.*: Chia's signage points); a rules-only scan
        # without such rules that reports at its end reads none of it.
        behaviour = (
            detector.model is not None
            or announce
            or config.keep_all_flows
            or detector.rules.reads_behaviour
        )
        self.screen = HostScreen(config.screen) if config.screen is not None else None
        self.tracker = FlowTracker(
            config.flow, self.inspector, config.keep_all_flows, behaviour, self.screen
        )
        self.feeder = PayloadFeeder(self.inspector, self.tracker.table)
        self.analysis = Analysis(config, detector, pdns, announce)
        if announce:  # open flows are scored on new evidence too (take_checkpoints)
            self.inspector.watch_evidence()
        self.intel = self.analysis.intel
        self.report = CaptureReport(name)
        self.decode_stats = DecodeStats()
        self.rows = DecodeRows()  # every batch is decoded into these (see DecodeRows)
        self.times = StageTimes()
        self.last_packets: PacketBatch | None = None
        self.keep_last_packets = False  # set by a driver that reads last_packets
        self.batches = 0  # batches with packets fed (a split worker's tags count them)
        self.shadow: _DnsShadow | None = None
        self.trace: ShareTrace | None = None
        if self.share is not None:
            self.shadow = _DnsShadow(config, detector, pdns)
            self.keyed = _KeyedFacts(self.inspector, self.tracker.table, config.keep_all_flows)
            self.tracker.facts = self.keyed
            self.analysis.tagged = []
            self.trace = ShareTrace()
            global _share_sessions
            self.ordinal = _share_sessions
            _share_sessions += 1
        self._pending_records: list[FlowRecord] = []  # a split worker's, with their tags
        self._owners = np.empty(0, dtype=np.int64)  # a split worker's, reused (fanout.owners)
        self._own_rows = DecodeRows()  # its packets of a batch, and the shadow's (fanout.subset)
        self._dns_rows = DecodeRows()
        self._pending_tags: list[Tag] = []

    @property
    def now(self) -> float:
        """The session's clock: the latest packet time or tick."""
        return self.tracker.now

    def feed(self, batch: RecordBatch) -> None:
        """Take one record batch through every stage."""
        clock, times, tracker = time.perf_counter, self.times, self.tracker
        t0 = clock()
        packets, stats = decode(batch, self.rows)
        # the batch's decoded packets until the next feed (their columns are reused then):
        # what a live sensor's evidence ring matches flows against. Only when asked: they
        # hold the batch's buffer, a whole capture window for a file.
        if self.keep_last_packets:
            self.last_packets = packets
        t1 = clock()
        times.decode += t1 - t0
        self.decode_stats.add(stats)
        if len(packets) == 0:
            return
        if self.share is not None:
            self._feed_share(packets)
            return
        placement = tracker.place(packets)
        t2 = clock()
        tracker.stats.inspected_packets += self.feeder.feed(packets, placement)
        t3 = clock()
        tracker.advance(float(packets.ts.max()))
        t4 = clock()
        times.flows += (t2 - t1) + (t4 - t3)
        times.dissect += t3 - t2
        self._analyse()
        if self.analysis.announce:
            started = clock()
            self.analysis.consume_open(self.take_checkpoints())
            times.score += clock() - started

    def _feed_share(self, packets: PacketBatch) -> None:
        """A split scan's worker (ScanConfig.share): of the whole decoded batch, the
        packets of every DNS flow go to the shadow (passive DNS as one session has it),
        those of this worker's flows (fanout.owners) through the stages; the clock moves to
        the whole batch's last packet, as it would in one session, even when none of the
        packets is this worker's. Records are tagged with where their flow ended
        (ShareTrace), and the batch's flow and inspection counts are noted."""
        clock, times, tracker = time.perf_counter, self.times, self.tracker
        assert self.share is not None and self.shadow is not None and self.trace is not None
        index, count = self.share
        t0 = clock()
        now = float(packets.ts.max())
        if self._owners.shape[0] < len(packets):
            self._owners = np.empty(len(packets) + len(packets) // 2, dtype=np.int64)
        mine = fanout.owners(packets, count, self._owners) == index
        dns = fanout.on_ports(packets, DNS_PORTS)
        t1 = clock()
        if dns.any():
            self.shadow.hear(packets, dns, self._dns_rows)
        self.shadow.tracker.advance(now)
        self.shadow.tracker.records.clear()  # its records are the owners' to make
        t2 = clock()
        inspector, trace = self.inspector, self.trace
        inspector.high_flows = len(inspector.flows)
        inspector.high_counting = len(inspector.counting)
        created = tracker.stats.flows
        t3 = t4 = t2
        if mine.any():
            own = packets if mine.all() else fanout.subset(packets, mine, self._own_rows)
            placement = tracker.place(own)
            self._take_tagged(PHASE_PLACE)
            t3 = clock()
            tracker.stats.inspected_packets += self.feeder.feed(own, placement)
            t4 = clock()
        trace.used.append(tracker.table.used)
        trace.created.append(tracker.stats.flows > created)
        trace.inspecting.append(inspector.high_flows)
        trace.counting.append(inspector.high_counting)
        tracker.advance(now)
        t5 = clock()
        times.flows += (t1 - t0) + (t3 - t2) + (t5 - t4)
        times.dissect += (t2 - t1) + (t4 - t3)
        self._analyse()
        self._hand_tagged()
        self.batches += 1

    def _hand_tagged(self) -> None:
        """A split worker with a TAG_SINK: hand it this batch's tagged verdicts (every
        batch, none or not: the run puts a batch together once every worker handed it)."""
        if TAG_SINK is not None and self.analysis.tagged is not None:
            tagged, self.analysis.tagged = self.analysis.tagged, []
            TAG_SINK((self.ordinal, self.batches, self.tracker.now, tagged))

    def _take_tagged(self, phase: int | None) -> None:
        """A split worker: the records ended since the last call, each tagged with
        (batch, phase, flow key); ``phase`` None: the sweep's, by their end reason."""
        records = self.tracker.take_records()
        keys = self.keyed.take()
        assert len(keys) == len(records), "a record without its flow key"
        if not records:
            return
        batch = self.batches
        if phase is None:
            tags = [(batch, _PHASE_OF[r.end_reason], k) for r, k in zip(records, keys, strict=True)]
        else:
            tags = [(batch, phase, key) for key in keys]
        self._pending_records.extend(records)
        self._pending_tags.extend(tags)

    def tick(self, now: float) -> None:
        """No packet for a while: move the clock to ``now`` and end what timed out."""
        started = time.perf_counter()
        self.tracker.advance(now)
        self.times.flows += time.perf_counter() - started
        self._analyse()

    def snapshot(self) -> list[FlowRecord]:
        """The open flows as records of what they did so far (``end_reason`` "open"),
        enriched like ended ones; their facts are copies, so inspection goes on."""
        records = self.tracker.open_records()
        enrich_all(records, self.intel)
        return records

    def take_checkpoints(self) -> list[FlowRecord]:
        """The open flows whose server pushes reached a checkpoint (1 ... 8, 12, 24 ...,
        behaviour.is_checkpoint) or whose inspection first named a dialect since the last
        call, enriched like ``snapshot``'s: the flows worth scoring while they go on
        (FlowTracker.take_checkpoints, Inspector.take_evidence)."""
        records = self.tracker.take_checkpoints(self.inspector.take_evidence())
        enrich_all(records, self.intel)
        return records

    def take_new_suspects(self) -> list[Suspect]:
        """Suspects (or suspects' windows) that appeared since the last call."""
        found, self.analysis.new_suspects = self.analysis.new_suspects, []
        return [suspect.unstow() for suspect in found]

    def finish(self) -> CaptureScan:
        """End of the stream: every remaining flow ends; the capture's result."""
        self.rows = DecodeRows()  # no batch comes any more: its columns are given back
        self._own_rows, self._dns_rows = DecodeRows(), DecodeRows()
        started = time.perf_counter()
        while True:
            more = self.tracker.flush(FINISH_STEP)
            self.times.flows += time.perf_counter() - started
            self._analyse()
            if not more:
                break
            started = time.perf_counter()
        self._note_linktypes()
        self.tracker.stats.cut_short = self.feeder.cut_short
        a = self.analysis
        hosts = self.screen.hosts() if self.screen is not None else ScreenedHosts()
        if self.trace is not None and a.tagged is not None:
            self._hand_tagged()
            self.trace.tagged = a.tagged
        return CaptureScan(
            self.report, a.suspects, a.nodes, a.verdicts, self.decode_stats,
            self.tracker.stats, self.times, hosts, self.trace,
        )  # fmt: skip

    def _analyse(self) -> None:
        if self.share is not None:
            self._take_tagged(None)
            records, tags = self._pending_records, self._pending_tags
            self._pending_records, self._pending_tags = [], []
            if records:
                started = time.perf_counter()
                self.analysis.consume(records, tags)
                self.times.score += time.perf_counter() - started
            return
        records = self.tracker.take_records()
        if records:
            started = time.perf_counter()
            self.analysis.consume(records)
            self.times.score += time.perf_counter() - started
        self.analysis.settle(self.tracker.now)

    def _note_linktypes(self) -> None:
        stats, report = self.decode_stats, self.report
        report.packets = stats.packets
        if not stats.unsupported_linktype:
            return
        kinds = ", ".join(str(k) for k in sorted(stats.linktypes_unsupported))
        message = f"{report.path}: unsupported link type {kinds}"
        if stats.unsupported_linktype == stats.packets and report.error is None:
            supported = ", ".join(str(k) for k in sorted(SUPPORTED_LINKTYPES))
            report.error = f"{message}; supported: {supported}"
        else:
            report.warnings.append(f"{message} ({stats.unsupported_linktype} packets skipped)")


class _DeafDns(PassiveDns):
    """Passive DNS that hears nothing: a split worker's main inspector still notes pool
    lookups as its DNS flows' facts, while the shadow feeds the real map (_DnsShadow)."""

    def add_groups(self, distinct: list[Parsed], last: list[int], times: list[float]) -> None:
        pass

    def add_response(self, parsed: Parsed, ts: float) -> None:
        pass


class _DnsShadow:
    """A split scan's worker keeps passive DNS as one session holding every flow would:
    its enrichment of any flow reads names that other workers' flows looked up. So every
    worker hears every DNS flow's answers, in the order one session hears them: first a
    batch's UDP answers at once - the rows the feeder's DNS path takes (triage.py: UDP on
    a DNS port with answers; a UDP DNS flow never leaves inspection), parsed and added
    as the Inspector's ``dns_answers`` adds them, with no flow table (one session's has a
    slot for each of them unless it is full, and then the run is scanned again: see
    parallel.scan_split) - then DNS over TCP as its streams are read, through a second
    flow table and inspector of its own (TCP on the DNS ports, with their carriers; the
    clock moves every batch, so its flows end as in one session). Its records are
    dropped: the flows' owners make them, with an inspector that hears no answer
    (_DeafDns). Cost on the generated 1 M-packet bench capture, a tenth of whose packets
    are DNS: 0.16-0.19 s of CPU per worker (of ~1.1) with every DNS packet through the
    shadow's flow table, 0.10-0.12 s this way (time.process_time around it; a busy
    machine). Most of what is left is parsing the answers, which every worker must do."""

    def __init__(self, config: ScanConfig, detector: Detector, pdns: PassiveDns) -> None:
        self.pdns = pdns
        ctx = InspectContext(pdns=pdns, pools=detector.pools, names=detector.names)
        self.inspector = Inspector(config.inspect, ctx)
        self.tracker = FlowTracker(config.flow, self.inspector, False, False, None)
        self.feeder = PayloadFeeder(self.inspector, self.tracker.table)

    def hear(self, packets: PacketBatch, dns: np.ndarray, rows: DecodeRows) -> None:
        """The answers of a batch's DNS packets (``dns``: fanout.on_ports)."""
        udp = dns & (packets.proto == PROTO_UDP) & (packets.payload_len > 0)
        if udp.any():
            candidates, answers = triage(packets, udp)
            idx = candidates[answers]
            if idx.shape[0]:
                distinct, last, _ = answer_groups(
                    packets.buf,
                    np.ascontiguousarray(packets.payload_off[idx]),
                    np.ascontiguousarray(packets.payload_cap[idx]),
                )
                self.pdns.add_groups(distinct, last, packets.ts[idx].tolist())
        tcp = dns & (packets.proto == PROTO_TCP)
        if tcp.any():
            part = fanout.subset(packets, fanout.with_carriers(packets, tcp), rows)
            self.feeder.feed(part, self.tracker.place(part))


class _KeyedFacts:
    """The inspector as a split worker's FactSource (flows.FactSource), noting the flow
    key of each record the flow stage makes as it asks for the ending flow's facts: the
    tracker makes a record of each flow whose facts are not None (of every flow when it
    keeps empty ones), in the order it asks."""

    def __init__(self, inner: Inspector, table: FlowTable, keep_empty: bool) -> None:
        self.inner = inner
        self.table = table
        self.keep_empty = keep_empty
        self.keys: list[int] = []

    def finish(self, slot: int) -> FlowFacts | None:
        facts = self.inner.finish(slot)
        if facts is not None or self.keep_empty:
            self.keys.append(int(self.table.cols["key"][slot]))
        return facts

    def peek(self, slot: int) -> FlowFacts | None:
        return self.inner.peek(slot)

    def take(self) -> list[int]:
        keys, self.keys = self.keys, []
        return keys
