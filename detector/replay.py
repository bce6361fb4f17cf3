"""Drive a capture session from a capture: a file, stdin or a pipe.

A file is read as fast as it goes and its clock is its packets' timestamps alone, so a
replay gives the same result however fast the machine is. Stdin and pipes, which a live
source may feed (``tcpdump -w -``, a slow writer), are read with ``max_wait``: the reader
hands over what arrived after at most that long, and when nothing arrived the session is
ticked with the capture clock moved on by the wall time since the last packet came in, so
flows idle out while the pipe is quiet (docs/ARCHITECTURE.md §7).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from detector.config import Detector, ScanConfig
from detector.errors import CorruptCapture, InputError
from detector.session import CaptureScan, CaptureSession
from detector.source import CaptureInput, read_capture
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
    if cap.problem is not None:  # found unusable (or skipped) when the inputs were listed
        if cap.fatal:
            session.report.error = cap.problem
        else:
            session.report.warnings.append(cap.problem)
        return session.finish()
    if max_wait is None and cap.fmt == "?":  # stdin or a pipe: whatever feeds it may pause
        max_wait = STREAM_MAX_WAIT
    try:
        stream, batches = read_capture(cap, config.chunk_size, max_wait)
    except InputError as exc:
        session.report.error = str(exc)
        return session.finish()
    clock = IdleClock() if max_wait is not None else None
    read_time = time.perf_counter
    try:
        iterator = iter(batches)
        while True:
            started = read_time()
            with STOP.waiting_for_input():
                batch = next(iterator, None)
            session.times.read += read_time() - started
            if batch is None:
                break
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
        session.report.error = f"{exc} (results before it are kept)"
    except InputError as exc:  # the file header itself is unusable (e.g. cut short)
        session.report.error = str(exc)
    finally:
        stream.close()
    scanned = session.finish()
    if on_suspect is not None:
        for suspect in session.take_new_suspects():
            on_suspect(suspect)
    return scanned
