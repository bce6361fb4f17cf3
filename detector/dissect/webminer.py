"""The CoinHive family's WebSocket vocabulary: in-page miners and the services or
self-hosted proxies that feed them.

CoinHive's JavaScript miner did not speak JSON-RPC to its service but JSON text messages
``{"type": T, "params": {...}}`` over a WebSocket, and everything built to serve that miner
(coin-hive-stratum and its forks, deepMiner, CryptoNoter, the CoinHive clones) kept the
vocabulary, translating it to a Stratum pool's ``login``/``job``/``submit`` on its other
leg. So the browser's leg names no pool and, behind a self-hosted proxy, no listed host:
what shows is the vocabulary. Read from the programs' sources:

* cazala/coin-hive-stratum ``src/Miner.ts`` (1.4.x) and ``src/types.ts``: from the miner
  ``auth`` {site_key, type, user, goal} - which the proxy turns into the pool login
  ``site_key`` or ``site_key.user`` - and ``submit`` {job_id, nonce, result}; to the miner
  ``authed`` {token, hashes}, ``job`` {blob, job_id, target, id} (the pool's job as it
  came, so ``algo``/``height``/``variant`` when the pool sent them), ``hash_accepted``
  {hashes} (the running count of accepted shares) and ``error`` {error}.
* deepwn/deepMiner ``server.js`` and JayWalker512/CryptoNoter ``server.js``: the same
  auth/submit answered with authed/job/hash_accepted, and ``banned`` {banned} when the
  pool refuses the login, ``error`` {error} otherwise.
* CoinHive's captcha and short links: ``verify`` {verify_id, nonce, result} answered by
  ``verified`` (the names as the CoinHive message list gives them; no source of them was
  at hand here, so ``verify`` counts only with the shape of a share).

Recognition is by type *and* shape, as in ``mining.py``: ``job``, ``submit`` and ``error``
are common words, so a job counts only with a hex work blob, a job id and a hex target
(the CryptoNote job shape), a share only with a job id and hex nonce and result, an
``auth`` only with a site key, a ``hash_accepted`` only with its count, and ``error``,
``banned`` and ``verified`` only on a flow already shown to be a web miner's. Anything
else is left to the JSON-RPC classifier (a chat's ``{"type": "message"}`` is not ours).
"""

from __future__ import annotations

from typing import Any

from detector.dialects import BROWSER_WS
from detector.dissect.mining import (
    RpcState,
    cryptonote_job_shape,
    is_cryptonote_target,
    is_hex,
    is_work_blob,
    record_cryptonote_job,
)
from detector.facts import FlowFacts, intern

CLIENT_TYPES = frozenset({"auth", "submit", "verify"})  # the in-page miner sends these
SERVER_TYPES = frozenset({"authed", "job", "hash_accepted", "error", "banned", "verified"})
VOCABULARY = CLIENT_TYPES | SERVER_TYPES


def classify_webminer(
    msg: dict[str, Any], side: int, facts: FlowFacts, state: RpcState | None = None
) -> bool:
    """Record the facts of one CoinHive-family message sent by ``side``; False (nothing
    recorded) if ``msg`` is not one, so that the caller can offer it to the JSON-RPC
    classifier instead. ``state``: the flow's memory of its jobs' difficulties, so that
    shares count their work (hashrate.py) as CryptoNote's do - the job is the pool's."""
    kind = msg.get("type")
    params = msg.get("params")
    if kind not in VOCABULARY or not isinstance(params, dict) or "method" in msg:
        return False
    if kind in CLIENT_TYPES:
        known = _client(kind, params, facts, state)
        client = side
    else:
        known = _server(kind, params, facts, state)
        client = 1 - side
    if not known:
        return False
    sent = facts.sides[side]
    sent.json_messages += 1
    name = intern(kind)
    sent.methods[name] = sent.methods.get(name, 0) + 1
    facts.sides[client].client_votes += 1
    facts.app_protos.add("webminer")
    return True


def _client(kind: str, params: dict[str, Any], facts: FlowFacts, state: RpcState | None) -> bool:
    if kind == "auth":
        site_key = params.get("site_key")
        if not isinstance(site_key, str) or not site_key:
            return False
        user = params.get("user")
        # coin-hive-stratum logs in to the pool as site_key(.user): the same login here
        login = f"{site_key}.{user}" if isinstance(user, str) and user else site_key
        facts.set_once("login", login[:256])
        if isinstance(params.get("type"), str):
            facts.note("web miner auth type " + params["type"][:24])
        facts.dialects.add(BROWSER_WS)
        return True
    if kind in ("submit", "verify"):
        job = params.get("job_id") if kind == "submit" else params.get("verify_id")
        if job is None or not is_hex(params.get("nonce")) or not is_hex(params.get("result")):
            return False
        facts.submits += 1
        if state is not None and kind == "submit":
            state.share_seen(facts, job)
        if isinstance(params.get("algo"), str):
            facts.set_once("algo", params["algo"][:32])
        facts.dialects.add(BROWSER_WS)
        return True
    return False


def _server(kind: str, params: dict[str, Any], facts: FlowFacts, state: RpcState | None) -> bool:
    if kind == "job":
        if not _job_shape(params):
            return False
        record_cryptonote_job(params, facts, state)
        facts.dialects.add(BROWSER_WS)
        return True
    if kind == "hash_accepted":
        if not _is_count(params.get("hashes")):
            return False
        facts.accepted += 1
        facts.dialects.add(BROWSER_WS)
        return True
    if kind == "authed":
        if not _is_count(params.get("hashes")):  # {token, hashes}: the count is the tell
            return False
        facts.pool_replies += 1
        return True
    if kind == "verified":
        if BROWSER_WS not in facts.dialects:
            return False
        facts.accepted += 1  # a captcha or link hash the service counted
        return True
    if kind in ("error", "banned"):
        if BROWSER_WS not in facts.dialects:
            return False  # an error of some other JSON protocol
        if kind == "banned":
            facts.note("web miner service banned the client")
        else:
            if facts.submits > facts.accepted + facts.rejected:
                facts.rejected += 1  # an error while a share awaits its answer: refused
            text = params.get("error")
            if isinstance(text, str) and text:
                facts.note("web miner service error: " + text[:60])
        return True
    return False


def _job_shape(params: dict[str, Any]) -> bool:
    """A CryptoNote job as the pool sent it: a hex hashing blob, a job id and a 32- or
    64-bit hex target (a ``job`` with a git blob id and a job number is a CI event)."""
    return (
        cryptonote_job_shape(params)
        and "job_id" in params
        and is_work_blob(params.get("blob"))
        and is_cryptonote_target(params.get("target"))
    )


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
