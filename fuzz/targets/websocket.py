"""WebSocket after an HTTP Upgrade: ``dissect/http.py``'s handoff, the inspector's named
upgrade, ``dissect/websocket.py``, ``dissect/wsframe.py`` and the CoinHive-family
vocabulary (``dissect/webminer.py``).

Three ways in, each a place hostile bytes reach:

* the conversation (fuzz/common.py) as the TCP segments of one flow through the whole
  inspector, so the HTTP head, the 101 answer and the frames after them take the real
  path (seeds: the captures' flows that ask for ``Upgrade: websocket``);
* the conversation to the WebSocket dissector alone, as if both sides had just been
  upgraded - permessage-deflate negotiated or not, by the first byte - so the fuzzer
  need not find a handshake first;
* the bytes to one frame reader, with and without deflate.

Crash rule as for every dissector (see fuzz/targets/jsonlines.py); the frame reader is
called directly, so any exception from it is a finding.
"""

from __future__ import annotations

import os

from fuzz import common

with common.instrumented():
    from detector.dissect.base import Upgrade
    from detector.dissect.inspector import Inspector
    from detector.dissect.websocket import WebSocket
    from detector.dissect.wsframe import FrameReader
    from detector.facts import FlowFacts
    from detector.plain import dumps

CTX = common.dissector_context()
ISN = (1_000, 5_000_000)


def _through_inspector(data: bytes) -> None:
    ports, frames = common.conversation(data)
    inspector = Inspector(ctx=CTX)
    seq = list(ISN)
    ts = 1_700_000_000.0
    for side, gap, chunk in frames:
        if gap:
            seq[side] += 3  # a hole before this segment
        ts += 0.5
        sport, dport = ports if side == 0 else ports[::-1]
        inspector.tcp_packet(1, side, seq[side], ISN[side], chunk, len(chunk), ts, sport, dport)
        seq[side] += len(chunk)
    facts = inspector.finish(1)
    if facts is not None:
        if facts.dissector_errors and os.environ.get("FUZZ_STRICT") == "1":
            raise AssertionError(f"a dissector raised: {facts.evidence}")
        facts.stow()
        facts.unstow()
        dumps(facts)


def _upgraded(data: bytes) -> None:
    _, frames = common.conversation(data)
    dissector = WebSocket(CTX)
    facts = FlowFacts()
    extensions = "permessage-deflate" if data[:1] and data[0] & 0x80 else ""
    common.contained(dissector.on_upgrade, 0, Upgrade("http-upgrade", b"", protocol="websocket"),
                     facts)  # fmt: skip
    common.contained(dissector.on_upgrade, 1, Upgrade("http-upgrade", b"", protocol="websocket",
                                                      detail=extensions), facts)  # fmt: skip
    done = [False, False]
    for side, gap, chunk in frames:
        if done[side]:
            continue
        if gap:
            common.contained(dissector.on_gap, side, facts)
        more, err = common.contained(dissector.on_data, side, chunk, 0.0, facts)
        done[side] = err is not None or not more
    common.contained(dissector.on_expire, facts)
    facts.stow()
    facts.unstow()
    dumps(facts)


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    _through_inspector(data)
    _upgraded(data)
    for deflate in (False, True):
        FrameReader({}, expect_mask=bool(data[:1]) and data[0] & 1 == 1, deflate=deflate).feed(
            data
        )


if __name__ == "__main__":
    common.main(TestOneInput)
