"""DNS lookups of a corpus capture: the query before a connection to a name, and its answer.

A host resolves a name through the LAN's resolver (answered from its cache in under a
millisecond, or after a recursion of 5-80 ms) before it connects: for a pool, an MQTT
broker, an API. A/AAAA TTLs are the operators' (60-3600 s). Each lookup is one labelled
benign flow (kind ``dns``; ``dns-pool`` when the name is a pool's, so a model can be told
to leave them out or keep them).
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

from detector.synth.benign import dns
from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.net import Host
from detector.synth.corpus.wire import Record


class DnsFlow(Flow):
    proto = "udp"
    kind = "dns"

    def __init__(
        self,
        env: Env,
        host: Host,
        seed: int,
        start: int,
        name: str,
        addr: str,
        *,
        nat: bool = False,
        pool: bool = True,
    ) -> None:
        start = max(start, env.t0)
        super().__init__(env, host, seed, start, start + 1_000_000, env.resolver, 53, nat=nat)
        self.kind = "dns-pool" if pool else "dns"
        self.name = name
        self.addr = addr
        self.server_name = name
        self.cport = host.port(Random(seed))
        self.ended = ""

    def body(self, rng: Random) -> Iterator[Record]:
        udp = self.udp(rng, 0, server_ttl=64, local=True)
        edns = rng.random() < 0.6
        t = self.start
        qid = rng.getrandbits(16)
        yield t, udp.up(t, dns.query(qid, self.name, dns.A, edns))
        cached = rng.random() < 0.6
        t += rng.randint(150, 900) if cached else rng.randint(5_000, 80_000)
        self.rtt = t - self.start
        ttl = rng.choice((60, 120, 300, 600, 3600))
        yield t, udp.down(t, dns.answer(qid, self.name, dns.A, [self.addr], ttl=ttl, edns=edns))
