"""A small DNS message reader for the hot path: names of the question, A/AAAA/CNAME answers.

dpkt.dns decodes every record into objects (18 us a message, against 0.7 us here in C, on
the corpus's DNS responses); a busy resolver link sends DNS in every tenth packet, so this
reads only what passive DNS needs, with bounded name
decompression (pointer loops and overlong names end the parse, never the scan). The C
twin in detector/csrc/dns.c runs when built; both give identical results (tested).
"""

from __future__ import annotations

import struct

import numpy as np

from detector.compiled import fast
from detector.pdns import Parsed  # (questions, cnames, ips): what passive DNS takes

TYPE_A, TYPE_CNAME, TYPE_AAAA = 1, 5, 28
MAX_NAME = 255
MAX_JUMPS = 16
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")


class DnsError(ValueError):
    """Malformed DNS message."""


def read_name(data: bytes, pos: int) -> tuple[str, int]:
    """Decode a (possibly compressed) name at ``pos``; return (name, position after it)."""
    parts: list[bytes] = []
    end = -1
    jumps = 0
    length = 0
    try:
        size = data[pos]
        while size:
            if size >= 0xC0:
                jumps += 1
                if jumps > MAX_JUMPS:
                    raise DnsError("pointer loop")
                if end < 0:
                    end = pos + 2
                pos = ((size & 0x3F) << 8) | data[pos + 1]
            elif size & 0xC0:
                raise DnsError("bad label type")
            else:
                length += size + 1
                if length > MAX_NAME:
                    raise DnsError("name too long")
                parts.append(data[pos + 1 : pos + 1 + size])
                pos += 1 + size
            size = data[pos]
    except IndexError:
        raise DnsError("name runs past the message") from None
    name = b".".join(parts).decode("ascii", "replace").lower()
    return name, (end if end >= 0 else pos + 1)


def skip_name(data: bytes, pos: int) -> int:
    """Position after the name at ``pos`` without decoding it (answer owner names)."""
    try:
        while True:
            size = data[pos]
            if size == 0:
                return pos + 1
            if size >= 0xC0:
                return pos + 2
            if size & 0xC0:
                raise DnsError("bad label type")
            pos += 1 + size
    except IndexError:
        raise DnsError("name runs past the message") from None


def py_parse_response(data: bytes) -> tuple[list[str], list[str], list[str]] | None:
    """(question names, CNAME targets, answer IPs) of a response; None for a query."""
    if len(data) < 12:
        raise DnsError("short header")
    _id, flags, qdcount, ancount, _ns, _ar = _HEADER.unpack_from(data)
    if not flags & 0x8000:
        return None
    pos = 12
    questions: list[str] = []
    for _ in range(min(qdcount, 4)):
        name, pos = read_name(data, pos)
        pos += 4
        questions.append(name)
    cnames: list[str] = []
    ips: list[str] = []
    for _ in range(min(ancount, 32)):
        pos = skip_name(data, pos)
        if pos + 10 > len(data):
            raise DnsError("truncated record")
        rtype, _cls, _ttl, rdlen = _RR.unpack_from(data, pos)
        pos += 10
        rdata = data[pos : pos + rdlen]
        if len(rdata) != rdlen:
            raise DnsError("truncated rdata")
        if rtype == TYPE_A and rdlen == 4:
            ips.append("%d.%d.%d.%d" % (rdata[0], rdata[1], rdata[2], rdata[3]))  # noqa: UP031
        elif rtype == TYPE_AAAA and rdlen == 16:
            import _socket  # on the first AAAA only; socket's C core: see owners._parse_ip

            ips.append(_socket.inet_ntop(_socket.AF_INET6, rdata))
        elif rtype == TYPE_CNAME:
            cnames.append(read_name(data, pos)[0])
        pos += rdlen
    return questions, cnames, ips


def _c_parse_response(data: bytes) -> tuple[list[str], list[str], list[str]] | None:
    try:
        return fast.dns_response(data)  # type: ignore[union-attr, no-any-return]
    except ValueError as exc:
        raise DnsError(str(exc)) from None


parse_response = _c_parse_response if fast is not None else py_parse_response


Groups = tuple[list[Parsed], list[int], list[int]]


def py_answer_groups(buf: bytes | memoryview, offsets: list[int], lengths: list[int]) -> Groups:
    """The responses of a batch, grouped: (distinct results, index of each group's last
    message, each message's group or -1 for a query or a malformed message).

    A resolver link repeats the same few answers thousands of times; grouping them lets
    passive DNS take each distinct answer once per batch (at its last message, which is
    what a message-by-message update would leave behind)."""
    distinct: list[Parsed] = []
    last: list[int] = []
    groups: list[int] = []
    index: dict[tuple[tuple[str, ...], ...], int] = {}
    for i, (off, length) in enumerate(zip(offsets, lengths, strict=True)):
        try:
            parsed = py_parse_response(bytes(buf[off : off + length]))
        except DnsError:
            parsed = None
        if parsed is None:
            groups.append(-1)
            continue
        key = (tuple(parsed[0]), tuple(parsed[1]), tuple(parsed[2]))
        g = index.get(key)
        if g is None:
            g = index[key] = len(distinct)
            distinct.append(parsed)
            last.append(i)
        last[g] = i
        groups.append(g)
    return distinct, last, groups


def answer_groups(buf: object, offsets: object, lengths: object) -> Groups:
    """Batch form for the hot path: one call per batch (C when built, which groups by the
    decoded bytes: names that differ only in non-ASCII bytes stay apart there).

    ``offsets``/``lengths`` are int64 numpy arrays into ``buf`` (a uint8 array)."""
    if fast is not None:
        groups = np.empty(len(offsets), dtype=np.int64)  # type: ignore[arg-type]
        distinct, last = fast.dns_answer_groups(buf, offsets, lengths, groups)
        return distinct, last, groups.tolist()
    data = memoryview(buf)  # type: ignore[arg-type]
    return py_answer_groups(data, list(offsets), list(lengths))  # type: ignore[call-overload]
