"""Capture timestamps as integers, so a capture never depends on float rounding.

Scripted captures (the fixtures) count in nanoseconds from :data:`T0`; streamed ones (the
benchmark) count in microseconds, the resolution of the pcap files they write.
"""

from __future__ import annotations

#: 2026-01-05T10:00:00Z, the epoch every generated capture is built around (Unix seconds).
EPOCH = 1_767_607_200
NS = 1_000_000_000
US = 1_000_000
#: :data:`EPOCH` in nanoseconds.
T0 = EPOCH * NS
#: :data:`EPOCH` in microseconds.
T0_US = EPOCH * US


def at(seconds: float, base: int = T0) -> int:
    """Capture time ``seconds`` after ``base`` (default :data:`T0`) in integer nanoseconds.

    ``round`` of an IEEE double is exact and platform-independent for the magnitudes used
    here, so the result never depends on where it runs.
    """
    return base + round(seconds * NS)


def ns(seconds: float) -> int:
    """A duration in seconds as integer nanoseconds."""
    return round(seconds * NS)


def unix(ts_ns: int) -> int:
    """Whole Unix seconds of a nanosecond timestamp."""
    return ts_ns // NS
