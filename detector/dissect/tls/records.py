"""TLS record framing for one direction of a TCP stream: :class:`TLSStream` and its events.

Its own module because this is the one stateful job of TLS parsing: record headers,
records and handshake messages can be cut anywhere by segment boundaries, a record can
hold several messages and a message can span records, and the direction turns opaque at
ChangeCipherSpec. The stream cuts the plaintext handshake messages out and hands them to
the pure readers in hello and x509; of the records after that it keeps only their sizes
(TLS-wrapped Stratum shows itself by near-constant record sizes). Whole records can be
read by one C call (``_fast.tls_scan``) into the events the byte-wise path produces.

Holds the record-layer constants, the :class:`AppData` and :class:`Alert` events (with
hello's and x509's, :data:`TLSEvent`), :class:`StreamState`, :func:`looks_like_tls`,
:class:`TLSStream`, the turning of the C scan's tuples into events, and
:func:`client_hello_from_bytes`. No I/O; :class:`TLSStream` is the package's only
stateful parser.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final, TypeAlias

from detector.compiled import fast
from detector.dissect.tls.hello import (
    ClientHello,
    ServerHello,
    _client_hello,
    _server_hello,
    parse_client_hello,
    parse_server_hello,
)
from detector.dissect.tls.x509 import Certificate, parse_certificate

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
    "StreamState",
    "TLSEvent",
    "TLSStream",
    "client_hello_from_bytes",
    "looks_like_tls",
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

# RFC 8446 §5.1: TLSCiphertext may be 2^14 + 256 long (TLS 1.3), RFC 5246 §6.2.3 allows
# 2^14 + 2048 for TLS <= 1.2. A longer record length means these bytes are not TLS.
MAX_RECORD_LEN: Final = 2**14 + 2048
# Handshake messages are reassembled up to this size; larger ones (a 16 MB length claim)
# are skipped without buffering. ClientHellos are a few KB at most (post-quantum key shares
# included), certificate chains rarely reach 20 KB.
DEFAULT_MAX_HANDSHAKE: Final = 64 * 1024

_RECORD_HEADER: Final = struct.Struct("!BHH")  # content type, legacy version, length
_U32: Final = struct.Struct("!I")


# --- events ---------------------------------------------------------------------------


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

    def resume(self, offset: int, records: int, rec_left: int, rec_version: int) -> None:
        """Take the state that feeding ``offset`` bytes of ``records`` whole records would
        leave, encryption begun and no handshake message pending - the last record an
        application_data one still ``rec_left`` bytes short, if ``rec_left``. For a side
        the first-packet path read so far (flow.FirstPackets) that goes on the general way."""
        self.state = StreamState.TLS
        self.encrypted = True
        self.offset = offset
        self.records = records
        if rec_left:
            self._rec_type = CONTENT_APPLICATION_DATA
            self._rec_left = rec_left
            self._rec_version = rec_version

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
