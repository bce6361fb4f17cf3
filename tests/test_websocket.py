"""WebSocket after an HTTP Upgrade: the RFC 6455 frame reader, the CoinHive-family
vocabulary, and web miners found end to end through the CLI (and benign WebSockets not).

The frame tests use the byte sequences RFC 6455 §5.7 and RFC 7692 §7.2.3 print, and frames
written here field by field from §5.2 - not the fixture generator's encoder - so a
mistake shared by the generator and the reader cannot hide.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import tracemalloc
import zlib
from collections import Counter
from pathlib import Path

import pytest

from detector.dissect.wsframe import (
    MAX_MESSAGE,
    OP_BINARY,
    OP_TEXT,
    FrameReader,
    Message,
    unmask,
)
from detector.synth.benign.websocket import Deflater, accept_key
from detector.synth.chain import HexStream, monero_address
from detector.synth.clock import at
from detector.synth.conversation import Conversation, Talk
from detector.synth.dialects import cryptonote, webminer
from detector.synth.dialects.cryptonote import MoneroJobs
from detector.synth.http import http_req, http_resp
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import PCAPS, meta, needs_tool, run_cli

HELLO = b"Hello"
RFC_KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(
    payload: bytes,
    opcode: int = OP_TEXT,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bytes | None = None,
    length_form: int | None = None,
) -> bytes:
    """One frame, field by field from RFC 6455 §5.2. ``length_form`` forces the 7-, 16-
    or 64-bit payload length encoding (7 = the length in the second byte)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    form = length_form or (7 if n < 126 else 16 if n < 65536 else 64)
    mbit = 0x80 if mask is not None else 0
    if form == 7:
        head = bytes([b0, mbit | n])
    elif form == 16:
        head = bytes([b0, mbit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def read(data: bytes, *, client: bool = False, deflate: bool = False, step: int = 0):
    """Feed ``data`` to a fresh reader (whole, or ``step`` bytes at a time)."""
    counts: dict[str, int] = {}
    reader = FrameReader(counts, expect_mask=client, deflate=deflate)
    out: list[Message] = []
    if step:
        for i in range(0, len(data), step):
            out += reader.feed(data[i : i + step])
    else:
        out = reader.feed(data)
    return out, counts, reader


def deflated(text: bytes, compressor=None) -> bytes:
    """A permessage-deflate payload: raw DEFLATE, sync-flushed, its 00 00 ff ff tail
    removed (RFC 7692 §7.2.1)."""
    c = compressor or zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


# --- RFC 6455 §5.7 and RFC 7692 §7.2.3, byte for byte ------------------------------------


def test_rfc6455_examples_unmasked_masked_fragmented_ping() -> None:
    unmasked = bytes([0x81, 0x05]) + HELLO
    masked = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    fragmented = bytes([0x01, 0x03]) + b"Hel" + bytes([0x80, 0x02]) + b"lo"
    ping = bytes([0x89, 0x05]) + HELLO
    pong = bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    assert read(unmasked)[0] == [Message(OP_TEXT, HELLO)]
    assert read(masked, client=True)[0] == [Message(OP_TEXT, HELLO)]
    out, counts, _ = read(fragmented)
    assert out == [Message(OP_TEXT, HELLO)] and counts["fragments"] == 2
    out, counts, reader = read(ping + pong)
    assert out == [] and counts["ping"] == 1 and counts["pong"] == 1 and not reader.done
    assert frame(HELLO, mask=RFC_KEY) == masked  # the test's own encoder agrees with §5.7


def test_rfc6455_examples_16_and_64_bit_lengths() -> None:
    body256 = bytes(range(256))
    f16 = bytes([0x82, 0x7E, 0x01, 0x00]) + body256
    body64k = bytes(i % 251 for i in range(65536))
    f64 = bytes([0x82, 0x7F]) + (65536).to_bytes(8, "big") + body64k
    assert read(f16)[0] == [Message(OP_BINARY, body256)]
    assert read(f64)[0] == [Message(OP_BINARY, body64k)]  # exactly MAX_MESSAGE: kept
    # A short payload in the longer encodings is legal framing (only non-minimal) and reads.
    for form in (16, 64):
        assert read(frame(HELLO, length_form=form))[0] == [Message(OP_TEXT, HELLO)]


def test_rfc7692_examples_compressed_shared_window_and_fragmented() -> None:
    first = bytes([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    second = bytes([0xC1, 0x05, 0xF2, 0x00, 0x11, 0x00, 0x00])  # refers to the first's window
    stored = bytes([0xC1, 0x0B, 0x00, 0x05, 0x00, 0xFA, 0xFF]) + HELLO + b"\x00"
    fragmented = bytes([0x41, 0x03, 0xF2, 0x48, 0xCD, 0x80, 0x04, 0xC9, 0xC9, 0x07, 0x00])
    out, counts, _ = read(first + second, deflate=True)
    assert out == [Message(OP_TEXT, HELLO)] * 2 and counts["compressed"] == 2
    assert read(stored, deflate=True)[0] == [Message(OP_TEXT, HELLO)]
    assert read(fragmented, deflate=True)[0] == [Message(OP_TEXT, HELLO)]


# --- reading as the bytes come ------------------------------------------------------------


def test_any_split_of_the_stream_reads_the_same_messages() -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    text = b'{"type":"job","params":{"job_id":"1"}}' * 3
    stream = (
        frame(b'{"a":1}', mask=b"\x01\x02\x03\x04")
        + frame(b"x" * 300, OP_BINARY, mask=b"\xff\x00\xff\x00")
        + frame(deflated(text, c), rsv1=True, mask=b"abcd")
        + frame(deflated(text, c), rsv1=True, mask=b"efgh")  # the window carries over
        + frame(b"part one ", fin=False, mask=b"ijkl")
        + frame(b"ping!", 0x9, mask=b"mnop")  # a control frame between the fragments
        + frame(b"part two", 0x0, mask=b"qrst")
    )
    expected = [
        Message(OP_TEXT, b'{"a":1}'),
        Message(OP_BINARY, b"x" * 300),
        Message(OP_TEXT, text),
        Message(OP_TEXT, text),
        Message(OP_TEXT, b"part one part two"),
    ]
    whole, counts, _ = read(stream, client=True, deflate=True)
    assert whole == expected
    assert counts["ping"] == 1 and counts["messages"] == 5 and "unexpected_mask" not in counts
    for step in (1, 2, 3, 7, 64):
        assert read(stream, client=True, deflate=True, step=step)[0] == expected


def test_a_truncated_frame_waits_and_never_fails() -> None:
    data = frame(b'{"type":"submit"}', mask=RFC_KEY)
    for cut in range(len(data)):
        out, counts, reader = read(data[:cut], client=True)
        assert out == [] and not reader.done and "malformed" not in counts
    counts: dict[str, int] = {}
    reader = FrameReader(counts, expect_mask=True, deflate=False)
    assert reader.feed(data[:5]) == []
    assert reader.feed(data[5:]) == [Message(OP_TEXT, b'{"type":"submit"}')]


def test_masking_against_the_rfc_is_counted_and_still_read() -> None:
    out, counts, _ = read(frame(HELLO, mask=RFC_KEY), client=False)  # a masked server frame
    assert out == [Message(OP_TEXT, HELLO)] and counts["unexpected_mask"] == 1
    out, counts, _ = read(frame(HELLO), client=True)  # an unmasked client frame
    assert out == [Message(OP_TEXT, HELLO)] and counts["unexpected_mask"] == 1


def test_unmask_is_the_repeating_xor_of_rfc6455_section_5_3() -> None:
    payload = bytes(range(37))
    assert unmask(payload, RFC_KEY) == bytes(c ^ RFC_KEY[i % 4] for i, c in enumerate(payload))
    assert unmask(unmask(payload, RFC_KEY), RFC_KEY) == payload
    assert unmask(b"", RFC_KEY) == b""


# --- malformed framing ends the direction quietly -----------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        bytes([0x83, 0x00]),  # reserved data opcode 3
        bytes([0x8B, 0x00]),  # reserved control opcode 0xB
        bytes([0xA1, 0x00]),  # RSV2
        bytes([0x91, 0x00]),  # RSV3
        bytes([0xC1, 0x01, 0x00]),  # RSV1 but no permessage-deflate negotiated
        bytes([0x80, 0x01]) + b"x",  # continuation with nothing to continue
        bytes([0x09, 0x00]),  # fragmented ping
        bytes([0x89, 0x7E, 0x00, 0x7E]) + b"x" * 126,  # control frame over 125 bytes
        bytes([0x82, 0x7F]) + (1 << 63).to_bytes(8, "big"),  # 64-bit length, top bit set
        frame(b"a", fin=False) + frame(b"b"),  # a new message inside a fragmented one
    ],
)
def test_malformed_frames_stop_the_direction_and_are_counted(bad: bytes) -> None:
    good = frame(HELLO)
    out, counts, reader = read(good + bad + good)
    assert out == [Message(OP_TEXT, HELLO)]  # what came before is kept
    assert reader.stopped and counts["malformed"] == 1
    assert reader.feed(good) == []  # and nothing after it is read


def test_close_ends_the_direction() -> None:
    out, counts, reader = read(frame(struct.pack(">H", 1000), 0x8) + frame(HELLO))
    assert out == [] and counts["close"] == 1 and reader.closed and reader.done


# --- bounds -------------------------------------------------------------------------------


def _held(stream: bytes, step: int) -> tuple[list[Message], dict[str, int], int]:
    """Feed ``stream`` ``step`` bytes at a time: messages, counts, most bytes buffered."""
    counts: dict[str, int] = {}
    reader = FrameReader(counts, expect_mask=False, deflate=False)
    out: list[Message] = []
    held = 0
    for i in range(0, len(stream), step):
        out += reader.feed(stream[i : i + step])
        held = max(held, len(reader._buf))
    return out, counts, held


def test_an_oversized_message_is_skipped_as_it_streams_and_reading_goes_on() -> None:
    big = frame(b"z" * (4 * MAX_MESSAGE), OP_BINARY, mask=RFC_KEY)
    out, counts, held = _held(big + frame(HELLO), 4096)
    assert out == [Message(OP_TEXT, HELLO)] and counts["oversized"] == 1
    assert held < 2 * 4096  # the skipped payload was never buffered
    # A fragmented message that outgrows the bound: its first frame fits (and is held
    # until whole), the continuation takes it over MAX_MESSAGE and the message is dropped.
    fragmented_big = frame(b"y" * MAX_MESSAGE, fin=False) + frame(b"y", 0x0)
    for step in (1 << 20, 4096):
        out, counts, held = _held(big + fragmented_big + frame(HELLO), step)
        assert out == [Message(OP_TEXT, HELLO)]
        assert counts["oversized"] == 2 and "malformed" not in counts
        assert held <= MAX_MESSAGE + 14 + step


def test_a_decompression_bomb_is_cut_off_with_bounded_memory() -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = deflated(b"\x00" * (32 << 20), c)  # 32 MB of zeros in ~32 KB
    assert len(bomb) < MAX_MESSAGE
    later = deflated(b'{"type":"job"}', c)
    stream = frame(bomb, rsv1=True) + frame(later, rsv1=True) + frame(HELLO)
    tracemalloc.start()
    try:
        out, counts, reader = read(stream, deflate=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MAX_MESSAGE + len(stream)  # never the 32 MB
    assert counts["inflate_limit"] == 1
    assert counts["unreadable"] == 1  # the window is gone: the next compressed one cannot be read
    assert out == [Message(OP_TEXT, HELLO)] and not reader.done  # plain ones still can


def test_garbage_deflate_data_is_unreadable_not_an_exception() -> None:
    out, counts, reader = read(frame(b"\xff\xfe\xfd\xfc", rsv1=True) + frame(HELLO), deflate=True)
    assert out == [Message(OP_TEXT, HELLO)] and counts["unreadable"] == 1


# --- through the CLI: sessions written here, one capture, one run -------------------------

SITE_KEY = monero_address(HexStream("ws-test-wallet"))
JOBS = MoneroJobs("ws-test-jobs", diff=2000, algo="cn/r")


def _job() -> bytes:
    return webminer.job(JOBS.job(at(1.0), with_id=True))


def _share() -> bytes:
    nonce, result = JOBS.share()
    return webminer.submit("17", nonce, result)


def _request(key: str, deflate: bool) -> bytes:
    headers = [("Host", "203.0.113.9:8892"), ("Upgrade", "websocket"),
               ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
               ("Sec-WebSocket-Version", "13")]  # fmt: skip
    if deflate:
        headers.append(("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"))
    return http_req("GET", "/", headers)


def _switch(key: str, extensions: str | None = None) -> bytes:
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", accept_key(key))]  # fmt: skip
    if extensions is not None:
        headers.append(("Sec-WebSocket-Extensions", extensions))
    return http_resp("101 Switching Protocols", headers)


MASK = b"\x9a\x11\x5c\x03"


def coinhive(t: Talk) -> None:
    """coin-hive-stratum's browser leg, plain frames."""
    t.c(_request("a2V5LTE=", False))
    t.s(_switch("a2V5LTE="))
    t.c(frame(webminer.auth(SITE_KEY), mask=MASK))
    t.s(frame(webminer.authed()) + frame(_job()))
    t.c(frame(_share(), mask=MASK), gap=20)
    t.s(frame(webminer.hash_accepted(1)))
    t.s(frame(_job()), gap=40)


def refused(t: Talk) -> None:
    """The same client, but the server refuses the upgrade: its bytes are no frames."""
    t.c(_request("a2V5LTI=", False))
    t.s(http_resp("400 Bad Request", [("Content-Length", "0")]))
    t.c(frame(webminer.auth(SITE_KEY), mask=MASK))
    t.s(frame(_job()))
    t.c(frame(_share(), mask=MASK), gap=20)


def pipelined(t: Talk) -> None:
    """The client's auth in the request's segment, before the server has answered."""
    t.c(_request("a2V5LTM=", False) + frame(webminer.auth(SITE_KEY), mask=MASK))
    t.s(_switch("a2V5LTM=") + frame(webminer.authed()) + frame(_job()))
    t.c(frame(_share(), mask=MASK), gap=20)


def tunnelled_stratum(t: Talk) -> None:
    """XMRig's JSON-RPC inside text frames, newline-terminated as some web miners send it."""
    t.c(_request("a2V5LTQ=", False))
    t.s(_switch("a2V5LTQ="))
    t.c(frame(cryptonote.proxy_login(SITE_KEY), mask=MASK))
    first = JOBS.job(at(1.0))
    t.s(frame(cryptonote.login_result("1", first, None)))
    nonce, result = JOBS.share()
    t.c(frame(cryptonote.submit(2, "1", str(first["job_id"]), nonce, result), mask=MASK), gap=9)
    t.s(frame(cryptonote.ok(2)))


def malformed(t: Talk) -> None:
    """A share, then a frame with a reserved opcode: the side ends there, quietly."""
    t.c(_request("a2V5LTU=", False))
    t.s(_switch("a2V5LTU="))
    t.c(frame(webminer.auth(SITE_KEY), mask=MASK))
    t.s(frame(_job()))
    t.c(frame(b"\x00" * 40, 0x3, mask=MASK) + frame(_share(), mask=MASK), gap=20)
    t.s(frame(webminer.hash_accepted(1)))


def chat(t: Talk) -> None:
    """A chat and task board using the same words: no job shape, no share shape."""
    t.c(_request("a2V5LTY=", False))
    t.s(_switch("a2V5LTY="))
    t.c(frame(b'{"type":"auth","params":{"user":"mara","token":"3f9a"}}', mask=MASK))
    t.s(frame(b'{"type":"authed","params":{"user":"mara"}}'))
    for n in range(4):
        t.s(frame(b'{"type":"job","params":{"job_id":%d,"title":"review PR","target":"main",'
                  b'"blob":"9c1185a5c5e9fc54612808977ee8f548b2258d31"}}' % n), gap=15)
        t.c(frame(b'{"type":"submit","params":{"job_id":%d,"form":"done"}}' % n, mask=MASK))
        t.s(frame(b'{"type":"error","params":{"error":"already done"}}'))


def compressed_fragmented(t: Talk) -> None:
    """permessage-deflate both ways: the page with a shared window, the proxy resetting per
    message (server_no_context_takeover); jobs cut into three frames with a ping between."""
    page = Deflater()
    t.c(_request("a2V5LTc=", True))
    t.s(_switch("a2V5LTc=", "permessage-deflate; server_no_context_takeover"))
    t.c(frame(page.message(webminer.auth(SITE_KEY)), rsv1=True, mask=MASK))
    for _ in range(2):
        packed = Deflater().message(_job())
        third = len(packed) // 3
        t.s(frame(packed[:third], fin=False, rsv1=True) + frame(b"hb", 0x9)
            + frame(packed[third : 2 * third], 0x0, fin=False)
            + frame(packed[2 * third :], 0x0), gap=30)  # fmt: skip
        t.c(frame(b"hb", 0xA, mask=MASK))
        t.c(frame(page.message(_share()), rsv1=True, mask=MASK), gap=5)


def bomb(t: Talk) -> None:
    """A compressed message that inflates to 8 MB: cut off, counted, no suspect."""
    t.c(_request("a2V5LTg=", True))
    t.s(_switch("a2V5LTg=", "permessage-deflate"))
    t.c(frame(Deflater(9).message(b"\x00" * (8 << 20)), rsv1=True, mask=MASK))
    t.c(frame(Deflater(9).message(webminer.auth(SITE_KEY)), rsv1=True, mask=MASK))


# port -> (client, script); the server is 203.0.113.9 on that port for every session
SESSIONS = {
    8892: ("10.66.0.2", coinhive),
    8893: ("10.66.0.3", refused),
    8894: ("10.66.0.4", pipelined),
    8895: ("10.66.0.5", tunnelled_stratum),
    8896: ("10.66.0.6", malformed),
    8897: ("10.66.0.7", chat),
    8898: ("10.66.0.8", compressed_fragmented),
    8899: ("10.66.0.9", bomb),
}


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[int, dict], dict[str, dict]]:
    """Scan the sessions: (flow-log facts by server port, EVE alerts by suspect IP)."""
    packets = []
    for n, (port, (client, script)) in enumerate(sorted(SESSIONS.items())):
        base = at(n * 200.0)
        conv = Conversation((client, 51000 + n), ("203.0.113.9", port), base, rtt=0.02)
        talk = Talk(conv, base)
        script(talk)
        conv.close(at(talk.t + 1, base))
        packets += conv.finish()
    path = tmp_path_factory.mktemp("websocket") / "sessions.pcap"
    path.write_bytes(pcap_bytes(frames(packets, Ethernet()), Ethernet.linktype))
    flows = run_cli("flows", "--all", "-j", "1", str(path))
    assert flows.rc == 0 and "Traceback" not in flows.err, flows.err
    facts = {}
    for line in flows.out.splitlines():
        entry = json.loads(line)
        facts[entry["dest_port"]] = entry.get("facts") or {}
    scan = run_cli("scan", "-f", "jsonl", "-q", str(path))
    assert scan.rc == 0 and "Traceback" not in scan.err, scan.err
    return facts, {e["src_ip"]: e for e in scan.events()}


def test_a_coinhive_session_is_a_browser_ws_miner(sessions) -> None:
    facts, alerts = sessions
    alert = alerts[SESSIONS[8892][0]]
    assert meta(alert, "mining_dialect") == ["browser-ws"]
    assert {"3700004", "3700005", "3700006"} <= set(meta(alert, "rules"))
    assert not {"3700001", "3700002", "3700003"} & set(meta(alert, "rules"))  # no host list
    assert alert["app_proto"] == "websocket" and alert["dest_port"] == 8892
    f = facts[8892]
    assert f["client_methods"] == {"auth": 1, "submit": 1}
    assert f["server_methods"] == {"authed": 1, "job": 2, "hash_accepted": 1}
    assert (f["jobs"], f["submits"], f["accepted"]) == (2, 1, 1)
    assert f["login"] == SITE_KEY and f["algo"] == "cn/r"
    assert "203.0.113.9" not in alerts  # the proxy answered: it is not the miner


def test_a_refused_upgrade_is_not_read_as_frames(sessions) -> None:
    facts, alerts = sessions
    f = facts[8893]
    assert f["websocket"] is None and "websocket" not in f["app_protos"]
    assert f["jobs"] == f["submits"] == 0 and SESSIONS[8893][0] not in alerts


def test_client_frames_before_the_answer_are_held_then_read(sessions) -> None:
    facts, alerts = sessions
    assert facts[8894]["client_methods"] == {"auth": 1, "submit": 1}
    assert meta(alerts[SESSIONS[8894][0]], "mining_dialect") == ["browser-ws"]


def test_stratum_tunnelled_in_frames_keeps_its_dialect(sessions) -> None:
    facts, alerts = sessions
    f = facts[8895]
    assert {"websocket", "stratum"} <= set(f["app_protos"])
    assert f["dialects"] == ["cryptonote"] and f["submits"] == 1 and f["accepted"] == 1
    assert meta(alerts[SESSIONS[8895][0]], "mining_dialect") == ["cryptonote"]


def test_a_malformed_frame_ends_the_side_quietly(sessions) -> None:
    facts, _ = sessions
    f = facts[8896]
    assert f["websocket"]["malformed"] == 1 and f["dissector_errors"] == 0
    assert f["client_methods"] == {"auth": 1}  # the share after the bad frame is not read
    assert f["server_methods"] == {"job": 1, "hash_accepted": 1}  # the other side goes on


def test_look_alike_words_without_the_shapes_stay_clean(sessions) -> None:
    facts, alerts = sessions
    f = facts[8897]
    assert f["websocket"]["text"] == 14 and f["dialects"] == []
    assert f["jobs"] == f["submits"] == 0 and SESSIONS[8897][0] not in alerts


def test_compressed_and_fragmented_messages_are_read(sessions) -> None:
    facts, alerts = sessions
    f = facts[8898]
    ws = f["websocket"]
    assert ws["deflate"] == 1 and ws["compressed"] == 5 and ws["ping"] == 2 and ws["pong"] == 2
    assert ws["fragments"] == 6 and "unreadable" not in ws
    assert (f["jobs"], f["submits"]) == (2, 2)
    assert meta(alerts[SESSIONS[8898][0]], "mining_dialect") == ["browser-ws"]


def test_a_decompression_bomb_is_counted_not_inflated(sessions) -> None:
    facts, alerts = sessions
    ws = facts[8899]["websocket"]
    assert ws["inflate_limit"] == 1 and ws["unreadable"] == 1
    assert facts[8899]["dissector_errors"] == 0 and SESSIONS[8899][0] not in alerts


# --- the real program, the fixtures, and benign WebSockets --------------------------------

REALSET = PCAPS / "realset"


def _tshark_messages(path: Path, port: int) -> dict[str, Counter[str]]:
    """What tshark's own WebSocket dissector reads on ``port``: the ``type`` of each JSON
    text message, per sender ("client": sent to ``port``)."""
    proc = subprocess.run(
        ["tshark", "-r", str(path), "-Y", f"websocket && tcp.port == {port}", "-T", "json",
         "-e", "tcp.dstport", "-e", "websocket.payload.text"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    seen: dict[str, Counter[str]] = {"client": Counter(), "server": Counter()}
    for packet in json.loads(proc.stdout or "[]"):
        layers = packet["_source"]["layers"]
        sender = "client" if int(layers["tcp.dstport"][0]) == port else "server"
        for text in layers.get("websocket.payload.text", []):
            seen[sender][json.loads(text).get("type", "")] += 1
    return seen


def test_realset_coinhive_stratum_browser_leg_passes_verify() -> None:
    result = run_cli("verify", str(REALSET), "--manifest", str(REALSET / "labels.csv"))
    line = next(x for x in result.out.splitlines() if "coinhive-stratum-ws-4444.pcap" in x)
    assert line.startswith("PASS"), result.out
    assert "10.213.17.2" in line and "browser-ws" in line


@needs_tool("tshark")
@pytest.mark.parametrize(
    "path,port,browser",
    [(REALSET / "coinhive-stratum-ws-4444.pcap", 8892, "10.213.17.2"),
     (PCAPS / "browser-ws-coinhive-proxy-80.pcap", 80, "192.168.7.23")],
    ids=["realset-coin-hive-stratum", "fixture-deflate-proxy"],
)  # fmt: skip
def test_browser_leg_counts_agree_with_tshark(path: Path, port: int, browser: str) -> None:
    seen = _tshark_messages(path, port)
    result = run_cli("scan", "-f", "jsonl", "-q", str(path))
    alert = next(e for e in result.events() if e["src_ip"] == browser)
    assert meta(alert, "mining_dialect") == ["browser-ws"] and alert["dest_port"] == port
    assert meta(alert, "mining_jobs") == [str(seen["server"]["job"])]
    assert meta(alert, "mining_submits") == [str(seen["client"]["submit"])]
    assert meta(alert, "mining_accepted") == [str(seen["server"]["hash_accepted"])]
    assert seen["server"]["job"] and seen["client"]["submit"]


@pytest.mark.parametrize("name", ["neg-websocket-chat.pcap", "neg-websocket-ci-events.pcap"])
def test_benign_websockets_are_read_and_stay_clean(name: str) -> None:
    path = PCAPS / name
    scan = run_cli("scan", "-f", "jsonl", "-q", str(path))
    assert scan.rc == 0 and scan.events() == []
    flows = [json.loads(x) for x in run_cli("flows", str(path)).out.splitlines()]
    ws = [f["facts"] for f in flows if "websocket" in f["facts"]["app_protos"]]
    assert ws and all(f["websocket"]["text"] > 4 for f in ws)  # the frames were read
    assert all(not f["dialects"] and f["jobs"] == 0 for f in ws)
    if shutil.which("tshark") and name == "neg-websocket-chat.pcap":  # unfragmented: comparable
        seen = _tshark_messages(path, 80)
        assert ws[0]["websocket"]["text"] == sum(seen["client"].values()) + sum(
            seen["server"].values()
        )
