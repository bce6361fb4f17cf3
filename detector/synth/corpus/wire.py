"""A streamed TCP connection seen at the client's uplink, with ACKs, loss and retransmission.

The benchmark's :class:`~detector.synth.tcp.Tcp` stamps whatever segment its caller asks for;
the corpus needs the connection to behave as a stack does, for every one of tens of thousands
of flows, without each flow writing it again. :class:`Conn` keeps that model:

* **Where the tap is.** Next to the client: a client segment is seen when it is sent, a
  server segment when it reaches the client. A request seen at ``t`` reaches the server at
  ``t + rtt/2``; the answer is seen at ``t + rtt + processing``.
* **ACKs.** The receiver owes an ACK for each message: the client's after its delayed-ACK
  timer (quick ACK half of the time, else up to 40 ms; Linux), the server's one RTT later.
  Data the receiver sends before that carries the ACK and no pure ACK is sent. In bulk
  transfers the receiver ACKs every second full segment. Acknowledgement numbers cover only
  what has arrived by then.
* **Loss** (``loss`` per segment). A client segment lost beyond the tap is seen twice: sent,
  then retransmitted after the RTO (Linux: at least 200 ms, RTT-based above that); the
  server's ACKs of the segments after it stop at the hole until the retransmission has
  reached it. A server segment lost before the tap is seen once, late and out of order; the
  client answers the segments after the hole with duplicate ACKs and the retransmission
  with a full ACK, and its receive window has grown to hold what the server sends
  meanwhile (a segment beyond it would be out of window).
* **Keep-alive probes** (``probe``): a segment one byte below the next sequence number,
  answered by an ACK, as Linux sends them on an idle socket with SO_KEEPALIVE.

Segments go into a small heap and leave it in time order (:meth:`Conn.drain`). A flow calls
the sending methods with nondecreasing times and drains up to the latest of them; every
segment scheduled later is due at or after that time, so a flow's records come out in order.
A segment is scheduled with its sequence and acknowledgement numbers and packed only when it
leaves the heap, in the order it is seen: its IP-ID and TCP timestamps are then those of a
stack sending in that order - each side's TSval never goes back, and its TSecr echoes the
latest TSval seen from the peer (the SYN-ACK the SYN's; :mod:`detector.synth.tcp`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from random import Random

from detector.synth.ip import ACK, FIN, PA, RA, SYN
from detector.synth.tcp import M32, Side, Tcp

Record = tuple[int, bytes]  # (ts_us, pcap record)
MSS = 1448
RTO_MIN = 200_000
CLIENT_WSCALE = 7  # the window scale of the client's SYN


class Conn:
    """One TCP connection between a LAN client and a server beyond the gateway."""

    __slots__ = (
        "tcp",
        "c",
        "s",
        "rng",
        "rtt",
        "loss",
        "q",
        "n",
        "now",
        "packets",
        "pend_c",
        "pend_s",
        "rcv_c",
        "rcv_s",
        "mss",
    )

    def __init__(
        self,
        rng: Random,
        client: str,
        cport: int,
        server: str,
        sport: int,
        *,
        rtt: int,
        loss: float = 0.0,
        client_ttl: int = 64,
        server_ttl: int = 52,
        client_win: int = 502,
        server_win: int = 509,
    ) -> None:
        self.tcp = Tcp(
            rng,
            client,
            cport,
            server,
            sport,
            client_ttl=client_ttl,
            server_ttl=server_ttl,
            client_win=client_win,
            server_win=server_win,
        )
        self.c: Side = self.tcp.c
        self.s: Side = self.tcp.s
        self.rng = rng
        self.rtt = rtt
        self.loss = loss
        self.mss = MSS
        # scheduled segments: (ts, order, side, flags, payload, seq, ack, window scale)
        self.q: list[tuple[int, int, Side, int, bytes, int, int, int]] = []
        self.n = 0
        self.now = 0
        self.packets = 0
        # pending pure ACK of each side: (due ts, ack number) or None
        self.pend_c: tuple[int, int] | None = None
        self.pend_s: tuple[int, int] | None = None
        # what each side has received of its peer: (older ack, newer ack, newer from ts)
        self.rcv_c = (self.s.seq, self.s.seq, 0)
        self.rcv_s = (self.c.seq, self.c.seq, 0)

    # --- records -------------------------------------------------------------------------

    def _seg(self, ts: int, side: Side, flags: int, payload: bytes, seq: int, ack: int) -> None:
        """Schedule a segment; it is packed when it leaves the heap (:meth:`drain`)."""
        heapq.heappush(self.q, (ts, self.n, side, flags, payload, seq, ack, 0))
        self.n += 1

    def drain(self, upto: int) -> Iterator[Record]:
        """Records stamped at or before ``upto``, in time order."""
        q = self.q
        tcp = self.tcp
        while q and q[0][0] <= upto:
            ts, _, side, flags, payload, seq, ack, wscale = heapq.heappop(q)
            self.packets += 1
            if flags & SYN:
                yield ts, tcp.stamp_syn(ts, side, seq, ack, wscale=wscale)
            else:
                yield ts, tcp.stamp(ts, side, flags, seq, ack, payload)

    def flush(self) -> Iterator[Record]:
        """Records up to the latest event: what a flow yields after each of its events."""
        return self.drain(self.now)

    def finish(self) -> Iterator[Record]:
        """Every record still queued (the pending ACKs first settled)."""
        self._settle(1 << 62, None)
        yield from self.drain(1 << 62)

    # --- ACK bookkeeping ------------------------------------------------------------------

    def _ack_of(self, side: Side, ts: int) -> int:
        old, new, since = self.rcv_c if side is self.c else self.rcv_s
        return new if ts >= since else old

    def _received(self, side: Side, ack: int, since: int) -> None:
        """``side`` has everything up to ``ack`` from ``since`` on (tap time).

        Acknowledgements are cumulative: when earlier data arrives later (its segment was
        lost and is retransmitted), ``ack`` only holds once that data is in too."""
        old, new, at = self.rcv_c if side is self.c else self.rcv_s
        value = (new, ack, since) if since >= at else (old, ack, at)
        if side is self.c:
            self.rcv_c = value
        else:
            self.rcv_s = value

    def _settle(self, t: int, sender: Side | None) -> None:
        """Send the pure ACKs due by ``t``; a sender's own pending ACK rides on its data."""
        for side in (self.c, self.s):
            pend = self.pend_c if side is self.c else self.pend_s
            if pend is None:
                continue
            due, ackno = pend
            if side is sender and due >= t:
                pass  # piggybacked on the data about to be sent
            elif due <= t:
                self._seg(due, side, ACK, b"", side.seq, ackno)
            else:
                continue
            if side is self.c:
                self.pend_c = None
            else:
                self.pend_s = None

    def _owe(self, side: Side, due: int, ackno: int) -> None:
        if side is self.c:
            if self.pend_c is not None:
                due = max(due, self.pend_c[0])
            self.pend_c = (due, ackno)
        else:
            if self.pend_s is not None:
                due = max(due, self.pend_s[0])
            self.pend_s = (due, ackno)

    # --- connection life ------------------------------------------------------------------

    def open(self, t: int) -> int:
        """SYN, SYN-ACK one RTT later, the client's ACK; returns when data can flow."""
        t2 = t + self.rtt
        t3 = t2 + self.rng.randint(40, 200)
        c, s = self.c, self.s
        heapq.heappush(self.q, (t, self.n, c, SYN, b"", c.seq, 0, CLIENT_WSCALE))
        c.seq = (c.seq + 1) & M32
        wscale = self.rng.choice((7, 8, 9, 10))
        heapq.heappush(self.q, (t2, self.n + 1, s, SYN | ACK, b"", s.seq, c.seq, wscale))
        s.seq = (s.seq + 1) & M32
        self.n += 2
        self._seg(t3, c, ACK, b"", c.seq, s.seq)
        self.rcv_c = (self.s.seq, self.s.seq, 0)
        self.rcv_s = (self.c.seq, self.c.seq, 0)
        self.now = t3
        return t3

    def send(self, t: int, side: Side, data: bytes, gap: int = 25) -> int:
        """``data`` from ``side`` at ``t``, cut at the MSS, ``gap`` us between segments.

        Returns the tap time of the last segment (its retransmission if it was lost).
        """
        if t < self.now:
            t = self.now
        self._settle(t, side)
        peer = side.peer
        from_client = side is self.c
        rng, loss, mss = self.rng, self.loss, self.mss
        n = len(data)
        ts = t
        arrive = t
        hole = -1  # seq of a server segment lost before the tap ...
        filled = 0  # ... and when its retransmission reaches the client
        inflight = 0  # server data beyond that hole before the client ACKs past it
        healed = False  # the client has ACKed past the hole
        lost: list[tuple[int, int]] = []  # client segments lost beyond the tap: (seq, again)
        nseg = 0
        for off in range(0, n, mss):
            chunk = data[off : off + mss]
            last = off + mss >= n
            flags = PA if last else ACK
            seq = side.seq
            side.seq = (seq + len(chunk)) & M32
            ack = self._ack_of(side, ts)
            nseg += 1
            if loss and hole < 0 and rng.random() < loss:
                # fast retransmit after three duplicate ACKs, else the retransmission timer
                if (n - off) // mss >= 3:
                    again = ts + 3 * gap + self.rtt + rng.randint(100, 2_000)
                else:
                    again = ts + max(RTO_MIN, 2 * self.rtt) + rng.randint(0, 30_000)
                if from_client:
                    self._seg(ts, side, flags, chunk, seq, ack)
                    lost.append((seq, again))
                else:
                    hole, filled = seq, again
                self._seg(again, side, flags, chunk, seq, ack)
                arrive = max(arrive, again)
            else:
                self._seg(ts, side, flags, chunk, seq, ack)
                arrive = max(arrive, ts)
                # the server's ACK of a segment seen at ts is seen at ts + rtt; it stops at
                # the first lost segment whose retransmission (seen at again) came after
                gap_at = next((q for q, again in lost if again > ts), -1) if lost else -1
                if hole >= 0 and ts < filled:  # the client repeats its ACK up to the hole
                    self._seg(ts + 30, self.c, ACK, b"", self.c.seq, hole)
                    inflight = (side.seq - hole) & M32
                elif hole >= 0 and not healed:  # the retransmission came; no ACK since
                    inflight = (side.seq - hole) & M32
                    if nseg % 2 == 0 and not last:
                        self._seg(ts + 12, peer, ACK, b"", peer.seq, side.seq)
                        healed = True
                elif gap_at >= 0:  # the server repeats its ACK up to the lost segment
                    self._seg(ts + self.rtt, peer, ACK, b"", peer.seq, gap_at)
                elif nseg % 2 == 0 and not last:  # ACK every second full segment
                    if from_client:
                        self._seg(ts + self.rtt, peer, ACK, b"", peer.seq, side.seq)
                    else:
                        self._seg(ts + 12, peer, ACK, b"", peer.seq, side.seq)
            ts += gap
        if inflight:
            # the client's duplicate ACKs leave the server room for what it sends until the
            # retransmission fills the hole: its receive window has grown that far (Linux
            # autotunes it; it never shrinks)
            grown = min(-(-inflight >> CLIENT_WSCALE), 0xFFFF)
            if grown > peer.win:
                peer.win = grown
        ackno = side.seq
        # the receiver's ACK of the whole message: not before all of it, and all that came
        # before it, has arrived (an earlier message may still wait for a retransmission)
        if from_client:
            self._received(peer, ackno, arrive + self.rtt)
            due = arrive + self.rtt + rng.randint(50, 1_500)
            self._owe(peer, max(due, self.rcv_s[2]), ackno)
        else:
            self._received(peer, ackno, arrive)
            quick = nseg > 1 or rng.random() < 0.5
            delay = rng.randint(20, 300) if quick else rng.randint(4_000, 40_000)
            self._owe(peer, max(arrive + delay, self.rcv_c[2]), ackno)
        self.now = t
        return arrive

    def probe(self, t: int, side: Side) -> None:
        """A TCP keep-alive probe from ``side`` and the peer's ACK."""
        if t < self.now:
            t = self.now
        self._settle(t, side)
        peer = side.peer
        self._seg(t, side, ACK, b"", (side.seq - 1) & M32, self._ack_of(side, t))
        back = t + (self.rtt if side is self.c else self.rng.randint(30, 300))
        self._seg(back, peer, ACK, b"", peer.seq, side.seq)
        self.now = t

    def close(self, t: int, first: Side, rst: bool = False) -> int:
        """An orderly close started by ``first`` (FIN, FIN, ACK) or a reset from it."""
        if t < self.now:
            t = self.now
        self._settle(t, first)
        if rst:
            self._seg(t, first, RA, b"", first.seq, self._ack_of(first, t))
            self.now = t
            return t
        second = first.peer
        self._seg(t, first, FIN | ACK, b"", first.seq, self._ack_of(first, t))
        first.seq = (first.seq + 1) & M32
        t2 = t + (self.rtt if first is self.c else self.rng.randint(100, 400))
        self._settle(t2, second)
        self._seg(t2, second, FIN | ACK, b"", second.seq, first.seq)
        second.seq = (second.seq + 1) & M32
        t3 = t2 + (self.rng.randint(40, 120) if first is self.c else self.rtt)
        self._seg(t3, first, ACK, b"", first.seq, second.seq)
        self.pend_c = self.pend_s = None
        self.now = t
        return t3
