"""Scheduling of the streamed traffic mix: flows start at random, records leave in time order.

Why streamed: a capture of millions of packets cannot be built in memory and sorted. Every
flow is a generator of records in its own time order; :func:`spawner` starts flows of one
kind as a Poisson process and :func:`merge_write` merges all generators through a heap and
writes each record as it comes out, so memory holds only the live flows.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from itertools import count
from typing import BinaryIO

from detector.synth.clock import US as S
from detector.synth.mix.context import Context
from detector.synth.pcap import file_header
from detector.synth.tcp import TAP

PCAP_HEADER = file_header(TAP.linktype)


def spawner(
    cls: type, rate: float, ctx: Context, rng: random.Random, start: int
) -> Iterator[tuple[int, None, tuple[str, Iterator]]]:
    """Poisson arrivals of ``cls`` flows (``rate`` per second) from ``start`` on."""
    t = start
    while True:
        t += int(rng.expovariate(rate) * S) + 1
        flow = cls(ctx, random.Random(rng.getrandbits(64)))
        yield t, None, (cls.__name__, flow.run(t))


def merge_write(
    fh: BinaryIO, sources: list[Iterator], max_packets: int | None, max_bytes: int | None
) -> tuple[int, int, int, int, list, dict]:
    """Write records from time-ordered generators in global time order.

    A generator yields (ts_us, record, mark); a None record means "start a flow": ``mark``
    is then (class name, flow generator). Stops at ``max_packets`` records or ``max_bytes`` bytes.
    Returns (packets, bytes, first_ts, last_ts, marks written, flows started per class).
    """
    heap: list = []
    tie = count()
    started: dict[str, int] = {}

    def push(gen: Iterator) -> None:
        for ts, rec, mark in gen:
            heapq.heappush(heap, (ts, next(tie), rec, mark, gen))
            return

    for src in sources:
        push(src)
    fh.write(PCAP_HEADER)
    size = len(PCAP_HEADER)
    npk = 0
    limit_p = max_packets if max_packets is not None else 1 << 62
    limit_b = max_bytes if max_bytes is not None else 1 << 62
    out: list[bytes] = []
    marks = []
    first = last = 0
    heappop, heapreplace = heapq.heappop, heapq.heapreplace
    while heap:
        ts, _, rec, mark, gen = heap[0]
        if rec is None:
            name, flow = mark
            push(flow)
            started[name] = started.get(name, 0) + 1
        else:
            out.append(rec)
            npk += 1
            size += len(rec)
            if mark is not None:
                marks.append(mark)
            if npk == 1:
                first = ts
            last = ts
            if len(out) >= 8192:
                fh.write(b"".join(out))
                out.clear()
            if npk >= limit_p or size >= limit_b:
                break
        nxt = next(gen, None)
        if nxt is None:
            heappop(heap)
        else:
            heapreplace(heap, (nxt[0], next(tie), nxt[1], nxt[2], gen))
    fh.write(b"".join(out))
    return npk, size, first, last, marks, started
