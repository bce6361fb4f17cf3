"""Real TLS handshakes (data/tls/*.hex, recorded by bench/tls/capture.sh) reusable per flow.

Every HTTPS flow of a streamed capture starts with one of the recorded ClientHellos and the
server flight that answered it. Per flow, only what differs between two real connections
of the same client is changed: the client and server randoms, the legacy session id (echoed
by a TLS 1.3 server), the key-share public keys and the SNI host name, with every length
field rewritten; when the client padded its hello (RFC 7685, as OpenSSL does to 517 bytes)
the padding shrinks or grows so the hello keeps its recorded size. Cipher suites,
extension order, groups, ALPN - everything a fingerprint (JA3/JA4) is made of - stay
byte for byte as recorded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TLS_DIR = Path(__file__).resolve().parent.parent / "data" / "tls"

#: ``random.Random.randbytes`` of the flow: where every per-flow value comes from.
RandBytes = Callable[[int], bytes]

_EXT_SNI = 0
_EXT_PADDING = 21
_EXT_KEY_SHARE = 51


def read_hex(path: Path) -> bytes:
    """Hex file: '#' comment lines, then hex digits over any number of lines."""
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    return bytes.fromhex("".join(ln for ln in lines if ln and not ln.startswith("#")))


@dataclass(frozen=True)
class Hello:
    """A parsed ClientHello record (one record, one handshake message)."""

    record_version: bytes
    legacy_version: bytes
    session_id: bytes
    ciphers: bytes
    compression: bytes
    extensions: tuple[tuple[int, bytes], ...]

    @property
    def sni(self) -> str | None:
        for etype, data in self.extensions:
            if etype == _EXT_SNI:
                return data[5:].decode()
        return None


def parse_client_hello(rec: bytes) -> Hello:
    if rec[0] != 0x16 or rec[5] != 1:
        raise ValueError("not a ClientHello record")
    body = rec[9 : 9 + int.from_bytes(rec[6:9], "big")]
    p = 34
    sid = body[p + 1 : p + 1 + body[p]]
    p += 1 + body[p]
    n = int.from_bytes(body[p : p + 2], "big")
    ciphers = body[p + 2 : p + 2 + n]
    p += 2 + n
    comp = body[p + 1 : p + 1 + body[p]]
    p += 1 + body[p]
    end = p + 2 + int.from_bytes(body[p : p + 2], "big")
    p += 2
    exts = []
    while p < end:
        etype, elen = struct.unpack(">HH", body[p : p + 4])
        exts.append((etype, body[p + 4 : p + 4 + elen]))
        p += 4 + elen
    return Hello(rec[1:3], body[:2], sid, ciphers, comp, tuple(exts))


def _sni_ext(name: str) -> bytes:
    host = name.encode()
    return struct.pack(">HBH", len(host) + 3, 0, len(host)) + host


def _key_share(data: bytes, randbytes: RandBytes) -> bytes:
    """Same groups and key lengths, fresh key bytes."""
    out = [data[:2]]
    p = 2
    while p < len(data):
        group, klen = struct.unpack(">HH", data[p : p + 4])
        out.append(data[p : p + 4] + randbytes(klen))
        p += 4 + klen
    return b"".join(out)


def build_client_hello(h: Hello, randbytes: RandBytes, sni: str | None, session_id: bytes) -> bytes:
    """The recorded hello with fresh random, session id, key shares and ``sni``."""
    exts = []
    delta = 0
    for etype, data in h.extensions:
        if etype == _EXT_SNI and sni is not None:
            new = _sni_ext(sni)
            delta += len(new) - len(data)
            data = new
        elif etype == _EXT_KEY_SHARE:
            data = _key_share(data, randbytes)
        exts.append([etype, data])
    for ext in exts:  # keep the padded size: the padding absorbs the SNI length change
        if ext[0] == _EXT_PADDING:
            ext[1] = b"\x00" * max(0, len(ext[1]) - delta)
    ext_bytes = b"".join(struct.pack(">HH", t, len(d)) + d for t, d in exts)
    body = (
        h.legacy_version
        + randbytes(32)
        + bytes([len(session_id)])
        + session_id
        + struct.pack(">H", len(h.ciphers))
        + h.ciphers
        + bytes([len(h.compression)])
        + h.compression
        + struct.pack(">H", len(ext_bytes))
        + ext_bytes
    )
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16" + h.record_version + struct.pack(">H", len(hs)) + hs


@dataclass(frozen=True)
class Template:
    """One recorded handshake: the client's hello and the server's first flight."""

    label: str
    hello: Hello
    server: bytes
    tls13: bool
    echo_sid: bool  # the server echoed the client's session id (TLS 1.3 compat mode)

    def client_hello(self, randbytes: RandBytes, sni: str | None) -> tuple[bytes, bytes]:
        """(ClientHello record, its session id) with per-flow values; no SNI stays none."""
        sid = randbytes(len(self.hello.session_id))
        name = sni if self.hello.sni is not None else None
        return build_client_hello(self.hello, randbytes, name, sid), sid

    def server_flight(self, randbytes: RandBytes, session_id: bytes) -> bytes:
        """The recorded flight with a fresh server random (and echoed session id)."""
        s = self.server
        sid_len = s[43]
        sid = session_id if self.echo_sid else randbytes(sid_len)
        return s[:11] + randbytes(32) + s[43:44] + sid + s[44 + sid_len :]


def _records(data: bytes) -> list[int]:
    types = []
    p = 0
    while p + 5 <= len(data):
        types.append(data[p])
        p += 5 + int.from_bytes(data[p + 3 : p + 5], "big")
    return types


def load_templates(directory: Path = TLS_DIR) -> list[Template]:
    out = []
    for client in sorted(directory.glob("*.client.hex")):
        label = client.name.removesuffix(".client.hex")
        hello = parse_client_hello(read_hex(client))
        server = read_hex(directory / f"{label}.server.hex")
        if server[0] != 0x16 or server[5] != 2:
            raise ValueError(f"{label}: server flight does not start with a ServerHello")
        sid_len = server[43]
        echo = sid_len == len(hello.session_id) and server[44 : 44 + sid_len] == hello.session_id
        out.append(Template(label, hello, server, 0x17 in _records(server), echo))
    if not out:
        raise FileNotFoundError(f"no *.client.hex handshakes in {directory}")
    return out
