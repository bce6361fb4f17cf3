"""Where the corpus's miners mine: pools and private proxies, and when they push jobs.

**Pools.** Real public endpoints (host, cleartext port, TLS port as the pools publish them;
several are in ``signatures/pools/``, so a flow to them carries a pool-list match, as it
would on a real network) and private endpoints - the proxies cryptojacking campaigns and
mining farms run, on an address or a made-up name, on ports from 80 and 443 to 45700, which
no list knows. The address of a pool comes from its name (:func:`~.net.server_ip`) in its
hoster's prefixes.

**Job timing.** A pool pushes a job when the coin finds a block and, between blocks, when it
refreshes the work (new transactions, a new ntime): the gap to the next push is the earlier
of an exponential draw with the coin's block time and the pool's refresh period (jittered
+-15 %), never under one second. Block times: BTC and BCH 600 s, LTC 150 s, XMR 120 s,
ETC and ETHW 13 s. Refresh periods per pool run from 30 s (ckpool, ViaBTC, Nanopool) to
300 s (private proxies that forward only what the pool sends); ETH-family pools push on
blocks only. Each flow jitters its pool's refresh by a log-normal factor (sigma 0.2), so the
corpus covers mean job intervals from ~5 s (ETC) to 300 s.

**Share timing.** Pools set a share difficulty per connection (vardiff) aiming at one share
every ``target`` seconds, but never below their minimum difficulty: a fast rig submits about
every ``target`` seconds, a slow CPU victim at the minimum difficulty once in many minutes.
The mean share interval is ``difficulty * unit / hashrate`` (``unit`` the hashes per unit of
difficulty: 2^32 for SHA-256d, 2^16 for scrypt, 1 for CryptoNote and Ethash), clamped to
1 s .. 30 min; shares then come as a Poisson process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from random import Random

from detector.synth.corpus.net import server_ip

BLOCK_TIME = {
    "BTC": 600.0,
    "BCH": 600.0,
    "LTC": 150.0,
    "XMR": 120.0,
    "ETC": 13.0,
    "ETHW": 13.0,
    "ZEC": 75.0,  # since Blossom (ZIP-208)
    "ZEN": 150.0,
    "BTG": 600.0,
}


@dataclass(frozen=True)
class Pool:
    """One pool endpoint family (cleartext and TLS port)."""

    name: str  # operator, "" for a private endpoint
    host: str  # name miners connect to ("" when mined by address)
    port: int  # cleartext port
    tls_port: int  # TLS port (0: none)
    coin: str
    refresh: float  # seconds between work refreshes (0: new blocks only)
    provider: str
    tls_host: str = ""  # name of the TLS endpoint when it differs
    key: str = ""  # what the address derives from when there is no name

    def address(self, tls: bool) -> str:
        host = (self.tls_host or self.host) if tls else self.host
        return server_ip(f"pool:{host or self.key or self.name}:{self.port}", self.provider)

    def endpoint(self, tls: bool) -> tuple[str, int]:
        """(name, port) a miner connects to over TLS or cleartext."""
        if tls:
            return (self.tls_host or self.host), self.tls_port
        return self.host, self.port


P = Pool
#: CryptoNote (XMR) pools: the big public ones and their TLS ports.
CRYPTONOTE = (
    P("SupportXMR", "pool.supportxmr.com", 3333, 443, "XMR", 60, "ovh"),
    P("SupportXMR", "pool.supportxmr.com", 5555, 9000, "XMR", 60, "ovh"),
    P("Nanopool", "xmr-eu1.nanopool.org", 10300, 10343, "XMR", 30, "ovh"),
    P("MoneroOcean", "gulf.moneroocean.stream", 10128, 20128, "XMR", 45, "hetzner"),
    P("2Miners", "xmr.2miners.com", 2222, 12222, "XMR", 30, "ovh"),
    P("HashVault", "pool.hashvault.pro", 3333, 443, "XMR", 90, "hetzner"),
    P("C3Pool", "mine.c3pool.com", 13333, 33333, "XMR", 120, "alibaba"),
    P("HeroMiners", "monero.herominers.com", 1111, 1111, "XMR", 60, "hetzner"),
)
#: Stratum v1 pools by coin (SHA-256d BTC/BCH, scrypt LTC).
STRATUM = (
    P("ViaBTC", "btc.viabtc.io", 3333, 551, "BTC", 30, "alibaba", "btc-ssl.viabtc.io"),
    P("F2Pool", "btc.f2pool.com", 1314, 1300, "BTC", 30, "alibaba", "btcssl.f2pool.com"),
    P("Braiins Pool", "stratum.braiins.com", 3333, 0, "BTC", 40, "hetzner"),
    P("ckpool", "solo.ckpool.org", 3333, 0, "BTC", 30, "linode"),
    P("public-pool", "public-pool.io", 21496, 0, "BTC", 60, "hetzner"),
    P("AntPool", "ss.antpool.com", 3333, 443, "BTC", 30, "alibaba"),
    P("ViaBTC", "bch.viabtc.io", 3333, 551, "BCH", 60, "alibaba", "bch-ssl.viabtc.io"),
    P("2Miners", "bch.2miners.com", 7070, 0, "BCH", 120, "ovh"),
    P("F2Pool", "ltc.f2pool.com", 8888, 5201, "LTC", 30, "alibaba", "ltcssl.f2pool.com"),
    P("ViaBTC", "ltc.viabtc.io", 3333, 551, "LTC", 45, "alibaba", "ltc-ssl.viabtc.io"),
)
#: Ethash/Etchash pools (NiceHash EthereumStratum/1.0.0 and eth-proxy).
ETHASH = (
    P("2Miners", "etc.2miners.com", 1010, 11010, "ETC", 0, "ovh"),
    P("2Miners", "ethw.2miners.com", 2020, 12020, "ETHW", 0, "ovh"),
    P("NiceHash", "etchash.auto.nicehash.com", 9200, 443, "ETC", 0, "aws"),
    P("Nanopool", "etc-eu1.nanopool.org", 19999, 19433, "ETC", 0, "ovh"),
    P("HeroMiners", "etc.herominers.com", 1150, 1150, "ETC", 0, "hetzner"),
)
#: Equihash pools (Zcash's ZIP-301 Stratum): the endpoints signatures/pools lists as
#: confirmed (ViaBTC's one port serves both, TLS on its hash-ssl name)
EQUIHASH = (
    P("ViaBTC", "mining.viabtc.io", 3002, 3002, "ZEC", 30, "alibaba", "hash-ssl.viabtc.top"),
    P("F2Pool", "zec.f2pool.com", 3357, 0, "ZEC", 30, "alibaba"),
    P("2Miners", "zec.2miners.com", 1010, 0, "ZEC", 45, "ovh"),
    P("Luxor", "zec.global.luxor.tech", 700, 0, "ZEC", 30, "gcp"),
    P("2Miners", "btg.2miners.com", 4040, 0, "BTG", 60, "ovh"),
)
#: Stratum V2 endpoints (Noise-encrypted on their own port).
STRATUM_V2 = (
    P("Braiins Pool", "v2.stratum.braiins.com", 3336, 0, "BTC", 40, "hetzner"),
    P("DEMAND", "pool.dmnd.work", 2000, 0, "BTC", 30, "gcp"),
)
#: Browser-mining services (WebSocket endpoints; TLS on 443).
BROWSER = (
    P("CoinHive", "ws014.coinhive.com", 80, 443, "XMR", 45, "cloudflare"),
    P("CoinHive", "ws031.coinhive.com", 80, 443, "XMR", 45, "cloudflare"),
    P("AuthedMine", "ws007.authedmine.com", 80, 443, "XMR", 45, "cloudflare"),
    P("CoinIMP", "www.hostingcloud.racing", 80, 443, "XMR", 60, "cloudflare"),
    P("WebMinePool", "webminepool.com", 8181, 443, "XMR", 90, "digitalocean"),
    P("Crypto-Loot", "wss.crypto-loot.org", 80, 443, "XMR", 60, "ovh"),
)

_WORDS = (
    "cdn",
    "api",
    "update",
    "static",
    "sync",
    "telemetry",
    "metrics",
    "img",
    "assets",
    "edge",
    "node",
    "app",
    "data",
    "cloud",
    "secure",
    "srv",
    "web",
    "stats",
    "js",
    "service",
    "check",
    "gw",
    "ws",
    "live",
)
_TLDS = (".com", ".net", ".org", ".top", ".xyz", ".info", ".online", ".site", ".io", ".cc")
_PRIVATE_PORTS = {
    "cryptonote": (443, 80, 8080, 3333, 5555, 7777, 14444, 45700, 9000, 10128, 8443, 6666),
    "stratum-v1": (3333, 443, 25, 80, 8080, 1314, 4444, 9999),
    "ethash": (4444, 8008, 9999, 443, 14444, 5555, 2020),
    "equihash": (3333, 443, 3357, 1010, 8443, 4444, 3002),
    "http": (8332, 9332, 8337, 80, 8080, 18332),
    "http-tls": (443, 8443, 8332, 9443),
    "stratum-v2": (34254, 3336, 34255, 443),
    "browser": (80, 8080, 8181, 3000),
    "browser-tls": (443, 443, 8443),
}
_PRIVATE_COINS = {
    "cryptonote": "XMR",
    "stratum-v1": "BTC",
    "ethash": "ETC",
    "equihash": "ZEC",
    "http": "BTC",
    "http-tls": "BTC",
    "stratum-v2": "BTC",
    "browser": "XMR",
}


def private_name(rng: Random) -> str:
    """A made-up domain of the kind mining proxies hide behind (no pool list has it)."""
    a, b = rng.sample(_WORDS, 2)
    return f"{a}.{b}-{rng.choice(_WORDS)}{rng.randint(1, 99)}{rng.choice(_TLDS)}"


def private_pool(rng: Random, family: str, *, named: bool, coin: str | None = None) -> Pool:
    """A private endpoint (proxy) for a dialect family: by name or by address."""
    host = private_name(rng) if named else ""
    port = rng.choice(_PRIVATE_PORTS[family])
    tls_port = rng.choice(
        _PRIVATE_PORTS[{"http": "http-tls", "browser": "browser-tls"}.get(family, family)]
    )
    coin = coin or _PRIVATE_COINS[family]
    refresh = rng.choice((60.0, 90.0, 120.0, 180.0, 300.0, 0.0))
    if not refresh and BLOCK_TIME[coin] > 300:
        refresh = 300.0
    provider = rng.choice(("ovh", "hetzner", "digitalocean", "vultr", "linode", "aws"))
    return Pool(
        "", host, port, tls_port, coin, refresh, provider, key=f"private{rng.getrandbits(40)}"
    )


# --- timing ---------------------------------------------------------------------------------


class JobClock:
    """The gaps between a pool's job pushes on one connection (seconds); ``new_block``
    says whether the last gap ended with a block (or with a work refresh)."""

    __slots__ = ("rng", "refresh", "block", "mean", "new_block")

    def __init__(self, rng: Random, refresh: float, coin: str) -> None:
        self.rng = rng
        self.block = BLOCK_TIME[coin]
        self.refresh = refresh
        self.mean = job_mean(refresh, coin)
        self.new_block = False

    def gap(self) -> float:
        rng = self.rng
        g = rng.expovariate(1.0 / self.block)
        r = self.refresh * rng.uniform(0.85, 1.15) if self.refresh else math.inf
        self.new_block = g <= r
        return max(1.0, min(g, r))


def jittered_refresh(rng: Random, pool_refresh: float) -> float:
    """A connection's refresh period: its pool's, jittered log-normally (sigma 0.2), 5-300 s."""
    if not pool_refresh:
        return 0.0
    return min(300.0, max(5.0, pool_refresh * math.exp(rng.gauss(0.0, 0.2))))


def job_mean(refresh: float, coin: str) -> float:
    """Mean gap of min(refresh, Exp(block)): ``B (1 - exp(-R/B))``."""
    b = BLOCK_TIME[coin]
    return b * (1.0 - math.exp(-refresh / b)) if refresh else b


@dataclass(frozen=True)
class Rig:
    """Hash rate of a miner shape: log-normal (median, sigma) within [lo, hi] (H/s)."""

    median: float
    sigma: float
    lo: float
    hi: float

    def draw(self, rng: Random) -> float:
        v = rng.lognormvariate(math.log(self.median), self.sigma)
        return min(self.hi, max(self.lo, v))


#: hashes per unit of share difficulty, by coin
UNIT = {
    "BTC": 2.0**32,
    "BCH": 2.0**32,
    "LTC": 2.0**16,
    "XMR": 1.0,
    "ETC": 1.0,
    "ETHW": 1.0,
    # Equihash pools' difficulty 1 is the 0x0007ff... target: 2^13 solutions a share
    "ZEC": 2.0**13,
    "ZEN": 2.0**13,
    "BTG": 2.0**13,
}
#: (minimum difficulties pools set, vardiff target seconds) by coin
VARDIFF = {
    "BTC": ((512, 1024, 8192, 65536), 10.0),
    "BCH": ((512, 1024, 8192, 65536), 10.0),
    "LTC": ((16, 64, 512, 2048), 15.0),
    "XMR": ((1000, 5000, 10000, 25000, 50000), 30.0),
    "ETC": ((1e9, 2e9, 4e9), 15.0),
    "ETHW": ((1e9, 4e9), 15.0),
    "ZEC": ((1, 8, 32, 256), 15.0),
    "ZEN": ((1, 8, 32), 15.0),
    "BTG": ((1, 4, 16), 20.0),
}


def share_interval(rng: Random, coin: str, hashrate: float, fixed: float | None = None) -> float:
    """Mean seconds between shares of a rig of ``hashrate`` at a pool mining ``coin``;
    ``fixed`` is a difficulty the service sets for everyone (browser miners, getwork)."""
    unit = UNIT[coin]
    if fixed is not None:
        diff = fixed
    else:
        mins, target = VARDIFF[coin]
        diff = max(rng.choice(mins), hashrate * target * rng.uniform(0.7, 1.4) / unit)
    return min(1800.0, max(1.0, diff * unit / hashrate))
