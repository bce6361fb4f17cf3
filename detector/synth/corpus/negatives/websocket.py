"""WebSockets that are not mining: notification channels, tickers, chat (RFC 6455).

Assumptions:

* **Push** (``push-websocket``: Slack/Discord gateways, Pusher, Firebase-style channels):
  the client heartbeats on a fixed interval (Discord 41.25 s, Pusher and Slack 30 s, others
  25-60 s) and the server acknowledges; the server dispatches events as a Poisson process
  (mean 20-300 s) of log-normal size (median 600 bytes).
* **Ticker** (``ticker-websocket``: exchange prices, sports scores, monitoring dashboards):
  the server pushes a snapshot every 1, 2, 5, 10, 15, 30 or 60 s whose size barely changes
  (+-5 %: the same fields, new numbers) - the rhythm closest to a pool's job pushes; the
  client pings every 20-60 s.
* **Chat** (``chat-websocket``): both sides send Poisson bursts (client mean 30-180 s,
  server 20-120 s), typing indicators before client messages, heartbeats every 30 s.
* Over TLS on 443 (90 %; browsers', Node's, Python's stacks) or cleartext on 80/8080. The
  opening is the HTTP upgrade and its 101; client frames are masked.
"""

from __future__ import annotations

import json
from random import Random

from detector.synth.benign.websocket import frame
from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.negatives.base import LongLived, flows_for, periodic, poisson, size
from detector.synth.corpus.net import Host, any_server
from detector.synth.dialects.browser import BROWSERS, upgrade_request, upgrade_response

SERVICES = {
    "push-websocket": (
        ("gateway.discord.gg", "cloudflare"),
        ("wss-primary.slack.com", "aws"),
        ("ws-eu.pusher.com", "aws"),
        ("s-usc1b-nss-2100.firebaseio.com", "gcp"),
        ("notify.bugsnag.com", "aws"),
        ("realtime.ably.io", "aws"),
    ),
    "ticker-websocket": (
        ("stream.binance.com", "aws"),
        ("ws-feed.exchange.coinbase.com", "aws"),
        ("ws.kraken.com", "cloudflare"),
        ("stream.data.alpaca.markets", "gcp"),
        ("live.scores.example", "digitalocean"),
        ("grafana.ops.example", "hetzner"),
    ),
    "chat-websocket": (
        ("chat.zulip.example", "digitalocean"),
        ("rocket.team.example", "hetzner"),
        ("web.whatsapp.com", "azure"),
        ("im.mattermost.example", "ovh"),
    ),
}


class WebSocket(LongLived):
    templates = ("curl-h2", "node-tls", "python-ssl", "curl-http11", "java-jsse")
    close_weights = (0.5, 0.3, 0.2)
    kind = "push-websocket"

    def _c(self, rng: Random, payload: bytes) -> bytes:
        return frame(payload, rng.randbytes(4))

    def _s(self, payload: bytes) -> bytes:
        return frame(payload[:65000], None)

    def _json(self, rng: Random, n: int) -> bytes:
        doc = {
            "t": rng.choice(("MESSAGE_CREATE", "PRESENCE_UPDATE", "event", "update")),
            "d": rng.randbytes(max(1, (n - 40) // 2)).hex(),
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def prepare(self, rng: Random) -> None:
        self.hb = float(rng.choice((25, 30, 30, 41.25, 45, 60)))
        self.keepalive = self.hb
        self.path = rng.choice(
            ("/", "/ws", "/socket", "/?v=10&encoding=json", "/app/key?protocol=7")
        )

    def hello(self, rng: Random, t: int) -> Script:
        key = rng.randbytes(16).hex()[:22] + "=="
        host = self.name or self.server
        origin = f"https://{host.split('.', 1)[-1]}"
        return [
            ("c", upgrade_request(host, self.path, origin, key, rng.choice(BROWSERS))),
            (
                "s",
                upgrade_response(
                    rng.randbytes(20).hex()[:27] + "=", rng.choice(("nginx", "envoy", "cloudflare"))
                ),
            ),
            ("s", self._s(self._json(rng, size(rng, 300, 0.5, 60, 2000)))),
        ]

    def streams(self, rng: Random) -> list[Stream]:
        hb = self._c(rng, b'{"op":1,"d":' + str(rng.getrandbits(20)).encode() + b"}")
        ack = self._s(b'{"op":11}')
        out = [Stream(periodic(rng, self.hb, 0.02), lambda ts: [("c", hb), ("s", ack)])]
        mean = rng.uniform(20, 300)
        out.append(
            Stream(
                poisson(rng, mean),
                lambda ts: [("s", self._s(self._json(rng, size(rng, 600, 1.0, 60, 40_000))))],
            )
        )
        return out


class Ticker(WebSocket):
    kind = "ticker-websocket"

    def prepare(self, rng: Random) -> None:
        super().prepare(rng)
        self.every = float(rng.choice((1, 2, 5, 10, 15, 30, 60)))
        self.snap = size(rng, 260, 0.5, 80, 1500)
        self.job_interval = 0.0

    def streams(self, rng: Random) -> list[Stream]:
        ping = self._c(rng, b'{"method":"ping"}')
        pong = self._s(b'{"result":"pong"}')
        every = float(rng.choice((20, 30, 45, 60)))
        self.keepalive = every

        def snapshot(ts: int) -> Script:
            n = int(self.snap * rng.uniform(0.95, 1.05))
            return [("s", self._s(self._json(rng, n)))]

        return [
            Stream(periodic(rng, self.every, 0.05), snapshot),
            Stream(periodic(rng, every, 0.02), lambda ts: [("c", ping), ("s", pong)], quiet=True),
        ]


class Chat(WebSocket):
    kind = "chat-websocket"

    def streams(self, rng: Random) -> list[Stream]:
        hb = self._c(rng, b'{"type":"ping"}')
        pong = self._s(b'{"type":"pong"}')
        up_mean, down_mean = rng.uniform(30, 180), rng.uniform(20, 120)

        def say(ts: int) -> Script:
            typing = self._c(
                rng, b'{"type":"typing","channel":"' + rng.randbytes(5).hex().encode() + b'"}'
            )
            msg = self._c(rng, self._json(rng, size(rng, 200, 0.8, 40, 4000)))
            return [
                ("c", typing),
                ("=", rng.randint(1, 20) * 1_000_000),
                ("c", msg),
                ("s", self._s(b'{"type":"ack","ok":true}')),
            ]

        return [
            Stream(periodic(rng, 30.0, 0.02), lambda ts: [("c", hb), ("s", pong)], quiet=True),
            Stream(poisson(rng, up_mean), say),
            Stream(
                poisson(rng, down_mean),
                lambda ts: [("s", self._s(self._json(rng, size(rng, 300, 0.9, 40, 8000))))],
            ),
        ]


CLASSES = {"push-websocket": WebSocket, "ticker-websocket": Ticker, "chat-websocket": Chat}


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    tls = rng.random() < 0.9
    port = 443 if tls else rng.choice((80, 8080))
    server: tuple[str, str] | str = (
        rng.choice(SERVICES[kind]) if rng.random() < 0.8 else any_server(rng)
    )
    return flows_for(
        CLASSES[kind], env, host, rng, start, server=server, port=port, tls=tls, nat=nat
    )
