"""Newline-delimited JSON over TCP (Stratum, XMRig, ETH proxy, generic JSON-RPC).

Frames the byte stream into lines and hands each parsed JSON value to the mining
classifier. Never matches on bytes: key order and spacing vary between clients. A stream
picked up mid-session starts inside a message: the partial first line is dropped and
parsing resumes at the next newline, as it does after a reassembly gap.

Miners also reach pools through SOCKS proxies (XMRig's ``socks5://`` pool option,
cgminer's ``--socks-proxy`` / SOCKS4 and 5): each side's stream then starts with a short
binary SOCKS handshake before its first JSON line. The handshake is recognised, field by
field, at the start of a side, its target host kept as the flow's pool host, and skipped.
"""

from __future__ import annotations

import json
from typing import ClassVar

from detector.dissect.base import InspectContext, Probe, StreamDissector
from detector.dissect.mining import RpcState, classify
from detector.facts import FlowFacts

MAX_LINE = 64 * 1024
PROBE_WINDOW = 4096
_decoder = json.JSONDecoder()


_INCOMPLETE = -1  # a SOCKS handshake that has not ended yet


def _socks_preamble(data: bytes) -> tuple[int, str | None] | None:
    """(length, target host) of the SOCKS handshake that starts ``data``.

    None if the data cannot start with one; length ``_INCOMPLETE`` if it may still
    become one. Both sides are recognised: SOCKS5 client (greeting, optional
    username/password, CONNECT request) and server (method choice, optional auth status,
    reply), SOCKS4/4a request and reply. Every fixed field is checked, so other binary
    protocols are told apart within a few bytes.
    """
    results = [
        parse(data) for parse in (_socks5_client, _socks5_server, _socks4_client, _socks4_server)
    ]
    for result in results:
        if result is not None and result[0] != _INCOMPLETE:
            return result
    return (_INCOMPLETE, None) if any(r is not None for r in results) else None


def _socks5_client(d: bytes) -> tuple[int, str | None] | None:
    if d[:1] != b"\x05":
        return None
    if len(d) < 2:
        return _INCOMPLETE, None
    n = d[1]
    if not 1 <= n <= 9 or any(m > 0x02 for m in d[2 : 2 + n]):
        return None  # 1..9 offered methods: none, GSSAPI, username/password
    pos = 2 + n
    if len(d) <= pos:
        return _INCOMPLETE, None
    if d[pos] == 0x01:  # username/password sub-negotiation (RFC 1929)
        if len(d) < pos + 2:
            return _INCOMPLETE, None
        pos += 2 + d[pos + 1]
        if len(d) <= pos:
            return _INCOMPLETE, None
        pos += 1 + d[pos]
    return _socks5_address(d, pos, command=0x01)


def _socks5_server(d: bytes) -> tuple[int, str | None] | None:
    if d[:1] != b"\x05":
        return None
    if len(d) < 2:
        return _INCOMPLETE, None
    if d[1] not in (0x00, 0x02):  # no authentication, or username/password
        return None
    pos = 2
    if d[1] == 0x02:
        if len(d) < pos + 2:
            return _INCOMPLETE, None
        if d[pos : pos + 2] != b"\x01\x00":
            return None
        pos += 2
    return _socks5_address(d, pos, command=0x00)


def _socks5_address(d: bytes, pos: int, command: int) -> tuple[int, str | None] | None:
    """05 cmd 00 atyp address port at ``pos``: a CONNECT request (cmd 1) or a success
    reply (0)."""
    fixed = bytes((0x05, command, 0x00))
    head = d[pos : pos + 3]
    if not fixed.startswith(head):
        return None
    if len(d) < pos + 5:
        return _INCOMPLETE, None
    atyp = d[pos + 3]
    host = None
    if atyp == 0x01:
        end = pos + 4 + 4 + 2
    elif atyp == 0x04:
        end = pos + 4 + 16 + 2
    elif atyp == 0x03:
        size = d[pos + 4]
        end = pos + 5 + size + 2
        host = d[pos + 5 : pos + 5 + size].decode("ascii", "replace") or None
    else:
        return None
    return (end, host) if len(d) >= end else (_INCOMPLETE, None)


def _socks4_client(d: bytes) -> tuple[int, str | None] | None:
    if d[:1] != b"\x04":
        return None
    if len(d) < 2:
        return _INCOMPLETE, None
    if d[1] != 0x01:  # CONNECT
        return None
    user_end = d.find(b"\x00", 8)
    if user_end == -1:
        return (_INCOMPLETE, None) if len(d) < 8 + 256 else None
    end, host = user_end + 1, None
    if d[4:7] == b"\x00\x00\x00" and d[7] != 0:  # SOCKS4a: a host name follows
        host_end = d.find(b"\x00", end)
        if host_end == -1:
            return (_INCOMPLETE, None) if len(d) < end + 256 else None
        host = d[end:host_end].decode("ascii", "replace") or None
        end = host_end + 1
    return end, host


def _socks4_server(d: bytes) -> tuple[int, str | None] | None:
    if d[:1] != b"\x00":
        return None
    if len(d) < 2:
        return _INCOMPLETE, None
    if d[1] != 0x5A:  # request granted
        return None
    return (8, None) if len(d) >= 8 else (_INCOMPLETE, None)


def _looks_like_json_start(data: bytes) -> bool:
    head = data.lstrip()[:1]
    return head in (b"{", b"[") and data.lstrip()[1:2] in (b'"', b"{", b" ", b"\n", b"\r", b"\t")


class JsonLines(StreamDissector):
    """Newline-delimited JSON messages, both sides of a flow."""

    name: ClassVar[str] = "json"

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.tails = [b"", b""]
        self.synced = [False, False]
        self.started = [False, False]  # a side's first bytes were checked for SOCKS
        self.rpc = RpcState()

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        """YES if a JSON value starts the data (after a SOCKS handshake, if one starts it)
        or starts right after a newline (a capture that begins mid-session: every
        newline-JSON message starts after a newline). NO as soon as that cannot be: a
        complete line is followed by something else, or the data has no quote at all
        (JSON-RPC always carries quoted keys)."""
        if data[:1] in (b"\x00", b"\x04", b"\x05"):
            socks = _socks_preamble(data)
            if socks is not None:
                end = socks[0]
                if end == _INCOMPLETE or end == len(data):
                    return Probe.MAYBE
                return Probe.YES if _looks_like_json_start(data[end:]) else Probe.NO
        if _looks_like_json_start(data):
            return Probe.YES
        window = data[:PROBE_WINDOW]
        nl = window.find(b"\n")
        if nl == -1:
            if b'"' not in window or len(data) >= PROBE_WINDOW:
                return Probe.NO
            return Probe.MAYBE
        if not window[:nl].rstrip().endswith((b"}", b"]")):
            return Probe.NO  # a first line that neither is nor ends a JSON message
        rest = window[nl + 1 :].lstrip(b"\r\n")
        if not rest:
            return Probe.MAYBE
        return Probe.YES if _looks_like_json_start(rest) else Probe.NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        facts.app_protos.add("json")
        buf = self.tails[side] + data
        if not self.started[side]:
            socks = _socks_preamble(buf)
            if socks is not None and socks[0] == _INCOMPLETE:
                self.tails[side] = buf[-MAX_LINE:]
                return True
            self.started[side] = True
            if socks is not None:
                end, host = socks
                buf = buf[end:]
                facts.note("stream starts with a SOCKS handshake")
                facts.set_once("pool_host", host[:128] if host else None)
            if _looks_like_json_start(buf):
                self.synced[side] = True
            else:
                nl = buf.find(b"\n")
                if nl == -1:
                    self.tails[side] = buf[-MAX_LINE:]
                    return True
                buf = buf[nl + 1 :]
                self.synced[side] = True
        lines = buf.split(b"\n")
        self.tails[side] = lines.pop()
        for line in lines:
            self._line(side, line, facts)
        if len(self.tails[side]) > MAX_LINE:
            facts.sides[side].json_errors += 1
            self.tails[side] = b""
            self.synced[side] = False
        return True

    def on_gap(self, side: int, facts: FlowFacts) -> None:
        facts.gaps += 1
        self.tails[side] = b""
        self.synced[side] = False
        self.started[side] = True  # a handshake only ever starts a stream

    def on_expire(self, facts: FlowFacts) -> None:
        for side in (0, 1):
            tail, self.tails[side] = self.tails[side], b""
            if tail.strip():
                self._line(side, tail, facts)

    def _line(self, side: int, line: bytes, facts: FlowFacts) -> None:
        text = line.strip()
        if not text:
            return
        if text[:1] not in (b"{", b"["):
            facts.sides[side].json_errors += 1
            return
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            # One bad byte must not hide the rest of the message (an evasion path: the
            # agent and wallet of a login would vanish): keep it as U+FFFD.
            decoded = text.decode("utf-8", "replace")
            facts.note("invalid UTF-8 in a JSON message")
        pos, end = 0, len(decoded)
        # Some servers write several objects on one line ("}{"): decode them in turn.
        while pos < end:
            try:
                value, pos = _decoder.raw_decode(decoded, pos)
            except (ValueError, RecursionError):
                facts.sides[side].json_errors += 1
                return
            classify(value, side, facts, self.rpc, "tcp")
            while pos < end and decoded[pos] in " \t\r":
                pos += 1


def parse_json_body(body: bytes) -> object | None:
    """Parse an HTTP body as JSON; None if it is not JSON."""
    text = body.strip()
    if text[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(text.decode("utf-8", "replace"))  # see JsonLines._line
    except (ValueError, RecursionError):
        return None
