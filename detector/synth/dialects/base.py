"""The streamed mining session: what a dialect tells the traffic mix to send, and when.

A streamed capture (:mod:`detector.synth.mix`) cannot script a connection ahead: it asks
the session for the next message when its clock gets there. A :class:`Session` answers in
one dialect with values from its own ``random.Random``, so a seed gives the same bytes.
"""

from __future__ import annotations

from random import Random

from detector.synth.clock import US


class Session:
    """One dialect's messages for one connection. Subclasses fill in the blanks."""

    dialect = ""
    poll_every: int | None = None  # client polls (eth_getWork) every this many us
    keepalive_on = False

    def __init__(self, rng: Random, wallet: str) -> None:
        self.rng = rng
        self.wallet = wallet
        self.sid = 10

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        """The opening exchange: ("c" or "s", bytes) in order, at microseconds ``ts``."""
        raise NotImplementedError

    def job(self, ts: int) -> bytes:
        """The pool's next job push."""
        raise NotImplementedError

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        """A share (or the dialect's other upload) and the pool's answer."""
        raise NotImplementedError

    def poll(self, ts: int) -> tuple[bytes, bytes]:
        """A work poll and its answer (dialects with ``poll_every`` only)."""
        raise NotImplementedError

    def keepalive(self) -> tuple[bytes, bytes] | None:
        return None

    def job_gap(self) -> int:
        return int(self.rng.uniform(20, 90) * US)

    def submit_gap(self) -> int:
        return int(self.rng.expovariate(1 / 150) * US) + 5 * US

    def hex(self, n: int) -> str:
        return self.rng.randbytes(n).hex()
