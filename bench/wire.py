"""Packet bytes for the benchmark generator: pcap records of Ethernet/IPv4/TCP|UDP frames.

Speed matters here (a million packets in seconds), so every header is one precompiled
``struct.Struct.pack`` call and everything constant per direction of a connection (MAC
addresses, IP addresses, TTL, the constant part of the IP header checksum) is computed
once. IPv4 header checksums are correct; TCP and UDP checksums are zero (what a capture on
a host with checksum offload shows, and legal for UDP over IPv4).

Timestamps are integer microseconds since the Unix epoch: pcap stores microseconds, and
integers keep the output independent of float rounding.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from functools import lru_cache

M32 = 0xFFFFFFFF

#: pcap record header (little-endian file): ts_sec, ts_usec, incl_len, orig_len.
REC = struct.Struct("<IIII")
#: IPv4 + TCP with NOP NOP Timestamps (Linux's options on every established segment).
_TCP_TS = struct.Struct(">BBHHHBBH4s4sHHIIBBHHHIII")
#: IPv4 + TCP with the options of a Linux SYN / SYN-ACK: MSS, SACK-perm, TS, NOP, WScale.
_TCP_SYN = struct.Struct(">BBHHHBBH4s4sHHIIBBHHHIIIII")
#: IPv4 + TCP without options (scanner probes and RSTs) and with one 4-byte option word.
_TCP_BARE = struct.Struct(">BBHHHBBH4s4sHHIIBBHHH")
_TCP_OPT1 = struct.Struct(">BBHHHBBH4s4sHHIIBBHHHI")
_UDP = struct.Struct(">BBHHHBBH4s4sHHHH")

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
PA = PSH | ACK
FA = FIN | ACK
RA = RST | ACK

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)  # Ethernet, us

#: The LAN's default gateway (VRRP virtual MAC): every off-LAN peer is reached through it.
GATEWAY_MAC = bytes.fromhex("00005e000101")


@lru_cache(maxsize=4096)
def mac_for(ip: str) -> bytes:
    """Stable, locally administered MAC for a LAN host (same rule as tools/craft.py)."""
    return bytes([0x02, 0x42]) + hashlib.sha256(b"mac:" + ip.encode()).digest()[:4]


def ip4(addr: str) -> bytes:
    return socket.inet_aton(addr)


def _ck_const(src: bytes, dst: bytes, ttl: int, proto: int, df: bool) -> int:
    """Sum of the IPv4 header words that stay constant for one direction of a flow."""
    s = 0x4500 + (0x4000 if df else 0) + ((ttl << 8) | proto)
    s += (src[0] << 8 | src[1]) + (src[2] << 8 | src[3])
    s += (dst[0] << 8 | dst[1]) + (dst[2] << 8 | dst[3])
    return s


def _cksum(const: int, total: int, ipid: int) -> int:
    s = const + total + ipid
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return s ^ 0xFFFF


def record(ts_us: int, frame: bytes) -> bytes:
    """A pcap record; frames shorter than Ethernet's 60-byte minimum are padded, as a tap
    or SPAN port delivers them."""
    if len(frame) < 60:
        frame += b"\x00" * (60 - len(frame))
    sec, usec = divmod(ts_us, 1_000_000)
    return REC.pack(sec, usec, len(frame), len(frame)) + frame


class Side:
    """One direction of a TCP connection: everything needed to stamp its segments."""

    __slots__ = ("eth", "src", "dst", "port", "ttl", "ck", "ipid", "seq", "win", "tsb", "peer")

    def __init__(self, src: str, dst: str, port: int, src_mac: bytes, dst_mac: bytes,
                 ttl: int, win: int, isn: int, ipid: int, tsb: int) -> None:
        self.eth = dst_mac + src_mac + b"\x08\x00"
        self.src = ip4(src)
        self.dst = ip4(dst)
        self.port = port
        self.ttl = ttl
        self.ck = _ck_const(self.src, self.dst, ttl, 6, True)
        self.ipid = ipid
        self.seq = isn
        self.win = win
        self.tsb = tsb
        self.peer: Side = self


class Tcp:
    """A TCP connection seen at the LAN's uplink (client on the LAN, server beyond the
    gateway). ``seg`` stamps one segment and advances sequence numbers; acknowledgement
    numbers are everything the peer has sent so far (the tap is next to the client)."""

    __slots__ = ("c", "s")

    def __init__(self, rng, client: str, cport: int, server: str, sport: int, *,
                 client_ttl: int = 64, server_ttl: int = 52, server_mac: bytes = GATEWAY_MAC,
                 client_win: int = 502, server_win: int = 509) -> None:
        cmac = mac_for(client)
        self.c = Side(client, server, cport, cmac, server_mac, client_ttl, client_win,
                      rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32))
        self.s = Side(server, client, sport, server_mac, cmac, server_ttl, server_win,
                      rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32))
        self.c.peer = self.s
        self.s.peer = self.c

    def seg(self, ts: int, side: Side, flags: int, payload: bytes = b"") -> bytes:
        """One established-state segment (NOP NOP TS options) as a pcap record."""
        peer = side.peer
        n = len(payload)
        total = 52 + n
        ipid = side.ipid
        side.ipid = (ipid + 1) & 0xFFFF
        ms = ts // 1000
        hdr = _TCP_TS.pack(
            0x45, 0, total, ipid, 0x4000, side.ttl, 6, _cksum(side.ck, total, ipid),
            side.src, side.dst, side.port, peer.port, side.seq,
            peer.seq if flags & ACK else 0, 0x80, flags, side.win, 0, 0,
            0x0101080A, (side.tsb + ms) & M32, (peer.tsb + ms) & M32,
        )
        side.seq = (side.seq + n + (1 if flags & (SYN | FIN) else 0)) & M32
        sec, usec = divmod(ts, 1_000_000)
        cap = 66 + n
        return REC.pack(sec, usec, cap, cap) + side.eth + hdr + payload

    def syn(self, ts: int, side: Side, mss: int = 1460, wscale: int = 7) -> bytes:
        """SYN (client) or SYN-ACK (server) with Linux's option layout."""
        peer = side.peer
        flags = SYN | (ACK if side is self.s else 0)
        ipid = side.ipid
        side.ipid = (ipid + 1) & 0xFFFF
        ms = ts // 1000
        hdr = _TCP_SYN.pack(
            0x45, 0, 60, ipid, 0x4000, side.ttl, 6, _cksum(side.ck, 60, ipid),
            side.src, side.dst, side.port, peer.port, side.seq,
            peer.seq if flags & ACK else 0, 0xA0, flags, 64240 if side is self.c else 65160,
            0, 0, 0x02040000 | mss, 0x0402080A, (side.tsb + ms) & M32,
            (peer.tsb + ms) & M32 if flags & ACK else 0, 0x01030300 | wscale,
        )
        side.seq = (side.seq + 1) & M32
        sec, usec = divmod(ts, 1_000_000)
        return REC.pack(sec, usec, 74, 74) + side.eth + hdr

    def handshake(self, ts: int, rtt: int) -> list[tuple[int, bytes]]:
        """SYN, SYN-ACK one RTT later, ACK 80 us after that."""
        t2 = ts + rtt
        t3 = t2 + 80
        return [(ts, self.syn(ts, self.c)), (t2, self.syn(t2, self.s, wscale=9)),
                (t3, self.seg(t3, self.c, ACK))]

    def send(self, ts: int, side: Side, data: bytes, gap: int = 30,
             mss: int = 1448) -> list[tuple[int, bytes]]:
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
        return [(ts, self.seg(ts, first, FA)), (t2, self.seg(t2, second, FA)),
                (t3, self.seg(t3, first, ACK))]


def tcp_bare(ts: int, eth: bytes, src: bytes, dst: bytes, sport: int, dport: int,
             seq: int, ack: int, flags: int, win: int, ttl: int, ipid: int,
             mss: int | None = None) -> bytes:
    """A TCP segment without options (or with only MSS): scanner probes and RSTs."""
    ck = _ck_const(src, dst, ttl, 6, False)
    if mss is None:
        hdr = _TCP_BARE.pack(0x45, 0, 40, ipid, 0, ttl, 6, _cksum(ck, 40, ipid), src, dst,
                             sport, dport, seq, ack, 0x50, flags, win, 0, 0)
    else:
        hdr = _TCP_OPT1.pack(0x45, 0, 44, ipid, 0, ttl, 6, _cksum(ck, 44, ipid), src, dst,
                             sport, dport, seq, ack, 0x60, flags, win, 0, 0,
                             0x02040000 | mss)
    return record(ts, eth + hdr)


class Udp:
    """Both directions of a UDP conversation between a LAN client and a peer."""

    __slots__ = ("c_eth", "s_eth", "c_ip", "s_ip", "cport", "sport", "c_ck", "s_ck",
                 "c_ttl", "s_ttl", "c_id", "s_id")

    def __init__(self, rng, client: str, cport: int, server: str, sport: int, *,
                 client_ttl: int = 64, server_ttl: int = 56,
                 server_mac: bytes = GATEWAY_MAC) -> None:
        cmac = mac_for(client)
        self.c_eth = server_mac + cmac + b"\x08\x00"
        self.s_eth = cmac + server_mac + b"\x08\x00"
        self.c_ip, self.s_ip = ip4(client), ip4(server)
        self.cport, self.sport = cport, sport
        self.c_ttl, self.s_ttl = client_ttl, server_ttl
        self.c_ck = _ck_const(self.c_ip, self.s_ip, client_ttl, 17, True)
        self.s_ck = _ck_const(self.s_ip, self.c_ip, server_ttl, 17, True)
        self.c_id = rng.getrandbits(16)
        self.s_id = rng.getrandbits(16)

    def up(self, ts: int, payload: bytes) -> bytes:
        """Client -> server datagram."""
        ipid = self.c_id
        self.c_id = (ipid + 1) & 0xFFFF
        total = 28 + len(payload)
        hdr = _UDP.pack(0x45, 0, total, ipid, 0x4000, self.c_ttl, 17,
                        _cksum(self.c_ck, total, ipid), self.c_ip, self.s_ip,
                        self.cport, self.sport, 8 + len(payload), 0)
        return record(ts, self.c_eth + hdr + payload)

    def down(self, ts: int, payload: bytes) -> bytes:
        """Server -> client datagram."""
        ipid = self.s_id
        self.s_id = (ipid + 1) & 0xFFFF
        total = 28 + len(payload)
        hdr = _UDP.pack(0x45, 0, total, ipid, 0x4000, self.s_ttl, 17,
                        _cksum(self.s_ck, total, ipid), self.s_ip, self.c_ip,
                        self.sport, self.cport, 8 + len(payload), 0)
        return record(ts, self.s_eth + hdr + payload)
