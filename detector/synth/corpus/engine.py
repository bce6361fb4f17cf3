"""The event loop of a long-lived flow: timed streams of exchanges over one connection.

Mining and its look-alikes share one skeleton: a connection that stays open while a few
independent clocks fire - the pool's job pushes and the miner's shares; a broker's
telemetry and the device's pings; a ticker's pushes and the client's heartbeats. A
:class:`Stream` is one such clock: a gap sampler (seconds to its next event), the script it
plays at each event, and what the event counts as in the label (``job``, ``share``). A
*quiet* stream (keep-alives) restarts its timer whenever the client sends.

A script is ``[(who, writes), ...]``: ``"c"`` and ``"s"`` send from the client or the
server (each answer one RTT plus processing after the request; over TLS each write is one
record), ``"="`` waits that many microseconds first (a long poll held by the server).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from random import Random

from detector.synth.corpus.flow import Flow, S
from detector.synth.corpus.tlsrec import Tls
from detector.synth.corpus.wire import Conn, Record

Writes = bytes | tuple[bytes, ...] | int
Script = list[tuple[str, Writes]]
NEVER = 1 << 62


class Stream:
    """One clock of a flow: ``gap()`` seconds between events, ``script(ts)`` at each."""

    __slots__ = ("gap", "script", "what", "quiet", "next")

    def __init__(
        self,
        gap: Callable[[], float],
        script: Callable[[int], Script],
        what: str = "",
        *,
        quiet: bool = False,
        first: float | None = None,
    ) -> None:
        self.gap = gap
        self.script = script
        self.what = what
        self.quiet = quiet
        self.next = first  # seconds after the loop starts (None: one gap)


def play(
    conn: Conn, tls: Tls | None, rng: Random, t: int, script: Script, proc: int = 0, pace: int = 25
) -> int:
    """Send ``script`` from ``t``; returns the tap time of its last write.

    ``proc`` is the server's processing time before an answer (drawn when 0); ``pace`` the
    microseconds between full segments of a long write (the path's rate).
    """
    prev = ""
    for who, writes in script:
        if who == "=":
            assert isinstance(writes, int)
            t += writes
            continue
        if prev:
            if who == prev:
                t += rng.randint(50, 3_000)
            elif who == "s":
                t += conn.rtt + (proc or rng.randint(200, 6_000))
            else:
                t += rng.randint(100, 4_000)
        side = conn.c if who == "c" else conn.s
        parts = writes if isinstance(writes, tuple) else (writes,)
        arrive = t
        for part in parts:
            if isinstance(part, int):  # a size only: the content is noise
                data = tls.records(part) if tls is not None else conn_noise(conn, part)
            else:
                data = tls.wrap(part) if tls is not None else part
            if tls is not None and who == "s" and tls.pending:
                data = tls.take_pending() + data
            arrive = conn.send(t, side, data, pace if len(data) > 2896 else 25)
            t += rng.randint(20, 120)
        t = max(t, arrive)
        prev = who
    return t


def conn_noise(conn: Conn, n: int) -> bytes:
    return conn.rng.randbytes(n)


def drive(
    flow: Flow,
    rng: Random,
    conn: Conn,
    tls: Tls | None,
    t: int,
    streams: list[Stream],
    pace: int = 25,
) -> Iterator[Record]:
    """Run ``streams`` over ``conn`` from ``t`` until the flow stops, counting jobs and
    shares on ``flow``; the generator's value is the time after the last exchange."""
    for st in streams:
        st.next = t + int((st.gap() if st.next is None else st.next) * S)
    stop = flow.stop
    end = t
    while streams:
        pick = min(streams, key=_next)
        due = pick.next
        if due >= stop:
            break
        script = pick.script(due)
        end = play(conn, tls, rng, due, script, pace=pace) if script else due
        if pick.what == "job":
            flow.jobs += 1
        elif pick.what == "share":
            flow.shares += 1
        pick.next = due + int(pick.gap() * S)
        if script and script[0][0] == "c":  # the client spoke: keep-alive timers restart
            for st in streams:
                if st.quiet and st is not pick:
                    st.next = due + int(st.gap() * S)
        floor = end + 1_000  # nothing fires while an exchange is still in flight
        for st in streams:
            if st.next < floor:
                st.next = floor
        yield from conn.flush()
    return end


def _next(st: Stream) -> int:
    return st.next  # type: ignore[return-value]
