"""TCP reassembly: in order, retransmitted, overlapping, out of order, holes, wrap-around."""

from __future__ import annotations

import random

from detector.reassembly import GAP, StreamReassembler, _rel


def collect(r: StreamReassembler, segments: list[tuple[int, bytes]]) -> list[bytes | None]:
    out: list[bytes | None] = []
    for seq, data in segments:
        out += r.add(seq, data, len(data), False)
    return out + r.flush()


def joined(pieces: list[bytes | None]) -> bytes:
    return b"".join(p for p in pieces if p is not None)


def test_syn_sets_initial_sequence_and_in_order_delivery() -> None:
    r = StreamReassembler()
    assert r.add(1000, b"", 0, True) == []
    assert r.add(1001, b"abc", 3, False) == [b"abc"]
    assert r.add(1004, b"def", 3, False) == [b"def"]


def test_retransmission_and_overlap_are_delivered_once() -> None:
    r = StreamReassembler()
    out = collect(r, [(1, b"hello "), (1, b"hello "), (4, b"lo wor"), (7, b"world\n")])
    assert joined(out) == b"hello world\n"
    assert GAP not in out


def test_out_of_order_segments_wait_for_the_hole() -> None:
    r = StreamReassembler()
    assert r.add(10, b"aa", 2, False) == [b"aa"]
    assert r.add(14, b"cc", 2, False) == []
    assert r.add(16, b"dd", 2, False) == []
    assert r.add(12, b"bb", 2, False) == [b"bb", b"cc", b"dd"]


def test_permuted_segments_give_the_original_stream() -> None:
    rng = random.Random(7)
    stream = bytes(rng.randrange(256) for _ in range(5000))
    segs = []
    pos = 0
    while pos < len(stream):
        size = rng.randrange(1, 200)
        segs.append((pos, stream[pos : pos + size]))
        pos += size
    first, rest = segs[0], segs[1:]
    rest = rest + rng.sample(rest, 10)  # some retransmissions
    rng.shuffle(rest)
    r = StreamReassembler(max_pending=1 << 20)
    assert joined(collect(r, [first, *rest])) == stream


def test_hole_is_skipped_when_buffer_fills_and_reported() -> None:
    r = StreamReassembler(max_pending=10)
    assert r.add(0, b"ab", 2, False) == [b"ab"]
    assert r.add(5, b"0123456789AB", 12, False) == [GAP, b"0123456789AB"]


def test_snaplen_cut_segment_leaves_a_gap_and_keeps_sequence() -> None:
    r = StreamReassembler()
    assert r.add(0, b"head", 100, False) == [b"head", GAP]
    assert r.add(100, b"next", 4, False) == [b"next"]


def test_sequence_wraparound() -> None:
    r = StreamReassembler()
    start = 2**32 - 3
    assert r.add(start, b"abc", 3, False) == [b"abc"]
    assert r.add(0, b"def", 3, False) == [b"def"]


def test_mid_stream_start_uses_first_seen_sequence() -> None:
    r = StreamReassembler()
    assert r.add(123456, b"xyz", 3, False) == [b"xyz"]
    assert r.add(123000, b"old", 3, False) == []  # before the first byte we saw


def test_many_tiny_segments_after_holes_stay_cheap() -> None:
    """One-byte segments each after a hole (or snap-cut, zero-byte ones) wait in bounded
    number: skipping a hole walks the waiting segments, so without a bound 8,000 of them
    took 35 s to flush (found by fuzz target reassembly)."""
    import time

    for data in (b"x", b""):
        r = StreamReassembler()
        r.add(1000, b"a", 1, False)
        started = time.perf_counter()
        delivered = 0
        for i in range(20_000):
            for piece in r.add(1001 + 2 * (i + 1), data, 1, False):
                delivered += len(piece) if piece is not GAP else 0
            assert len(r.pending) <= r.max_segments + 1
        for piece in r.flush():
            delivered += len(piece) if piece is not GAP else 0
        assert delivered == 20_000 * len(data)
        assert time.perf_counter() - started < 5


class _PassByPass(StreamReassembler):
    """The drain as it was: the waiting segments looked over again after each pass of
    deliveries (the reference for StreamReassembler._drain's single ordered walk)."""

    __slots__ = ()

    def _drain(self, out: list[bytes | None]) -> None:
        while self.pending:
            base = self.next_seq
            assert base is not None
            ready = [s for s in self.pending if _rel(s, base) <= 0]
            if not ready:
                return
            for s in sorted(ready, key=lambda s: _rel(s, base)):
                data, seg_len = self.pending.pop(s)
                self.pending_bytes -= len(data)
                rel = _rel(s, self.next_seq)
                if rel + seg_len > 0:
                    self._deliver(data[-rel:] if rel < 0 else data, seg_len + rel, out)


def test_drain_delivers_as_pass_by_pass_drain_did() -> None:
    """Random streams cut into overlapping, snaplen-cut, duplicated and reordered
    segments (near the 32-bit wrap too), with holes skipped as the buffer fills: the
    drain's single walk in distance order delivers the same pieces and gaps, in the same
    order, as looking for the ready segments again after every delivery."""
    rng = random.Random(34)
    for case in range(400):
        isn = rng.choice([0, 1 << 31, (1 << 32) - rng.randrange(1, 5000), rng.randrange(1 << 32)])
        size = rng.randrange(1, 6000)
        stream = bytes(rng.randrange(256) for _ in range(size))
        segments = []
        for _ in range(rng.randrange(1, 80)):
            start = rng.randrange(size)
            seg_len = rng.randrange(1, 400)
            data = stream[start : start + seg_len]
            if rng.random() < 0.1:
                data = data[: rng.randrange(len(data) + 1)]  # snaplen cut
            segments.append(((isn + start) & 0xFFFFFFFF, data, max(seg_len, len(data))))
        if rng.random() < 0.5:
            segments.sort(key=lambda seg: (seg[0] - isn) & 0xFFFFFFFF)
            rng.shuffle(segments[: rng.randrange(len(segments) + 1)])
        limits = {
            "max_pending": rng.choice([300, 2000, 64 * 1024]),
            "max_segments": rng.choice([3, 8, 64]),
        }
        new, old = StreamReassembler(**limits), _PassByPass(**limits)
        new.next_seq = old.next_seq = isn
        for seq, data, seg_len in segments:
            assert new.add(seq, data, seg_len, False) == old.add(seq, data, seg_len, False), case
        assert new.flush() == old.flush(), case
        assert new.next_seq == old.next_seq and new.pending_bytes == old.pending_bytes, case
