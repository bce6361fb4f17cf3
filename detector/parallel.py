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
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from detector.config import Detector, ScanConfig
from detector.replay import STOP, Interrupted, scan_chain
from detector.session import CaptureScan
from detector.source.rotation import Chain

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
