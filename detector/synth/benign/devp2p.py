"""Ethereum devp2p: discv4 packets (keccak hash, signature, type, RLP) of node discovery.

A hard negative: a geth node's UDP discovery and RLPx session, not mining.
"""

from __future__ import annotations

from detector.synth.chain import HexStream, keccak256


def rlp(x: object) -> bytes:
    """Minimal RLP encoder (bytes, ints, lists) for the discv4 packets."""
    if isinstance(x, int):
        x = x.to_bytes((x.bit_length() + 7) // 8, "big") if x else b""
    if isinstance(x, bytes):
        if len(x) == 1 and x[0] < 0x80:
            return x
        return rlp_length(len(x), 0x80) + x
    assert isinstance(x, list)
    body = b"".join(rlp(i) for i in x)
    return rlp_length(len(body), 0xC0) + body


def rlp_length(n: int, off: int) -> bytes:
    if n < 56:
        return bytes([off + n])
    nb = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([off + 55 + len(nb)]) + nb


def discv4(h: HexStream, ptype: int, data: list[object]) -> bytes:
    sig_type_data = h.bytes(65) + bytes([ptype]) + rlp(data)
    return keccak256(sig_type_data) + sig_type_data
