"""Idle TLS connections kept alive: a page or an app loads, then the socket sits open.

Assumptions: one to three request/answer exchanges (an API call, a page's resources), then
nothing but keep-alives until the server's idle timeout (60-600 s; nginx 75 s, ALBs 60 s,
CDNs longer) closes it or the client does:

* TCP keep-alive probes every 45 s (Chromium's socket option) or 15-75 s (app settings);
* or HTTP/2 PING frames (17 bytes, answered) every 30-60 s, as browsers and gRPC-web
  clients send on idle h2 connections;
* or both sides silent (a socket nobody uses) until the timeout.

Tiny periodic exchanges on a long-lived TLS connection with no payload to speak of: the
"a session that only keeps itself alive" end of the spectrum a pool connection between
jobs also sits on.
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

from detector.synth.corpus.engine import Script, Stream, play
from detector.synth.corpus.flow import Env, Flow, S, draw_loss, draw_rtt
from detector.synth.corpus.negatives.base import LongLived, flows_for, size
from detector.synth.corpus.net import Host, any_server
from detector.synth.corpus.wire import Record

SITES = (
    ("www.google.com", "gcp"),
    ("outlook.office365.com", "azure"),
    ("github.com", "azure"),
    ("api.spotify.com", "gcp"),
    ("www.reddit.com", "aws"),
    ("cdn.jsdelivr.net", "cloudflare"),
    ("teams.microsoft.com", "azure"),
    ("slack.com", "aws"),
)


class IdleTls(LongLived):
    kind = "tls-idle-keepalive"
    close_weights = (0.25, 0.7, 0.05)

    mode = "tcp"  # set by plan(): "tcp" probes, "h2" pings, "silent"

    def prepare(self, rng: Random) -> None:
        self.every = 45.0 if rng.random() < 0.5 else float(rng.randint(15, 75))
        if self.mode == "h2":
            self.every = float(rng.choice((30, 45, 60)))
        self.keepalive = 0.0 if self.mode == "silent" else self.every

    def hello(self, rng: Random, t: int) -> Script:
        out: Script = []
        for _ in range(rng.randint(1, 3)):
            out += [("c", rng.randint(200, 900)), ("s", size(rng, 4000, 1.4, 100, 150_000))]
        return out

    def streams(self, rng: Random) -> list[Stream]:
        if self.mode == "h2":
            return [
                Stream(
                    lambda: self.every * rng.uniform(0.99, 1.01), lambda ts: [("c", 17), ("s", 17)]
                )
            ]
        return []

    def body(self, rng: Random) -> Iterator[Record]:
        if self.mode != "tcp":
            yield from super().body(rng)
            return
        conn = self.tcp(rng, draw_rtt(rng), draw_loss(rng))
        tls = self.tls(rng, rng.choice(self.templates), self.name or None)
        self.prepare(rng)
        t = self.first_ts(rng)
        if not self.mid:
            t = conn.open(t)
            t = tls.handshake(conn, t)
            t = play(conn, tls, rng, t + rng.randint(100, 3_000), self.hello(rng, t))
            yield from conn.flush()
        while True:  # probes from the client's keep-alive timer
            t += int(self.every * S)
            if t >= self.stop:
                break
            conn.probe(t, conn.c)
            yield from conn.flush()
        self.close(conn, self.stop, rng, self.close_weights)
        yield from conn.finish()


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    server: tuple[str, str] | str = rng.choice(SITES) if rng.random() < 0.7 else any_server(rng)
    dur = int(rng.uniform(60, 600) * S) if rng.random() < 0.6 else None
    mode = rng.choice(("tcp", "tcp", "h2", "silent"))
    return flows_for(
        IdleTls,
        env,
        host,
        rng,
        start,
        server=server,
        port=443,
        tls=True,
        nat=nat,
        duration=dur,
        mode=mode,
    )
