"""Miners of the streamed traffic mix: LAN hosts mining to a pool in one of four dialects.

A :class:`Miner` is one LAN host that mines: 1-3 consecutive connections to its pool (the
pool or the miner drops the connection, the miner reconnects a few seconds later); a few
miners are already mid-session when the capture starts (no SYN, no login). Each connection
speaks its dialect through that dialect's streamed session
(:mod:`detector.synth.dialects`). The first mining message of each connection carries a
*mark* so the writer can record in the truth file only the miner flows that made it into
the file. Wallets are checksum-valid (:mod:`detector.synth.chain`) but derived from hashes:
nobody's real wallet.
"""

from __future__ import annotations

from collections.abc import Iterator
from random import Random

from detector.dialects import CRYPTONOTE, ETH_PROXY, ETHEREUM_STRATUM, STRATUM_V1
from detector.synth.chain import HexStream, eth_address, monero_address, segwit_address
from detector.synth.clock import US as S
from detector.synth.dialects.base import Session
from detector.synth.dialects.cryptonote import CryptoNoteSession
from detector.synth.dialects.ethproxy import EthProxySession
from detector.synth.dialects.ethstratum import EthStratumSession
from detector.synth.dialects.stratum import StratumSession
from detector.synth.ip import ACK, RA
from detector.synth.mix.context import Context, Packet
from detector.synth.mix.lookups import resolve
from detector.synth.mix.names import POOL_IPS, POOL_NAMES
from detector.synth.tcp import Tcp

#: dialect -> (weight, ports the pools of that dialect listen on)
DIALECTS = {
    STRATUM_V1: (0.32, (3333, 3333, 4444, 25, 80, 443, 8080, 1314)),
    CRYPTONOTE: (0.38, (3333, 4444, 5555, 7777, 9000, 10128, 14444, 45700, 80, 443)),
    ETHEREUM_STRATUM: (0.15, (4444, 14444, 5555, 2020, 8008)),
    ETH_PROXY: (0.15, (8008, 9999, 4444, 25)),
}


class Miner:
    """A LAN host mining to one pool over 1-3 consecutive connections."""

    def __init__(self, ctx: Context, rng: Random, ip: str, label: str, midsession: bool) -> None:
        self.ctx, self.rng, self.ip = ctx, rng, ip
        names = list(DIALECTS)
        self.dialect = rng.choices(names, weights=[DIALECTS[n][0] for n in names])[0]
        self.port = rng.choice(DIALECTS[self.dialect][1])
        h = HexStream(f"bench-miner:{label}")
        if self.dialect == STRATUM_V1:
            self.flavor = rng.choice(StratumSession.FLAVORS)
            hrp = "ltc" if self.flavor == "cpuminer" else "bc"
            self.wallet = segwit_address(hrp, h.bytes(20))
        elif self.dialect == CRYPTONOTE:
            self.flavor = rng.choice(CryptoNoteSession.FLAVORS)
            self.wallet = monero_address(h)
        elif self.dialect == ETHEREUM_STRATUM:
            self.flavor = "nicehash"
            self.wallet = eth_address(h)
        else:
            self.flavor = rng.choice(EthProxySession.FLAVORS)
            self.wallet = eth_address(h)
        self.pool_name: str | None = None
        if rng.random() < 0.4:
            self.pool_name, self.pool_ip = rng.choice(POOL_NAMES)
        else:
            self.pool_ip = rng.choice(POOL_IPS)
        self.windows = self.flavor in ("xmrig-win", "xmrstak", "claymore", "phoenix")
        self.nflows = 1 + sum(rng.random() < p for p in (0.6, 0.45, 0.3, 0.2))
        self.midsession = midsession

    def session(self) -> Session:
        rng = self.rng
        if self.dialect == STRATUM_V1:
            return StratumSession(rng, self.wallet, self.flavor)
        if self.dialect == CRYPTONOTE:
            return CryptoNoteSession(rng, self.wallet, self.flavor)
        if self.dialect == ETHEREUM_STRATUM:
            return EthStratumSession(rng, self.wallet)
        return EthProxySession(rng, self.wallet, self.flavor)

    def run(self, start: int, horizon: int) -> Iterator[Packet]:
        rng = self.rng
        t = start
        if self.pool_name is not None and not self.midsession:
            for ts, rec in resolve(self.ctx, rng, self.ip, self.pool_name, self.pool_ip, t):
                yield ts, rec, None
            t += 80_000
        for k in range(self.nflows):
            last = k == self.nflows - 1
            end = horizon if last else t + rng.randint(40, 300) * S
            mark = (self.ip, k, self.dialect, self.midsession and k == 0)
            t = yield from self._flow(t, end, last, mark, self.midsession and k == 0)
            t += rng.randint(3, 30) * S

    def _flow(
        self, t: int, end: int, last: bool, mark: tuple, midsession: bool
    ) -> Iterator[Packet]:
        rng = self.rng
        conn = Tcp(
            rng,
            self.ip,
            rng.randint(32768, 60999),
            self.pool_ip,
            self.port,
            client_ttl=128 if self.windows else 64,
            server_ttl=rng.choice((49, 52, 54)),
        )
        c, s = conn.c, conn.s
        rtt = rng.randint(15_000, 160_000)
        sess = self.session()
        pending = [mark]

        def tag() -> tuple | None:
            return pending.pop() if pending else None

        if not midsession:
            for ts, rec in conn.handshake(t, rtt):
                yield ts, rec, None
            t += rtt + 300
            for who, data in sess.hello(t):
                if who == "c":
                    for ts, rec in conn.send(t, c, data):
                        yield ts, rec, tag()
                    t += rtt + rng.randint(300, 4_000)
                else:
                    for ts, rec in conn.send(t, s, data):
                        yield ts, rec, None
                    t += rng.randint(200, 3_000)
            t += 40_000
            yield t, conn.seg(t, c, ACK), None
        last_rx = t
        nxt_job = t + (rng.randint(1, 20) * S if midsession else sess.job_gap())
        nxt_sub = t + sess.submit_gap()
        poll = sess.poll_every
        nxt_poll = t + (poll if poll else end)
        while True:
            keep = last_rx + 60 * S if sess.keepalive_on else end
            te = min(nxt_job, nxt_sub, nxt_poll, keep)
            if te >= end:
                break
            if te == nxt_job:
                for ts, rec in conn.send(te, s, sess.job(te)):
                    yield ts, rec, tag()
                t = te + 40_000
                yield t, conn.seg(t, c, ACK), None
                last_rx = te
                nxt_job = te + sess.job_gap()
            else:
                if te == nxt_sub:
                    up, answer = sess.submit(te)
                    nxt_sub = te + sess.submit_gap()
                elif te == nxt_poll:
                    up, answer = sess.poll(te)
                    nxt_poll = te + (poll or 0) + rng.randint(0, 3_000)
                else:
                    up, answer = sess.keepalive() or (b"", b"")
                for ts, rec in conn.send(te, c, up):
                    yield ts, rec, tag()
                ta = te + rtt + rng.randint(500, 3_000)
                for ts, rec in conn.send(ta, s, answer):
                    yield ts, rec, None
                t = ta + 40_000
                yield t, conn.seg(t, c, ACK), None
                last_rx = ta
            floor = t + 1_000
            nxt_job, nxt_sub = max(nxt_job, floor), max(nxt_sub, floor)
            nxt_poll = max(nxt_poll, floor)
        if last:
            return end
        r = rng.random()
        if r < 0.5:  # the pool drops the connection (restart, idle kick)
            recs = conn.close(end, s, rtt)
        elif r < 0.85:
            recs = conn.close(end, c, rtt)
        else:
            recs = [(end, conn.seg(end, c, RA))]
        for ts, rec in recs:
            yield ts, rec, None
        return recs[-1][0]
