"""Describe a flow's mining: split the pool login into wallet and worker, guess the coin.

Uses the tables in ``signatures/coins.yaml`` (data, validated on load). Runs after
dissection and before the rules, so rules can test ``wallet`` and ``coin`` too. Nothing
here decides whether a flow is mining.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from detector.errors import InputError
from detector.facts import FlowFacts
from detector.rules.yamlsrc import line_of, load_yaml

_LOGIN_SEPARATORS = re.compile(r"[./+:@]")


@dataclass(frozen=True, slots=True)
class CoinTables:
    """Compiled coins.yaml."""

    wallets: tuple[tuple[str, re.Pattern[str]], ...]
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
            wallets.append((str(item["coin"]), re.compile(str(item["pattern"]))))
        except re.error as exc:
            raise InputError(f"{path}:{line_of(item)}: bad wallet pattern: {exc}") from None
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
    match = _LOGIN_SEPARATORS.search(token)
    if match:
        head, rest = token[: match.start()], token[match.end() :]
        coin = tables.wallet_coin(head)
        if coin:
            worker = rest.split("/")[0] if match.group(0) == "/" else rest
            if match.group(0) == "+":
                worker = None  # XMR "wallet+difficulty" fixed-difficulty suffix
            return head, (worker or None), coin
        return None, rest or None, None
    return None, None, None


def enrich(facts: FlowFacts, tables: CoinTables) -> None:
    """Fill wallet, worker and coin on a flow's facts where the evidence allows."""
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
    for dialect in sorted(facts.dialects):
        if dialect in tables.dialects:
            facts.coin = tables.dialects[dialect]
            return
