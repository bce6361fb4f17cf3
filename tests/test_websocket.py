"""WebSocket after an HTTP Upgrade: the RFC 6455 frame reader, the CoinHive-family
vocabulary, and web miners found end to end through the CLI (and benign WebSockets not).

The frame tests use the byte sequences RFC 6455 §5.7 and RFC 7692 §7.2.3 print, and frames
written here field by field from §5.2 - not the fixture generator's encoder - so a
mistake shared by the generator and the reader cannot hide.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib

import pytest

from detector.dissect.wsframe import (
    MAX_MESSAGE,
    OP_BINARY,
    OP_TEXT,
    FrameReader,
    Message,
    unmask,
)

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
