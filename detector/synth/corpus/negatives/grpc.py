"""gRPC server streams over HTTP/2 and TLS: watches, subscriptions, streaming pulls.

Assumptions (RFC 9113 framing, gRPC over HTTP/2):

* Opening: the client preface (24 bytes) with SETTINGS and a WINDOW_UPDATE, the server's
  SETTINGS and both ACKs; the call's HEADERS (100-300 bytes, HPACK) and its request DATA
  (9-byte frame header, 5-byte gRPC prefix, the message); the response HEADERS.
* The server streams messages (DATA frames, log-normal 300-5,000 bytes) either as events
  (Poisson, mean 2-120 s: Kubernetes/etcd watches, Pub/Sub) or on a timer (10-60 s:
  metric and config pushes); the client returns WINDOW_UPDATEs now and then.
* Keep-alive: the client PINGs (17-byte frame) every 10, 20, 30, 60 or 300 s
  (``GRPC_ARG_KEEPALIVE_TIME_MS`` as deployments set it) and the server ACKs.
* Always TLS with ALPN h2 (curl/Node/Java/Python stacks) on 443, 8443 or 50051.
"""

from __future__ import annotations

from random import Random

from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.negatives.base import LongLived, flows_for, periodic, poisson, size
from detector.synth.corpus.net import Host, any_server

SERVICES = (
    ("pubsub.googleapis.com", "gcp"),
    ("k8s-api.cluster.example", "aws"),
    ("etcd.infra.example", "hetzner"),
    ("collector.otel.example", "gcp"),
    ("config.mesh.example", "azure"),
    ("firestore.googleapis.com", "gcp"),
)


class Grpc(LongLived):
    kind = "grpc-stream"
    templates = ("curl-h2", "node-tls", "java-jsse", "python-ssl")
    close_weights = (0.4, 0.45, 0.15)

    def prepare(self, rng: Random) -> None:
        self.ping = float(rng.choice((10, 20, 30, 60, 300)))
        self.keepalive = self.ping
        self.timer = rng.random() < 0.35
        self.every = float(rng.choice((10, 15, 30, 60)))
        self.mean = rng.uniform(2, 120)
        self.msg = size(rng, 900, 0.9, 40, 5000)

    def hello(self, rng: Random, t: int) -> Script:
        # inside TLS only sizes show: the preface (24) + SETTINGS (9 + 12) + WINDOW_UPDATE (13)
        preface = 24 + 9 + 6 * rng.randint(2, 4) + 13
        headers = rng.randint(100, 300)
        req = rng.randint(20, 400)
        return [
            ("c", preface),
            ("s", 9 + 18 + 9),
            ("c", (9, 9 + headers + 9 + 5 + req)),
            ("s", 9 + rng.randint(40, 90)),
        ]

    def streams(self, rng: Random) -> list[Stream]:
        def push(ts: int) -> Script:
            n = (
                int(self.msg * rng.uniform(0.6, 1.6))
                if not self.timer
                else int(self.msg * rng.uniform(0.95, 1.05))
            )
            out: Script = [("s", 9 + 5 + n)]
            if rng.random() < 0.2:
                out.append(("c", 13))  # WINDOW_UPDATE
            return out

        gap = periodic(rng, self.every, 0.02) if self.timer else poisson(rng, self.mean)
        return [
            Stream(gap, push),
            Stream(periodic(rng, self.ping, 0.01), lambda ts: [("c", 17), ("s", 17)], quiet=True),
        ]


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    port = rng.choice((443, 443, 8443, 50051))
    server: tuple[str, str] | str = rng.choice(SERVICES) if rng.random() < 0.7 else any_server(rng)
    return flows_for(Grpc, env, host, rng, start, server=server, port=port, tls=True, nat=nat)
