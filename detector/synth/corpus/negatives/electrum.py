"""Electrum-protocol wallets talking to ElectrumX/Fulcrum servers (newline JSON-RPC).

Assumptions (Electrum 4.5, Sparrow, BlueWallet; ElectrumX 1.16 / Fulcrum):

* Opening: ``server.version``, ``blockchain.headers.subscribe``, one
  ``blockchain.scripthash.subscribe`` per watched address (5-60, batched), an
  ``estimatefee``; the server answers each (header 80 bytes as hex, statuses as hashes).
* The server notifies new headers when a block arrives (exponential, with the mean block
  time of the wallet's coin: ElectrumX and Fulcrum serve many - Bitcoin and Bitcoin Cash
  600 s, Litecoin and Dash 150 s, Dogecoin 60 s, and testnets/signets whose blocks come
  in bursts; so header pushes every one to three minutes are an Electrum wallet's normal
  rhythm too, not only a pool's), and the
  status of a watched address when it changes (mean 20-60 min); the wallet then asks for
  the history and the transaction. The wallet pings (``server.ping``) every 60 s (Sparrow,
  BlueWallet) or 300 s (Electrum).
* JSON lines in Python's spacing; over TLS on 50002 (80 %, Python's ssl) or cleartext on
  50001 - a newline JSON-RPC subscription protocol on a long-lived connection, with server
  pushes, that is not mining.
"""

from __future__ import annotations

import json
from random import Random

from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.negatives.base import LongLived, flows_for, periodic, poisson
from detector.synth.corpus.net import Host, any_server

SERVERS = (
    ("electrum.blockstream.info", "gcp"),
    ("fortress.qtornado.com", "hetzner"),
    ("electrum.bitaroo.net", "ovh"),
    ("fulcrum.sethforprivacy.com", "hetzner"),
    ("electrum.emzy.de", "hetzner"),
)


def js(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


class Electrum(LongLived):
    kind = "electrum-wallet"
    templates = ("python-ssl", "openssl-s_client-tls13", "java-jsse")
    close_weights = (0.7, 0.2, 0.1)

    def prepare(self, rng: Random) -> None:
        self.rid = 0
        self.height = rng.randint(930_000, 931_000)
        self.hashes = [rng.randbytes(32).hex() for _ in range(rng.randint(5, 60))]
        self.ping = float(rng.choice((60, 60, 300)))
        # mean block time of the coin this wallet follows (BTC/BCH, LTC, DASH, DOGE, testnet)
        self.block = float(rng.choices((600, 150, 150, 60, 90), weights=(55, 15, 8, 12, 10))[0])
        self.keepalive = self.ping
        self.agent = rng.choice(("electrum/4.5.5", "Sparrow", "BlueWallet", "electrum/4.4.6"))

    def _req(self, method: str, params: list[object] | None = None) -> bytes:
        self.rid += 1
        obj: dict[str, object] = {"jsonrpc": "2.0", "method": method, "id": self.rid}
        if params:
            obj["params"] = params
        return js(obj)

    def _res(self, result: object) -> bytes:
        return js({"jsonrpc": "2.0", "result": result, "id": self.rid})

    def _header(self, rng: Random) -> dict[str, object]:
        return {"hex": rng.randbytes(80).hex(), "height": self.height}

    def hello(self, rng: Random, t: int) -> Script:
        subs, answers = [], []
        for h in self.hashes:
            subs.append(self._req("blockchain.scripthash.subscribe", [h]))
            answers.append(self._res(rng.randbytes(32).hex() if rng.random() < 0.4 else None))
        return [
            ("c", self._req("server.version", [self.agent, "1.4"])),
            ("s", self._res(["ElectrumX 1.16.0", "1.4"])),
            ("c", self._req("blockchain.headers.subscribe")),
            ("s", self._res(self._header(rng))),
            ("c", b"".join(subs)),
            ("s", b"".join(answers)),
            ("c", self._req("blockchain.estimatefee", [2])),
            ("s", self._res(0.00011937)),
        ]

    def streams(self, rng: Random) -> list[Stream]:
        def block(ts: int) -> Script:
            self.height += 1
            note = js(
                {
                    "jsonrpc": "2.0",
                    "method": "blockchain.headers.subscribe",
                    "params": [self._header(rng)],
                }
            )
            return [("s", note)]

        def activity(ts: int) -> Script:
            sh = rng.choice(self.hashes)
            note = js(
                {
                    "jsonrpc": "2.0",
                    "method": "blockchain.scripthash.subscribe",
                    "params": [sh, rng.randbytes(32).hex()],
                }
            )
            hist = self._req("blockchain.scripthash.get_history", [sh])
            hist_ans = self._res([{"tx_hash": rng.randbytes(32).hex(), "height": self.height}])
            tx = self._req("blockchain.transaction.get", [rng.randbytes(32).hex()])
            return [
                ("s", note),
                ("c", hist),
                ("s", hist_ans),
                ("c", tx),
                ("s", self._res(rng.randbytes(rng.randint(190, 700)).hex())),
            ]

        ping = lambda ts: [("c", self._req("server.ping")), ("s", self._res(None))]  # noqa: E731
        return [
            Stream(poisson(rng, self.block), block),
            Stream(poisson(rng, rng.uniform(1200, 3600)), activity),
            Stream(periodic(rng, self.ping, 0.01), ping, quiet=True),
        ]


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    tls = rng.random() < 0.8
    server: tuple[str, str] | str = rng.choice(SERVERS) if rng.random() < 0.7 else any_server(rng)
    return flows_for(
        Electrum,
        env,
        host,
        rng,
        start,
        server=server,
        port=50002 if tls else 50001,
        tls=tls,
        nat=nat,
    )
