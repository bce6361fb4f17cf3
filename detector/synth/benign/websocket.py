"""WebSocket frames (RFC 6455): masked from the client, unmasked from the server.

A hard negative: a browser chat that pushes JSON both ways over one connection. The same
frames carry the in-page miners' messages (:mod:`detector.synth.dialects.webminer`).
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

#: RFC 6455 §1.3: the GUID the server appends to the client's key for Sec-WebSocket-Accept.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(
    payload: bytes,
    mask: bytes | None,
    opcode: int = 1,
    *,
    fin: bool = True,
    rsv1: bool = False,
) -> bytes:
    """One frame (RFC 6455 §5.2): 7-, 16- or 64-bit length as the payload needs; masked
    with ``mask`` (the client's), RSV1 for a permessage-deflate message's first frame."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def accept_key(key: str) -> str:
    """The server's Sec-WebSocket-Accept for the client's Sec-WebSocket-Key (§4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


class Deflater:
    """One direction's permessage-deflate compressor (RFC 7692 §7.2.1): raw DEFLATE with
    the LZ77 window kept across messages (no ``*_no_context_takeover``), each message
    sync-flushed and its trailing ``00 00 ff ff`` removed."""

    def __init__(self, level: int = 6) -> None:
        self._c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)

    def message(self, data: bytes) -> bytes:
        out = self._c.compress(data) + self._c.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4]
