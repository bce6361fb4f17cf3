"""QUIC client Initial packets that really decrypt: a ClientHello in CRYPTO frames,
protected as RFC 9001 §5 says (QUIC v1) or RFC 9369 (v2).

Why here: the bench's QUIC (mix/quic.py) carries random bytes, which is all a flow meter
needs; the QUIC dissector needs Initials that open, in the shapes real clients send them -
a ClientHello larger than one packet (post-quantum key shares), CRYPTO frames split and
sent out of order with PING and PADDING between them (Chrome's "chaos protection"), and a
datagram padded to 1200 bytes. The keys come from the Destination Connection ID as any
observer derives them; the detector's own code is not used to build them (the RFC's test
vectors tie the two together in tests/test_quic.py).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence

V1 = 0x00000001
V2 = 0x6B3343CF
_SALT = {
    V1: bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),
    V2: bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),
}
_LABEL = {V1: b"quic ", V2: b"quicv2 "}
_INITIAL_TYPE = {V1: 0, V2: 1}


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return hmac.digest(secret, info + b"\x01", hashlib.sha256)[:length]


def _varint(n: int) -> bytes:
    if n < 0x40:
        return bytes([n])
    if n < 0x4000:
        return struct.pack(">H", 0x4000 | n)
    return struct.pack(">I", 0x80000000 | n)


def crypto_frame(offset: int, data: bytes) -> bytes:
    return b"\x06" + _varint(offset) + _varint(len(data)) + data


def initial_packet(
    frames: bytes, dcid: bytes, scid: bytes, pn: int, version: int = V1, size: int = 1200
) -> bytes:
    """One protected client Initial carrying ``frames``, PADDING to fill ``size`` bytes
    (the datagram minimum, RFC 9000 §14.1); a 2-byte packet number."""
    secret = _expand_label(hmac.digest(_SALT[version], dcid, hashlib.sha256), b"client in", 32)
    key = _expand_label(secret, _LABEL[version] + b"key", 16)
    iv = _expand_label(secret, _LABEL[version] + b"iv", 12)
    hp = _expand_label(secret, _LABEL[version] + b"hp", 16)
    pn_len = 2
    head = (
        bytes([0xC0 | (_INITIAL_TYPE[version] << 4) | (pn_len - 1)])
        + struct.pack(">I", version)
        + bytes([len(dcid)])
        + dcid
        + bytes([len(scid)])
        + scid
        + b"\x00"  # no token
    )
    fixed = len(head) + 2 + pn_len + 16  # + 2-byte Length, packet number, AEAD tag
    payload = frames + bytes(max(0, size - fixed - len(frames)))
    length = pn_len + len(payload) + 16
    head += struct.pack(">H", 0x4000 | length)
    pn_bytes = pn.to_bytes(pn_len, "big")
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(key).encrypt(nonce, payload, head + pn_bytes)
    sample = sealed[4 - pn_len : 4 - pn_len + 16]
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = encryptor.update(sample) + encryptor.finalize()
    first = bytes([head[0] ^ (mask[0] & 0x0F)])
    protected_pn = bytes(b ^ m for b, m in zip(pn_bytes, mask[1 : 1 + pn_len], strict=True))
    return first + head[1:] + protected_pn + sealed


def chaos_initials(
    hello: bytes,
    dcid: bytes,
    scid: bytes,
    cuts: Sequence[int],
    packets: Sequence[Sequence[int]],
    version: int = V1,
) -> list[bytes]:
    """A ClientHello handshake message cut at ``cuts`` into CRYPTO frames, put into
    Initial packets as ``packets`` says (frame indices per packet, any order), with a PING
    and PADDING before each frame as Chrome sends them; packet numbers from 0."""
    bounds = [0, *cuts, len(hello)]
    pieces = [(bounds[i], hello[bounds[i] : bounds[i + 1]]) for i in range(len(bounds) - 1)]
    out = []
    for pn, indices in enumerate(packets):
        frames = b"".join(b"\x01\x00\x00" + crypto_frame(*pieces[i]) for i in indices)
        out.append(initial_packet(frames, dcid, scid, pn, version))
    return out
