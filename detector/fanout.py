"""Which worker holds which flows when one capture is split across N processes.

``scan -j N FILE`` on one big capture (parallel.scan_split) runs N worker sessions over the
same file; each keeps the packets of its share of the flows, as Suricata's "workers"
runmode and the kernel's PACKET_FANOUT_HASH hand each thread or socket its flows by a
symmetric hash of the addresses and ports (docs/ARCHITECTURE.md §7). Here the hash is taken
on the decoded batch, vectorised, so every packet of a flow - both directions - lands in
one worker:

* a packet on the wire: a symmetric hash of its two (address, port) ends and protocol
  (a sum of the two ends' hashes: no canonical ordering needed);
* a tunnel carrier (VXLAN, Geneve, GTP-U, CAPWAP, Teredo by their UDP ports; GRE, IP-in-IP,
  IPv6-in-IP by protocol) and every packet inside it, at any depth: a hash of the
  outermost carrier's two addresses alone. Why: an inner flow's two directions may come in
  carriers with different outer ports (a VXLAN source port is per-flow entropy, different
  each way), but always between the same two tunnel endpoints, whose addresses are in the
  inner flow's tunnel key (decode._tunnel_keys); and an inner packet's layers are read from
  its carrier rows (flows._tunnel_layers), which must be in the same worker's batch. The
  price: one tunnel's traffic is one worker's (a link that is all one tunnel does not
  split).

IP fragments never make flows (decode counts them), so no fragment needs a hash.
"""

from __future__ import annotations

import numpy as np

from detector.compiled import fast
from detector.decode import (
    PROTO_CARRIER,
    PROTO_TCP,
    PROTO_UDP,
    TUNNEL_PORTS,
    DecodeRows,
    PacketBatch,
)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED = np.uint64(0x5EED5EED0F0F0F0F)
_CARRIER_PORT = np.zeros(65536, dtype=bool)
_CARRIER_PORT[list(TUNNEL_PORTS)] = True
_CARRIER_PROTO = PROTO_CARRIER != 0


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (as flows.py and decode.py hash)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _end(hi: np.ndarray, lo: np.ndarray, port: np.ndarray) -> np.ndarray:
    return _mix(_mix(hi ^ _SEED) ^ lo ^ (port.astype(np.uint64) << np.uint64(48)))


def carriers(pb: PacketBatch) -> np.ndarray:
    """Per packet: does its flow carry a tunnel (by protocol, or by a tunnel's UDP port on
    either side, as decode opens them)? A function of the 5-tuple, so of the flow."""
    udp = (pb.proto == PROTO_UDP) & (_CARRIER_PORT[pb.sport] | _CARRIER_PORT[pb.dport])
    return udp | _CARRIER_PROTO[pb.proto]


def _roots(pb: PacketBatch) -> np.ndarray:
    """Per packet, the row of the outermost packet of its record (itself on the wire)."""
    root = np.arange(len(pb))
    if pb.parent is None:
        return root
    parent = pb.parent
    while True:
        up = parent[root]
        inner = up >= 0
        if not inner.any():
            return root
        root = np.where(inner, up, root)


def owners(pb: PacketBatch, count: int, out: np.ndarray | None = None) -> np.ndarray:
    """The worker (0 .. count-1) that holds each packet's flow (see the module's doc), in
    ``out`` (int64, at least len(pb) long: a session reuses it) or a new array."""
    n = len(pb)
    out = np.empty(n, dtype=np.int64) if out is None else out[:n]
    if fast is None:
        out[:] = _owners_numpy(pb, count)
        return out
    fast.fanout_owners(
        pb.src_hi, pb.src_lo, pb.dst_hi, pb.dst_lo, pb.sport, pb.dport, pb.proto,
        _CARRIER_PORT, _CARRIER_PROTO, pb.parent, count, out,
    )  # fmt: skip
    return out


def _owners_numpy(pb: PacketBatch, count: int) -> np.ndarray:
    """``owners`` with numpy: the definition, and fanout_owners' twin (detector/csrc/flow.c)."""
    carrier = carriers(pb)
    zero = np.zeros(len(pb), dtype=np.int64)
    sport = np.where(carrier, zero, pb.sport)
    dport = np.where(carrier, zero, pb.dport)
    proto = np.where(carrier, np.uint64(0), pb.proto.astype(np.uint64))
    h = _mix(_end(pb.src_hi, pb.src_lo, sport) + _end(pb.dst_hi, pb.dst_lo, dport) + proto)
    if pb.parent is not None:
        h = h[_roots(pb)]  # a tunnel's packets go where their outermost carrier goes
    return ((h >> np.uint64(32)) % np.uint64(count)).astype(np.int64)


def on_ports(pb: PacketBatch, ports: tuple[int, ...]) -> np.ndarray:
    """TCP and UDP packets with one of ``ports`` on either side, at any tunnel depth."""
    hit = np.zeros(len(pb), dtype=bool)
    for port in ports:
        hit |= (pb.sport == port) | (pb.dport == port)
    return hit & ((pb.proto == PROTO_TCP) | (pb.proto == PROTO_UDP))


def with_carriers(pb: PacketBatch, mask: np.ndarray) -> np.ndarray:
    """``mask`` and the carriers of the packets it holds (their layers are read there)."""
    if pb.parent is None:
        return mask
    mask = mask.copy()
    rows = np.flatnonzero(mask)
    while rows.shape[0]:
        up = pb.parent[rows]
        up = up[up >= 0]
        up = up[~mask[up]]
        mask[up] = True
        rows = up
    return mask


# The columns of a PacketBatch a subset gathers (the tunnel ones apart).
_ROW_FIELDS = ("ts", "wirelen", "proto", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport",
               "dport", "flags", "seq", "payload_off", "payload_len", "payload_cap",
               "stream_off")  # fmt: skip


def subset(pb: PacketBatch, mask: np.ndarray, rows: DecodeRows | None = None) -> PacketBatch:
    """The packets of ``pb`` where ``mask``, in their order, as a batch of their own (the
    carrier of every packet kept must be kept: ``with_carriers``), gathered into ``rows``
    when given - a session's own, reused batch after batch, as decode reuses its rows
    (fresh columns cost a page fault per 4 KB; see decode.DecodeRows) - else new arrays."""
    idx = np.flatnonzero(mask)
    m = idx.shape[0]
    tunnels: dict[str, np.ndarray | None] = {
        "tunnel": None, "parent": None, "encap": None, "encap_id": None
    }  # fmt: skip
    if pb.parent is not None:
        new_row = np.full(len(pb), -1, dtype=np.int64)
        new_row[idx] = np.arange(m)
        parent = pb.parent[idx]
        tunnels["parent"] = np.where(parent >= 0, new_row[np.maximum(parent, 0)], -1)
        for name in ("tunnel", "encap", "encap_id"):
            tunnels[name] = getattr(pb, name)[idx]
    if rows is None:
        fields = {name: getattr(pb, name)[idx] for name in _ROW_FIELDS}
        return PacketBatch(buf=pb.buf, **fields, **tunnels)
    rows.reserve(0, m)
    part = rows.batch(pb.buf, 0, m, **tunnels)
    for name in _ROW_FIELDS:
        # mode="clip": idx (flatnonzero) is in range, and the default mode ("raise") with
        # ``out`` gathers into a temporary copy first (numpy's PyArray_TakeFrom)
        np.take(getattr(pb, name), idx, out=getattr(part, name), mode="clip")
    return part
