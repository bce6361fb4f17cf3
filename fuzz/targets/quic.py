"""QUIC Initials (``dissect/quic.py``) and the compiled cryptography under them: the
C helpers ``aes128_block``, ``aes128_gcm_open``, ``quic_client_keys`` and ``quic_key_iv``
against their twins through ``cryptography``/``hmac``, on hostile bytes; and the ``Quic``
dissector, compiled against pure, on a datagram whose Initial really decrypts.

Why sealed inputs: random bytes never pass a GCM tag, so a fuzzer would only ever test the
refusal. Here the input's bytes are sealed with ``cryptography`` (an honest sender), then
the selector may flip one bit of the sealed bytes - the tag check must refuse it in both
twins the same way - and the ClientHello the dissector reads is the fuzzer's, so the hello
parser, the CRYPTO frame reassembly and the facts run on content an attacker chose.

Input: ``u8 selector`` then bytes. Selector bit 0: flip a bit of the sealed GCM text; bit
1: QUIC v2 instead of v1; bits 2-7: the Destination Connection ID's length (0-63: longer
than RFC 9000's 20, which the packet reader must take or refuse without harm). The rest:
the DCID, then the plaintext (the first 16 bytes also the AES block, key and AAD source).
Crash: any exception from the helpers or the dissector (outside ValueError for sizes the
helpers refuse, the same in both twins), or a twin mismatch.
"""

from __future__ import annotations

import hashlib

from fuzz import common

with common.instrumented():
    from detector.compiled import fast
    from detector.dissect import quic
    from detector.facts import FlowFacts
    from detector.plain import dumps
    from detector.synth.quicinit import V1, V2, crypto_frame, initial_packet

CTX = common.dissector_context()


def _twins(name: str, pure, *args):  # noqa: ANN001, ANN002, ANN202
    """The pure twin's result and, with the compiled helpers, the compiled one's, which
    must be equal - or the same refusal: a ValueError for sizes a helper does not take
    counts only if its twin refuses them too."""
    expected = _outcome(pure, *args)
    if common.compiled_available() and fast is not None:
        assert _outcome(getattr(fast, name), *args) == expected, f"{name} differs from its twin"
    return expected


def _outcome(fn, *args):  # noqa: ANN001, ANN002, ANN202
    try:
        return ("ok", fn(*args))
    except ValueError:
        return ("refused", None)


def _py_block(key: bytes, block: bytes) -> bytes:
    """aes128_block's twin: one block through ``cryptography`` (refusing what it refuses)."""
    cipher, aes, ecb, _, _ = quic._aes()
    if len(key) != 16 or len(block) != 16:
        raise ValueError("a 16-byte key and a 16-byte block")
    return cipher(aes(key), ecb).encryptor().update(block)


def _primitives(selector: int, body: bytes) -> None:
    key = hashlib.sha256(b"key" + body[:16]).digest()[:16]
    nonce = hashlib.sha256(b"nonce" + body[:16]).digest()[:12]
    _twins("aes128_block", _py_block, key, (body + bytes(16))[:16])
    _twins("aes128_block", _py_block, key, body[:15])  # a short block: refused by both
    aad, plain = body[:16], body[16:]
    sealed = bytearray(quic._aes()[3](key).encrypt(nonce, plain, aad))
    if selector & 1:
        bit = int.from_bytes(hashlib.sha256(body).digest()[:4], "big") % (len(sealed) * 8)
        sealed[bit // 8] ^= 1 << (bit % 8)
    opened = _twins("aes128_gcm_open", quic.py_gcm_open, key, nonce, bytes(sealed), aad)
    assert opened == ("ok", None if selector & 1 else plain), "GCM opened what it must not"
    if common.compiled_available() and fast is not None:  # shorter than a tag: no plaintext
        assert _outcome(fast.aes128_gcm_open, key, nonce, bytes(sealed[:15]), aad) in (
            ("ok", None),
            ("refused", None),
        ), "aes128_gcm_open took a text shorter than its tag"


def _keys(version: int, dcid: bytes) -> None:
    pure = quic.py_client_keys(dcid, version)
    if common.compiled_available() and fast is not None:
        salt, prefix, _ = quic._VERSIONS[version]
        secret, hp = fast.quic_client_keys(salt, dcid, prefix)
        assert (secret, hp) == (pure.secret, pure.hp), "quic_client_keys differs"
        key_iv = fast.quic_key_iv(secret, prefix)
        assert key_iv == (
            quic.hkdf_expand_label(secret, prefix + b"key", 16),
            quic.hkdf_expand_label(secret, prefix + b"iv", 12),
        ), "quic_key_iv differs"


def _dissect(version: int, dcid: bytes, hello: bytes) -> object:
    """The dissector on an Initial that opens, carrying the fuzzer's bytes as a CRYPTO
    frame holding a ClientHello message (type 1, its length), and a second datagram with
    the rest past a cut: the facts it keeps, as plain data."""
    message = b"\x01" + len(hello).to_bytes(3, "big") + hello
    cut = len(message) // 2
    size = max(1200, len(message) + 200)
    datagrams = [
        initial_packet(crypto_frame(0, message[:cut]), dcid, b"\x01\x02", 0, version, size),
        initial_packet(crypto_frame(cut, message[cut:]), dcid, b"\x01\x02", 1, version, size),
    ]
    facts = FlowFacts()
    dissector = quic.Quic(CTX)
    for data in datagrams:
        common.contained(quic.Quic.probe, data, (50000, 443))
        more, err = common.contained(dissector.on_datagram, 0, data, 1.0, facts)
        if err is not None or not more:
            break
    return dumps(facts)


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    selector, rest = data[0], data[1:]
    version = V2 if selector & 2 else V1
    dcid_len = selector >> 2
    dcid, body = rest[:dcid_len], rest[dcid_len:]
    _primitives(selector, body)
    _keys(version, dcid)
    if len(dcid) > 20 or len(body) > 4000:
        return  # no Initial carries more (RFC 9000 §17.2); the packet reader is fuzzed above
    quic._KEY_CACHE.clear()
    compiled = _dissect(version, dcid, body)
    with common.pure():
        quic._KEY_CACHE.clear()
        pure = _dissect(version, dcid, body)
    quic._KEY_CACHE.clear()
    assert compiled == pure, "Quic facts differ between compiled and pure"


if __name__ == "__main__":
    common.main(TestOneInput)
