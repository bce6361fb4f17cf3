"""Newline-delimited JSON over TCP (Stratum, XMRig, ETH proxy, generic JSON-RPC).

Frames the byte stream into lines and hands each parsed JSON value to the mining
classifier. Never matches on bytes: key order and spacing vary between clients. A stream
picked up mid-session starts inside a message: the partial first line is dropped and
parsing resumes at the next newline, as it does after a reassembly gap.

Miners also reach pools through SOCKS proxies (XMRig's ``socks5://`` pool option,
cgminer's ``--socks-proxy`` / SOCKS4 and 5): each side's stream then starts with a short
binary SOCKS handshake before its first JSON line. The handshake is recognised, field by
field, at the start of a side (tunnel.py), its target host kept as the flow's pool host,
and skipped. (Anything else behind SOCKS - TLS - is tunnel.Socks's to hand on.)
"""

from __future__ import annotations

import json
from typing import ClassVar

from detector.dissect.base import MAYBE, NO, YES, InspectContext, Probe, StreamDissector
from detector.dissect.mining import RpcState, classify
from detector.dissect.tunnel import INCOMPLETE as _INCOMPLETE
from detector.dissect.tunnel import socks_preamble as _socks_preamble
from detector.facts import FlowFacts

MAX_LINE = 64 * 1024
PROBE_WINDOW = 4096
_decoder = json.JSONDecoder()
# Its scanner, called as JSONDecoder.raw_decode calls it (one Python frame fewer a
# message): where raw_decode turns the scanner's StopIteration ("expecting value") into a
# ValueError, _line catches both.
_scan = _decoder.scan_once


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
                    return MAYBE
                return YES if _looks_like_json_start(data[end:]) else NO
        if _looks_like_json_start(data):
            return YES
        window = data[:PROBE_WINDOW]
        nl = window.find(b"\n")
        if nl == -1:
            # (``find``, not ``in``: see starttls.StartTls._line)
            if window.find(b'"') < 0 or len(data) >= PROBE_WINDOW:
                return NO
            return MAYBE
        if not window[:nl].rstrip().endswith((b"}", b"]")):
            return NO  # a first line that neither is nor ends a JSON message
        rest = window[nl + 1 :].lstrip(b"\r\n")
        if not rest:
            return MAYBE
        return YES if _looks_like_json_start(rest) else NO

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
                end, host, _ = socks
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
                value, pos = _scan(decoded, pos)
            except (StopIteration, ValueError, RecursionError):
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
