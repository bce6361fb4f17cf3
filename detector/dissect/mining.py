"""Recognise mining-protocol messages among parsed JSON-RPC messages.

Input: one parsed JSON object, the side of the flow that sent it and the transport
("tcp" for newline-delimited JSON, "http" for a POST body or response, "ws" for a
WebSocket text message - read as "tcp" is: some web miners tunnel plain Stratum). Output: facts on
the flow - methods, dialect, agent, login, jobs, submits, difficulty - never a verdict.

Recognition is by method name *and* message shape, never by byte spacing or key order
(docs/ARCHITECTURE.md §3): a ``login`` counts as CryptoNote only with a ``login`` key in its params,
a ``mining.notify`` counts as a job only with a job-shaped parameter list. Which side is
the client is voted on from the messages themselves, so captures that start mid-session
(no SYN) and pools on high ports are oriented correctly.

Real clients stretch JSON-RPC in ways the dialect logic has to absorb:

* parameters outside ``params``: Iron Fish puts them in ``body``, Beam writes flat
  messages (``{"method": "job", "input": ..., "difficulty": ...}``);
* responses that repeat the request's ``method`` (Grin, Alephium): a message with a
  ``result`` or ``error`` and no ``params`` is a response whatever else it carries;
* one method set, several dialects: the Stratum family (``mining.*``) is settled from all
  evidence seen so far - an announced EthereumStratum version or Ethereum-shaped jobs make
  it ``ethereum-stratum``, a 3-parameter submit only when no job contradicts it (Kadena and
  Kaspa submit the same shape), and ``mining.notify`` pushes inside an ETH-proxy session
  (ethminer's Nanopool workaround) keep it ``eth-proxy``.
"""

from __future__ import annotations

import re
from typing import Any

from detector.dialects import (
    BEAM_STRATUM,
    CRYPTONOTE,
    ETH_GETWORK_HTTP,
    ETH_PROXY,
    ETHEREUM_STRATUM,
    GBT_HTTP,
    GETWORK_HTTP,
    GRIN_STRATUM,
    MONERO_DAEMON_HTTP,
    STRATUM_FAMILY,
    STRATUM_V1,
)
from detector.dissect import filecoin, flavours, wallets
from detector.facts import FlowFacts, intern

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
        "mining.set",  # EthereumStratum/2.0.0 session parameters
        "mining.bye",
        "mining.ping",
        "mining.subscribed",  # Iron Fish
        "mining.submitted",
        "mining.wait_for_work",
        "set_extranonce",  # kHeavyHash pools (kaspa-stratum-bridge, NiceHash) drop the prefix
        "client.reconnect",
        "client.show_message",
        "client.get_version",
    }
)
ETH_PROXY_CLIENT = frozenset(
    {"eth_submitLogin", "eth_login", "eth_getWork", "eth_submitWork", "eth_submitHashrate"}
)
CRYPTONOTE_CLIENT = frozenset(
    {"login", "submit", "getjob", "keepalived", "block_template", "getjobtemplate"}
)
BEAM_CLIENT = frozenset({"login", "solution"})
GBT_METHODS = frozenset({"getblocktemplate", "submitblock"})
MONERO_DAEMON_METHODS = frozenset(
    {"getblocktemplate", "get_block_template", "submitblock", "submit_block"}
)

MINER_REQUESTS = (
    STRATUM_CLIENT
    | ETH_PROXY_CLIENT
    | CRYPTONOTE_CLIENT
    | BEAM_CLIENT
    | MONERO_DAEMON_METHODS
    | {"getwork"}
)
# The miners' and pools' methods that no wallet call is (wallets.wallet_protocol names
# none of them, whatever the URI): classify does not ask wallets.record_request about
# them - nearly every message of a mining session (a test checks the set).
NOT_WALLET = frozenset(
    m
    for m in (*MINER_REQUESTS, *STRATUM_SERVER)
    if wallets.wallet_protocol(m) is None and m not in wallets.MONERO_WALLET_METHODS
)

_HEX = re.compile(r"^(0x)?[0-9a-fA-F]+$")
_TARGET = re.compile(r"[0-9a-fA-F]{8}|[0-9a-fA-F]{16}")  # a CryptoNote share target, LE
_MAX_PENDING = 64
_WORK_DIGITS = 32  # hex digits of the shortest hash a job carries (header, prevhash, seed)
_BOUNDARY_MAX = 1 << 240  # an Ethereum share boundary: difficulty >= 65536, so >= 16 zero bits
_MAX_JOBS = 16  # jobs whose share difficulty a flow remembers (a submit names its job)
# What a share is worth (RpcState.job_work): hashes, or the pool's difficulty units.
HASHES = 0
DIFF = 1


def _is_hex(value: Any, length: int | None = None) -> bool:
    if not isinstance(value, str) or not _HEX.match(value):
        return False
    digits = len(value) - (2 if value[:2].lower() == "0x" else 0)
    return length is None or digits == length


def _job_key(job_id: str | int) -> str:
    """A job id (or an Ethereum header hash) as submits repeat it: case and 0x aside."""
    text = str(job_id)[:80].lower()
    return text[2:] if text.startswith("0x") else text


def _positive(value: Any) -> bool:
    """A difficulty a share can have: a finite number above zero."""
    return (
        isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")
    )


def _hex_digits(value: str) -> int:
    return len(value) - (2 if value[:2].lower() == "0x" else 0)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_work_blob(value: Any) -> bool:
    """A hash or header as jobs carry them: hex, at least 16 bytes."""
    return _is_hex(value) and _hex_digits(value) >= _WORK_DIGITS


def _is_header_words(value: Any) -> bool:
    """A header as 64-bit words (kaspa-stratum-bridge's notify: four numbers)."""
    return isinstance(value, list) and len(value) >= 4 and all(_is_int(v) for v in value[:8])


def _str(value: Any, limit: int = 256) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _announces_ethstratum(value: Any) -> bool:
    return isinstance(value, str) and value.lower().startswith("ethereumstratum/")


class RpcState:
    """Per-flow memory: pending requests (to pair responses with them) and the dialect
    evidence seen so far (bounded)."""

    __slots__ = (
        "pending",
        "eth_strong",
        "eth_weak",
        "non_eth_job",
        "es2",
        "eth_work",
        "eth_hashrate",
        "stratum_client",
        "stratum_server",
        "grin",
        "job_work",
        "next_work",
    )

    def __init__(self) -> None:
        # id -> method, per side that sent the request
        self.pending: tuple[dict[Any, str], dict[Any, str]] = ({}, {})
        self.eth_strong = False  # an EthereumStratum version announced or Ethereum jobs
        self.eth_weak = False  # a submit shaped like EthereumStratum's [user, job, nonce]
        self.non_eth_job = False  # a job whose shape is not EthereumStratum's
        self.es2 = False  # EthereumStratum/2.0.0: submit params start with the job id
        self.eth_work = False  # ETH-proxy work methods or getWork packages
        self.eth_hashrate = False  # eth_submitHashrate (also sent inside Stratum sessions)
        self.stratum_client = False  # the client sent mining.* requests
        self.stratum_server = False  # the server sent mining.* / client.* messages
        self.grin = False  # Grin's stratum (login/submit shaped like CryptoNote's)
        # What a share of each recent job is worth, (HASHES or DIFF, amount), by job id
        # (an Ethereum work package: by header hash), and what the next job's shares will
        # be worth: the pool's difficulty applies from the next job on (NiceHash's
        # EthereumStratum/1.0.0: "miner starts using new difficulty for every NEXT job").
        self.job_work: dict[str, tuple[int, float]] = {}
        self.next_work: tuple[int, float] | None = None

    def job_seen(self, job_id: Any, work: tuple[int, float] | None = None) -> None:
        """A job arrived: its shares are worth ``work`` (default: the difficulty set for
        the next job). Bounded: the oldest job is forgotten first."""
        if work is not None:
            self.next_work = work
        if self.next_work is None or not isinstance(job_id, (str, int)) or isinstance(job_id, bool):
            return
        key = _job_key(job_id)
        table = self.job_work
        if key not in table and len(table) >= _MAX_JOBS:
            table.pop(next(iter(table)))
        table[key] = self.next_work

    def share_seen(self, facts: FlowFacts, job_id: Any) -> None:
        """A share for ``job_id``: add the work it stands for (docs/ARCHITECTURE.md §13) -
        its job's difficulty, or for a job not seen (it came before the capture) the
        latest one; nothing when no difficulty was seen at all."""
        work = None
        if isinstance(job_id, (str, int)) and not isinstance(job_id, bool):
            work = self.job_work.get(_job_key(job_id))
        work = work or self.next_work
        if work is None:
            return
        kind, amount = work
        if kind == HASHES:
            facts.work_hashes += amount
            facts.hash_shares += 1
            facts.hashes_sq += amount * amount
            facts.hashes_max = max(facts.hashes_max, amount)
        else:
            facts.work_diff += amount
            facts.diff_shares += 1
            facts.diff_sq += amount * amount
            facts.diff_max = max(facts.diff_max, amount)

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
    is_response = ("result" in msg or "error" in msg) and "params" not in msg and "body" not in msg
    if isinstance(method, str) and method and not is_response:
        method = method[:64]
        seen = sent.methods.get(method)
        if seen is None:  # interned: every miner flow's facts then share one "mining.submit"
            sent.methods[intern(method)] = 1
        else:
            sent.methods[method] = seen + 1
        state.remember(side, msg.get("id"), method)
        if method not in NOT_WALLET:
            wallets.record_request(method, msg, side, facts, uri)  # a wallet's call: a sighting
        params = msg.get("params")
        if params is None and isinstance(msg.get("body"), (dict, list)):
            params = msg["body"]  # Iron Fish stratum
        if method.startswith(filecoin.PREFIX) and filecoin.is_filecoin(method):
            filecoin.record(method, params, side, facts)  # lotus's API: no mining dialect else
            return
        if not _client_method(method, params, msg, side, facts, state, transport, uri):
            _server_method(method, params, msg, side, facts, state, transport)
        return
    if is_response:
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
        _stratum_client(method, params, plist, facts, state)
        _settle_stratum(facts, state, transport)
    elif method in ETH_PROXY_CLIENT:
        if method == "eth_submitHashrate":
            state.eth_hashrate = True
        else:
            state.eth_work = True
        if method in ("eth_submitLogin", "eth_login"):
            _set_login(facts, plist[0] if plist else None)
            facts.set_once("worker", _str(msg.get("worker")))
        elif method == "eth_submitWork" and len(plist) >= 3:
            facts.submits += 1
            state.share_seen(facts, plist[1])  # [nonce, header, mix]: its work package
        elif method == "eth_submitHashrate" and plist and _is_hex(plist[0]):
            facts.reported_hashrate = float(int(plist[0], 16))
        if transport != "http":
            facts.set_once("worker", _str(msg.get("worker")))
        _settle_stratum(facts, state, transport)
    elif method in CRYPTONOTE_CLIENT and _cryptonote_client(method, pdict, facts, state):
        _settle_cryptonote(facts, state)
    elif method in BEAM_CLIENT and params is None and _beam_client(method, msg, facts):
        facts.dialects.add(BEAM_STRATUM)
    elif method == "getwork" and transport == "http":
        facts.dialects.add(GETWORK_HTTP)
        if plist and isinstance(plist[0], str):
            facts.submits += 1
    elif method in MONERO_DAEMON_METHODS and _monero_daemon(method, params, facts, uri):
        facts.dialects.add(MONERO_DAEMON_HTTP)
    elif method in GBT_METHODS and transport == "http":
        facts.dialects.add(GBT_HTTP)
        if method == "submitblock":
            facts.submits += 1
        elif plist and isinstance(plist[0], dict):
            caps = plist[0].get("capabilities")
            if isinstance(caps, list) and caps:
                facts.note("getblocktemplate capabilities: " + ",".join(map(str, caps[:6])))
    else:
        return False
    facts.sides[side].client_votes += 1
    facts.app_protos.add("http-mining" if transport == "http" else "stratum")
    return True


def _stratum_client(
    method: str, params: Any, plist: list[Any], facts: FlowFacts, state: RpcState
) -> None:
    state.stratum_client = True
    pdict = params if isinstance(params, dict) else {}
    if method == "mining.subscribe":
        if plist:
            facts.set_once("agent", _str(plist[0]))
        if len(plist) >= 2 and _announces_ethstratum(plist[1]):
            state.eth_strong = True
            facts.note("subscribe announces " + plist[1][:40])
        if len(plist) >= 3 and isinstance(plist[2], str):
            facts.set_once("pool_host", _str(plist[2], 128))
        # Iron Fish: {version, agent, publicAddress}
        facts.set_once("agent", _str(pdict.get("agent")))
        _set_login(facts, pdict.get("publicAddress"))
    elif method == "mining.hello":
        # EthereumStratum/2.0.0: {agent, host, port, proto}
        facts.set_once("agent", _str(pdict.get("agent")))
        facts.set_once("pool_host", _str(pdict.get("host"), 128))
        if _announces_ethstratum(pdict.get("proto")):
            state.eth_strong = state.es2 = True
            facts.note("hello announces " + pdict["proto"][:40])
        elif len(plist) >= 2 and isinstance(plist[1], str):  # Alephium: [agent, proto]
            facts.set_once("agent", _str(plist[0]))
    elif method == "mining.authorize":
        if plist:
            _set_login(facts, plist[0])
    elif method == "mining.submit":
        facts.submits += 1
        # [worker, job, ...]; EthereumStratum/2.0.0 starts with the job id; Alephium
        # submits an object {jobId, fromGroup, toGroup, nonce, worker}
        job_at = 0 if state.es2 else 1
        job = plist[job_at] if len(plist) > job_at else pdict.get("jobId")
        state.share_seen(facts, job)
        if plist and not state.es2:  # EthereumStratum/2.0.0 submits start with the job id
            _set_login(facts, plist[0])
        # A share's shape can only set the flavour (its Shapes name no personalisation,
        # and share_shape raises nothing): once a flavour is in, the first one seen stays,
        # so the shape - an Equihash solution's ~2,700 hex digits checked - is not read.
        if facts.flavour is None:
            _flavour(facts, flavours.share_shape(params))
        if facts.flavour == flavours.ALEPHIUM:
            _set_login(facts, pdict.get("worker"))
        if len(plist) == 3 and _is_hex(plist[2]):
            state.eth_weak = True  # EthereumStratum submit: [worker, jobId, minerNonce]
    elif method == "mining.hashrate":
        # EthereumStratum/2.0.0: [rate (hex), worker id]
        if plist and _is_hex(plist[0]):
            facts.reported_hashrate = float(int(plist[0], 16))
    elif method == "mining.suggest_difficulty" and plist and isinstance(plist[0], (int, float)):
        facts.note(f"client suggests difficulty {plist[0]}")


def _settle_stratum(facts: FlowFacts, state: RpcState, transport: str) -> None:
    """Decide the flow's Stratum/Ethereum dialect from all the evidence so far."""
    if state.stratum_client or (state.stratum_server and not state.eth_work):
        ethereum = state.eth_strong or (state.eth_weak and not state.non_eth_job)
        settled: str | None = ETHEREUM_STRATUM if ethereum else STRATUM_V1
    elif state.eth_work or state.eth_hashrate:
        settled = ETH_GETWORK_HTTP if transport == "http" else ETH_PROXY
    else:
        settled = None
    dialects = facts.dialects
    if len(dialects) == 1 and settled in dialects:
        return  # settled as before (every message of a session asks again)
    for dialect in STRATUM_FAMILY:
        dialects.discard(dialect)
    if settled is not None:
        dialects.add(settled)


def _settle_cryptonote(facts: FlowFacts, state: RpcState) -> None:
    """CryptoNote and Grin share ``login``/``submit``; Grin's jobs and shares tell them apart."""
    if state.grin:
        facts.dialects.discard(CRYPTONOTE)
        facts.dialects.add(GRIN_STRATUM)
    elif GRIN_STRATUM not in facts.dialects:
        facts.dialects.add(CRYPTONOTE)


def _cryptonote_client(
    method: str, pdict: dict[str, Any], facts: FlowFacts, state: RpcState
) -> bool:
    if method == "login":
        if not isinstance(pdict.get("login"), str):
            return False
        _set_login(facts, pdict["login"])
        facts.set_once("agent", _str(pdict.get("agent")))
        facts.set_once("worker", _str(pdict.get("rigid")))
        algos = pdict.get("algo")
        if isinstance(algos, list) and not facts.algos:
            facts.algos = [intern(a[:32]) for a in algos[:16] if isinstance(a, str)]
        if pdict.get("mode") == "self-select":
            facts.note("login asks for self-select mode")
        return True
    if method == "submit":
        if "job_id" in pdict and "nonce" in pdict:
            facts.submits += 1
            state.share_seen(facts, pdict["job_id"])
            if facts.algo is None:  # (set_once: the first share's stays)
                facts.set_once("algo", _str(pdict.get("algo"), 32))
            if isinstance(pdict.get("pow"), list) and "edge_bits" in pdict:
                state.grin = True  # a Cuckoo cycle, not a CryptoNight/RandomX result
            return True
        return False
    if method == "block_template":
        # XMRig self-select: the template it fetched from its own daemon, for the pool
        return "job_id" in pdict and _is_work_blob(pdict.get("blob"))
    if method == "getjobtemplate":
        state.grin = True  # Grin's job request (params null)
        return True
    if method == "getjob":
        return "id" in pdict
    return method == "keepalived"


def _beam_client(method: str, msg: dict[str, Any], facts: FlowFacts) -> bool:
    """Beam's flat messages: login {api_key}, solution {id, nonce, output}."""
    if method == "login":
        return isinstance(msg.get("api_key"), str)  # the key itself is a secret: not kept
    if _is_hex(msg.get("nonce")) and _is_work_blob(msg.get("output")):
        facts.submits += 1
        return True
    return False


def _monero_daemon(method: str, params: Any, facts: FlowFacts, uri: str) -> bool:
    """XMRig's solo mode against monerod: POST /json_rpc getblocktemplate/submitblock."""
    if method in ("getblocktemplate", "get_block_template"):
        if isinstance(params, dict) and isinstance(params.get("wallet_address"), str):
            _set_login(facts, params["wallet_address"])
            return True
        return False
    if MONERO_DAEMON_HTTP in facts.dialects or uri.rstrip("/") == "/json_rpc":
        facts.submits += 1
        return True
    return False


def _server_method(
    method: str,
    params: Any,
    msg: dict[str, Any],
    side: int,
    facts: FlowFacts,
    state: RpcState,
    transport: str,
) -> None:
    plist = params if isinstance(params, list) else []
    pdict = params if isinstance(params, dict) else {}
    if method in STRATUM_SERVER:
        state.stratum_server = True
        if method == "mining.notify":
            _stratum_job(params, plist, facts, state)
        elif method == "mining.set_difficulty" and plist and isinstance(plist[0], (int, float)):
            facts.difficulty = float(plist[0])
            if _positive(plist[0]):
                state.next_work = (DIFF, float(plist[0]))  # for the jobs from now on
        elif method == "mining.set_target":
            target = plist[0] if plist else pdict.get("target")  # Iron Fish: {target}
            if _is_hex(target):
                facts.target = target[:80]
        elif method == "mining.set" and {"epoch", "target", "algo", "extranonce"} & set(pdict):
            state.eth_strong = state.es2 = True  # EthereumStratum/2.0.0 session parameters
            if _is_hex(pdict.get("target")):
                facts.target = pdict["target"][:80]
            facts.set_once("algo", _str(pdict.get("algo"), 32))
        _settle_stratum(facts, state, transport)
    elif method == "job" and isinstance(params, dict) and _cryptonote_job_shape(params):
        _cryptonote_job(params, facts, state)
        _settle_cryptonote(facts, state)
    elif method == "job" and isinstance(params, dict) and _grin_job_shape(params):
        _grin_job(params, facts, state)
    elif method == "job" and params is None and _beam_job_shape(msg):
        facts.jobs += 1
        facts.dialects.add(BEAM_STRATUM)
        if _is_int(msg.get("difficulty")):
            facts.note(f"beam job difficulty {msg['difficulty']}")
    elif method == "result" and params is None and _beam_result(msg, side, facts, state):
        facts.dialects.add(BEAM_STRATUM)
    else:
        return
    facts.sides[1 - side].client_votes += 1
    facts.app_protos.add("stratum")


def _stratum_job(params: Any, plist: list[Any], facts: FlowFacts, state: RpcState) -> None:
    """mining.notify: count it if it is shaped as a job, and note which kind."""
    if len(plist) == 4 and _is_hex(plist[1], 64) and _is_hex(plist[2], 64):
        # EthereumStratum/1.0.0 [jobId, seedHash, headerHash, clean] and ethminer's plain
        # Stratum mode [jobId, header, seed, target]
        state.eth_strong = True
        facts.jobs += 1
        state.job_seen(plist[0])
    elif _notify_is_job(params):
        state.non_eth_job = True
        facts.jobs += 1
        shape = flavours.job_shape(params)
        _flavour(facts, shape)
        if plist:
            # a job that states its share target (KAWPOW, Octopus) says what its
            # shares are worth in hashes: 2^256 / target (dissect/flavours.py)
            work = (HASHES, shape.hashes) if shape is not None and shape.hashes else None
            state.job_seen(plist[0], work)


def _flavour(facts: FlowFacts, shape: flavours.Shape | None) -> None:
    """Record the GPU coin flavour a job or share showed (the first one seen stays)."""
    if shape is None:
        return
    if facts.flavour is None:
        facts.flavour = intern(shape.flavour)
        facts.note("job/share shape: " + shape.flavour)
    facts.set_once("pers", shape.pers)


def _notify_is_job(params: Any) -> bool:
    """Job-shaped notify parameters, for every Stratum-style coin seen in the wild.

    Bitcoin-family jobs have five or more parameters; otherwise a job is a job id followed
    by work: a hash or header in hex (Kadena [job, header, clean], kaspa-stratum-bridge's
    BzMiner jobs [job, header+time]), a header as 64-bit words (the bridge's default jobs),
    a list of per-chain templates (Alephium) or an object with a header (Iron Fish)."""
    if isinstance(params, dict):
        return any(_is_work_blob(v) for v in params.values())
    if not isinstance(params, list) or not params:
        return False
    if len(params) >= 5 or (len(params) >= 3 and all(isinstance(p, str) for p in params[:3])):
        return True
    head = params[0]
    if isinstance(head, dict):
        return any(
            isinstance(p, dict) and any(_is_work_blob(v) for v in p.values()) for p in params[:32]
        )
    if not (isinstance(head, str) or _is_int(head)):
        return False
    return any(_is_work_blob(p) or _is_header_words(p) for p in params[1:])


def _cryptonote_job_shape(job: dict[str, Any]) -> bool:
    """A CryptoNote job: a blob to hash, or - XMRig self-select - the extra nonce and
    pool wallet the miner builds its own template with."""
    if "blob" in job:
        return "job_id" in job or "target" in job
    return "job_id" in job and "target" in job and "extra_nonce" in job and "pool_wallet" in job


def _grin_job_shape(job: dict[str, Any]) -> bool:
    """A Grin job: the header before the proof of work, a height and a difficulty."""
    return _is_work_blob(job.get("pre_pow")) and _is_int(job.get("height")) and "job_id" in job


def _beam_job_shape(msg: dict[str, Any]) -> bool:
    """A Beam job (flat): the 32-byte input to hash and a packed difficulty."""
    return _is_hex(msg.get("input"), 64) and _is_int(msg.get("difficulty"))


def _beam_result(msg: dict[str, Any], side: int, facts: FlowFacts, state: RpcState) -> bool:
    """Beam's ``result`` message: {code, description} answering login or a solution."""
    code = msg.get("code")
    if not _is_int(code) or not isinstance(msg.get("description"), str):
        return False
    asked = state.answer(side, msg.get("id"))
    if code == 0 and asked in BEAM_CLIENT:
        facts.pool_replies += 1
    if asked == "solution":
        if code == 0:
            facts.accepted += 1
        else:
            facts.rejected += 1
    return True


def _cryptonote_job(job: dict[str, Any], facts: FlowFacts, state: RpcState | None = None) -> None:
    """A CryptoNote job. Its target is a 32- or 64-bit little-endian number; the share
    difficulty - the hashes a share takes on average - is XMRig's (Job::setTarget, toDiff):
    a 4-byte target t stands for the 64-bit 0xFFFFFFFFFFFFFFFF / (0xFFFFFFFF / t), and
    difficulty = 0xFFFFFFFFFFFFFFFF / target64, i.e. (2^32 - 1) // t for 4 bytes."""
    facts.jobs += 1
    algo = _str(job.get("algo"), 32)
    if algo:
        facts.algo = algo
    target = job.get("target")
    if _is_cryptonote_target(target):
        facts.target = target
        value = int.from_bytes(bytes.fromhex(target), "little")
        if value:
            facts.difficulty = float(((1 << (len(target) * 4)) - 1) // value)
            if state is not None and facts.difficulty > 0:
                state.job_seen(job.get("job_id"), (HASHES, facts.difficulty))


def _is_cryptonote_target(value: Any) -> bool:
    """A 32- or 64-bit little-endian hex target, nothing else: ``_is_hex`` also takes a
    ``0x`` prefix and a trailing newline, and ``bytes.fromhex`` refused such an 8-character
    target with a ValueError that ended the flow's parsing (found by fuzz/targets/websocket.py)."""
    return isinstance(value, str) and _TARGET.fullmatch(value) is not None


def _grin_job(job: dict[str, Any], facts: FlowFacts, state: RpcState) -> None:
    facts.jobs += 1
    state.grin = True
    if _is_int(job.get("difficulty")):
        facts.difficulty = float(job["difficulty"])
    _settle_cryptonote(facts, state)


def _response(
    msg: dict[str, Any], side: int, facts: FlowFacts, state: RpcState, transport: str
) -> None:
    result = msg.get("result")
    asked = state.answer(side, msg.get("id"))
    if isinstance(result, dict):
        job = result.get("job")
        if isinstance(job, dict) and _cryptonote_job_shape(job):
            _cryptonote_job(job, facts, state)
            _settle_cryptonote(facts, state)
            facts.sides[1 - side].client_votes += 1
        elif _grin_job_shape(result):
            _grin_job(result, facts, state)  # getjobtemplate's answer
            facts.sides[1 - side].client_votes += 1
        elif "blocktemplate_blob" in result:
            facts.jobs += 1
            facts.dialects.add(MONERO_DAEMON_HTTP)
        elif "data" in result and "target" in result and transport == "http":
            facts.jobs += 1  # getwork work unit
            facts.dialects.add(GETWORK_HTTP)
        elif "previousblockhash" in result and (
            "coinbasevalue" in result or "transactions" in result
        ):
            facts.jobs += 1
            if transport == "http":
                facts.dialects.add(GBT_HTTP)
        elif asked == "mining.hello" and _announces_ethstratum(result.get("proto")):
            state.eth_strong = state.es2 = True
            _settle_stratum(facts, state, transport)
        if result.get("status") == "OK" and asked == "submit":
            facts.accepted += 1
    elif isinstance(result, list):
        if _eth_work_package(result, asked):
            facts.jobs += 1  # eth getWork package: header, seed, boundary
            state.eth_work = True
            _eth_boundary(result, facts, state)
            _settle_stratum(facts, state, transport)
            facts.sides[1 - side].client_votes += 1
        elif asked == "mining.subscribe" and result:
            _subscribe_result(result, facts, state, transport)
    if asked in MINER_REQUESTS and result not in (None, False) and not msg.get("error"):
        facts.pool_replies += 1
    if asked in ("mining.submit", "eth_submitWork", "submit", "submitblock"):
        if result is True or (asked == "submit" and result == "ok"):  # Grin answers "ok"
            facts.accepted += 1
        elif result is False or msg.get("error"):
            facts.rejected += 1


def _eth_work_package(result: list[Any], asked: str | None) -> bool:
    """An Ethereum work package [header, seed, boundary (, block number)].

    As the answer to the miner's own work request it is taken as it comes - some pools
    strip the boundary's leading zeros (ethminer pads them back: "coinmine.pl fix"). A list
    that answers some other request is not one: node APIs return lists of 32-byte hashes
    too (eth_getFilterChanges). Unsolicited (an ETH-proxy push, or the request was not
    captured), the third item must be a share boundary - a number far below 2^256."""
    if not 3 <= len(result) <= 5:
        return False
    header, seed, boundary = result[0], result[1], result[2]
    if not (_is_hex(header, 64) and _is_hex(seed, 64) and _is_hex(boundary)):
        return False
    if _hex_digits(boundary) > 64:
        return False
    if asked in ETH_PROXY_CLIENT:
        return True
    if asked is not None:
        return False
    return int(boundary, 16) < _BOUNDARY_MAX


def _eth_boundary(package: list[Any], facts: FlowFacts, state: RpcState) -> None:
    """The share boundary of an Ethereum work package [header, seed, boundary]: a share
    is a hash below it, so it takes 2^256 / boundary hashes on average (Ethash's
    difficulty = 2^256 / boundary; ethminer's getwork client reads it so). Noted for the
    package's header, which eth_submitWork repeats."""
    boundary = int(package[2], 16)
    if boundary <= 0:
        return
    facts.target = package[2][:80]
    facts.difficulty = float((1 << 256) // boundary)
    state.job_seen(package[0], (HASHES, facts.difficulty))


def _subscribe_result(result: list[Any], facts: FlowFacts, state: RpcState, transport: str) -> None:
    """Stratum subscribe reply: [[subscriptions...], extranonce1, en2size], the
    EthereumStratum/1.0.0 form [["mining.notify", id, "EthereumStratum/1.0.0"], extranonce]
    or kaspa-stratum-bridge's [true, "EthereumStratum/1.0.0"]."""
    head = result[0]
    if (isinstance(head, list) and len(head) >= 3 and _announces_ethstratum(head[2])) or (
        len(result) >= 2 and _announces_ethstratum(result[1])
    ):
        state.eth_strong = True
    _settle_stratum(facts, state, transport)


def _set_login(facts: FlowFacts, login: Any) -> None:
    """Keep the pool login as sent; splitting it into wallet and worker needs the coin
    tables and happens when the flow's facts are enriched (detector.enrich). Once a
    login is kept nothing changes it (set_once): a miner's every share repeats it."""
    if facts.login is None:
        facts.set_once("login", _str(login))


# The job and share shapes, shared with the CoinHive-family vocabulary (webminer.py): its
# ``job`` messages carry the pool's CryptoNote job as it came.
is_hex = _is_hex
is_work_blob = _is_work_blob
cryptonote_job_shape = _cryptonote_job_shape
is_cryptonote_target = _is_cryptonote_target
record_cryptonote_job = _cryptonote_job
