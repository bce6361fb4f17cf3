"""Deterministic packet-capture crafting for minewatch's test fixtures.

Why not just ``scapy.wrpcap``?  The fixtures are committed and the test suite regenerates
them and compares bytes, so every output byte must be a pure function of the script: no
wall clock, no unseeded randomness, no library-chosen defaults that may change.  scapy is
used only where it is exact and stable - building IPv4/IPv6/TCP/UDP headers and their
checksums; link layers and every file format are written here with ``struct`` so the
bytes are ours (pcap in both byte orders and both time resolutions, pcapng with several
interfaces, SPB and if_tsresol, gzip with mtime 0).

The model:

* A :class:`Packet` is one IP datagram with a capture timestamp in integer nanoseconds
  (floats would make ``1767607200.000001`` round differently in different places) and the
  two MAC addresses a link layer may need.  Timestamps: use :func:`at` / :data:`T0`.
* A :class:`Conversation` is one TCP connection seen from a tap next to the client (the
  miner): it keeps sequence and acknowledgement numbers right, adds the peer's pure ACKs
  (delayed ACK on the client, one RTT on the server), and can split a message across
  segments, deliver segments out of order or retransmit one.  Several messages in one
  segment is just ``b"".join(messages)``.
* :func:`udp` and :func:`tcp_raw` make single packets (discovery pings, port scans).
* A link (:class:`Ethernet`, :class:`LinuxSLL`, :class:`LinuxSLL2`, :class:`RawIP`,
  :class:`Null`) turns a packet into a frame; :func:`pcap_bytes` and
  :func:`pcapng_bytes` turn frames into files; :func:`gzip_bytes` compresses
  reproducibly.

Example::

    c = Conversation(("10.1.0.5", 49152), ("198.51.100.7", 3333), start=at(0))
    c.client_send(b'{"id": 1, "method": "mining.subscribe", "params": []}\\n', at(0.1))
    c.server_send(b'{"id":1,"result":[[],"00",4],"error":null}\\n', at(0.15))
    c.close(at(5))
    data = pcap_bytes(frames(c.finish(), Ethernet()), Ethernet.linktype)
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Protocol

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

__all__ = [
    "T0",
    "at",
    "Packet",
    "Conversation",
    "udp",
    "tcp_raw",
    "Ethernet",
    "LinuxSLL",
    "LinuxSLL2",
    "RawIP",
    "Null",
    "Interface",
    "Link",
    "frames",
    "pcap_bytes",
    "pcapng_bytes",
    "gzip_bytes",
    "mac_for",
]

#: 2026-01-05T10:00:00Z in nanoseconds: the epoch every fixture is built around.
T0 = 1_767_607_200 * 1_000_000_000

_NS = 1_000_000_000
_order = count()  # creation order: a stable tie-breaker when timestamps are equal


def at(seconds: float, base: int = T0) -> int:
    """Capture time ``seconds`` after ``base`` (default :data:`T0`) in integer nanoseconds.

    ``round`` of an IEEE double is exact and platform-independent for the magnitudes used
    here, so the result never depends on where it runs.
    """
    return base + round(seconds * _NS)


def _ns(seconds: float) -> int:
    return round(seconds * _NS)


def mac_for(ip: str) -> bytes:
    """A stable, locally administered MAC derived from an IP address.

    Hosts keep the same MAC across fixtures, which is what a capture of one LAN shows.
    """
    digest = hashlib.sha256(b"mac:" + ip.encode()).digest()
    return bytes([0x02, 0x42]) + digest[:4]


#: The default gateway's MAC: every off-LAN peer is reached through it.
GATEWAY_MAC = bytes.fromhex("00005e000101")


@dataclass(frozen=True)
class Packet:
    """One captured IP datagram.

    ``outgoing`` is True when the capturing host sent it (Linux cooked captures record
    that as packet type 4); ``order`` breaks timestamp ties in creation order.
    """

    ts_ns: int
    l3: bytes
    version: int
    src_mac: bytes
    dst_mac: bytes
    outgoing: bool
    order: int = field(default_factory=lambda: next(_order))


def _ip_version(addr: str) -> int:
    return ipaddress.ip_address(addr).version


def _l3(
    src: str,
    dst: str,
    l4: TCP | UDP,
    payload: bytes,
    ttl: int,
    ip_id: int,
) -> tuple[bytes, int]:
    """Build IP + L4 + payload with scapy (checksums included) and return (bytes, version)."""
    version = _ip_version(src)
    if version != _ip_version(dst):
        raise ValueError(f"mixed address families: {src} -> {dst}")
    pkt = l4 / Raw(payload) if payload else l4
    if version == 4:
        ip = IP(src=src, dst=dst, ttl=ttl, id=ip_id & 0xFFFF, flags="DF", tos=0)
    else:
        ip = IPv6(src=src, dst=dst, hlim=ttl, fl=0, tc=0)
    return bytes(ip / pkt), version


def udp(
    src: tuple[str, int],
    dst: tuple[str, int],
    payload: bytes,
    ts_ns: int,
    *,
    ttl: int = 64,
    ip_id: int = 0,
    outgoing: bool = True,
    src_mac: bytes | None = None,
    dst_mac: bytes | None = None,
) -> Packet:
    """One UDP datagram (DNS, discovery pings, NTP...)."""
    l4 = UDP(sport=src[1], dport=dst[1])
    l3, version = _l3(src[0], dst[0], l4, payload, ttl, ip_id)
    return Packet(
        ts_ns,
        l3,
        version,
        src_mac if src_mac is not None else (mac_for(src[0]) if outgoing else GATEWAY_MAC),
        dst_mac if dst_mac is not None else (GATEWAY_MAC if outgoing else mac_for(dst[0])),
        outgoing,
    )


def tcp_raw(
    src: tuple[str, int],
    dst: tuple[str, int],
    flags: str,
    ts_ns: int,
    *,
    seq: int = 0,
    ack: int = 0,
    window: int = 1024,
    options: Sequence[tuple[str, object]] = (),
    payload: bytes = b"",
    ttl: int = 64,
    ip_id: int = 0,
    outgoing: bool = True,
    src_mac: bytes | None = None,
    dst_mac: bytes | None = None,
) -> Packet:
    """One TCP segment with exactly the given fields: for scans, resets, odd flags."""
    l4 = TCP(sport=src[1], dport=dst[1], seq=seq, ack=ack, flags=flags, window=window,
             options=list(options))
    l3, version = _l3(src[0], dst[0], l4, payload, ttl, ip_id)
    return Packet(
        ts_ns,
        l3,
        version,
        src_mac if src_mac is not None else (mac_for(src[0]) if outgoing else GATEWAY_MAC),
        dst_mac if dst_mac is not None else (GATEWAY_MAC if outgoing else mac_for(dst[0])),
        outgoing,
    )


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
        self.version = _ip_version(client[0])
        self.mss = mss if mss is not None else (1460 if self.version == 4 else 1440)
        self.rtt = _ns(rtt)  #: round-trip time in nanoseconds
        self.client_ack_delay = _ns(client_ack_delay)
        gw = GATEWAY_MAC
        self.c = _Side(client[0], client[1], mac_for(client[0]), client_ttl, client_window,
                       _derive("isn-c" + key), _derive("ipid-c" + key, 16), True)
        self.s = _Side(server[0], server[1], mac_for(server[0]) if server_local else gw,
                       server_ttl, server_window, _derive("isn-s" + key),
                       _derive("ipid-s" + key, 16), False)
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
        l4 = TCP(
            sport=side.port,
            dport=peer.port,
            seq=seq & 0xFFFFFFFF,
            ack=(ack or 0) & 0xFFFFFFFF,
            flags=flags,
            window=side.window if window is None else window,
            options=list(options),
        )
        l3, version = _l3(side.ip, peer.ip, l4, payload, side.ttl, side.ip_id)
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
            due = [(x.pending_due, i, x) for i, x in enumerate((self.c, self.s))
                   if x.pending_due is not None and x.pending_due <= until]
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
        syn_opts = [("MSS", self.mss), ("NOP", None), ("WScale", 7), ("NOP", None),
                    ("NOP", None), ("SAckOK", b"")]
        synack_opts = [("MSS", 1452 if self.version == 4 else 1432), ("NOP", None),
                       ("NOP", None), ("SAckOK", b""), ("NOP", None), ("WScale", 9)]
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


# --- link layers ----------------------------------------------------------------------


class Link(Protocol):
    """What a link layer must offer: its DLT/LINKTYPE number and a framing function."""

    linktype: int

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        """Return the captured frame for ``pkt`` (``byteorder`` matters only for NULL)."""
        ...


_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD


def _ethertype(pkt: Packet) -> int:
    return _ETH_IPV4 if pkt.version == 4 else _ETH_IPV6


class Ethernet:
    """DIX Ethernet (DLT_EN10MB = 1), optionally 802.1Q tagged or QinQ double tagged.

    :param vlan: 802.1Q VLAN id (TPID 0x8100), the customer tag.
    :param outer_vlan: 802.1ad service tag (TPID 0x88a8) put in front of ``vlan``.
    :param pcp: 802.1p priority of the tags.
    Frames received from the wire are padded to the 60-byte minimum as a NIC delivers
    them; frames the capturing host sent are not (they are captured before the NIC pads).
    """

    linktype = 1

    def __init__(self, vlan: int | None = None, outer_vlan: int | None = None,
                 pcp: int = 0) -> None:
        if outer_vlan is not None and vlan is None:
            raise ValueError("QinQ needs an inner vlan too")
        self.vlan = vlan
        self.outer_vlan = outer_vlan
        self.pcp = pcp

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        head = pkt.dst_mac + pkt.src_mac
        if self.outer_vlan is not None:
            head += struct.pack(">HH", 0x88A8, (self.pcp << 13) | self.outer_vlan)
        if self.vlan is not None:
            head += struct.pack(">HH", 0x8100, (self.pcp << 13) | self.vlan)
        out = head + struct.pack(">H", _ethertype(pkt)) + pkt.l3
        if not pkt.outgoing and len(out) < 60:
            out += b"\x00" * (60 - len(out))
        return out


class LinuxSLL:
    """Linux cooked capture v1 (DLT_LINUX_SLL = 113), what ``tcpdump -i any`` wrote.

    16-byte header: packet type (0 = to us, 4 = outgoing), ARPHRD_ETHER, address length,
    the sender's link address padded to 8 bytes, protocol.
    """

    linktype = 113

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        pkttype = 4 if pkt.outgoing else 0
        return struct.pack(">HHH8sH", pkttype, 1, 6, pkt.src_mac, _ethertype(pkt)) + pkt.l3


class LinuxSLL2:
    """Linux cooked capture v2 (DLT_LINUX_SLL2 = 276), libpcap >= 1.10 ``-i any``.

    20-byte header: protocol, reserved, interface index, ARPHRD_ETHER, packet type,
    address length, link address padded to 8 bytes.
    """

    linktype = 276

    def __init__(self, ifindex: int = 2) -> None:
        self.ifindex = ifindex

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        pkttype = 4 if pkt.outgoing else 0
        return struct.pack(">HHIHBB8s", _ethertype(pkt), 0, self.ifindex, 1, pkttype, 6,
                           pkt.src_mac) + pkt.l3


class RawIP:
    """Raw IP, no link header (LINKTYPE_RAW = 101): tun devices, some firewalls."""

    linktype = 101

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        return pkt.l3


class Null:
    """BSD loopback / NULL encapsulation (DLT_NULL = 0): lo0 and utun on macOS/BSD.

    The 4-byte address family is in the *writing host's* byte order, so it follows the
    file's byte order.  AF_INET is 2 everywhere; AF_INET6 differs by OS (macOS 30,
    FreeBSD 28, OpenBSD/NetBSD 24).
    """

    linktype = 0

    def __init__(self, af_inet6: int = 30) -> None:
        self.af_inet6 = af_inet6

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        family = 2 if pkt.version == 4 else self.af_inet6
        return struct.pack(byteorder + "I", family) + pkt.l3


def frames(packets: Iterable[Packet], link: Link, byteorder: str = "<"
           ) -> list[tuple[int, bytes]]:
    """Sort packets by capture time (creation order on ties) and frame them."""
    ordered = sorted(packets, key=lambda p: (p.ts_ns, p.order))
    return [(p.ts_ns, link.frame(p, byteorder)) for p in ordered]


# --- file writers ---------------------------------------------------------------------

def pcap_bytes(
    records: Iterable[tuple[int, bytes]],
    linktype: int,
    *,
    big_endian: bool = False,
    nanosecond: bool = False,
    snaplen: int = 262144,
) -> bytes:
    """A classic libpcap file.

    The magic 0xa1b2c3d4 (microseconds) or 0xa1b23c4d (nanoseconds) is written in the
    chosen byte order, as the capturing machine would; every header field follows it.
    """
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    div = 1 if nanosecond else 1000
    for ts_ns, frame in records:
        sec, frac = divmod(ts_ns, _NS)
        incl = frame[:snaplen]
        out.append(struct.pack(e + "IIII", sec, frac // div, len(incl), len(frame)))
        out.append(incl)
    return b"".join(out)


@dataclass(frozen=True)
class Interface:
    """A pcapng interface (one IDB).

    :param tsresol: decimal exponent of the timestamp unit (6 = microseconds, the
        pcapng default; 9 = nanoseconds).  Written as ``if_tsresol`` unless ``None``.
    """

    link: Link
    name: str
    tsresol: int | None = None
    snaplen: int = 262144
    description: str | None = None


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def pcapng_bytes(
    interfaces: Sequence[Interface],
    records: Iterable[tuple[int, int, bytes]],
    *,
    simple_on_0: bool = False,
    shb_hardware: str = "x86_64",
    shb_os: str = "Linux 6.1.0-28-amd64",
    shb_userappl: str = "Dumpcap (Wireshark) 4.0.17",
) -> bytes:
    """A little-endian pcapng section: SHB, one IDB per interface, then packet blocks.

    :param records: (interface index, ts_ns, frame) in the order to write them.
    :param simple_on_0: write interface 0's packets as Simple Packet Blocks.  An SPB has
        no interface id (it is always interface 0) and **no timestamp**, which is why
        only interface 0 may use them and why a reader must cope with time-less packets.
    """
    shb_opts = (_opt(2, shb_hardware.encode()) + _opt(3, shb_os.encode())
                + _opt(4, shb_userappl.encode()) + _opt(0, b""))
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts
    out = [_block(0x0A0D0D0A, shb)]
    units = []
    for iface in interfaces:
        opts = _opt(2, iface.name.encode())
        if iface.description:
            opts += _opt(3, iface.description.encode())
        if iface.tsresol is not None:
            opts += _opt(9, bytes([iface.tsresol]))
        opts += _opt(0, b"")
        body = struct.pack("<HHI", iface.link.linktype, 0, iface.snaplen) + opts
        out.append(_block(0x00000001, body))
        exp = 6 if iface.tsresol is None else iface.tsresol
        if exp > 9:
            raise ValueError("timestamp resolution finer than 1 ns is not supported here")
        units.append(10 ** (9 - exp))
    for idx, ts_ns, frame in records:
        snap = interfaces[idx].snaplen
        data = frame[:snap]
        pad = b"\x00" * (-len(data) % 4)
        if simple_on_0 and idx == 0:
            out.append(_block(0x00000003, struct.pack("<I", len(frame)) + data + pad))
            continue
        ts = ts_ns // units[idx]
        body = struct.pack("<IIIII", idx, ts >> 32, ts & 0xFFFFFFFF, len(data), len(frame))
        out.append(_block(0x00000006, body + data + pad))
    return b"".join(out)


def gzip_bytes(data: bytes) -> bytes:
    """gzip with mtime 0 and no file name, so the output depends only on ``data``.

    (The compressed bytes still depend on the zlib build; CPython's bundled/system zlib
    is stable across runs on one machine, which is what the determinism test checks.)
    """
    return gzip.compress(data, compresslevel=9, mtime=0)
