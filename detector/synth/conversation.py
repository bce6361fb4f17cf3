"""Scripted TCP conversations seen from a tap next to the client, with a real ACK model.

Why a model and not just segments: a detector that reassembles streams must be tested on
what real stacks put on the wire between the messages - the peer's pure ACKs (delayed ACK on
the client, one RTT later from the server), acknowledgement numbers that only cover what has
arrived, and TCP's ugly cases. A :class:`Conversation` keeps sequence and acknowledgement
numbers right while a script sends messages; a message can be split across segments,
delivered out of order or retransmitted, several messages in one segment are just
``b"".join(messages)``, and a capture can start in the middle of a session. Everything is a
pure function of the arguments: ISNs and IP-IDs are derived from the connection's addresses
and start time, timestamps are integer nanoseconds (:mod:`.clock`).

The streamed counterpart for bulk traffic, where memory must stay flat whatever the length,
is :class:`detector.synth.tcp.Tcp`. Both stamp headers with :class:`detector.synth.ip.Direction`.

Example::

    c = Conversation(("10.1.0.5", 49152), ("198.51.100.7", 3333), start=at(0))
    c.client_send(b'{"id": 1, "method": "mining.subscribe", "params": []}\\n', at(0.1))
    c.server_send(b'{"id":1,"result":[[],"00",4],"error":null}\\n', at(0.15))
    c.close(at(5))
    data = pcap_bytes(frames(c.finish(), Ethernet()), Ethernet.linktype)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from detector.synth.clock import at
from detector.synth.clock import ns as _ns
from detector.synth.ip import Direction, ip_version, tcp_flags, tcp_options
from detector.synth.links import GATEWAY_MAC, mac_for
from detector.synth.packets import Packet


def _derive(label: str, bits: int = 32) -> int:
    """A stable pseudo-random integer for ISNs and IP-ID seeds."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") % (1 << bits)


@dataclass
class _Side:
    ip: str
    port: int
    mac: bytes
    ttl: int
    window: int
    isn: int
    ip_id: int
    outgoing: bool  # True for the client: the tap is on the client's side
    nxt: int = 0  # next sequence number to send
    sent: list[tuple[int, int, int]] = field(default_factory=list)  # (ts, seq, end)
    last_ack_sent: int = 0
    fin: bool = False
    pending_due: int | None = None  # when this side owes a pure ACK
    path: Direction | None = None  # IP header stamping towards the peer, made on first use


class Conversation:
    """One TCP connection between a client (the tap's side) and a server.

    Timestamps passed to the sending methods must not go backwards: the class keeps the
    ACK bookkeeping right by processing events in time order.

    :param client: (ip, port) of the client, the host next to the capture point.
    :param server: (ip, port) of the server; IPv4 and IPv6 both work (not mixed).
    :param start: capture time of the first packet (SYN, or first data without handshake).
    :param handshake: emit SYN / SYN-ACK / ACK.  False models a capture that starts in the
        middle of a session: sequence numbers then start at arbitrary values.
    :param rtt: round-trip time client<->server in seconds.  Server packets that answer
        client data must come at least one RTT later; the server's pure ACKs do.
    :param client_ack_delay: the client's delayed-ACK timer (Linux: 40 ms).
    :param mss: maximum segment size used when a long message is split automatically.
    :param client_ttl: 64 (Linux/macOS) or 128 (Windows) as seen at the tap.
    :param server_ttl: remaining hop limit of the server's packets at the tap.
    :param server_local: the server is on the same LAN (no gateway MAC in between).
    """

    def __init__(
        self,
        client: tuple[str, int],
        server: tuple[str, int],
        start: int,
        *,
        handshake: bool = True,
        rtt: float = 0.030,
        client_ack_delay: float = 0.040,
        mss: int | None = None,
        client_ttl: int = 64,
        server_ttl: int = 52,
        client_window: int = 502,
        server_window: int = 509,
        server_local: bool = False,
    ) -> None:
        key = f"{client[0]}:{client[1]}>{server[0]}:{server[1]}@{start}"
        self.version = ip_version(client[0])
        self.mss = mss if mss is not None else (1460 if self.version == 4 else 1440)
        self.rtt = _ns(rtt)  #: round-trip time in nanoseconds
        self.client_ack_delay = _ns(client_ack_delay)
        gw = GATEWAY_MAC
        self.c = _Side(
            client[0],
            client[1],
            mac_for(client[0]),
            client_ttl,
            client_window,
            _derive("isn-c" + key),
            _derive("ipid-c" + key, 16),
            True,
        )
        self.s = _Side(
            server[0],
            server[1],
            mac_for(server[0]) if server_local else gw,
            server_ttl,
            server_window,
            _derive("isn-s" + key),
            _derive("ipid-s" + key, 16),
            False,
        )
        self.packets: list[Packet] = []
        self._now = start
        self.c.nxt = self.c.isn
        self.s.nxt = self.s.isn
        if handshake:
            self._handshake(start)
        else:
            # Mid-session: both sides already exchanged data; pretend everything up to
            # the initial numbers was delivered and acknowledged.
            self.c.sent.append((start - 1, self.c.isn, self.c.isn))
            self.s.sent.append((start - 1, self.s.isn, self.s.isn))
            self.c.last_ack_sent = self.s.isn
            self.s.last_ack_sent = self.c.isn

    # -- internals -------------------------------------------------------------------

    def _peer(self, side: _Side) -> _Side:
        return self.s if side is self.c else self.c

    def _ack_for(self, side: _Side, ts: int) -> int:
        """Highest contiguous byte of the peer's stream that ``side`` has seen at ``ts``.

        The tap is at the client: the server sees client bytes half an RTT after the tap
        and its packets reach the tap half an RTT later, hence the full-RTT lag.
        """
        peer = self._peer(side)
        horizon = ts - (self.rtt if side is self.s else 0)
        spans = sorted((seq, end) for t, seq, end in peer.sent if t <= horizon)
        ack = peer.isn
        for seq, end in spans:
            if seq > ack:
                break  # a hole: data beyond it was delivered out of order
            ack = max(ack, end)
        return ack

    def _emit(
        self,
        side: _Side,
        ts: int,
        flags: str,
        seq: int,
        payload: bytes = b"",
        options: Sequence[tuple[str, object]] = (),
        window: int | None = None,
        ack: int | None = None,
    ) -> None:
        peer = self._peer(side)
        if "A" in flags and ack is None:
            ack = self._ack_for(side, ts)
        if side.path is None:
            side.path = Direction(side.ip, peer.ip, side.ttl)
        l3 = side.path.tcp(
            side.ip_id,
            side.port,
            peer.port,
            seq & 0xFFFFFFFF,
            (ack or 0) & 0xFFFFFFFF,
            tcp_flags(flags),
            side.window if window is None else window,
            tcp_options(options),
            payload,
        )
        version = side.path.version
        side.ip_id = (side.ip_id + 1) & 0xFFFF
        if "A" in flags and ack is not None:
            side.last_ack_sent = max(side.last_ack_sent, ack)
            if side.pending_due is not None and ack >= self._peer_end(side):
                side.pending_due = None
        self.packets.append(Packet(ts, l3, version, side.mac, peer.mac, side.outgoing))

    def _peer_end(self, side: _Side) -> int:
        peer = self._peer(side)
        return max((end for _, _, end in peer.sent), default=peer.isn)

    def _flush(self, until: int) -> None:
        """Emit every pure ACK that falls due no later than ``until``."""
        while True:
            due = [
                (x.pending_due, i, x)
                for i, x in enumerate((self.c, self.s))
                if x.pending_due is not None and x.pending_due <= until
            ]
            if not due:
                return
            t, _, side = min(due)
            side.pending_due = None
            ack = self._ack_for(side, t)
            if ack > side.last_ack_sent:
                self._emit(side, t, "A", side.nxt, ack=ack)

    def _advance(self, ts: int) -> None:
        if ts < self._now:
            raise ValueError(f"timestamps must not go backwards ({ts} < {self._now})")
        self._flush(ts)
        self._now = ts

    def _handshake(self, t: int) -> None:
        syn_opts = [
            ("MSS", self.mss),
            ("NOP", None),
            ("WScale", 7),
            ("NOP", None),
            ("NOP", None),
            ("SAckOK", b""),
        ]
        synack_opts = [
            ("MSS", 1452 if self.version == 4 else 1432),
            ("NOP", None),
            ("NOP", None),
            ("SAckOK", b""),
            ("NOP", None),
            ("WScale", 9),
        ]
        c, s = self.c, self.s
        self._emit(c, t, "S", c.isn, options=syn_opts, window=64240, ack=0)
        c.nxt = c.isn + 1
        c.sent.append((t, c.isn, c.isn + 1))
        t2 = t + self.rtt
        self._emit(s, t2, "SA", s.isn, options=synack_opts, window=65160, ack=c.isn + 1)
        s.nxt = s.isn + 1
        s.sent.append((t2, s.isn, s.isn + 1))
        t3 = t2 + _ns(0.000080)
        self._emit(c, t3, "A", c.nxt, ack=s.nxt)
        self._now = t3

    def _send(
        self,
        side: _Side,
        data: bytes,
        ts: int,
        segments: int | Sequence[int] | None,
        gap: float,
        order: Sequence[int] | None,
        retransmit: int | None,
        rto: float,
        push: bool,
    ) -> None:
        if not data:
            raise ValueError("nothing to send")
        if side.fin:
            raise ValueError("side already sent FIN")
        self._advance(ts)
        # cut the message into segments
        if segments is None:
            sizes = []
            left = len(data)
            while left:
                sizes.append(min(self.mss, left))
                left -= sizes[-1]
        elif isinstance(segments, int):
            sizes = []
            left = len(data)
            while left:
                sizes.append(min(segments, left))
                left -= sizes[-1]
        else:
            sizes = list(segments)
            if sum(sizes) != len(data) or any(n <= 0 for n in sizes):
                raise ValueError(f"segment sizes {sizes} do not add up to {len(data)}")
        chunks = []
        off = 0
        seq = side.nxt
        for n in sizes:
            chunks.append((seq + off, data[off : off + n]))
            off += n
        side.nxt = seq + len(data)
        emit_order = list(order) if order is not None else list(range(len(chunks)))
        if sorted(emit_order) != list(range(len(chunks))):
            raise ValueError(f"order {emit_order} is not a permutation of the segments")
        t = ts
        last = len(chunks) - 1
        for k, idx in enumerate(emit_order):
            s_seq, chunk = chunks[idx]
            flags = "PA" if (push and idx == last) else "A"
            self._emit(side, t, flags, s_seq, chunk)
            side.sent.append((t, s_seq, s_seq + len(chunk)))
            if k != len(emit_order) - 1:
                t += _ns(gap)
        if retransmit is not None:
            s_seq, chunk = chunks[retransmit]
            t += _ns(rto)
            flags = "PA" if (push and retransmit == last) else "A"
            self._emit(side, t, flags, s_seq, chunk)
            side.sent.append((t, s_seq, s_seq + len(chunk)))
        self._now = t
        peer = self._peer(side)
        delay = self.rtt if peer is self.s else self.client_ack_delay
        due = t + delay
        if peer.pending_due is None or due < peer.pending_due:
            peer.pending_due = due

    # -- public API ------------------------------------------------------------------

    def client_send(
        self,
        data: bytes,
        ts: int,
        *,
        segments: int | Sequence[int] | None = None,
        gap: float = 0.0002,
        order: Sequence[int] | None = None,
        retransmit: int | None = None,
        rto: float = 0.21,
        push: bool = True,
    ) -> None:
        """Send ``data`` from the client at ``ts``.

        :param segments: an int (maximum bytes per segment) or explicit segment sizes;
            default: split at the MSS only.
        :param gap: seconds between consecutive segments of this message.
        :param order: capture order of the segments, e.g. ``[1, 0]`` delivers the second
            segment first (out of order).
        :param retransmit: index of a segment to send again one ``rto`` after the last.
        :param push: set PSH on the last segment (what a socket write usually does).
        """
        self._send(self.c, data, ts, segments, gap, order, retransmit, rto, push)

    def server_send(
        self,
        data: bytes,
        ts: int,
        *,
        segments: int | Sequence[int] | None = None,
        gap: float = 0.0002,
        order: Sequence[int] | None = None,
        retransmit: int | None = None,
        rto: float = 0.21,
        push: bool = True,
    ) -> None:
        """Send ``data`` from the server at ``ts``; parameters as :meth:`client_send`."""
        self._send(self.s, data, ts, segments, gap, order, retransmit, rto, push)

    def close(self, ts: int, *, by: str = "client") -> None:
        """Orderly FIN teardown started by ``by`` ("client" or "server") at ``ts``."""
        self._advance(ts)
        first = self.c if by == "client" else self.s
        second = self._peer(first)
        self._emit(first, ts, "FA", first.nxt)
        first.sent.append((ts, first.nxt, first.nxt + 1))
        first.nxt += 1
        first.fin = True
        first.pending_due = None
        t2 = ts + (self.rtt if second is self.s else _ns(0.000150))
        second.pending_due = None
        self._emit(second, t2, "FA", second.nxt)
        second.sent.append((t2, second.nxt, second.nxt + 1))
        second.nxt += 1
        second.fin = True
        t3 = t2 + (_ns(0.000060) if first is self.c else self.rtt)
        self._emit(first, t3, "A", first.nxt)
        self._now = t3

    def reset(self, ts: int, *, by: str = "client") -> None:
        """Abort the connection with an RST from ``by`` at ``ts``."""
        self._advance(ts)
        side = self.c if by == "client" else self.s
        self._emit(side, ts, "RA", side.nxt)
        side.fin = True
        self.c.pending_due = self.s.pending_due = None

    def finish(self, ts: int | None = None) -> list[Packet]:
        """Flush outstanding pure ACKs (up to ``ts``, default: all) and return the packets."""
        self._flush(ts if ts is not None else 1 << 62)
        return self.packets


class Script:
    """Sends collected out of order, then played into a :class:`Conversation` in time order.

    Session writers schedule a request and its reply together; the reply may land after
    the next scheduled event, so the sends are sorted before the TCP model sees them.
    """

    def __init__(self) -> None:
        self._items: list[tuple[int, int, str, bytes]] = []

    def client(self, ts_ns: int, data: bytes) -> None:
        self._items.append((ts_ns, len(self._items), "c", data))

    def server(self, ts_ns: int, data: bytes) -> None:
        self._items.append((ts_ns, len(self._items), "s", data))

    def play(self, conv: Conversation) -> None:
        for ts_ns, _, side, data in sorted(self._items):
            if side == "c":
                conv.client_send(data, ts_ns)
            else:
                conv.server_send(data, ts_ns)
        self._items.clear()


class Talk:
    """One scripted connection written in order: each send advances its own clock by a
    gap (seconds from ``base``, the capture's start in ns), so a test script reads as the
    exchange it is (replies come after the request they answer, as the ACK model needs)."""

    def __init__(self, conv: Conversation, base: int, reply_gap: float = 0.2) -> None:
        self.conv, self.base, self.t, self.reply_gap = conv, base, 0.05, reply_gap

    def c(self, data: bytes, gap: float = 0.2) -> None:
        self.t += gap
        self.conv.client_send(data, at(self.t, self.base))

    def s(self, data: bytes, gap: float | None = None) -> None:
        self.t += self.reply_gap if gap is None else gap
        self.conv.server_send(data, at(self.t, self.base))
