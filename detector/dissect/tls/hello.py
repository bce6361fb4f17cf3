"""ClientHello and ServerHello: what a hello says, read from its handshake body.

Its own module because the hellos are what TLS fingerprints are made of, and because they
are the messages read twice over: by the C reader in detector/csrc/tls.c when it is built,
else by the pure-Python twins here (``py_parse_client_hello``, ``py_parse_server_hello``,
``py_hello_key``), which tests compare against it.

Holds the extension numbers the parsers read, GREASE (:func:`is_grease`), the fingerprint
cache key (:func:`hello_key`), the :class:`ClientHello` and :class:`ServerHello` events
and their parsers, and the bounds-checked cursor :class:`_Reader` through which every
length-prefixed TLS field is read (x509 reads the Certificate message with it too): a
length that lies can only end the parse of that one message, never raise out of
``records.TLSStream.feed``. Pure functions and frozen dataclasses; no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from detector.compiled import fast

__all__ = [
    "ClientHello",
    "ServerHello",
    "hello_key",
    "is_grease",
    "parse_client_hello",
    "parse_server_hello",
]

# --- wire constants -------------------------------------------------------------------

EXT_SERVER_NAME: Final = 0
EXT_SUPPORTED_GROUPS: Final = 10
EXT_EC_POINT_FORMATS: Final = 11
EXT_SIGNATURE_ALGORITHMS: Final = 13
EXT_ALPN: Final = 16
EXT_SUPPORTED_VERSIONS: Final = 43

# RFC 8446 §4.1.3: a ServerHello with this random is a HelloRetryRequest.
_HRR_RANDOM: Final = bytes.fromhex(
    "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
)

_U16: Final = struct.Struct("!H")


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


# The 16 GREASE values (is_grease's, as a set: _no_grease tests every cipher, extension
# and group of a hello whose fingerprints are not cached yet, a call each otherwise).
_GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))


def _no_grease(values: Iterable[int]) -> list[int]:
    return [v for v in values if v not in _GREASE]


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


# --- events ---------------------------------------------------------------------------


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
    reader in detector/csrc/tls.c when built, else :func:`py_parse_client_hello` (same
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
