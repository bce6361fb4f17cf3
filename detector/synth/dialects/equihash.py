"""Equihash Stratum (Zcash's ZIP-301 variant of Stratum v1) as a streamed session.

Why a session of its own: an Equihash share is the whole solution - 1,344 bytes for
Equihash 200,9 (Zcash, Horizen), 100 bytes for 144,5 (Bitcoin Gold) - sent as hex with
its compact-size prefix (``fd4005`` / ``64``), so a Zcash miner's submits are ~2.8 KB
JSON lines while the pool's jobs are ~300 bytes: the opposite of the CryptoNote and
Bitcoin sessions (small submits, larger jobs). Inside TLS that is all the model sees, and
a model that learnt only small-submit dialects scored a real TLS Equihash session 0.0
(stop 26's note). The lines are the ZIP-301 ones of :mod:`.stratum` (subscribe
``[agent, null, host, port]``, ``mining.set_target``, submits ``[worker, job, time,
nonce2, solution]``); nonce1 + nonce2 make 32 bytes (ZIP-301 "mining.subscribe").
"""

from __future__ import annotations

from random import Random

from detector.dialects import STRATUM_V1
from detector.synth.chain import HexStream, le32hex
from detector.synth.clock import US, unix
from detector.synth.dialects.base import Session
from detector.synth.dialects.stratum import (
    ID_FIRST,
    notify,
    zcash_authorize,
    zcash_notify,
    zcash_set_target,
    zcash_submit,
    zcash_submit_result,
    zcash_subscribe,
    zcash_subscribe_result,
)

#: solution bytes with their compact-size prefix, by coin (Equihash n,k)
SOLUTION = {"ZEC": ("fd4005", 1344), "ZEN": ("fd4005", 1344), "BTG": ("64", 100)}
#: subscribe agents of Equihash miners (program/version as they announce themselves)
AGENTS = ("EWBF 0.6", "GMiner/3.44", "lolMiner/1.88", "miniZ/2.4e", "bminer/16.4.11")


class EquihashSession(Session):
    """One Equihash miner's connection to its pool (ZEC/ZEN 200,9 or BTG 144,5)."""

    dialect = STRATUM_V1

    def __init__(self, rng: Random, wallet: str, coin: str, host: str, port: int) -> None:
        super().__init__(rng, wallet)
        self.coin = coin
        self.host, self.port = host, port
        self.h = HexStream(f"equihash:{wallet}:{rng.getrandbits(32)}")
        self.nonce1 = self.hex(rng.choice((3, 4, 5)))
        self.jobno = rng.randint(1, 1 << 16)
        self.current: list[object] = []
        self.agent = rng.choice(AGENTS)

    def _notify(self, ts: int, clean: bool) -> bytes:
        self.jobno += 1
        self.current = zcash_notify(self.h, f"{self.jobno:x}", ts * 1000, clean)
        return notify(self.current, ID_FIRST)

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        target = "0" * self.rng.choice((4, 5, 6)) + self.hex(29)[: 64 - 6] + "0" * 6
        return [
            ("c", zcash_subscribe(self.agent, self.host, str(self.port))),
            ("s", zcash_subscribe_result(self.nonce1)),
            ("c", zcash_authorize(self.wallet)),
            ("s", zcash_submit_result(2) + zcash_set_target(target[:64]) + self._notify(ts, True)),
        ]

    def job(self, ts: int) -> bytes:
        return self._notify(ts, self.rng.random() < 0.3)

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        self.sid += 1
        if not self.current:  # mid-session: the job came before the capture began
            self._notify(ts - int(self.rng.uniform(1, 30) * US), False)
        prefix, size = SOLUTION[self.coin]
        nonce2 = self.hex(32 - len(self.nonce1) // 2)
        ntime = le32hex(unix(ts * 1000))
        msg = zcash_submit(
            self.sid, self.wallet, str(self.current[0]), ntime, nonce2, prefix + self.hex(size)
        )
        return msg, zcash_submit_result(self.sid)
