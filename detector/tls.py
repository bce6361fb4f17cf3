"""TLS handshake parsing and fingerprinting (JA3, JA3S, JA4) for one direction of a stream.

Miners connect by IP and share OpenSSL's fingerprints, so what this module produces are
*facts* for later stages (DESIGN.md §4): the ClientHello/ServerHello contents, the leaf
certificate's names where TLS <= 1.2 shows them, and the sizes of the encrypted records
that follow (TLS-wrapped Stratum shows itself by near-constant record sizes). No I/O here;
everything is a pure function or a small frozen dataclass, and :class:`TLSStream` is the
only stateful object.

Why not ``dpkt.ssl`` (1.9.8): it is a record-at-a-time object parser, not a stream parser.
``TLSHandshake`` keeps only the first handshake message of a record and drops the rest
(ServerHello, Certificate and ServerHelloDone usually share one record), does not join a
message split over several records, and raises ``SSL3Exception`` on handshake types it
does not know (CertificateStatus 22, EncryptedExtensions 8, ...). ``TLSClientHello`` has
no ``extensions`` attribute at all when the block is empty or absent, parses none of the
extension bodies (SNI, ALPN, groups, supported_versions), and raises ``UnpackError`` on
a truncated hello; there is no X.509 parser. (GREASE it handles fine.) Wrapping it in
try/except would still lose messages, so this module has its own compact parser: one
bounds-checked cursor (:class:`_Reader`) through which every length-prefixed field is
read, so a length that lies can only end the parse of that one message, never raise out
of :meth:`TLSStream.feed`. dpkt is still what the tests use to read captures.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeAlias

from detector.compiled import fast

__all__ = [
    "CONTENT_ALERT",
    "CONTENT_APPLICATION_DATA",
    "CONTENT_CHANGE_CIPHER_SPEC",
    "CONTENT_HANDSHAKE",
    "CONTENT_HEARTBEAT",
    "DEFAULT_MAX_HANDSHAKE",
    "MAX_RECORD_LEN",
    "Alert",
    "AppData",
    "Certificate",
    "ClientHello",
    "ServerHello",
    "StreamState",
    "TLSEvent",
    "TLSStream",
    "client_hello_from_bytes",
    "is_grease",
    "ja3",
    "ja3_string",
    "ja3s",
    "ja3s_string",
    "ja4",
    "ja4_o",
    "ja4_r",
    "ja4_ro",
    "looks_like_tls",
    "parse_certificate",
    "parse_client_hello",
    "parse_server_hello",
    "parse_x509",
]

# --- wire constants -------------------------------------------------------------------

CONTENT_CHANGE_CIPHER_SPEC: Final = 20
CONTENT_ALERT: Final = 21
CONTENT_HANDSHAKE: Final = 22
CONTENT_APPLICATION_DATA: Final = 23
CONTENT_HEARTBEAT: Final = 24
_CONTENT_TYPES: Final = frozenset(
    {
        CONTENT_CHANGE_CIPHER_SPEC,
        CONTENT_ALERT,
        CONTENT_HANDSHAKE,
        CONTENT_APPLICATION_DATA,
        CONTENT_HEARTBEAT,
    }
)

HS_CLIENT_HELLO: Final = 1
HS_SERVER_HELLO: Final = 2
HS_CERTIFICATE: Final = 11
_PARSED_MESSAGES: Final = frozenset({HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_CERTIFICATE})

EXT_SERVER_NAME: Final = 0
EXT_SUPPORTED_GROUPS: Final = 10
EXT_EC_POINT_FORMATS: Final = 11
EXT_SIGNATURE_ALGORITHMS: Final = 13
EXT_ALPN: Final = 16
EXT_SUPPORTED_VERSIONS: Final = 43

# RFC 8446 §5.1: TLSCiphertext may be 2^14 + 256 long (TLS 1.3), RFC 5246 §6.2.3 allows
# 2^14 + 2048 for TLS <= 1.2. A longer record length means these bytes are not TLS.
MAX_RECORD_LEN: Final = 2**14 + 2048
# Handshake messages are reassembled up to this size; larger ones (a 16 MB length claim)
# are skipped without buffering. ClientHellos are a few KB at most (post-quantum key shares
# included), certificate chains rarely reach 20 KB.
DEFAULT_MAX_HANDSHAKE: Final = 64 * 1024

# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
_HRR_RANDOM: Final = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

_RECORD_HEADER: Final = struct.Struct("!BHH")  # content type, legacy version, length
_U16: Final = struct.Struct("!H")
_U32: Final = struct.Struct("!I")


def is_grease(value: int) -> bool:
    """True for the 16 GREASE values of RFC 8701 (0x0a0a, 0x1a1a, ... 0xfafa).

    Clients insert a random one per connection, so every fingerprint drops them.
    """
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


def py_hello_key(fields: tuple) -> bytes:
    """The ClientHello fingerprint cache key from its fields (ClientHello's field order
    after record_version; the first eight are read): what JA3 and JA4 depend on, every
    GREASE value folded to 0x0a0a. Browsers pick fresh GREASE values per connection, so
    a key with them kept would make every such hello a cache miss (~90 us of hashing);
    the fingerprints drop GREASE, so folding it cannot change them. ``hello_key`` is this
    or its C twin."""
    version, ciphers, exts, versions, groups, formats, sigalgs, alpn = fields[:8]
    out = bytearray(_U16.pack(version))
    for values in (ciphers, exts, versions, groups, sigalgs, formats):
        out += _U16.pack(len(values))
        for value in values:
            out += _U16.pack(0x0A0A if is_grease(value) else value)
    if alpn:
        for name in (alpn[0], alpn[-1]):
            out += _U16.pack(len(name)) + name
    else:
        out += b"\xff\xff"
    return bytes(out)


def hello_key(fields: tuple) -> bytes:
    """See py_hello_key (C when built)."""
    return fast.hello_key(fields) if fast is not None else py_hello_key(fields)


def _no_grease(values: Iterable[int]) -> list[int]:
    return [v for v in values if not is_grease(v)]


# --- bounded reader ---------------------------------------------------------------------


class _Truncated(ValueError):
    """A length field pointed past the end of its enclosing block.

    Internal only: every public parse function catches it and returns ``None``.
    """


class _Reader:
    """Cursor over ``buf[pos:end]``; every read checks the bound and raises _Truncated.

    All variable-length TLS fields are read through :meth:`vector`, which returns a
    sub-reader confined to that vector, so a nested length can never escape its parent.
    """

    __slots__ = ("buf", "end", "pos")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def remaining(self) -> int:
        return self.end - self.pos

    def _advance(self, n: int) -> int:
        start = self.pos
        if n < 0 or start + n > self.end:
            raise _Truncated
        self.pos = start + n
        return start

    def u8(self) -> int:
        return self.buf[self._advance(1)]

    def u16(self) -> int:
        start = self._advance(2)
        return (self.buf[start] << 8) | self.buf[start + 1]

    def u24(self) -> int:
        start = self._advance(3)
        return int.from_bytes(self.buf[start : start + 3], "big")

    def take(self, n: int) -> bytes:
        start = self._advance(n)
        return self.buf[start : start + n]

    def vector(self, len_bytes: int) -> _Reader:
        """Read a ``<len_bytes>``-prefixed vector and return a reader over its contents."""
        if len_bytes == 1:
            n = self.u8()
        elif len_bytes == 2:
            n = self.u16()
        else:
            n = self.u24()
        start = self._advance(n)
        return _Reader(self.buf, start, start + n)

    def u16_tuple(self) -> tuple[int, ...]:
        """The rest of this reader as big-endian u16 values (an odd last byte is dropped)."""
        n = self.remaining() // 2
        start = self._advance(n * 2)
        return struct.unpack_from(f"!{n}H", self.buf, start)

    def u8_tuple(self) -> tuple[int, ...]:
        return tuple(self.take(self.remaining()))


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientHello:
    """What a ClientHello says, in wire order, GREASE values kept.

    Fingerprint functions drop GREASE themselves; keeping the raw tuples lets later code
    notice GREASE (a browser/BoringSSL trait that OpenSSL-based miners lack). The presence
    of session_ticket, extended_master_secret, etc. is in ``extensions``.
    """

    record_version: int  # version field of the record that carried the message
    handshake_version: int  # legacy_version inside the ClientHello (0x0303 for TLS 1.3)
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]
    supported_versions: tuple[int, ...]  # ext 43, empty if absent
    supported_groups: tuple[int, ...]  # ext 10 (elliptic curves in JA3 terms)
    ec_point_formats: tuple[int, ...]  # ext 11
    signature_algorithms: tuple[int, ...]  # ext 13
    alpn: tuple[bytes, ...]  # ext 16, protocol names as sent
    sni: str | None  # first host_name of ext 0; non-ASCII bytes as \\xNN escapes
    session_id_len: int
    compression_methods: tuple[int, ...]

    @property
    def has_sni_extension(self) -> bool:
        """JA4's 'd' flag: the extension is present (even if its host name is unusable)."""
        return EXT_SERVER_NAME in self.extensions

    @property
    def max_version(self) -> int:
        """Highest non-GREASE supported_versions entry, else the legacy version."""
        versions = _no_grease(self.supported_versions)
        return max(versions) if versions else self.handshake_version


@dataclass(frozen=True, slots=True)
class ServerHello:
    """What a ServerHello (or HelloRetryRequest) says."""

    record_version: int
    handshake_version: int  # legacy_version (0x0303 for TLS 1.3)
    selected_version: int | None  # ext 43 in a ServerHello, the real version for TLS 1.3
    cipher: int
    compression_method: int
    extensions: tuple[int, ...]
    alpn: bytes | None  # the protocol the server selected
    hello_retry: bool  # RFC 8446 HelloRetryRequest: a second ClientHello follows

    @property
    def version(self) -> int:
        """The negotiated version: supported_versions' selection, else the legacy field."""
        if self.selected_version is not None:
            return self.selected_version
        return self.handshake_version


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


@dataclass(frozen=True, slots=True)
class AppData:
    """One application_data record (content type 23): its length field.

    ``length`` excludes the 5-byte record header. In TLS 1.3 the encrypted handshake
    travels in such records too, so the first few of each direction (EncryptedExtensions,
    Certificate, CertificateVerify, Finished: often one record each) are handshake.
    """

    length: int


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert record; level/description are ``None`` once the direction is encrypted."""

    level: int | None
    description: int | None


TLSEvent: TypeAlias = ClientHello | ServerHello | Certificate | AppData | Alert


# --- handshake message parsers ----------------------------------------------------------


def _ascii(raw: bytes) -> str:
    return raw.decode("ascii", "backslashreplace")


def _parse_sni(body: bytes) -> str | None:
    try:
        names = _Reader(body).vector(2)
        while names.remaining():
            name_type = names.u8()
            host = names.vector(2)
            if name_type == 0:
                return _ascii(host.take(host.remaining()))
    except _Truncated:
        return None
    return None


def _parse_alpn(body: bytes) -> tuple[bytes, ...]:
    out: list[bytes] = []
    try:
        protos = _Reader(body).vector(2)
        while protos.remaining():
            name = protos.vector(1)
            out.append(name.take(name.remaining()))
    except _Truncated:
        pass
    return tuple(out)


def _u16_list(body: bytes, len_bytes: int) -> tuple[int, ...]:
    try:
        return _Reader(body).vector(len_bytes).u16_tuple()
    except _Truncated:
        return ()


def _u8_list(body: bytes) -> tuple[int, ...]:
    try:
        return _Reader(body).vector(1).u8_tuple()
    except _Truncated:
        return ()


def _read_extensions(r: _Reader) -> list[tuple[int, bytes]] | None:
    """Extensions block at the end of a hello; absent block -> []; malformed -> None."""
    if r.remaining() == 0:
        return []
    try:
        block = r.vector(2)
        out: list[tuple[int, bytes]] = []
        while block.remaining():
            ext_type = block.u16()
            body = block.vector(2)
            out.append((ext_type, body.take(body.remaining())))
        return out
    except _Truncated:
        return None


def parse_client_hello(body: bytes, record_version: int = 0) -> ClientHello | None:
    """Parse a ClientHello handshake body (after the 4-byte handshake header); the C
    reader in detector/_fast.c when built, else :func:`py_parse_client_hello` (same
    results, tested)."""
    if fast is None:
        return py_parse_client_hello(body, record_version)
    fields = fast.client_hello_fields(bytes(body))
    if fields is None:
        return None
    return _client_hello(fields, record_version)


def _client_hello(fields: tuple, record_version: int) -> ClientHello:
    """A ClientHello from the tuple the C reader returns (the dataclass's field order)."""
    return ClientHello(record_version, *fields)


def py_parse_client_hello(body: bytes, record_version: int = 0) -> ClientHello | None:
    """Parse a ClientHello handshake body (after the 4-byte handshake header).

    Returns ``None`` if the fixed part or the extension framing is inconsistent; a
    malformed *body* of one extension only leaves that field empty, since the extension
    list itself (what JA3/JA4 hash) is still known.
    """
    try:
        r = _Reader(bytes(body))
        version = r.u16()
        r.take(32)  # random
        session_id_len = r.vector(1).remaining()
        cipher_block = r.vector(2)
        if cipher_block.remaining() % 2:
            return None
        ciphers = cipher_block.u16_tuple()
        compression = r.vector(1).u8_tuple()
    except _Truncated:
        return None
    exts = _read_extensions(r)
    if exts is None:
        return None
    first: dict[int, bytes] = {}
    for ext_type, ext_body in exts:
        first.setdefault(ext_type, ext_body)
    sv = first.get(EXT_SUPPORTED_VERSIONS)
    groups = first.get(EXT_SUPPORTED_GROUPS)
    formats = first.get(EXT_EC_POINT_FORMATS)
    sigalgs = first.get(EXT_SIGNATURE_ALGORITHMS)
    alpn = first.get(EXT_ALPN)
    sni = first.get(EXT_SERVER_NAME)
    return ClientHello(
        record_version=record_version,
        handshake_version=version,
        ciphers=ciphers,
        extensions=tuple(t for t, _ in exts),
        supported_versions=_u16_list(sv, 1) if sv is not None else (),
        supported_groups=_u16_list(groups, 2) if groups is not None else (),
        ec_point_formats=_u8_list(formats) if formats is not None else (),
        signature_algorithms=_u16_list(sigalgs, 2) if sigalgs is not None else (),
        alpn=_parse_alpn(alpn) if alpn is not None else (),
        sni=_parse_sni(sni) if sni is not None else None,
        session_id_len=session_id_len,
        compression_methods=compression,
    )


def parse_server_hello(body: bytes, record_version: int = 0) -> ServerHello | None:
    """Parse a ServerHello handshake body; ``None`` if its framing is inconsistent. The C
    reader when built, else :func:`py_parse_server_hello` (same results, tested)."""
    if fast is None:
        return py_parse_server_hello(body, record_version)
    fields = fast.server_hello_fields(bytes(body))
    return None if fields is None else _server_hello(fields, record_version)


def _server_hello(fields: tuple, record_version: int) -> ServerHello:
    """A ServerHello from the tuple the C reader returns (the dataclass's field order)."""
    return ServerHello(record_version, *fields)


def py_parse_server_hello(body: bytes, record_version: int = 0) -> ServerHello | None:
    """Parse a ServerHello handshake body; ``None`` if its framing is inconsistent."""
    try:
        r = _Reader(bytes(body))
        version = r.u16()
        random = r.take(32)
        r.vector(1)  # session id
        cipher = r.u16()
        compression = r.u8()
    except _Truncated:
        return None
    exts = _read_extensions(r)
    if exts is None:
        return None
    selected: int | None = None
    alpn: bytes | None = None
    for ext_type, ext_body in exts:
        if ext_type == EXT_SUPPORTED_VERSIONS and selected is None and len(ext_body) >= 2:
            selected = _U16.unpack_from(ext_body)[0]
        elif ext_type == EXT_ALPN and alpn is None:
            names = _parse_alpn(ext_body)
            alpn = names[0] if names else None
    return ServerHello(
        record_version=record_version,
        handshake_version=version,
        selected_version=selected,
        cipher=cipher,
        compression_method=compression,
        extensions=tuple(t for t, _ in exts),
        alpn=alpn,
        hello_retry=random == _HRR_RANDOM,
    )


_CERTIFICATES: dict[bytes, Certificate | None] = {}  # digest of the body -> its reading
_CERTIFICATES_KEPT: Final = 1024


def parse_certificate(body: bytes) -> Certificate | None:
    """Parse a TLS <= 1.2 Certificate handshake body; names come from the leaf only.

    ``None`` for an empty list (a client without a certificate) or an unreadable leaf.
    Remembered by a digest of the body: a server sends every client the same chain, and
    the DER walk costs some 50 us, a digest about 1 us (Certificate is immutable).
    """
    key = hashlib.blake2b(body, digest_size=16).digest()
    if key in _CERTIFICATES:
        return _CERTIFICATES[key]
    if len(_CERTIFICATES) >= _CERTIFICATES_KEPT:
        _CERTIFICATES.clear()
    found = _CERTIFICATES[key] = _read_certificate(body)
    return found


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
    return ".".join(str(a) for a in (first, second, *arcs[1:]))


def _escape_dn_value(text: str) -> str:
    """RFC 4514 §2.4 escaping, plus control characters as \\XX so output stays one line."""
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


# --- the stream parser ------------------------------------------------------------------


class StreamState(enum.Enum):
    """Whether a direction carries TLS records."""

    PENDING = "pending"  # fewer than 5 bytes seen: cannot tell yet
    TLS = "tls"  # every record header so far was valid
    NOT_TLS = "not_tls"  # gave up (see TLSStream.failure); later bytes are ignored


def _valid_record_header(ctype: int, version: int, length: int) -> bool:
    return ctype in _CONTENT_TYPES and (version >> 8) == 3 and length <= MAX_RECORD_LEN


def looks_like_tls(data: bytes) -> bool:
    """Cheap test on the first bytes of a direction: a plausible TLS record header.

    Meant for choosing which flows get a :class:`TLSStream` at all.
    """
    if len(data) < 5:
        return False
    return _valid_record_header(*_RECORD_HEADER.unpack_from(data))


class TLSStream:
    """Incremental parser for ONE direction of one TCP connection.

    Call :meth:`feed` with consecutive chunks of that direction's in-order, reassembled
    payload, starting at its first byte; each call returns the events completed by that
    chunk. Record boundaries may fall anywhere in a chunk, and a handshake message may
    span records and calls.

    Memory is bounded: the body of an application_data (or any non-handshake) record is
    only counted, never copied; a handshake message is buffered up to ``max_handshake``
    bytes and skipped beyond that; the pending record header is at most 5 bytes.

    On bytes that cannot be TLS (bad content type, version major != 3, record longer
    than :data:`MAX_RECORD_LEN`) the stream moves to ``StreamState.NOT_TLS``, records
    the reason in :attr:`failure`, and ignores everything after. It never raises on
    input: a malformed handshake message just yields no event.

    After ChangeCipherSpec or the first application_data record the direction is
    encrypted: further handshake records are opaque (TLS 1.2 Finished, renegotiation),
    except that a record holding exactly whole ClientHello/ServerHello messages is still
    parsed, which is how the second hello after a TLS 1.3 HelloRetryRequest arrives in
    middlebox-compatibility mode.
    """

    __slots__ = (
        "_enc_buf",
        "_header",
        "_hs_buf",
        "_hs_len",
        "_hs_record_version",
        "_hs_skip",
        "_hs_type",
        "_max_handshake",
        "_rec_buf",
        "_rec_left",
        "_rec_type",
        "_rec_version",
        "encrypted",
        "failure",
        "offset",
        "records",
        "state",
    )

    def __init__(self, max_handshake: int = DEFAULT_MAX_HANDSHAKE) -> None:
        self._max_handshake = max_handshake
        self.state = StreamState.PENDING
        self.failure: str | None = None
        self.encrypted = False  # ChangeCipherSpec or application_data seen
        self.offset = 0  # bytes of this direction consumed so far
        self.records = 0  # record headers accepted
        self._header = bytearray()  # partial record header (< 5 bytes)
        self._rec_type = -1  # content type of the record being read, -1 between records
        self._rec_version = 0
        self._rec_left = 0  # body bytes of the current record still to come
        self._rec_buf = bytearray()  # alert body (2 bytes)
        self._enc_buf = bytearray()  # handshake record body after encryption began
        self._hs_buf = bytearray()  # current handshake message: header, then body
        self._hs_type = -1
        self._hs_len = -1  # body length of the current message, -1 while header pending
        self._hs_skip = 0  # bytes of an oversized message still to discard
        self._hs_record_version = 0

    # -- public ------------------------------------------------------------------------

    @property
    def buffered_bytes(self) -> int:
        """Bytes held right now (partial header, handshake message, alert, late record)."""
        return len(self._header) + len(self._hs_buf) + len(self._rec_buf) + len(self._enc_buf)

    def feed(self, data: bytes) -> list[TLSEvent]:
        """Consume the next bytes of this direction; return the events they complete."""
        events: list[TLSEvent] = []
        if self.state is StreamState.NOT_TLS or not data:
            self.offset += len(data)
            return events
        pos = 0
        if fast is not None and self._at_record_boundary():
            pos = self._scan_whole_records(data, events)
            if pos == len(data):
                return events
        view = memoryview(data)
        end = len(view)
        while pos < end:
            if self._rec_type < 0:
                need = 5 - len(self._header)
                self._header += view[pos : pos + need]
                taken = min(need, end - pos)
                pos += taken
                self.offset += taken
                if len(self._header) < 5:
                    break
                ctype, version, length = _RECORD_HEADER.unpack(self._header)
                self._header.clear()
                if not _valid_record_header(ctype, version, length):
                    self._fail(
                        f"bad TLS record header {ctype}/{version:#06x}/{length} "
                        f"at offset {self.offset - 5}"
                    )
                    self.offset += end - pos
                    break
                self.state = StreamState.TLS
                self.records += 1
                self._start_record(ctype, version, length, events)
                if length == 0:
                    self._end_record(events)
                continue
            take = min(self._rec_left, end - pos)
            if self._rec_type == CONTENT_HANDSHAKE:
                if self.encrypted:
                    self._enc_buf += view[pos : pos + take]
                else:
                    self._handshake_bytes(view[pos : pos + take], events)
            elif self._rec_type == CONTENT_ALERT and len(self._rec_buf) < 2:
                self._rec_buf += view[pos : pos + min(take, 2 - len(self._rec_buf))]
            pos += take
            self.offset += take
            self._rec_left -= take
            if self._rec_left == 0:
                self._end_record(events)
        return events

    def _at_record_boundary(self) -> bool:
        return (
            self._rec_type < 0
            and not self._header
            and not self._hs_buf
            and self._hs_len < 0
            and not self._hs_skip
            and self._max_handshake >= MAX_RECORD_LEN
        )

    def _scan_whole_records(self, data: bytes, events: list[TLSEvent]) -> int:
        """The complete records at the start of ``data``, parsed in one C call
        (``_fast.tls_scan``) into the events the byte-wise path below would produce;
        returns how many bytes they took. The byte-wise path does the rest: partial
        records, messages across records, late hellos, invalid headers."""
        consumed, records, encrypted, found = fast.tls_scan(data, self.encrypted)
        if not records:
            return 0
        self.state = StreamState.TLS
        self.records += records
        self.offset += consumed
        if encrypted:
            self._set_encrypted()
        events.extend(_scanned_events(found))
        return consumed

    def gap(self, length: int) -> None:
        """``length`` bytes of this direction were lost (capture drop, unfilled hole).

        Survivable only inside the body of a non-handshake record, which is never read
        anyway (typical for long encrypted flows); anything else ends parsing.
        """
        if self.state is StreamState.NOT_TLS or length <= 0:
            self.offset += max(length, 0)
            return
        self.offset += length
        if self._rec_type in (CONTENT_APPLICATION_DATA, CONTENT_HEARTBEAT) and (
            length <= self._rec_left
        ):
            self._rec_left -= length
            if self._rec_left == 0:
                self._rec_type = -1
            return
        self._fail(f"gap of {length} bytes at offset {self.offset - length}")

    # -- records -----------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        self.state = StreamState.NOT_TLS
        self.failure = reason
        self._header.clear()
        self._rec_buf.clear()
        self._enc_buf.clear()
        self._hs_buf.clear()

    def _start_record(self, ctype: int, version: int, length: int, events: list[TLSEvent]) -> None:
        self._rec_type = ctype
        self._rec_version = version
        self._rec_left = length
        if ctype == CONTENT_APPLICATION_DATA:
            self._set_encrypted()
            events.append(AppData(length))
        elif ctype == CONTENT_CHANGE_CIPHER_SPEC:
            self._set_encrypted()

    def _end_record(self, events: list[TLSEvent]) -> None:
        if self._rec_type == CONTENT_ALERT:
            if self.encrypted or len(self._rec_buf) < 2:
                events.append(Alert(None, None))
            else:
                events.append(Alert(self._rec_buf[0], self._rec_buf[1]))
            self._rec_buf.clear()
        elif self._rec_type == CONTENT_HANDSHAKE and self.encrypted:
            self._late_hellos(bytes(self._enc_buf), events)
            self._enc_buf.clear()
        self._rec_type = -1

    def _set_encrypted(self) -> None:
        if not self.encrypted:
            self.encrypted = True
            # A message cut off by the switch can never complete in plaintext.
            self._hs_buf.clear()
            self._hs_len = -1
            self._hs_skip = 0

    # -- handshake messages --------------------------------------------------------------

    def _handshake_bytes(self, chunk: memoryview, events: list[TLSEvent]) -> None:
        """Split plaintext handshake bytes into messages; never buffer past the limit."""
        pos, end = 0, len(chunk)
        while pos < end:
            if self._hs_skip:
                n = min(self._hs_skip, end - pos)
                self._hs_skip -= n
                pos += n
                continue
            buf = self._hs_buf
            if self._hs_len < 0:
                if not buf:
                    self._hs_record_version = self._rec_version
                n = min(4 - len(buf), end - pos)
                buf += chunk[pos : pos + n]
                pos += n
                if len(buf) < 4:
                    return
                word = _U32.unpack(buf)[0]
                self._hs_type, self._hs_len = word >> 24, word & 0xFFFFFF
                buf.clear()
                if self._hs_len > self._max_handshake or self._hs_type not in _PARSED_MESSAGES:
                    # Too big to hold, or a message we do not read (key exchange, ...):
                    # count its bytes off instead of buffering them.
                    self._hs_skip, self._hs_len = self._hs_len, -1
                    continue
            n = min(self._hs_len - len(buf), end - pos)
            buf += chunk[pos : pos + n]
            pos += n
            if len(buf) == self._hs_len:
                body = bytes(buf)
                buf.clear()
                self._hs_len = -1
                event = self._message(self._hs_type, body, self._hs_record_version)
                if event is not None:
                    events.append(event)

    def _late_hellos(self, record: bytes, events: list[TLSEvent]) -> None:
        """Hellos in a handshake record after encryption began (TLS 1.3 HRR flows).

        Accepted only if the record is exactly a run of complete ClientHello/ServerHello
        messages that parse, so an encrypted Finished is (with probability ~2^-31 per
        record) never mistaken for one.
        """
        found: list[TLSEvent] = []
        pos = 0
        while pos + 4 <= len(record):
            word = _U32.unpack_from(record, pos)[0]
            mtype, mlen = word >> 24, word & 0xFFFFFF
            if mtype not in (HS_CLIENT_HELLO, HS_SERVER_HELLO) or pos + 4 + mlen > len(record):
                return
            event = self._message(mtype, record[pos + 4 : pos + 4 + mlen], self._rec_version)
            if event is None:
                return
            found.append(event)
            pos += 4 + mlen
        if pos == len(record):
            events.extend(found)

    @staticmethod
    def _message(mtype: int, body: bytes, record_version: int) -> TLSEvent | None:
        if mtype == HS_CLIENT_HELLO:
            return parse_client_hello(body, record_version)
        if mtype == HS_SERVER_HELLO:
            return parse_server_hello(body, record_version)
        if mtype == HS_CERTIFICATE:
            return parse_certificate(body)
        return None


def _scanned_events(found: list[tuple]) -> list[TLSEvent]:
    """Events from what ``_fast.tls_scan`` returns."""
    events: list[TLSEvent] = []
    for event in found:
        kind = event[0]
        if kind == CONTENT_APPLICATION_DATA:
            events.append(AppData(event[1]))
        elif kind == CONTENT_ALERT:
            events.append(Alert(event[1], event[2]))
        elif kind == HS_CLIENT_HELLO:
            events.append(_client_hello(event[2], event[1]))
        elif kind == HS_SERVER_HELLO:
            events.append(_server_hello(event[2], event[1]))
        else:
            certificate = parse_certificate(event[1])
            if certificate is not None:
                events.append(certificate)
    return events


def client_hello_from_bytes(data: bytes) -> ClientHello | None:
    """The first ClientHello in ``data`` (the start of a client's stream), if any.

    A convenience for code that has a flow's first payload bytes at hand.
    """
    for event in TLSStream().feed(data):
        if isinstance(event, ClientHello):
            return event
    return None


# --- fingerprints -----------------------------------------------------------------------


def _dash(values: Iterable[int]) -> str:
    return "-".join(str(v) for v in values)


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
    return hashlib.md5(ja3_string(ch).encode("ascii"), usedforsecurity=False).hexdigest()


def ja3s_string(sh: ServerHello) -> str:
    """``SSLVersion,Cipher,Extensions`` of a ServerHello (legacy version, GREASE removed)."""
    return f"{sh.handshake_version},{sh.cipher},{_dash(_no_grease(sh.extensions))}"


def ja3s(sh: ServerHello) -> str:
    """JA3S: MD5 (hex) of :func:`ja3s_string`."""
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
