"""WebSocket (RFC 6455) after an HTTP/1.1 Upgrade: frames to messages, messages to facts.

Why: in-page miners talk to their service over a WebSocket, and the services that feed
them can be self-hosted (coin-hive-stratum and its successors exist for exactly that), so
no host-name list names them. What the browser's leg does show, in cleartext, is the
miner's vocabulary: the service pushes jobs, the page submits shares (webminer.py). Some
web miners tunnel plain Stratum or XMRig JSON-RPC in the frames instead; that is read by
the same classifier as newline JSON (mining.py).

How it fits the dissector framework: ``http.py`` sees the client's request with
``Upgrade: websocket`` and the server's ``101`` answer and hands each side on with a
``base.Upgrade`` naming this dissector (the client's side at its request, the server's at
the answer; frames have no signature to probe for, so the inspector does not probe). The
client's bytes are frames only if the server agreed: until the server's side arrives with
its answer they are held (bounded by ``MAX_HELD``) and read then; if it never agrees they
are never read. The answer also says whether permessage-deflate (RFC 7692) was
negotiated, which gives RSV1 its meaning.

Text messages that hold JSON - one value, or several, newline-separated as some proxies
write them - go to the CoinHive-family vocabulary first and to the JSON-RPC classifier
otherwise; binary messages and control frames are counted (``FlowFacts.websocket``), not
read. Framing errors end the side quietly (wsframe.py).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from detector.dissect.base import NO, InspectContext, Probe, StreamDissector, Upgrade
from detector.dissect.mining import RpcState, classify
from detector.dissect.webminer import classify_webminer
from detector.dissect.wsframe import OP_TEXT, FrameReader
from detector.facts import FlowFacts

MAX_HELD = 16 * 1024  # client bytes held until the server's answer to the upgrade
MAX_VALUES = 32  # JSON values read from one message
_decoder = json.JSONDecoder()


def negotiates_deflate(extensions: str) -> bool:
    """Whether a server's ``Sec-WebSocket-Extensions`` accepts permessage-deflate
    (RFC 7692 §5: ``permessage-deflate; client_max_window_bits=15, ...``)."""
    for offer in extensions.split(","):
        if offer.split(";", 1)[0].strip().lower() == "permessage-deflate":
            return True
    return False


class WebSocket(StreamDissector):
    """Both sides of an upgraded flow (one instance per flow)."""

    name: ClassVar[str] = "websocket"

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.readers: list[FrameReader | None] = [None, None]  # once the server agreed
        self.client: int | None = None  # the side that asked for the upgrade
        self.held = b""  # the client's bytes before the server's answer
        self.lost = False  # the held bytes had a hole or outgrew MAX_HELD
        self.rpc = RpcState()

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        """Never chosen by probing: only through an Upgrade that names it."""
        return NO

    def on_upgrade(self, side: int, upgrade: Upgrade, facts: FlowFacts) -> None:
        if upgrade.detail is None:  # the side that asked
            self.client = side
            return
        if self.readers[side] is not None:
            return
        if self.client is None:
            self.client = 1 - side
        deflate = negotiates_deflate(upgrade.detail)
        facts.app_protos.add("websocket")
        counts = facts.websocket = facts.websocket if facts.websocket is not None else {}
        if deflate:
            counts["deflate"] = 1
        for s in (0, 1):
            self.readers[s] = FrameReader(counts, expect_mask=s == self.client, deflate=deflate)
        held, self.held = self.held, b""
        if held and not self.lost:
            self._read(self.client, held, facts)

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        if self.readers[side] is None:  # the client's, before the server agreed
            if self.lost or len(self.held) + len(data) > MAX_HELD:
                self.held, self.lost = b"", True
                return False
            self.held += data
            return True
        return self._read(side, data, facts)

    def on_gap(self, side: int, facts: FlowFacts) -> None:
        """Frames cannot be found again after a hole: the side ends here."""
        facts.gaps += 1
        reader = self.readers[side]
        if reader is None:
            self.held, self.lost = b"", True
        else:
            reader.stop("a hole in the stream", malformed=False)

    def _read(self, side: int, data: bytes, facts: FlowFacts) -> bool:
        reader = self.readers[side]
        assert reader is not None
        for message in reader.feed(data):
            if message.opcode == OP_TEXT:
                self._text(side, message.payload, facts)
        return not reader.done

    def _text(self, side: int, payload: bytes, facts: FlowFacts) -> None:
        """The JSON values of one text message, each to the classifiers."""
        text = payload.decode("utf-8", "replace")  # invalid UTF-8 must not hide the rest
        values = 0
        for line in text.split("\n"):
            line = line.strip()
            if line[:1] not in ("{", "["):
                continue  # not JSON (a chat line, a Socket.IO packet): not ours
            facts.app_protos.add("json")
            pos, end = 0, len(line)
            while pos < end and values < MAX_VALUES:
                try:
                    value, pos = _decoder.raw_decode(line, pos)
                except (ValueError, RecursionError):
                    facts.sides[side].json_errors += 1
                    break
                values += 1
                self._value(side, value, facts)
                while pos < end and line[pos] in " \t\r":
                    pos += 1

    def _value(self, side: int, value: Any, facts: FlowFacts) -> None:
        if isinstance(value, dict) and classify_webminer(value, side, facts, self.rpc):
            return
        classify(value, side, facts, self.rpc, "ws")
