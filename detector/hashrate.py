"""Hashrate estimates of a suspect from what its flows showed.

Above the suspect stage and below the sinks: every sink and the coming investigation
report ask the same question, so the method lives in one place.
"""

from __future__ import annotations

from detector.dialects import CRYPTONOTE, STRATUM_V1
from detector.suspects import Suspect


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
