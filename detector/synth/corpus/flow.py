"""What every flow of a corpus capture shares: its capture's context, its label row, its clock.

A :class:`Flow` is planned cheaply (addresses, times, parameters: :mod:`.plan` makes
thousands per capture) and played by :meth:`Flow.run`, a generator of ``(ts_us, record)``
in time order that the capture's writer merges with every other flow. It stops at its
planned end (closing the connection the way its program does) or at the end of the
capture (no close: the capture ends mid-session). A flow whose session began before the
capture started opens mid-session: no handshake, no login, sequence numbers from nowhere.

The label row (:meth:`Flow.row`, flows.csv) and the detail row (:meth:`Flow.info`,
flowinfo.csv) are written after the flow has played, so they also say what the capture
holds of it: first packet, packets, job pushes, shares, duration, how it ended.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from random import Random

from detector.synth.benign.tls import Template
from detector.synth.corpus.net import Host
from detector.synth.corpus.tlsrec import Tls
from detector.synth.corpus.wire import Conn, Record
from detector.synth.links import GATEWAY_MAC, mac_for
from detector.synth.udp import Udp

S = 1_000_000  # microseconds per second
NOISE_SIZE = 4 << 20

#: flows.csv columns, in order: the label of a flow and nothing else (``minewatch eval``
#: reads capture, the 5-tuple, class, dialect and tls; the rest is for models and analysts)
COLUMNS = (
    "capture",
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "proto",
    "class",
    "dialect",
    "tls",
    "coin",
    "pool",
    "job_interval",
    "share_interval",
    "start_offset",
    "kind",
)
#: flowinfo.csv: what the capture holds of each flow, beside its label - the same key
#: (capture and 5-tuple), then the facts a test or a model's error analysis wants (how the
#: flow began and ended, its TLS, how many packets, jobs and shares the capture has of it)
INFO_COLUMNS = (
    "capture",
    "client_ip",
    "client_port",
    "server_ip",
    "server_port",
    "proto",
    "tls_version",
    "sni",
    "server_name",
    "keepalive",
    "duration",
    "midsession",
    "end",
    "jobs",
    "shares",
    "packets",
    "rtt_ms",
    "loss",
    "nat",
)


class Env:
    """One capture's shared context: its name and window, random bytes, TLS templates."""

    def __init__(
        self,
        capture: str,
        t0: int,
        end: int,
        seed: str,
        templates: list[Template],
        resolver: str,
    ) -> None:
        self.capture = capture
        self.t0 = t0
        self.end = end
        self.pool = Random(f"{seed}:noise").randbytes(NOISE_SIZE)
        self.templates = {t.label.split("-", 1)[1]: t for t in templates}
        self.resolver = resolver

    def noise(self, rng: Random) -> Callable[[int], bytes]:
        """Pseudo-random bytes (ciphertext, compressed content) at offsets from ``rng``."""
        pool = self.pool
        top = NOISE_SIZE - 65536

        def take(n: int) -> bytes:
            if n > 65536:
                return b"".join(take(min(65536, n - k)) for k in range(0, n, 65536))
            o = rng.randrange(top)
            return pool[o : o + n]

        return take

    def template(self, key: str) -> Template:
        """A recorded handshake by the start of its label after the number ("openssl-s_client-
        tls13", "curl-h2", "python-ssl"...)."""
        for label, tpl in self.templates.items():
            if label.startswith(key):
                return tpl
        raise KeyError(key)


class Flow:
    """One labelled flow. Subclasses set the label attributes and write :meth:`body`."""

    miner = False
    proto = "tcp"
    kind = ""
    dialect = ""

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
        nat: bool = False,
    ) -> None:
        self.env = env
        self.host = host
        self.seed = seed
        self.mid = start < env.t0
        self.start = start
        self.end = end  # planned end (may lie beyond the capture)
        self.stop = min(end, env.end)
        self.closes = end <= env.end
        self.server = server
        self.sport = sport
        self.nat = nat
        self.cport = 0
        self.tls_version = ""
        self.sni = ""
        self.server_name = ""
        self.coin = ""
        self.pool = ""
        self.job_interval = 0.0
        self.share_interval = 0.0
        self.keepalive = 0.0
        self.ended = "capture-end"
        self.jobs = 0
        self.shares = 0
        self.packets = 0
        self.first = 0
        self.last = 0
        self.rtt = 0
        self.loss = 0.0

    # --- playing ----------------------------------------------------------------------------

    def first_ts(self, rng: Random) -> int:
        """When the flow's first packet is seen: its start, or shortly after the capture's
        start for a session already running."""
        if self.mid:
            return self.env.t0 + rng.randint(0, 20 * S)
        return self.start

    def run(self) -> Iterator[Record]:
        return self.body(Random(self.seed))

    def body(self, rng: Random) -> Iterator[Record]:
        raise NotImplementedError

    def tcp(self, rng: Random, rtt: int, loss: float = 0.0, server_ttl: int = 0) -> Conn:
        self.rtt, self.loss = rtt, loss
        return Conn(
            rng,
            self.host.ip,
            self.cport,
            self.server,
            self.sport,
            rtt=rtt,
            loss=loss,
            client_ttl=self.host.ttl,
            server_ttl=server_ttl or rng.choice(SERVER_TTLS),
            client_win=self.host.win,
            server_win=rng.choice((235, 501, 509, 1040, 2052)),
        )

    def udp(self, rng: Random, rtt: int, server_ttl: int = 0, local: bool = False) -> Udp:
        """The flow's datagrams (``local``: the server is on the LAN, reached directly)."""
        self.rtt = rtt
        return Udp(
            rng,
            self.host.ip,
            self.cport,
            self.server,
            self.sport,
            client_ttl=self.host.ttl,
            server_ttl=server_ttl or rng.choice(SERVER_TTLS),
            server_mac=mac_for(self.server) if local else GATEWAY_MAC,
        )

    def tls(self, rng: Random, template: str, sni: str | None) -> Tls:
        tls = Tls(self.env.template(template), sni, rng, self.env.noise(rng))
        self.tls_version = tls.version
        self.sni = tls.sni or ""
        return tls

    def close(self, conn: Conn, t: int, rng: Random, weights: tuple[float, float, float]) -> None:
        """End the connection at ``t`` if the flow ends inside the capture: client FIN,
        server FIN or a reset, by ``weights``."""
        if not self.closes or t > self.env.end:
            return
        how = rng.choices(("fin-client", "fin-server", "rst"), weights)[0]
        if how == "rst":
            side = conn.c if rng.random() < 0.5 else conn.s
            conn.close(t, side, rst=True)
            self.ended = "rst-client" if side is conn.c else "rst-server"
        else:
            conn.close(t, conn.c if how == "fin-client" else conn.s)
            self.ended = how

    # --- the label --------------------------------------------------------------------------

    def key(self) -> dict[str, object]:
        return {
            "capture": self.env.capture,
            "client_ip": self.host.ip,
            "client_port": self.cport,
            "server_ip": self.server,
            "server_port": self.sport,
            "proto": self.proto,
        }

    def row(self, start_offset: float) -> dict[str, object]:
        """The flow's label (:data:`COLUMNS`); ``start_offset`` in seconds from the capture's
        first packet, which only the writer knows."""
        return {
            **self.key(),
            "class": "miner" if self.miner else "benign",
            "dialect": self.dialect,
            "tls": int(bool(self.tls_version)),
            "coin": self.coin,
            "pool": self.pool,
            "job_interval": _num(self.job_interval),
            "share_interval": _num(self.share_interval),
            "start_offset": f"{start_offset:.6f}",
            "kind": self.kind,
        }

    def info(self) -> dict[str, object]:
        """What the capture holds of the flow (:data:`INFO_COLUMNS`)."""
        return {
            **self.key(),
            "tls_version": self.tls_version,
            "sni": self.sni,
            "server_name": self.server_name,
            "keepalive": _num(self.keepalive),
            "duration": f"{(self.last - self.first) / S:.3f}",
            "midsession": int(self.mid),
            "end": self.ended,
            "jobs": self.jobs,
            "shares": self.shares,
            "packets": self.packets,
            "rtt_ms": f"{self.rtt / 1000:.1f}",
            "loss": f"{self.loss:.4f}",
            "nat": int(self.nat),
        }


def draw_rtt(rng: Random, median_us: float = 45_000) -> int:
    """A path's round-trip time at the tap: log-normal, 3-350 ms."""
    return int(min(350_000, max(3_000, rng.lognormvariate(math.log(median_us), 0.7))))


def draw_loss(rng: Random) -> float:
    """Segment loss of a path: none on three paths in four, else 0.05-3 % (log-uniform)."""
    if rng.random() < 0.75:
        return 0.0
    return math.exp(rng.uniform(math.log(0.0005), math.log(0.03)))


def long_duration(rng: Random, median_min: float = 14.0, floor_s: float = 180.0) -> int:
    """How long a long-lived connection lasts (us): log-normal minutes, under 55 minutes
    (minewatch's active timeout is an hour)."""
    m = rng.lognormvariate(math.log(median_min * 60), 0.6)
    return int(min(55 * 60, max(floor_s, m)) * S)


SERVER_TTLS = (44, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 113, 116, 118, 119, 238, 241)


def _num(x: float) -> str:
    return f"{x:.1f}" if x else ""
