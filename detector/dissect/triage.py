"""Vectorised triage: which packets of a batch Python must see, and by which path.

DNS is every tenth packet on a resolver link and every message is its own flow, so DNS is
sorted out here with numpy: queries never reach Python (a response repeats the question),
responses without answers neither; responses with answers take a short path that feeds
passive DNS without building per-flow inspection state. Other UDP reaches Python only
when it has the shape of a protocol a datagram dissector knows (discv4, Nano, a QUIC
Initial): NTP and the like are counted by the flow stage and never leave numpy. Of QUIC
only the client's Initial packets go on - long header, version 1 or 2 with that
version's Initial type bits, in a datagram of at least 1200 bytes (RFC 9000 §14.1: a
client pads every datagram carrying an Initial to that) - and only while the flow is
under inspection, i.e. until its ClientHello is read (dissect/quic.py); the encrypted
rest of a QUIC connection (short headers, Handshake packets) never leaves numpy.
"""

from __future__ import annotations

import functools

import numpy as np

from detector.decode import PROTO_UDP, PacketBatch

DNS_PORTS = (53, 5353, 5355)
QUIC_V2 = 0x6B3343CF
QUIC_MIN_DATAGRAM = 1200


def triage(pb: PacketBatch, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which candidate packets Python must see: (their indices, in capture order; for
    each, whether it takes the fast DNS path). Worked out on the candidates only - the
    packets of flows under inspection that carry payload, a fraction of the batch. The
    feeder's compiled path does it in one pass (``_fast.inspect_triage``,
    tests/test_feeder_twins.py)."""
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


@functools.cache
def dns_port_table() -> np.ndarray:
    """DNS_PORTS as a table by port (``_fast.inspect_triage`` looks the ports up in it)."""
    table = np.zeros(65536, dtype=np.uint8)
    table[list(DNS_PORTS)] = 1
    return table


def _datagram_candidate(pb: PacketBatch, idx: np.ndarray, buf: np.ndarray, last: int) -> np.ndarray:
    """UDP payloads shaped like discv4 (type byte 97 in 1..6, an RLP list at 98), Nano
    ('R', network id A/B/C/X) or a client's QUIC Initial: the same tests the datagram
    dissectors' probes make (QUIC's less the size, which the probe does not need)."""
    off = pb.payload_off[idx]
    cap = pb.payload_cap[idx]
    b97 = buf[np.clip(off + 97, 0, last)]
    b98 = buf[np.clip(off + 98, 0, last)]
    discv4 = (cap >= 100) & (b97 >= 1) & (b97 <= 6) & (b98 >= 0xC0)
    b0 = buf[np.clip(off, 0, last)]
    b1 = buf[np.clip(off + 1, 0, last)]
    nano = (cap >= 8) & (b0 == ord("R")) & _any_of(b1, tuple(b"ABCX"))
    keep = discv4 | nano
    # QUIC: long header with the fixed bit, then the version; the type bits of an Initial
    # are 00 in v1 and 01 in v2. Versions are read only for the few long-header datagrams.
    at = np.flatnonzero(((b0 & 0xC0) == 0xC0) & (cap >= QUIC_MIN_DATAGRAM))
    if at.shape[0]:
        start = off[at]
        version = buf[np.clip(start + 1, 0, last)].astype(np.uint32) << 24
        for i, shift in ((2, 16), (3, 8), (4, 0)):
            version |= buf[np.clip(start + i, 0, last)].astype(np.uint32) << shift
        kind = (b0[at] >> 4) & 3
        keep[at] |= ((version == 1) & (kind == 0)) | ((version == QUIC_V2) & (kind == 1))
    return keep


def _any_of(values: np.ndarray, wanted: tuple[int, ...]) -> np.ndarray:
    """``np.isin`` for a few wanted values: one comparison each, no sort (per batch)."""
    hit = values == wanted[0]
    for value in wanted[1:]:
        hit |= values == value
    return hit
