"""Flow ids computed for a batch of ending flows (numpy) equal their integer definition."""

from __future__ import annotations

import random

import numpy as np

from detector.flows import flow_ids

_MASK64 = (1 << 64) - 1


def _flow_id(key: int, first_ts: float) -> int:
    """The definition, in Python integers: key xor start time (us), splitmix64's mix."""
    x = (key ^ int(first_ts * 1e6)) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (x ^ (x >> 31)) & 0x7FFF_FFFF_FFFF_FFFF


def test_batch_flow_ids_equal_the_integer_definition() -> None:
    rng = random.Random(11)
    keys = [0, 1, (1 << 64) - 1, 1 << 63] + [rng.getrandbits(64) for _ in range(2000)]
    times = [0.0, 1e-6, 0.9999999, 4294967295.999999] + [
        rng.uniform(0, 4.3e9) for _ in range(len(keys) - 4)
    ]
    # pcap times are whole microseconds or nanoseconds over a second count
    times += [rng.getrandbits(32) + rng.getrandbits(20) * 1e-6 for _ in range(2000)]
    keys += [rng.getrandbits(64) for _ in range(2000)]
    got = flow_ids(np.array(keys, dtype=np.uint64), np.array(times, dtype=np.float64))
    assert got.dtype == np.uint64
    assert got.tolist() == [_flow_id(k, t) for k, t in zip(keys, times, strict=True)]
    assert all(0 <= v < 1 << 63 for v in got.tolist())
