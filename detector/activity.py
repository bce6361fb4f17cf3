"""Activity timelines: jobs and shares over time, in bounded, mergeable buckets.

The investigation report draws each suspect's activity (docs/ARCHITECTURE.md §13): when
its pool sent jobs and when it sent shares. A timeline is plain data - a list of
``(bucket_start, bucket_seconds, jobs, shares)`` tuples, sorted by start, every bucket of
one width - so it crosses processes and machines through the plain-data codec as it is.

Why buckets aligned to the epoch, with widths ``BASE_SECONDS`` x 2^k: merging two timelines
is then exact. A timeline keeps at most ``cap`` (non-empty) buckets; when an event would
make one more, the width doubles (neighbouring buckets add up) until the cap holds again.
So a timeline's width is always the narrowest ``BASE_SECONDS`` x 2^k, at least as wide as
that of any timeline merged into it, at which its events fit in ``cap`` buckets - a
function of the events and the inputs' widths alone, whatever the order of adding and
merging: the timeline of one capture equals the merge of its parts' (per flow, per
capture, per worker process). Memory is bounded by ``cap`` per timeline.
"""

from __future__ import annotations

import math

BASE_SECONDS = 60.0
FLOW_CAP = 64  # buckets per flow: 64 minutes at full resolution, then coarser
SUSPECT_CAP = 256  # buckets per suspect (what the report plots)

Bucket = tuple[float, float, int, int]  # (start, epoch s; width, s; jobs; shares)


def add(
    timeline: list[Bucket] | None, ts: float, jobs: int, shares: int, cap: int = FLOW_CAP
) -> list[Bucket]:
    """``timeline`` with ``jobs`` and ``shares`` more at time ``ts`` (a new list if None).

    Events come in time order nearly always, so the last bucket is tried first."""
    if timeline is None:
        timeline = []
    if not math.isfinite(ts) or (jobs <= 0 and shares <= 0):
        return timeline
    width = timeline[0][1] if timeline else BASE_SECONDS
    start = _start(ts, width)
    if timeline and timeline[-1][0] == start:
        _, _, j, s = timeline[-1]
        timeline[-1] = (start, width, j + jobs, s + shares)
        return timeline
    if len(timeline) < cap and (not timeline or timeline[-1][0] < start):
        timeline.append((start, width, jobs, shares))
        return timeline
    merged = _merge_into({b[0]: [b[2], b[3]] for b in timeline}, [(start, width, jobs, shares)])
    return _normalised(merged, width, cap, timeline)


def merge(mine: list[Bucket] | None, theirs: list[Bucket] | None, cap: int) -> list[Bucket]:
    """Both timelines' events in one (``mine`` is reused when it can be): exact, see the
    module docstring."""
    if not theirs:
        return _coarsened_to_cap(list(mine or []), cap)
    if not mine:
        return _coarsened_to_cap(list(theirs), cap)
    width = max(mine[0][1], theirs[0][1])
    counts: dict[float, list[int]] = {}
    _merge_into(counts, mine, width)
    _merge_into(counts, theirs, width)
    return _normalised(counts, width, cap, mine)


def totals(timeline: list[Bucket] | None) -> tuple[int, int]:
    """(jobs, shares) over the whole timeline."""
    if not timeline:
        return 0, 0
    return sum(b[2] for b in timeline), sum(b[3] for b in timeline)


def _start(ts: float, width: float) -> float:
    return math.floor(ts / width) * width


def _merge_into(
    counts: dict[float, list[int]], buckets: list[Bucket], width: float | None = None
) -> dict[float, list[int]]:
    for start, w, jobs, shares in buckets:
        _add(counts, start if width is None or w == width else _start(start, width), jobs, shares)
    return counts


def _add(counts: dict[float, list[int]], key: float, jobs: int, shares: int) -> None:
    cell = counts.get(key)
    if cell is None:
        counts[key] = [jobs, shares]
    else:
        cell[0] += jobs
        cell[1] += shares


def _normalised(
    counts: dict[float, list[int]], width: float, cap: int, out: list[Bucket]
) -> list[Bucket]:
    """``counts`` (start -> [jobs, shares] at ``width``) as a sorted timeline in ``out``,
    the width doubled as often as ``cap`` needs."""
    while len(counts) > cap:
        width *= 2
        coarser: dict[float, list[int]] = {}
        for start, (jobs, shares) in counts.items():
            _add(coarser, _start(start, width), jobs, shares)
        counts = coarser
    out[:] = [(start, width, j, s) for start, (j, s) in sorted(counts.items())]
    return out


def _coarsened_to_cap(timeline: list[Bucket], cap: int) -> list[Bucket]:
    if len(timeline) <= cap:
        return timeline
    width = timeline[0][1]
    return _normalised(_merge_into({}, timeline, width), width, cap, timeline)
