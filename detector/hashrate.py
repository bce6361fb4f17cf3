"""Hashrate estimates of a suspect from what its flows showed.

Above the suspect stage and below the sinks: every sink and the investigation report ask
the same question, so the method lives in one place.

(First version of the interface, docs/notes report-contract: the body is refined on the
branch report-hashrate.)
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.dialects import CRYPTONOTE, STRATUM_V1
from detector.suspects import Suspect


@dataclass(frozen=True, slots=True)
class HashrateEstimate:
    """A suspect's hashrate: the best estimate, its 95 % interval, and how it was made.

    ``hs`` None means unknown (``method`` says why): never a made-up number."""

    hs: float | None  # best estimate, hashes/s; None = unknown
    low: float | None  # 95 % interval (Poisson on the share count)
    high: float | None
    method: str  # human-readable: how it was computed, or why it is unknown
    shares: int  # shares the estimate rests on
    seconds: float  # time span it rests on


def estimate(s: Suspect) -> HashrateEstimate:
    """The suspect's hashrate from its shares (first version: no interval yet)."""
    seconds = max(s.last_seen - s.first_seen, 0.0)
    rate = hashrate_estimate(s)
    if rate is None:
        return HashrateEstimate(None, None, None, "unknown", s.submits, seconds)
    return HashrateEstimate(rate, None, None, "share difficulty", s.submits, seconds)


def hashrate_estimate(s: Suspect) -> float | None:
    """A rough hashrate from accepted shares: shares x difficulty x hashes-per-unit / time.

    Only where share difficulty has a well-known meaning: CryptoNote (difficulty = hashes
    per share) and Bitcoin-style Stratum (difficulty 1 = 2^32 hashes)."""
    duration = s.last_seen - s.first_seen
    if duration < 60:
        return None
    total = 0.0
    for v in s.flows:
        f = v.record.facts
        if f is None or not f.difficulty or not f.submits:
            continue
        if CRYPTONOTE in f.dialects:
            total += f.submits * f.difficulty
        elif STRATUM_V1 in f.dialects and f.coin in ("BTC", "BCH", "LTC", None):
            total += f.submits * f.difficulty * 2**32
    return round(total / duration, 1) if total else None
