"""Scan the files of a directory in worker processes, results in input order.

The unit of work is a chain (source/rotation.py): one file, or the rotated files of one
capture stream, which one worker scans in order as one session.

Workers are forked after the rules, pool lists and coin tables are loaded and receive
them as the pool's initialiser arguments, which a fork hands over without pickling (the
compiled rules hold closures): each worker keeps them in its own ``_loaded`` for the
captures it is given. What comes back is each capture's CaptureScan, plain data (rules by
id), pickled by multiprocessing between our own processes only; nothing read from a
capture or a file is ever unpickled. Results arrive in input order (``Executor.map``) and
are merged exactly as a serial scan merges them, so the output is identical.

One big capture is split instead (``scan_split``): every worker reads the whole file and
keeps the flows that fanout.owners gives it, as Suricata's "workers" runmode and the
kernel's PACKET_FANOUT share an interface (docs/ARCHITECTURE.md §7 says what stays exact
and how). Why each worker reads the file itself rather than one reader feeding the
workers: reading and decoding are 5-12 % of a scan (``--stats`` on the two 1 M-packet
bench captures, page-cached), so doing them N times costs less than one reader process
copying every packet's bytes and columns into N pipes (and that reader would be one more
process on the same cores).
"""

from __future__ import annotations

import heapq
import multiprocessing
import queue
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing.queues import Queue

import numpy as np

from detector import session
from detector.config import Detector, ScanConfig
from detector.flows import FlowStats
from detector.nodehosts import NodeTable
from detector.replay import STOP, Interrupted, scan_chain
from detector.score import Verdict
from detector.session import CaptureScan, Settler, ShareTrace, StageTimes, Tagged, tally
from detector.source.rotation import Chain
from detector.suspects import SuspectTable

# In a worker process only: what its parent loaded (set by _load_in_worker).
_loaded: tuple[ScanConfig, Detector] | None = None


def _load_in_worker(config: ScanConfig, detector: Detector) -> None:
    global _loaded
    _loaded = (config, detector)
    # Ctrl-C reaches the whole process group: the parent decides what happens (it keeps
    # what the workers returned and stops them).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _scan_in_worker(chain: Chain) -> list[CaptureScan]:
    assert _loaded is not None, "worker started without its detector"
    config, detector = _loaded
    return scan_chain(chain, config, detector)


def scan_parallel(
    chains: list[Chain],
    config: ScanConfig,
    detector: Detector,
    jobs: int,
    sizes: list[int],
    progress: Callable[[int], None] | None = None,
) -> Iterator[list[CaptureScan]]:
    """Yield each chain's CaptureScans (one per session), in input order, scanned by
    ``jobs`` processes. Told to stop (SIGINT/SIGTERM), it yields nothing more and ends the
    workers."""
    done = 0
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_load_in_worker,
        initargs=(config, detector),
    )
    results = pool.map(_scan_in_worker, chains)
    finished = False
    try:
        for size in sizes:
            with STOP.waiting_for_input():
                scanned = next(results)
            done += size
            if progress is not None:
                progress(done)
            yield scanned
        finished = True
    except Interrupted:
        pass
    finally:
        if not finished:  # told to stop (or the consumer stopped): end the workers now
            for process in list(pool._processes.values()):  # no public way to stop them
                process.terminate()
        pool.shutdown(wait=finished, cancel_futures=True)


# In a split scan's worker only: where its sessions' tagged verdicts go (set by
# _load_share_worker).
_tags: Queue | None = None


def _load_share_worker(config: ScanConfig, detector: Detector, tags: Queue) -> None:
    global _tags
    _load_in_worker(config, detector)
    # Told to stop, the run keeps nothing of a split file: a worker ends at once when the
    # parent ends it, rather than finish its session and wait on a queue no one reads.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _tags = tags


def _scan_share(task: tuple[Chain, int, int]) -> list[CaptureScan]:
    assert _loaded is not None and _tags is not None, "worker started without its detector"
    chain, index, count = task
    config, detector = _loaded
    tags = _tags
    session._share_sessions = 0
    session.TAG_SINK = lambda item: tags.put((index, *item))
    try:
        return scan_chain(chain, replace(config, share=(index, count)), detector)
    finally:
        tags.put((index, -1, -1, 0.0, []))  # this worker is done


class _Tally:
    """The run's side of a split scan's tagged verdicts: each session's (batch, step, flow
    key)-ordered verdicts tallied as soon as every worker has handed in that batch, and
    the tables settled to the clock the workers hand in with it (session.Settler, as the
    session holding every flow would settle them after that batch), so that neither the
    workers nor the run hold more than the batches in flight and the windows not over."""

    def __init__(self, count: int, config: ScanConfig) -> None:
        self.count = count
        self.config = config
        self.waiting: dict[tuple[int, int], list[list[Tagged]]] = {}
        self.tables: dict[int, tuple[SuspectTable, NodeTable, list[Verdict]]] = {}
        self.settlers: dict[int, Settler] = {}
        self.done = 0

    def take(self, item: tuple[int, int, int, float, list[Tagged]]) -> None:
        worker, ordinal, batch, now, tagged = item
        if ordinal < 0:
            self.done += 1
            return
        parts = self.waiting.setdefault((ordinal, batch), [])
        parts.append(tagged)
        if len(parts) < self.count:
            return
        del self.waiting[(ordinal, batch)]
        if ordinal not in self.tables:
            self.tables[ordinal] = _tables(self.config)
            self.settlers[ordinal] = Settler(*self.tables[ordinal][:2])
        suspects, nodes, verdicts = self.tables[ordinal]
        kept = verdicts if self.config.keep_all_flows else None
        for *_, verdict in heapq.merge(*parts, key=lambda item: item[:3]):
            tally(verdict, suspects, nodes, kept)
        # Every worker's clock is the whole batch's last packet (session._feed_share).
        self.settlers[ordinal].settle(now)


def scan_split(
    chain: Chain,
    config: ScanConfig,
    detector: Detector,
    jobs: int,
    size: int,
    progress: Callable[[int], None] | None = None,
) -> Iterator[list[CaptureScan]]:
    """Yield one chain's CaptureScans (one per session), each put together from ``jobs``
    workers that split its flows (see the module's doc and merge_shares). The workers hand
    their tagged verdicts in batch by batch (session.TAG_SINK) and the run tallies them as
    every worker's part of a batch arrives. When one session would have reached a cap the
    workers did not (a full flow table evicts its oldest flows, a full inspector retires
    its oldest inspection: which ones depends on every flow), the chain is scanned again
    in this process, so the result is always a serial scan's. Told to stop, it yields
    nothing and ends the workers."""
    context = multiprocessing.get_context("fork")
    tags: Queue = context.Queue()
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_load_share_worker,
        initargs=(config, detector, tags),
    )
    futures = [pool.submit(_scan_share, (chain, index, jobs)) for index in range(jobs)]
    tally_ = _Tally(jobs, config)
    finished = False
    parts: list[list[CaptureScan]] = []
    try:
        while tally_.done < jobs:
            with STOP.waiting_for_input():
                try:
                    item = tags.get(timeout=0.5)
                except queue.Empty:
                    if any(f.done() and f.exception() is not None for f in futures):
                        break  # a worker failed: its exception is raised below
                    continue
            tally_.take(item)
        parts = [future.result() for future in futures]
        finished = True
    except Interrupted:
        pass
    finally:
        if not finished:
            for process in list(pool._processes.values()):  # no public way to stop them
                process.terminate()
        pool.shutdown(wait=finished, cancel_futures=True)
    if not finished:
        return
    merged = [
        merge_shares(list(shares), config, tally_.tables.get(ordinal))
        for ordinal, shares in enumerate(zip(*parts, strict=True))
    ]
    if any(scan is None for scan in merged):
        yield scan_chain(chain, config, detector, progress)
        return
    if progress is not None:
        progress(size)
    yield [scan for scan in merged if scan is not None]


def merge_shares(
    parts: list[CaptureScan],
    config: ScanConfig,
    tallied: tuple[SuspectTable, NodeTable, list[Verdict]] | None = None,
) -> CaptureScan | None:
    """One session's result from its workers' (``ScanConfig.share``), in worker order; None
    when one session holding every flow would have reached a cap (see scan_split).

    What one session would hold, put together:

    * suspects, node sightings and kept verdicts: the workers' verdicts replayed through
      ``session.tally`` in the order one session ends the flows - by batch, then the step
      of the batch that ended them, then flow key (session.ShareTrace) - so bags that keep
      the first values, node peers kept in order and the flow log come out as a serial
      scan's;
    * reading, decoding and the report: every worker read the whole capture, so the first
      worker's;
    * flow counts: sums; the peak of flows tracked at once: the sum of the workers' tables
      batch by batch (``peak_state_bytes`` is the sum of the workers' peaks: what the run
      held); stage times: sums (CPU seconds); screened hosts: the union."""
    traces: list[ShareTrace] = [p.share for p in parts if p.share is not None]
    assert len(traces) == len(parts), "a split worker's result without its trace"
    if _capped(parts, traces, config):
        return None
    first = parts[0]
    if tallied is None:  # the workers kept their verdicts: tally them here
        tallied = _tables(config)
        kept = tallied[2] if config.keep_all_flows else None
        for *_, verdict in heapq.merge(*(t.tagged for t in traces), key=lambda item: item[:3]):
            tally(verdict, tallied[0], tallied[1], kept)
    suspects, nodes, verdicts = tallied
    flows = FlowStats()
    times = StageTimes()
    hosts = first.hosts
    for part in parts:
        _add_flow_stats(flows, part.flows)
        times.add(part.times)
        if part is not first:
            hosts.merge(part.hosts)
    flows.peak_flows = _peak(traces)
    return CaptureScan(first.report, suspects, nodes, verdicts, first.decode, flows, times, hosts)


def _tables(config: ScanConfig) -> tuple[SuspectTable, NodeTable, list[Verdict]]:
    """Empty suspects, node sightings and kept verdicts, as a session starts them."""
    window = config.window
    return SuspectTable(window, shared_verdicts=config.keep_all_flows), NodeTable(window), []


def _capped(parts: list[CaptureScan], traces: list[ShareTrace], config: ScanConfig) -> bool:
    """Would one session have evicted flows or cut inspection short? The workers' counts
    batch by batch add up to one session's (each flow is in one worker, its life the same):
    flows in the table after placing, and - an upper bound, as the workers' peaks within a
    batch need not coincide - flows under inspection and counting shares."""
    if any(p.flows.evicted or p.flows.cut_short for p in parts):
        return True
    limits = (
        ("used", config.flow.max_flows),
        ("inspecting", config.inspect.max_flows),
        ("counting", config.inspect.max_counting),
    )
    for name, limit in limits:
        total = _batch_sums(getattr(t, name) for t in traces)
        if total.shape[0] and int(total.max()) > limit:
            return True
    return False


def _batch_sums(columns: Iterable[list[int]]) -> np.ndarray:
    rows = [np.asarray(column, dtype=np.int64) for column in columns]
    assert len({row.shape[0] for row in rows}) <= 1, "workers fed different batches"
    return np.sum(rows, axis=0) if rows else np.zeros(0, dtype=np.int64)


def _peak(traces: list[ShareTrace]) -> int:
    """Most flows one session would have tracked at once: the workers' tables summed after
    each batch in which any of them created a flow (FlowTracker's peak is taken there)."""
    used = _batch_sums(t.used for t in traces)
    created = np.any([np.asarray(t.created, dtype=bool) for t in traces], axis=0)
    return int(used[created].max()) if used.shape[0] and created.any() else 0


def _add_flow_stats(total: FlowStats, part: FlowStats) -> None:
    total.flows += part.flows
    total.evicted += part.evicted
    total.collisions += part.collisions
    total.peak_state_bytes += part.peak_state_bytes
    total.inspected_packets += part.inspected_packets
    total.cut_short += part.cut_short
    total.records += part.records
    for reason, count in part.by_reason.items():
        total.by_reason[reason] = total.by_reason.get(reason, 0) + count
