"""IPv4/IPv6 headers with TCP or UDP on top, packed with ``struct``.

Why not scapy: the benchmark writes a million packets in seconds, and the fixtures must be a
pure function of this code, not of a library's defaults. A :class:`Direction` is one direction
between two hosts; everything constant along it (addresses, TTL, the fixed part of the IPv4
header checksum, the pseudo-header sum) is computed once, so a packet costs one ``pack``.

Checksums: the IPv4 header checksum is always right. TCP and UDP checksums are right when
asked for (the fixtures: what a capture of a NIC without offload shows) and zero otherwise
(the benchmark: what a host with checksum offload shows, and legal for UDP over IPv4). A
computed UDP checksum of 0 is sent as 0xFFFF (RFC 768), as every stack does.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import sys
from array import array
from collections.abc import Sequence

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
PA = PSH | ACK
FA = FIN | ACK
RA = RST | ACK
_FLAG_LETTERS = {"F": FIN, "S": SYN, "R": RST, "P": PSH, "A": ACK, "U": URG, "E": 0x40, "C": 0x80}

_IP4_TCP = struct.Struct(">BBHHHBBH4s4sHHIIBBHHH")
_IP6_TCP = struct.Struct(">IHBB16s16sHHIIBBHHH")
_IP4_UDP = struct.Struct(">BBHHHBBH4s4sHHHH")
_IP6_UDP = struct.Struct(">IHBB16s16sHHHH")


def tcp_flags(letters: str) -> int:
    """TCP flag bits from letters as tcpdump prints them ("S", "SA", "PA", "FA", "RA")."""
    bits = 0
    for ch in letters:
        bits |= _FLAG_LETTERS[ch]
    return bits


def tcp_options(items: Sequence[tuple[str, object]]) -> bytes:
    """TCP options from (kind, value) pairs: MSS, NOP, WScale, SAckOK, Timestamp, EOL.

    The caller arranges them in the order a stack sends them; the result is padded with
    EOL to a multiple of four bytes (no stack's common layout needs it).
    """
    out = bytearray()
    for kind, value in items:
        if kind == "MSS":
            out += struct.pack(">BBH", 2, 4, value)
        elif kind == "NOP":
            out.append(1)
        elif kind == "EOL":
            out.append(0)
        elif kind == "WScale":
            out += struct.pack(">BBB", 3, 3, value)
        elif kind == "SAckOK":
            out += b"\x04\x02"
        elif kind == "Timestamp":
            tsval, tsecr = value  # type: ignore[misc]
            out += struct.pack(">BBII", 8, 10, tsval, tsecr)
        else:
            raise ValueError(f"unknown TCP option {kind}")
    out += b"\x00" * (-len(out) % 4)
    return bytes(out)


def ip_version(addr: str) -> int:
    return ipaddress.ip_address(addr).version


def packed(addr: str | bytes) -> bytes:
    """The address's bytes (4 for IPv4, 16 for IPv6); packed bytes pass through."""
    if isinstance(addr, bytes):
        return addr
    try:
        return socket.inet_pton(socket.AF_INET, addr)
    except OSError:
        return socket.inet_pton(socket.AF_INET6, addr)


_PAIR4 = struct.Struct(">4H")  # source and destination IPv4 addresses as 16-bit words
_PAIR6 = struct.Struct(">16H")


class Direction:
    """One direction between two IP hosts: stamps the IP header of every packet on it.

    Addresses are text or already packed bytes (4 or 16 of them).

    :param ttl: TTL (IPv4) or hop limit (IPv6) as seen at the capture point.
    :param df: set IPv4's Don't Fragment bit (every modern stack does; scanners often not).
    """

    __slots__ = ("src", "dst", "version", "ttl", "df", "_ck", "_pseudo")

    def __init__(self, src: str | bytes, dst: str | bytes, ttl: int, *, df: bool = True) -> None:
        self.src = src if isinstance(src, bytes) else packed(src)
        self.dst = dst if isinstance(dst, bytes) else packed(dst)
        if len(self.src) != len(self.dst):
            raise ValueError(f"mixed address families: {src!r} -> {dst!r}")
        self.version = 4 if len(self.src) == 4 else 6
        self.ttl = ttl
        self.df = df
        pair = self.src + self.dst
        self._pseudo = sum((_PAIR4 if self.version == 4 else _PAIR6).unpack(pair))
        # IPv4 header words that never change on this path (protocol added per packet)
        self._ck = 0x4500 + (0x4000 if df else 0) + (ttl << 8) + self._pseudo

    def _ip4_ck(self, proto: int, total: int, ipid: int) -> int:
        s = self._ck + proto + total + ipid
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        return s ^ 0xFFFF

    def _l4_ck(self, proto: int, segment: bytes) -> int:
        pseudo = self._pseudo + proto + len(segment)
        if self.version == 6:
            pseudo = self._pseudo + (len(segment) >> 16) + (len(segment) & 0xFFFF) + proto
        data = segment + b"\x00" if len(segment) % 2 else segment
        words = array("H", data)
        if sys.byteorder == "little":
            words.byteswap()
        s = sum(words) + pseudo
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        return ~s & 0xFFFF

    def tcp(
        self,
        ipid: int,
        sport: int,
        dport: int,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        options: bytes = b"",
        payload: bytes = b"",
        *,
        checksum: bool = True,
    ) -> bytes:
        """An IP packet carrying one TCP segment (``ipid`` is ignored for IPv6)."""
        off = (20 + len(options)) << 2
        seglen = 20 + len(options) + len(payload)
        frag = 0x4000 if self.df else 0
        if self.version == 4:
            total = 20 + seglen
            hdr = _IP4_TCP.pack(
                0x45,
                0,
                total,
                ipid,
                frag,
                self.ttl,
                6,
                self._ip4_ck(6, total, ipid),
                self.src,
                self.dst,
                sport,
                dport,
                seq,
                ack,
                off,
                flags,
                window,
                0,
                0,
            )
            if not checksum:
                return hdr + options + payload
            ck = self._l4_ck(6, hdr[20:] + options + payload)
            return hdr[:36] + struct.pack(">H", ck) + hdr[38:] + options + payload
        hdr = _IP6_TCP.pack(
            0x60000000,
            seglen,
            6,
            self.ttl,
            self.src,
            self.dst,
            sport,
            dport,
            seq,
            ack,
            off,
            flags,
            window,
            0,
            0,
        )
        if not checksum:
            return hdr + options + payload
        ck = self._l4_ck(6, hdr[40:] + options + payload)
        return hdr[:56] + struct.pack(">H", ck) + hdr[58:] + options + payload

    def udp(
        self, ipid: int, sport: int, dport: int, payload: bytes, *, checksum: bool = True
    ) -> bytes:
        """An IP packet carrying one UDP datagram (``ipid`` is ignored for IPv6)."""
        ulen = 8 + len(payload)
        ck = 0
        if checksum:
            ck = self._l4_ck(17, struct.pack(">HHHH", sport, dport, ulen, 0) + payload) or 0xFFFF
        if self.version == 4:
            total = 20 + ulen
            return (
                _IP4_UDP.pack(
                    0x45,
                    0,
                    total,
                    ipid,
                    0x4000 if self.df else 0,
                    self.ttl,
                    17,
                    self._ip4_ck(17, total, ipid),
                    self.src,
                    self.dst,
                    sport,
                    dport,
                    ulen,
                    ck,
                )
                + payload
            )
        return (
            _IP6_UDP.pack(
                0x60000000, ulen, 17, self.ttl, self.src, self.dst, sport, dport, ulen, ck
            )
            + payload
        )
