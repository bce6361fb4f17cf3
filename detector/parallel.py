"""Scan the files of a directory in worker processes, results in input order.

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
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from detector.config import Detector, ScanConfig
from detector.replay import scan_capture
from detector.session import CaptureScan
from detector.source import CaptureInput

# In a worker process only: what its parent loaded (set by _load_in_worker).
_loaded: tuple[ScanConfig, Detector] | None = None


def _load_in_worker(config: ScanConfig, detector: Detector) -> None:
    global _loaded
    _loaded = (config, detector)


def _scan_in_worker(cap: CaptureInput) -> CaptureScan:
    assert _loaded is not None, "worker started without its detector"
    config, detector = _loaded
    return scan_capture(cap, config, detector)


def scan_parallel(
    inputs: list[CaptureInput],
    config: ScanConfig,
    detector: Detector,
    jobs: int,
    sizes: list[int],
    progress: Callable[[int], None] | None = None,
) -> Iterator[CaptureScan]:
    """Yield each capture's CaptureScan, in input order, scanned by ``jobs`` processes."""
    done = 0
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_load_in_worker,
        initargs=(config, detector),
    ) as pool:
        for size, scanned in zip(sizes, pool.map(_scan_in_worker, inputs), strict=True):
            done += size
            if progress is not None:
                progress(done)
            yield scanned
