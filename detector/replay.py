"""Drive a capture session from a capture: a file, stdin or a pipe.

A file is read as fast as it goes and its clock is its packets' timestamps alone, so a
replay gives the same result however fast the machine is. Stdin and pipes, which a live
source may feed (``tcpdump -w -``, a slow writer), are read with ``max_wait``: the reader
hands over what arrived after at most that long, and when nothing arrived the session is
ticked with the capture clock moved on by the wall time since the last packet came in, so
flows idle out while the pipe is quiet (docs/ARCHITECTURE.md §7).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from detector.config import Detector, ScanConfig
from detector.errors import CorruptCapture, InputError
from detector.session import CaptureScan, CaptureSession
from detector.source import CaptureInput, RecordBatch, read_capture
from detector.source.rotation import Chain
from detector.suspects import Suspect

Progress = Callable[[int], None]  # called with bytes of input consumed so far
SuspectSink = Callable[[Suspect], None]  # told of each new suspect as it appears


class Interrupted(Exception):
    """A stop signal arrived while the driver waited for input."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopRequest:
    """SIGINT or SIGTERM during a scan: stop at the next batch and keep what was found
    (as Suricata and Zeek write their logs when told to stop). The handler only notes the
    signal - raising at any point could leave a session half-updated - except while the
    driver waits for input (a quiet pipe), where nothing is half-done."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.waiting = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum
        if self.waiting:
            raise Interrupted(signum)

    @contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Handle SIGINT and SIGTERM this way for the duration of a run."""
        self.signum, self.waiting = None, False
        previous = {sig: signal.signal(sig, self._handler) for sig in _STOP_SIGNALS}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    @contextmanager
    def waiting_for_input(self) -> Iterator[None]:
        self.waiting = True
        try:
            if self.signum is not None:
                raise Interrupted(self.signum)
            yield
        finally:
            self.waiting = False


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# How long a stream (stdin, a pipe) may keep what it has read before it goes through the
# stages: ``tcpdump -w - | minewatch scan -`` reports as traffic comes, and a stop signal
# loses at most this much of it.
STREAM_MAX_WAIT = 1.0
# The process's stop request: one scan runs per process (workers ignore SIGINT).
STOP = StopRequest()


class IdleClock:
    """Capture time that goes on while no packet arrives: the last packet's time plus the
    wall time since it was seen. On a live source both are the same clock."""

    def __init__(self, wall: Callable[[], float] = time.monotonic) -> None:
        self.wall = wall
        self.last_ts = float("-inf")
        self.seen_at = wall()

    def packets_until(self, ts: float) -> None:
        if ts > self.last_ts:
            self.last_ts, self.seen_at = ts, self.wall()

    def now(self) -> float:
        return self.last_ts + (self.wall() - self.seen_at)


def scan_capture(
    cap: CaptureInput,
    config: ScanConfig,
    detector: Detector,
    progress: Progress | None = None,
    on_suspect: SuspectSink | None = None,
    max_wait: float | None = None,
) -> CaptureScan:
    """Scan one capture in its own session; never raises for bad capture content (the
    report says what went wrong; everything found before damage is kept)."""
    session = CaptureSession(cap.display, config, detector, announce=on_suspect is not None)
    _read(cap, config, lambda batch: session, progress, on_suspect, max_wait)
    return _finish(session, on_suspect)


def scan_chain(
    chain: Chain,
    config: ScanConfig,
    detector: Detector,
    progress: Progress | None = None,
    on_suspect: SuspectSink | None = None,
) -> list[CaptureScan]:
    """Scan rotated files of one capture stream (source/rotation.py) as one session, so
    a connection that goes on from one file into the next is one flow, counted once.

    A file continues the session only when its first packet is at or after the last packet
    read so far and within the TCP idle timeout of it (what tcpdump's rotation gives;
    ``config.flow.idle_timeout``): otherwise, and after a file that ends in an error, the
    session ends there and the next file starts a new one. One CaptureScan per session,
    in order; a file that continued a session is named in its report's ``joined``."""
    if len(chain) == 1:
        return [scan_capture(chain[0], config, detector, progress, on_suspect)]
    scans: list[CaptureScan] = []
    session: CaptureSession | None = None
    last_ts = float("-inf")
    gap = config.flow.idle_timeout
    done = 0
    for cap in chain:
        if STOP.signum is not None:
            break

        def choose(batch: RecordBatch | None, cap: CaptureInput = cap) -> CaptureSession:
            nonlocal session, last_ts
            if session is not None and batch is not None and len(batch):
                first = float(batch.ts.min())
                if last_ts > float("-inf") and not last_ts <= first <= last_ts + gap:
                    scans.append(_finish(session, on_suspect))
                    session, last_ts = None, float("-inf")
            if session is None:
                announce = on_suspect is not None
                session = CaptureSession(cap.display, config, detector, announce=announce)
            else:
                session.report.joined.append(cap.display)
            return session

        step = None
        if progress is not None:
            step = lambda pos, base=done: progress(base + pos)  # noqa: E731
        fed, newest = _read(cap, config, choose, step, on_suspect, None)
        last_ts = max(last_ts, newest)
        done += _size(cap)
        if fed.report.error is not None:  # damage: what follows is not known to continue
            scans.append(_finish(fed, on_suspect))
            session, last_ts = None, float("-inf")
    if session is not None:
        scans.append(_finish(session, on_suspect))
    return scans


def _read(
    cap: CaptureInput,
    config: ScanConfig,
    choose: Callable[[RecordBatch | None], CaptureSession],
    progress: Progress | None,
    on_suspect: SuspectSink | None,
    max_wait: float | None,
) -> tuple[CaptureSession, float]:
    """Feed one capture to the session ``choose`` names when it sees the capture's first
    batch (None: there is no packet to judge by); return that session and the newest
    packet time read. Bad content ends the capture with the session's ``report.error``."""
    if cap.problem is not None:  # found unusable (or skipped) when the inputs were listed
        session = choose(None)
        if cap.fatal:
            session.report.error = cap.problem
        else:
            session.report.warnings.append(cap.problem)
        return session, float("-inf")
    if max_wait is None and cap.fmt == "?":  # stdin or a pipe: whatever feeds it may pause
        max_wait = STREAM_MAX_WAIT
    try:
        stream, batches = read_capture(cap, config.chunk_size, max_wait)
    except InputError as exc:
        session = choose(None)
        session.report.error = str(exc)
        return session, float("-inf")
    clock = IdleClock() if max_wait is not None else None
    read_time = time.perf_counter
    newest = float("-inf")
    chosen: CaptureSession | None = None
    try:
        iterator = iter(batches)
        while True:
            started = read_time()
            with STOP.waiting_for_input():
                batch = next(iterator, None)
            session = chosen = chosen or choose(batch)
            session.times.read += read_time() - started
            if batch is None:
                break
            if len(batch):
                newest = max(newest, float(batch.ts.max()))
            session.feed(batch)
            if clock is not None:
                if len(batch):
                    clock.packets_until(session.now)
                elif clock.last_ts > float("-inf"):
                    session.tick(clock.now())
            # Drop this batch (and its chunk buffer) before the reader fills the next one,
            # so only one chunk is ever alive.
            del batch
            if progress is not None:
                progress(stream.raw_pos())
            if on_suspect is not None:
                for suspect in session.take_new_suspects():
                    on_suspect(suspect)
            if STOP.signum is not None:
                break
    except Interrupted:
        pass  # what was read is kept; the run stops after this capture
    except CorruptCapture as exc:
        chosen = chosen or choose(None)
        chosen.report.error = f"{exc} (results before it are kept)"
    except InputError as exc:  # the file header itself is unusable (e.g. cut short)
        chosen = chosen or choose(None)
        chosen.report.error = str(exc)
    finally:
        stream.close()
    return chosen or choose(None), newest


def _finish(session: CaptureSession, on_suspect: SuspectSink | None) -> CaptureScan:
    scanned = session.finish()
    if on_suspect is not None:
        for suspect in session.take_new_suspects():
            on_suspect(suspect)
    return scanned


def chain_size(chain: Chain) -> int:
    """Bytes of a chain's files, what progress counts in."""
    return sum(_size(cap) for cap in chain)


def _size(cap: CaptureInput) -> int:
    """Bytes of a capture file, what progress counts in (0 for stdin and pipes)."""
    if cap.path == "-":
        return 0
    try:
        return os.path.getsize(cap.path)
    except OSError:
        return 0
