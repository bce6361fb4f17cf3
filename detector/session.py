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

import time
from dataclasses import dataclass, field

from detector.config import Detector, ScanConfig
from detector.decode import SUPPORTED_LINKTYPES, DecodeRows, DecodeStats, PacketBatch, decode
from detector.dissect.base import InspectContext
from detector.dissect.feeder import PayloadFeeder
from detector.dissect.inspector import Inspector
from detector.enrich import Intel, enrich
from detector.flows import FlowRecord, FlowStats, FlowTracker
from detector.nodehosts import NodeTable
from detector.owners import ScreenedHosts
from detector.pdns import PassiveDns
from detector.score import Verdict, score_flow
from detector.screen import HostScreen
from detector.source import RecordBatch
from detector.suspects import Suspect, SuspectTable

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


@dataclass(slots=True)
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


@dataclass(slots=True)
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

    def consume(self, records: list[FlowRecord]) -> None:
        intel, rules, threshold = self.intel, self.rules, self.threshold
        for record in records:
            enrich(record, intel)
        if self.model is not None:
            self.model.annotate(records)  # one call for the batch; rules read its verdict
        for record in records:
            verdict = score_flow(record, rules, threshold)
            if verdict.is_miner:
                new = self.suspects.add(verdict)
                if new is not None and self.announce:
                    self.new_suspects.append(new)
            elif verdict.node_rules:
                self.nodes.add(verdict)
            if self.keep_all:
                self.verdicts.append(verdict)


class CaptureSession:
    """One capture stream, with its own flow table and passive DNS: captures stay
    independent (a directory's files can be scanned in any order, or in parallel)."""

    def __init__(
        self, name: str, config: ScanConfig, detector: Detector, announce: bool = False
    ) -> None:
        """``announce``: the driver takes new suspects as they appear (a live sink,
        ``scan --as-found``); otherwise none are kept for it."""
        pdns = PassiveDns()
        ctx = InspectContext(pdns=pdns, pools=detector.pools, names=detector.names)
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
        for record in records:
            enrich(record, self.intel)
        return records

    def take_checkpoints(self) -> list[FlowRecord]:
        """The open flows whose server pushes reached a checkpoint (1 ... 8, 12, 24 ...,
        behaviour.is_checkpoint) or whose inspection first named a dialect since the last
        call, enriched like ``snapshot``'s: the flows worth scoring while they go on
        (FlowTracker.take_checkpoints, Inspector.take_evidence)."""
        records = self.tracker.take_checkpoints(self.inspector.take_evidence())
        for record in records:
            enrich(record, self.intel)
        return records

    def take_new_suspects(self) -> list[Suspect]:
        """Suspects (or suspects' windows) that appeared since the last call."""
        found, self.analysis.new_suspects = self.analysis.new_suspects, []
        return [suspect.unstow() for suspect in found]

    def finish(self) -> CaptureScan:
        """End of the stream: every remaining flow ends; the capture's result."""
        self.rows = DecodeRows()  # no batch comes any more: its columns are given back
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
        return CaptureScan(
            self.report, a.suspects, a.nodes, a.verdicts, self.decode_stats,
            self.tracker.stats, self.times, hosts,
        )  # fmt: skip

    def _analyse(self) -> None:
        records = self.tracker.take_records()
        if records:
            started = time.perf_counter()
            self.analysis.consume(records)
            self.times.score += time.perf_counter() - started

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
