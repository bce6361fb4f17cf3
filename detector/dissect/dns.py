"""DNS over UDP and TCP (dpkt.dns does the parsing): queries on the flow's facts, answers
into the shared passive-DNS map so later flows to those IPs carry the names."""

from __future__ import annotations

import socket
import struct
from typing import ClassVar

import dpkt

from detector.dissect.base import DatagramDissector, InspectContext, Probe, StreamDissector
from detector.facts import FlowFacts

DNS_PORTS = frozenset({53, 5353, 5355})
MAX_QUERIES = 16


def _name(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or not value:
        return None
    return value.rstrip(".").lower()[:253]


def handle_message(
    data: bytes, side: int, ts: float, facts: FlowFacts, ctx: InspectContext
) -> bool:
    """Parse one DNS message; return False if it is not DNS."""
    try:
        msg = dpkt.dns.DNS(data)
    except (dpkt.UnpackError, struct.error, IndexError, ValueError, UnicodeError):
        return False
    facts.app_protos.add("dns")
    queries = facts.dns.setdefault("queries", [])
    for q in msg.qd[:4]:
        name = _name(q.name)
        if name and name not in queries and len(queries) < MAX_QUERIES:
            queries.append(name)
    if msg.qr != dpkt.dns.DNS_R:
        facts.sides[side].client_votes += 1
        return True
    facts.sides[1 - side].client_votes += 1
    names = [n for n in (_name(q.name) for q in msg.qd[:4]) if n]
    ips: list[str] = []
    for rr in msg.an[:32]:
        if rr.type == dpkt.dns.DNS_CNAME:
            cname = _name(getattr(rr, "cname", None))
            if cname and cname not in names:
                names.append(cname)
        elif rr.type == dpkt.dns.DNS_A and len(rr.rdata) == 4:
            ips.append(socket.inet_ntop(socket.AF_INET, rr.rdata))
        elif rr.type == dpkt.dns.DNS_AAAA and len(rr.rdata) == 16:
            ips.append(socket.inet_ntop(socket.AF_INET6, rr.rdata))
    if ips and names:
        answers = facts.dns.setdefault("answers", [])
        for ip in ips:
            ctx.pdns.add(ip, names, ts)
            if len(answers) < MAX_QUERIES:
                answers.append(ip)
    return True


class DnsUdp(DatagramDissector):
    """DNS over UDP on the usual ports."""

    name: ClassVar[str] = "dns"

    def __init__(self, ctx: InspectContext) -> None:
        self.ctx = ctx

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int]) -> bool:
        return len(data) >= 12 and (ports[0] in DNS_PORTS or ports[1] in DNS_PORTS)

    def on_datagram(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        return handle_message(data, side, ts, facts, self.ctx)


class DnsTcp(StreamDissector):
    """DNS over TCP: two-byte length prefix per message (RFC 1035 §4.2.2)."""

    name: ClassVar[str] = "dns-tcp"

    def __init__(self, ctx: InspectContext) -> None:
        self.ctx = ctx
        self.bufs = [b"", b""]

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int]) -> Probe:
        if 53 not in ports:
            return Probe.NO
        if len(data) < 2:
            return Probe.MAYBE
        return Probe.YES if struct.unpack("!H", data[:2])[0] >= 12 else Probe.NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        buf = self.bufs[side] + data
        while len(buf) >= 2:
            size = struct.unpack("!H", buf[:2])[0]
            if len(buf) < size + 2:
                break
            if not handle_message(buf[2 : size + 2], side, ts, facts, self.ctx):
                return False
            buf = buf[size + 2 :]
        self.bufs[side] = buf[-65537:]
        return True
