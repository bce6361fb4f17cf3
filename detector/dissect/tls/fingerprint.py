"""Fingerprints of a parsed hello: JA3, JA3S, and JA4 with its variants (_r, _o, _ro).

Its own module because these are published formats rather than parsing: each function
turns a hello.ClientHello or hello.ServerHello into the exact string the JA3
(Salesforce) or JA4 (FoxIO) spec defines, so that values can be compared with other
tools and with published lists. GREASE is dropped everywhere. Pure functions; the cache
in front of them (keyed by ``hello.hello_key``) belongs to their caller, flow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from detector.dissect.tls.hello import (
    EXT_ALPN,
    EXT_SERVER_NAME,
    ClientHello,
    ServerHello,
    _no_grease,
)

__all__ = [
    "ja3",
    "ja3_string",
    "ja3s",
    "ja3s_string",
    "ja4",
    "ja4_o",
    "ja4_r",
    "ja4_ro",
]


def _dash(values: Iterable[int]) -> str:
    return "-".join(map(str, values))  # (no generator: a function call a value)


def ja3_string(ch: ClientHello) -> str:
    """``SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats``.

    Decimal, '-'-joined, GREASE removed, wire order; the version is the ClientHello's
    legacy version (771 for TLS 1.2 and 1.3), as Salesforce's JA3 and tshark use it.
    """
    return ",".join(
        (
            str(ch.handshake_version),
            _dash(_no_grease(ch.ciphers)),
            _dash(_no_grease(ch.extensions)),
            _dash(_no_grease(ch.supported_groups)),
            _dash(ch.ec_point_formats),
        )
    )


def ja3(ch: ClientHello) -> str:
    """JA3: MD5 (hex) of :func:`ja3_string`. MD5 as the published fingerprint defines it."""
    import hashlib  # here, not at the top: see _hash12

    return hashlib.md5(ja3_string(ch).encode("ascii"), usedforsecurity=False).hexdigest()


def ja3s_string(sh: ServerHello) -> str:
    """``SSLVersion,Cipher,Extensions`` of a ServerHello (legacy version, GREASE removed)."""
    return f"{sh.handshake_version},{sh.cipher},{_dash(_no_grease(sh.extensions))}"


def ja3s(sh: ServerHello) -> str:
    """JA3S: MD5 (hex) of :func:`ja3s_string`."""
    import hashlib  # here, not at the top: see _hash12

    return hashlib.md5(ja3s_string(sh).encode("ascii"), usedforsecurity=False).hexdigest()


_JA4_VERSIONS: Final = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
_ALNUM: Final = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _ja4_alpn(ch: ClientHello) -> str:
    """First and last character of the first ALPN value, per the JA4 spec.

    "00" without a (non-empty) first value; if its first or last byte is not ASCII
    alphanumeric, the first and last characters of its hex form instead.
    """
    if not ch.alpn or not ch.alpn[0]:
        return "00"
    value = ch.alpn[0]
    if value[0] in _ALNUM and value[-1] in _ALNUM:
        return chr(value[0]) + chr(value[-1])
    hexed = value.hex()
    return hexed[0] + hexed[-1]


def _hash12(text: str) -> str:
    """First 12 hex digits of SHA-256; ``000000000000`` for an empty list (spec)."""
    if not text:
        return "000000000000"
    # Imported on the first fingerprint, not with the module: hashlib loads OpenSSL
    # (~13 M instructions, callgrind), which a scan without TLS never needs; afterwards
    # the import is a sys.modules look-up.
    import hashlib

    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _ja4_parts(ch: ClientHello, transport: str, original: bool) -> tuple[str, str, str]:
    """(JA4_a, cipher list, extension list [+ '_' + signature algorithms])."""
    if transport not in ("t", "q", "d"):
        raise ValueError(f"JA4 transport must be 't', 'q' or 'd', not {transport!r}")
    ciphers = _no_grease(ch.ciphers)
    exts = _no_grease(ch.extensions)
    sigalgs = _no_grease(ch.signature_algorithms)
    a = (
        f"{transport}{_JA4_VERSIONS.get(ch.max_version, '00')}"
        f"{'d' if ch.has_sni_extension else 'i'}"
        f"{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{_ja4_alpn(ch)}"
    )
    if not original:
        ciphers = sorted(ciphers)
        exts = sorted(e for e in exts if e not in (EXT_SERVER_NAME, EXT_ALPN))
    cipher_list = ",".join(f"{c:04x}" for c in ciphers)
    ext_list = ",".join(f"{e:04x}" for e in exts)
    if sigalgs:
        ext_list += "_" + ",".join(f"{s:04x}" for s in sigalgs)
    return a, cipher_list, ext_list


def ja4(ch: ClientHello, transport: str = "t") -> str:
    """JA4 (FoxIO, BSD-3-Clause spec): ``a_b_c`` with sorted cipher and extension lists.

    ``transport`` is 't' (TCP), 'q' (QUIC) or 'd' (DTLS). The version is the highest
    non-GREASE supported_versions entry, else the ClientHello's legacy version; SNI and
    ALPN are left out of the extension hash but counted; signature algorithms follow in
    wire order; GREASE is dropped everywhere.
    """
    a, b, c = _ja4_parts(ch, transport, original=False)
    return f"{a}_{_hash12(b)}_{_hash12(c)}"


def ja4_r(ch: ClientHello, transport: str = "t") -> str:
    """JA4_r: :func:`ja4` with the sorted lists shown instead of hashed."""
    a, b, c = _ja4_parts(ch, transport, original=False)
    return f"{a}_{b}_{c}"


def ja4_o(ch: ClientHello, transport: str = "t") -> str:
    """JA4_o: hashed, lists in wire order, SNI and ALPN kept (GREASE still dropped)."""
    a, b, c = _ja4_parts(ch, transport, original=True)
    return f"{a}_{_hash12(b)}_{_hash12(c)}"


def ja4_ro(ch: ClientHello, transport: str = "t") -> str:
    """JA4_ro: raw lists in wire order, SNI and ALPN kept."""
    a, b, c = _ja4_parts(ch, transport, original=True)
    return f"{a}_{b}_{c}"
