"""QUIC Initial packets: decrypt them, reassemble the CRYPTO stream, read the ClientHello.

A QUIC client's first flight is protected with keys anyone can derive from the packet
itself (RFC 9001 §5.2): HKDF-Extract of the Destination Connection ID with a salt fixed
per version, then HKDF-Expand-Label to the client's key, IV and header-protection key.
With them the header protection is removed (§5.4: AES-ECB of a 16-byte sample masks the
first byte's low bits and the packet number) and the payload opened (AES-128-GCM, the
packet number XORed into the IV, the header as associated data). QUIC v1 (RFC 9000) and
QUIC v2 (RFC 9369: its own salt, "quicv2 " labels and long-header type bits) are read;
drafts and reserved versions are not (triage.py never lets them through).

The ClientHello travels in CRYPTO frames (offset, data) inside one or more Initial
packets, which may be spread over several datagrams, coalesced with other packets, and -
Chrome scrambles them on purpose - out of order, interleaved with PING and PADDING. The
frames are kept by offset until the bytes from 0 hold the whole handshake message, which
the project's own hello parser (tls/hello.py) reads. The facts are the ones TCP TLS gives
(SNI, ALPN, JA3, JA4 - with JA4's transport letter ``q``), in ``FlowFacts.tls`` with
``transport: quic``; the flow's ``app_protos`` says ``quic``. JA3 is what tshark computes
for a QUIC hello: the same string as over TCP (its quic_transport_parameters extension
included). Once the hello is read the flow leaves inspection: nothing after the Initials
can be read without the session's keys.

The keys and AES primitives are the compiled helpers' (``quic_client_keys``,
``quic_key_iv``, ``aes128_block``, ``aes128_gcm_open`` in detector/csrc/quic.c). Their twins,
used without the extension (or with MINEWATCH_PURE=1), are hmac/hashlib's HKDF here and
``cryptography``'s AES, imported on first use (a scan with the extension, or without QUIC,
never loads it). tests/test_quic.py compares the two.
"""

from __future__ import annotations

import struct
from typing import ClassVar, Final

from detector.compiled import fast
from detector.dissect.base import DatagramDissector, InspectContext
from detector.dissect.tls.flow import client_hello_facts
from detector.dissect.tls.hello import ClientHello, parse_client_hello
from detector.facts import FlowFacts

VERSION_1: Final = 0x00000001
VERSION_2: Final = 0x6B3343CF
# (salt, label prefix, long-header type bits of an Initial packet) per version.
_VERSIONS: Final = {
    VERSION_1: (bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), b"quic ", 0),
    VERSION_2: (bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"), b"quicv2 ", 1),
}
VERSION_NAMES: Final = {VERSION_1: "1", VERSION_2: "2"}
MAX_CRYPTO = 64 * 1024  # CRYPTO bytes kept per flow: a ClientHello is a few KB at most
MAX_FAILURES = 2  # client Initials that would not open before the flow is given up
_KEY_CACHE: dict[tuple[int, bytes], Keys] = {}


# --- keys (RFC 9001 §5.2, RFC 9369 §3.3) -------------------------------------------------


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    # hmac and hashlib on first use, not at import (they load OpenSSL: see
    # tls.fingerprint._hash12); keys are cached per DCID, so this runs rarely
    import hashlib
    import hmac

    return hmac.digest(salt, ikm, hashlib.sha256)


def hkdf_expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    """TLS 1.3's HKDF-Expand-Label with an empty context (RFC 8446 §7.1); one block of
    HKDF-Expand is enough for every length used here (<= 32)."""
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    import hashlib  # see hkdf_extract
    import hmac

    return hmac.digest(secret, info + b"\x01", hashlib.sha256)[:length]


def initial_secrets(dcid: bytes, version: int = VERSION_1) -> tuple[bytes, bytes]:
    """(client_initial_secret, server_initial_secret) for a client's first Destination
    Connection ID."""
    salt = _VERSIONS[version][0]
    initial = hkdf_extract(salt, dcid)
    return (
        hkdf_expand_label(initial, b"client in", 32),
        hkdf_expand_label(initial, b"server in", 32),
    )


def packet_keys(secret: bytes, version: int = VERSION_1) -> tuple[bytes, bytes, bytes]:
    """(key, iv, hp) of AES-128-GCM packet protection from a traffic secret."""
    prefix = _VERSIONS[version][1]
    return (
        hkdf_expand_label(secret, prefix + b"key", 16),
        hkdf_expand_label(secret, prefix + b"iv", 12),
        hkdf_expand_label(secret, prefix + b"hp", 16),
    )


class Keys:
    """The packet-protection keys of one traffic secret (RFC 9001 §5.1): the
    header-protection key at once, the AEAD key and IV only when a packet's header
    unprotects plausibly (most packets that merely look like Initials never need them)."""

    __slots__ = ("secret", "version", "hp", "_key_iv")

    def __init__(
        self,
        secret: bytes,
        version: int = VERSION_1,
        hp: bytes | None = None,
        key_iv: tuple[bytes, bytes] | None = None,
    ) -> None:
        """``hp`` and ``key_iv``: the keys when already derived (quic_client_keys)."""
        self.secret = secret
        self.version = version
        self.hp = (
            hp if hp is not None else hkdf_expand_label(secret, _VERSIONS[version][1] + b"hp", 16)
        )
        self._key_iv: tuple[bytes, bytes] | None = key_iv

    def key_iv(self) -> tuple[bytes, bytes]:
        if self._key_iv is None:
            prefix = _VERSIONS[self.version][1]
            if fast is not None:  # twin: the two labels below
                self._key_iv = fast.quic_key_iv(self.secret, prefix)
            else:
                self._key_iv = (
                    hkdf_expand_label(self.secret, prefix + b"key", 16),
                    hkdf_expand_label(self.secret, prefix + b"iv", 12),
                )
        return self._key_iv


def client_keys(dcid: bytes, version: int) -> Keys:
    """The client Initial keys for ``dcid`` (cached: a flow's Initials share them)."""
    found = _KEY_CACHE.get((version, dcid))
    if found is None:
        if len(_KEY_CACHE) >= 1024:
            _KEY_CACHE.clear()
        if fast is not None:  # the HMACs in one compiled call (twin: py_client_keys)
            salt, prefix, _ = _VERSIONS[version]
            secret, hp = fast.quic_client_keys(salt, dcid, prefix)
            found = Keys(secret, version, hp)
        else:
            found = py_client_keys(dcid, version)
        _KEY_CACHE[(version, dcid)] = found
    return found


def py_client_keys(dcid: bytes, version: int) -> Keys:
    """The client Initial keys for ``dcid`` through hmac (the compiled helper's twin)."""
    initial = hkdf_extract(_VERSIONS[version][0], dcid)
    return Keys(hkdf_expand_label(initial, b"client in", 32), version)


# --- packets ------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of a QUIC variable-length integer; IndexError past the end."""
    first = data[pos]
    size = 1 << (first >> 6)
    if pos + size > len(data):
        raise IndexError("varint past the end")
    value = first & 0x3F
    for i in range(1, size):
        value = (value << 8) | data[pos + i]
    return value, pos + size


def initial_version(data: bytes) -> int | None:
    """The version of the long-header Initial packet that starts ``data`` (v1 or v2), or
    None: the test triage.py makes with numpy, for one datagram."""
    if len(data) < 7 or data[0] & 0xC0 != 0xC0:
        return None
    version = int.from_bytes(data[1:5], "big")
    known = _VERSIONS.get(version)
    if known is None or (data[0] >> 4) & 3 != known[2]:
        return None
    return version


class _Packet:
    """One long-header packet of a datagram, its header read up to the packet number."""

    __slots__ = ("start", "version", "initial", "dcid", "pn_offset", "end")

    def __init__(self, data: bytes, start: int) -> None:
        first = data[start]
        if first & 0x80 == 0:
            raise ValueError("short header")
        self.start = start
        self.version = int.from_bytes(data[start + 1 : start + 5], "big")
        pos = start + 5
        dcid_len = data[pos]
        self.dcid = data[pos + 1 : pos + 1 + dcid_len]
        pos += 1 + dcid_len
        pos += 1 + data[pos]  # source connection id
        known = _VERSIONS.get(self.version)
        self.initial = known is not None and (first >> 4) & 3 == known[2]
        if self.version == 0 or known is None:
            raise ValueError("version negotiation or unknown version")
        kind = ((first >> 4) & 3) ^ known[2]  # 0 Initial, 1 0-RTT, 2 Handshake, 3 Retry
        if kind == 3:
            raise ValueError("retry")
        if kind == 0:
            token_len, pos = _varint(data, pos)
            pos += token_len
        length, pos = _varint(data, pos)
        if dcid_len > 20 or pos + length > len(data) or length < 20:
            raise ValueError("bad lengths")
        self.pn_offset = pos
        self.end = pos + length


_AES: tuple | None = None  # (Cipher, AES, ECB(), AESGCM, InvalidTag), imported on first use


def _aes() -> tuple:
    global _AES
    if _AES is None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        _AES = (Cipher, algorithms.AES, modes.ECB(), AESGCM, InvalidTag)
    return _AES


def header_mask(hp: bytes, sample: bytes) -> bytes:
    """The 5-byte header-protection mask: AES-ECB of one 16-byte sample (RFC 9001 §5.4.3)."""
    if fast is not None:
        return fast.aes128_block(hp, sample)[:5]
    return py_header_mask(hp, sample)


def py_header_mask(hp: bytes, sample: bytes) -> bytes:
    """:func:`header_mask` through ``cryptography`` (the compiled helper's twin)."""
    cipher, aes, ecb, _, _ = _aes()
    return cipher(aes(hp), ecb).encryptor().update(sample)[:5]


def gcm_open(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes | None:
    """AES-128-GCM: the plaintext of ``data`` (ciphertext and its 16-byte tag), or None
    when the tag does not match."""
    if fast is not None:
        return fast.aes128_gcm_open(key, nonce, data, aad)
    return py_gcm_open(key, nonce, data, aad)


def py_gcm_open(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes | None:
    """:func:`gcm_open` through ``cryptography`` (the compiled helper's twin)."""
    _, _, _, aesgcm, invalid_tag = _aes()
    try:
        return aesgcm(key).decrypt(nonce, data, aad)
    except invalid_tag:
        return None


def open_initial(data: bytes, packet: _Packet, keys: Keys) -> bytes | None:
    """The decrypted payload of an Initial packet, or None if these keys do not open it
    (RFC 9001 §5.3, §5.4)."""
    pn_offset = packet.pn_offset
    sample = data[pn_offset + 4 : pn_offset + 20]
    if len(sample) < 16:
        return None
    mask = header_mask(keys.hp, sample)
    first = data[packet.start] ^ (mask[0] & 0x0F)
    pn_len = (first & 0x03) + 1
    pn_bytes = bytes(b ^ m for b, m in zip(data[pn_offset : pn_offset + pn_len], mask[1:]))  # noqa: B905
    pn = int.from_bytes(pn_bytes, "big")
    if first & 0x0C:
        # Unprotected, the reserved bits are 0 (RFC 9000 §17.2): with wrong keys (or a
        # packet that only looks like an Initial) 3 in 4 fail here, before the key and IV
        # are even derived. (Packet numbers give no such test: clients may start high.)
        return None
    header = bytes([first]) + data[packet.start + 1 : pn_offset] + pn_bytes
    key, iv = keys.key_iv()
    nonce = (int.from_bytes(iv, "big") ^ pn).to_bytes(12, "big")
    return gcm_open(key, nonce, data[pn_offset + pn_len : packet.end], header)


def crypto_frames(payload: bytes) -> list[tuple[int, bytes]]:
    """The CRYPTO frames (offset, data) of a decrypted Initial payload. Reading stops at
    a frame type an Initial packet may not carry (RFC 9000 §12.4) or a frame cut short."""
    out: list[tuple[int, bytes]] = []
    pos, end = 0, len(payload)
    try:
        while pos < end:
            kind = payload[pos]
            pos += 1
            if kind == 0x00:  # PADDING: its run skipped at once (Initials are padded to
                # 1,200 bytes: byte by byte, a third of a QUIC flow's bytecodes)
                pos = end - len(payload[pos:].lstrip(b"\x00"))
                continue
            if kind == 0x01:  # PING
                continue
            if kind in (0x02, 0x03):  # ACK, ACK with ECN counts
                _, pos = _varint(payload, pos)  # largest acknowledged
                _, pos = _varint(payload, pos)  # ack delay
                ranges, pos = _varint(payload, pos)
                _, pos = _varint(payload, pos)  # first range
                for _ in range(2 * ranges + (3 if kind == 0x03 else 0)):
                    _, pos = _varint(payload, pos)
            elif kind == 0x06:  # CRYPTO
                offset, pos = _varint(payload, pos)
                length, pos = _varint(payload, pos)
                if pos + length > end:
                    break
                out.append((offset, payload[pos : pos + length]))
                pos += length
            else:  # CONNECTION_CLOSE or anything an Initial cannot hold: stop here
                break
    except IndexError:
        pass
    return out


class CryptoStream:
    """CRYPTO frame data by offset, until the bytes from 0 hold one handshake message."""

    __slots__ = ("pieces", "size")

    def __init__(self) -> None:
        self.pieces: dict[int, bytes] = {}
        self.size = 0

    def add(self, offset: int, data: bytes) -> None:
        if offset + len(data) > MAX_CRYPTO or not data:
            return
        known = self.pieces.get(offset)
        if known is None or len(known) < len(data):
            self.size += len(data) - (len(known) if known else 0)
            self.pieces[offset] = data

    def contiguous(self) -> bytes:
        """The bytes from offset 0 on, as far as they have no hole."""
        out = bytearray()
        for offset in sorted(self.pieces):
            if offset > len(out):
                break
            piece = self.pieces[offset]
            if offset + len(piece) > len(out):
                out += piece[len(out) - offset :]
        return bytes(out)

    def message(self) -> bytes | None:
        """The first handshake message (type, length, body) once whole, else None."""
        data = self.contiguous()
        if len(data) < 4:
            return None
        length = int.from_bytes(data[1:4], "big")
        return data[: 4 + length] if len(data) >= 4 + length else None


class Quic(DatagramDissector):
    """The ClientHello of a QUIC v1/v2 connection, from its client's Initial packets."""

    name: ClassVar[str] = "quic"

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.client: int | None = None  # the side that sent the first Initial
        self.keys: Keys | None = None  # the keys that opened a packet
        self.crypto = CryptoStream()
        self.failures = 0
        self.version: int | None = None

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int]) -> bool:
        return initial_version(data) is not None

    def on_datagram(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        if self.client is None:
            self.client = side
        if side != self.client:
            return True  # the server's Initials: other keys, and nothing to learn there
        opened = False
        pos = 0
        while pos < len(data) and data[pos] & 0x80:
            try:
                packet = _Packet(data, pos)
            except (ValueError, IndexError):
                break
            pos = packet.end
            if not packet.initial:
                continue
            payload = self._open(data, packet)
            if payload is None:
                continue
            opened = True
            for offset, chunk in crypto_frames(payload):
                self.crypto.add(offset, chunk)
        if not opened:
            self.failures += 1
            return self.failures < MAX_FAILURES and self.keys is not None
        message = self.crypto.message()
        if message is None:
            return True
        if message[0] == 1:
            hello = parse_client_hello(message[4:], 0)
            if hello is not None:
                self._facts(side, hello, facts)
        return False

    def _open(self, data: bytes, packet: _Packet) -> bytes | None:
        """Open a client Initial: with the keys of its own Destination Connection ID (a
        first flight, or the flight after a Retry), else with the keys that opened an
        earlier one (a client that took the server's connection ID keeps its keys)."""
        keys = client_keys(packet.dcid, packet.version)
        payload = open_initial(data, packet, keys)
        if payload is None and self.keys is not None and self.keys != keys:
            keys = self.keys
            payload = open_initial(data, packet, keys)
        if payload is not None:
            self.keys = keys
            self.version = packet.version
        return payload

    def _facts(self, side: int, hello: ClientHello, facts: FlowFacts) -> None:
        facts.app_protos.add("quic")
        facts.sides[side].client_votes += 2
        client_hello_facts(facts, hello)
        facts.tls["ja4"] = "q" + facts.tls["ja4"][1:]  # JA4's transport letter
        facts.tls["transport"] = "quic"
        facts.tls["quic_version"] = VERSION_NAMES.get(self.version or 0, "?")
