"""DNS queries and a recursive resolver's answers (RFC 1035 wire format, EDNS0 optional).

Answers carry the CNAME chain with name compression, then the addresses; a name without
addresses of the asked type gets NODATA with its zone's SOA, an unknown one NXDOMAIN.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache

from detector.synth.clock import ns
from detector.synth.ip import packed
from detector.synth.packets import Packet, udp

A, AAAA = 1, 28
_OPT = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)  # EDNS0, 1232-byte UDP payload
_RR = struct.Struct(">HHHIH")
_HEADER = struct.Struct(">HHHHHH")


@lru_cache(maxsize=1024)
def qname(name: str) -> bytes:
    """``name`` as DNS labels."""
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def query(qid: int, name: str, qtype: int = A, edns: bool = False) -> bytes:
    """A recursive query (RD set) for ``name``."""
    return (
        _HEADER.pack(qid, 0x0100, 1, 0, 0, 1 if edns else 0)
        + qname(name)
        + struct.pack(">HH", qtype, 1)
        + (_OPT if edns else b"")
    )


def _soa(zone: str, ttl: int) -> bytes:
    rdata = (
        qname("ns1." + zone)
        + qname("hostmaster." + zone)
        + struct.pack(">IIIII", 2026010501, 7200, 3600, 1209600, 300)
    )
    return qname(zone) + struct.pack(">HHIH", 6, 1, ttl, len(rdata)) + rdata


def _message(
    qid: int, rcode: int, question: bytes, answers: list[bytes], authority: bytes, edns: bool
) -> bytes:
    head = _HEADER.pack(
        qid, 0x8180 | rcode, 1, len(answers), 1 if authority else 0, 1 if edns else 0
    )
    return head + question + b"".join(answers) + authority + (_OPT if edns else b"")


def answer(
    qid: int,
    name: str,
    qtype: int,
    addrs: Sequence[str],
    *,
    chain: Sequence[str] = (),
    ttl: int = 300,
    addr_ttl: int | None = None,
    edns: bool = False,
) -> bytes:
    """The answer for ``name``: its CNAME ``chain`` (``ttl``), then ``addrs`` in this order
    (``addr_ttl``, default ``ttl``); NODATA with the zone's SOA when ``addrs`` is empty."""
    question = qname(name) + struct.pack(">HH", qtype, 1)
    answers = []
    owner = 0xC00C
    pos = 12 + len(question)
    for cname in chain:
        rdata = qname(cname)
        answers.append(_RR.pack(owner, 5, 1, ttl, len(rdata)) + rdata)
        owner = 0xC000 | (pos + 12)
        pos += 12 + len(rdata)
    width = 4 if qtype == A else 16
    for a in addrs:
        answers.append(
            _RR.pack(owner, qtype, 1, ttl if addr_ttl is None else addr_ttl, width) + packed(a)
        )
    authority = b""
    if not addrs:
        zone = ".".join((chain[-1] if chain else name).split(".")[-2:])
        authority = _soa(zone, 900)
    return _message(qid, 0, question, answers, authority, edns)


def nxdomain(qid: int, name: str, qtype: int, zone: str, edns: bool = False) -> bytes:
    """NXDOMAIN for ``name`` with ``zone``'s SOA (a search-domain miss)."""
    question = qname(name) + struct.pack(">HH", qtype, 1)
    return _message(qid, 3, question, [], _soa(zone, 300), edns)


def exchange(
    client: str,
    resolver: str,
    port: int,
    qid: int,
    name: str,
    addrs: Sequence[str],
    when: int,
    delay: float = 0.0123,
) -> list[Packet]:
    """An A lookup from ``client`` and the LAN resolver's answer ``delay`` s later."""
    return [
        udp((client, port), (resolver, 53), query(qid, name), when, ip_id=qid & 0xFFFF),
        udp(
            (resolver, 53),
            (client, port),
            answer(qid, name, A, addrs),
            when + ns(delay),
            ttl=64,
            ip_id=(qid * 7) & 0xFFFF,
            outgoing=False,
        ),
    ]
