"""Recognise mining-protocol messages among parsed JSON-RPC messages.

Input: one parsed JSON object, the side of the flow that sent it and the transport
("tcp" for newline-delimited JSON, "http" for a POST body or response). Output: facts on
the flow - methods, dialect, agent, login, jobs, submits, difficulty - never a verdict.

Recognition is by method name *and* message shape, never by byte spacing or key order
(DESIGN.md §3): a ``login`` counts as CryptoNote only with a ``login`` key in its params,
a ``mining.notify`` counts as a job only with a job-shaped parameter list. Which side is
the client is voted on from the messages themselves, so captures that start mid-session
(no SYN) and pools on high ports are oriented correctly.
"""

from __future__ import annotations

import re
from typing import Any

from detector.facts import FlowFacts

STRATUM_CLIENT = frozenset(
    {
        "mining.subscribe",
        "mining.authorize",
        "mining.submit",
        "mining.configure",
        "mining.extranonce.subscribe",
        "mining.suggest_difficulty",
        "mining.suggest_target",
        "mining.get_transactions",
        "mining.multi_version",
        "mining.capabilities",
        "mining.hashrate",
        "mining.hello",
        "mining.noop",
    }
)
STRATUM_SERVER = frozenset(
    {
        "mining.notify",
        "mining.set_difficulty",
        "mining.set_target",
        "mining.set_extranonce",
        "mining.set_version_mask",
        "mining.set_goal",
        "mining.ping",
        "client.reconnect",
        "client.show_message",
        "client.get_version",
    }
)
ETH_PROXY_CLIENT = frozenset(
    {"eth_submitLogin", "eth_login", "eth_getWork", "eth_submitWork", "eth_submitHashrate"}
)
CRYPTONOTE_CLIENT = frozenset({"login", "submit", "getjob", "keepalived"})
GBT_METHODS = frozenset({"getblocktemplate", "submitblock"})
MONERO_DAEMON_METHODS = frozenset(
    {"getblocktemplate", "get_block_template", "submitblock", "submit_block"}
)

MINER_REQUESTS = (
    STRATUM_CLIENT | ETH_PROXY_CLIENT | CRYPTONOTE_CLIENT | MONERO_DAEMON_METHODS | {"getwork"}
)

_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")
_MAX_PENDING = 64


def _is_hex(value: Any, length: int | None = None) -> bool:
    if not isinstance(value, str) or not _HEX.match(value):
        return False
    digits = len(value) - (2 if value[:2].lower() == "0x" else 0)
    return length is None or digits == length


def _str(value: Any, limit: int = 256) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


class RpcState:
    """Per-flow memory needed to pair responses with requests (bounded)."""

    __slots__ = ("pending", "eth_votes")

    def __init__(self) -> None:
        # id -> method, per side that sent the request
        self.pending: tuple[dict[Any, str], dict[Any, str]] = ({}, {})
        self.eth_votes = 0  # evidence that Stratum messages are EthereumStratum/1.0.0

    def remember(self, side: int, msg_id: Any, method: str) -> None:
        if msg_id is None or isinstance(msg_id, (dict, list)):
            return
        table = self.pending[side]
        if len(table) >= _MAX_PENDING:
            table.pop(next(iter(table)))
        table[msg_id] = method

    def answer(self, side: int, msg_id: Any) -> str | None:
        """Method of the request that a response from ``side`` answers, if known."""
        if msg_id is None or isinstance(msg_id, (dict, list)):
            return None
        return self.pending[1 - side].pop(msg_id, None)


def classify(
    msg: Any, side: int, facts: FlowFacts, state: RpcState, transport: str, uri: str = ""
) -> None:
    """Record the facts one JSON message carries."""
    if isinstance(msg, list):  # JSON-RPC batch
        for item in msg[:32]:
            classify(item, side, facts, state, transport, uri)
        return
    if not isinstance(msg, dict):
        return
    sent = facts.sides[side]
    sent.json_messages += 1
    method = msg.get("method")
    if isinstance(method, str) and method:
        method = method[:64]
        sent.methods[method] += 1
        state.remember(side, msg.get("id"), method)
        params = msg.get("params")
        if not _client_method(method, params, msg, side, facts, state, transport, uri):
            _server_method(method, params, side, facts, state)
        return
    if "result" in msg or "error" in msg:
        _response(msg, side, facts, state, transport)


def _client_method(
    method: str,
    params: Any,
    msg: dict[str, Any],
    side: int,
    facts: FlowFacts,
    state: RpcState,
    transport: str,
    uri: str,
) -> bool:
    """Handle a method only a miner sends; return False if it is not one."""
    plist = params if isinstance(params, list) else []
    pdict = params if isinstance(params, dict) else {}
    if method in STRATUM_CLIENT:
        _stratum_client(method, plist, facts, state)
    elif method in ETH_PROXY_CLIENT:
        # ethminer and others also send eth_submitHashrate inside EthereumStratum sessions
        if "ethereum-stratum" not in facts.dialects:
            facts.dialects.add("eth-getwork-http" if transport == "http" else "eth-proxy")
        if method in ("eth_submitLogin", "eth_login"):
            _set_login(facts, plist[0] if plist else None)
            facts.set_once("worker", _str(msg.get("worker")))
        elif method == "eth_submitWork" and len(plist) >= 3:
            facts.submits += 1
        elif method == "eth_submitHashrate" and plist and _is_hex(plist[0]):
            facts.reported_hashrate = float(int(plist[0], 16))
        if transport != "http":
            facts.set_once("worker", _str(msg.get("worker")))
    elif method in CRYPTONOTE_CLIENT and _cryptonote_client(method, pdict, facts):
        facts.dialects.add("cryptonote")
    elif method == "getwork" and transport == "http":
        facts.dialects.add("getwork-http")
        if plist and isinstance(plist[0], str):
            facts.submits += 1
    elif method in MONERO_DAEMON_METHODS and _monero_daemon(method, params, facts, uri):
        facts.dialects.add("monero-daemon-http")
    elif method in GBT_METHODS and transport == "http":
        facts.dialects.add("gbt-http")
        if method == "submitblock":
            facts.submits += 1
        elif plist and isinstance(plist[0], dict):
            caps = plist[0].get("capabilities")
            if isinstance(caps, list) and caps:
                facts.note("getblocktemplate capabilities: " + ",".join(map(str, caps[:6])))
    else:
        return False
    facts.sides[side].client_votes += 1
    facts.app_protos.add("stratum" if transport == "tcp" else "http-mining")
    return True


def _stratum_client(method: str, plist: list[Any], facts: FlowFacts, state: RpcState) -> None:
    if method == "mining.subscribe":
        if plist:
            facts.set_once("agent", _str(plist[0]))
        if (
            len(plist) >= 2
            and isinstance(plist[1], str)
            and plist[1].lower().startswith("ethereumstratum/")
        ):
            state.eth_votes += 2
            facts.note("subscribe announces " + plist[1][:40])
        if len(plist) >= 3 and isinstance(plist[2], str):
            facts.set_once("pool_host", _str(plist[2], 128))
    elif method == "mining.authorize":
        if plist:
            _set_login(facts, plist[0])
    elif method == "mining.submit":
        facts.submits += 1
        if plist:
            _set_login(facts, plist[0])
        if len(plist) == 3 and _is_hex(plist[2]):
            state.eth_votes += 1  # EthereumStratum submit: [worker, jobId, minerNonce]
    elif method == "mining.suggest_difficulty" and plist and isinstance(plist[0], (int, float)):
        facts.note(f"client suggests difficulty {plist[0]}")
    _stratum_dialect(facts, state)


def _stratum_dialect(facts: FlowFacts, state: RpcState) -> None:
    if state.eth_votes > 0:
        facts.dialects.discard("stratum-v1")
        facts.dialects.discard("eth-proxy")
        facts.dialects.add("ethereum-stratum")
    else:
        facts.dialects.add("stratum-v1")


def _cryptonote_client(method: str, pdict: dict[str, Any], facts: FlowFacts) -> bool:
    if method == "login":
        if not isinstance(pdict.get("login"), str):
            return False
        _set_login(facts, pdict["login"])
        facts.set_once("agent", _str(pdict.get("agent")))
        facts.set_once("worker", _str(pdict.get("rigid")))
        algos = pdict.get("algo")
        if isinstance(algos, list) and not facts.algos:
            facts.algos = [a[:32] for a in algos[:16] if isinstance(a, str)]
        return True
    if method == "submit":
        if "job_id" in pdict and "nonce" in pdict:
            facts.submits += 1
            facts.set_once("algo", _str(pdict.get("algo"), 32))
            return True
        return False
    if method == "getjob":
        return "id" in pdict
    return method == "keepalived"


def _monero_daemon(method: str, params: Any, facts: FlowFacts, uri: str) -> bool:
    """XMRig's solo mode against monerod: POST /json_rpc getblocktemplate/submitblock."""
    if method in ("getblocktemplate", "get_block_template"):
        if isinstance(params, dict) and isinstance(params.get("wallet_address"), str):
            _set_login(facts, params["wallet_address"])
            return True
        return False
    if "monero-daemon-http" in facts.dialects or uri.rstrip("/") == "/json_rpc":
        facts.submits += 1
        return True
    return False


def _server_method(method: str, params: Any, side: int, facts: FlowFacts, state: RpcState) -> None:
    plist = params if isinstance(params, list) else []
    if method in STRATUM_SERVER:
        if method == "mining.notify":
            if len(plist) == 4 and _is_hex(plist[1], 64) and _is_hex(plist[2], 64):
                state.eth_votes += 1  # [jobId, seedHash, headerHash, clean]
                facts.jobs += 1
            elif len(plist) >= 5 or (
                len(plist) >= 3 and all(isinstance(p, str) for p in plist[:3])
            ):
                facts.jobs += 1
        elif method == "mining.set_difficulty" and plist and isinstance(plist[0], (int, float)):
            facts.difficulty = float(plist[0])
        elif method == "mining.set_target" and plist and _is_hex(plist[0]):
            facts.target = plist[0][:80]
        _stratum_dialect(facts, state)
    elif (
        method == "job"
        and isinstance(params, dict)
        and ("blob" in params and ("job_id" in params or "target" in params))
    ):
        facts.dialects.add("cryptonote")
        _cryptonote_job(params, facts)
    else:
        return
    facts.sides[1 - side].client_votes += 1
    facts.app_protos.add("stratum")


def _cryptonote_job(job: dict[str, Any], facts: FlowFacts) -> None:
    facts.jobs += 1
    algo = _str(job.get("algo"), 32)
    if algo:
        facts.algo = algo
    target = job.get("target")
    if _is_hex(target) and len(target) in (8, 16):
        facts.target = target
        value = int.from_bytes(bytes.fromhex(target), "little")
        if value:
            facts.difficulty = float(((1 << (len(target) * 4)) - 1) // value)


def _response(
    msg: dict[str, Any], side: int, facts: FlowFacts, state: RpcState, transport: str
) -> None:
    result = msg.get("result")
    asked = state.answer(side, msg.get("id"))
    if isinstance(result, dict):
        job = result.get("job")
        if isinstance(job, dict) and "blob" in job:
            facts.dialects.add("cryptonote")
            _cryptonote_job(job, facts)
            facts.sides[1 - side].client_votes += 1
        elif "blocktemplate_blob" in result:
            facts.jobs += 1
            facts.dialects.add("monero-daemon-http")
        elif "data" in result and "target" in result and transport == "http":
            facts.jobs += 1  # getwork work unit
            facts.dialects.add("getwork-http")
        elif "previousblockhash" in result and (
            "coinbasevalue" in result or "transactions" in result
        ):
            facts.jobs += 1
            if transport == "http":
                facts.dialects.add("gbt-http")
        if result.get("status") == "OK" and asked == "submit":
            facts.accepted += 1
    elif isinstance(result, list):
        if 3 <= len(result) <= 5 and all(_is_hex(r, 64) for r in result[:3]):
            facts.jobs += 1  # eth getWork package: header, seed, boundary
            facts.dialects.add("eth-getwork-http" if transport == "http" else "eth-proxy")
            facts.sides[1 - side].client_votes += 1
        elif asked == "mining.subscribe" and result:
            _subscribe_result(result, facts, state)
    if asked in MINER_REQUESTS and result not in (None, False) and not msg.get("error"):
        facts.pool_replies += 1
    if asked in ("mining.submit", "eth_submitWork", "submit", "submitblock"):
        if result is True:
            facts.accepted += 1
        elif result is False or msg.get("error"):
            facts.rejected += 1


def _subscribe_result(result: list[Any], facts: FlowFacts, state: RpcState) -> None:
    """Stratum subscribe reply: [[subscriptions...], extranonce1, en2size] or the
    EthereumStratum/1.0.0 form [["mining.notify", id, "EthereumStratum/1.0.0"], extranonce]."""
    head = result[0]
    if (
        isinstance(head, list)
        and len(head) >= 3
        and isinstance(head[2], str)
        and head[2].lower().startswith("ethereumstratum/")
    ):
        state.eth_votes += 2
    _stratum_dialect(facts, state)


def _set_login(facts: FlowFacts, login: Any) -> None:
    """Keep the pool login as sent; splitting it into wallet and worker needs the coin
    tables and happens when the flow's facts are enriched (detector.enrich)."""
    facts.set_once("login", _str(login))
