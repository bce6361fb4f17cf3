"""Stratum v1 (Bitcoin family: SHA-256d, scrypt, GhostRider; Zcash's ZIP-301 variant).

Client lines are the clients' own ``sprintf`` templates, spacing and key order included:

* cgminer 4.x (util.c ``initiate_stratum``/``auth_stratum``, cgminer.c ``submit_upstream``):
  spaced JSON, integer ids, ``params`` before ``id`` in submits; bfgminer 5.5 the same
  templates with string ids ("auth", "txlist<job>") and ``mining.get_transactions``;
* pooler cpuminer 2.5 and cpuminer-opt / cpuminer-gr (cpu-miner.c ``stratum_submit``):
  ``method`` first and ``"id":4`` without a space in every submit;
* ESP-Miner / Bitaxe (stratum_api.c): ``mining.configure`` version rolling, suggest
  difficulty, six-parameter submits carrying the version bits;
* EWBF and other Equihash miners (ZIP-301): subscribe ``[agent, null, host, port]``,
  ``mining.set_target``, submits ``[worker, job, time, nonce2, solution]``.

Pool lines are compact JSON (C and Node pools); pools differ in member order, so the pool
writers take the order ("id,result,error") the modelled pool uses.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from random import Random

from detector.dialects import STRATUM_V1
from detector.synth.chain import HexStream, le32hex, swap_words
from detector.synth.clock import US, unix
from detector.synth.dialects.base import Session
from detector.synth.lines import jc, jv, ln, members

# --- client lines --------------------------------------------------------------------------


def subscribe(ident: int, *params: str | None) -> bytes:
    """cgminer/cpuminer/ESP-Miner/bfgminer ``mining.subscribe`` (agent [, session id])."""
    return ln(
        f'{{"id": {ident}, "method": "mining.subscribe", '
        f'"params": [{", ".join(jv(p) for p in params)}]}}'
    )


def authorize(ident: int | str, user: str, password: str) -> bytes:
    """``mining.authorize`` as cgminer, cpuminer, ESP-Miner and bfgminer ("auth") send it."""
    return ln(
        f'{{"id": {jv(ident)}, "method": "mining.authorize", "params": ["{user}", "{password}"]}}'
    )


def configure_version_rolling(ident: int, mask: str) -> bytes:
    """ESP-Miner's ``mining.configure`` (BIP 310 version rolling)."""
    return ln(
        f'{{"id": {ident}, "method": "mining.configure", "params": [["version-rolling"], '
        f'{{"version-rolling.mask": "{mask}"}}]}}'
    )


def suggest_difficulty(ident: int, diff: int) -> bytes:
    """ESP-Miner's ``mining.suggest_difficulty``."""
    return ln(f'{{"id": {ident}, "method": "mining.suggest_difficulty", "params": [{diff}]}}')


def get_transactions(job: str) -> bytes:
    """bfgminer's ``mining.get_transactions`` after every notify (id "txlist<job>")."""
    return ln(f'{{"params": ["{job}"], "id": "txlist{job}", "method": "mining.get_transactions"}}')


def submit_cgminer(ident: int, user: str, job: str, en2: str, ntime: str, nonce: str) -> bytes:
    """cgminer's (and bfgminer's) submit: ``params`` first, ``id``, then ``method``."""
    return ln(
        f'{{"params": ["{user}", "{job}", "{en2}", "{ntime}", "{nonce}"], '
        f'"id": {ident}, "method": "mining.submit"}}'
    )


def submit_cpuminer(user: str, job: str, en2: str, ntime: str, nonce: str) -> bytes:
    """cpuminer's submit template: ``method`` first, ``"id":4`` last without a space."""
    return ln(
        f'{{"method": "mining.submit", "params": ["{user}", "{job}", "{en2}", '
        f'"{ntime}", "{nonce}"], "id":4}}'
    )


def submit_esp_miner(
    ident: int, user: str, job: str, en2: str, ntime: str, nonce: str, version_bits: str
) -> bytes:
    """ESP-Miner's six-parameter submit with the rolled version bits."""
    return ln(
        f'{{"id": {ident}, "method": "mining.submit", "params": ["{user}", '
        f'"{job}", "{en2}", "{ntime}", "{nonce}", "{version_bits}"]}}'
    )


# --- Zcash (ZIP-301), as EWBF sends it --------------------------------------------------------


def zcash_subscribe(agent: str, host: str, port: str) -> bytes:
    return ln(f'{{"id":1,"method":"mining.subscribe","params":["{agent}",null,"{host}","{port}"]}}')


def zcash_authorize(worker: str) -> bytes:
    return ln(f'{{"id":2,"method":"mining.authorize","params":["{worker}","x"]}}')


def zcash_extranonce_subscribe() -> bytes:
    return ln('{"id":3,"method":"mining.extranonce.subscribe","params":[]}')


def zcash_submit(
    ident: int, worker: str, job: str, ntime: str, nonce2: str, solution: str
) -> bytes:
    return ln(
        f'{{"id":{ident},"method":"mining.submit","params":["{worker}",'
        f'"{job}","{ntime}","{nonce2}","{solution}"]}}'
    )


def zcash_subscribe_result(nonce1: str) -> bytes:
    """The pool's reply: [session id (null), nonce1], with the pool's odd spacing."""
    return ln(f'{{"id":1,"result":[null, "{nonce1}"], "error": null}}')


def zcash_authorize_result() -> bytes:
    return ln('{"id":2,"result":true, "error": null}')


def zcash_set_target(target: str) -> bytes:
    return ln(f'{{"id":null,"method":"mining.set_target","params":["{target}"]}}')


def zcash_submit_result(ident: int) -> bytes:
    return ln(f'{{"id":{ident},"result":true}}')


def zcash_notify(h: HexStream, job: str, ts_ns: int, clean: bool) -> list[object]:
    """ZIP-301 mining.notify: version, prevhash, merkleroot, reserved, time, bits (LE hex)."""
    prev = h.bytes(28) + b"\x00" * 4
    return [
        job,
        "04000000",
        prev.hex(),
        h.hex(32),
        h.hex(32),
        le32hex(unix(ts_ns)),
        "76d8011c",
        clean,
    ]


# --- pool lines ----------------------------------------------------------------------------

#: Member orders of the pools the captures model: replies ("result,id,error") and pushes.
ID_FIRST_REPLY = "id,result,error"  # the default: most Node and Go pools
ID_FIRST = "id,method,params"
CKPOOL = "result,id,error"
CKPOOL_PUSH = "params,id,method"
BITMINTER = "result,error,id"  # BitMinter also pushes with a non-null id
BITMINTER_PUSH = "method,params,id"
PUBLIC_POOL = "id,error,result"  # public-pool.io, what Bitaxes mine solo against


def reply(ident: int | str | None, result: object, order: str = ID_FIRST_REPLY) -> bytes:
    """A pool's answer to a request, members in the pool's ``order``."""
    return jc(members(order, id=ident, result=result, error=None))


def push(
    method: str, params: list[object], order: str = ID_FIRST, ident: int | None = None
) -> bytes:
    """A pool's notification (``id`` null, or a fixed number on some pools)."""
    return jc(members(order, id=ident, method=method, params=params))


def notify(params: list[object], order: str = CKPOOL_PUSH, ident: int | None = None) -> bytes:
    """``mining.notify``; the default member order is ckpool's."""
    return push("mining.notify", params, order, ident)


def set_difficulty(diff: float, order: str = ID_FIRST, ident: int | None = None) -> bytes:
    return push("mining.set_difficulty", [diff], order, ident)


# --- pool-side jobs -------------------------------------------------------------------------


class BitcoinJobs:
    """mining.notify parameters for a SHA-256d/scrypt/GhostRider style coin.

    The coinbase halves are built the way pools build them (BIP34 height push, pool tag,
    room for extranonce1+2, a P2WPKH payout and a witness commitment), so lengths and
    structure look real.
    """

    def __init__(
        self,
        label: str,
        height: int,
        nbits: str,
        *,
        en1: int = 4,
        en2: int = 8,
        branches: int = 11,
        tag: bytes = b"/ckpool.org/",
        version: str = "20000000",
        reward: int = 312_500_000,
        job_id: Callable[[int], str] | None = None,
        witness: bool = True,
    ) -> None:
        self.h = HexStream(label)
        self.height = height
        self.nbits = nbits
        self.en1, self.en2 = en1, en2
        self.branches = branches
        self.tag = tag
        self.version = version
        self.reward = reward
        self.seq = 0
        self.job_id = job_id or (lambda n: f"{n:x}")
        self.witness = witness
        self.prev = self.h.bytes(24) + b"\x00" * 8
        self.payout = self.h.bytes(20)
        self.merkle = [self.h.hex(32) for _ in range(branches)]

    def new_block(self) -> None:
        self.height += 1
        self.prev = self.h.bytes(24) + b"\x00" * 8
        self.merkle = [self.h.hex(32) for _ in range(self.branches)]

    def coinbase(self) -> tuple[str, str]:
        hb = self.height.to_bytes(3, "little")
        script_len = 1 + 3 + len(self.tag) + self.en1 + self.en2
        cb1 = (
            "02000000"
            + "01"
            + "00" * 32
            + "ffffffff"
            + f"{script_len:02x}"
            + "03"
            + hb.hex()
            + self.tag.hex()
        )
        outs = "02" if self.witness else "01"
        cb2 = (
            "ffffffff"
            + outs
            + struct.pack("<Q", self.reward + self.h.uint(1, 90_000_000)).hex()
            + "160014"
            + self.payout.hex()
        )
        if self.witness:
            cb2 += "0000000000000000" + "266a24aa21a9ed" + self.h.hex(32)
        cb2 += "00000000"
        return cb1, cb2

    def notify(self, ts_ns: int, clean: bool = False) -> list[object]:
        if clean:
            self.new_block()
        else:  # a transaction-set refresh changes the merkle path, not the block
            self.merkle = self.merkle[:-2] + [self.h.hex(32) for _ in range(2)]
        self.seq += 1
        cb1, cb2 = self.coinbase()
        return [
            self.job_id(self.seq),
            swap_words(self.prev),
            cb1,
            cb2,
            list(self.merkle),
            self.version,
            self.nbits,
            f"{unix(ts_ns):08x}",
            clean,
        ]

    def share(
        self, params: list[object], version_mask: int | None = None
    ) -> tuple[str, str, str, str, str | None]:
        """(job_id, extranonce2, ntime, nonce, version_bits) for a submit to ``params``."""
        en2 = self.h.hex(self.en2) if self.en2 != 8 else f"{self.h.uint(0, 0xFFFF):016x}"
        nonce = self.h.hex(4)
        vbits = None
        if version_mask is not None:
            vbits = f"{self.h.uint(0, 0xFFFFFFFF) & version_mask:08x}"
        return str(params[0]), en2, str(params[7]), nonce, vbits


# --- streamed session (the benchmark's miners) --------------------------------------------


class StratumSession(Session):
    """Bitcoin-family Stratum v1: cgminer (spaced JSON, BTC), cpuminer-opt (scrypt LTC,
    id last in submits) or a Bitaxe (configure + subscribe + authorize in one write,
    version-rolling submits)."""

    dialect = STRATUM_V1
    FLAVORS = ("cgminer", "cpuminer", "bitaxe")

    def __init__(self, rng: Random, wallet: str, flavor: str) -> None:
        super().__init__(rng, wallet)
        self.flavor = flavor
        self.user = wallet + rng.choice((".rig01", ".worker1", ".bitaxe-1", "", ".001"))
        self.height = rng.randint(930_000, 931_000)
        self.prev = self.hex(28) + "00000000"
        self.jobno = rng.randint(1, 1 << 20)
        self.en1 = self.hex(4)
        self.current: list[object] = []
        self.tag = rng.choice(("/ckpool.org/", "/slush/", "/ViaBTC/", "/public-pool.io/"))

    def _notify_params(self, ts: int, clean: bool) -> list[object]:
        if clean:
            self.height += 1
            self.prev = self.hex(28) + "00000000"
        self.jobno += 1
        hb = self.height.to_bytes(3, "little").hex()
        tag = self.tag.encode().hex()
        cb1 = (
            "02000000010000000000000000000000000000000000000000000000000000000000000000"
            f"ffffffff{(4 + len(self.tag) + 8):02x}03{hb}{tag}"
        )
        cb2 = (
            f"ffffffff02{self.hex(8)}160014{self.hex(20)}0000000000000000266a24aa21a9ed"
            f"{self.hex(32)}00000000"
        )
        merkle = [self.hex(32) for _ in range(self.rng.randint(8, 12))]
        self.current = [
            f"{self.jobno:x}",
            self.prev,
            cb1,
            cb2,
            merkle,
            "20000000",
            "17028c61",
            f"{ts // US:08x}",
            clean,
        ]
        return self.current

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        sub_result = reply(
            1, [[["mining.set_difficulty", self.en1], ["mining.notify", self.en1]], self.en1, 8]
        )
        first = notify(self._notify_params(ts, True), ID_FIRST)
        diff = set_difficulty(self.rng.choice((512, 1024, 65536)))
        if self.flavor == "bitaxe":
            return [
                (
                    "c",
                    configure_version_rolling(1, "1fffe000")
                    + subscribe(2, "bitaxe/BM1370/v2.6.2")
                    + authorize(3, self.user, "x"),
                ),
                (
                    "s",
                    reply(
                        1,
                        {"version-rolling": True, "version-rolling.mask": "1fffe000"},
                        PUBLIC_POOL,
                    )
                    + reply(2, [[["mining.notify", self.en1]], self.en1, 4], PUBLIC_POOL)
                    + reply(3, True, PUBLIC_POOL),
                ),
                ("s", diff + first),
            ]
        agent = "cgminer/4.12.1" if self.flavor == "cgminer" else "cpuminer-opt-23.15-x64L"
        return [
            ("c", subscribe(1, agent)),
            ("s", sub_result),
            ("c", authorize(2, self.user, "c=LTC" if self.flavor == "cpuminer" else "x")),
            ("s", reply(2, True) + diff + first),
        ]

    def job(self, ts: int) -> bytes:
        return notify(self._notify_params(ts, self.rng.random() < 0.2))

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        self.sid += 1
        if not self.current:  # mid-session: the job arrived before the capture started
            self._notify_params(ts - int(self.rng.uniform(1, 30) * US), False)
        job, ntime = str(self.current[0]), str(self.current[7])
        en2, nonce = self.hex(4 if self.flavor == "bitaxe" else 8), self.hex(4)
        if self.flavor == "cgminer":
            msg = submit_cgminer(self.sid, self.user, job, en2, ntime, nonce)
        elif self.flavor == "cpuminer":
            msg = submit_cpuminer(self.user, job, en2, ntime, nonce)
        else:
            msg = submit_esp_miner(self.sid, self.user, job, en2, ntime, nonce, self.hex(4))
        ident = 4 if self.flavor == "cpuminer" else self.sid
        return msg, reply(ident, True)
