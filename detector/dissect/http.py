"""HTTP/1.x requests and responses, for mining over HTTP (getwork, getblocktemplate,
Ethereum getwork, XMRig solo mining against monerod's /json_rpc).

Message framing is dpkt's (dpkt.http.Request/Response handle headers, Content-Length and
chunked bodies); this module only buffers each side, keeps the headers an analyst needs
(Host, User-Agent, X-Mining-Extensions, X-Stratum, Authorization user) and hands JSON
bodies to the same mining classifier that reads Stratum lines.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import ClassVar

import dpkt

from detector.dissect.base import InspectContext, Probe, StreamDissector
from detector.dissect.jsonlines import parse_json_body
from detector.dissect.mining import RpcState, classify
from detector.facts import FlowFacts

METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"OPTIONS ", b"DELETE ", b"PATCH ")
MAX_BUFFER = 256 * 1024
MAX_INFLATED = 256 * 1024
KEPT_HEADERS = ("host", "user-agent", "x-mining-extensions", "x-stratum", "x-mining-hashrate")


class Http(StreamDissector):
    """HTTP/1.x on both sides of a flow."""

    name: ClassVar[str] = "http"

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.bufs = [b"", b""]
        self.broken = [False, False]
        self.rpc = RpcState()
        self.last_uri = ""

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        if data.startswith(METHODS) or data.startswith(b"HTTP/1."):
            return Probe.YES
        if len(data) < 8 and any(m.startswith(data) for m in (*METHODS, b"HTTP/1.")):
            return Probe.MAYBE
        return Probe.NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        if self.broken[side]:
            return False
        buf = self.bufs[side] + data
        while buf:
            is_request = buf.startswith(METHODS)
            try:
                msg = dpkt.http.Request(buf) if is_request else dpkt.http.Response(buf)
            except dpkt.NeedData:
                break
            except (dpkt.UnpackError, ValueError, IndexError, UnicodeError):
                self.broken[side] = True
                buf = b""
                break
            consumed = len(buf) - len(msg.data)
            if consumed <= 0:
                break
            self._message(side, msg, is_request, facts)
            buf = buf[consumed:]
        if len(buf) > MAX_BUFFER:
            buf = b""
            self.broken[side] = True
        self.bufs[side] = buf
        return not self.broken[side]

    def on_gap(self, side: int, facts: FlowFacts) -> None:
        facts.gaps += 1
        self.bufs[side] = b""
        self.broken[side] = True

    def _message(
        self, side: int, msg: dpkt.http.Message, is_request: bool, facts: FlowFacts
    ) -> None:
        facts.app_protos.add("http")
        headers = msg.headers
        if is_request:
            facts.sides[side].client_votes += 2
            self.last_uri = str(msg.uri)[:256]
            facts.http.setdefault("method", str(msg.method)[:16])
            facts.http.setdefault("uri", self.last_uri)
            for name in KEPT_HEADERS:
                value = headers.get(name)
                if isinstance(value, list):
                    value = value[0]
                if isinstance(value, str) and value:
                    facts.http.setdefault(name, value[:256])
            user = _basic_auth_user(headers.get("authorization"))
            if user:
                facts.http.setdefault("auth_user", user)
        body = _decoded_body(msg.body, headers)
        value = parse_json_body(body) if body else None
        if value is not None:
            facts.app_protos.add("json")
            classify(value, side, facts, self.rpc, "http", self.last_uri)
            auth_user = facts.http.get("auth_user")
            if auth_user and "http-mining" in facts.app_protos:
                facts.set_once("login", auth_user)
            if is_request and facts.agent is None and "http-mining" in facts.app_protos:
                facts.set_once("agent", facts.http.get("user-agent"))


def _basic_auth_user(value: object) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str) or not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    return decoded.split(":", 1)[0][:128] or None


def _decoded_body(body: bytes, headers: dict[str, object]) -> bytes:
    encoding = headers.get("content-encoding")
    if not isinstance(encoding, str) or encoding.lower() not in ("gzip", "deflate"):
        return body
    wbits = 16 + zlib.MAX_WBITS if encoding.lower() == "gzip" else zlib.MAX_WBITS
    try:
        inflater = zlib.decompressobj(wbits)
        return inflater.decompress(body, MAX_INFLATED)
    except zlib.error:
        return b""
