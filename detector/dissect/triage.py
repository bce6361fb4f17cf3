"""Vectorised triage: which packets of a batch Python must see, and by which path.

DNS is every tenth packet on a resolver link and every message is its own flow, so DNS is
sorted out here with numpy: queries never reach Python (a response repeats the question),
responses without answers neither; responses with answers take a short path that feeds
passive DNS without building per-flow inspection state. Other UDP reaches Python only
when it has the shape of a protocol a datagram dissector knows (discv4, Nano): NTP, QUIC
and the like are counted by the flow stage and never leave numpy.
"""

from __future__ import annotations

import numpy as np

from detector.decode import PROTO_UDP, PacketBatch

DNS_PORTS = (53, 5353, 5355)


def triage(pb: PacketBatch, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate packets Python must see: (their indices, in capture order; for
    each, whether it takes the fast DNS path). Worked out on the candidates only - the
    packets of flows under inspection that carry payload, a fraction of the batch."""
    idx = np.flatnonzero(candidates)
    udp = pb.proto[idx] == PROTO_UDP
    if not udp.any():
        return idx, np.zeros(idx.shape[0], dtype=bool)
    dns = udp & (_any_of(pb.sport[idx], DNS_PORTS) | _any_of(pb.dport[idx], DNS_PORTS))
    buf = pb.buf
    last = buf.shape[0] - 8
    keep = ~udp  # TCP payload always goes on (its flows are under inspection)
    other = np.flatnonzero(udp & ~dns)
    if other.shape[0]:
        keep[other] = _datagram_candidate(pb, idx[other], buf, last)
    at = np.flatnonzero(dns)
    if at.shape[0]:
        off = pb.payload_off[idx[at]]
        flags_hi = buf[np.clip(off + 2, 0, last)]
        ancount = (buf[np.clip(off + 6, 0, last)].astype(np.int64) << 8) | buf[
            np.clip(off + 7, 0, last)
        ]
        keep[at] = (pb.payload_cap[idx[at]] >= 12) & ((flags_hi & 0x80) != 0) & (ancount > 0)
    return idx[keep], dns[keep]


def _datagram_candidate(pb: PacketBatch, idx: np.ndarray, buf: np.ndarray, last: int) -> np.ndarray:
    """UDP payloads shaped like discv4 (type byte 97 in 1..6, an RLP list at 98) or Nano
    ('R', network id A/B/C/X): the same tests the datagram dissectors' probes make."""
    off = pb.payload_off[idx]
    cap = pb.payload_cap[idx]
    b97 = buf[np.clip(off + 97, 0, last)]
    b98 = buf[np.clip(off + 98, 0, last)]
    discv4 = (cap >= 100) & (b97 >= 1) & (b97 <= 6) & (b98 >= 0xC0)
    b0 = buf[np.clip(off, 0, last)]
    b1 = buf[np.clip(off + 1, 0, last)]
    nano = (cap >= 8) & (b0 == ord("R")) & _any_of(b1, tuple(b"ABCX"))
    return discv4 | nano


def _any_of(values: np.ndarray, wanted: tuple[int, ...]) -> np.ndarray:
    """``np.isin`` for a few wanted values: one comparison each, no sort (per batch)."""
    hit = values == wanted[0]
    for value in wanted[1:]:
        hit |= values == value
    return hit
