"""Wire the stages for one scan: source -> decode -> flows -> dissect -> enrich -> score
-> suspects. The CLI calls ``run_scan``; sinks consume its result.

Each capture file gets its own flow table (flows do not continue across files), which
keeps files independent: a directory can be scanned file by file, in any order or in
parallel, with the same result. Damage inside a file ends that file with a warning;
everything found before it is kept.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from detector.decode import SUPPORTED_LINKTYPES, DecodeStats, decode
from detector.dissect.base import InspectContext
from detector.dissect.inspector import InspectConfig, Inspector
from detector.enrich import CoinTables, Intel, enrich, load_coin_tables
from detector.errors import CorruptCapture, InputError
from detector.flows import FlowConfig, FlowRecord, FlowStats, FlowTracker
from detector.pdns import PassiveDns
from detector.pools import PoolList, load_pools
from detector.rules import RuleSet, load_rules
from detector.score import DEFAULT_THRESHOLD, Verdict, score_flow
from detector.source import CaptureInput, read_capture
from detector.source.inputs import DEFAULT_CHUNK
from detector.suspects import NodeTable, SuspectTable

SIGNATURES = Path(__file__).resolve().parent.parent / "signatures"


@dataclass(slots=True)
class ScanConfig:
    """Everything that shapes a scan; CLI options map onto these fields."""

    flow: FlowConfig = field(default_factory=FlowConfig)
    inspect: InspectConfig = field(default_factory=InspectConfig)
    threshold: float = DEFAULT_THRESHOLD
    window: float = 3600.0
    chunk_size: int = DEFAULT_CHUNK
    signatures: Path = SIGNATURES
    extra_rules: list[Path] = field(default_factory=list)
    keep_all_flows: bool = False  # also keep verdicts of non-miner flows (flows command)


@dataclass(slots=True)
class Detector:
    """Loaded data (rules, coin tables) shared by every capture of a scan."""

    rules: RuleSet
    coins: CoinTables
    pools: PoolList

    @classmethod
    def load(cls, config: ScanConfig) -> Detector:
        sig = config.signatures
        if not sig.is_dir():
            raise InputError(f"{sig}: signatures directory not found")
        rules = load_rules([sig / "rules", *config.extra_rules], lists_dir=sig / "lists")
        return cls(
            rules=rules,
            coins=load_coin_tables(sig / "coins.yaml"),
            pools=load_pools(sig / "pools"),
        )


@dataclass(slots=True)
class CaptureReport:
    """What happened while reading one capture."""

    path: str
    packets: int = 0
    error: str | None = None  # unusable input or damage (one line)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StageTimes:
    """Seconds spent per pipeline stage (``--stats``). ``flows`` excludes the time spent in
    dissection and scoring that the flow stage calls into."""

    read: float = 0.0
    decode: float = 0.0
    flows: float = 0.0
    dissect: float = 0.0
    score: float = 0.0
    output: float = 0.0

    def add(self, other: StageTimes) -> None:
        for name in ("read", "decode", "flows", "dissect", "score", "output"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(slots=True)
class ScanResult:
    suspects: SuspectTable
    nodes: NodeTable
    verdicts: list[Verdict]  # every flow's verdict, only with keep_all_flows (else empty:
    # suspects keep their own bounded evidence, so memory stays flat)
    decode: DecodeStats
    flows: FlowStats
    captures: list[CaptureReport]
    seconds: float = 0.0
    times: StageTimes = field(default_factory=StageTimes)

    @property
    def failed(self) -> bool:
        return any(c.error for c in self.captures)


Progress = Callable[[int], None]  # called with bytes of input consumed so far


@dataclass(slots=True)
class CaptureScan:
    """Everything one capture produced; merged into the ScanResult in input order.

    Miner and node flows are aggregated as they end into the capture's own tables, which
    hold bounded evidence per suspect (suspects.py), so a capture's result does not grow
    with its number of mining flows. Only ``keep_all_flows`` keeps every verdict."""

    report: CaptureReport
    suspects: SuspectTable
    nodes: NodeTable
    verdicts: list[Verdict]  # every flow's verdict, only with keep_all_flows (else empty)
    decode: DecodeStats
    flows: FlowStats
    times: StageTimes


def run_scan(
    inputs: list[CaptureInput],
    config: ScanConfig,
    detector: Detector | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
) -> ScanResult:
    """Scan captures; never raises for bad capture content (see CaptureReport).

    With ``jobs`` > 1 and several files, files are scanned in worker processes; results
    are merged in input order, so they are identical to a serial run.
    """
    detector = detector or Detector.load(config)
    _calm_collector()
    started = time.perf_counter()
    result = ScanResult(
        SuspectTable(config.window), NodeTable(config.window), [], DecodeStats(), FlowStats(), []
    )
    sizes = [_size(cap) for cap in inputs]
    if jobs > 1 and len(inputs) > 1 and all(cap.path != "-" for cap in inputs):
        from detector.parallel import scan_parallel

        for scanned in scan_parallel(inputs, config, detector, jobs, sizes, progress):
            _merge(result, scanned)
    else:
        done_before = 0
        for cap, size in zip(inputs, sizes, strict=True):
            step = None
            if progress is not None:
                base = done_before
                step = lambda pos, base=base: progress(base + pos)  # noqa: E731
            _merge(result, scan_capture(cap, config, detector, step))
            done_before += size
    result.seconds = time.perf_counter() - started
    return result


def _size(cap: CaptureInput) -> int:
    if cap.path == "-":
        return 0
    try:
        return os.path.getsize(cap.path)
    except OSError:
        return 0


def _merge(result: ScanResult, scanned: CaptureScan) -> None:
    """Fold one capture into the run; called in input order, serial or parallel alike, so
    both give the same result (the tables' merges are deterministic)."""
    result.suspects.merge(scanned.suspects)
    result.nodes.merge(scanned.nodes)
    result.verdicts.extend(scanned.verdicts)
    result.captures.append(scanned.report)
    result.decode.add(scanned.decode)
    _merge_flow_stats(result.flows, scanned.flows)
    result.times.add(scanned.times)


def _steady_allocator() -> None:
    """Keep RSS at the working set, not the history of the run (flat memory whatever the
    capture size). glibc's default raises its mmap threshold each time a big block is
    freed, so after the first chunk buffer every per-batch array comes from the heap,
    whose freed space is fragmented and kept; a fixed 1 MB threshold sends chunk buffers
    and big batch arrays to mmap (returned on free) and the heap stays small."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 1 << 20)
        libc.mallopt(m_trim_threshold, 1 << 20)
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


_steady_allocator()


def _calm_collector() -> None:
    """Keep CPython's cycle collector off the hot path (~15 % of a scan otherwise).

    A scan allocates containers by the million (parsed messages, facts, records), so at
    the default threshold (700) the collector runs every few hundred allocations, and its
    older-generation passes walk every object alive - the loaded rules and pool lists
    included. Those are frozen out of collection (``gc.freeze``); the young generation is
    collected every 50,000 allocations instead. Cycles are still found, just in batches,
    so memory stays bounded. Worker processes inherit this when they fork."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def scan_capture(
    cap: CaptureInput,
    config: ScanConfig,
    detector: Detector,
    progress: Progress | None = None,
) -> CaptureScan:
    """Scan one capture with its own flow table and passive DNS (files stay independent)."""
    report = CaptureReport(cap.display)
    context = InspectContext(pdns=PassiveDns(), pools=detector.pools)
    intel = Intel(coins=detector.coins, pools=detector.pools, pdns=context.pdns)
    times = StageTimes()
    suspects, nodes = SuspectTable(config.window), NodeTable(config.window)
    verdicts: list[Verdict] = []
    clock = time.perf_counter

    def on_flow(record: FlowRecord) -> None:
        started = clock()
        enrich(record, intel)
        verdict = score_flow(record, detector.rules, config.threshold)
        if verdict.is_miner:
            suspects.add(verdict)
        elif verdict.info_rules:
            nodes.add(verdict)
        if config.keep_all_flows:
            verdicts.append(verdict)
        times.score += clock() - started

    tracker = FlowTracker(
        config.flow, Inspector(config.inspect, context), on_flow, config.keep_all_flows
    )
    stats = DecodeStats()
    scanned = CaptureScan(report, suspects, nodes, verdicts, stats, tracker.stats, times)
    try:
        stream, batches = read_capture(cap, config.chunk_size)
    except InputError as exc:
        report.error = str(exc)
        return scanned
    try:
        iterator = iter(batches)
        while True:
            t0 = clock()
            batch = next(iterator, None)
            t1 = clock()
            times.read += t1 - t0
            if batch is None:
                break
            packets, batch_stats = decode(batch)
            t2 = clock()
            times.decode += t2 - t1
            stats.add(batch_stats)
            dissect_before, score_before = tracker.inspect_seconds, times.score
            tracker.process(packets)
            times.dissect += tracker.inspect_seconds - dissect_before
            times.flows += (
                clock()
                - t2
                - (tracker.inspect_seconds - dissect_before)
                - (times.score - score_before)
            )
            # Drop this batch (and its chunk buffer) before the reader fills the next one,
            # so only one chunk is ever alive.
            del batch, packets
            if progress is not None:
                progress(stream.raw_pos())
    except CorruptCapture as exc:
        report.error = f"{exc} (results before it are kept)"
    finally:
        stream.close()
    t0, score_before = clock(), times.score
    tracker.flush()
    times.flows += clock() - t0 - (times.score - score_before)
    report.packets = stats.packets
    if stats.unsupported_linktype:
        kinds = ", ".join(str(k) for k in sorted(stats.linktypes_unsupported))
        message = f"{cap.display}: unsupported link type {kinds}"
        if stats.unsupported_linktype == stats.packets and report.error is None:
            report.error = (
                f"{message}; supported: {', '.join(str(k) for k in sorted(SUPPORTED_LINKTYPES))}"
            )
        else:
            report.warnings.append(f"{message} ({stats.unsupported_linktype} packets skipped)")
    return scanned


def _merge_flow_stats(total: FlowStats, part: FlowStats) -> None:
    total.flows += part.flows
    total.evicted += part.evicted
    total.collisions += part.collisions
    total.peak_flows = max(total.peak_flows, part.peak_flows)
    total.peak_state_bytes = max(total.peak_state_bytes, part.peak_state_bytes)
    total.inspected_packets += part.inspected_packets
    total.records += part.records
    for reason, count in part.by_reason.items():
        total.by_reason[reason] = total.by_reason.get(reason, 0) + count
