"""Drive a capture session from a capture: a file, stdin or a pipe.

A file is read as fast as it goes and its clock is its packets' timestamps alone, so a
replay gives the same result however fast the machine is. A pipe fed by a live source
(``tcpdump -w -``, a slow writer) is read with ``max_wait``: the reader hands over what
arrived after at most that long, and when nothing arrived the session is ticked with the
capture clock moved on by the wall time since the last packet came in, so flows idle out
while the pipe is quiet (docs/ARCHITECTURE.md §7).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from detector.config import Detector, ScanConfig
from detector.errors import CorruptCapture, InputError
from detector.session import CaptureScan, CaptureSession
from detector.source import CaptureInput, read_capture
from detector.suspects import Suspect

Progress = Callable[[int], None]  # called with bytes of input consumed so far
SuspectSink = Callable[[Suspect], None]  # told of each new suspect as it appears


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
    session = CaptureSession(cap.display, config, detector)
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
    except CorruptCapture as exc:
        session.report.error = f"{exc} (results before it are kept)"
    except InputError as exc:  # a header the reader refused: readers read it lazily
        session.report.error = str(exc)
    finally:
        stream.close()
    scanned = session.finish()
    if on_suspect is not None:
        for suspect in session.take_new_suspects():
            on_suspect(suspect)
    return scanned
