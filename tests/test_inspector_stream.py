"""Inspector.tcp_packet reassembles a whole, in-order segment itself (StreamReassembler.add's
common case, inline - including a stream's first segment when its SYN was not seen) and
hands the rest to add: either way a side must get the bytes, and its reassembler be left,
as add alone would deliver and leave them."""

from __future__ import annotations

import random

import pytest

from detector.dissect.inspector import Inspector
from detector.reassembly import GAP, StreamReassembler


def _segments(rng: random.Random, start: int) -> list[tuple[int, bytes]]:
    """A side's stream (bytes no dissector takes or rejects yet: a quote, no newline) cut
    into segments, some sent twice or late; sequence numbers wrap past 2**32."""
    stream = b"x" + b"".join(rng.choice([b'"', b"a", b"b", b" "]) for _ in range(2500))
    cuts = sorted(rng.sample(range(1, len(stream)), 25))
    pieces, at = [], 0
    for end in [*cuts, len(stream)]:
        pieces.append(((start + at) & 0xFFFFFFFF, stream[at:end]))
        at = end
    sent = list(pieces)
    for _ in range(6):
        k = rng.randrange(1, len(sent) - 1)
        if rng.random() < 0.5:
            sent.insert(k, sent[k - 1])  # a retransmission
        else:
            sent[k], sent[k + 1] = sent[k + 1], sent[k]  # one late
    return sent


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("syn_seen", [False, True])
def test_tcp_packet_delivers_as_add_would(seed: int, syn_seen: bool) -> None:
    rng = random.Random(seed)
    start = 0xFFFFFFFF - 700 if seed % 2 else rng.randrange(1 << 32)
    inspector = Inspector()
    inspector.first_packets = False
    reference = StreamReassembler()
    delivered: list[bytes] = []
    isn = start if syn_seen else None
    if syn_seen:
        reference.next_seq = start
    for seq, data in _segments(rng, start):
        inspector.tcp_packet(1, 0, seq, isn, data, len(data), 1.0, 40000, 3333)
        pieces = reference.add(seq, data, len(data), False)
        assert GAP not in pieces
        delivered.extend(p for p in pieces if p is not None)
        side = inspector.flows[1].sides[0]
        assert not side.decided  # (every byte went to the side's head)
        assert side.head == b"".join(delivered)
        assert side.stream.next_seq == reference.next_seq
        assert side.stream.pending == reference.pending
    assert len(delivered) > 20
