"""Drive one capture session from a live capture for as long as the sensor runs.

What a network admin expects of a sensor on a mirror port, as Suricata and Zeek behave
(docs/ARCHITECTURE.md §7):

* **Alerts while the miner mines.** The session scores open flows at their job-push
  checkpoints and when inspection first reads a mining message (session.py,
  ``take_checkpoints``); each new suspect - an (IP, window) pair - is alerted once, at
  once. The window is the suppression window (Zeek's notice suppression: default one
  hour): an IP that goes on mining is alerted again, with the new window's evidence,
  once per window, never once per flow or packet.
* **Time goes on without packets.** A quiet link still ends idle flows: the capture hands
  over an empty batch at least every ``max_wait`` seconds and the session is ticked with
  the capture clock moved on by the wall time since the last packet (replay.IdleClock).
* **Bounded memory over weeks.** Suspects of windows that are over are retired from the
  session's table once they were told and stored; the keys told of are forgotten with
  them.
* **Nothing told is lost.** SIGTERM or SIGINT stops the loop at the next batch (or at
  once while it waits); what the kernel had already received is still read (``_drain``);
  then every open flow ends, is scored, and every pending alert is
  written before the process exits. SIGHUP reopens the EVE file (logrotate).
* **Health.** Every ``health_every`` seconds one line: packets and their rate, flows
  open, suspects, what the kernel dropped; and the same at exit.
* **Crypto nodes, as scan reports them.** The session's node table (nodehosts.py) is read
  every NODE_EVERY seconds when it has new node flows: each host is told once per (IP,
  protocol, window), as an informational node alert of the shape ``scan`` writes
  (sinks/eve.py, ``node_event``) to the same sinks; with ``nodes_as_suspects`` (the
  site's policy) node hosts are suspects of role crypto-node instead, told once per (IP,
  window) with the miners and stored as they are. Which end of a peering is the local
  host is decided on the flows so far (NodeTable.hosts: the private end, else the busier
  one), so a sighting is told when it is first seen; a plain libp2p host is told only once
  its window is over (or at exit), since a Filecoin name hint later in its window makes it
  a Filecoin node (docs/ARCHITECTURE.md §3, "Filecoin and libp2p"). A sighting carries
  the host's flows that had ended when it was told (as a miner's alert its evidence so
  far). Node pairs of windows that are over are retired with the suspects; a flow that
  ends after its window was retired (a peering connection of hours) is told only if its
  host's (IP, protocol) was not told in the windows still remembered.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from queue import Empty as EmptyQueue
from types import FrameType
from typing import Protocol, TextIO

import numpy as np

from detector.config import Detector, ScanConfig
from detector.decode import PacketBatch
from detector.dialects import WALLET
from detector.dissect.libp2p import NODE_PROTOCOL as LIBP2P
from detector.nodehosts import NodeHost, node_suspects
from detector.replay import STOP, IdleClock, Interrupted
from detector.session import CaptureSession
from detector.sinks.alertlog import AlertSink
from detector.sinks.eve import is_mining_alert, node_event, suspect_event
from detector.sinks.evidence_pcap import PcapRing
from detector.source.batch import RecordBatch
from detector.source.livestats import CaptureCounters
from detector.suspects import Suspect, window_index


class LiveSource(Protocol):
    """A live capture: record batches by time, counters, close."""

    def batches(self, max_wait: float) -> Iterator[RecordBatch]: ...

    def counters(self) -> CaptureCounters: ...

    def close(self) -> None: ...


class SuspectStore(Protocol):
    """Where suspects are kept across runs (sinks/store.py): merged by (IP, window), so
    writing a growing suspect again updates it (never counts it twice)."""

    def upsert_many(self, suspects: Iterable[Suspect], sensor: str | None = None) -> int: ...


STORE_EVERY = 60.0  # seconds between writes of the open windows' suspects to the store
NODE_EVERY = 10.0  # seconds between looks at the node table for new crypto-node hosts

MAX_WAIT = 0.5  # the longest a batch waits for packets: how late a tick or a stop can be
DRAIN_SECONDS = 2.0  # after a stop signal, the longest spent reading what already arrived
DRAIN_WAIT = 0.25  # ... and how long nothing must come for the ring to count as empty


@dataclass(slots=True)
class LiveReport:
    """What a sensor run did (plain data)."""

    seconds: float = 0.0
    counters: CaptureCounters = field(default_factory=CaptureCounters)
    flows: int = 0
    suspects_told: int = 0
    nodes_told: int = 0  # informational crypto-node alerts (none with nodes_as_suspects)
    stopped_by: int | None = None  # the signal that stopped it (None: the source ended)
    error: str | None = None  # the capture failed (one line)
    store_failures: int = 0  # writes to the suspect store that failed (warned of)


class ToldOnce:
    """The (IP, window index) pairs alerted already - each is told once - shared by a
    sensor and, with workers, by the parent that tells across them; a crypto-node sighting
    is keyed by its protocol too (``what``), apart from the IP's suspect alert. Pairs of
    windows that are over are forgotten, so weeks of running stay bounded."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, int, str], None] = {}

    def first(self, ip: str, window: int, what: str = "") -> bool:
        """Is this the first time (IP, window[, what]) is told? (Noted as told now.)"""
        key = (ip, window, what)
        if key in self.keys:
            return False
        self.keys[key] = None
        return True

    def forget_before(self, window: int) -> None:
        for key in [k for k in self.keys if k[1] < window]:
            del self.keys[key]


class EvidenceKeeper:
    """The packets of told suspects' flows, from their alert on, to a pcap ring
    (sinks/evidence_pcap.py). Flows are matched by their 5-tuple in both directions,
    first by address with numpy over the whole batch, then exactly for those few; at most
    MAX_WATCHED flows are watched (the oldest dropped), so the cost stays bounded."""

    MAX_WATCHED = 4096

    def __init__(self, ring: PcapRing) -> None:
        self.ring = ring
        self.watched: dict[tuple[int, int, int, int, int, int, int], None] = {}
        self._addresses = np.zeros(0, dtype=np.uint64)

    def watch(self, suspect: Suspect) -> None:
        from detector.decode import PROTO_NAMES

        numbers = {name: number for number, name in PROTO_NAMES.items()}
        for verdict in suspect.flows:
            r = verdict.record
            proto = numbers.get(r.proto)
            if proto is None:
                continue
            a = (*_halves(r.client_ip), r.client_port)
            b = (*_halves(r.server_ip), r.server_port)
            self.watched[(proto, *min(a, b), *max(a, b))] = None
            if len(self.watched) > self.MAX_WATCHED:
                self.watched.pop(next(iter(self.watched)))
        self._addresses = np.array(
            sorted({k[2] for k in self.watched} | {k[5] for k in self.watched}), dtype=np.uint64
        )

    def keep(self, batch: RecordBatch, packets: PacketBatch | None) -> None:
        """Write the records of ``batch`` that carry a watched flow's packet (a tunnel's
        carrier record is kept whole: the inner packet is what matched)."""
        if not self.watched or packets is None or len(packets) == 0:
            return
        near = np.isin(packets.src_lo, self._addresses) | np.isin(packets.dst_lo, self._addresses)
        rows = np.flatnonzero(near)
        if rows.shape[0] == 0:
            return
        records = set()
        for i in rows.tolist():
            a = (int(packets.src_hi[i]), int(packets.src_lo[i]), int(packets.sport[i]))
            b = (int(packets.dst_hi[i]), int(packets.dst_lo[i]), int(packets.dport[i]))
            key = (int(packets.proto[i]), *min(a, b), *max(a, b))
            if key in self.watched:
                records.add(int(packets.stream_off[i]))
        if not records:
            return
        index = np.searchsorted(batch.stream_off, np.array(sorted(records), dtype=np.int64))
        for k in index.tolist():
            start, length = int(batch.data_off[k]), int(batch.caplen[k])
            self.ring.write(
                float(batch.ts[k]), batch.buf[start : start + length].tobytes(),
                int(batch.wirelen[k]), int(batch.linktype[k]),
            )  # fmt: skip
        self.ring.flush()


def _halves(ip: str) -> tuple[int, int]:
    """An address as the decoder holds it: two 64-bit halves, IPv4 v4-mapped."""
    value = int(ipaddress.ip_address(ip))
    if ":" not in ip:
        value |= 0xFFFF << 32
    return value >> 64, value & 0xFFFF_FFFF_FFFF_FFFF


class LiveSensor:
    """One session over one live source; alerts to sinks, suspects to a store."""

    def __init__(
        self,
        name: str,
        source: LiveSource,
        config: ScanConfig,
        detector: Detector,
        sinks: list[AlertSink],
        store: SuspectStore | None = None,
        health_every: float = 60.0,
        err: TextIO | None = None,
        extended: bool = False,
        evidence: EvidenceKeeper | None = None,
    ) -> None:
        self.source = source
        self.evidence = evidence
        self.config = config
        self.detector = detector
        self.sinks = sinks
        self.store = store
        self.health_every = health_every
        self.err = err if err is not None else sys.stderr
        self.extended = extended
        self.name = name
        self.session = CaptureSession(name, config, detector, announce=True)
        self.session.keep_last_packets = evidence is not None
        self.told = ToldOnce()
        self.report = LiveReport()
        self._reopen = False
        self._started = time.monotonic()
        self._last_health = (self._started, 0)  # (wall time, packets) of the last line
        self._last_store = self._started
        self._last_nodes = self._started
        self._nodes_seen: tuple[int, int] = (0, 0)  # (node flows, window) at the last look
        # windows (indexes) below this are retired: a node host of one is a late flow's
        # (a peering that lasted past its window), told only if its (IP, protocol) was not
        # told in a window still remembered - here with the window it was last told in
        self._retired_before = -(2**62)
        self._nodes_known: dict[tuple[str, str], int] = {}

    def run(self) -> LiveReport:
        """Capture until the source ends or a stop signal; never raises for capture
        content. The report says why it stopped."""
        from detector.errors import CorruptCapture, InputError

        clock = IdleClock()
        previous_hup = signal.signal(signal.SIGHUP, self._on_hup)
        try:
            with STOP.installed():
                try:
                    batches = iter(self.source.batches(MAX_WAIT))
                    while STOP.signum is None:
                        with STOP.waiting_for_input():
                            batch = next(batches, None)
                        if batch is None:
                            break
                        self._take(batch, clock)
                        del batch  # its buffer is free while the next one is awaited
                except Interrupted:
                    pass
                try:
                    if STOP.signum is not None:
                        self._drain(clock)
                except Interrupted:
                    pass
                except (CorruptCapture, InputError) as exc:
                    self.report.error = str(exc)
                self.report.stopped_by = STOP.signum
                self._finish()
        finally:
            signal.signal(signal.SIGHUP, previous_hup)
            self.source.close()
        self.report.counters = self.source.counters()
        self.report.seconds = time.monotonic() - self._started
        return self.report

    def _take(self, batch: RecordBatch, clock: IdleClock) -> None:
        session = self.session
        if len(batch):
            session.feed(batch)
            clock.packets_until(session.now)
            if self.evidence is not None:
                self.evidence.keep(batch, session.last_packets)
        elif clock.last_ts > float("-inf"):
            session.tick(clock.now())
        self._tell(session.take_new_suspects())
        self._housekeeping()

    def _drain(self, clock: IdleClock) -> None:
        """After a stop signal: what the kernel already received is read too, so the
        last packets before the stop count and reach the verdicts. A TPACKET_V3 block is
        handed over when full or at its retire timeout (64 ms), so the packets of a block
        still open at the signal arrive within that: read until a wait of DRAIN_WAIT
        brings nothing, for at most DRAIN_SECONDS (a link that keeps sending would never
        end). Only a source that can be asked for one more batch is drained (the ring;
        tcpdump's pipe ends with tcpdump, which the stop signal reaches too)."""
        next_batch = getattr(self.source, "next_batch", None)
        if next_batch is None:
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            batch = next_batch(DRAIN_WAIT)
            if not len(batch):
                return
            self._take(batch, clock)

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reopen = True  # acted on between batches, never inside a write

    def _tell(self, suspects: Iterable[Suspect]) -> None:
        """Alert each (IP, window) once, and store its evidence."""
        for suspect in suspects:
            if not self.told.first(
                suspect.ip, window_index(suspect.window_start, self.config.window)
            ):
                continue
            event = suspect_event(suspect, self.detector.rules, extended=self.extended)
            for sink in self.sinks:
                sink.event(event)
            if self.evidence is not None:
                self.evidence.watch(suspect)
            self._store([suspect])
            self.report.suspects_told += 1

    def _store(self, suspects: Iterable[Suspect]) -> None:
        """Merge suspects into the store. A store that fails (a full disk, a locked
        database) costs the store's copy, never the alerts: a warning, and the sensor goes
        on (the next write merges what was missed)."""
        if self.store is None:
            return
        from detector.errors import InputError

        try:
            self.store.upsert_many(suspects, self.name)
        except InputError as exc:
            self.report.store_failures += 1
            self.err.write(f"minewatch: warning: {exc}\n")

    def _housekeeping(self) -> None:
        if self._reopen:
            self._reopen = False
            for sink in self.sinks:
                sink.reopen()
        now = time.monotonic()
        if self.health_every > 0 and now - self._last_health[0] >= self.health_every:
            self._health(now)
        if now - self._last_store >= STORE_EVERY:
            self._last_store = self._last_nodes = now
            self._store(self._nodes())  # node hosts told; node suspects' evidence so far
            self._retire()
            self._store(self.session.analysis.suspects.stream())  # evidence so far
        elif now - self._last_nodes >= NODE_EVERY:
            self._last_nodes = now
            self._nodes()

    def _nodes(self, final: bool = False) -> list[Suspect]:
        """Tell the node table's hosts not told yet (the module docstring): informational
        node alerts, or with ``nodes_as_suspects`` suspects of role crypto-node, whose
        current evidence is returned for the store (else []). ``final``: the run ends, every
        host is settled. Nothing is read again while no node flow came and no window ended."""
        window, table = self.config.window, self.session.analysis.nodes
        current = window_index(self.session.now, window) if math.isfinite(self.session.now) else 0
        if not final and (table.seq, current) == self._nodes_seen:
            return []
        self._nodes_seen = (table.seq, current)
        hosts = [
            h
            for h in table.hosts()
            if final or h.protocol != LIBP2P or window_index(h.window_start, window) < current - 1
        ]
        # the hosts of windows still open first (a stable sort): a late flow's host of the
        # same IP and protocol is then known already
        hosts.sort(key=lambda h: window_index(h.window_start, window) < self._retired_before)
        fresh = [h for h in hosts if self._fresh(h, current)]
        evidence: list[Suspect] = []
        if self.config.nodes_as_suspects:  # node hosts; wallets stay sightings (never suspects)
            self._tell(node_suspects(fresh, window).stream())
            evidence = list(node_suspects(hosts, window).stream())  # every one's evidence
            fresh = [h for h in fresh if h.role == WALLET]
        for host in fresh:
            event = node_event(host, self.detector.rules, self.extended)
            for sink in self.sinks:
                sink.event(event)
            self.report.nodes_told += 1
        return evidence

    def _fresh(self, host: NodeHost, current: int) -> bool:
        """Is ``host`` a sighting not told yet? Once per (IP, protocol, window); a host of
        a retired window (a late flow's) once per (IP, protocol) while the windows it was
        told in are remembered, counted as told in the current window."""
        index = window_index(host.window_start, self.config.window)
        known = (host.ip, host.protocol)
        if index < self._retired_before:
            if known in self._nodes_known:
                return False
            index = current
        if not self.told.first(host.ip, index, host.protocol):
            return False
        self._nodes_known[known] = max(index, self._nodes_known.get(known, index))
        return True

    def _retire(self) -> None:
        """Windows before the previous one are over: store their final evidence, forget
        them (a flow still open from then counts in the window it started in, so the
        previous window is kept)."""
        window, now = self.config.window, self.session.now
        if window <= 0 or not math.isfinite(now):  # no packet yet
            return
        current = window_index(now, window)
        self._store(self.session.analysis.suspects.retire(current - 1))
        self.session.analysis.nodes.retire(current - 1)  # told by _nodes just before
        self._retired_before = current - 1
        for known in [k for k, w in self._nodes_known.items() if w < current - 1]:
            del self._nodes_known[known]
        self.told.forget_before(current - 1)

    def health_line(self, now: float) -> str:
        since, packets_then = self._last_health
        counters = self.source.counters()
        rate = (counters.packets - packets_then) / max(now - since, 1e-9)
        drops = f"{counters.kernel_dropped:,}" if counters.known_drops else "unknown yet"
        evicted = self.session.tracker.stats.evicted
        return (
            f"health: up {now - self._started:.0f} s, {counters.packets:,} packets "
            f"({rate:,.0f}/s), {self.session.tracker.table.index_slots.shape[0]:,} flows "
            f"open, {self.report.suspects_told:,} suspects told, kernel: "
            f"{counters.kernel_received:,} received, {drops} dropped"
            + (f", {self.report.nodes_told:,} crypto nodes told" if self.report.nodes_told else "")
            + (f", {evicted:,} flows evicted (--max-flows)" if evicted else "")
            + (f", ring full {counters.ring_full:,} times" if counters.ring_full else "")
            + (f", {counters.damaged_blocks:,} damaged blocks" if counters.damaged_blocks else "")
        )

    def _health(self, now: float) -> None:
        line = self.health_line(now)
        self.err.write(f"minewatch: {line}\n")
        self.err.flush()
        for sink in self.sinks:
            sink.health(line)
        self._last_health = (now, self.source.counters().packets)

    def _finish(self) -> None:
        """Every open flow ends and is scored; every pending alert is written; every
        suspect is stored with its final evidence."""
        final = self.session.finish()
        self._tell(self.session.take_new_suspects())
        nodes = self._nodes(final=True)  # after every miner, as scan tells them
        self._store(final.suspects.stream())
        self._store(nodes)
        self.report.flows = final.flows.flows


# --- several workers (``live --workers N``) -------------------------------------------
#
# As Suricata's and Zeek's workers do, N processes share the traffic by flow: each opens
# its own sockets in one PACKET_FANOUT hash group (the kernel's hash is symmetric, so both
# directions of a flow reach the same worker) and runs its own session. What leaves a
# worker is plain data on a queue: alerts, suspects to store, health lines. The parent
# owns the sinks and the store - one writer, one merged store - and tells each (IP,
# window) once across all workers: an IP whose flows landed on two workers is alerted
# once, and its evidence is merged by the store.


class _QueueSink:
    """A worker's sink: events and health lines go to the parent."""

    def __init__(self, queue, worker: int) -> None:  # type: ignore[no-untyped-def]
        self.queue, self.worker = queue, worker

    def event(self, event: dict) -> None:
        self.queue.put(("event", self.worker, event))

    def health(self, line: str) -> None:
        self.queue.put(("health", self.worker, line))

    def reopen(self) -> None:
        """The parent reopens the real sinks."""

    def close(self) -> None:
        pass


class _QueueStore:
    """A worker's store: suspects go to the parent as plain data (plain.py)."""

    def __init__(self, queue) -> None:  # type: ignore[no-untyped-def]
        self.queue = queue

    def upsert_many(self, suspects: Iterable[Suspect], sensor: str | None = None) -> int:
        from detector import plain

        texts = [plain.dumps(s) for s in suspects]
        if texts:
            self.queue.put(("store", sensor, texts))
        return len(texts)


class _Quiet:
    """A worker's stderr for health lines: they travel as messages instead."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _worker_main(  # type: ignore[no-untyped-def]
    worker: int,
    open_source,
    name: str,
    config: ScanConfig,
    detector: Detector,
    queue,
    health_every: float,
    extended: bool,
    store: bool,
    user: str | None,
    evidence=None,
) -> None:
    """One worker process: its own capture in the fanout group, its own session. The
    parent's signal handlers came with the fork: stop signals are ignored here until the
    sensor's own handlers are in place (STOP.installed), and again after they are gone,
    while the last messages go out; the parent repeats SIGTERM until every worker is done."""
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    try:
        source = open_source()
        if user:
            from detector.source.privileges import drop_privileges

            drop_privileges(user)
    except Exception as exc:  # noqa: BLE001 - reported by the parent, one line
        queue.put(("failed", worker, str(exc)))
        return
    queue.put(("ready", worker, source.kind))
    sensor = LiveSensor(
        name, source, config, detector, [_QueueSink(queue, worker)],
        _QueueStore(queue) if store else None, health_every, _Quiet(), extended,
        evidence() if evidence else None,
    )  # fmt: skip
    report = sensor.run()
    queue.put(("done", worker, (report.error, report.counters)))


def run_workers(
    workers: int,
    open_source: Callable[[], LiveSource],
    name: str,
    config: ScanConfig,
    detector: Detector,
    sinks: list[AlertSink],
    store: SuspectStore | None,
    health_every: float,
    extended: bool,
    user: str | None,
    err: TextIO,
    evidence: Callable[[], EvidenceKeeper] | None = None,
) -> LiveReport:
    """Run ``workers`` worker processes (fork: they share the loaded rules and model) and
    be their single writer until every one has stopped."""
    import multiprocessing

    from detector import plain
    from detector.errors import InputError

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    procs = [
        context.Process(
            target=_worker_main,
            args=(
                k,
                open_source,
                name,
                config,
                detector,
                queue,
                health_every,
                extended,
                store is not None,
                user,
                evidence,
            ),
            name=f"minewatch-worker-{k}",
            daemon=True,
        )  # fmt: skip
        for k in range(workers)
    ]
    report = LiveReport()
    told, newest = ToldOnce(), 0  # newest: the latest window an alert was told in
    reopen = False
    stop: int | None = None

    def on_hup(signum: int, frame: FrameType | None) -> None:
        nonlocal reopen
        reopen = True

    def on_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = signum
        tell_workers_to_stop()

    def tell_workers_to_stop() -> None:
        for proc in procs:  # systemd signals the whole group; a shell only this process
            if proc.pid is not None and proc.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    previous = {
        s: signal.signal(s, h)
        for s, h in ((signal.SIGHUP, on_hup), (signal.SIGTERM, on_stop), (signal.SIGINT, on_stop))
    }
    started = time.monotonic()
    try:
        for proc in procs:
            proc.start()
        running = set(range(workers))
        while running:
            try:
                kind, worker, payload = queue.get(timeout=MAX_WAIT)
            except EmptyQueue:
                if stop is not None:
                    tell_workers_to_stop()  # a worker still starting ignored the first one
                for k in list(running):
                    if not procs[k].is_alive() and procs[k].exitcode not in (None, 0):
                        report.error = report.error or f"worker {k} died ({procs[k].exitcode})"
                        running.discard(k)
                kind = None
            if reopen:
                reopen = False
                for sink in sinks:
                    sink.reopen()
            if kind == "event":
                window = window_index(_event_time(payload), config.window)
                if window > newest:  # as a sensor retires its windows (LiveSensor._retire)
                    newest = window
                    told.forget_before(newest - 1)
                node = "" if is_mining_alert(payload) else _node_protocol(payload)
                if told.first(payload.get("src_ip", ""), window, node):
                    for sink in sinks:
                        sink.event(payload)
                    if node:
                        report.nodes_told += 1
                    else:
                        report.suspects_told += 1
            elif kind == "store" and store is not None:
                sensor, texts = worker, payload  # ("store", sensor name, suspects)
                suspects = [plain.loads(Suspect, text) for text in texts]
                try:
                    store.upsert_many(suspects, sensor)
                except InputError as exc:  # as LiveSensor._store: warn, go on
                    report.store_failures += 1
                    err.write(f"minewatch: warning: {exc}\n")
            elif kind == "health":
                line = f"worker {worker + 1}/{workers} {payload}"
                err.write(f"minewatch: {line}\n")
                err.flush()
                for sink in sinks:
                    sink.health(line)
            elif kind == "ready":
                err.write(f"minewatch: worker {worker + 1}/{workers} capturing ({payload})\n")
                err.flush()
            elif kind == "failed":
                report.error = report.error or payload
                running.discard(worker)
                on_stop(signal.SIGTERM, None)
            elif kind == "done":
                error, counters = payload
                report.error = report.error or error
                report.counters.add(counters)
                running.discard(worker)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        for proc in procs:
            proc.join(timeout=5)
    report.stopped_by = stop
    report.seconds = time.monotonic() - started
    return report


def _event_time(event: dict) -> float:
    """An alert's time (its flow's start; a node alert's: its host's first flow), for the
    window it is told in."""
    from datetime import datetime

    try:
        flow = event.get("flow")
        return datetime.fromisoformat(flow["start"] if flow else event["timestamp"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


def _node_protocol(event: dict) -> str:
    """A crypto-node alert's protocol (its ``node_protocol`` metadata): with the IP and
    window, what it is told once per."""
    try:
        return str(event["alert"]["metadata"]["node_protocol"][0])
    except (KeyError, IndexError, TypeError):
        return "node"
