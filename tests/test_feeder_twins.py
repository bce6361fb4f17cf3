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


def _triage_buffer(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A buffer of ``n`` payloads at random offsets (some past its end, some negative:
    reads are clipped), shaped now and then like what triage keeps: DNS responses with
    and without answers, discv4, Nano, QUIC v1/v2 Initials (and other long headers)."""
    size = 3000
    buf = rng.integers(0, 256, size + 8).astype(np.uint8)
    off = rng.integers(-5, size + 20, n)
    shapes = (
        (2, [0x81, 0x80]), (6, [0, 1]), (6, [0, 0]),  # QR, ancount
        (97, [3, 0xC5]), (97, [7, 0xC5]),  # discv4 or not
        (0, [ord("R"), ord("C")]), (0, [ord("R"), ord("D")]),  # Nano or not
        (0, [0xC3, 0, 0, 0, 1]), (0, [0xD3, 0x6B, 0x33, 0x43, 0xCF]), (0, [0xC3, 0x6B, 0x33, 0x43, 0xCF]),
    )  # fmt: skip
    for i in range(n):
        at, data = shapes[rng.integers(len(shapes))]
        if off[i] + at >= 0 and off[i] + at + len(data) <= size and rng.random() < 0.7:
            buf[off[i] + at : off[i] + at + len(data)] = data
    return buf, off


@pytest.mark.parametrize("seed", range(4))
def test_candidates_twins_agree(seed: int) -> None:
    """Which packets the feeder hands to the dissectors and which take the fast DNS path:
    ``_fast.inspect_triage`` against its numpy twin (triage of the wanted packets), with
    packets without a slot (-1) or without payload among them and without, UDP on DNS
    ports and not, payloads of every shape triage keeps, near and past the buffer's end."""
    rng = np.random.default_rng(seed)
    rows = 64
    inspect = rng.integers(0, 4, rows).astype(np.uint8)
    for n in (0, 1, 17, 5000):
        pkt_slot = rng.integers(0, rows, n)
        if seed % 2:
            pkt_slot[rng.random(n) < 0.2] = -1
        src_first = rng.integers(0, 2, n).astype(bool)
        buf, off = _triage_buffer(rng, n)
        pb = SimpleNamespace(
            buf=buf,
            payload_off=off,
            payload_cap=rng.choice(np.array([0, 8, 11, 12, 99, 100, 1199, 1200, 1400]), n),
            payload_len=rng.choice(np.array([0, 0, 1, 1460]), n),
            proto=rng.choice(np.array([6, 17, 17, 17, 1], dtype=np.uint8), n),
            sport=rng.choice(np.array([53, 5353, 443, 40000, 5355]), n),
            dport=rng.choice(np.array([53, 443, 40001, 123, 30303]), n),
            seq=rng.integers(0, 1 << 32, n),
        )
        # (every flow touched: no claim here - tests/test_unclaimed.py has those)
        cols = _claim_cols(rows)
        want = feeder._candidates_numpy(inspect, pkt_slot, src_first, pb, cols, 16384)
        got = feeder._candidates_compiled(inspect, pkt_slot, src_first, pb, cols, 16384)
        assert cols["touched"].all()
        for x, y in zip(got, want, strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), n
        if n == 5000:  # TCP, kept UDP and DNS answers all there; some UDP left out
            kept_udp = int((pb.proto[got[0]] == 17).sum())
            assert 0 < kept_udp < int(((pb.proto == 17) & (pb.payload_len > 0)).sum()) // 2
            assert got[2].shape[0] > 0 and got[0].shape[0] - kept_udp > 0
    one = SimpleNamespace(payload_len=np.ones(1, np.int64), proto=np.full(1, 6, np.uint8),
                          seq=np.zeros(1, np.int64),
                          sport=np.ones(1, np.int64), dport=np.ones(1, np.int64),
                          buf=np.zeros(16, np.uint8), payload_off=np.zeros(1, np.int64),
                          payload_cap=np.ones(1, np.int64))  # fmt: skip
    with pytest.raises(ValueError):
        feeder._candidates_compiled(
            inspect, np.array([rows]), np.ones(1, bool), one, _claim_cols(rows), 16384
        )


def _claim_cols(rows: int) -> dict[str, np.ndarray]:
    """The flow table columns the candidates' claim reads, every flow touched."""
    return {
        "touched": np.ones(rows, dtype=bool),
        "state": np.zeros(rows, dtype=np.uint8),
        "isn_a": np.zeros(rows, dtype=np.uint32),
        "isn_b": np.zeros(rows, dtype=np.uint32),
    }


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


def test_round_cols_twins_agree() -> None:
    """The columns a round hands to the feed loop: ``_fast.inspect_cols`` against its
    numpy twin - the same columns (dtypes too) and the same flows marked touched, SYN
    seen on either side or not, TCP and not; a packet without a slot raises."""
    from detector import flowtable

    rng = np.random.default_rng(9)
    rows, n = 300, 4000
    for m in (0, 1, 50, 3000):
        tables = [flowtable.FlowTable(rows, initial=rows) for _ in range(2)]
        for name in ("isn_a", "isn_b", "state"):
            col = tables[0].cols[name]
            col[...] = rng.integers(0, np.iinfo(col.dtype).max, rows, dtype=col.dtype)
            tables[1].cols[name][...] = col
        pb = SimpleNamespace(
            proto=rng.choice(np.array([6, 17], dtype=np.uint8), n),
            seq=rng.integers(0, 1 << 32, n),
            payload_off=rng.integers(0, 10_000, n),
            payload_cap=rng.integers(0, 1500, n),
            payload_len=rng.integers(1, 1500, n),
            sport=rng.integers(0, 65536, n),
            dport=rng.integers(0, 65536, n),
            ts=rng.random(n) * 1e9,
        )
        pkt_slot = rng.integers(0, rows, n)
        src_first = rng.integers(0, 2, n).astype(bool)
        idx = np.sort(rng.choice(n, m, replace=False))
        got = feeder._round_cols_compiled(pb, idx, pkt_slot, src_first, tables[0].cols)
        want = feeder._round_cols_numpy(pb, idx, pkt_slot, src_first, tables[1].cols)
        for x, y in zip(got, want, strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), m
        assert np.array_equal(tables[0].cols["touched"], tables[1].cols["touched"])
        assert m < 3000 or ((got[4] == -1).any() and (got[4] >= 0).any())
    pkt_slot[idx[0]] = -1
    with pytest.raises(ValueError):
        feeder._round_cols_compiled(pb, idx, pkt_slot, src_first, tables[0].cols)
