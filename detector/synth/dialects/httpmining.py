"""Streamed HTTP mining sessions: getwork and getblocktemplate polled over keep-alive HTTP,
and the long-poll connection beside them.

The message writers are :mod:`.getwork`'s (cpuminer's and bfgminer's requests, Eloipool's
and bitcoind's answers); this module plays them as the streamed traffic asks:

* the **work connection** asks for work every scan interval (cpuminer's ``--scantime``,
  bfgminer's template refresh) and submits shares on it;
* the **long-poll connection** holds a request open until the pool has new work (a new
  block; on share-chain pools such as p2pool, every share-chain update), answers it, and the
  miner re-arms it at once. Its answers are the pool's pushes.

A request is two writes (curl sends head and body separately), so its parts are given as a
tuple; over TLS each becomes its own record.
"""

from __future__ import annotations

from random import Random

from detector.dialects import GBT_HTTP, GETWORK_HTTP
from detector.synth.chain import HexStream, le32hex
from detector.synth.dialects import getwork as gw
from detector.synth.http import basic_auth

Writes = bytes | tuple[bytes, ...]
Script = list[tuple[str, Writes]]


class HttpMining:
    """One miner's HTTP work source: cpuminer getwork (``getwork``), bfgminer
    getblocktemplate against a pool (``gbt``) or cpuminer against bitcoind (``gbt-solo``)."""

    def __init__(self, rng: Random, label: str, mode: str, host: str, user: str) -> None:
        self.rng = rng
        self.mode = mode
        self.dialect = GETWORK_HTTP if mode == "getwork" else GBT_HTTP
        self.host = host
        self.auth = basic_auth(user, rng.choice(("x", "123", "d=16", "password")))
        self.h = HexStream(f"corpus-http:{label}")
        self.prev = self.h.bytes(28) + b"\x00" * 4
        self.height = rng.randint(930_000, 931_000)
        self.ntx = rng.randint(2, 16)
        self.workid = 0
        self.lpid = ""
        self.server = rng.choice(("eloipool", "xstratum", "bitcoind")) if mode == "getwork" else ""

    def new_block(self) -> None:
        self.prev = self.h.bytes(28) + b"\x00" * 4
        self.height += 1

    # --- requests ---------------------------------------------------------------------------

    def _post(self, body: bytes, path: str = "/") -> tuple[bytes, bytes]:
        if self.mode == "gbt":
            return gw.bfgminer_post(self.host, self.auth, body)
        agent = "cpuminer/2.5.1"
        ext = [("X-Mining-Extensions", "midstate")] if self.mode == "getwork" else []
        return gw.curl_post(self.host, path, self.auth, body, agent, ext)

    def _ask(self, path: str = "/") -> tuple[bytes, bytes]:
        if self.mode == "getwork":
            return self._post(gw.CPUMINER_GETWORK, path)
        lp = (self.lpid or None) if path != "/" else None
        if self.mode == "gbt":
            return self._post(gw.bfgminer_gbt(lp))
        return self._post(gw.cpuminer_gbt(lp))

    def _answer(self, ts: int, result: object, ident: int = 0) -> bytes:
        ts_ns = ts * 1000
        if self.mode == "getwork":
            body = gw.rpc_result(result, ident, spaced=True)
            if self.server == "xstratum":
                return gw.xstratum_response(body, ts_ns, f"stratum+tcp://{self.host}")
            if self.server == "bitcoind":
                return gw.bitcoind_response(gw.rpc_result(result, ident), ts_ns)
            return gw.eloipool_response(body, ts_ns)
        if self.mode == "gbt":
            return gw.longpoll_response(gw.rpc_result(result, ident), ts_ns)
        return gw.bitcoind_response(gw.rpc_result(result, ident), ts_ns)

    def _work(self, ts: int) -> bytes:
        ts_ns = ts * 1000
        if self.mode == "getwork":
            return self._answer(ts, gw.work_unit(self.h, ts_ns, self.prev))
        prev = self.prev[::-1].hex()
        ntx = max(1, self.ntx + self.rng.randint(-2, 3))
        tpl = gw.block_template(self.h, ts_ns, self.height, prev, ntx)
        self.workid += 1
        if self.mode == "gbt":
            tpl["workid"] = str(self.workid)
        self.lpid = str(tpl["longpollid"])
        return self._answer(ts, tpl)

    # --- the session as the streamed traffic plays it ---------------------------------------

    def hello(self, ts: int) -> Script:
        return [("c", self._ask()), ("s", self._work(ts))]

    def poll(self, ts: int) -> Script:
        return [("c", self._ask()), ("s", self._work(ts))]

    def submit(self, ts: int) -> Script:
        if self.mode == "getwork":
            data = str(gw.work_unit(self.h, ts * 1000, self.prev)["data"])
            return [
                ("c", self._post(gw.cpuminer_getwork_submit(data))),
                ("s", self._answer(ts, True, 1)),
            ]
        block = (
            "00000020"
            + self.h.hex(32)
            + self.h.hex(32)
            + le32hex(ts // 1_000_000)
            + "03f30117"
            + self.h.hex(4)
            + "04"
            + "02000000000101"
            + self.h.hex(180)
        )
        if self.mode == "gbt":
            body = gw.bfgminer_submitblock(block, str(self.workid))
        else:
            body = gw.cpuminer_submitblock(block)
        return [
            ("c", self._post(body)),
            ("s", self._answer(ts, None, 0 if self.mode == "gbt" else 1)),
        ]

    # --- the long-poll connection -----------------------------------------------------------

    def lp_hello(self, ts: int) -> Script:
        return [("c", self._ask("/LP"))]

    def lp_push(self, ts: int) -> Script:
        """The held request answered (a new block) and re-armed."""
        self.new_block()
        return [("s", self._work(ts)), ("c", self._ask("/LP"))]
