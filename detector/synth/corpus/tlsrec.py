"""TLS for the corpus's flows: the recorded handshakes, then records of the right size.

Every TLS flow - miner or not - opens with one of the real recorded handshakes of
:mod:`detector.synth.benign.tls` (OpenSSL s_client 1.2/1.3, curl, wget/GnuTLS, Python ssl,
Node, Java): the ClientHello with fresh randoms and key shares, with the SNI of the name the
program connected to or, when it connected by address, with no SNI at all (the extension
removed, the padding grown so the hello keeps its recorded size); then the server's recorded
flight. The rest of the handshake is what those versions send: TLS 1.3 the client's
ChangeCipherSpec and encrypted Finished and the server's session tickets (0-2), TLS 1.2 the
client's x25519 ClientKeyExchange, ChangeCipherSpec and Finished and the server's answer.

Application data is one record per write of the program (a miner writes each JSON line with
one ``SSL_write``), its length the plaintext's plus the record overhead of the version:

* TLS 1.3 (RFC 8446 §5.2): 5-byte header, the 1-byte inner content type, a 16-byte AEAD tag:
  **plaintext + 22** on the wire;
* TLS 1.2 AES-GCM (RFC 5288 §3): 5-byte header, 8-byte explicit nonce, 16-byte tag:
  **plaintext + 29**; ChaCha20-Poly1305 (RFC 7905): **plaintext + 21**.

Records longer than 2^14 bytes of plaintext are split as TLS splits them. The ciphertext is
pseudo-random bytes from the capture's noise pool. Which cipher the recorded server chose
(and so the overhead) is read from its ServerHello.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from random import Random

from detector.synth.benign.tls import Hello, Template, build_client_hello
from detector.synth.corpus.wire import Conn

Noise = Callable[[int], bytes]

_EXT_SNI = 0
_EXT_PADDING = 21
_GCM_12 = {0x009C, 0x009D, 0x009E, 0x009F, 0xC02B, 0xC02C, 0xC02F, 0xC030}
_CHACHA_12 = {0xCCA8, 0xCCA9, 0xCCAA}
MAX_PLAIN = 16384
#: share of TLS 1.3 clients that send their first request right behind their Finished
#: rather than after the server's session tickets (handshake)
EAGER = 0.8


def without_sni(h: Hello) -> Hello:
    """The hello as the program sends it when it connects to an address: no SNI extension,
    the padding (when the client pads) grown by what the extension took."""
    sni = [d for t, d in h.extensions if t == _EXT_SNI]
    if not sni:
        return h
    freed = 4 + len(sni[0])
    exts = []
    for etype, data in h.extensions:
        if etype == _EXT_SNI:
            continue
        if etype == _EXT_PADDING:
            data = b"\x00" * (len(data) + freed)
        exts.append((etype, data))
    return Hello(
        h.record_version, h.legacy_version, h.session_id, h.ciphers, h.compression, tuple(exts)
    )


def server_cipher(server_flight: bytes) -> int:
    """The cipher suite of the recorded ServerHello."""
    sid_len = server_flight[43]
    return int.from_bytes(server_flight[44 + sid_len : 46 + sid_len], "big")


def record_overhead(tls13: bool, cipher: int) -> int:
    """Bytes a record adds to its plaintext on the wire (header included)."""
    if tls13:
        return 5 + 1 + 16
    if cipher in _CHACHA_12:
        return 5 + 16
    if cipher in _GCM_12:
        return 5 + 8 + 16
    raise ValueError(f"cipher 0x{cipher:04x}: record overhead not modelled")


class Tls:
    """One TLS session over a :class:`~detector.synth.corpus.wire.Conn`."""

    __slots__ = ("tpl", "hello", "sni", "rng", "noise", "tls13", "overhead", "version", "pending")

    def __init__(self, tpl: Template, sni: str | None, rng: Random, noise: Noise) -> None:
        self.tpl = tpl
        self.sni = sni if tpl.hello.sni is not None else None
        self.hello = tpl.hello if self.sni is not None else without_sni(tpl.hello)
        self.rng = rng
        self.noise = noise
        self.tls13 = tpl.tls13
        # TLS 1.3 session tickets the server sends after the client's Finished, held until
        # the server's next write when the client did not wait for them (``handshake``)
        self.pending = b""
        self.overhead = record_overhead(tpl.tls13, server_cipher(tpl.server))
        self.version = "1.3" if tpl.tls13 else "1.2"

    def records(self, plain: int, ctype: int = 0x17) -> bytes:
        """Records carrying ``plain`` bytes of application data (one write)."""
        out = []
        extra = self.overhead - 5
        while True:
            n = min(plain, MAX_PLAIN)
            out.append(bytes([ctype, 3, 3]) + struct.pack(">H", n + extra) + self.noise(n + extra))
            plain -= n
            if plain <= 0:
                return b"".join(out)

    def wrap(self, data: bytes | int) -> bytes:
        return self.records(data if isinstance(data, int) else len(data))

    def take_pending(self) -> bytes:
        """The server's held-back tickets, once (b"" after): its next write carries them."""
        held, self.pending = self.pending, b""
        return held

    def close_notify(self) -> bytes:
        """The encrypted close_notify alert (2 bytes of plaintext)."""
        return self.records(2, 0x17 if self.tls13 else 0x15)

    def handshake(self, conn: Conn, t: int) -> int:
        """Plays the handshake from ``t``; returns when the client can send application data."""
        rng, rb = self.rng, self.rng.randbytes
        sid = rb(len(self.tpl.hello.session_id))
        hello = build_client_hello(self.hello, rb, self.sni, sid)
        conn.send(t, conn.c, hello)
        t = t + conn.rtt + rng.randint(300, 5_000)
        got = conn.send(t, conn.s, self.tpl.server_flight(rb, sid), gap=rng.randint(10, 80))
        t = got + rng.randint(400, 4_000)  # the client checks the chain, derives keys
        if self.tls13:
            finished = 4 + (48 if server_cipher(self.tpl.server) == 0x1302 else 32)
            conn.send(t, conn.c, b"\x14\x03\x03\x00\x01\x01" + self.records(finished, 0x17))
            tickets = rng.choice((0, 1, 2, 2))
            ticket = self.records(rng.choice((201, 213, 218, 250)), 0x17) * tickets
            if tickets and rng.random() < EAGER:
                # the client sends its first request right behind its Finished, as OpenSSL,
                # Go and browsers do; the tickets the server sends on reading the Finished
                # then go out with its answer to that request, one message on the wire (a
                # real XMRig-style TLS Stratum session showed both orders: stop 27)
                self.pending = ticket
            elif tickets:
                t = t + conn.rtt + rng.randint(100, 1_500)
                conn.send(t, conn.s, ticket)
            return t + rng.randint(20, 400)
        cke = b"\x16\x03\x03\x00\x25\x10\x00\x00\x21\x20" + rb(32)
        fin = b"\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28" + rb(40)
        conn.send(t, conn.c, cke + fin)
        t = t + conn.rtt + rng.randint(200, 2_000)
        conn.send(t, conn.s, b"\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28" + rb(40))
        return t + rng.randint(100, 2_000)
