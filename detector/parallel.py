"""Scan the files of a directory in worker processes (both cores), merged in input order.

Workers are forked after the rules, pool lists and coin tables are loaded, so nothing of
the detector travels between processes; each worker returns one capture's CaptureScan -
its suspect and node tables, bounded whatever the number of flows (suspects.py), and the
verdicts only with ``keep_all_flows``. Compiled rules hold closures and do not pickle, so
in a worker every Rule is reduced to its *id* (a ForkingPickler reducer registered in the
worker only) and the parent puts its own Rule back. Results arrive in input order
(``Executor.map``) and are merged exactly as a serial scan merges them, so the output is
identical. (The processes exchange their own results with multiprocessing's pickle;
nothing read from a capture or a model file is ever unpickled.)
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, cast

from detector.rules import Rule
from detector.source import CaptureInput

if TYPE_CHECKING:
    from detector.pipeline import CaptureScan, Detector, ScanConfig

# Set in the parent just before the workers fork; read by the workers, and by the parent
# when it unpickles rule ids.
_STATE: dict[str, object] = {}


def _rule_from_id(rule_id: int) -> Rule:
    """Runs in the parent while unpickling a worker's result: the parent's own rule."""
    detector = cast("Detector", _STATE["detector"])
    return detector.rules.rule(rule_id)


def _reduce_rule(rule: Rule) -> tuple[Callable[[int], Rule], tuple[int]]:
    return _rule_from_id, (rule.id,)


def _init_worker() -> None:
    """Send rules as ids from this worker (the parent never registers this reducer)."""
    ForkingPickler.register(Rule, _reduce_rule)


def _scan_in_worker(index: int) -> CaptureScan:
    from detector.pipeline import scan_capture

    inputs = cast("list[CaptureInput]", _STATE["inputs"])
    config = cast("ScanConfig", _STATE["config"])
    detector = cast("Detector", _STATE["detector"])
    return scan_capture(inputs[index], config, detector)


def scan_parallel(
    inputs: list[CaptureInput],
    config: ScanConfig,
    detector: Detector,
    jobs: int,
    sizes: list[int],
    progress: Callable[[int], None] | None = None,
) -> Iterator[CaptureScan]:
    """Yield each capture's CaptureScan, in input order, scanned by ``jobs`` processes."""
    _STATE.update(inputs=inputs, config=config, detector=detector)
    done = 0
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=_init_worker
        ) as pool:
            for size, scanned in zip(
                sizes, pool.map(_scan_in_worker, range(len(inputs))), strict=True
            ):
                done += size
                if callable(progress):
                    progress(done)
                yield scanned
    finally:
        _STATE.clear()
