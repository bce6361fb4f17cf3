"""DNS of the streamed mix: hosts resolving names through the LAN resolver or a public one.

Answers come from :mod:`detector.synth.mix.names` (CNAME chains, operators' addresses), so a
lookup and the HTTPS or QUIC flow that follows agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

from detector.synth.benign import dns
from detector.synth.mix.context import SEARCH_DOMAIN, Context, Packet
from detector.synth.mix.names import NAMES, PUBLIC_RESOLVERS, WEIGHTS, Name
from detector.synth.udp import Udp


def response(qid: int, name: str, qtype: int, edns: bool, entry: Name | None, rng: Random) -> bytes:
    """A recursive resolver's answer for ``entry`` (addresses in random order, A/AAAA TTL
    capped at 300 s); NXDOMAIN in the search domain when ``entry`` is None."""
    if entry is None:
        return dns.nxdomain(qid, name, qtype, SEARCH_DOMAIN, edns)
    addrs = entry.v4 if qtype == dns.A else entry.v6
    return dns.answer(
        qid,
        name,
        qtype,
        rng.sample(addrs, len(addrs)),
        chain=entry.chain,
        ttl=entry.ttl,
        addr_ttl=min(entry.ttl, 300),
        edns=edns,
    )


class Dns:
    """One resolver conversation: A, AAAA or both from one socket (as glibc does), a few
    search-domain NXDOMAINs; the LAN resolver answers from cache or after a recursion."""

    def __init__(self, ctx: Context, rng: Random) -> None:
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
            udp = Udp(
                rng,
                client,
                rng.randint(32768, 60999),
                ctx.resolver,
                53,
                server_ttl=64,
                server_mac=ctx.resolver_mac,
            )
            latency = rng.randint(150, 900) if rng.random() < 0.7 else rng.randint(4_000, 80_000)
        else:
            udp = Udp(
                rng,
                client,
                rng.randint(32768, 60999),
                rng.choice(PUBLIC_RESOLVERS),
                53,
                server_ttl=rng.choice((55, 57, 59, 121)),
            )
            latency = rng.randint(6_000, 40_000)
        edns = rng.random() < 0.5
        t = start
        pending = []
        for qtype in self.qtypes:
            qid = rng.getrandbits(16)
            yield t, udp.up(t, dns.query(qid, self.name, qtype, edns)), None
            pending.append((t + latency + rng.randint(0, 400), qid, qtype))
            t += rng.randint(15, 120)
        for ts, qid, qtype in sorted(pending):
            resp = response(qid, self.name, qtype, edns, self.entry, rng)
            yield ts, udp.down(ts, resp), None


def resolve(
    ctx: Context, rng: Random, client: str, name: str, addr: str, t: int
) -> list[tuple[int, bytes]]:
    """A query for ``name`` from ``client`` to the LAN resolver answered with ``addr``."""
    udp = Udp(
        rng,
        client,
        rng.randint(32768, 60999),
        ctx.resolver,
        53,
        server_ttl=64,
        server_mac=ctx.resolver_mac,
    )
    qid = rng.getrandbits(16)
    entry = Name(name, (), "pool", (addr,), (), 300)
    t2 = t + rng.randint(3_000, 60_000)
    return [
        (t, udp.up(t, dns.query(qid, name, 1, False))),
        (t2, udp.down(t2, response(qid, name, 1, False, entry, rng))),
    ]
