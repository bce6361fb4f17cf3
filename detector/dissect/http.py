"""HTTP/1.x requests and responses, for mining over HTTP (getwork, getblocktemplate,
Ethereum getwork, XMRig solo mining against monerod's /json_rpc).

A message head is its start line and header fields (read as dpkt.http reads them);
bodies are read only when they can carry JSON-RPC: a request body that declares JSON or
is small, and the response to such a request. Everything else - a GET and its download -
ends the inspection of that side after the headers, which keeps bulk HTTP out of Python.
JSON bodies go to the same mining classifier that reads Stratum lines.

A ``CONNECT`` request opens a tunnel through an HTTP proxy (cgminer's ``http_negotiate``,
any libcurl-based miner with an HTTP proxy): after the request head on the client side
and after a 2xx answer on the proxy side, both directions carry the tunnelled protocol:
newline JSON is handed to a JSON dissector of its own - Stratum through a corporate proxy -
and TLS to the inspector (base.Upgrade ``http-connect``, with the CONNECT target), whose
TLS dissector reads it as on a direct connection - stratum+ssl through the same proxy.

A request with ``Upgrade: websocket`` (RFC 6455 §4.1) answered by ``101 Switching
Protocols`` turns both sides into WebSocket frames: each side is handed on (base.Upgrade
``http-upgrade`` naming the ``websocket`` dissector) - the client's right after its
request, the server's after its answer, with the extensions it accepted - and
websocket.py reads the frames (web miners and their proxies).
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import ClassVar

from detector.compiled import fast
from detector.dissect import wallets
from detector.dissect.base import MAYBE, NO, YES, InspectContext, Probe, StreamDissector, Upgrade
from detector.dissect.jsonlines import JsonLines, parse_json_body
from detector.dissect.mining import RpcState, classify
from detector.dissect.tls.flow import Tls
from detector.facts import FlowFacts

METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"OPTIONS ", b"DELETE ", b"PATCH ", b"CONNECT ")
MAX_HEAD = 16 * 1024
MAX_BODY = 256 * 1024
MAX_INFLATED = 256 * 1024
SMALL_BODY = 64 * 1024
TUNNEL_PROBE = 4096  # tunnelled bytes looked at before giving up on finding JSON
KEPT_HEADERS = ("host", "user-agent", "x-mining-extensions", "x-stratum", "x-mining-hashrate")
# Every header field this module reads (parse_head keeps only these: a head's other
# fields - a dozen on a browser's request - were str objects and dict entries made for
# nothing, half the cost of reading the fields; tests/test_http_headers.py checks that
# no other name is read here).
READ_FIELDS = (
    *KEPT_HEADERS,
    "transfer-encoding",
    "content-length",
    "content-type",
    "content-encoding",
    "authorization",
    "upgrade",
    "sec-websocket-extensions",
)


class _Head:
    """Start line and header fields of one message."""

    __slots__ = ("method", "uri", "status", "headers")

    def __init__(self, method: str, uri: str, status: str, headers: dict[str, object]) -> None:
        self.method = method
        self.uri = uri
        self.status = status
        self.headers = headers


def parse_headers(block: bytes) -> dict[str, object] | None:
    """Header fields of a message head (after its first line), as dpkt.http.parse_headers
    reads them - names lower-cased, a repeated field becomes a list - or None where dpkt
    raises (a name with spaces). Read by ``_fast.http_headers`` when it is built (some
    ten method calls per line in Python: ~30,000 instructions a head), else by
    :func:`py_parse_headers`; tests check both against dpkt and each other."""
    if fast is None:
        return py_parse_headers(block)
    return fast.http_headers(block)


def py_parse_headers(
    block: bytes, names: tuple[str, ...] | None = None
) -> dict[str, object] | None:
    """The pure-Python :func:`parse_headers`. Written out because importing dpkt loads all
    of its 77 protocol modules (~55 ms, more than a small capture's whole scan) for this
    one loop. With ``names``, only the fields so named are kept (every line is still
    checked: see READ_FIELDS); ``_fast.http_headers(block, names)`` is its twin."""
    headers: dict[str, object] = {}
    for raw in block.split(b"\n"):
        line = raw.strip().decode("ascii", "ignore")
        if not line:
            break
        name, colon, value = line.partition(":")
        if len(name.split()) != 1:
            return None
        key = name.lower()
        if names is not None and key not in names:
            continue
        text = value.lstrip() if colon else ""
        if key in headers:
            old = headers[key]
            if isinstance(old, list):
                old.append(text)
            else:
                headers[key] = [old, text]
        else:
            headers[key] = text
    return headers


def parse_head(head: bytes) -> _Head | None:
    """Parse a message head (up to and including the blank line); None if it is not HTTP.
    Read by ``_fast.http_head`` when it is built (the start line's dozen method calls
    and the header fields in one call), else by :func:`py_parse_head`; a test checks
    both on the heads of the captures and on mutations of them."""
    if fast is None:
        return py_parse_head(head)
    found = fast.http_head(head, READ_FIELDS)
    return None if found is None else _Head(*found)


def py_parse_head(head: bytes) -> _Head | None:
    """The pure-Python :func:`parse_head`: the start line, split as str.split splits it,
    and the fields that READ_FIELDS names (py_parse_headers)."""
    line, _, rest = head.partition(b"\r\n")
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2:
        return None
    headers = py_parse_headers(rest, READ_FIELDS)
    if headers is None:
        return None
    if parts[0].startswith("HTTP/"):
        if not parts[1].isdigit():
            return None
        return _Head("", "", parts[1], headers)
    if len(parts) == 3 and not parts[2].startswith("HTTP/"):
        return None
    return _Head(parts[0], parts[1], "", headers)


class _Message:
    """A parsed message head waiting for (or skipping) its body."""

    __slots__ = ("head", "is_request", "body_len", "chunked", "wanted")

    def __init__(
        self,
        head: _Head,
        is_request: bool,
        body_len: int | None,
        chunked: bool,
        wanted: bool,
    ) -> None:
        self.head = head
        self.is_request = is_request
        self.body_len = body_len  # None: until the connection closes
        self.chunked = chunked
        self.wanted = wanted


class Http(StreamDissector):
    """HTTP/1.x on both sides of a flow."""

    name: ClassVar[str] = "http"
    first_bytes: ClassVar[frozenset[int] | None] = frozenset(m[0] for m in (*METHODS, b"HTTP/1."))

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.bufs = [b"", b""]
        self.pending: list[_Message | None] = [None, None]
        # Made with the first JSON body (_body): most HTTP flows carry none.
        self.rpc: RpcState | None = None
        self.last_uri = ""
        self.json_requests = 0  # requests that carried JSON: their responses are read
        self.connect_side: int | None = None  # the side that asked for a CONNECT tunnel
        self.tunneled = [False, False]  # this side's bytes now belong to the tunnel
        self.tunnel: JsonLines | None = None
        self.tunnel_json = [False, False]  # the tunnelled bytes were probed as JSON
        self.tunnel_head = [b"", b""]  # tunnelled bytes waiting for that probe
        self.target: tuple[str | None, int | None] = (None, None)  # the CONNECT's host:port
        self.handoff: list[Upgrade | None] = [None, None]  # TLS in the tunnel, to hand on
        self.websocket_side: int | None = None  # the side that asked to upgrade to WebSocket

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        if data.startswith(METHODS) or data.startswith(b"HTTP/1."):
            return YES
        if len(data) < 8 and any(m.startswith(data) for m in (*METHODS, b"HTTP/1.")):
            return MAYBE
        return NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        if self.tunneled[side]:
            return self._tunnel(side, data, ts, facts)
        buf = self.bufs[side] + data
        while buf:
            msg = self.pending[side]
            if msg is None:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        return False
                    break
                msg = self._head(side, buf[: end + 4], facts)
                if msg is None:
                    return False
                buf = buf[end + 4 :]
                # (no call for a head without an Upgrade field while no side asked for
                # one: what _upgrades_to_websocket answers then, changing nothing)
                if (
                    "upgrade" in msg.head.headers or self.websocket_side is not None
                ) and self._upgrades_to_websocket(side, msg):
                    self.bufs[side] = b""
                    extensions = None if msg.is_request else _websocket_extensions(msg.head)
                    self.handoff[side] = Upgrade(
                        "http-upgrade", buf, protocol="websocket", detail=extensions
                    )
                    return False
                if self._opens_tunnel(side, msg):
                    self.bufs[side] = b""
                    return self._tunnel(side, buf, ts, facts) if buf else True
                self.pending[side] = msg
            if not msg.wanted:
                return False  # the body is of no interest: this side is done
            if msg.body_len == 0 and not msg.chunked:  # (_take_body's answer, no call: a GET's)
                body, rest, complete = b"", buf, True
            else:
                body, rest, complete = _take_body(msg, buf)
            if not complete:
                if len(buf) > MAX_BODY:
                    return False
                break
            self.pending[side] = None
            if body:  # (an empty one - a GET's - decodes to nothing: _body would return)
                self._body(side, msg, body, facts)
            buf = rest
        self.bufs[side] = buf
        return True

    def on_gap(self, side: int, facts: FlowFacts) -> None:
        if self.tunneled[side] and self.tunnel is not None:
            self.tunnel.on_gap(side, facts)
            return
        facts.gaps += 1
        self.bufs[side] = b""
        self.pending[side] = None

    def _opens_tunnel(self, side: int, msg: _Message) -> bool:
        """After this head, are the side's bytes tunnelled? The client's after CONNECT,
        the proxy's after a 2xx answer to it (a refusal leaves both sides HTTP)."""
        if msg.is_request:
            if msg.head.method.upper() != "CONNECT":
                return False
            self.connect_side = side
            self.target = _authority(msg.head.uri)
        elif self.connect_side is None or self.connect_side == side:
            return False
        elif not msg.head.status.startswith("2"):
            self.tunneled[self.connect_side] = False
            self.connect_side = None
            return False
        self.tunneled[side] = True
        return True

    def _upgrades_to_websocket(self, side: int, msg: _Message) -> bool:
        """Does this head switch its side to WebSocket frames? The client's request with
        ``Upgrade: websocket`` does at once (its later bytes are frames if the server
        agrees: the WebSocket dissector holds them until it knows); the server's side
        does with a ``101`` answer to it. Another answer leaves the server's side HTTP."""
        if not _names_websocket(msg.head.headers):
            if not msg.is_request and self.websocket_side is not None:
                self.websocket_side = None  # refused (or not an answer to it): stays HTTP
            return False
        if msg.is_request:
            if msg.head.method.upper() != "GET":
                return False
            self.websocket_side = side
            return True
        if self.websocket_side is None or self.websocket_side == side:
            return False
        self.websocket_side = None
        return msg.head.status == "101"

    def _tunnel(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        """Tunnelled bytes: newline JSON goes to a JsonLines dissector; anything else (TLS
        to a web site, mostly) ends this side's inspection, as it would have before."""
        if not self.tunnel_json[side]:
            head = self.tunnel_head[side] + data
            tls = Tls.probe(head)
            if tls is YES:
                self.tunnel_head[side] = b""
                self.handoff[side] = Upgrade("http-connect", head, *self.target)
                return False
            if tls is MAYBE and head:  # one or two bytes of a record header so far
                self.tunnel_head[side] = head
                return True
            verdict = JsonLines.probe(head)
            if verdict is MAYBE and len(head) < TUNNEL_PROBE:
                self.tunnel_head[side] = head
                return True
            self.tunnel_head[side] = b""
            if verdict is not YES:
                return False
            self.tunnel_json[side] = True
            data = head
        if self.tunnel is None:
            self.tunnel = JsonLines()
        return self.tunnel.on_data(side, data, ts, facts)

    def upgraded(self, side: int) -> Upgrade | None:
        found, self.handoff[side] = self.handoff[side], None
        return found

    def on_expire(self, facts: FlowFacts) -> None:
        if self.tunnel is not None:
            self.tunnel.on_expire(facts)
        for side in (0, 1):  # a body that ran until the connection closed
            msg = self.pending[side]
            if msg is not None and msg.wanted and msg.body_len is None and self.bufs[side]:
                self._body(side, msg, self.bufs[side], facts)

    def _head(self, side: int, head: bytes, facts: FlowFacts) -> _Message | None:
        is_request = head.startswith(METHODS)
        parsed = parse_head(head)
        if parsed is None:
            return None
        facts.app_protos.add("http")
        headers = parsed.headers
        # Each field below is looked for (``in``) before _header reads it: most heads
        # have none of them but the length, and a call for each costs more than the test.
        te = _header(headers, "transfer-encoding") if "transfer-encoding" in headers else None
        chunked = te is not None and str(te).lower() == "chunked"
        length_text = _header(headers, "content-length") if "content-length" in headers else None
        body_len: int | None = None
        if length_text is not None:
            try:
                body_len = int(str(length_text).strip())
                if body_len < 0:  # (not max(): a call per message head)
                    body_len = 0
            except ValueError:
                return None
        elif not chunked and (is_request or _no_body_response(parsed)):
            body_len = 0
        if is_request:
            facts.sides[side].client_votes += 2
            self.last_uri = parsed.uri[:256]  # (parse_head's _Head holds str)
            facts.http.setdefault("method", parsed.method[:16])
            facts.http.setdefault("uri", self.last_uri)
            wallets.record_path(self.last_uri, side, facts)  # monerod's binary wallet calls
            for name in KEPT_HEADERS:
                value = headers.get(name)
                if value is None:
                    continue  # (most of them: no _header call for it)
                if isinstance(value, list):
                    value = value[0] if value else None
                if isinstance(value, str) and value:
                    facts.http.setdefault(name, value[:256])
            if "authorization" in headers:
                user = _basic_auth_user(_header(headers, "authorization"))
                if user:
                    facts.http.setdefault("auth_user", user)
            ctype = _header(headers, "content-type") if "content-type" in headers else None
            wanted = "json" in str(ctype or "").lower() or (
                body_len is not None and 0 < body_len <= SMALL_BODY
            )
        else:
            wanted = self.json_requests > 0 and (body_len is None or body_len <= MAX_BODY)
        return _Message(parsed, is_request, body_len, chunked, wanted or body_len == 0)

    def _body(self, side: int, msg: _Message, body: bytes, facts: FlowFacts) -> None:
        body = _decoded_body(body, msg.head.headers)
        value = parse_json_body(body) if body else None
        if value is None:
            return
        if msg.is_request:
            self.json_requests += 1
        facts.app_protos.add("json")
        if self.rpc is None:
            self.rpc = RpcState()
        classify(value, side, facts, self.rpc, "http", self.last_uri)
        if "http-mining" in facts.app_protos:
            auth_user = facts.http.get("auth_user")
            if auth_user:
                facts.set_once("login", auth_user)
            if msg.is_request and facts.agent is None:
                facts.set_once("agent", facts.http.get("user-agent"))


def _authority(uri: str) -> tuple[str | None, int | None]:
    """(host, port) of a CONNECT request's target ``host:port`` (``[v6]:port``)."""
    host, _, port = uri.strip().rpartition(":")
    host = host.strip("[]")[:253]
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None, None
    return host, int(port)


def _header(headers: dict[str, object], name: str) -> object:
    value = headers.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def _names_websocket(headers: dict[str, object]) -> bool:
    """An ``Upgrade`` field listing the ``websocket`` token (RFC 6455 §4.1: case-insensitive;
    RFC 9110 §7.8: a comma-separated list, possibly with versions)."""
    value = headers.get("upgrade")
    if value is None:  # most messages: nothing to split
        return False
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, str):
            for token in item.split(","):
                if token.split("/", 1)[0].strip().lower() == "websocket":
                    return True
    return False


def _websocket_extensions(head: _Head) -> str:
    """The extensions a server's 101 accepted (``Sec-WebSocket-Extensions``, repeatable)."""
    value = head.headers.get("sec-websocket-extensions")
    values = value if isinstance(value, list) else [value]
    return ", ".join(v for v in values if isinstance(v, str))[:512]


def _no_body_response(resp: _Head) -> bool:
    return resp.status.startswith("1") or resp.status in ("204", "304")


_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _take_body(msg: _Message, buf: bytes) -> tuple[bytes, bytes, bool]:
    """(body, rest, complete) for the message's framing."""
    if msg.chunked:
        chunks: list[bytes] = []
        pos = 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return b"", buf, False
            text = buf[pos:eol].split(b";")[0].strip() or b"0"
            if text.translate(None, _HEX_DIGITS):  # chunk-size = 1*HEXDIG (RFC 9112 §7.1)
                # not a size: int() would also take "-5", "+5" or "0x_5", and a negative
                # size walked back over the buffer, appending chunks without end
                return b"".join(chunks), b"", True
            size = int(text, 16)
            start = eol + 2
            if size == 0:
                end = buf.find(b"\r\n", start)
                return (b"".join(chunks), buf[end + 2 :], True) if end >= 0 else (b"", buf, False)
            if len(buf) < start + size + 2:
                return b"", buf, False
            chunks.append(buf[start : start + size])
            pos = start + size + 2
    if msg.body_len is None:
        return b"", buf, False  # until the connection closes (see on_expire)
    if len(buf) < msg.body_len:
        return b"", buf, False
    return buf[: msg.body_len], buf[msg.body_len :], True


def _basic_auth_user(value: object) -> str | None:
    if not isinstance(value, str) or not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=False).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    return decoded.split(":", 1)[0][:128] or None


def _decoded_body(body: bytes, headers: dict[str, object]) -> bytes:
    encoding = _header(headers, "content-encoding")
    if not isinstance(encoding, str) or encoding.lower() not in ("gzip", "deflate"):
        return body
    wbits = 16 + zlib.MAX_WBITS if encoding.lower() == "gzip" else zlib.MAX_WBITS
    try:
        return zlib.decompressobj(wbits).decompress(body, MAX_INFLATED)
    except zlib.error:
        return b""
