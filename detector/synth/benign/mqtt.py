"""MQTT 3.1.1 control packets (fixed header with the variable-length remaining length).

A hard negative: an IoT sensor publishing JSON telemetry on a long-lived connection.
"""

from __future__ import annotations

import struct


def string(s: str) -> bytes:
    return struct.pack(">H", len(s)) + s.encode()


def packet(ptype: int, body: bytes) -> bytes:
    n = len(body)
    rem = bytearray()
    while True:
        d = n % 128
        n //= 128
        rem.append(d | (0x80 if n else 0))
        if not n:
            break
    return bytes([ptype]) + bytes(rem) + body
