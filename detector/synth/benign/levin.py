"""Monero's P2P protocol: Levin frames (signature 0x0101010101012101) carrying epee
portable-storage payloads (handshake 1001, timed sync 1002, support flags 1007, tx 2002).

A hard negative: a monerod node's peer link on :18080, not mining.
"""

from __future__ import annotations

import struct

from detector.synth.chain import HexStream

SIGNATURE = struct.pack("<Q", 0x0101010101012101)


def frame(command: int, payload: bytes, request: bool, expect_reply: bool) -> bytes:
    return (
        SIGNATURE
        + struct.pack(
            "<QBIiII", len(payload), int(expect_reply), command, 0, 1 if request else 2, 1
        )
        + payload
    )


def ps_varint(n: int) -> bytes:
    if n < 64:
        return bytes([n << 2])
    if n < 16384:
        return struct.pack("<H", (n << 2) | 1)
    return struct.pack("<I", (n << 2) | 2)


def ps_section(fields: list[tuple[str, int, bytes]]) -> bytes:
    out = ps_varint(len(fields))
    for name, typ, val in fields:
        out += bytes([len(name)]) + name.encode() + bytes([typ]) + val
    return out


def ps(fields: list[tuple[str, int, bytes]]) -> bytes:
    """epee portable storage: signatures, version, then the root section."""
    return struct.pack("<IIB", 0x01011101, 0x01020101, 1) + ps_section(fields)


def node_data(h: HexStream, port: int) -> bytes:
    return ps_section(
        [
            ("my_port", 6, struct.pack("<I", port)),
            ("network_id", 10, ps_varint(16) + bytes.fromhex("1230f171610441611731008216a1a110")),
            ("peer_id", 5, h.bytes(8)),
            ("support_flags", 6, struct.pack("<I", 1)),
        ]
    )


def sync_data(h: HexStream, height: int) -> bytes:
    return ps_section(
        [
            ("cumulative_difficulty", 5, struct.pack("<Q", 0x6A3B2C1D0E0F1011)),
            ("current_height", 5, struct.pack("<Q", height)),
            ("pruning_seed", 6, struct.pack("<I", 0)),
            ("top_id", 10, ps_varint(32) + h.bytes(32)),
            ("top_version", 8, b"\x10"),
        ]
    )
