"""Ordinary web traffic: HTTPS page and API loads, downloads, QUIC.

The sizes and rates are the benchmark mix's (:mod:`detector.synth.mix.web`, measured shapes
of a LAN's uplink), played over the corpus's connection model:

* **Browsing** (``web-browsing``): a TLS connection to a popular name (CNAME chains and
  addresses of :mod:`detector.synth.mix.names`), 1-40 request/answer exchanges - requests
  90-1,100 bytes (7 % uploads of 2-40 KB), answers log-normal around 5 KB (capped at 2 MB)
  at the path's rate - with think times of milliseconds to seconds, then a close by the
  client, by the server's keep-alive timeout, or a reset. One in five is a page's long-lived
  channel instead: 3-14 exchanges of 40-400 / 30-1,200 bytes, 5-90 s apart (the mix's
  ``Https.long``).
* **Downloads** (``download``): one GET of an installer, package or archive (log-normal
  around 250 KB, up to 20 MB) over HTTP on 80 or HTTPS on 443, at 1-400 Mbit/s.
* **QUIC** (``quic``, UDP 443): the client's padded Initial (1,250 bytes), the server's
  Initial and Handshake, 1-RTT short-header packets carrying a response (log-normal around
  25 KB) with the client's ACKs every second packet.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from random import Random

from detector.synth.corpus.dnsflow import DnsFlow
from detector.synth.corpus.engine import Script, play
from detector.synth.corpus.flow import Env, Flow, S, draw_loss, draw_rtt
from detector.synth.corpus.negatives.base import ANY_TLS, LongLived, pace_of, size
from detector.synth.corpus.net import Host
from detector.synth.corpus.wire import Record
from detector.synth.mix.names import (
    BY_NAME,
    DOWNLOADS,
    NAMES,
    QUIC_NAMES,
    USER_AGENTS_HTTP,
    WEIGHTS,
)


class Browsing(LongLived):
    kind = "web-browsing"
    templates = ANY_TLS

    def exchanges(self, rng: Random) -> list[tuple[int, int, int]]:
        """(request bytes, answer bytes, think time after it) of each exchange. One
        connection in LONG_SHARE is a page's long-lived channel (notifications, chat,
        presence: the benchmark mix's ``Https.long``): 3-14 small exchanges of random size,
        5-90 s apart, answered at once - never pushed to, so the model sees them as it
        sees HTTP pollers over TLS, which the corpus had only as miners (its pages were all
        bursts): 29 such sessions of the benchmark's capture scored 1.0 (stop 29)."""
        if rng.random() < LONG_SHARE:
            return [(rng.randint(40, 400), rng.randint(30, 1_200),
                     rng.randint(5_000_000, 90_000_000))
                    for _ in range(rng.randint(3, 14))]  # fmt: skip
        return [
            (
                rng.randint(90, 1_100) if rng.random() < 0.93 else rng.randint(2_000, 40_000),
                size(rng, 5_000, 1.7, 60, 2_000_000),
                rng.randint(2_000, 100_000)
                if rng.random() < 0.6
                else rng.randint(100_000, 8_000_000),
            )
            for _ in range(1 + min(int(rng.expovariate(0.45)), 40))
        ]

    def body(self, rng: Random) -> Iterator[Record]:
        conn = self.tcp(rng, draw_rtt(rng, 30_000), draw_loss(rng))
        tls = self.tls(rng, rng.choice(self.templates), self.name or None) if self.tls_on else None
        pace = pace_of(min(400e6, max(1e6, rng.lognormvariate(math.log(30e6), 0.9))))
        t = self.first_ts(rng)
        if not self.mid:
            t = conn.open(t)
            if tls is not None:
                t = tls.handshake(conn, t)
        for req, answer, think in self.exchanges(rng):
            if t >= self.stop:
                break
            script: Script = [("c", req), ("s", answer)]
            t = play(conn, tls, rng, t, script, pace=pace)
            yield from conn.flush()
            t += think
        r = rng.random()
        if self.closes or t < self.stop:
            self.closes = True
            if r < 0.55:
                self.close(conn, t + rng.randint(200, 2_000_000), rng, (1, 0, 0))
            elif r < 0.9:
                self.close(conn, t + rng.randint(5_000_000, 75_000_000), rng, (0, 1, 0))
            else:
                self.close(conn, t + rng.randint(100, 3_000_000), rng, (0, 0, 1))
        yield from conn.finish()


LONG_SHARE = 0.2  # of web-browsing connections: the long-lived channel (Browsing.exchanges)


class Download(LongLived):
    kind = "download"

    def body(self, rng: Random) -> Iterator[Record]:
        conn = self.tcp(rng, draw_rtt(rng, 30_000), draw_loss(rng))
        tls = (
            self.tls(
                rng,
                rng.choice(("curl-http11", "wget-gnutls", "python-ssl", "java-jsse")),
                self.name or None,
            )
            if self.tls_on
            else None
        )
        pace = pace_of(min(400e6, max(1e6, rng.lognormvariate(math.log(40e6), 0.9))))
        n = size(rng, 250_000, 1.5, 1_500, 20_000_000)
        t = self.first_ts(rng)
        if not self.mid:
            t = conn.open(t)
            if tls is not None:
                t = tls.handshake(conn, t)
        path = self.path
        agent = rng.choice(USER_AGENTS_HTTP)
        req = (
            f"GET {path} HTTP/1.1\r\nHost: {self.name}\r\nUser-Agent: {agent}\r\n"
            "Accept: */*\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        head = (
            f"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: {n}\r\n"
            "Content-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n\r\n"
        ).encode()
        noise = self.env.noise(rng)
        body = head + noise(n) if tls is None else len(head) + n
        t = play(conn, tls, rng, t + rng.randint(50, 3_000), [("c", req), ("s", body)], pace=pace)
        yield from conn.flush()
        self.closes = True
        self.close(conn, t + rng.randint(200, 2_000_000), rng, (0.6, 0.3, 0.1))
        yield from conn.finish()


class Quic(Flow):
    proto = "udp"
    kind = "quic"

    def body(self, rng: Random) -> Iterator[Record]:
        udp = self.udp(rng, 0)
        self.rtt = rtt = draw_rtt(rng, 25_000)
        self.tls_version = ""
        noise = self.env.noise(rng)
        rate = min(300e6, max(1e6, rng.lognormvariate(math.log(30e6), 0.9)))
        n = size(rng, 25_000, 1.6, 300, 3_000_000)
        dcid, scid = rng.randbytes(8), rng.randbytes(8)
        t = self.first_ts(rng)
        # long headers as Chrome and the CDNs write them (mix/quic.py): type, version 1,
        # connection ids, token length (Initial), a 2-byte length varint, the payload
        yield (
            t,
            udp.up(
                t,
                bytes([0xC0 | rng.getrandbits(4)])
                + b"\x00\x00\x00\x01\x08"
                + dcid
                + b"\x00\x00"
                + _v2(1250 - 18)
                + noise(1250 - 18),
            ),
        )
        t += rtt + rng.randint(200, 3_000)
        hs = (
            bytes([0xC0 | rng.getrandbits(4)])
            + b"\x00\x00\x00\x01\x00\x08"
            + scid
            + b"\x00"
            + _v2(130)
            + noise(130)
            + bytes([0xE0 | rng.getrandbits(4)])
            + b"\x00\x00\x00\x01\x00\x08"
            + scid
            + _v2(1017)
            + noise(1017)
        )
        yield t, udp.down(t, hs)
        t += 40
        yield (
            t,
            udp.down(
                t,
                bytes([0xE0 | rng.getrandbits(4)])
                + b"\x00\x00\x00\x01\x00\x08"
                + scid
                + _v2(900)
                + noise(900),
            ),
        )
        t += rng.randint(500, 4_000)
        yield (
            t,
            udp.up(
                t,
                bytes([0xC0 | rng.getrandbits(4)])
                + b"\x00\x00\x00\x01\x08"
                + scid
                + b"\x00\x00"
                + _v2(1250 - 18)
                + noise(1250 - 18),
            ),
        )
        t += 150
        yield t, udp.up(t, bytes([0x40 | rng.getrandbits(6)]) + scid + noise(rng.randint(60, 420)))
        t += rtt + rng.randint(500, 20_000)
        gap = (1252 + 42) * 8 * 1e6 / rate
        i = 0
        while n > 0 and t < self.stop:
            m = min(n, 1232)
            n -= m
            yield t, udp.down(t, bytes([0x40 | rng.getrandbits(6)]) + noise(m + 19))
            i += 1
            if not i & 1 or n <= 0:
                yield (
                    t + 15,
                    udp.up(
                        t + 15,
                        bytes([0x40 | rng.getrandbits(6)]) + scid + noise(rng.randint(22, 34)),
                    ),
                )
            t += int(gap * (0.75 + 0.5 * rng.random())) + 20
        self.ended = ""


def _v2(n: int) -> bytes:
    """A two-byte QUIC variable-length integer."""
    return struct.pack(">H", 0x4000 | n)


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    out: list[Flow] = []
    if kind == "quic":
        entry = rng.choice(QUIC_NAMES)
        flow: Flow = Quic(
            env,
            host,
            rng.getrandbits(63),
            start,
            start + 60 * S,
            rng.choice(entry.v4),
            443,
            nat=nat,
        )
        flow.server_name = entry.name
    elif kind == "download":
        tls = rng.random() < 0.5
        if tls:
            name = rng.choice(
                (
                    "objects.githubusercontent.com",
                    "files.pythonhosted.org",
                    "dl.google.com",
                    "registry.npmjs.org",
                    "production.cloudflare.docker.com",
                )
            )
            leaf = rng.choice(("pkg.tar.gz", "setup.exe", "wheel.whl", "layer.tar"))
            path = f"/{rng.randbytes(6).hex()}/{leaf}"
        else:
            name, path = rng.choice(DOWNLOADS)
        entry = BY_NAME[name]
        flow = Download(
            env,
            host,
            rng.getrandbits(63),
            start,
            start + 600 * S,
            rng.choice(entry.v4),
            443 if tls else 80,
            tls=tls,
            name=name,
            nat=nat,
        )
        flow.path = path  # type: ignore[attr-defined]
    else:
        entry = rng.choices(NAMES, weights=WEIGHTS)[0]
        flow = Browsing(
            env,
            host,
            rng.getrandbits(63),
            start,
            start + 600 * S,
            rng.choice(entry.v4),
            443,
            tls=True,
            name=entry.name,
            nat=nat,
        )
    flow.cport = host.port(rng)
    if start >= env.t0 + S and rng.random() < 0.4:
        out.append(
            DnsFlow(
                env,
                host,
                rng.getrandbits(63),
                start - rng.randint(3_000, 60_000),
                flow.server_name,
                flow.server,
                nat=nat,
                pool=False,
            )
        )
    out.append(flow)
    return out
