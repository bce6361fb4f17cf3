"""Certificates: who a TLS <= 1.2 server says it is, read from its Certificate message.

Its own module because reading a certificate is a job apart from the rest of TLS: a DER
walk rather than TLS's length-prefixed vectors, with names and times rendered the way
``openssl x509 -nameopt RFC2253`` prints them so an analyst can compare. Only the leaf's
names and validity are read, and no signature is checked: a self-issued leaf (subject
equals issuer) marks a private endpoint, which is what later stages want to know.

Holds :class:`Certificate`, :func:`parse_certificate` (a Certificate handshake body, leaf
only, readings remembered by the body), :func:`parse_x509` (one DER
certificate) and the DER, OID, name and time helpers behind them. The message's TLS
framing is read with hello's bounded reader; nothing is recursive and every length is
checked against its parent, so hostile DER costs at most one pass over its bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from detector.dissect.tls.hello import _Reader, _Truncated

__all__ = ["Certificate", "parse_certificate", "parse_x509"]


@dataclass(frozen=True, slots=True)
class Certificate:
    """The leaf of a Certificate message (visible only in TLS <= 1.2).

    Names are RFC 4514-like strings (most specific RDN first, OpenSSL attribute names,
    unknown attribute types as ``OID=#hex``). ``self_signed`` means *self-issued*
    (subject equals issuer); no signature is checked. A self-issued leaf never comes from
    a public CA, so it marks a private endpoint.
    """

    subject: str
    issuer: str
    subject_cn: str | None
    subject_o: str | None
    issuer_cn: str | None
    issuer_o: str | None
    self_signed: bool
    not_before: str | None  # ISO 8601 UTC, e.g. "2018-02-22T00:00:00Z"
    not_after: str | None
    chain_length: int  # certificates in the message, leaf included
    leaf_der_len: int


# Certificate body -> its reading, bounded by count and by the bodies' bytes (a flood of
# distinct 16 KB chains empties it sooner instead of holding 16 MB). Found by the body's
# length and first bytes (_SHORT_KEY_BYTES), each entry holding the body it was read from.
_CERTIFICATES: dict[tuple[int, bytes], tuple[bytes, Certificate | None]] = {}
_CERTIFICATES_KEPT: Final = 1024
_CERTIFICATE_BYTES_KEPT: Final = 4 << 20
_certificate_bytes = 0  # of the bodies _CERTIFICATES holds
# A body's first bytes hold its leaf certificate's header and serial number (the list's
# and the leaf's lengths, 6 bytes, then the DER: ~15 bytes of header and version before
# a serial of up to 20): distinct leaves differ in them.
_SHORT_KEY_BYTES: Final = 64


def parse_certificate(body: bytes) -> Certificate | None:
    """Parse a TLS <= 1.2 Certificate handshake body; names come from the leaf only.

    ``None`` for an empty list (a client without a certificate) or an unreadable leaf.
    Remembered by the body itself: a server sends every client the same chain, and the
    DER walk costs some 50 us. The body is looked up by its length and first 64 bytes,
    then compared whole with the body the entry was read from (a memcmp): hashing the
    whole body as the key (SipHash, ~2-3 instructions a byte) was ~30 M instructions of
    the real-traffic bench input's 3,400 chains, 11 MB (callgrind). Bodies alike in
    those bytes but not equal only take each other's place. Certificate is immutable.
    """
    global _certificate_bytes
    key = body if type(body) is bytes else bytes(body)
    short = (len(key), key[:_SHORT_KEY_BYTES])
    found = _CERTIFICATES.get(short)
    if found is not None:
        if found[0] == key:
            return found[1]
        _certificate_bytes -= len(found[0])  # (its place is taken below)
        del _CERTIFICATES[short]
    if (
        len(_CERTIFICATES) >= _CERTIFICATES_KEPT
        or _certificate_bytes + len(key) > _CERTIFICATE_BYTES_KEPT
    ):
        _CERTIFICATES.clear()
        _certificate_bytes = 0
    cert = _read_certificate(key)
    _CERTIFICATES[short] = (key, cert)
    _certificate_bytes += len(key)
    return cert


def _read_certificate(body: bytes) -> Certificate | None:
    try:
        certs = _Reader(bytes(body)).vector(3)
        leaf: bytes | None = None
        count = 0
        while certs.remaining():
            cert = certs.vector(3)
            if leaf is None:
                leaf = cert.take(cert.remaining())
            count += 1
    except _Truncated:
        return None
    if leaf is None:
        return None
    return parse_x509(leaf, chain_length=count)


# --- X.509: a minimal DER walk to the names and validity --------------------------------

_DER_SEQUENCE: Final = 0x30
_DER_SET: Final = 0x31
_DER_OID: Final = 0x06
_DER_INTEGER: Final = 0x02
_DER_UTCTIME: Final = 0x17
_DER_GENTIME: Final = 0x18
_DER_VERSION_TAG: Final = 0xA0
_MAX_RDNS: Final = 64
_MAX_ATTRS_PER_RDN: Final = 16
_MAX_OID_LEN: Final = 64  # real attribute OIDs are < 20 bytes; bounds big-int work

# OpenSSL's short names (what `openssl x509 -nameopt RFC2253` prints), so an analyst can
# compare; RFC 4514 itself names only CN, L, ST, O, OU, C, STREET, DC and UID.
_OID_NAMES: Final = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.15": "businessCategory",
    "2.5.4.17": "postalCode",
    "2.5.4.41": "name",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.97": "organizationIdentifier",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}

# ASN.1 string types -> Python codec. T61String is treated as Latin-1, as OpenSSL does.
_STRING_CODECS: Final = {
    0x0C: "utf-8",  # UTF8String
    0x12: "latin-1",  # NumericString
    0x13: "latin-1",  # PrintableString
    0x14: "latin-1",  # T61String
    0x16: "latin-1",  # IA5String
    0x1A: "latin-1",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


def _der(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """One DER TLV at ``pos``: (tag, value start, value end), all within ``end``.

    Only what X.509 needs: single-byte tags, definite lengths of at most 4 bytes.
    """
    if pos + 2 > end:
        raise _Truncated
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise _Truncated  # multi-byte tag: not used by the fields we read
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise _Truncated  # indefinite length is not DER
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise _Truncated
    return tag, pos, pos + length


def _expect(buf: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    got, start, stop = _der(buf, pos, end)
    if got != tag:
        raise _Truncated
    return start, stop


def _oid(raw: bytes) -> str:
    if not raw or len(raw) > _MAX_OID_LEN:
        return "#" + raw.hex()
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if raw[-1] & 0x80:
        return "#" + raw.hex()
    head = arcs[0]
    first, second = (head // 40, head % 40) if head < 80 else (2, head - 80)
    return ".".join(map(str, (first, second, *arcs[1:])))  # (no generator: see tunnel.py)


def _escape_dn_value(text: str) -> str:
    """RFC 4514 §2.4 escaping, plus control characters as \\XX so output stays one line."""
    if _NEEDS_ESCAPE.search(text) is None:
        return text  # (most names: no walk character by character)
    return _escape_walk(text)


def _escape_walk(text: str) -> str:
    """_escape_dn_value character by character (what it does for a value _NEEDS_ESCAPE
    finds something in; tests compare the two on random text)."""
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch in ',+"\\<>;' or (i == 0 and ch in " #") or (i == last and ch == " "):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return "".join(out)


# What _escape_dn_value changes: a special character anywhere, a control character, a
# space or "#" first, a space last.
_NEEDS_ESCAPE: Final = re.compile(r'[,+"\\<>;\x00-\x1f\x7f]|\A[ #]| \Z')


def _parse_name(buf: bytes, start: int, end: int) -> tuple[str, dict[str, str]]:
    """Name (SEQUENCE OF RDN) -> (RFC 4514 string, first value of each short name)."""
    rdns: list[str] = []
    first: dict[str, str] = {}
    pos = start
    while pos < end and len(rdns) < _MAX_RDNS:
        set_start, set_end = _expect(buf, pos, end, _DER_SET)
        pos = set_end
        parts: list[str] = []
        apos = set_start
        while apos < set_end and len(parts) < _MAX_ATTRS_PER_RDN:
            seq_start, seq_end = _expect(buf, apos, set_end, _DER_SEQUENCE)
            apos = seq_end
            oid_start, oid_end = _expect(buf, seq_start, seq_end, _DER_OID)
            oid = _oid(buf[oid_start:oid_end])
            vtag, vstart, vend = _der(buf, oid_end, seq_end)
            name = _OID_NAMES.get(oid)
            codec = _STRING_CODECS.get(vtag)
            if name is None or codec is None:
                # RFC 4514 §2.4: unknown types and non-string values as #<hex of the TLV>.
                parts.append(f"{name or oid}=#{buf[oid_end:vend].hex()}")
                continue
            text = buf[vstart:vend].decode(codec, "replace")
            first.setdefault(name, text)
            parts.append(f"{name}={_escape_dn_value(text)}")
        rdns.append("+".join(reversed(parts)))
    # Most specific first, as RFC 4514 and `openssl -nameopt RFC2253` (which also reverses
    # the members of a multi-valued RDN) print it.
    return ",".join(reversed(rdns)), first


def _asn1_time(tag: int, raw: bytes) -> str | None:
    text = raw.decode("ascii", "replace")
    if tag == _DER_UTCTIME and len(text) == 13 and text.endswith("Z") and text[:12].isdigit():
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif not (tag == _DER_GENTIME and len(text) == 15 and text.endswith("Z")):
        return None
    if not text[:14].isdigit():
        return None
    return f"{text[0:4]}-{text[4:6]}-{text[6:8]}T{text[8:10]}:{text[10:12]}:{text[12:14]}Z"


def parse_x509(der: bytes, chain_length: int = 1) -> Certificate | None:
    """Subject, issuer and validity of one DER certificate; ``None`` if unreadable.

    Walks Certificate -> tbsCertificate -> [version] serial signature issuer validity
    subject and stops; nothing is recursive and every length is checked against its
    parent, so hostile DER costs at most one pass over the bytes.
    """
    buf = bytes(der)
    try:
        cert_start, cert_end = _expect(buf, 0, len(buf), _DER_SEQUENCE)
        tbs_start, tbs_end = _expect(buf, cert_start, cert_end, _DER_SEQUENCE)
        tag, _, pos = _der(buf, tbs_start, tbs_end)
        if tag == _DER_VERSION_TAG:
            tag, _, pos = _der(buf, pos, tbs_end)
        if tag != _DER_INTEGER:
            return None
        _, _, pos = _der(buf, pos, tbs_end)  # signature AlgorithmIdentifier
        issuer_start, issuer_end = _expect(buf, pos, tbs_end, _DER_SEQUENCE)
        val_start, val_end = _expect(buf, issuer_end, tbs_end, _DER_SEQUENCE)
        subject_start, subject_end = _expect(buf, val_end, tbs_end, _DER_SEQUENCE)
        nb_tag, nb_start, nb_end = _der(buf, val_start, val_end)
        na_tag, na_start, na_end = _der(buf, nb_end, val_end)
        issuer, issuer_attrs = _parse_name(buf, issuer_start, issuer_end)
        subject, subject_attrs = _parse_name(buf, subject_start, subject_end)
    except _Truncated:
        return None
    return Certificate(
        subject=subject,
        issuer=issuer,
        subject_cn=subject_attrs.get("CN"),
        subject_o=subject_attrs.get("O"),
        issuer_cn=issuer_attrs.get("CN"),
        issuer_o=issuer_attrs.get("O"),
        self_signed=subject == issuer,
        not_before=_asn1_time(nb_tag, buf[nb_start:nb_end]),
        not_after=_asn1_time(na_tag, buf[na_start:na_end]),
        chain_length=chain_length,
        leaf_der_len=len(buf),
    )
