"""Proxy tunnels: the SOCKS handshake that starts a side, and the dissector that hands
what follows it to whichever dissector reads it.

Miners reach pools through SOCKS proxies (XMRig's ``socks5://`` pool option, cgminer's
``--socks-proxy`` / SOCKS4 and 5, Tor), in cleartext or with TLS inside. Newline JSON
after a handshake is read by jsonlines.JsonLines itself (it uses the parser here); for
anything else - TLS above all - :class:`Socks` recognises the handshake, keeps the target
the client asked for, and hands the side's bytes after it on (base.Upgrade): the TLS
dissector then reads the ClientHello as it would on a direct connection, and the facts
say it came through SOCKS and where to. (HTTP CONNECT tunnels are the HTTP dissector's.)
"""

from __future__ import annotations

from typing import ClassVar

from detector.dissect.base import MAYBE, NO, YES, InspectContext, Probe, StreamDissector, Upgrade
from detector.facts import FlowFacts

INCOMPLETE = -1  # a SOCKS handshake that has not ended yet
MAX_HANDSHAKE = 1024  # bytes a handshake may take (SOCKS4 user id, SOCKS5 auth: < 520)

# (length, target host, target port, kind, host is a name); kind "socks5", "socks4",
# "socks4a", or "" for a proxy's reply (the client's request names the tunnel). The host
# is a name (socks5 address type 3, socks4a) or an IPv4 address in text.
Preamble = tuple[int, str | None, int | None, str, bool]


def socks_preamble(data: bytes) -> tuple[int, str | None, int | None] | None:
    """(length, target host, target port) of the SOCKS handshake that starts ``data``.

    None if the data cannot start with one; length ``INCOMPLETE`` if it may still
    become one. Both sides are recognised: SOCKS5 client (greeting, optional
    username/password, CONNECT request) and server (method choice, optional auth status,
    reply), SOCKS4/4a request and reply. Every fixed field is checked, so other binary
    protocols are told apart within a few bytes.
    """
    found = socks_handshake(data)
    if found is None:
        return None
    end, host, port, _, named = found
    return end, (host if named else None), port


def socks_handshake(data: bytes) -> Preamble | None:
    """:func:`socks_preamble` with the kind of handshake."""
    parsers = _PARSERS_BY_FIRST_BYTE.get(data[:1])
    if parsers is None:
        return None  # no parser takes this first byte (each checks its own)
    # Every parser reads the data, then the first whole handshake found wins. (A loop, not
    # a list comprehension and any() over a generator: in Python 3.11 each of those is a
    # function built and called, for every side that starts with 0x00, 0x04 or 0x05.)
    found: Preamble | None = None
    answered = False
    for parse in parsers:
        result = parse(data)
        if result is not None:
            answered = True
            if found is None and result[0] != INCOMPLETE:
                found = result
    if found is not None:
        return found
    return (INCOMPLETE, None, None, "", False) if answered else None


def _socks5_client(d: bytes) -> Preamble | None:
    if d[:1] != b"\x05":
        return None
    if len(d) < 2:
        return INCOMPLETE, None, None, "", False
    n = d[1]
    if not 1 <= n <= 9 or any(m > 0x02 for m in d[2 : 2 + n]):
        return None  # 1..9 offered methods: none, GSSAPI, username/password
    pos = 2 + n
    if len(d) <= pos:
        return INCOMPLETE, None, None, "", False
    if d[pos] == 0x01:  # username/password sub-negotiation (RFC 1929)
        if len(d) < pos + 2:
            return INCOMPLETE, None, None, "", False
        pos += 2 + d[pos + 1]
        if len(d) <= pos:
            return INCOMPLETE, None, None, "", False
        pos += 1 + d[pos]
    return _socks5_address(d, pos, command=0x01)


def _socks5_server(d: bytes) -> Preamble | None:
    if d[:1] != b"\x05":
        return None
    if len(d) < 2:
        return INCOMPLETE, None, None, "", False
    if d[1] not in (0x00, 0x02):  # no authentication, or username/password
        return None
    pos = 2
    if d[1] == 0x02:
        if len(d) < pos + 2:
            return INCOMPLETE, None, None, "", False
        if d[pos : pos + 2] != b"\x01\x00":
            return None
        pos += 2
    return _socks5_address(d, pos, command=0x00)


def _socks5_address(d: bytes, pos: int, command: int) -> Preamble | None:
    """05 cmd 00 atyp address port at ``pos``: a CONNECT request (cmd 1) or a success
    reply (0)."""
    fixed = bytes((0x05, command, 0x00))
    head = d[pos : pos + 3]
    if not fixed.startswith(head):
        return None
    if len(d) < pos + 5:
        return INCOMPLETE, None, None, "", False
    atyp = d[pos + 3]
    host = None
    if atyp == 0x01:
        end = pos + 4 + 4 + 2
        if command == 0x01 and len(d) >= end:
            host = ".".join(map(str, d[pos + 4 : pos + 8]))
    elif atyp == 0x04:
        end = pos + 4 + 16 + 2
    elif atyp == 0x03:
        size = d[pos + 4]
        end = pos + 5 + size + 2
        host = d[pos + 5 : pos + 5 + size].decode("ascii", "replace") or None
    else:
        return None
    if len(d) < end:
        return INCOMPLETE, None, None, "", False
    if command != 0x01:  # a reply: its address is the proxy's, not the tunnel's target
        return end, host if atyp == 0x03 else None, None, "", atyp == 0x03
    return end, host, int.from_bytes(d[end - 2 : end], "big"), "socks5", atyp == 0x03


def _socks4_client(d: bytes) -> Preamble | None:
    if d[:1] != b"\x04":
        return None
    if len(d) < 2:
        return INCOMPLETE, None, None, "", False
    if d[1] != 0x01:  # CONNECT
        return None
    user_end = d.find(b"\x00", 8)
    if user_end == -1:
        return (INCOMPLETE, None, None, "", False) if len(d) < 8 + 256 else None
    end, host, kind = user_end + 1, None, "socks4"
    if d[4:7] == b"\x00\x00\x00" and d[7] != 0:  # SOCKS4a: a host name follows
        host_end = d.find(b"\x00", end)
        if host_end == -1:
            return (INCOMPLETE, None, None, "", False) if len(d) < end + 256 else None
        host = d[end:host_end].decode("ascii", "replace") or None
        end, kind = host_end + 1, "socks4a"
    else:
        host = ".".join(map(str, d[4:8]))
    return end, host, int.from_bytes(d[2:4], "big"), kind, kind == "socks4a"


def _socks4_server(d: bytes) -> Preamble | None:
    if d[:1] != b"\x00":
        return None
    if len(d) < 2:
        return INCOMPLETE, None, None, "", False
    if d[1] != 0x5A:  # request granted
        return None
    return (8, None, None, "", False) if len(d) >= 8 else (INCOMPLETE, None, None, "", False)


# the parsers by the one first byte each accepts, in the order they are tried
_PARSERS_BY_FIRST_BYTE = {
    b"\x05": (_socks5_client, _socks5_server),
    b"\x04": (_socks4_client,),
    b"\x00": (_socks4_server,),
}


class Socks(StreamDissector):
    """A SOCKS handshake at the start of a side, and what follows it handed on."""

    name: ClassVar[str] = "socks"
    first_bytes: ClassVar[frozenset[int] | None] = frozenset((0x00, 0x04, 0x05))

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.heads = [b"", b""]
        self.kind = ""  # the client's handshake: socks5, socks4, socks4a
        self.target: tuple[str | None, int | None] = (None, None)
        self.rest: list[bytes | None] = [None, None]  # a side's bytes after its handshake

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        """YES for a whole handshake followed by something; MAYBE while it may become
        one (a handshake alone: what follows it decides nothing here, but it comes)."""
        if data[:1] not in (b"\x00", b"\x04", b"\x05"):
            return NO
        found = socks_handshake(data)
        if found is None:
            return NO
        if found[0] == INCOMPLETE or found[0] == len(data):
            return MAYBE if len(data) < MAX_HANDSHAKE else NO
        return YES

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        buf = self.heads[side] + data
        found = socks_handshake(buf)
        if found is not None and found[0] == INCOMPLETE and len(buf) < MAX_HANDSHAKE:
            self.heads[side] = buf
            return True
        self.heads[side] = b""
        if found is None or found[0] == INCOMPLETE:
            return False
        end, host, port, kind, _ = found
        if kind:  # the client's request (a proxy's reply names no target)
            self.kind = kind
            self.target = (host[:253] if host else None, port)
        facts.note("stream starts with a SOCKS handshake")
        self.rest[side] = buf[end:]
        return False

    def upgraded(self, side: int) -> Upgrade | None:
        rest, self.rest[side] = self.rest[side], None
        if rest is None:
            return None
        host, port = self.target
        return Upgrade(self.kind or "socks", rest, host, port)
