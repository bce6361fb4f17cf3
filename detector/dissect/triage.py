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
GENERIC, DNS_ANSWER = 1, 2


def triage(pb: PacketBatch, candidates: np.ndarray) -> np.ndarray:
    """Per packet: 0 skip, GENERIC (dissector path) or DNS_ANSWER (fast DNS path)."""
    action = np.where(candidates, GENERIC, 0).astype(np.int8)
    udp = candidates & (pb.proto == PROTO_UDP)
    if not udp.any():
        return action
    dns = udp & (_any_of(pb.sport, DNS_PORTS) | _any_of(pb.dport, DNS_PORTS))
    buf = pb.buf
    last = buf.shape[0] - 8
    other = np.flatnonzero(udp & ~dns)
    if other.shape[0]:
        action[other] = np.where(_datagram_candidate(pb, other, buf, last), GENERIC, 0)
    if not dns.any():
        return action
    idx = np.flatnonzero(dns)
    off = pb.payload_off[idx]
    flags_hi = buf[np.clip(off + 2, 0, last)]
    ancount = (buf[np.clip(off + 6, 0, last)].astype(np.int64) << 8) | buf[
        np.clip(off + 7, 0, last)
    ]
    answer = (pb.payload_cap[idx] >= 12) & ((flags_hi & 0x80) != 0) & (ancount > 0)
    action[idx] = np.where(answer, DNS_ANSWER, 0)
    return action


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
