"""Polling: long polls, keep-alive REST polls and JSON-RPC polls of blockchain nodes.

Assumptions:

* **Long polling** (``https-longpoll``: Comet-style notification endpoints, Bayeux,
  message queues over HTTP): the client's GET (300-700 bytes) is held by the server until
  an event (Poisson, mean 30-600 s) or its timeout (20, 25, 30, 45, 55, 60 or 90 s), the
  answer (100-2,000 bytes, an empty one on timeout) comes back and the client asks again
  within 50-500 ms - a request/answer pair every timeout, like a miner's work poll.
* **Keep-alive polls** (``https-poll`` over TLS, ``http-poll`` in cleartext): a status or
  metrics endpoint asked every 5, 10, 15, 30, 60 or 120 s on one keep-alive connection,
  answers of nearly constant size (+-10 %) for a flow.
* **JSON-RPC polls** (``jsonrpc-poll``): wallets and dashboards watching a chain node -
  web3 clients asking ``eth_blockNumber``/``eth_getFilterChanges`` every 4-15 s on :8545 or
  a hosted endpoint, monitoring scripts asking bitcoind ``getblockchaininfo``/
  ``getmempoolinfo`` every 10-60 s on :8332 - cleartext JSON-RPC that is not getwork.
* A quarter of the polling services listen on the ports pools use (3333, 4444, 14444):
  internal APIs, dev servers and dashboards do.
"""

from __future__ import annotations

import json
from random import Random

from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.negatives.base import LongLived, flows_for, periodic, size
from detector.synth.corpus.net import Host, any_server
from detector.synth.http import http_date

AGENTS = (
    "okhttp/4.12.0",
    "python-requests/2.32.3",
    "Go-http-client/1.1",
    "axios/1.7.7",
    "curl/8.5.0",
    "Prometheus/2.53.0",
    "node-fetch/1.0",
)
APIS = (
    ("api.status.example", "aws"),
    ("push.notify.example", "gcp"),
    ("events.saas.example", "azure"),
    ("queue.ops.example", "hetzner"),
    ("api.github.com", "azure"),
    ("graph.microsoft.com", "azure"),
    ("updates.vendor.example", "digitalocean"),
)
ODD_PORTS = (3333, 4444, 14444)


def _get(host: str, path: str, agent: str, extra: str = "") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\n"
        f"Accept: application/json\r\n{extra}Connection: keep-alive\r\n\r\n"
    ).encode()


def _ok(rng: Random, ts: int, body: bytes, server: str) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nDate: {http_date(ts // 1_000_000)}\r\nServer: {server}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode() + body


def _body(rng: Random, n: int) -> bytes:
    doc = {"status": "ok", "items": rng.randbytes(max(1, (n - 30) // 2)).hex()}
    return json.dumps(doc, separators=(",", ":")).encode()


class LongPoll(LongLived):
    kind = "https-longpoll"
    close_weights = (0.5, 0.35, 0.15)

    def prepare(self, rng: Random) -> None:
        self.hold = float(rng.choice((20, 25, 30, 45, 55, 60, 90)))
        self.event_mean = rng.uniform(30, 600)
        self.agent = rng.choice(AGENTS)
        self.srv = rng.choice(("nginx", "envoy", "Apache", "gunicorn"))
        self.cursor = rng.getrandbits(40)
        self.job_interval = 0.0

    def streams(self, rng: Random) -> list[Stream]:
        host = self.name or self.server

        def ask(ts: int) -> Script:
            self.cursor += 1
            req = _get(
                host,
                f"/v1/poll?cursor={self.cursor}&timeout={int(self.hold)}",
                self.agent,
                "Authorization: Bearer " + rng.randbytes(24).hex() + "\r\n",
            )
            wait = rng.expovariate(1.0 / self.event_mean)
            if wait < self.hold:
                body = _body(rng, size(rng, 400, 0.9, 60, 2000))
            else:
                wait, body = self.hold, b'{"events":[]}'
            return [("c", req), ("=", int(wait * 1_000_000)), ("s", _ok(rng, ts, body, self.srv))]

        return [Stream(lambda: rng.uniform(0.05, 0.5), ask, first=0.1)]


class Poll(LongLived):
    kind = "https-poll"
    close_weights = (0.5, 0.35, 0.15)

    def prepare(self, rng: Random) -> None:
        self.every = float(rng.choice((5, 10, 15, 30, 60, 120)))
        self.resp = size(rng, 800, 1.0, 80, 3000)
        self.agent = rng.choice(AGENTS)
        self.path = rng.choice(
            ("/api/v1/status", "/metrics/summary", "/health", "/api/jobs?state=queued")
        )
        self.srv = rng.choice(("nginx", "envoy", "Apache", "uvicorn", "Kestrel"))

    def streams(self, rng: Random) -> list[Stream]:
        host = self.name or self.server
        req = _get(host, self.path, self.agent)

        def poll(ts: int) -> Script:
            body = _body(rng, int(self.resp * rng.uniform(0.9, 1.1)))
            return [("c", req), ("s", _ok(rng, ts, body, self.srv))]

        return [Stream(periodic(rng, self.every, 0.02), poll)]


class HttpPoll(Poll):
    kind = "http-poll"


class JsonRpcPoll(LongLived):
    kind = "jsonrpc-poll"

    def prepare(self, rng: Random) -> None:
        self.eth = self.sport != 8332
        self.every = rng.uniform(4, 15) if self.eth else float(rng.choice((10, 15, 30, 60)))
        self.rid = rng.randint(1, 1000)
        self.height = (
            rng.randint(21_000_000, 22_000_000) if self.eth else rng.randint(930_000, 931_000)
        )

    def _rpc(self, rng: Random, ts: int) -> Script:
        host = self.name or f"{self.server}:{self.sport}"
        self.rid += 1
        if self.eth:
            method = rng.choice(("eth_blockNumber", "eth_getFilterChanges", "eth_gasPrice"))
            params = [f"0x{rng.getrandbits(64):x}"] if method == "eth_getFilterChanges" else []
            req = {"jsonrpc": "2.0", "id": self.rid, "method": method, "params": params}
            result: object = hex(self.height) if method != "eth_getFilterChanges" else []
            ans = {"jsonrpc": "2.0", "id": self.rid, "result": result}
            head = "Content-Type: application/json\r\n"
        else:
            method = rng.choice(("getblockchaininfo", "getmempoolinfo", "getbestblockhash"))
            req = {"jsonrpc": "1.0", "id": "mon", "method": method, "params": []}
            ans = {
                "result": {
                    "blocks": self.height,
                    "headers": self.height,
                    "bestblockhash": rng.randbytes(32).hex(),
                },
                "error": None,
                "id": "mon",
            }
            head = (
                "Authorization: Basic "
                + rng.randbytes(18).hex()
                + "\r\nContent-Type: text/plain\r\n"
            )
        body = json.dumps(req).encode()
        post = (
            f"POST / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {rng.choice(AGENTS)}\r\n{head}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        return [
            ("c", post),
            ("s", _ok(rng, ts, json.dumps(ans).encode(), "geth" if self.eth else "bitcoind")),
        ]

    def streams(self, rng: Random) -> list[Stream]:
        return [Stream(periodic(rng, self.every, 0.05), lambda ts: self._rpc(rng, ts))]


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    if kind == "jsonrpc-poll":
        if rng.random() < 0.35:
            return flows_for(
                JsonRpcPoll,
                env,
                host,
                rng,
                start,
                port=443,
                tls=True,
                nat=nat,
                server=rng.choice(
                    (("mainnet.infura.io", "aws"), ("eth-mainnet.g.alchemy.com", "gcp"))
                ),
            )
        port = rng.choice((8545, 8545, 8332))
        return flows_for(
            JsonRpcPoll,
            env,
            host,
            rng,
            start,
            server=any_server(rng),
            port=port,
            tls=False,
            nat=nat,
        )
    tls = kind != "http-poll"
    cls = {"https-longpoll": LongPoll, "https-poll": Poll, "http-poll": HttpPoll}[kind]
    odd = rng.random() < 0.25
    port = rng.choice(ODD_PORTS) if odd else (443 if tls else rng.choice((80, 8080)))
    server: tuple[str, str] | str = rng.choice(APIS) if rng.random() < 0.6 else any_server(rng)
    return flows_for(cls, env, host, rng, start, server=server, port=port, tls=tls, nat=nat)
