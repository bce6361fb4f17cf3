"""TCP reassembly (``detector/reassembly.py``): segments in any order, overlapping,
retransmitted, cut short by a snap length, with SYNs and sequence wrap-around.

Input: segments of 5 bytes of header each - u16 sequence step (signed, so segments go
back too), u8 payload length, u8 announced extra (segment longer than captured), u8
flags (bit 0 SYN, bit 1 far jump, bit 2 a zero-byte capture) - followed by the payload.
Checks after every segment: what is delivered is bytes or GAP, never more bytes than
were captured; pending bytes are counted right and bounded by the limit plus one
segment; the number of pending segments is bounded too (they cost memory and the drain
walks them all). Crash: any exception or a broken invariant.
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.reassembly import GAP, StreamReassembler

MAX_PENDING = 2048
# Segments that may wait: skipping a hole walks them all, so their number is bounded
# (one more may be parked before the add that parked it skips a hole).
MAX_PENDING_SEGMENTS = 64  # StreamReassembler.max_segments, its default


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    r = StreamReassembler(max_pending=MAX_PENDING)
    seq = int.from_bytes(data[:4].ljust(4, b"\0"), "big")
    pos = 4
    captured = delivered = 0
    while pos + 5 <= len(data):
        step = int.from_bytes(data[pos : pos + 2], "big", signed=True)
        length, extra, flags = data[pos + 2], data[pos + 3], data[pos + 4]
        pos += 5
        payload = data[pos : pos + length]
        pos += length
        if flags & 2:
            step *= 65536
        seq = (seq + step) % (1 << 32)
        if flags & 4:
            payload = b""
        seg_len = len(payload) + extra
        captured += len(payload)
        out = r.add(seq, payload, seg_len, bool(flags & 1))
        for piece in out:
            assert piece is GAP or (isinstance(piece, bytes) and piece), piece
            if piece is not GAP:
                delivered += len(piece)
        assert delivered <= captured
        assert r.pending_bytes == sum(len(d) for d, _ in r.pending.values())
        assert r.pending_bytes <= MAX_PENDING + 255
        assert len(r.pending) <= MAX_PENDING_SEGMENTS + 1, len(r.pending)
    for piece in r.flush():
        if piece is not GAP:
            delivered += len(piece)
    assert delivered <= captured and not r.pending and r.pending_bytes == 0


if __name__ == "__main__":
    common.main(TestOneInput)
