"""ETH proxy: Ethereum getwork over a raw TCP connection (eth_submitLogin, eth_getWork
polls, pool pushes of new work, eth_submitWork, eth_submitHashrate).

Client lines, per miner (both closed source):

* Claymore 15 (as seen in real Claymore captures): login with a ``"worker"`` member first
  and Python-style spacing, getwork ``id 3``, compact submits;
* PhoenixMiner 6.2 (modelled on its logged lines): compact JSON with a ``"worker"`` member.

Pools (ethermine-style) answer polls with id 0 or the request's id, push new work with id
0, and write ``id,jsonrpc,result``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from random import Random

from detector.dialects import ETH_PROXY
from detector.synth.clock import US, at
from detector.synth.conversation import Conversation, Script
from detector.synth.dialects.base import Session
from detector.synth.dialects.ethash import EthJobs
from detector.synth.lines import jc, ln

# --- client lines --------------------------------------------------------------------------


def claymore_login(user: str) -> bytes:
    return ln(
        f'{{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["{user}", "x"], '
        f'"id": 2, "method": "eth_submitLogin"}}'
    )


def claymore_getwork() -> bytes:
    return ln('{"worker": "", "jsonrpc": "2.0", "params": [], "id": 3, "method": "eth_getWork"}')


def claymore_submit(nonce: str, header: str, mix: str) -> bytes:
    return ln(f'{{"id":4,"method":"eth_submitWork","params":["{nonce}","{header}","{mix}"]}}')


def phoenix_login(wallet: str, worker: str) -> bytes:
    return ln(
        f'{{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","worker":"{worker}",'
        f'"params":["{wallet}","x"]}}'
    )


def phoenix_getwork(worker: str, ident: int = 5) -> bytes:
    return ln(
        f'{{"id":{ident},"jsonrpc":"2.0","method":"eth_getWork","worker":"{worker}","params":[]}}'
    )


def phoenix_submit(nonce: str, header: str, mix: str, worker: str) -> bytes:
    return ln(
        f'{{"id":4,"jsonrpc":"2.0","method":"eth_submitWork","worker":"{worker}",'
        f'"params":["{nonce}","{header}","{mix}"]}}'
    )


def phoenix_hashrate(rate: str, rid: str, worker: str) -> bytes:
    return ln(
        f'{{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","worker":"{worker}",'
        f'"params":["{rate}","{rid}"]}}'
    )


def submit_work(nonce: str, header: str, mix: str) -> bytes:
    """eth_submitWork without a worker member (``jsonrpc`` after the id)."""
    return ln(
        f'{{"id":4,"jsonrpc":"2.0","method":"eth_submitWork","params":["{nonce}",'
        f'"{header}","{mix}"]}}'
    )


def submit_hashrate(rate: str, rid: str) -> bytes:
    """Claymore's eth_submitHashrate: compact but for the space before the rig id."""
    return ln(
        f'{{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["{rate}", "{rid}"]}}'
    )


# --- pool lines ----------------------------------------------------------------------------


def work(ident: int | None, header: str, seed: str, target: str) -> bytes:
    """A work package (poll answer or push): [header, seed, boundary], hex with 0x."""
    return jc({"id": ident, "jsonrpc": "2.0", "result": ["0x" + header, "0x" + seed, target]})


def ok(ident: int) -> bytes:
    return jc({"id": ident, "jsonrpc": "2.0", "result": True})


# --- scripted session (the fixtures) ------------------------------------------------------


def play(
    c: Conversation,
    b: int,
    jobs: EthJobs,
    *,
    login: bytes | None,
    getwork: bytes,
    submit: Callable[[str, str, str], bytes],
    hashrate: Callable[[], bytes] | None,
    poll: float,
    end: float,
    blocks: Sequence[float],
    shares: Sequence[float],
    hashrate_every: float = 20.0,
    push_id: int = 0,
    answer_id: int | None = 0,
    start: float = 0.02,
) -> None:
    """Drive a session from ``b`` (ns) on: login, polling, pushes, submits.

    The pool answers polls with ``answer_id`` (ethermine-style pools answer with id 0,
    not the request's id) and pushes new work with ``push_id``.
    """
    rtt = c.rtt / 1e9
    current = [jobs.header, jobs.seed, jobs.target()]

    def answer(ident: int | None) -> bytes:
        return work(ident, *current)

    sc = Script()
    events: list[tuple[float, str]] = []
    if login is not None:
        sc.client(at(start, b), login)
        sc.server(at(start + rtt + 0.002, b), ok(json.loads(login)["id"]))
    k = start + 0.01 + rtt
    while k < end - 1:
        events.append((k, "g"))
        k += poll
    events += [(x, "b") for x in blocks] + [(x, "s") for x in shares]
    if hashrate is not None:
        k = start + hashrate_every
        while k < end - 1:
            events.append((k + 0.003, "h"))
            k += hashrate_every
    for when, kind in sorted(events):
        if kind == "g":
            sc.client(at(when, b), getwork)
            sc.server(at(when + rtt + 0.004, b), answer(answer_id))
        elif kind == "b":
            jobs.next()
            current[0] = jobs.header
            sc.server(at(when, b), answer(push_id))
        elif kind == "s":
            msg = submit("0x" + jobs.nonce(), "0x" + current[0], "0x" + jobs.h.hex(32))
            sc.client(at(when, b), msg)
            sc.server(at(when + rtt + 0.003, b), ok(json.loads(msg)["id"]))
        elif kind == "h" and hashrate is not None:
            msg = hashrate()
            sc.client(at(when, b), msg)
            sc.server(at(when + rtt + 0.002, b), ok(json.loads(msg)["id"]))
    sc.play(c)
    c.close(at(end, b))


# --- streamed session (the benchmark's miners) --------------------------------------------


class EthProxySession(Session):
    dialect = ETH_PROXY
    FLAVORS = ("claymore", "phoenix")

    def __init__(self, rng: Random, wallet: str, flavor: str) -> None:
        super().__init__(rng, wallet)
        self.flavor = flavor
        self.poll_every = int(rng.choice((5, 10)) * US)
        self.header = self.hex(32)
        self.seed = self.hex(32)
        self.target = "0x00000000" + self.hex(28)
        self.rate = rng.randint(0x1D00000, 0x8FFFFFF)
        self.rid = "0x" + self.hex(32)

    def _work(self, ident: int | None) -> bytes:
        return work(ident, self.header, self.seed, self.target)

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        if self.flavor == "claymore":
            return [("c", claymore_login(f"{self.wallet}.rig7")), ("s", ok(2))]
        return [("c", phoenix_login(self.wallet, "rig2")), ("s", ok(1))]

    def poll(self, ts: int) -> tuple[bytes, bytes]:
        if self.flavor == "claymore":
            return claymore_getwork(), self._work(0)
        return phoenix_getwork("rig2"), self._work(5)

    def job(self, ts: int) -> bytes:
        self.header = self.hex(32)
        return self._work(0)

    def job_gap(self) -> int:
        return int(self.rng.uniform(8, 25) * US)

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        if self.rng.random() < 0.6:  # the hashrate report is this dialect's other upload
            rate = f"0x{self.rate + self.rng.randint(0, 0xFFFF):x}"
            return submit_hashrate(rate, self.rid), ok(6)
        return submit_work(f"0x{self.hex(8)}", f"0x{self.header}", f"0x{self.hex(32)}"), ok(4)

    def submit_gap(self) -> int:
        return int(self.rng.uniform(15, 40) * US)
