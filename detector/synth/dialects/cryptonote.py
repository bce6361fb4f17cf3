"""CryptoNote stratum (Monero/RandomX): login with a wallet, jobs with a hashing blob,
submits of nonce and result, keepalived.

Client lines, per client:

* XMRig 6.x (Client.cpp ``login``/``submit``/``ping``, JsonRequest.cpp, Network::onLogin):
  rapidjson compact JSON, the agent string, the algorithm list with the pool's algorithm
  swapped into slot 0, ``"algo"`` in submits, ``keepalived`` after a quiet minute;
* xmr-stak-rx 1.0 (jpsock.cpp ``sprintf`` templates): method first, ``"id":1`` on every
  request, empty ``rigid``, submits with the backend (and hashcount) extensions;
* a stratum proxy's upstream connection: only login/pass, bare submits.

The pool (nodejs-pool style) sends jobs with height and seed_hash, job ids numeric or
base64, rpc ids numeric or UUIDs, and answers ``{"status":"OK"}``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from random import Random

from detector.dialects import CRYPTONOTE
from detector.synth.chain import HexStream, le32hex, uuid_text, varint
from detector.synth.clock import US, at, unix
from detector.synth.conversation import Conversation, Script
from detector.synth.dialects.base import Session
from detector.synth.lines import jc, ln

#: XMRig 6.x CPU build's algorithm list in Algorithm.h order; Network::onLogin swaps the
#: pool's algorithm into slot 0 (std::swap, so "cn/0" lands where "rx/0" was).
_XMRIG_ALGOS = [
    "cn/0",
    "cn/1",
    "cn/2",
    "cn/r",
    "cn/fast",
    "cn/half",
    "cn/xao",
    "cn/rto",
    "cn/rwz",
    "cn/zls",
    "cn/double",
    "cn/ccx",
    "cn-lite/0",
    "cn-lite/1",
    "cn-heavy/0",
    "cn-heavy/tube",
    "cn-heavy/xhv",
    "cn-pico",
    "cn-pico/tlo",
    "cn/upx2",
    "rx/0",
    "rx/wow",
    "rx/arq",
    "rx/graft",
    "rx/sfx",
    "rx/yada",
    "argon2/chukwa",
    "argon2/chukwav2",
    "argon2/wrkz",
    "ghostrider",
]

XMRIG_AGENT = "XMRig/6.22.2 (Linux x86_64) libuv/1.48.0 gcc/13.2.1"
XMRIG_AGENT_WIN = "XMRig/6.21.3 (Windows NT 10.0; Win64; x64) libuv/1.48.0 msvc/2019"
XMRSTAK_AGENT = "xmr-stak-rx/1.0.5-rx/65ade74/master/win/cpu/monero/0"
#: What XMRig's login result advertises (Client::parseExtensions).
XMRIG_EXTENSIONS = ["algo", "nicehash", "connect", "tls", "keepalive"]


def xmrig_algos(first: str = "rx/0") -> list[str]:
    algos = list(_XMRIG_ALGOS)
    i = algos.index(first)
    algos[0], algos[i] = algos[i], algos[0]
    return algos


# --- client lines --------------------------------------------------------------------------


def xmrig_login(
    wallet: str, agent: str, algos: list[str] | None, rigid: str | None = None, password: str = "x"
) -> bytes:
    """XMRig Client::login + Network::onLogin, serialised by rapidjson (compact)."""
    params: dict[str, object] = {"login": wallet, "pass": password, "agent": agent}
    if rigid is not None:
        params["rigid"] = rigid
    if algos is not None:
        params["algo"] = algos
    return jc({"id": 1, "jsonrpc": "2.0", "method": "login", "params": params})


def xmrstak_login(wallet: str, agent: str = XMRSTAK_AGENT) -> bytes:
    """xmr-stak's jpsock.cpp login template: method first, empty rigid, ``"id":1`` last."""
    return ln(
        f'{{"method":"login","params":{{"login":"{wallet}","pass":"x",'
        f'"rigid":"","agent":"{agent}"}},"id":1}}'
    )


def proxy_login(wallet: str) -> bytes:
    """A proxy's upstream login: no ``jsonrpc``, no agent, no algorithms."""
    return jc({"id": 1, "method": "login", "params": {"login": wallet, "pass": "x"}})


def submit(
    ident: int,
    rpc_id: str,
    job_id: str,
    nonce: str,
    result: str,
    *,
    algo: str | None = "rx/0",
    jsonrpc: bool = True,
) -> bytes:
    """XMRig's submit (``jsonrpc``, ``algo``); a proxy's is bare (neither)."""
    params: dict[str, object] = {"id": rpc_id, "job_id": job_id, "nonce": nonce, "result": result}
    if algo is not None:
        params["algo"] = algo
    if jsonrpc:
        return jc({"id": ident, "jsonrpc": "2.0", "method": "submit", "params": params})
    return jc({"id": ident, "method": "submit", "params": params})


def xmrstak_submit(
    rpc_id: str, job_id: str, nonce: str, result: str, hashcount: int | None = None
) -> bytes:
    """xmr-stak's submit template, with the hashcount extension when the pool offers it."""
    counts = (
        f',"hashcount":{hashcount},"hashcount_total":{hashcount}' if hashcount is not None else ""
    )
    return ln(
        f'{{"method":"submit","params":{{"id":"{rpc_id}","job_id":"{job_id}",'
        f'"nonce":"{nonce}","result":"{result}","backend":"cpu"{counts}}},"id":1}}'
    )


def keepalived(ident: int, rpc_id: str) -> bytes:
    """XMRig Client::ping."""
    return jc({"id": ident, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": rpc_id}})


# --- pool lines ----------------------------------------------------------------------------


def blob(seconds: int, prev: str, root: str, ntx: int) -> str:
    """A block hashing blob: major/minor version, time, prev id, nonce, root, tx count."""
    return "1010" + varint(seconds).hex() + prev + "00000000" + root + varint(ntx).hex()


def job(
    blob_hex: str,
    job_id: str,
    target: str,
    height: int,
    seed: str,
    *,
    rpc_id: str | None = None,
    algo: str | None = None,
) -> dict[str, object]:
    """A job object, members in nodejs-pool's order (``id`` only in pushes and logins)."""
    out: dict[str, object] = {"blob": blob_hex, "job_id": job_id, "target": target}
    if rpc_id is not None:
        out["id"] = rpc_id
    if algo is not None:
        out["algo"] = algo
    out["height"] = height
    out["seed_hash"] = seed
    return out


def login_result(rpc_id: str, first: dict[str, object], extensions: list[str] | None) -> bytes:
    result: dict[str, object] = {"id": rpc_id, "job": first}
    if extensions is not None:
        result["extensions"] = extensions
    result["status"] = "OK"
    return jc({"id": 1, "jsonrpc": "2.0", "error": None, "result": result})


def job_push(params: dict[str, object]) -> bytes:
    return jc({"jsonrpc": "2.0", "method": "job", "params": params})


def ok(ident: int, status: str = "OK") -> bytes:
    return jc({"id": ident, "jsonrpc": "2.0", "error": None, "result": {"status": status}})


# --- pool-side jobs ------------------------------------------------------------------------


class MoneroJobs:
    """RandomX jobs as a nodejs-pool style pool sends them."""

    def __init__(
        self,
        label: str,
        *,
        height: int = 3_591_204,
        diff: int = 240_000,
        job_style: str = "numeric",
        algo: str | None = "rx/0",
    ) -> None:
        self.h = HexStream(label)
        self.height = height
        self.diff = diff
        self.seed = self.h.hex(32)
        self.prev = self.h.hex(32)
        self.job_style = job_style
        self.algo = algo
        self.rpc_id = (
            f"{self.h.uint(10**14, 10**15 - 1)}"
            if job_style == "numeric"
            else uuid_text(self.h.hex(16))
        )

    @property
    def target32(self) -> int:
        return (2**32 - 1) // self.diff

    def job_id(self) -> str:
        if self.job_style == "numeric":
            return str(self.h.uint(10**14, 10**15 - 1))
        return base64.b64encode(self.h.bytes(21)).decode()

    def job(self, ts_ns: int, new_block: bool = False, with_id: bool = False) -> dict[str, object]:
        if new_block:
            self.height += 1
            self.prev = self.h.hex(32)
        b = blob(unix(ts_ns), self.prev, self.h.hex(32), self.h.uint(8, 90))
        return job(
            b,
            self.job_id(),
            le32hex(self.target32),
            self.height,
            self.seed,
            rpc_id=self.rpc_id if with_id else None,
            algo=self.algo,
        )

    def share(self) -> tuple[str, str]:
        """(nonce, result) with the result hash really below the job's target."""
        top = self.h.uint(0, self.target32)
        return self.h.hex(4), self.h.hex(28) + le32hex(top)


# --- scripted session (the fixtures) ------------------------------------------------------


def play_xmrig(
    c: Conversation,
    b: int,
    jobs: MoneroJobs,
    login: bytes,
    schedule: Sequence[tuple[float, str]],
    end: float,
    extensions: list[str] | None,
    algo_in_submit: bool = True,
    keepalive: float | None = None,
) -> None:
    """Drive an XMRig-style session from ``b`` (ns) on: login, job pushes ("j"/"b"),
    submits ("s").

    With ``keepalive`` the miner sends ``keepalived`` that many seconds after the last
    line it received, as XMRig's Client::startTimeout/ping do.
    """
    rtt = c.rtt / 1e9
    sc = Script()
    sc.client(at(0.01, b), login)
    reply_at = 0.01 + rtt + 0.003
    reply = login_result(jobs.rpc_id, jobs.job(at(reply_at, b), with_id=True), extensions)
    sc.server(at(reply_at, b), reply)
    job_id = json.loads(reply)["result"]["job"]["job_id"]
    seq = 2
    last_rx = reply_at
    events = sorted(schedule)
    i = 0
    while True:
        nxt = events[i][0] if i < len(events) else end
        if keepalive is not None and last_rx + keepalive < nxt:
            when = last_rx + keepalive
            sc.client(at(when, b), keepalived(seq, jobs.rpc_id))
            sc.server(at(when + rtt + 0.001, b), ok(seq, "KEEPALIVED"))
            last_rx = when + rtt + 0.001
            seq += 1
            continue
        if i >= len(events):
            break
        when, kind = events[i]
        i += 1
        if kind in "jb":
            msg = job_push(jobs.job(at(when, b), kind == "b", True))
            job_id = json.loads(msg)["params"]["job_id"]
            sc.server(at(when, b), msg)
            last_rx = when
        else:
            nonce, result = jobs.share()
            sc.client(
                at(when, b),
                submit(
                    seq, jobs.rpc_id, job_id, nonce, result, algo="rx/0" if algo_in_submit else None
                ),
            )
            sc.server(at(when + rtt + 0.002, b), ok(seq))
            last_rx = when + rtt + 0.002
            seq += 1
    sc.play(c)
    c.close(at(end, b))


# --- streamed session (the benchmark's miners) --------------------------------------------


class CryptoNoteSession(Session):
    dialect = CRYPTONOTE
    FLAVORS = ("xmrig", "xmrig-win", "xmrstak", "proxy")

    def __init__(self, rng: Random, wallet: str, flavor: str) -> None:
        super().__init__(rng, wallet)
        self.flavor = flavor
        self.height = rng.randint(3_590_000, 3_600_000)
        self.seed = self.hex(32)
        self.prev = self.hex(32)
        u = self.hex(16)
        self.rpc_id = str(rng.randint(10**14, 10**15 - 1)) if flavor != "proxy" else uuid_text(u)
        self.job_id = self._job_id()
        self.target = f"{(2**32 - 1) // rng.choice((60_000, 120_000, 240_000)):08x}"
        self.target = bytes.fromhex(self.target)[::-1].hex()
        self.keepalive_on = flavor.startswith("xmrig") and rng.random() < 0.4
        self.seq = 1

    def _job_id(self) -> str:
        if self.flavor != "proxy":
            return str(self.rng.randint(10**14, 10**15 - 1))
        return base64.b64encode(self.rng.randbytes(21)).decode()

    def _job(self, ts: int, with_id: bool = True) -> dict[str, object]:
        if self.rng.random() < 0.3:
            self.height += 1
            self.prev = self.hex(32)
        self.job_id = self._job_id()
        root = self.hex(32)
        b = blob(ts // US, self.prev, root, self.rng.randint(8, 90))
        return job(
            b,
            self.job_id,
            self.target,
            self.height,
            self.seed,
            rpc_id=self.rpc_id if with_id else None,
            algo="rx/0" if self.flavor != "proxy" else None,
        )

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        w = self.wallet
        ext: list[str] | None
        if self.flavor.startswith("xmrig"):
            agent = XMRIG_AGENT if self.flavor == "xmrig" else XMRIG_AGENT_WIN
            login = xmrig_login(w, agent, xmrig_algos())
            ext = XMRIG_EXTENSIONS
        elif self.flavor == "xmrstak":
            login = xmrstak_login(w)
            ext = ["backend", "hashcount"]
        else:
            login = proxy_login(w)
            ext = None
        return [("c", login), ("s", login_result(self.rpc_id, self._job(ts), ext))]

    def job(self, ts: int) -> bytes:
        return job_push(self._job(ts))

    def job_gap(self) -> int:
        return int(self.rng.uniform(30, 150) * US)

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        nonce = self.hex(4)
        result = self.hex(28) + f"{self.rng.getrandbits(24):08x}"
        if self.flavor == "xmrstak":
            return xmrstak_submit(self.rpc_id, self.job_id, nonce, result), ok(1)
        self.seq += 1
        proxy = self.flavor == "proxy"
        msg = submit(
            self.seq,
            self.rpc_id,
            self.job_id,
            nonce,
            result,
            algo=None if proxy else "rx/0",
            jsonrpc=not proxy,
        )
        return msg, ok(self.seq)

    def keepalive(self) -> tuple[bytes, bytes] | None:
        if not self.keepalive_on:
            return None
        self.seq += 1
        return keepalived(self.seq, self.rpc_id), ok(self.seq, "KEEPALIVED")
