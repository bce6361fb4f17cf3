"""Streamed TCP connections: every segment stamped the moment it is asked for.

Why a second TCP writer next to :class:`detector.synth.conversation.Conversation`: bulk
traffic (a 40 MB download, a million-packet capture) must be written as it is made, in time
order, with memory that stays flat - no per-segment bookkeeping, no sorting at the end. So
here the caller decides every segment (its flows know when the peer ACKs), a segment comes
back at once as a pcap record, and acknowledgement numbers are everything the peer has sent
so far (the tap is next to the client). Headers come from the same
:class:`~detector.synth.ip.Direction` and link layers as every other capture.

Segments carry what Linux puts on an established connection (NOP NOP Timestamps), SYNs
Linux's option layout (MSS, SACK-permitted, Timestamps, NOP, window scale). Timestamps are
integer microseconds.

TCP timestamps (RFC 7323) as a stack writes them, because IDS stream engines check them
(Suricata drops a SYN-ACK whose echo is not the SYN's TSval, and with it the session): each
side's TSval is its millisecond clock (a random base plus the capture time), never going
backwards; its TSecr echoes the latest TSval it has received from the peer - 0 on the
first SYN, the SYN's TSval on the SYN-ACK. The tap is next to the client, so "received"
is "seen at the tap before this segment": segments must be stamped in the order they are
seen (each flow's records in time order). A side that stamps a segment before the peer
sent any (a capture that starts mid-session) echoes the peer's clock of that moment, a
value a peer it has been talking to could have sent.
"""

from __future__ import annotations

import struct
from random import Random

from detector.synth.ip import ACK, FIN, PA, SYN, Direction
from detector.synth.links import GATEWAY_MAC, Ethernet, Link, mac_for
from detector.synth.pcap import record_us

M32 = 0xFFFFFFFF
#: The link of streamed captures: Ethernet at a tap, where every short frame is padded.
TAP = Ethernet(tap=True)

_TS_OPT = struct.Struct(">III")  # NOP NOP kind 8 len 10, TSval, TSecr
_SYN_OPT = struct.Struct(">IIIII")
_MSS_OPT = struct.Struct(">I")  # MSS, SACK-perm + TS kind/len, TSval, TSecr, NOP WScale


class Side:
    """One direction of a TCP connection: everything needed to stamp its segments."""

    __slots__ = ("path", "head", "pad", "port", "seq", "win", "ipid", "tsb", "tsms", "peer")

    def __init__(
        self,
        src: str,
        dst: str,
        port: int,
        src_mac: bytes,
        dst_mac: bytes,
        ttl: int,
        win: int,
        isn: int,
        ipid: int,
        tsb: int,
        *,
        link: Link = TAP,
        outgoing: bool = True,
        df: bool = True,
    ) -> None:
        self.path = Direction(src, dst, ttl, df=df)
        self.head = link.header(self.path.version, src_mac, dst_mac, outgoing)
        self.pad = isinstance(link, Ethernet) and (link.tap or not outgoing)
        self.port = port
        self.seq = isn
        self.win = win
        self.ipid = ipid
        self.tsb = tsb
        self.tsms = -1  # the clock (ms) of the last TSval sent; -1: none sent yet
        self.peer: Side = self

    def tsval(self, ts: int) -> int:
        """The TSval of a segment sent at ``ts`` (us): the side's millisecond clock, which
        never goes backwards (a segment stamped out of time order repeats the last)."""
        ms = ts // 1000
        if ms < self.tsms:
            ms = self.tsms
        self.tsms = ms
        return (self.tsb + ms) & M32

    def echo(self, ts: int) -> int:
        """The TSecr of a segment sent at ``ts``: the latest TSval received from the peer
        (what it last stamped); before the peer sent any, its clock at ``ts``."""
        peer = self.peer
        if peer.tsms < 0:
            return (peer.tsb + ts // 1000) & M32
        return (peer.tsb + peer.tsms) & M32

    def frame(self, l3: bytes) -> bytes:
        frame = self.head + l3
        if self.pad and len(frame) < 60:
            frame += b"\x00" * (60 - len(frame))
        return frame


class Tcp:
    """A TCP connection seen at the LAN's uplink (client on the LAN, server beyond the
    gateway). ``seg`` stamps one segment and advances sequence numbers.

    Random choices (ISNs, IP-IDs, timestamp bases) come from ``rng`` in a fixed order, so
    a seeded generator gives the same connection every time.
    """

    __slots__ = ("c", "s", "checksums")

    def __init__(
        self,
        rng: Random,
        client: str,
        cport: int,
        server: str,
        sport: int,
        *,
        client_ttl: int = 64,
        server_ttl: int = 52,
        server_mac: bytes = GATEWAY_MAC,
        client_win: int = 502,
        server_win: int = 509,
        link: Link = TAP,
        checksums: bool = False,
    ) -> None:
        cmac = mac_for(client)
        self.c = Side(
            client,
            server,
            cport,
            cmac,
            server_mac,
            client_ttl,
            client_win,
            rng.getrandbits(32),
            rng.getrandbits(16),
            rng.getrandbits(32),
            link=link,
        )
        self.s = Side(
            server,
            client,
            sport,
            server_mac,
            cmac,
            server_ttl,
            server_win,
            rng.getrandbits(32),
            rng.getrandbits(16),
            rng.getrandbits(32),
            link=link,
            outgoing=False,
        )
        self.c.peer = self.s
        self.s.peer = self.c
        self.checksums = checksums

    def stamp(
        self, ts: int, side: Side, flags: int, seq: int, ack: int, payload: bytes = b""
    ) -> bytes:
        """One established-state segment (NOP NOP TS options) with the given sequence and
        acknowledgement numbers, as a pcap record. The IP-ID and the timestamps come from
        the side's state, so segments must be stamped in the order they are seen."""
        ipid = side.ipid
        side.ipid = (ipid + 1) & 0xFFFF
        echo = side.echo(ts)
        opts = _TS_OPT.pack(0x0101080A, side.tsval(ts), echo)
        l3 = side.path.tcp(
            ipid,
            side.port,
            side.peer.port,
            seq,
            ack,
            flags,
            side.win,
            opts,
            payload,
            checksum=self.checksums,
        )
        return record_us(ts, side.frame(l3))

    def stamp_syn(
        self, ts: int, side: Side, seq: int, ack: int, mss: int = 1460, wscale: int = 7
    ) -> bytes:
        """SYN (client) or SYN-ACK (server) with Linux's option layout and the given
        numbers, as a pcap record (see :meth:`stamp`)."""
        server = side is self.s
        ipid = side.ipid
        side.ipid = (ipid + 1) & 0xFFFF
        # the SYN echoes nothing; the SYN-ACK echoes the SYN's TSval
        echo = side.echo(ts) if server else 0
        opts = _SYN_OPT.pack(
            0x02040000 | mss, 0x0402080A, side.tsval(ts), echo, 0x01030300 | wscale
        )
        l3 = side.path.tcp(
            ipid,
            side.port,
            side.peer.port,
            seq,
            ack,
            SYN | (ACK if server else 0),
            65160 if server else 64240,
            opts,
            checksum=self.checksums,
        )
        return record_us(ts, side.frame(l3))

    def seg(self, ts: int, side: Side, flags: int, payload: bytes = b"") -> bytes:
        """The side's next segment (NOP NOP TS options) as a pcap record; advances its
        sequence number. The acknowledgement number is all the peer has sent so far."""
        rec = self.stamp(ts, side, flags, side.seq, side.peer.seq if flags & ACK else 0, payload)
        side.seq = (side.seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & M32
        return rec

    def syn(self, ts: int, side: Side, mss: int = 1460, wscale: int = 7) -> bytes:
        """SYN (client) or SYN-ACK (server) with Linux's option layout."""
        ack = side.peer.seq if side is self.s else 0
        rec = self.stamp_syn(ts, side, side.seq, ack, mss, wscale)
        side.seq = (side.seq + 1) & M32
        return rec

    def handshake(self, ts: int, rtt: int) -> list[tuple[int, bytes]]:
        """SYN, SYN-ACK one RTT later, ACK 80 us after that."""
        t2 = ts + rtt
        t3 = t2 + 80
        return [
            (ts, self.syn(ts, self.c)),
            (t2, self.syn(t2, self.s, wscale=9)),
            (t3, self.seg(t3, self.c, ACK)),
        ]

    def send(
        self, ts: int, side: Side, data: bytes, gap: int = 30, mss: int = 1448
    ) -> list[tuple[int, bytes]]:
        """``data`` cut at the MSS, PSH on the last segment, ``gap`` us between segments."""
        out = []
        last = len(data) - 1
        for off in range(0, len(data), mss):
            flags = PA if off + mss > last else ACK
            out.append((ts, self.seg(ts, side, flags, data[off : off + mss])))
            ts += gap
        return out

    def close(self, ts: int, first: Side, rtt: int) -> list[tuple[int, bytes]]:
        """Orderly teardown started by ``first``: FIN, FIN, ACK."""
        second = first.peer
        t2 = ts + (rtt if first is self.c else 150)
        t3 = t2 + (60 if first is self.c else rtt)
        return [
            (ts, self.seg(ts, first, FIN | ACK)),
            (t2, self.seg(t2, second, FIN | ACK)),
            (t3, self.seg(t3, first, ACK)),
        ]


def bare(
    ts: int,
    path: Direction,
    head: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    win: int,
    ipid: int,
    mss: int | None = None,
    *,
    pad: bool = True,
) -> bytes:
    """A TCP segment without options (or with only MSS) as a pcap record: scanner probes
    and the resets that answer them."""
    opts = _MSS_OPT.pack(0x02040000 | mss) if mss is not None else b""
    frame = head + path.tcp(ipid, sport, dport, seq, ack, flags, win, opts, checksum=False)
    if pad and len(frame) < 60:
        frame += b"\x00" * (60 - len(frame))
    return record_us(ts, frame)
