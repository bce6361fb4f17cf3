"""TLS after an in-band upgrade: STARTTLS and its kin, handed on to the TLS dissector.

Many protocols start in cleartext and switch to TLS on request, on the same connection:

- SMTP (RFC 3207) and LMTP, NNTP (RFC 4642): ``STARTTLS``, then the server's 220 / 382;
- IMAP (RFC 3501): ``<tag> STARTTLS``, then ``<tag> OK``;
- POP3 (RFC 2595): ``STLS``, then ``+OK``;
- FTP (RFC 4217): ``AUTH TLS`` (or ``AUTH SSL``, ``TLS-C``, ``TLS-P``), then 234;
- XMPP (RFC 6120 §5): ``<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>``, then
  ``<proceed .../>``;
- PostgreSQL: the 8-byte SSLRequest (length 8, code 80877103), then the server's ``S``.

A pool can listen behind any of them (pools serve on :25 and :5222 to get past
firewalls), and a miner's TLS may come this way. :class:`StartTls` reads a side's
cleartext lines (XML elements for XMPP) only to see the request; once it was made, the
first line boundary of a side followed by a TLS record header is where that side's TLS
starts, and the bytes from there are handed on (base.Upgrade) to the TLS dissector, whose
facts then say which upgrade it was (``tls.upgrade``: ``smtp-starttls``,
``imap-starttls``, ``pop3-stls``, ``ftp-auth-tls``, ``xmpp-starttls``,
``nntp-starttls``, ``postgres-sslrequest``). Nothing is recorded for a session that
never upgrades, and a side stops being read after MAX_CLEARTEXT bytes without the switch.
"""

from __future__ import annotations

import re
from typing import ClassVar

from detector.dissect.base import MAYBE, NO, YES, InspectContext, Probe, StreamDissector, Upgrade
from detector.facts import FlowFacts

MAX_CLEARTEXT = 8 * 1024  # cleartext bytes read per side before giving up on a switch
MAX_LINE = 2048
SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"  # PostgreSQL: length 8, code 80877103

# First bytes of a side that start one of these protocols: server greetings, then the
# commands a client may open with.
_SERVER_GREETING = re.compile(rb"(?:220|200|201)[ -]|\* OK[ \r\n]|\+OK[ \r\n]")
_CLIENT_OPENING = re.compile(
    rb"(?i:(?:EHLO|HELO|LHLO) |STARTTLS\r?\n|STLS\r?\n|CAPA\r?\n|AUTH (?:TLS|SSL)|"
    rb"[A-Za-z0-9.]{1,16} (?:CAPABILITY|STARTTLS)\r?\n)"
)
_XML_OPENING = (b"<?xml", b"<stream:stream")
# Any of the three at the start of a side, in one match where StartTls.probe tried them
# in turn: it sees most sides' first bytes that no other dissector takes, and said NO to
# each after three tries (~1,000 instructions a try; a test checks they agree).
_OPENING = re.compile(
    b"|".join((_SERVER_GREETING.pattern, _CLIENT_OPENING.pattern, *map(re.escape, _XML_OPENING)))
)
_LONGEST_OPENING = 16  # bytes that settle the probe either way
# What any of the above (and _could_open, and PostgreSQL's SSLRequest or 'S') can start
# with: a letter of either case, a digit, '.' (IMAP tags), '*', '+', '<', NUL.
_OPENING_BYTES = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.*+<\x00"
)
_FTP_AUTH = re.compile(rb"(?i)AUTH (?:TLS|SSL|TLS-C|TLS-P)\s*$")
_IMAP_STARTTLS = re.compile(rb"(?i)[A-Za-z0-9.]{1,16} STARTTLS\s*$")


def _tls_record(data: bytes) -> bool:
    """A TLS handshake record header (or the start of one) begins ``data``."""
    return data[:1] == b"\x16" and data[1:2] in (b"\x03", b"") and data[2:3] <= b"\x04"


class StartTls(StreamDissector):
    """Cleartext protocols that switch to TLS in-band; the TLS is handed on."""

    name: ClassVar[str] = "starttls"
    first_bytes: ClassVar[frozenset[int] | None] = _OPENING_BYTES

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.tails = [b"", b""]
        self.read = [0, 0]  # cleartext bytes read per side
        self.greeting: bytes = b""  # the server's first line's code ("220", "* OK", ...)
        self.smtp = False  # the client said EHLO/HELO/LHLO
        self.via: str | None = None  # set once the client asked for TLS
        self.sides_asked: set[int] = set()  # postgres: the side that sent the SSLRequest
        self.rest: list[bytes | None] = [None, None]

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        if data.startswith(SSL_REQUEST):
            return YES
        if data[:1] == b"S" and _tls_record(data[1:]) and len(data) >= 4:
            return YES  # PostgreSQL's server: 'S', then its TLS
        if _OPENING.match(data):  # a server greeting, a client's opening, XMPP's XML
            return YES
        if len(data) < _LONGEST_OPENING and (
            SSL_REQUEST.startswith(data) or data == b"S" or _could_open(data)
        ):
            return MAYBE
        return NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        buf = self.tails[side] + data
        self.tails[side] = b""
        last = buf.rfind(b"\n") + 1  # (the lines: up to it; the rest waits for its end)
        if (
            self.greeting
            and self.via != "postgres-sslrequest"
            and self.read[side] + last <= MAX_CLEARTEXT
            and _plain_lines(buf, self.smtp)
        ):
            # Lines that the loop below would only count (_plain_lines): counted at once.
            # A POP3/IMAP/NNTP session's listings before any switch are most of this
            # dissector's packets on real traffic, ~1,200 bytecodes each line by line.
            self.read[side] += last
            rest = buf[last:]
            if len(rest) > MAX_LINE:
                return False
            self.tails[side] = rest
            return True
        while True:
            if self.via is not None and _tls_record(buf):
                if len(buf) < 3:
                    self.tails[side] = buf
                    return True
                self.rest[side] = buf
                return False
            if not buf:
                return True
            if buf.startswith(SSL_REQUEST):
                self.via = "postgres-sslrequest"
                self.sides_asked.add(side)
                buf = buf[len(SSL_REQUEST) :]
                continue
            if self.via == "postgres-sslrequest" and side not in self.sides_asked:
                if buf[:1] != b"S":
                    return False  # 'N': the server declined
                buf = buf[1:]
                continue
            end = self._boundary(buf)
            if end < 0:
                if len(buf) > MAX_LINE:
                    return False
                self.tails[side] = buf
                return True
            line, buf = buf[:end], buf[end:]
            self.read[side] += len(line)
            if self.read[side] > MAX_CLEARTEXT:
                return False
            self._line(side, line)

    def upgraded(self, side: int) -> Upgrade | None:
        rest, self.rest[side] = self.rest[side], None
        if rest is None or self.via is None:
            return None
        return Upgrade(self.via, rest)

    @staticmethod
    def _boundary(buf: bytes) -> int:
        """Where the first line (an XML element, for XMPP) of ``buf`` ends; -1: not yet."""
        end = buf.find(b">") if buf[:1] == b"<" else buf.find(b"\n")
        return end + 1 if end >= 0 else -1

    def _line(self, side: int, line: bytes) -> None:
        """Note what one cleartext line says: a greeting, EHLO, or the request for TLS."""
        if not self.greeting and _SERVER_GREETING.match(line):
            self.greeting = line[:4]
            return
        text = line.strip()
        # ``find``, not ``in``: ``bytes in bytes`` first tries its left side as an int
        # and formats a TypeError to throw away (~1,900 instructions, callgrind); this
        # runs on every cleartext line.
        if line.find(b"<starttls") >= 0:
            self.via = "xmpp-starttls"
            return
        if line[:1] == b"<":
            return
        command = text.upper()
        if command.startswith((b"EHLO ", b"HELO ", b"LHLO ")):
            self.smtp = True
        elif command.find(b"TLS") < 0 and command.find(b"SSL") < 0:
            return  # every request for TLS below names TLS or SSL: most lines, none
        elif command == b"STARTTLS":
            if self.smtp or self.greeting.startswith(b"220"):
                self.via = "smtp-starttls"
            elif self.greeting.startswith((b"200", b"201")):
                self.via = "nntp-starttls"
            else:
                self.via = "starttls"
        elif command == b"STLS":
            self.via = "pop3-stls"
        elif _FTP_AUTH.match(text):
            self.via = "ftp-auth-tls"
        elif _IMAP_STARTTLS.match(text):
            self.via = "imap-starttls"


def _plain_lines(buf: bytes, smtp: bool) -> bool:
    """Whether StartTls.on_data's loop would only count ``buf``'s lines (its caller has
    a greeting, so no line is one, and no PostgreSQL switch pending): no byte that starts
    a TLS record (0x16), an SSLRequest (0x00) or an XML element ('<') anywhere, no
    'TLS' or 'SSL' in any case (every request for TLS names one), and no EHLO, HELO or
    LHLO unless the client already said one. Then each line leaves the state as it was,
    but for the bytes read; a line-by-line test of the same (``_line``) cost ~1,200
    bytecodes a packet."""
    if buf.find(b"\x16") >= 0 or buf.find(b"\x00") >= 0 or buf.find(b"<") >= 0:
        return False
    lower = buf.lower()
    if lower.find(b"tls") >= 0 or lower.find(b"ssl") >= 0:
        return False
    return smtp or (lower.find(b"ehlo") < 0 and lower.find(b"helo") < 0 and lower.find(b"lhlo") < 0)


_OPENING_WORDS = (b"220", b"200", b"201", b"* OK", b"+OK", b"EHLO", b"HELO", b"LHLO")
_OPENING_WORDS += (b"STARTTLS", b"STLS", b"CAPA", b"AUTH ", *_XML_OPENING)
# Every beginning of one of those words (b"" included): a side's first bytes that some
# word starts with, looked up at once rather than word by word.
_OPENING_PREFIXES = frozenset(w[:k] for w in _OPENING_WORDS for k in range(len(w) + 1))


def _could_open(data: bytes) -> bool:
    """Whether ``data`` (shorter than any opening is long) may still become one: a word
    starts with it, or it starts with a word."""
    upper = data.upper()
    return upper in _OPENING_PREFIXES or upper.startswith(_OPENING_WORDS)
