"""Connections whose TLS starts after something else: STARTTLS dialogues, PostgreSQL's
SSLRequest, and TLS sessions (a browser's, or stratum+ssl) to put behind them or behind a
proxy tunnel (detector.synth.tunnels).

Why here: the detector must read a ClientHello wherever the TLS starts, and must not take a
mail client's STARTTLS for anything but mail. The cleartext parts follow the RFCs and what
the common servers send (Postfix, Dovecot, vsftpd, Prosody, PostgreSQL libpq):

* SMTP (RFC 3207): 220 banner, EHLO, 250- extensions listing STARTTLS, STARTTLS, 220;
* IMAP (RFC 3501): ``* OK`` greeting with capabilities, ``a001 STARTTLS``, ``a001 OK``;
* POP3 (RFC 2595): ``+OK`` greeting, ``CAPA``, ``STLS``, ``+OK``;
* FTP (RFC 4217): 220 banner, ``AUTH TLS``, 234;
* XMPP (RFC 6120): stream headers, features with <starttls/>, <starttls/>, <proceed/>;
* NNTP (RFC 4642): 200 banner, ``STARTTLS``, 382;
* PostgreSQL: the 8-byte SSLRequest, the server's ``S``.

Each dialogue is a list of (side, bytes) steps, "c" for the client and "s" for the
server, after which both sides speak TLS. The TLS comes from the recorded handshakes of
:mod:`detector.synth.benign.tls`; :func:`app_record` makes the encrypted records after it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

Steps = list[tuple[str, bytes]]
RandBytes = Callable[[int], bytes]

SSL_REQUEST = struct.pack(">II", 8, 80877103)


def smtp(host: str, client: str) -> Steps:
    return [
        ("s", f"220 {host} ESMTP Postfix (Debian/GNU)\r\n".encode()),
        ("c", f"EHLO {client}\r\n".encode()),
        ("s", (f"250-{host}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
               "250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
               "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n").encode()),
        ("c", b"STARTTLS\r\n"),
        ("s", b"220 2.0.0 Ready to start TLS\r\n"),
    ]  # fmt: skip


def imap(host: str) -> Steps:
    caps = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED"
    return [
        ("s", f"* OK [CAPABILITY {caps}] Dovecot (Debian) ready.\r\n".encode()),
        ("c", b"a001 CAPABILITY\r\n"),
        ("s", f"* CAPABILITY {caps}\r\na001 OK Pre-login capabilities listed, post-login "
              f"capabilities have more.\r\n".encode()),
        ("c", b"a002 STARTTLS\r\n"),
        ("s", b"a002 OK Begin TLS negotiation now.\r\n"),
    ]  # fmt: skip


def pop3() -> Steps:
    return [
        ("s", b"+OK Dovecot (Debian) ready.\r\n"),
        ("c", b"CAPA\r\n"),
        ("s", b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n"
              b"STLS\r\nSASL\r\n.\r\n"),
        ("c", b"STLS\r\n"),
        ("s", b"+OK Begin TLS negotiation now.\r\n"),
    ]  # fmt: skip


def ftp() -> Steps:
    return [
        ("s", b"220 (vsFTPd 3.0.3)\r\n"),
        ("c", b"AUTH TLS\r\n"),
        ("s", b"234 Proceed with negotiation.\r\n"),
    ]


def xmpp(domain: str) -> Steps:
    ns = "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    tls_ns = "xmlns='urn:ietf:params:xml:ns:xmpp-tls'"
    return [
        ("c", f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' {ns}>".encode()),
        ("s", (f"<?xml version='1.0'?><stream:stream from='{domain}' id='4c3b8a2e' "
               f"version='1.0' {ns}><stream:features><starttls {tls_ns}><required/>"
               f"</starttls></stream:features>").encode()),
        ("c", f"<starttls {tls_ns}/>".encode()),
        ("s", f"<proceed {tls_ns}/>".encode()),
    ]  # fmt: skip


def nntp(host: str) -> Steps:
    return [
        ("s", f"200 {host} InterNetNews NNRP server INN 2.6.4 ready (posting ok)\r\n".encode()),
        ("c", b"STARTTLS\r\n"),
        ("s", b"382 Begin TLS negotiation now\r\n"),
    ]


def postgres() -> Steps:
    return [("c", SSL_REQUEST), ("s", b"S")]


def app_record(length: int, randbytes: RandBytes) -> bytes:
    """One TLS application-data record of ``length`` encrypted bytes."""
    return b"\x17\x03\x03" + struct.pack(">H", length) + randbytes(length)
