"""What the long-lived hard negatives share: a TCP (or TLS) session driven by timed streams,
and the planning of one such flow (server, port, name, DNS lookup, duration).

Durations follow the miners' (log-normal minutes, median 14, under 55) and the same share of
sessions is already running when the capture starts, so neither length nor a missing
handshake tells a miner from a look-alike; what differs is what each program sends, when,
and how big.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from random import Random

from detector.synth.corpus.dnsflow import DnsFlow
from detector.synth.corpus.engine import Script, Stream, drive, play
from detector.synth.corpus.flow import Env, Flow, S, draw_loss, draw_rtt, long_duration
from detector.synth.corpus.net import Host, server_ip
from detector.synth.corpus.wire import Record

#: recorded handshakes by the library a kind of program uses
OPENSSL = ("openssl-s_client-tls13", "openssl-s_client-tls12")
ANY_TLS = (
    "openssl-s_client-tls13",
    "openssl-s_client-tls12",
    "curl-h2",
    "curl-http11",
    "wget-gnutls",
    "python-ssl",
    "node-tls",
    "java-jsse",
)


class LongLived(Flow):
    """A benign program's long-lived session: open (TCP, TLS, its hello), then its streams."""

    templates: tuple[str, ...] = ANY_TLS
    close_weights = (0.45, 0.4, 0.15)
    rtt_median = 45_000
    pace = 25  # us between full segments of a long write (set from a flow's rate)

    def __init__(
        self,
        env: Env,
        host: Host,
        seed: int,
        start: int,
        end: int,
        server: str,
        sport: int,
        *,
        tls: bool,
        name: str = "",
        nat: bool = False,
    ) -> None:
        super().__init__(env, host, seed, start, end, server, sport, nat=nat)
        self.tls_on = tls
        self.name = name
        self.server_name = name

    def prepare(self, rng: Random) -> None:
        """Per-flow parameters, drawn before anything is sent."""

    def hello(self, rng: Random, t: int) -> Script:
        return []

    def streams(self, rng: Random) -> list[Stream]:
        raise NotImplementedError

    def body(self, rng: Random) -> Iterator[Record]:
        conn = self.tcp(rng, draw_rtt(rng, self.rtt_median), draw_loss(rng))
        tls = self.tls(rng, rng.choice(self.templates), self.name or None) if self.tls_on else None
        self.prepare(rng)
        t = self.first_ts(rng)
        if not self.mid:
            t = conn.open(t)
            if tls is not None:
                t = tls.handshake(conn, t)
            t = play(
                conn, tls, rng, t + rng.randint(100, 3_000), self.hello(rng, t), pace=self.pace
            )
            yield from conn.flush()
        end = yield from drive(self, rng, conn, tls, t, self.streams(rng), self.pace)
        if tls is not None and self.closes and rng.random() < 0.6:
            conn.send(max(end, self.stop - 2_000), conn.c, tls.close_notify())
        self.close(conn, max(end, self.stop), rng, self.close_weights)
        yield from conn.finish()


def periodic(rng: Random, every: float, jitter: float = 0.03) -> Callable[[], float]:
    """A timer that fires every ``every`` s, jittered by +-``jitter`` of it (device firmware
    and heartbeat loops are this regular)."""
    return lambda: every * rng.uniform(1 - jitter, 1 + jitter)


def pace_of(rate_bps: float) -> int:
    """Microseconds between full segments at ``rate_bps``."""
    return max(12, int((1448 + 66) * 8 * 1e6 / rate_bps))


def poisson(rng: Random, mean: float) -> Callable[[], float]:
    return lambda: max(0.05, rng.expovariate(1.0 / mean))


def size(rng: Random, median: float, sigma: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, rng.lognormvariate(math.log(median), sigma))))


def flows_for(
    cls: type[LongLived],
    env: Env,
    host: Host,
    rng: Random,
    start: int,
    *,
    server: tuple[str, str] | str,
    port: int,
    tls: bool,
    nat: bool,
    duration: int | None = None,
    dns_p: float = 0.5,
    **extra: object,
) -> list[Flow]:
    """One long-lived flow of ``cls`` to ``server`` ((name, provider) or an address), with a
    DNS lookup before it when it connects by name."""
    name = ""
    if isinstance(server, tuple):
        name, provider = server
        addr = server_ip(f"svc:{name}", provider)
    else:
        addr = server
    dur = duration if duration is not None else long_duration(rng)
    if start + dur < env.t0 + 120 * S:  # a session that began before the capture lasts into it
        dur = env.t0 - start + int(rng.uniform(120, 900) * S)
    flow = cls(
        env, host, rng.getrandbits(63), start, start + dur, addr, port, tls=tls, name=name, nat=nat
    )
    for k, v in extra.items():
        setattr(flow, k, v)
    flow.cport = host.port(rng)
    out: list[Flow] = []
    if name and start >= env.t0 + S and rng.random() < dns_p:
        out.append(
            DnsFlow(
                env,
                host,
                rng.getrandbits(63),
                start - rng.randint(5_000, 150_000),
                name,
                addr,
                nat=nat,
                pool=False,
            )
        )
    out.append(flow)
    return out
