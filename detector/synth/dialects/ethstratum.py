"""NiceHash EthereumStratum/1.0.0 (Ethash/ETCHash): subscribe with the protocol name,
extranonce, ``mining.notify [job, seed, header, clean]``, submits of the miner's nonce part.

Client lines, per miner:

* ethminer 0.13 ``-P stratum2`` (EthStratumClient.cpp): spaced keys but no space inside
  params arrays, extranonce.subscribe and authorize in one write, fixed ids 4 (submit) and
  6 (eth_submitHashrate with ``"jsonrpc":"2.0"``);
* NBMiner, T-Rex, lolMiner, TeamRedMiner (closed source; modelled on their logged lines):
  compact JSON, lolMiner with a ``jsonrpc`` member, T-Rex's hashrate with a ``worker``.

The pool (NiceHash-style, compact JSON) answers ``id,result,error``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from random import Random

from detector.dialects import ETHEREUM_STRATUM
from detector.synth.chain import HexStream
from detector.synth.clock import US, at
from detector.synth.conversation import Conversation, Script
from detector.synth.dialects.base import Session
from detector.synth.dialects.ethash import EthJobs
from detector.synth.lines import jc, jv, ln

PROTOCOL = "EthereumStratum/1.0.0"


def _array(*items: object) -> str:
    return "[" + ",".join(jv(x) for x in items) + "]"


@dataclass(frozen=True)
class Client:
    """One miner's EthereumStratum/1.0.0 lines: compact, with a ``jsonrpc`` member, or
    ethminer's spaced keys around compact arrays."""

    agent: str
    jsonrpc: bool = False
    spaced: bool = False

    def line(self, ident: int, method: str, params: str, tail: str = "") -> bytes:
        if self.spaced:
            return ln(f'{{"id": {ident}, "method": "{method}", "params": {params}{tail}}}')
        rpc = '"jsonrpc":"2.0",' if self.jsonrpc else ""
        return ln(f'{{"id":{ident},{rpc}"method":"{method}","params":{params}{tail}}}')

    def subscribe(self) -> bytes:
        return self.line(1, "mining.subscribe", _array(self.agent, PROTOCOL))

    def extranonce_subscribe(self, ident: int = 2) -> bytes:
        return self.line(ident, "mining.extranonce.subscribe", "[]")

    def authorize(self, ident: int, user: str, password: str = "x") -> bytes:
        return self.line(ident, "mining.authorize", _array(user, password))

    def submit(self, ident: int, user: str, job: str, nonce: str) -> bytes:
        return self.line(ident, "mining.submit", _array(user, job, nonce))

    def hashrate(self, ident: int, rate: str, rid: str, worker: str | None = None) -> bytes:
        tail = f',"worker":"{worker}"' if worker is not None else ""
        return self.line(ident, "eth_submitHashrate", _array(rate, rid), tail)


NBMINER = Client("NBMiner/42.3")
LOLMINER = Client("lolMiner 1.88", jsonrpc=True)
TREX = Client("T-Rex/0.26.8")
ETHMINER = Client("ethminer/0.13.0", spaced=True)
#: Agents the streamed sessions pick from (all write the compact shape).
AGENTS = ("lolMiner 1.88", "NBMiner/42.3", "T-Rex/0.26.8", "TeamRedMiner/0.10.21")


def ethminer_hashrate(rate: str, rid: str) -> bytes:
    """ethminer's eth_submitHashrate: id 6 and a ``"jsonrpc":"2.0"`` without spaces."""
    return ln(
        f'{{"id": 6, "jsonrpc":"2.0", "method": "eth_submitHashrate", '
        f'"params": ["{rate}","{rid}"]}}'
    )


# --- pool lines ----------------------------------------------------------------------------


def subscribe_result(session: str, extranonce: str) -> bytes:
    return jc(
        {"id": 1, "result": [["mining.notify", session, PROTOCOL], extranonce], "error": None}
    )


def result(ident: int, value: object = True) -> bytes:
    return jc({"id": ident, "result": value, "error": None})


def set_difficulty(diff: float) -> bytes:
    return jc({"id": None, "method": "mining.set_difficulty", "params": [diff]})


def notify(job: str, seed: str, header: str, clean: bool = True) -> bytes:
    return jc({"id": None, "method": "mining.notify", "params": [job, seed, header, clean]})


# --- scripted session (the fixtures) ------------------------------------------------------


def play(
    c: Conversation,
    b: int,
    jobs: EthJobs,
    *,
    subscribe: bytes,
    authorize: bytes,
    extranonce_sub: bytes | None,
    submit: Callable[[int, str, str], bytes],
    hashrate: Callable[[int], bytes] | None,
    user: str,
    extranonce: str,
    diff: float,
    schedule: Sequence[tuple[float, str]],
    end: float,
) -> None:
    """Drive one session from ``b`` (ns) on; message bytes come from the caller's client.

    ``schedule`` holds (seconds, kind): "n" new job, "s" submit, "h" hashrate report.
    """
    rtt = c.rtt / 1e9
    sc = Script()
    sc.client(at(0.02, b), subscribe)
    sc.server(at(0.022 + rtt, b), subscribe_result(HexStream(user).hex(16), extranonce))
    now = 0.03 + rtt
    sc.client(at(now, b), (extranonce_sub or b"") + authorize)
    now += rtt + 0.003
    replies = b""
    if extranonce_sub is not None:
        replies += result(json.loads(extranonce_sub)["id"])
    replies += result(json.loads(authorize)["id"])
    replies += set_difficulty(diff)
    job = jobs.next()
    sc.server(at(now, b), replies + notify(*job))
    sid = 10
    for when, kind in sorted(schedule):
        if kind == "n":
            job = jobs.next()
            sc.server(at(when, b), notify(*job))
        elif kind == "s":
            msg = submit(sid, job[0], jobs.nonce()[len(extranonce) :])
            sc.client(at(when, b), msg)
            sc.server(at(when + rtt + 0.001, b), result(json.loads(msg)["id"]))
            sid += 1
        elif kind == "h" and hashrate is not None:
            msg = hashrate(sid)
            sc.client(at(when, b), msg)
            sc.server(at(when + rtt + 0.001, b), result(json.loads(msg)["id"]))
            sid += 1
    sc.play(c)
    c.close(at(end, b))


# --- streamed session (the benchmark's miners) --------------------------------------------


class EthStratumSession(Session):
    dialect = ETHEREUM_STRATUM
    AGENTS = AGENTS

    def __init__(self, rng: Random, wallet: str) -> None:
        super().__init__(rng, wallet)
        self.client = Client(rng.choice(self.AGENTS))
        self.user = wallet + rng.choice((".rig1", ".farm2", ".3070"))
        self.extranonce = self.hex(2)
        self.seed = self.hex(32)
        self.jobid = self.hex(4)

    def _notify(self) -> bytes:
        self.jobid = self.hex(4)
        return notify(self.jobid, self.seed, self.hex(32))

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        cl = self.client
        return [
            ("c", cl.subscribe()),
            ("s", subscribe_result(self.hex(16), self.extranonce)),
            ("c", cl.extranonce_subscribe() + cl.authorize(3, self.user)),
            ("s", result(2) + result(3) + set_difficulty(2.0) + self._notify()),
        ]

    def job(self, ts: int) -> bytes:
        return self._notify()

    def job_gap(self) -> int:
        return int(self.rng.uniform(8, 30) * US)

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        self.sid += 1
        return self.client.submit(self.sid, self.user, self.jobid, self.hex(6)), result(self.sid)
