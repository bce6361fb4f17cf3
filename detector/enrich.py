"""Enrich a finished flow with what other data knows: the names DNS gave its server IP,
the pool list's verdict on its host names, wallet/worker split of the login, the coin,
and whether it is a Chia peer's (chia.py, with the Chia names list).

Uses ``signatures/coins.yaml`` and ``signatures/pools/`` (data, validated on load) and
the passive-DNS map the DNS dissector filled. Runs after dissection and before the
rules, so rules can test ``pool.*``, ``wallet`` and ``coin``. Nothing here decides
whether a flow is mining.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector.chia import ChiaNames, chia_facts
from detector.errors import InputError
from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.patterns import PatternError, compile_linear, pattern_error
from detector.pdns import PassiveDns
from detector.pools import PoolList, PoolMatch
from detector.yamlsrc import line_of, load_yaml

_LOGIN_SEPARATORS = re.compile(r"[./+:@]")


@dataclass(frozen=True, slots=True)
class CoinTables:
    """Compiled coins.yaml."""

    wallets: tuple[tuple[str, Any], ...]  # (coin, compiled pattern)
    algos: dict[str, str]
    dialects: dict[str, str]

    def wallet_coin(self, token: str) -> str | None:
        for coin, pattern in self.wallets:
            if pattern.match(token):
                return coin
        return None

    def algo_coin(self, algo: str) -> str | None:
        return self.algos.get(algo.lower())


def load_coin_tables(path: Path) -> CoinTables:
    doc = load_yaml(path)
    if not isinstance(doc, dict):
        raise InputError(f"{path}:1: expected a mapping with wallets, algos and dialects")
    wallets = []
    for item in doc.get("wallets") or []:
        if not isinstance(item, dict) or not {"coin", "pattern"} <= set(item):
            raise InputError(f"{path}:{line_of(item)}: a wallet entry needs coin and pattern")
        try:
            wallets.append((str(item["coin"]), compile_linear(str(item["pattern"]))))
        except PatternError as exc:
            raise InputError(
                f"{path}:{line_of(item)}: bad wallet pattern: {pattern_error(exc)}"
            ) from None
    algos = doc.get("algos") or {}
    dialects = doc.get("dialects") or {}
    if not isinstance(algos, dict) or not isinstance(dialects, dict):
        raise InputError(f"{path}:{line_of(doc)}: algos and dialects must be mappings")
    return CoinTables(
        wallets=tuple(wallets),
        algos={str(k).lower(): str(v) for k, v in algos.items()},
        dialects={str(k): str(v) for k, v in dialects.items()},
    )


def split_login(login: str, tables: CoinTables) -> tuple[str | None, str | None, str | None]:
    """Return (wallet, worker, coin) for a pool login such as ``wallet.worker``,
    ``0xaddr/worker/email`` or ``wallet+difficulty``; wallet is None for user names."""
    token = login.strip()
    coin = tables.wallet_coin(token)
    if coin:
        return token, None, coin
    separators = list(_LOGIN_SEPARATORS.finditer(token))
    # The wallet ends at the first separator after which the head is a wallet (an address
    # may hold a separator itself, as in "kaspa:qr...": the head "kaspa" is no wallet).
    for match in separators:
        head, rest = token[: match.start()], token[match.end() :]
        coin = tables.wallet_coin(head)
        if coin:
            worker = rest.split("/")[0] if match.group(0) == "/" else rest
            if match.group(0) == "+":
                worker = None  # XMR "wallet+difficulty" fixed-difficulty suffix
            return head, (worker or None), coin
    if separators:
        return None, token[separators[0].end() :] or None, None
    return None, None, None


MATCH_RANK = {"endpoint": 0, "host": 1, "suffix": 2, "domain": 3}


@dataclass(slots=True)
class Intel:
    """Reference data for enrichment, shared by every flow of a scan."""

    coins: CoinTables
    pools: PoolList
    pdns: PassiveDns
    chia: ChiaNames | None = None  # signatures/lists/chia-names.txt (chia.py)


def enrich(record: FlowRecord, intel: Intel) -> None:
    """Fill DNS names, pool match, wallet, worker and coin of a flow's facts."""
    facts = record.facts
    if facts is None:
        return
    facts.dns_names = intel.pdns.names(record.server_ip, before=record.last_ts)
    facts.hosts = host_names(facts)
    _match_pool(record, facts, intel.pools)
    _identity(facts, intel.coins)
    if intel.chia is not None:
        chia_facts(record, intel.chia)


def host_names(facts: FlowFacts) -> list[str]:
    """Every name tied to the flow: SNI, HTTP Host (without port), Stratum host, DNS."""
    names = set(facts.dns_names)
    tls = facts.tls
    for value in (tls.get("sni"), tls.get("tunnel_host"), facts.http.get("host"), facts.pool_host):
        if value:
            text = str(value)
            names.add(text.split(":")[0] if text.count(":") == 1 else text)
    return sorted(names)


def _match_pool(record: FlowRecord, facts: FlowFacts, pools: PoolList) -> None:
    # The names in order of preference on equal match kinds; the first best kind wins.
    # TLS through a proxy tunnel (SOCKS, HTTP CONNECT) is matched with the target the
    # client asked the proxy for: the flow's own server and port are the proxy's.
    tls = facts.tls
    tunnel_port = tls.get("tunnel_port")
    candidates = [
        (tls.get("sni"), "tls.sni"),
        (tls.get("tunnel_host"), "tunnel"),
        (facts.http.get("host"), "http.host"),
        (facts.pool_host, "stratum"),
    ]
    if facts.dns_names:
        candidates += [(name, "dns") for name in facts.dns_names]
    candidates.append((record.server_ip, "ip"))
    best: tuple[PoolMatch, str] | None = None
    best_rank = len(MATCH_RANK)
    match_of = pools.match
    port = tunnel_port if isinstance(tunnel_port, int) else record.server_port
    for host, via in candidates:
        if not host:
            continue
        match = match_of(host, port)
        if match:
            rank = MATCH_RANK[match.kind]
            if rank < best_rank:
                best, best_rank = (match, via), rank
    if best is None:
        for query in facts.dns.get("queries", []):
            match = pools.match(query)
            if match:
                best = (match, "dns-query")
                break
    if best is not None:
        match, via = best
        facts.pool = {
            "name": match.pool,
            "match": match.kind,
            "host": match.matched,
            "via": via,
            "scheme": match.scheme,
        }
        if match.coin:
            facts.pool["coin"] = match.coin


def _identity(facts: FlowFacts, tables: CoinTables) -> None:
    """Split the login into wallet and worker and guess the coin."""
    if not (facts.login or facts.algo or facts.algos or facts.pool or facts.dialects):
        return  # nothing to split or guess from (most flows: TLS, HTTP, DNS)
    wallet_coin = None
    if facts.login:
        wallet, worker, wallet_coin = split_login(facts.login, tables)
        facts.set_once("wallet", wallet)
        facts.set_once("worker", worker)
    if facts.coin is not None:
        return
    offered = facts.algos if len(facts.algos) == 1 else []
    for algo in ([facts.algo] if facts.algo else []) + offered:
        coin = tables.algo_coin(algo)
        if coin:
            facts.coin = coin
            return
    if wallet_coin:
        facts.coin = wallet_coin
        return
    if facts.pool.get("coin") and facts.pool.get("via") != "dns-query":
        facts.coin = facts.pool["coin"]
        return
    if not facts.dialects:
        return
    for dialect in sorted(facts.dialects):
        if dialect in tables.dialects:
            facts.coin = tables.dialects[dialect]
            return
