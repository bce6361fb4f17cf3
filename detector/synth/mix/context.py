"""What every flow of the streamed traffic mix shares, and the flows' common helpers.

A flow class samples its whole plan in ``__init__`` from its own ``random.Random`` (so
``npkts``, the expected packet count, is known before any packet is built: the scheduler
uses it to set arrival rates) and ``run(start)`` is a generator of ``(ts_us,
pcap_record, mark)`` in time order. ``mark`` is None except on a miner's first mining
message of each connection, which tells the writer which miner flows made it into the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from random import Random

from detector.synth.benign.tls import Template
from detector.synth.links import mac_for

#: (ts_us, pcap record or None, mark): a None record asks the writer to start a flow.
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

    def host(self, rng: Random) -> str:
        return rng.choices(self.hosts, cum_weights=self.host_cum)[0]

    def template(self, rng: Random) -> Template:
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


def lognormal(rng: Random, median: float, sigma: float, lo: float, hi: float) -> int:
    return int(min(hi, max(lo, rng.lognormvariate(math.log(median), sigma))))


def server_ttl(rng: Random) -> int:
    """Remaining TTL of a server's packets at the tap (Linux 64 or Windows 128 minus hops)."""
    return rng.choice((50, 52, 53, 54, 55, 56, 57, 58, 59, 116, 118, 119))
