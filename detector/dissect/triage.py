"""Vectorised triage: which packets of a batch Python must see, and by which path.

DNS is every tenth packet on a resolver link and every message is its own flow, so DNS is
sorted out here with numpy: queries never reach Python (a response repeats the question),
responses without answers neither; responses with answers take a short path that feeds
passive DNS without building per-flow inspection state.
"""

from __future__ import annotations

import numpy as np

from detector.decode import PROTO_UDP, PacketBatch

DNS_PORTS = np.array([53, 5353, 5355])
GENERIC, DNS_ANSWER = 1, 2


def triage(pb: PacketBatch, candidates: np.ndarray) -> np.ndarray:
    """Per packet: 0 skip, GENERIC (dissector path) or DNS_ANSWER (fast DNS path)."""
    action = np.where(candidates, GENERIC, 0).astype(np.int8)
    udp = candidates & (pb.proto == PROTO_UDP)
    if not udp.any():
        return action
    dns = udp & (np.isin(pb.sport, DNS_PORTS) | np.isin(pb.dport, DNS_PORTS))
    if not dns.any():
        return action
    idx = np.flatnonzero(dns)
    buf, off = pb.buf, pb.payload_off[idx]
    last = buf.shape[0] - 8
    flags_hi = buf[np.clip(off + 2, 0, last)]
    ancount = (buf[np.clip(off + 6, 0, last)].astype(np.int64) << 8) | buf[
        np.clip(off + 7, 0, last)
    ]
    answer = (pb.payload_cap[idx] >= 12) & ((flags_hi & 0x80) != 0) & (ancount > 0)
    action[idx] = np.where(answer, DNS_ANSWER, 0)
    return action
