"""The feeder's per-packet loop: ``_fast.feed_packets`` against its pure-Python twin
(dissect/feeder.py ``_feed_rows``). Both must make the same calls, with the same
arguments (types too: ``None`` for an unknown isn, bytes, floats), in the same order,
skip the same packets, and leave the same inspect column and cut-short count."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from detector.compiled import fast
from detector.dissect import feeder

pytestmark = pytest.mark.skipif(fast is None, reason="compiled helpers not built")


class _Recorder:
    """An Inspector stand-in: logs every call, answers from a seeded generator, and now
    and then cuts a flow short (as Inspector._make_room does)."""

    def __init__(self, seed: int, slots: int) -> None:
        self.rng = random.Random(seed)
        self.slots = slots
        self.log: list[tuple] = []
        self.cut_short: list[int] = []

    def _answer(self) -> int:
        if self.rng.random() < 0.1:
            self.cut_short.extend(self.rng.randrange(self.slots) for _ in range(2))
        return self.rng.choice((0, 1, 2, 3, 3, 3))

    def tcp_packet(self, *args: object) -> int:
        self.log.append(("tcp", *((type(a).__name__, a) for a in args)))
        return self._answer()

    def udp_packet(self, *args: object) -> int:
        self.log.append(("udp", *((type(a).__name__, a) for a in args)))
        return self._answer()

    def retire(self, slot: int) -> None:
        self.log.append(("retire", type(slot).__name__, slot))


def _round(rng: np.random.Generator, n: int, slots: int, buf_len: int) -> tuple[np.ndarray, ...]:
    begin = rng.integers(0, buf_len + 20, n)  # some past the buffer's end: clamped
    return (
        rng.integers(0, slots, n),
        rng.integers(0, 2, n),
        rng.integers(0, 2, n),
        rng.integers(0, 1 << 32, n),
        np.where(rng.random(n) < 0.3, -1, rng.integers(0, 1 << 32, n)),
        begin,
        begin + rng.integers(0, 60, n),
        rng.integers(0, 1500, n),
        rng.integers(0, 65536, n),
        rng.integers(0, 65536, n),
        rng.random(n) * 1e9,
    )


@pytest.mark.parametrize("seed", range(8))
def test_feed_twins_agree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    slots = 50
    buf = rng.integers(0, 256, 4000).astype(np.uint8)
    cols = _round(rng, 2000, slots, buf.shape[0])
    inspect = rng.integers(0, 4, slots).astype(np.uint8)
    runs = []
    for feed in (fast.feed_packets, feeder._feed_rows):
        rec = _Recorder(seed, slots)
        col = inspect.copy()
        cut = feed(cols, col, buf, rec.tcp_packet, rec.udp_packet, rec.retire, rec.cut_short)
        assert rec.cut_short == []
        runs.append((rec.log, col, cut))
    (log_c, col_c, cut_c), (log_p, col_p, cut_p) = runs
    assert len(log_p) > 100  # the answers let packets through, and skip some
    assert log_c == log_p
    assert np.array_equal(col_c, col_p)
    assert cut_c == cut_p > 0


def test_feed_compiled_rejects_bad_columns_and_passes_errors_on() -> None:
    rng = np.random.default_rng(1)
    buf = np.zeros(100, dtype=np.uint8)
    cols = _round(rng, 10, 5, 100)
    rec = _Recorder(0, 5)
    args = (np.full(5, 3, dtype=np.uint8), buf, rec.tcp_packet, rec.udp_packet, rec.retire, [])
    with pytest.raises(TypeError):
        fast.feed_packets(cols[:10], *args)
    with pytest.raises(TypeError):  # times must be float64
        fast.feed_packets((*cols[:10], cols[0]), *args)
    with pytest.raises(TypeError):  # the inspect column must be uint8
        fast.feed_packets(cols, np.full(5, 3, dtype=np.int64), *args[1:])
    with pytest.raises(IndexError):  # a slot outside the column
        fast.feed_packets((np.full(10, 9, dtype=np.int64), *cols[1:]), *args)

    def broken(*_: object) -> int:
        raise RuntimeError("dissector bug")

    with pytest.raises(RuntimeError):
        fast.feed_packets(cols, args[0], buf, broken, broken, rec.retire, [])
    with pytest.raises(ValueError):  # an answer that no uint8 holds
        fast.feed_packets(cols, args[0], buf, lambda *_: 300, lambda *_: 300, rec.retire, [])


@pytest.mark.parametrize("seed", range(4))
def test_wanted_twins_agree(seed: int) -> None:
    """Which packets the feeder hands on to triage, and their kinds (UDP; UDP on a DNS
    port): ``_fast.inspect_wanted`` against its numpy twin, with packets without a slot
    (-1) or without payload among them and without."""
    rng = np.random.default_rng(seed)
    rows = 64
    inspect = rng.integers(0, 4, rows).astype(np.uint8)
    for n in (0, 1, 17, 5000):
        pkt_slot = rng.integers(0, rows, n)
        if seed % 2:
            pkt_slot[rng.random(n) < 0.2] = -1
        src_first = rng.integers(0, 2, n).astype(bool)
        pb = SimpleNamespace(
            payload_len=rng.choice(np.array([0, 0, 1, 1460]), n),
            proto=rng.choice(np.array([6, 17, 17, 1], dtype=np.uint8), n),
            sport=rng.choice(np.array([53, 5353, 443, 40000, 5355]), n),
            dport=rng.choice(np.array([53, 443, 40001, 123]), n),
        )
        want = feeder._wanted_kinds_numpy(inspect, pkt_slot, src_first, pb)
        got = feeder._wanted_compiled(inspect, pkt_slot, src_first, pb)
        for x, y in zip(got, want, strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), n
        assert n < 17 or 0 < got[0].shape[0] < n
        assert n < 5000 or set(got[1].tolist()) == {0, 1, 3}
    one = SimpleNamespace(payload_len=np.ones(1, np.int64), proto=np.full(1, 6, np.uint8),
                          sport=np.ones(1, np.int64), dport=np.ones(1, np.int64))  # fmt: skip
    with pytest.raises(ValueError):
        feeder._wanted_compiled(inspect, np.array([rows]), np.ones(1, bool), one)


def test_rank_within_twins_agree() -> None:
    """Each packet's place among its flow's packets: ``_fast.rank_within`` (a counter per
    table row, kept between calls at zero) against the numpy twin (a stable sort), call
    after call on tables of other sizes; a slot outside the table is refused."""
    rng = np.random.default_rng(3)
    for rows, n in ((8, 0), (8, 1), (8, 500), (1000, 5000), (3, 40), (1000, 7), (50, 20000)):
        slots = rng.integers(0, rows, n)
        want = feeder._rank_within_numpy(slots)
        got = feeder._rank_within_compiled(slots, rows)
        assert np.array_equal(got, want), (rows, n)
        assert n < 500 or int(got.max()) > 0
    for bad in (np.array([0, 8]), np.array([-1])):
        with pytest.raises(ValueError):
            feeder._rank_within_compiled(bad, 8)
    assert np.array_equal(feeder._rank_within_compiled(np.array([0, 0, 7]), 8), [0, 1, 0])


def test_round_twins_agree() -> None:
    """One feeding round's packets: ``_fast.round_pick`` against its numpy twin, for each
    of the feeder's rounds, without and with the inspect bits (some cleared), and
    refusing a slot outside the table."""
    rng = np.random.default_rng(9)
    rows, n = 50, 3000
    pkt_slot = rng.integers(0, rows, n)
    src_first = rng.integers(0, 2, n).astype(bool)
    cand = np.sort(rng.choice(n, 1200, replace=False))
    rank = feeder._rank_within_numpy(pkt_slot[cand])
    inspect = rng.integers(0, 4, rows).astype(np.uint8)
    for lo, hi in feeder.ROUNDS:
        for insp in (None, inspect):
            args = (cand, rank, lo, hi, insp, pkt_slot, src_first)
            want = feeder._round_numpy(*args)
            got = feeder._round_compiled(*args)
            assert got.dtype == want.dtype and np.array_equal(got, want), (lo, insp is None)
            assert lo > 4 or 0 < got.shape[0] < cand.shape[0]
    with pytest.raises(ValueError):
        feeder._round_compiled(cand, rank, 0, 4, inspect[:10], pkt_slot, src_first)
