"""Bitcoin P2P messages (a node's peer connection on :8333): the 24-byte header with magic
f9beb4d9, command, length and SHA-256d checksum; version payloads as Bitcoin Core writes them.

A hard negative: node traffic from a host that runs a full node, not a miner.
"""

from __future__ import annotations

import hashlib
import struct


def message(command: str, payload: bytes) -> bytes:
    check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return (
        bytes.fromhex("f9beb4d9")
        + command.encode().ljust(12, b"\x00")
        + struct.pack("<I", len(payload))
        + check
        + payload
    )


def address(ip: str, port: int, services: int) -> bytes:
    return (
        struct.pack("<Q", services)
        + b"\x00" * 10
        + b"\xff\xff"
        + bytes(int(x) for x in ip.split("."))
        + struct.pack(">H", port)
    )


def version(
    ts: int, me: tuple[str, int], peer: tuple[str, int], nonce: bytes, agent: str, height: int
) -> bytes:
    ua = agent.encode()
    return (
        struct.pack("<iQq", 70016, 0x0C09, ts)
        + address(peer[0], peer[1], 0x0C09)
        + address(me[0], me[1], 0x0C09)
        + nonce
        + bytes([len(ua)])
        + ua
        + struct.pack("<i", height)
        + b"\x01"
    )
