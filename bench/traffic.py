"""Background (non-mining) flows of the mixed benchmark capture.

Each flow class samples its whole plan in ``__init__`` from its own ``random.Random`` (so
``npkts``, the expected packet count, is known before any packet is built: the scheduler
uses it to set arrival rates) and ``run(start)`` is a generator of
``(ts_us, pcap_record, mark)`` in time order. ``mark`` is always None here; the mining
flows use it to tell the writer which miner flows made it into the file.
"""

from __future__ import annotations

import ipaddress
import math
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from bench.names import (
    BY_NAME,
    DOWNLOADS,
    NAMES,
    NTP_SERVERS,
    PUBLIC_RESOLVERS,
    QUIC_NAMES,
    USER_AGENTS_HTTP,
    WEIGHTS,
    Name,
)
from bench.tlsdata import Template
from detector.synth.ip import ACK, PA, RA
from detector.synth.links import mac_for
from detector.synth.tcp import Tcp
from detector.synth.udp import Udp

Packet = tuple[int, bytes | None, object]
MSS = 1448
POOL_SIZE = 4 << 20
SEARCH_DOMAIN = "office.example.com"


@dataclass
class Context:
    """What every flow shares: payload bytes, the LAN's hosts, the TLS templates."""

    pool: bytes
    hosts: list[str]
    host_cum: list[float]
    templates: list[Template]
    template_cum: list[float]
    resolver: str = "10.20.0.53"
    resolver_mac: bytes = field(default=b"")

    def __post_init__(self) -> None:
        self.resolver_mac = mac_for(self.resolver)

    def host(self, rng) -> str:
        return rng.choices(self.hosts, cum_weights=self.host_cum)[0]

    def template(self, rng) -> Template:
        return rng.choices(self.templates, cum_weights=self.template_cum)[0]

    def body(self, off: int, n: int) -> bytes:
        """``n`` pseudo-random payload bytes (compressed content looks like this)."""
        o = off % (POOL_SIZE - 65536)
        return self.pool[o : o + n]

    def stream(self, prefix: bytes, base: int, off: int, n: int) -> bytes:
        """Bytes ``off..off+n`` of ``prefix`` followed by pseudo-random content."""
        if off >= len(prefix):
            return self.body(base + off - len(prefix), n)
        head = prefix[off : off + n]
        return head if len(head) == n else head + self.body(base, n - len(head))


def lognormal(rng, median: float, sigma: float, lo: float, hi: float) -> int:
    return int(min(hi, max(lo, rng.lognormvariate(math.log(median), sigma))))


def http_date(ts_us: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ts_us // 1_000_000))


def server_ttl(rng) -> int:
    """Remaining TTL of a server's packets at the tap (Linux 64 or Windows 128 minus hops)."""
    return rng.choice((50, 52, 53, 54, 55, 56, 57, 58, 59, 116, 118, 119))


def down(conn: Tcp, t: int, total: int, chunk, gap: float, rng) -> Iterator[Packet]:
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


def finish(conn: Tcp, t: int, rtt: int, rng) -> list[tuple[int, bytes]]:
    """Close after an idle time: client FIN, server FIN (keep-alive timeout) or RST."""
    r = rng.random()
    if r < 0.55:
        return conn.close(t + rng.randint(200, 2_000_000), conn.c, rtt)
    if r < 0.9:
        return conn.close(t + rng.randint(5_000_000, 75_000_000), conn.s, rtt)
    ts = t + rng.randint(100, 3_000_000)
    return [(ts, conn.seg(ts, conn.c, RA))]


def finish_packets(rng_value: float) -> int:
    return 1 if rng_value >= 0.9 else 3


# --- bulk HTTP downloads (port 80) ------------------------------------------------------

class HttpDownload:
    """apt / Windows Update / installer downloads over plain HTTP: big responses."""

    def __init__(self, ctx: Context, rng) -> None:
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
        conn = Tcp(rng, client, rng.randint(32768, 60999), self.server, 80,
                   server_ttl=server_ttl(rng))
        rtt = rng.randint(3_000, 90_000)
        for ts, rec in conn.handshake(start, rtt):
            yield ts, rec, None
        t = start + rtt + 80 + rng.randint(50, 3_000)
        req = (f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUser-Agent: {self.agent}\r\n"
               "Accept: */*\r\nConnection: keep-alive\r\n\r\n").encode()
        yield t, conn.seg(t, conn.c, PA, req), None
        t += rtt + rng.randint(200, 30_000)
        ctype = "application/vnd.debian.binary-package" if self.path.endswith(".deb") else (
            "application/octet-stream")
        head = (f"HTTP/1.1 200 OK\r\nDate: {http_date(t)}\r\nServer: Apache\r\n"
                f"Last-Modified: {http_date(t - 86_400_000_000 * 9)}\r\n"
                f'ETag: "{rng.getrandbits(48):x}-{self.size:x}"\r\nAccept-Ranges: bytes\r\n'
                f"Content-Length: {self.size}\r\nContent-Type: {ctype}\r\n"
                "Via: 1.1 varnish\r\nX-Cache: HIT\r\nAge: 2714\r\n\r\n").encode()
        base = rng.randrange(POOL_SIZE)
        total = len(head) + self.size
        t = yield from down(conn, t, total, lambda o, n: ctx.stream(head, base, o, n),
                            seg_gap(self.rate), rng)
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

    def __init__(self, ctx: Context, rng) -> None:
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
            self.think = [rng.randint(2_000, 100_000) if rng.random() < 0.6
                          else rng.randint(100_000, 8_000_000) for _ in range(k)]
            self.req = [rng.randint(90, 1_100) if rng.random() < 0.93
                        else rng.randint(2_000, 40_000) for _ in range(k)]
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
        conn = Tcp(rng, client, rng.randint(32768, 60999), self.server, 443,
                   server_ttl=server_ttl(rng))
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
            fin_c = (b"\x16\x03\x03\x00\x25\x10\x00\x00\x21\x20" + rb(32)
                     + b"\x14\x03\x03\x00\x01\x01\x16\x03\x03\x00\x28" + rb(40))
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


# --- DNS -------------------------------------------------------------------------------

@lru_cache(maxsize=1024)
def qname(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


_OPT = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)
_RR = struct.Struct(">HHHIH")


def dns_query(qid: int, name: str, qtype: int, edns: bool) -> bytes:
    return (struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 1 if edns else 0) + qname(name)
            + struct.pack(">HH", qtype, 1) + (_OPT if edns else b""))


def _soa(zone: str, ttl: int) -> bytes:
    rdata = (qname("ns1." + zone) + qname("hostmaster." + zone)
             + struct.pack(">IIIII", 2026010501, 7200, 3600, 1209600, 300))
    return qname(zone) + struct.pack(">HHIH", 6, 1, ttl, len(rdata)) + rdata


def dns_response(qid: int, qry_name: str, qtype: int, edns: bool, entry: Name | None,
                 rng) -> bytes:
    """A recursive resolver's answer: CNAME chain (compressed), then A/AAAA records;
    NODATA with the zone's SOA when the name has no address of that type; NXDOMAIN when
    ``entry`` is None."""
    question = qname(qry_name) + struct.pack(">HH", qtype, 1)
    answers = []
    authority = b""
    rcode = 0
    if entry is None:
        rcode = 3
        authority = _soa(SEARCH_DOMAIN, 300)
    else:
        owner = 0xC00C
        pos = 12 + len(question)
        ttl = entry.ttl
        for cname in entry.chain:
            rdata = qname(cname)
            answers.append(_RR.pack(owner, 5, 1, ttl, len(rdata)) + rdata)
            owner = 0xC000 | (pos + 12)
            pos += 12 + len(rdata)
        addrs = entry.v4 if qtype == 1 else entry.v6
        width = 4 if qtype == 1 else 16
        for a in rng.sample(addrs, len(addrs)):
            packed = bytes(map(int, a.split("."))) if width == 4 else _v6(a)
            answers.append(_RR.pack(owner, qtype, 1, min(ttl, 300), width) + packed)
        if not addrs:
            zone = ".".join((entry.chain[-1] if entry.chain else entry.name).split(".")[-2:])
            authority = _soa(zone, 900)
    head = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(answers),
                       1 if authority else 0, 1 if edns else 0)
    return head + question + b"".join(answers) + authority + (_OPT if edns else b"")


def _v6(addr: str) -> bytes:
    return ipaddress.IPv6Address(addr).packed


class Dns:
    """One resolver conversation: A, AAAA or both from one socket (as glibc does), a few
    search-domain NXDOMAINs; the LAN resolver answers from cache or after a recursion."""

    def __init__(self, ctx: Context, rng) -> None:
        self.ctx, self.rng = ctx, rng
        self.entry: Name | None = rng.choices(NAMES, weights=WEIGHTS)[0]
        self.name = self.entry.name
        r = rng.random()
        if r < 0.05:
            self.name = f"{self.name}.{SEARCH_DOMAIN}"
            self.entry = None
            self.qtypes = (1,)
        elif r < 0.45:
            self.qtypes = (1,)
        elif r < 0.55:
            self.qtypes = (28,)
        else:
            self.qtypes = (1, 28)
        self.npkts = 2 * len(self.qtypes)

    def run(self, start: int) -> Iterator[Packet]:
        ctx, rng = self.ctx, self.rng
        client = ctx.host(rng)
        if rng.random() < 0.8:
            udp = Udp(rng, client, rng.randint(32768, 60999), ctx.resolver, 53,
                      server_ttl=64, server_mac=ctx.resolver_mac)
            latency = (rng.randint(150, 900) if rng.random() < 0.7
                       else rng.randint(4_000, 80_000))
        else:
            udp = Udp(rng, client, rng.randint(32768, 60999), rng.choice(PUBLIC_RESOLVERS),
                      53, server_ttl=rng.choice((55, 57, 59, 121)))
            latency = rng.randint(6_000, 40_000)
        edns = rng.random() < 0.5
        t = start
        pending = []
        for qtype in self.qtypes:
            qid = rng.getrandbits(16)
            yield t, udp.up(t, dns_query(qid, self.name, qtype, edns)), None
            pending.append((t + latency + rng.randint(0, 400), qid, qtype))
            t += rng.randint(15, 120)
        for ts, qid, qtype in sorted(pending):
            resp = dns_response(qid, self.name, qtype, edns, self.entry, rng)
            yield ts, udp.down(ts, resp), None


def resolve(ctx: Context, rng, client: str, name: str, addr: str,
            t: int) -> list[tuple[int, bytes]]:
    """A query for ``name`` from ``client`` to the LAN resolver answered with ``addr``."""
    udp = Udp(rng, client, rng.randint(32768, 60999), ctx.resolver, 53, server_ttl=64,
              server_mac=ctx.resolver_mac)
    qid = rng.getrandbits(16)
    entry = Name(name, (), "pool", (addr,), (), 300)
    t2 = t + rng.randint(3_000, 60_000)
    return [(t, udp.up(t, dns_query(qid, name, 1, False))),
            (t2, udp.down(t2, dns_response(qid, name, 1, False, entry, rng)))]


# --- QUIC (HTTP/3) -------------------------------------------------------------------------

def _varint2(n: int) -> bytes:
    return struct.pack(">H", 0x4000 | n)


class Quic:
    """An HTTP/3 connection as Chrome makes it: 1250-byte Initial (zero-length client
    connection id), coalesced server Initial+Handshake, then 1-RTT short-header packets
    with the response and the client's ACK-only packets."""

    def __init__(self, ctx: Context, rng) -> None:
        self.ctx, self.rng = ctx, rng
        self.name: Name = rng.choice(QUIC_NAMES)
        self.server = rng.choice(self.name.v4)
        self.size = lognormal(rng, 25_000, 1.6, 300, 15_000_000)
        self.rate = lognormal(rng, 30e6, 0.9, 1e6, 300e6)
        self.close = rng.random() < 0.5
        nresp = self.size // 1232 + 1
        self.npkts = 1 + 2 + 1 + 1 + nresp + (nresp + 1) // 2 + (1 if self.close else 0)

    def run(self, start: int) -> Iterator[Packet]:
        ctx, rng = self.ctx, self.rng
        rb, rnd = rng.randbytes, rng.random
        udp = Udp(rng, ctx.host(rng), rng.randint(32768, 60999), self.server, 443,
                  server_ttl=server_ttl(rng))
        rtt = rng.randint(3_000, 100_000)
        dcid, scid = rb(8), rb(8)
        t = start
        initial = (bytes([0xC0 | rng.getrandbits(4)]) + b"\x00\x00\x00\x01\x08" + dcid
                   + b"\x00\x00" + _varint2(1250 - 18) + rb(1250 - 18))
        yield t, udp.up(t, initial), None
        t += rtt + rng.randint(200, 3_000)
        hs = (bytes([0xC0 | rng.getrandbits(4)]) + b"\x00\x00\x00\x01\x00\x08" + scid
              + b"\x00" + _varint2(130) + rb(130)
              + bytes([0xE0 | rng.getrandbits(4)]) + b"\x00\x00\x00\x01\x00\x08" + scid
              + _varint2(1200 - 166 - 17) + rb(1200 - 166 - 17))
        yield t, udp.down(t, hs), None
        t += 40
        yield t, udp.down(t, bytes([0xE0 | rng.getrandbits(4)]) + b"\x00\x00\x00\x01\x00\x08"
                          + scid + _varint2(900) + rb(900)), None
        t += rng.randint(500, 4_000)
        fin = (bytes([0xC0 | rng.getrandbits(4)]) + b"\x00\x00\x00\x01\x08" + scid + b"\x00\x00"
               + _varint2(1250 - 18) + rb(1250 - 18))
        yield t, udp.up(t, fin), None
        t += 150
        yield t, udp.up(t, bytes([0x40 | rng.getrandbits(6)]) + scid
                        + rb(rng.randint(60, 420))), None
        t += rtt + rng.randint(500, 20_000)
        gap = (1252 + 42) * 8 * 1e6 / self.rate
        left = self.size
        i = 0
        while left > 0:
            n = min(left, 1232)
            left -= n
            yield t, udp.down(t, bytes([0x40 | rng.getrandbits(6)]) + rb(n + 19)), None
            i += 1
            if not i & 1 or left <= 0:
                yield t + 15, udp.up(t + 15, bytes([0x40 | rng.getrandbits(6)]) + scid
                                     + rb(rng.randint(22, 34))), None
            t += int(gap * (0.75 + 0.5 * rnd())) + 20
        if self.close:
            t += rng.randint(1_000_000, 30_000_000)
            yield t, udp.up(t, bytes([0x40 | rng.getrandbits(6)]) + scid + rb(27)), None


# --- NTP -----------------------------------------------------------------------------------

_NTP_EPOCH = 2_208_988_800


def _ntp_ts(ts_us: int) -> bytes:
    sec, us = divmod(ts_us, 1_000_000)
    return struct.pack(">II", sec + _NTP_EPOCH, (us << 32) // 1_000_000)


class Ntp:
    """An SNTP/NTP client poll (mode 3) and the server's reply (mode 4)."""

    def __init__(self, ctx: Context, rng) -> None:
        self.ctx, self.rng = ctx, rng
        self.npkts = 2

    def run(self, start: int) -> Iterator[Packet]:
        ctx, rng = self.ctx, self.rng
        server = rng.choice(NTP_SERVERS)
        cport = 123 if rng.random() < 0.3 else rng.randint(32768, 60999)
        udp = Udp(rng, ctx.host(rng), cport, server, 123, server_ttl=rng.choice((54, 56, 57)))
        xmit = rng.randbytes(8)
        req = b"\x23" + b"\x00" * 39 + xmit
        yield start, udp.up(start, req), None
        rtt = rng.randint(2_000, 60_000)
        recv = start + rtt // 2
        resp = (b"\x24" + bytes([rng.choice((1, 2, 2, 3)), 3, 0xE9])
                + struct.pack(">II", rng.randint(0, 4000), rng.randint(10, 900))
                + rng.randbytes(4) + _ntp_ts(start - rng.randint(1, 900) * 1_000_000)
                + xmit + _ntp_ts(recv) + _ntp_ts(recv + rng.randint(5, 60)))
        yield start + rtt, udp.down(start + rtt, resp), None


#: class -> share of the background packets (mixed variant)
BACKGROUND: tuple[tuple[type, float], ...] = (
    (HttpDownload, 0.36),
    (Https, 0.41),
    (Quic, 0.12),
    (Dns, 0.10),
    (Ntp, 0.01),
)
