"""One scan of many captures: each capture in its own session (replay.py), serially, in
worker processes (parallel.py) or on a Dask cluster (cluster.py), merged in input order
into one ScanResult that the CLI hands to the sinks.

Each capture file gets its own flow table (flows do not continue across files), which
keeps files independent: a directory can be scanned file by file, in any order or in
parallel, with the same result. The exception is a capture stream cut into rotated files
(``tcpdump -C/-G``; source/rotation.py): its files form a chain, scanned in order as one
session and as one unit of work, so a flow that spans two files counts once
(``ScanConfig.join_rotated``). Damage inside a file ends that file with an error;
everything found before it is kept.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from detector.config import Detector, ScanConfig
from detector.decode import DecodeStats
from detector.flows import FlowStats
from detector.nodehosts import NodeTable, node_suspects
from detector.owners import ScreenedHosts
from detector.replay import STOP, Progress, SuspectSink, chain_size, scan_chain
from detector.score import Verdict
from detector.session import CaptureReport, CaptureScan, StageTimes
from detector.source import CaptureInput
from detector.source.rotation import Chain, join_rotations
from detector.suspects import Suspect, SuspectTable

if TYPE_CHECKING:  # imported when used: dask is an optional extra
    from detector.cluster import DaskSpec


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class ScanResult:
    """Everything a scan found, merged in input order, for the sinks."""

    suspects: SuspectTable
    nodes: NodeTable
    verdicts: list[Verdict]  # every flow's verdict, only with keep_all_flows (else empty:
    # suspects keep their own bounded evidence, so memory stays flat)
    decode: DecodeStats
    flows: FlowStats
    captures: list[CaptureReport]
    seconds: float = 0.0
    times: StageTimes = field(default_factory=StageTimes)
    # distinct internal hosts of every capture, merged (only with ScanConfig.screen)
    hosts: ScreenedHosts = field(default_factory=ScreenedHosts)

    interrupted: int | None = None  # the stop signal that cut the run short

    @property
    def failed(self) -> bool:
        return any(c.error for c in self.captures)


def run_scan(
    inputs: list[CaptureInput],
    config: ScanConfig,
    detector: Detector | None = None,
    progress: Progress | None = None,
    jobs: int = 1,
    on_suspect: SuspectSink | None = None,
    dask: DaskSpec | None = None,
) -> ScanResult:
    """Scan captures; never raises for bad capture content (see CaptureReport).

    With ``jobs`` > 1 and several files, files are scanned in worker processes; one file
    (or rotated chain) of at least ``config.split_from`` bytes is split by flow across
    them; with ``dask``, on a Dask cluster's workers. Either way results are merged so
    that they are identical to a serial run. ``on_suspect`` is told of each suspect (IP and
    window) the first time the run finds it: as it appears in a serial scan, as each
    file's result arrives otherwise.
    """
    detector = detector or Detector.load(config)
    _calm_collector()
    started = time.perf_counter()
    result = ScanResult(
        SuspectTable(config.window), NodeTable(config.window), [], DecodeStats(), FlowStats(), []
    )
    chains = join_rotations(inputs) if config.join_rotated else [[cap] for cap in inputs]
    sizes = [chain_size(chain) for chain in chains]
    # One big capture on all cores: its flows are split across the workers (parallel.py,
    # scan_split). Not when suspects are told of as they appear: one session does that.
    cores = _cores()
    split = (
        min(jobs, cores) > 1
        and len(chains) == 1
        and dask is None
        and on_suspect is None
        and sizes[0] >= config.split_from
        and all(c.path != "-" and c.fmt != "?" and c.problem is None for c in chains[0])
    )
    split_jobs = min(jobs, cores)
    # More workers than files or cores only costs forks (1,000 of them took 17 s).
    jobs = min(jobs, len(chains), cores)
    announced: set[tuple[str, float]] = set()

    def announce(suspect: Suspect) -> None:
        key = (suspect.ip, suspect.window_start)
        if on_suspect is not None and key not in announced:
            announced.add(key)
            on_suspect(suspect)

    elsewhere: Iterable[list[CaptureScan]] | None = None
    if dask is not None:
        from detector.cluster import scan_dask  # dask.distributed is loaded only here

        elsewhere = scan_dask(chains, config, dask, sizes, progress)
    elif split:
        from detector.parallel import scan_split

        elsewhere = scan_split(chains[0], config, detector, split_jobs, sizes[0], progress)
    elif jobs > 1 and len(chains) > 1 and all(c.path != "-" for c in _files(chains)):
        # Imported here: multiprocessing and concurrent.futures are ~5 % of start-up, and
        # most scans read one file.
        from detector.parallel import scan_parallel

        elsewhere = scan_parallel(chains, config, detector, jobs, sizes, progress)
    if elsewhere is not None:
        for scans in elsewhere:
            for scanned in scans:
                if on_suspect is not None:
                    for suspect in scanned.suspects.stream():
                        announce(suspect)
                _merge(result, scanned)
    else:
        done_before = 0
        for chain, size in zip(chains, sizes, strict=True):
            if STOP.signum is not None:
                break  # told to stop: what was found so far is the result
            step = None
            if progress is not None:
                base = done_before
                step = lambda pos, base=base: progress(base + pos)  # noqa: E731
            sink = announce if on_suspect is not None else None
            for scanned in scan_chain(chain, config, detector, step, sink):
                _merge(result, scanned)
            done_before += size
    if config.nodes_as_suspects:
        _nodes_become_suspects(result, config.window, announce)
    result.seconds = time.perf_counter() - started
    result.interrupted = STOP.signum
    return result


def _cores() -> int:
    """The cores this process may run on: a scan pinned to one (``taskset -c 0``, as the
    bench runs it) gains nothing from forks, and os.cpu_count() counts them all."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _nodes_become_suspects(result: ScanResult, window: float, announce: SuspectSink) -> None:
    """The site's policy forbids nodes (``ScanConfig.nodes_as_suspects``): the run's node
    hosts join its suspects (role crypto-node), and no informational sighting is left but
    the wallets' (never suspects: nodehosts.WALLET_PROTOCOLS).
    Node hosts are known only once the run's flows are all in (NodeTable.hosts), so they
    are told of (``on_suspect``) at the end, after every miner."""
    nodes = node_suspects(result.nodes.hosts(), window)
    for suspect in nodes.stream():
        announce(suspect)
    result.suspects.merge(nodes)
    result.nodes = result.nodes.wallets_only()


def _files(chains: list[Chain]) -> Iterable[CaptureInput]:
    return (cap for chain in chains for cap in chain)


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
    result.hosts.merge(scanned.hosts)


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


def _merge_flow_stats(total: FlowStats, part: FlowStats) -> None:
    total.flows += part.flows
    total.evicted += part.evicted
    total.collisions += part.collisions
    total.peak_flows = max(total.peak_flows, part.peak_flows)
    total.peak_state_bytes = max(total.peak_state_bytes, part.peak_state_bytes)
    total.inspected_packets += part.inspected_packets
    total.cut_short += part.cut_short
    total.records += part.records
    for reason, count in part.by_reason.items():
        total.by_reason[reason] = total.by_reason.get(reason, 0) + count
