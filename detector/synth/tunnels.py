"""Proxy tunnels a miner (or anything else) opens before its own protocol: SOCKS5, SOCKS4a
and HTTP CONNECT.

Why here: miners reach pools through proxies (a company's web proxy, Tor, a SOCKS port of
an SSH tunnel), and the detector must see through the few handshake bytes to the dialect
behind them - and must not take a browser's CONNECT for one. Shapes, per client:

* XMRig Socks5.cpp (and Electrum/Tor alike): greeting without authentication, CONNECT by
  domain name (address type 3), a 10-byte reply with an IPv4 bound address;
* cgminer util.c ``socks4_negotiate`` (SOCKS4a: IP 0.0.0.1, user id, then the host name)
  and ``http_negotiate`` (``CONNECT host:port HTTP/1.1`` with a Host header).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from detector.synth.ip import packed

SOCKS5_GREETING = b"\x05\x01\x00"  # version 5, one method: no authentication
SOCKS5_NO_AUTH = b"\x05\x00"  # the proxy picks "no authentication"


def socks5_connect(host: str, port: int) -> bytes:
    """CONNECT to a domain name (address type 3): the proxy resolves it."""
    name = host.encode()
    return b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port)


def socks5_reply(bound: str = "0.0.0.0", port: int = 0) -> bytes:
    """Success, with the proxy's bound IPv4 address and port."""
    return b"\x05\x00\x00\x01" + packed(bound) + struct.pack(">H", port)


def socks4a_connect(host: str, port: int, user: str) -> bytes:
    """SOCKS4a CONNECT: IP 0.0.0.1 means "resolve the name that follows the user id"."""
    return (
        b"\x04\x01"
        + struct.pack(">H", port)
        + b"\x00\x00\x00\x01"
        + user.encode()
        + b"\x00"
        + host.encode()
        + b"\x00"
    )


def socks4_granted(port: int) -> bytes:
    return b"\x00\x5a" + struct.pack(">H", port) + b"\x00\x00\x00\x00"


def http_connect(host: str, port: int, extra: Sequence[tuple[str, str]] = ()) -> bytes:
    """``CONNECT host:port HTTP/1.1`` with a Host header (and a browser's extra headers)."""
    target = f"{host}:{port}"
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    return (head + "".join(f"{k}: {v}\r\n" for k, v in extra) + "\r\n").encode()


HTTP_CONNECT_OK = b"HTTP/1.1 200 Connection established\r\n\r\n"
