"""The miner flows' message sources: one interface over every dialect's streamed session.

The miner driver (:mod:`.miners`) asks a :class:`Proto` for a *script* - a list of
``("c" | "s", writes)`` played in turn, each answer one RTT after its request - at each of
its events: the opening exchange, a job push (``new_block`` when the coin found a block),
a share, a work poll, a keep-alive. Writes are the real messages of
:mod:`detector.synth.dialects`; over TLS each write becomes one record of its length plus
the version's overhead.

Which work a flow counts as a job: every pool push, and every answer to a work poll
(eth-proxy's ``eth_getWork``, getwork and getblocktemplate requests) - the messages that
carry work to the miner.
"""

from __future__ import annotations

from random import Random

from detector.synth.chain import (
    HexStream,
    base58check,
    eth_address,
    monero_address,
    segwit_address,
    zcash_t_address,
)
from detector.synth.dialects.base import Session
from detector.synth.dialects.browser import BrowserMinerSession
from detector.synth.dialects.cryptonote import CryptoNoteSession
from detector.synth.dialects.equihash import EquihashSession
from detector.synth.dialects.ethproxy import EthProxySession
from detector.synth.dialects.ethstratum import Client, EthStratumSession
from detector.synth.dialects.httpmining import HttpMining
from detector.synth.dialects.stratum import StratumSession
from detector.synth.dialects.stratum_v2 import StratumV2Session

Writes = bytes | tuple[bytes, ...]
Script = list[tuple[str, Writes]]


class Proto:
    """What a miner flow sends and receives at each of its events."""

    poll_every = 0.0  # seconds between the client's work polls (0: none)
    keepalive_every = 0.0  # seconds of client silence before a keep-alive (0: none)

    def hello(self, ts: int) -> Script:
        return []

    def job(self, ts: int, new_block: bool) -> Script:
        return []

    def share(self, ts: int) -> Script:
        return []

    def poll(self, ts: int) -> Script:
        return []

    def keepalive(self, ts: int) -> Script:
        return []


class SessionProto(Proto):
    """A streamed :class:`~detector.synth.dialects.base.Session` (Stratum v1, NiceHash
    EthereumStratum, eth-proxy, CryptoNote, browser mining)."""

    def __init__(self, sess: Session, keepalive: bool = False) -> None:
        self.sess = sess
        self.poll_every = (sess.poll_every or 0) / 1_000_000
        if keepalive:
            sess.keepalive_on = True
            self.keepalive_every = 60.0
        elif hasattr(sess, "keepalive_on"):
            sess.keepalive_on = False

    def hello(self, ts: int) -> Script:
        return list(self.sess.hello(ts))

    def job(self, ts: int, new_block: bool) -> Script:
        return [("s", self.sess.job(ts))]

    def share(self, ts: int) -> Script:
        up, answer = self.sess.submit(ts)
        return [("c", up), ("s", answer)] if answer else [("c", up)]

    def poll(self, ts: int) -> Script:
        up, answer = self.sess.poll(ts)
        return [("c", up), ("s", answer)]

    def keepalive(self, ts: int) -> Script:
        got = self.sess.keepalive()
        return [("c", got[0]), ("s", got[1])] if got else []


class StratumV2Proto(SessionProto):
    def job(self, ts: int, new_block: bool) -> Script:
        sess = self.sess
        assert isinstance(sess, StratumV2Session)
        return [("s", sess.job(ts, new_block))]


class HttpProto(Proto):
    """The work connection of getwork / getblocktemplate mining."""

    def __init__(self, src: HttpMining, poll_every: float) -> None:
        self.src = src
        self.poll_every = poll_every

    def hello(self, ts: int) -> Script:
        return self.src.hello(ts)

    def poll(self, ts: int) -> Script:
        return self.src.poll(ts)

    def share(self, ts: int) -> Script:
        return self.src.submit(ts)

    def job(self, ts: int, new_block: bool) -> Script:
        if new_block:
            self.src.new_block()
        return []


class LongPollProto(Proto):
    """The long-poll connection: a held request, answered at each new block."""

    def __init__(self, src: HttpMining) -> None:
        self.src = src

    def hello(self, ts: int) -> Script:
        return self.src.lp_hello(ts)

    def job(self, ts: int, new_block: bool) -> Script:
        return self.src.lp_push(ts)


# --- making one ------------------------------------------------------------------------------


def wallet(kind: str, coin: str, label: str) -> str:
    """A checksum-valid wallet of ``coin`` derived from ``label`` (nobody's real wallet)."""
    h = HexStream(f"corpus-wallet:{label}")
    if coin == "XMR":
        return monero_address(h)
    if coin in ("ETC", "ETHW"):
        return eth_address(h)
    if coin in ("ZEC", "ZEN"):
        return zcash_t_address(h)
    if coin == "BTG":  # P2PKH version 38 ("G...")
        return base58check(b"\x26", h.bytes(20))
    return segwit_address("ltc" if coin == "LTC" else "bc", h.bytes(20))


#: EthereumStratum clients by kind (agent strings as the programs send them)
ETH_AGENTS = {
    "lolminer": "lolMiner 1.88",
    "nbminer": "NBMiner/42.3",
    "t-rex": "T-Rex/0.26.8",
    "teamredminer": "TeamRedMiner/0.10.21",
}


def make(
    kind: str,
    rng: Random,
    user: str,
    *,
    keepalive: bool,
    host: str,
    port: int,
    hashrate: float,
    poll_every: float,
    http: HttpMining | None,
    coin: str = "",
) -> Proto:
    """The message source of one connection of a miner shape ``kind``."""
    if kind in ("xmrig", "xmrig-win", "xmr-stak", "xmrig-proxy"):
        flavor = {"xmr-stak": "xmrstak", "xmrig-proxy": "proxy"}.get(kind, kind)
        return SessionProto(CryptoNoteSession(rng, user, flavor), keepalive)
    if kind in ("cgminer", "cpuminer-opt", "bitaxe"):
        flavor = "cpuminer" if kind == "cpuminer-opt" else kind
        return SessionProto(StratumSession(rng, user, flavor))
    if kind == "gminer-equihash":
        return SessionProto(EquihashSession(rng, user, coin, host, port))
    if kind in ETH_AGENTS:
        sess = EthStratumSession(rng, user)
        sess.client = Client(ETH_AGENTS[kind], jsonrpc=kind == "lolminer")
        return SessionProto(sess)
    if kind in ("claymore", "phoenix"):
        sess = EthProxySession(rng, user, kind)
        return SessionProto(sess)
    if kind in ("sv2-device", "sv2-device-lan", "sv2-proxy"):
        sess = StratumV2Session(
            rng,
            user,
            host,
            port,
            extended=kind == "sv2-proxy",
            encrypted=kind != "sv2-device-lan",
            hashrate=hashrate,
            ack_every=rng.choice((1, 1, 5, 10)),
        )
        return StratumV2Proto(sess)
    if kind in ("coinhive-js", "webminer-proxy-js"):
        path = rng.choice(("/", "/proxy", "/ws", "/socket"))
        origin = f"https://{rng.choice(('www', 'blog', 'm', 'watch'))}.{rng.choice(_SITES)}"
        diff = 256 if kind == "coinhive-js" else 1024
        return SessionProto(BrowserMinerSession(rng, user, host, path, origin, diff))
    if kind.endswith("-lp"):
        assert http is not None
        return LongPollProto(http)
    assert http is not None, kind
    return HttpProto(http, poll_every)


_SITES = (
    "streamfree.example",
    "recipes-daily.example",
    "anime-watch.example",
    "torrent-index.example",
    "news-portal.example",
    "free-games.example",
)
