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
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detector.chia import PORTS as CHIA_PORTS
from detector.chia import chia_facts
from detector.dissect import flavours
from detector.errors import InputError
from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.netnames import NetworkNames
from detector.patterns import PatternError, compile_linear, pattern_error
from detector.pdns import PassiveDns
from detector.pools import PoolList, PoolMatch
from detector.yamlsrc import line_of, load_yaml

_LOGIN_SEPARATORS = re.compile(r"[./+:@]")


@dataclass(frozen=True, slots=True)
class Flavour:
    """A Stratum flavour's row of coins.yaml: the algorithm its jobs are, and the coins
    that speak it, the most mined first (docs/ARCHITECTURE.md §3.z)."""

    algo: str
    coins: tuple[str, ...]

    def coin(self, *named: str | None) -> str | None:
        """The first coin ``named`` (the wallet's, the pool list's) that speaks this
        flavour, else its default. A coin named outside it is not taken: NiceHash logins
        are Bitcoin addresses whatever the algorithm, and a pool list's coin may be a
        guess."""
        for coin in named:
            if coin in self.coins:
                return coin
        return self.coins[0] if self.coins else None


_UNKNOWN = object()  # CoinTables.wallet_coin: a token not asked about yet


@dataclass(frozen=True, slots=True)
class CoinTables:
    """Compiled coins.yaml."""

    wallets: tuple[tuple[str, Any], ...]  # (coin, compiled pattern)
    algos: dict[str, str]
    dialects: dict[str, str]
    # coin of a wallet format -> the other coins whose addresses look the same (ETH's
    # 0x addresses are ETC's and ETHW's too): a pool list's coin among them names it
    shared: dict[str, frozenset[str]] = field(default_factory=dict)
    flavours: dict[str, Flavour] = field(default_factory=dict)
    personalisations: dict[str, str] = field(default_factory=dict)  # Equihash pers -> coin
    # wallet_coin's answers by token: a miss tries every pattern (~1 us each through the
    # re2 wrapper, ~15 us a token), and logins repeat (a miner logs in again and again;
    # split_login also asks for each head of a login). Not part of the tables' value.
    _coin_of: dict[str, str | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def wallet_coin(self, token: str) -> str | None:
        known = self._coin_of.get(token, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        coin = self._wallet_coin(token)
        if len(self._coin_of) >= 4096:
            self._coin_of.clear()  # bounded: a reset is cheap and rare
        self._coin_of[token] = coin
        return coin

    def _wallet_coin(self, token: str) -> str | None:
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
    shared: dict[str, frozenset[str]] = {}
    for item in doc.get("wallets") or []:
        if not isinstance(item, dict) or not {"coin", "pattern"} <= set(item):
            raise InputError(f"{path}:{line_of(item)}: a wallet entry needs coin and pattern")
        try:
            wallets.append((str(item["coin"]), compile_linear(str(item["pattern"]))))
        except PatternError as exc:
            raise InputError(
                f"{path}:{line_of(item)}: bad wallet pattern: {pattern_error(exc)}"
            ) from None
        also = item.get("shared", [])
        if not _tickers(also):
            raise InputError(f"{path}:{line_of(item)}: shared must be a list of tickers")
        if also:
            shared[str(item["coin"])] = shared.get(str(item["coin"]), frozenset()) | set(also)
    algos = doc.get("algos") or {}
    dialects = doc.get("dialects") or {}
    if not isinstance(algos, dict) or not isinstance(dialects, dict):
        raise InputError(f"{path}:{line_of(doc)}: algos and dialects must be mappings")
    return CoinTables(
        wallets=tuple(wallets),
        algos={str(k).lower(): str(v) for k, v in algos.items()},
        dialects={str(k): str(v) for k, v in dialects.items()},
        shared=shared,
        flavours=_load_flavours(path, doc),
        personalisations=_load_personalisations(path, doc),
    )


def _tickers(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _load_flavours(path: Path, doc: dict[str, Any]) -> dict[str, Flavour]:
    """``flavours: {name: {algo, coins: [...]}}``; names from dissect/flavours.py."""
    table = doc.get("flavours") or {}
    if not isinstance(table, dict):
        raise InputError(f"{path}:{line_of(doc)}: flavours must be a mapping")
    out = {}
    for name, row in table.items():
        where = f"{path}:{line_of(row) if isinstance(row, dict) else line_of(table)}"
        if name not in flavours.KNOWN:
            raise InputError(
                f"{where}: unknown flavour {name!r} (known: {', '.join(sorted(flavours.KNOWN))})"
            )
        if not isinstance(row, dict) or not isinstance(row.get("algo"), str):
            raise InputError(f"{where}: flavour {name} needs an algo and a coins list")
        coins = row.get("coins", [])
        if not _tickers(coins):
            raise InputError(f"{where}: flavour {name}: coins must be a list of tickers")
        out[name] = Flavour(row["algo"].lower(), tuple(coins))
    return out


def _load_personalisations(path: Path, doc: dict[str, Any]) -> dict[str, str]:
    """``personalisations: {BgoldPoW: BTG}``: Equihash personalisation -> coin."""
    table = doc.get("personalisations") or {}
    if not isinstance(table, dict) or not all(
        isinstance(k, str) and 0 < len(k) <= 8 and isinstance(v, str) and v
        for k, v in table.items()
    ):
        raise InputError(
            f"{path}:{line_of(table) if table else line_of(doc)}: personalisations must map "
            "strings of up to 8 characters to tickers"
        )
    return dict(table)


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


# Intel.asked's bound: server addresses remembered. 8,192 like the other address memos
# (pools.MATCH_MEMO, netnames.MAX_MEMO): at 65,536 a capture of ever new hosts kept ~3.4 MB
# more of them (peak RSS, real-traffic 10 M packets: 101.5 -> 98.1 MB), for 1 M fewer
# instructions of 5,035 M on the real-traffic bench (callgrind)
_ASKED_MEMO = 8192

MATCH_RANK = {"endpoint": 0, "host": 1, "suffix": 2, "domain": 3}
_NO_RANK = len(MATCH_RANK)  # worse than every kind: no match yet


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class Intel:
    """Reference data for enrichment, shared by every flow of a scan."""

    coins: CoinTables
    pools: PoolList
    pdns: PassiveDns
    # crypto networks' own names (netnames.py): Filecoin's, and Chia's that chia.py reads
    names: NetworkNames = field(default_factory=NetworkNames)
    # server address -> whether the pool lists may hold it (not PoolList.unlisted_address),
    # as enrich_all asked: servers repeat (half the flows of real-1m), and a dict lookup
    # costs a tenth of the two Python calls that answer it (the pool lists do not change
    # during a scan)
    asked: dict[str, bool] = field(default_factory=dict)


def enrich(record: FlowRecord, intel: Intel) -> None:
    """Enrich one flow's facts (``enrich_all`` of it alone)."""
    enrich_all((record,), intel)


def enrich_all(records: Iterable[FlowRecord], intel: Intel) -> None:
    """Fill DNS names, pool match, network names, wallet, worker and coin of each flow's
    facts. ``facts.hosts``: every name tied to the flow - SNI, a tunnel's target, HTTP
    Host (without port), Stratum host, DNS names of the server's address. One loop for a
    batch of ended flows, not a call per flow: a Python call costs ~1,200 instructions, a
    twentieth of what a flow costs here (callgrind, real-1m)."""
    pdns, pools, names, coins = intel.pdns, intel.pools, intel.names, intel.coins
    answered, unlisted, asked_of = pdns.answered, pools.unlisted_address, intel.asked
    # (not ``if names``: a Python __bool__ call per flow)
    network_names = bool(names.lists)
    for record in records:
        facts = record.facts
        if facts is None:
            continue
        ip = record.server_ip
        # (most servers have no DNS answer: no call for them)
        dns_names = facts.dns_names = pdns.names(ip, record.last_ts) if ip in answered else []
        tls = facts.tls
        if tls:
            sni, tunnel_host = tls.get("sni"), tls.get("tunnel_host")
        else:  # (a third of the flows: HTTP, nodes, DNS)
            sni = tunnel_host = None
        http_host = facts.http.get("host")
        if sni or tunnel_host or http_host:
            named: tuple[tuple[str | None, str], ...]
            if tunnel_host or http_host or type(sni) is not str or ":" in sni:
                used = _hosts(sni, tunnel_host, http_host)
                named = ((sni, "tls.sni"), (tunnel_host, "tunnel"), (http_host, "http.host"))
                alone = None
            else:  # an SNI alone, no port in it (most flows with a name): _hosts' answer,
                used, named = [sni], ((sni, "tls.sni"),)  # and the one name to match
                alone = sni
        else:
            used, named, alone = [], (), None
        if dns_names or facts.pool_host:
            facts.hosts = sorted(set(dns_names).union(used, _hosts(facts.pool_host)))
        else:  # most flows: the names the client used, if any (one: nothing to sort)
            facts.hosts = used if len(used) < 2 else sorted(set(used))
        # an address that no pool list holds as a host matches nothing: most flows' server
        asked = asked_of.get(ip)
        if asked is None:
            if len(asked_of) >= _ASKED_MEMO:
                asked_of.clear()  # bounded: a reset is cheap and rare
            asked = asked_of[ip] = bool(ip) and not unlisted(ip)
        if alone is not None and not (
            asked or dns_names or facts.pool_host or facts.dns or tls.get("tunnel_port") is not None
        ):
            # _match_pool's answer where the SNI is the one thing to match (most TLS flows:
            # no call of it, ~2,000 instructions with its empty loops)
            match = pools.match(alone, record.server_port)
            if match:
                _set_pool(facts, match, "tls.sni")
        # (no name, DNS facts or address that may be listed - a third of the flows: no match)
        elif named or asked or dns_names or facts.pool_host or facts.dns:
            _match_pool(record, facts, pools, named, asked)
        # no call for a flow with no name to look up - no client name, DNS question or
        # node peer's DNS name: ~a third
        if network_names:
            if not facts.dns and not facts.node:
                # most flows: _network_names would look up the client's own names alone
                found = names.match(used) if used else None
                if found is not None:
                    facts.node["name_network"], facts.node["names"] = found
            elif used or facts.dns or (facts.dns_names and facts.node):
                _network_names(facts, names, used)
        if facts.login or facts.algo or facts.algos or facts.pool or facts.dialects:
            _identity(facts, coins)  # (else nothing to split or guess from: most flows)
        # (else no Chia evidence: a flow without DNS facts is looked at for its TLS alone,
        # and chia_facts finds nothing in a session whose certificate names are unseen
        # unless it is bare - no SNI, no ALPN - with a DNS name or to a Chia port: most
        # TLS flows, no call for them)
        if facts.dns or (
            "tls" in facts.app_protos
            and (
                "subject" in tls
                or "issuer" in tls
                or (
                    not sni
                    and not tls.get("alpn")
                    and (dns_names or record.server_port in CHIA_PORTS)
                )
            )
        ):
            chia_facts(record, names)


def _network_names(facts: FlowFacts, names: NetworkNames, client_used: list[str]) -> None:
    """Names of a crypto network's own infrastructure tied to the flow (netnames.py):
    ``node.name_network`` and ``node.names``.

    Only names the flow's client used itself - the questions of a DNS flow, the TLS SNI,
    the HTTP Host, a tunnel's target - say that this host looked the network up. The
    names passive DNS gave the server IP are someone's lookup, and a CDN's address
    (drand.cloudflare.com) carries the whole web's names: they count only on a node
    flow, whose peer they name (a libp2p connection to a Filecoin bootstrap peer).
    ``client_used``: the SNI, tunnel target and HTTP Host (``_hosts``), as ``enrich``
    found them for the flow's host names."""
    node = facts.node
    used = list(facts.dns.get("queries", ()))
    used += client_used
    if node.get("protocol"):
        used += facts.dns_names
    if not used:
        return
    found = names.match(used)
    if found is not None:
        node["name_network"], node["names"] = found


def _hosts(*values: object) -> list[str]:
    """The host names among ``values`` (SNI, a tunnel's target, HTTP Host, Stratum host),
    a ``host:port`` without its port (an IPv6 literal, with more colons, kept whole)."""
    out = []
    for value in values:
        if value:
            text = str(value)
            out.append(text.split(":")[0] if text.count(":") == 1 else text)
    return out


def _match_pool(
    record: FlowRecord,
    facts: FlowFacts,
    pools: PoolList,
    named: tuple[tuple[str | None, str], ...],
    asked: bool,
) -> None:
    """``facts.pool``: the best pool-list match of the flow's names - ``named``, (SNI,
    "tls.sni"), (tunnel target, "tunnel") and (HTTP Host, "http.host") as ``enrich_all``
    read them (the SNI alone when it is the only one; none when there is none), then the
    Stratum host, the DNS names of the server's address and the address itself (when
    ``asked``: it may be listed) - or else of its DNS questions."""
    # The names in order of preference on equal match kinds; the first best kind wins.
    # TLS through a proxy tunnel (SOCKS, HTTP CONNECT) is matched with the target the
    # client asked the proxy for: the flow's own server and port are the proxy's.
    tunnel_port = facts.tls.get("tunnel_port")
    best: tuple[PoolMatch, str] | None = None
    best_rank = _NO_RANK
    match_of, rank_of = pools.match, MATCH_RANK
    port = record.server_port
    if tunnel_port is not None and isinstance(tunnel_port, int):  # (most flows: no tunnel)
        port = tunnel_port
    for host, via in named:
        if host:
            match = match_of(host, port)
            if match:
                rank = rank_of[match.kind]
                if rank < best_rank:
                    best, best_rank = (match, via), rank
    if facts.pool_host:
        match = match_of(facts.pool_host, port)
        if match and rank_of[match.kind] < best_rank:
            best, best_rank = (match, "stratum"), rank_of[match.kind]
    for name in facts.dns_names:
        if name:
            match = match_of(name, port)
            if match and rank_of[match.kind] < best_rank:
                best, best_rank = (match, "dns"), rank_of[match.kind]
    if asked:  # (enrich_all: not an address PoolList.unlisted_address rules out)
        match = pools.match(record.server_ip, port)
        if match and rank_of[match.kind] < best_rank:
            best = (match, "ip")
    if best is None and facts.dns:  # (most flows: no DNS facts)
        for query in facts.dns.get("queries", ()):
            match = pools.match(query)
            if match:
                best = (match, "dns-query")
                break
    if best is not None:
        _set_pool(facts, *best)


def _set_pool(facts: FlowFacts, match: PoolMatch, via: str) -> None:
    """``facts.pool``: the pool-list match ``match`` of the name that came ``via``."""
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
    pool_coin = facts.pool.get("coin") if facts.pool.get("via") != "dns-query" else None
    flavour = tables.flavours.get(facts.flavour) if facts.flavour else None
    if flavour is not None:
        # the job shapes name the algorithm family; within it, the personalisation the
        # pool sent, the wallet or the pool list pick the coin (docs/ARCHITECTURE.md §3.z)
        facts.set_once("algo", flavour.algo)
        pers_coin = tables.personalisations.get(facts.pers) if facts.pers else None
        coin = pers_coin or flavour.coin(wallet_coin, pool_coin)
        if coin:
            facts.coin = coin
            return
    offered = facts.algos if len(facts.algos) == 1 else []
    for algo in ([facts.algo] if facts.algo else []) + offered:
        coin = tables.algo_coin(algo)
        if coin:
            facts.coin = coin
            return
    if wallet_coin:
        # an address format several coins share: the pool list's coin says which
        shared = tables.shared.get(wallet_coin, frozenset())
        facts.coin = pool_coin if pool_coin in shared else wallet_coin
        return
    if pool_coin:
        facts.coin = pool_coin
        return
    if not facts.dialects:
        return
    for dialect in sorted(facts.dialects):
        if dialect in tables.dialects:
            facts.coin = tables.dialects[dialect]
            return
