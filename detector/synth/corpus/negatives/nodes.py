"""Cryptocurrency nodes: a LAN host's peer connections, not mining.

Assumptions (Bitcoin Core 27-28, geth 1.14 / eth/68, monerod 0.18):

* **Bitcoin P2P** (``btc-node``, :8333): version, wtxidrelay, sendaddrv2, verack,
  sendheaders, sendcmpct, ping, feefilter (real messages, :mod:`detector.synth.benign.
  bitcoin_p2p`); then ``inv`` announcements both ways (Poisson, mean 2-10 s, 1-8 entries of
  36 bytes), ``getdata``/``tx`` for some (200-600 bytes), a ``ping``/``pong`` every 120 s
  (Core's PING_INTERVAL), ``headers``/``cmpctblock`` when a block arrives (mean 600 s).
* **Ethereum RLPx** (``eth-node``, :30303): the EIP-8 auth (~ 400 bytes) and ack, then
  encrypted frames (16-byte header + 16-byte MAC + padded body + 16-byte MAC): Hello,
  Status, transaction hash announcements (Poisson, mean 2-8 s), pooled transactions,
  new block hashes every ~12 s, devp2p ping/pong every 15 s.
* **Monero Levin** (``xmr-node``, :18080): the handshake (1001) and support flags (1007),
  then ``timed_sync`` (1002) every 60 s with the peer list and chain height, fluffed
  transactions (2002, mean 5-30 s, 1.2-3 KB) and fluffy blocks (2008, mean 120 s) - real
  Levin frames (:mod:`detector.synth.benign.levin`). A periodic request/answer with the
  chain's height on a long-lived link: the closest look-alike of a CryptoNote pool.
"""

from __future__ import annotations

import struct
from random import Random

from detector.synth.benign import bitcoin_p2p as btc
from detector.synth.benign import levin
from detector.synth.chain import HexStream
from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.negatives.base import LongLived, flows_for, periodic, poisson
from detector.synth.corpus.net import Host, any_server


def compact(n: int) -> bytes:
    """Bitcoin's CompactSize."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def tx(rng: Random) -> bytes:
    """A well-formed legacy transaction: 1-3 P2PKH inputs, 1-3 P2PKH outputs."""
    nin, nout = rng.randint(1, 3), rng.randint(1, 3)
    ins = b"".join(
        rng.randbytes(32)
        + struct.pack("<I", rng.randint(0, 3))
        + compact(107)
        + rng.randbytes(107)
        + b"\xfd\xff\xff\xff"
        for _ in range(nin)
    )
    outs = b"".join(
        struct.pack("<Q", rng.randint(546, 10**9))
        + compact(25)
        + b"\x76\xa9\x14"
        + rng.randbytes(20)
        + b"\x88\xac"
        for _ in range(nout)
    )
    return struct.pack("<I", 2) + compact(nin) + ins + compact(nout) + outs + struct.pack("<I", 0)


def cmpctblock(rng: Random, ts: int) -> bytes:
    """BIP 152 compact block: header, nonce, short ids, the prefilled coinbase."""
    header = struct.pack("<I", 0x20000000) + rng.randbytes(28) + b"\x00" * 4 + rng.randbytes(32)
    header += struct.pack("<III", ts, 0x17028C61, rng.getrandbits(32))
    n = rng.randint(1500, 3500)
    return (
        header
        + rng.randbytes(8)
        + compact(n)
        + rng.randbytes(6 * n)
        + compact(1)
        + b"\x00"
        + tx(rng)
    )


class BitcoinNode(LongLived):
    kind = "btc-node"
    close_weights = (0.4, 0.4, 0.2)

    def prepare(self, rng: Random) -> None:
        self.height = rng.randint(930_000, 931_000)
        self.keepalive = 120.0

    def hello(self, rng: Random, t: int) -> Script:
        m = btc.message
        me, peer = ("0.0.0.0", 0), (self.server, self.sport)
        agents = ("/Satoshi:27.1.0/", "/Satoshi:28.0.0/", "/Satoshi:26.0.0/", "/Knots:20250305/")
        v = lambda a: btc.version(t // 1_000_000, me, peer, rng.randbytes(8), a, self.height)  # noqa: E731
        return [
            ("c", m("version", v(rng.choice(agents)))),
            (
                "s",
                m("version", v(rng.choice(agents)))
                + m("wtxidrelay", b"")
                + m("sendaddrv2", b"")
                + m("verack", b""),
            ),
            ("c", m("wtxidrelay", b"") + m("sendaddrv2", b"") + m("verack", b"")),
            (
                "c",
                m("sendheaders", b"")
                + m("sendcmpct", b"\x00" + struct.pack("<Q", 2))
                + m("ping", rng.randbytes(8))
                + m("feefilter", struct.pack("<Q", 1000)),
            ),
            (
                "s",
                m("sendheaders", b"")
                + m("sendcmpct", b"\x00" + struct.pack("<Q", 2))
                + m("pong", rng.randbytes(8))
                + m("feefilter", struct.pack("<Q", 2345)),
            ),
        ]

    def streams(self, rng: Random) -> list[Stream]:
        m = btc.message

        def inv(who: str) -> Script:
            n = rng.randint(1, 8)
            items = b"".join(struct.pack("<I", 5) + rng.randbytes(32) for _ in range(n))
            out: Script = [(who, m("inv", bytes([n]) + items))]
            if rng.random() < 0.3:
                other = "c" if who == "s" else "s"
                out += [(other, m("getdata", bytes([1]) + items[:36])), (who, m("tx", tx(rng)))]
            return out

        def block(ts: int) -> Script:
            self.height += 1
            return [("s", m("cmpctblock", cmpctblock(rng, ts // 1_000_000)))]

        return [
            Stream(poisson(rng, rng.uniform(2, 10)), lambda ts: inv("s")),
            Stream(poisson(rng, rng.uniform(2, 10)), lambda ts: inv("c")),
            Stream(
                periodic(rng, 120.0, 0.01),
                lambda ts: [("c", m("ping", rng.randbytes(8))), ("s", m("pong", rng.randbytes(8)))],
            ),
            Stream(poisson(rng, 600), block),
        ]


def _rlpx(body: int) -> int:
    """Wire size of an RLPx frame with a ``body``-byte payload."""
    return 32 + body + (-body % 16) + 16


class EthNode(LongLived):
    kind = "eth-node"
    close_weights = (0.4, 0.4, 0.2)

    def prepare(self, rng: Random) -> None:
        self.keepalive = 15.0

    def hello(self, rng: Random, t: int) -> Script:
        return [
            ("c", rng.randbytes(rng.randint(380, 470))),
            ("s", rng.randbytes(rng.randint(380, 420))),
            ("c", rng.randbytes(_rlpx(rng.randint(180, 240)))),
            ("s", rng.randbytes(_rlpx(rng.randint(180, 240)))),
            ("c", rng.randbytes(_rlpx(rng.randint(120, 160)))),
            ("s", rng.randbytes(_rlpx(rng.randint(120, 160)))),
        ]

    def streams(self, rng: Random) -> list[Stream]:
        def hashes(who: str) -> Script:
            return [(who, _rlpx(rng.randint(40, 1500)))]

        def pooled(ts: int) -> Script:
            return [("c", _rlpx(rng.randint(40, 400))), ("s", _rlpx(rng.randint(300, 8000)))]

        return [
            Stream(poisson(rng, rng.uniform(2, 8)), lambda ts: hashes("s")),
            Stream(poisson(rng, rng.uniform(2, 8)), lambda ts: hashes("c")),
            Stream(poisson(rng, rng.uniform(5, 20)), pooled),
            Stream(periodic(rng, 12.0, 0.2), lambda ts: [("s", _rlpx(rng.randint(60, 120)))]),
            Stream(periodic(rng, 15.0, 0.01), lambda ts: [("c", _rlpx(1)), ("s", _rlpx(1))]),
        ]


class MoneroNode(LongLived):
    kind = "xmr-node"
    close_weights = (0.4, 0.4, 0.2)

    def prepare(self, rng: Random) -> None:
        self.h = HexStream(f"corpus-levin:{self.seed}")
        self.height = rng.randint(3_590_000, 3_600_000)
        self.keepalive = 60.0

    def hello(self, rng: Random, t: int) -> Script:
        f, ps, h = levin.frame, levin.ps, self.h
        hs = ps(
            [
                ("node_data", 12, levin.node_data(h, 0)),
                ("payload_data", 12, levin.sync_data(h, self.height)),
            ]
        )
        peers = h.bytes(24 * rng.randint(20, 250))
        hs_resp = ps(
            [
                ("local_peerlist_new", 10, levin.ps_varint(len(peers)) + peers),
                ("node_data", 12, levin.node_data(h, 18080)),
                ("payload_data", 12, levin.sync_data(h, self.height + 1)),
            ]
        )
        return [
            ("c", f(1001, hs, True, True)),
            ("s", f(1007, ps([]), True, True)),
            ("c", f(1007, ps([("support_flags", 6, struct.pack("<I", 1))]), False, False)),
            ("s", f(1001, hs_resp, False, False)),
        ]

    def streams(self, rng: Random) -> list[Stream]:
        f, ps, h = levin.frame, levin.ps, self.h

        def sync(ts: int) -> Script:
            req = f(1002, ps([("payload_data", 12, levin.sync_data(h, self.height))]), True, True)
            peers = h.bytes(24 * rng.randint(2, 250))
            ans = f(
                1002,
                ps(
                    [
                        ("local_peerlist_new", 10, levin.ps_varint(len(peers)) + peers),
                        ("payload_data", 12, levin.sync_data(h, self.height)),
                    ]
                ),
                False,
                False,
            )
            return [("c", req), ("s", ans)]

        def txs(who: str) -> Script:
            blob = h.bytes(rng.randint(1200, 3000))
            return [
                (who, f(2002, ps([("txs", 10, levin.ps_varint(len(blob)) + blob)]), True, False))
            ]

        def block(ts: int) -> Script:
            self.height += 1
            blob = h.bytes(rng.randint(300, 4000))
            return [("s", f(2008, ps([("b", 12, levin.ps_varint(len(blob)) + blob)]), True, False))]

        return [
            Stream(periodic(rng, 60.0, 0.01), sync),
            Stream(poisson(rng, rng.uniform(5, 30)), lambda ts: txs("s")),
            Stream(poisson(rng, rng.uniform(10, 60)), lambda ts: txs("c")),
            Stream(poisson(rng, 120), block),
        ]


CLASSES = {
    "btc-node": (BitcoinNode, 8333),
    "eth-node": (EthNode, 30303),
    "xmr-node": (MoneroNode, 18080),
}


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    cls, port = CLASSES[kind]
    return flows_for(
        cls, env, host, rng, start, server=any_server(rng), port=port, tls=False, nat=nat
    )
