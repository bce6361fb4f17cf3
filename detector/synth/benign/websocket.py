"""WebSocket frames (RFC 6455): masked from the client, unmasked from the server.

A hard negative: a browser chat that pushes JSON both ways over one connection.
"""

from __future__ import annotations

import struct


def frame(payload: bytes, mask: bytes | None, opcode: int = 1) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([mbit | n])
    else:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
