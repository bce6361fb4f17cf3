"""Miner flows: every dialect minewatch reads, in cleartext and inside TLS, and their sessions.

A **shape** is a mining program as it shows on the wire: its dialect, the coins it mines,
its hash rate (which with the pool's difficulty sets how often it submits), the TLS
library it would use (OpenSSL for XMRig, xmr-stak, cgminer and the GPU miners; a browser's
stack for in-page miners), the OS it runs on, and whether it sends keep-alives (XMRig's
``keepalived`` after 60 s without sending, for the share of users who enable it).

A **session** is one miner's consecutive connections to a pool: the pool or the miner drops
a connection (FIN either way, or a reset when a pool restarts), the miner reconnects after
its retry pause (XMRig 5 s, the others 5-60 s) on a fresh port, sometimes to its backup
pool. A session already running when the capture starts opens mid-session (no handshake,
no login: the first packet is a job push or a share), and one still running when the
capture ends is cut without a close. HTTP mining sessions open a second, long-poll
connection beside the work connection.

Connection lengths are minutes (log-normal, median 14 min) but never shorter than five job
intervals plus a minute, so every connection shows several job pushes; pools by name are
looked up in DNS first (70 % of sessions; a labelled DNS flow), pools by address are not.
TLS pools are connected by name with SNI, or by address without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from random import Random

from detector.dialects import (
    BROWSER_WS,
    BROWSER_WSS_TLS,
    CRYPTONOTE,
    ETH_PROXY,
    ETHEREUM_STRATUM,
    GBT_HTTP,
    GETWORK_HTTP,
    STRATUM_V1,
    STRATUM_V2,
)
from detector.synth.corpus import pools as P
from detector.synth.corpus import protos
from detector.synth.corpus.dnsflow import DnsFlow
from detector.synth.corpus.engine import Stream, drive, play
from detector.synth.corpus.flow import Env, Flow, S, draw_loss, draw_rtt
from detector.synth.corpus.net import Host
from detector.synth.corpus.wire import Record
from detector.synth.dialects.httpmining import HttpMining

OPENSSL = ("openssl-s_client-tls13", "openssl-s_client-tls13", "openssl-s_client-tls12")
BROWSER_TLS = ("curl-h2", "node-tls", "curl-http11")
# cpuminer and bfgminer poll over libcurl (cpuminer util.c json_rpc_call, bfgminer's
# util.c): over HTTPS their hello is curl's, with ALPN (h2 and http/1.1 when libcurl has
# nghttp2, http/1.1 alone without); until stop 28 they had OpenSSL s_client's (no ALPN),
# and the model learnt "no ALPN" as the mark of a TLS poller
LIBCURL = ("curl-http11", "curl-h2")


@dataclass(frozen=True)
class Shape:
    kind: str
    dialect: str
    family: str  # which pools it mines at (pools.py tables / private_pool families)
    coins: tuple[str, ...]
    rig: P.Rig
    tls: tuple[str, ...]  # recorded handshakes it would open TLS with (empty: never TLS)
    os: tuple[str, ...]
    keepalive: float = 0.0  # share of sessions with keep-alives every 60 s
    fixed_diff: float | None = None  # a service-set difficulty (browser miners, getwork)
    polls: tuple[float, ...] = ()  # work poll intervals (s) it is configured with


R = P.Rig
CPU, WIN, NIX, ANY = ("linux", "windows"), ("windows",), ("linux",), ("windows", "macos", "linux")
SHAPES: dict[str, Shape] = {s.kind: s for s in (
    Shape("xmrig", CRYPTONOTE, "cryptonote", ("XMR",), R(2500, 0.8, 200, 4e4), OPENSSL, NIX,
          keepalive=0.4),
    Shape("xmrig-win", CRYPTONOTE, "cryptonote", ("XMR",), R(3500, 0.7, 300, 3e4), OPENSSL, WIN,
          keepalive=0.4),
    Shape("xmr-stak", CRYPTONOTE, "cryptonote", ("XMR",), R(2000, 0.8, 200, 2e4), OPENSSL, CPU),
    Shape("xmrig-proxy", CRYPTONOTE, "cryptonote", ("XMR",), R(2e5, 1.0, 1e4, 5e6), OPENSSL, NIX,
          keepalive=0.3),
    Shape("cgminer", STRATUM_V1, "stratum-v1", ("BTC", "BCH"), R(1e14, 0.6, 1e13, 2.5e14),
          OPENSSL, NIX),
    Shape("cpuminer-opt", STRATUM_V1, "stratum-v1", ("LTC",), R(8e4, 0.7, 5e3, 1e6), OPENSSL, CPU),
    Shape("bitaxe", STRATUM_V1, "stratum-v1", ("BTC",), R(6e11, 0.4, 3e11, 1.5e12), (),
          ("embedded",)),
    Shape("lolminer", ETHEREUM_STRATUM, "ethash", ("ETC", "ETHW"), R(6e7, 0.8, 1e7, 1e9), OPENSSL,
          CPU),
    Shape("nbminer", ETHEREUM_STRATUM, "ethash", ("ETC", "ETHW"), R(6e7, 0.8, 1e7, 1e9), OPENSSL,
          CPU),
    Shape("t-rex", ETHEREUM_STRATUM, "ethash", ("ETC", "ETHW"), R(6e7, 0.8, 1e7, 1e9), OPENSSL,
          CPU),
    Shape("teamredminer", ETHEREUM_STRATUM, "ethash", ("ETC",), R(5e7, 0.8, 1e7, 8e8), OPENSSL,
          CPU),
    Shape("gminer-equihash", STRATUM_V1, "equihash", ("ZEC", "ZEC", "ZEN", "BTG"),
          R(2e4, 1.2, 500, 2e6), OPENSSL, CPU),
    Shape("claymore", ETH_PROXY, "ethash", ("ETC",), R(5e7, 0.8, 1e7, 8e8), OPENSSL, WIN),
    Shape("phoenix", ETH_PROXY, "ethash", ("ETC", "ETHW"), R(6e7, 0.8, 1e7, 1e9), OPENSSL,
          ("windows", "linux")),
    Shape("cpuminer-getwork", GETWORK_HTTP, "http", ("LTC",), R(8e4, 0.7, 5e3, 1e6), LIBCURL, CPU,
          fixed_diff=16, polls=(5, 10, 30, 60)),
    Shape("cpuminer-getwork-lp", GETWORK_HTTP, "http", ("LTC",), R(8e4, 0.7, 5e3, 1e6), LIBCURL,
          CPU),
    Shape("bfgminer-gbt", GBT_HTTP, "http", ("BTC",), R(3e11, 0.5, 5e10, 2e12), LIBCURL, NIX,
          polls=(20, 30, 60)),
    Shape("bfgminer-gbt-lp", GBT_HTTP, "http", ("BTC",), R(3e11, 0.5, 5e10, 2e12), LIBCURL, NIX),
    Shape("cpuminer-gbt-solo", GBT_HTTP, "http", ("BTC",), R(2e7, 0.6, 2e6, 2e8), LIBCURL, CPU,
          fixed_diff=1e9, polls=(5, 10, 30, 60)),
    Shape("sv2-device", STRATUM_V2, "stratum-v2", ("BTC",), R(1.2e14, 0.5, 1.3e13, 2.5e14), (),
          ("embedded", "linux")),
    Shape("sv2-device-lan", STRATUM_V2, "stratum-v2", ("BTC",), R(1.2e14, 0.5, 1.3e13, 2.5e14),
          (), ("embedded",)),
    Shape("sv2-proxy", STRATUM_V2, "stratum-v2", ("BTC",), R(2e15, 0.8, 1e14, 5e16), (), NIX),
    Shape("coinhive-js", BROWSER_WSS_TLS, "browser", ("XMR",), R(40, 0.5, 10, 200), BROWSER_TLS,
          ANY, fixed_diff=256),
    Shape("webminer-proxy-js", BROWSER_WSS_TLS, "browser", ("XMR",), R(40, 0.5, 10, 200),
          BROWSER_TLS, ANY, fixed_diff=1024),
)}  # fmt: skip

_TABLES = {
    "cryptonote": P.CRYPTONOTE,
    "stratum-v1": P.STRATUM,
    "ethash": P.ETHASH,
    "equihash": P.EQUIHASH,
    "stratum-v2": P.STRATUM_V2,
    "browser": P.BROWSER,
    "http": (),
}
#: share of sessions at a public pool (the rest: private proxies), and of private ones by name
_PUBLIC = {
    "cryptonote": 0.55,
    "stratum-v1": 0.75,
    "ethash": 0.75,
    "equihash": 0.5,
    "stratum-v2": 0.6,
    "browser": 0.6,
    "http": 0.0,
}
_NAMED = {
    "cryptonote": 0.4,
    "stratum-v1": 0.3,
    "ethash": 0.3,
    "equihash": 0.3,
    "stratum-v2": 0.3,
    "browser": 1.0,
    "http": 0.5,
}


def pick_pool(rng: Random, shape: Shape, coin: str, tls: bool) -> P.Pool:
    table = [p for p in _TABLES[shape.family] if p.coin == coin and (p.tls_port or not tls)]
    if shape.kind == "bitaxe":
        table = [p for p in table if p.name in ("public-pool", "ckpool", "Braiins Pool")]
    if table and rng.random() < _PUBLIC[shape.family]:
        return rng.choice(table)
    return P.private_pool(rng, shape.family, named=rng.random() < _NAMED[shape.family], coin=coin)


class MinerFlow(Flow):
    """One connection of a miner session."""

    miner = True

    def __init__(
        self,
        env: Env,
        host: Host,
        seed: int,
        start: int,
        end: int,
        *,
        shape: Shape,
        pool: P.Pool,
        tls: bool,
        user: str,
        hashrate: float,
        refresh: float,
        poll: float,
        keepalive: bool,
        nat: bool,
    ) -> None:
        name, port = pool.endpoint(tls)
        super().__init__(env, host, seed, start, end, pool.address(tls), port, nat=nat)
        self.shape = shape
        self.kind = shape.kind
        self.dialect = shape.dialect
        if shape.dialect == BROWSER_WSS_TLS and not tls:
            self.dialect = BROWSER_WS
        self.tls_on = tls
        self.name = name
        self.server_name = name
        self.coin = pool.coin
        self.pool = pool.name or "private"
        self.user = user
        self.hashrate = hashrate
        self.refresh = refresh
        self.poll = poll
        self.keepalive = 60.0 if keepalive else 0.0
        lp = shape.kind.endswith("-lp")
        self.job_interval = poll or P.job_mean(refresh, pool.coin)
        self.share_interval = (
            0.0
            if lp
            else P.share_interval(Random(seed ^ 0x5EED), pool.coin, hashrate, shape.fixed_diff)
        )

    def body(self, rng: Random) -> Iterator[Record]:
        shape = self.shape
        conn = self.tcp(rng, draw_rtt(rng), draw_loss(rng))
        tls = self.tls(rng, rng.choice(shape.tls), self.name or None) if self.tls_on else None
        http = None
        if shape.family == "http":
            mode = (
                "getwork"
                if shape.dialect == GETWORK_HTTP
                else ("gbt-solo" if shape.kind == "cpuminer-gbt-solo" else "gbt")
            )
            http = HttpMining(
                rng, f"{self.seed}", mode, f"{self.name or self.server}:{self.sport}", self.user
            )
        proto = protos.make(
            shape.kind,
            rng,
            self.user,
            keepalive=bool(self.keepalive),
            host=self.name or self.server,
            port=self.sport,
            hashrate=self.hashrate,
            poll_every=self.poll,
            http=http,
            coin=self.coin,
        )
        t = self.first_ts(rng)
        if not self.mid:
            t = conn.open(t)
            if tls is not None:
                t = tls.handshake(conn, t)
            t += rng.randint(100, 3_000)
            t = play(conn, tls, rng, t, proto.hello(t))
            yield from conn.flush()
        streams = self.streams(rng, proto)
        end = yield from drive(self, rng, conn, tls, t, streams)
        if tls is not None and self.closes and rng.random() < 0.5:
            conn.send(max(end, self.stop - 2_000), conn.c, tls.close_notify())
        self.close(conn, max(end, self.stop), rng, (0.3, 0.45, 0.25))
        yield from conn.finish()

    def streams(self, rng: Random, proto: protos.Proto) -> list[Stream]:
        lp = self.shape.kind.endswith("-lp")
        clock = P.JobClock(rng, self.refresh, self.coin)

        first = None
        if self.mid:  # the last push came before the capture began
            first = rng.uniform(0.5, min(clock.mean, 120.0))
        silent = self.shape.family == "http" and not lp  # blocks only change the next poll
        out = [
            Stream(
                clock.gap,
                lambda ts: proto.job(ts, clock.new_block),
                "" if silent else "job",
                first=first,
            )
        ]
        if self.share_interval and not lp:
            iv = self.share_interval
            out.append(Stream(lambda: rng.expovariate(1.0 / iv), proto.share, "share"))
        poll = proto.poll_every
        if poll:
            out.append(
                Stream(
                    lambda: poll * rng.uniform(0.98, 1.05) + rng.uniform(0, 0.3),
                    proto.poll,
                    "job",
                    first=rng.uniform(0.2, poll),
                )
            )
        if proto.keepalive_every:
            ka = proto.keepalive_every
            out.append(Stream(lambda: ka + rng.uniform(0, 0.5), proto.keepalive, quiet=True))
        return out


# --- sessions ---------------------------------------------------------------------------------


def session(
    env: Env,
    host: Host,
    rng: Random,
    shape: Shape,
    start: int,
    *,
    nat: bool,
    budget: int,
    tls: bool | None = None,
) -> list[Flow]:
    """One miner's connections from ``start`` on (at most ``budget`` miner flows), with the
    DNS lookups before them; flows that would start after the capture are left out.
    ``tls`` forces the transport (the plan's coverage of every dialect both ways); else the
    family's share of TLS sessions decides."""
    drawn = rng.random() < _TLS_SHARE[shape.family]
    tls = bool(shape.tls) and (drawn if tls is None else tls)
    coin = rng.choice(shape.coins)
    pool = pick_pool(rng, shape, coin, tls)
    label = f"{env.capture}:{host.ip}:{rng.getrandbits(32)}"
    wallet = protos.wallet(shape.kind, pool.coin, label)
    user = wallet + rng.choice(("", ".rig1", ".worker01", ".w7", "+50000", ".cloud"))
    if shape.family == "browser":
        user = _site_key(rng)
    elif shape.family == "http":
        user = rng.choice(("miner1", "worker", "user.1", "rpcuser", wallet[:12]))
    elif shape.family == "stratum-v2":
        user = rng.choice(("braiinstest.worker1", f"{wallet[:20]}.sv2", "farm7.rack3"))
    hashrate = shape.rig.draw(rng)
    refresh = P.jittered_refresh(rng, pool.refresh)
    poll = float(rng.choice(shape.polls)) if shape.polls else 0.0
    keepalive = rng.random() < shape.keepalive
    job_mean = poll or P.job_mean(refresh, pool.coin)
    nflows = 1 + sum(rng.random() < p for p in (0.45, 0.3, 0.2, 0.1))
    out: list[Flow] = []
    latest = env.end - int((4 * job_mean + 60) * S)  # room for several pushes in the capture
    t = (
        start
        if start <= latest
        else rng.randint(env.t0 - WINDOW_PRE * (env.end - env.t0) // 100, latest)
    )
    name = pool.endpoint(tls)[0]
    lp = shape.kind in ("cpuminer-getwork", "bfgminer-gbt") and rng.random() < 0.5
    made = 0
    for _ in range(nflows):
        if made >= budget or t > env.end - int((3 * job_mean + 30) * S):
            break
        span = 5 * job_mean + 60 + rng.lognormvariate(math.log(14 * 60), 0.6)
        dur = int(min(55 * 60, span) * S)
        retry = 5 if shape.kind.startswith("xmrig") else rng.randint(5, 60)
        if t + dur < env.t0 + int((3 * job_mean + 60) * S):  # over before the capture began
            t += dur + int((retry + rng.uniform(0, 3)) * S)
            continue
        if name and t >= env.t0 + S and rng.random() < 0.7 and not any(f.miner for f in out):
            out.append(
                DnsFlow(
                    env,
                    host,
                    rng.getrandbits(63),
                    t - rng.randint(5_000, 200_000),
                    name,
                    pool.address(tls),
                    nat=nat,
                )
            )
        flow = MinerFlow(
            env,
            host,
            rng.getrandbits(63),
            t,
            t + dur,
            shape=shape,
            pool=pool,
            tls=tls,
            user=user,
            hashrate=hashrate,
            refresh=refresh,
            poll=poll,
            keepalive=keepalive,
            nat=nat,
        )
        flow.cport = host.port(rng)
        out.append(flow)
        made += 1
        if lp and made < budget:
            lps = SHAPES[shape.kind + "-lp"]
            lpf = MinerFlow(
                env,
                host,
                rng.getrandbits(63),
                t + rng.randint(80_000, 900_000),
                t + dur,
                shape=lps,
                pool=pool,
                tls=tls,
                user=user,
                hashrate=hashrate,
                refresh=refresh,
                poll=0.0,
                keepalive=False,
                nat=nat,
            )
            lpf.cport = host.port(rng)
            out.append(lpf)
            made += 1
        t += dur + int((retry + rng.uniform(0, 3)) * S)
    return out


WINDOW_PRE = 20  # per cent of the capture a session may have begun before it

_TLS_SHARE = {
    "cryptonote": 0.5,
    "stratum-v1": 0.45,
    "ethash": 0.5,
    "equihash": 0.5,
    "http": 0.3,
    "stratum-v2": 0.0,
    "browser": 0.9,
}


def _site_key(rng: Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choice(alphabet) for _ in range(32))
