"""Web traffic of the streamed mix: bulk HTTP downloads and HTTPS that opens with real
recorded TLS handshakes (:mod:`detector.synth.benign.tls`).

Segments are paced at each flow's sampled rate with jitter; the client ACKs every second
segment (delayed ACK) and the last one; connections end with a client FIN, a server FIN
after the keep-alive timeout, or a reset.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from random import Random

from detector.synth.http import http_date
from detector.synth.ip import ACK, PA, RA
from detector.synth.mix.context import MSS, POOL_SIZE, Context, Packet, lognormal, server_ttl
from detector.synth.mix.names import BY_NAME, DOWNLOADS, NAMES, USER_AGENTS_HTTP, WEIGHTS, Name
from detector.synth.tcp import Tcp


def down(
    conn: Tcp, t: int, total: int, chunk: Callable[[int, int], bytes], gap: float, rng: Random
) -> Iterator[Packet]:
    """Server -> client stream of ``total`` bytes (``chunk(off, n)`` gives the bytes),
    paced ``gap`` us apart with jitter; the client ACKs every second segment (delayed ACK)
    and the last one. Returns the time after the last packet."""
    s, c = conn.s, conn.c
    off = 0
    i = 0
    seg, rnd = conn.seg, rng.random
    while off < total:
        n = total - off if total - off < MSS else MSS
        off += n
        last = off >= total
        yield t, seg(t, s, PA if last else ACK, chunk(off - n, n)), None
        i += 1
        if last or not i & 1:
            yield t + 10, seg(t + 10, c, ACK), None
        t += int(gap * (0.75 + 0.5 * rnd())) + 12
    return t


def seg_gap(rate_bps: float) -> float:
    """Microseconds between full segments at ``rate_bps``."""
    return (MSS + 66) * 8 * 1e6 / rate_bps


def finish(conn: Tcp, t: int, rtt: int, rng: Random) -> list[tuple[int, bytes]]:
    """Close after an idle time: client FIN, server FIN (keep-alive timeout) or RST."""
    r = rng.random()
    if r < 0.55:
        return conn.close(t + rng.randint(200, 2_000_000), conn.c, rtt)
    if r < 0.9:
        return conn.close(t + rng.randint(5_000_000, 75_000_000), conn.s, rtt)
    ts = t + rng.randint(100, 3_000_000)
    return [(ts, conn.seg(ts, conn.c, RA))]


# --- bulk HTTP downloads (port 80) ------------------------------------------------------


class HttpDownload:
    """apt / Windows Update / installer downloads over plain HTTP: big responses."""

    def __init__(self, ctx: Context, rng: Random) -> None:
        self.ctx, self.rng = ctx, rng
        self.host, self.path = rng.choice(DOWNLOADS)
        self.server = rng.choice(BY_NAME[self.host].v4)
        self.size = lognormal(rng, 250_000, 1.5, 1_500, 40_000_000)
        self.rate = lognormal(rng, 40e6, 0.9, 1e6, 400e6)
        self.agent = rng.choice(USER_AGENTS_HTTP)
        self.close_r = rng.random()
        nseg = (self.size + 330) // MSS + 1
        self.npkts = 3 + 1 + nseg + (nseg + 1) // 2 + 3

    def run(self, start: int) -> Iterator[Packet]:
        ctx, rng = self.ctx, self.rng
        client = ctx.host(rng)
        conn = Tcp(
            rng, client, rng.randint(32768, 60999), self.server, 80, server_ttl=server_ttl(rng)
        )
        rtt = rng.randint(3_000, 90_000)
        for ts, rec in conn.handshake(start, rtt):
            yield ts, rec, None
        t = start + rtt + 80 + rng.randint(50, 3_000)
        req = (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {self.agent}\r\n"
            "Accept: */*\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        yield t, conn.seg(t, conn.c, PA, req), None
        t += rtt + rng.randint(200, 30_000)
        ctype = (
            "application/vnd.debian.binary-package"
            if self.path.endswith(".deb")
            else ("application/octet-stream")
        )
        head = (
            f"HTTP/1.1 200 OK\r\nDate: {http_date(t // 1_000_000)}\r\nServer: Apache\r\n"
            f"Last-Modified: {http_date((t - 86_400_000_000 * 9) // 1_000_000)}\r\n"
            f'ETag: "{rng.getrandbits(48):x}-{self.size:x}"\r\nAccept-Ranges: bytes\r\n'
            f"Content-Length: {self.size}\r\nContent-Type: {ctype}\r\n"
            "Via: 1.1 varnish\r\nX-Cache: HIT\r\nAge: 2714\r\n\r\n"
        ).encode()
        base = rng.randrange(POOL_SIZE)
        total = len(head) + self.size
        t = yield from down(
            conn, t, total, lambda o, n: ctx.stream(head, base, o, n), seg_gap(self.rate), rng
        )
        for ts, rec in finish(conn, t, rtt, rng):
            yield ts, rec, None


# --- HTTPS with real ClientHellos -------------------------------------------------------


def tls_records(ctx: Context, base: int, plain: int, overhead: int) -> bytes:
    """Application-data records carrying ``plain`` bytes (16 KB each at most)."""
    out = []
    while plain > 0:
        n = min(plain, 16384)
        out.append(b"\x17\x03\x03" + struct.pack(">H", n + overhead) + ctx.body(base, n + overhead))
        base += n + 977
        plain -= n
    return b"".join(out)


class Https:
    """A TLS connection to a web/API service: real handshake bytes, then request/response
    exchanges (a few long-lived ones with sparse pushes, like chat or notification
    channels), then a close."""

    def __init__(self, ctx: Context, rng: Random) -> None:
        self.ctx, self.rng = ctx, rng
        self.tpl = ctx.template(rng)
        self.name: Name = rng.choices(NAMES, weights=WEIGHTS)[0]
        self.server = rng.choice(self.name.v4)
        self.long = rng.random() < 0.04
        if self.long:
            k = rng.randint(3, 14)
            self.think = [rng.randint(5_000_000, 90_000_000) for _ in range(k)]
            self.req = [rng.randint(40, 400) for _ in range(k)]
            self.resp = [rng.randint(30, 1_200) for _ in range(k)]
        else:
            k = 1 + min(int(rng.expovariate(0.45)), 40)
            self.think = [
                rng.randint(2_000, 100_000)
                if rng.random() < 0.6
                else rng.randint(100_000, 8_000_000)
                for _ in range(k)
            ]
            self.req = [
                rng.randint(90, 1_100) if rng.random() < 0.93 else rng.randint(2_000, 40_000)
                for _ in range(k)
            ]
            self.resp = [lognormal(rng, 5_000, 1.7, 60, 6_000_000) for _ in range(k)]
        self.rate = lognormal(rng, 30e6, 0.9, 1e6, 400e6)
        n = 3 + 1 + 1 + 1 + 1 + 3
        for q, r in zip(self.req, self.resp, strict=True):
            segs = (r + 22 * (r // 16384 + 1)) // MSS + 1
            n += q // MSS + 1 + segs + (segs + 1) // 2
        self.npkts = n

    def run(self, start: int) -> Iterator[Packet]:
        ctx, rng, tpl = self.ctx, self.rng, self.tpl
        rb = rng.randbytes
        client = ctx.host(rng)
        conn = Tcp(
            rng, client, rng.randint(32768, 60999), self.server, 443, server_ttl=server_ttl(rng)
        )
        rtt = rng.randint(2_000, 120_000)
        for ts, rec in conn.handshake(start, rtt):
            yield ts, rec, None
        t = start + rtt + 200
        hello, sid = tpl.client_hello(rb, self.name.name)
        yield t, conn.seg(t, conn.c, PA, hello), None
        t += rtt + rng.randint(300, 6_000)
        for ts, rec in conn.send(t, conn.s, tpl.server_flight(rb, sid)):
            yield ts, rec, None
        t += rng.randint(300, 3_000)
        overhead = 17 if tpl.tls13 else 24
        if tpl.tls13:  # ChangeCipherSpec + encrypted Finished; the server sends 2 tickets
            fin_c = b"\x14\x03\x03\x00\x01\x01\x17\x03\x03\x00\x35" + rb(53)
            fin_s = (b"\x17\x03\x03\x00\xda" + rb(218)) * 2
        else:  # ClientKeyExchange (x25519) + CCS + Finished; server CCS + Finished
            fin_c = (
                b"\x16\x03\x03\x00\x25\x10\x00\x00\x21\x20"
                + rb(32)
                + b"\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28"
                + rb(40)
            )
            fin_s = b"\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28" + rb(40)
        yield t, conn.seg(t, conn.c, PA, fin_c), None
        t += rtt
        yield t, conn.seg(t, conn.s, PA, fin_s), None
        t += rng.randint(100, 2_000)
        gap = seg_gap(self.rate)
        for think, q, r in zip(self.think, self.req, self.resp, strict=True):
            req = tls_records(ctx, rng.randrange(POOL_SIZE), q, overhead)
            for ts, rec in conn.send(t, conn.c, req):
                yield ts, rec, None
            t += rtt + rng.randint(200, 40_000)
            resp = tls_records(ctx, rng.randrange(POOL_SIZE), r, overhead)
            t = yield from down(conn, t, len(resp), lambda o, n, d=resp: d[o : o + n], gap, rng)
            t += think
        for ts, rec in finish(conn, t, rtt, rng):
            yield ts, rec, None
