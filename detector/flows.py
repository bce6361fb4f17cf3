"""Flow stage: group each decoded batch into bidirectional flows, vectorised.

Per batch: canonical 5-tuple hash per packet -> one sort -> per-flow group sums added to
the FlowTable columns (``place``). Which packets then go to the dissectors is the dissect
stage's business (dissect/feeder.py), told by the table's ``inspect`` bits. Flows end on
idle timeout, on the close timeout after FIN/RST (a 5-tuple back after either starts a new
flow, within a batch too, as a sweep before every packet would have it: ``place``,
``_idle_ends``), on active timeout (a record is cut and the flow continues) or
by eviction when the table is full; the clock is the capture's, moved on by packets and by
``advance`` when none arrive (a live sensor's sweep, as Suricata's flow manager does).
Every ended flow that carries facts becomes a FlowRecord, plain data, queued in
``records`` for the later stages to take (docs/ARCHITECTURE.md §7).

This stage imports no later one: the facts of an ending flow come from a ``FactSource``
(the dissect stage's Inspector) handed in by whoever wires the stages.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Protocol

import numpy as np

from detector import behaviour
from detector.compiled import fast
from detector.decode import (
    ENCAP_NAMES,
    FLAG_DIRECTED,
    PROTO_NAMES,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_RST,
    TCP_SYN,
    PacketBatch,
)
from detector.facts import FlowFacts
from detector.flowtable import (
    STATE_FIN_A,
    STATE_FIN_B,
    STATE_RST,
    STATE_SYN_A,
    STATE_SYN_B,
    FlowTable,
)
from detector.owners import PRIVATE_V4
from detector.screen import HostScreen, private_mask

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a cheap, well-spread 64-bit hash step (vectorised)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def flow_keys(
    a_hi: np.ndarray,
    a_lo: np.ndarray,
    b_hi: np.ndarray,
    b_lo: np.ndarray,
    a_port: np.ndarray,
    b_port: np.ndarray,
    proto: np.ndarray,
    tunnel: np.ndarray | None = None,
) -> np.ndarray:
    """64-bit key of each canonical (side A, side B, proto) tuple and, for packets that
    came out of a tunnel, its tunnel key (decode._tunnel_keys): the same 5-tuple in two
    tunnels, or in one and on the wire, makes two flows. A packet in no tunnel keeps the
    key it always had."""
    ports = (a_port.astype(np.uint64) << np.uint64(24)) | (b_port.astype(np.uint64) << np.uint64(8))
    h = _mix(a_hi ^ _SEED)
    h = _mix(h ^ a_lo)
    h = _mix(h ^ b_hi)
    h = _mix(h ^ b_lo)
    key = _mix(h ^ ports ^ proto.astype(np.uint64))
    if tunnel is None:
        return key
    return np.where(tunnel != 0, _mix(key ^ tunnel), key)


# Flow-table columns that flow_update writes, in its argument order.
_UPDATED_COLUMNS = (
    "pkts_a",
    "pkts_b",
    "bytes_a",
    "bytes_b",
    "payload_a",
    "payload_b",
    "flags_a",
    "flags_b",
    "last_ts",
    "state",
    "isn_a",
    "isn_b",
)

# (src_first, group of each packet, the groups' keys, first packet, first pure SYN, first
# SYN-ACK, starts after a cut, joined over a close-timeout gap): see _group_numpy
Grouping = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]
# The FIN/RST state bits (flowtable.STATE_*) that say whether the sweep takes a flow for
# closed: a RST, or a FIN from each side (_closed)
_CLOSING = STATE_FIN_A | STATE_FIN_B | STATE_RST


def _closed(state: np.ndarray) -> np.ndarray:
    """Which flows (their state bits) the sweep ends after the close timeout: a RST seen,
    or a FIN from each side."""
    return ((state & STATE_RST) != 0) | (
        ((state & STATE_FIN_A) != 0) & ((state & STATE_FIN_B) != 0)
    )


# The state bits after which a pure SYN reuses a flow's ports (_reuse_closed): a RST, or a
# FIN from side A
_REUSABLE = STATE_RST | STATE_FIN_A
# _closed of every value of the state byte: one gather instead of its six operations
_CLOSED_STATE = _closed(np.arange(256, dtype=np.int64))


def _src_first(pb: PacketBatch) -> np.ndarray:
    """Per packet: is the source side A (its (address, port) sorts first, or the packet is
    a one-way ICMP message, whose flow keeps its sender first: decode.FLAG_DIRECTED)?"""
    return (
        (pb.src_hi < pb.dst_hi)
        | (
            (pb.src_hi == pb.dst_hi)
            & ((pb.src_lo < pb.dst_lo) | ((pb.src_lo == pb.dst_lo) & (pb.sport <= pb.dport)))
        )
        | (((pb.flags & FLAG_DIRECTED) != 0) & (pb.proto != PROTO_TCP))
    )


def _canonical(
    pb: PacketBatch, idx: np.ndarray, src_first: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a_hi, a_lo, b_hi, b_lo, a_port, b_port) of the packets at ``idx``."""
    sf = src_first[idx]
    s_hi, s_lo, d_hi, d_lo = pb.src_hi[idx], pb.src_lo[idx], pb.dst_hi[idx], pb.dst_lo[idx]
    sp, dp = pb.sport[idx], pb.dport[idx]
    return (
        np.where(sf, s_hi, d_hi),
        np.where(sf, s_lo, d_lo),
        np.where(sf, d_hi, s_hi),
        np.where(sf, d_lo, s_lo),
        np.where(sf, sp, dp),
        np.where(sf, dp, sp),
    )


# The timeouts the grouping cuts a key's packets at (FlowConfig's): TCP idle, idle for
# every other protocol, and close (once the flow closed). A plain tuple: a dataclass more
# costs every command's start-up its generated methods' compilation.
Timeouts = tuple[float, float, float]


def _group_numpy(
    pb: PacketBatch,
    timeouts: Timeouts,
    init: np.ndarray | None = None,
    init_latest: np.ndarray | None = None,
) -> Grouping:
    """Packets grouped by flow: (src_first, group of each packet, the groups' keys in
    ascending order, and per group its first packet, first pure SYN and first SYN-ACK -
    ``len(pb)`` where there is none -, whether it starts after a cut, and whether a packet
    joined it over a gap past the close timeout, or as a pure SYN, that a state carried
    in from the table could have cut at: ``recheck``).

    A group is a key's packets up to a cut: a packet later than the latest time of its
    key's packets so far (NaN times never count) plus the key's idle timeout (TCP's
    for TCP, the other one for the rest, as ``_sweep`` decides), or plus the close timeout when
    the group's packets before it closed the flow as the sweep sees it (_closed: a RST,
    or a FIN from each side), starts the key's next group (segment), which ``place``
    gives a flow of its own - the sweep would have ended the flow before the packet came,
    had it run then (Suricata's and Zeek's lookups end it there); so does a pure SYN
    once the group's packets brought a RST or a FIN from side A (the port reuse of a
    closed flow, as ``_reuse_closed`` takes it across batches). ``init``: None, or per
    packet the FIN/RST state bits a key's first group starts from, read at the key's
    first packet (the state of the table's flow the group continues; ``recheck`` says
    where it could matter); ``init_latest`` likewise the latest time it starts from (the
    table's flow's last packet; -inf: none), so that times gone back across batches cut
    no more than within one. Groups are in (key, segment) order: a key's groups are
    adjacent, oldest first. ``_group_compiled`` is its C twin."""
    n = len(pb)
    src_first = _src_first(pb)
    everything = np.arange(n)
    keys = flow_keys(*_canonical(pb, everything, src_first), pb.proto, pb.tunnel)
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    key_start = np.r_[True, sk[1:] != sk[:-1]]
    cuts, joined_over = _cuts(pb, order, key_start, src_first, timeouts, init, init_latest)
    boundary = key_start | cuts
    starts = np.flatnonzero(boundary)
    in_order = np.cumsum(boundary) - 1
    group = np.empty(n, dtype=np.int64)
    group[order] = in_order
    flags = pb.flags.astype(np.int64)  # SYN marks openers of other protocols too (decode)
    syn_pure = (flags & (TCP_SYN | TCP_ACK)) == TCP_SYN
    syn_ack = (flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK)
    big = np.int64(n)
    first_syn = np.minimum.reduceat(np.where(syn_pure[order], order, big), starts)
    first_synack = np.minimum.reduceat(np.where(syn_ack[order], order, big), starts)
    after_gap = ~key_start[starts]
    recheck = np.zeros(starts.shape[0], dtype=bool)
    recheck[in_order[joined_over]] = True
    return (src_first, group, sk[starts], order[starts], first_syn, first_synack, after_gap,
            recheck)  # fmt: skip


def _cuts(
    pb: PacketBatch,
    order: np.ndarray,
    key_start: np.ndarray,
    src_first: np.ndarray,
    timeouts: Timeouts,
    init: np.ndarray | None,
    init_latest: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """In key order (``order``, a stable sort by key; ``key_start`` marks each key's
    first packet): which packets start a new group (see _group_numpy), and which joined
    their group over a gap past the close timeout, or as a pure SYN, the group being
    neither closed nor reusable. A gap needs one over the previous packet too, so the
    common batch (none, and no SYN but its keys' first packets) costs one comparison per
    packet; the running maximum per key is worked out only when some packet is a
    candidate, and the FIN/RST state (a loop over the packets it decides) only when some
    gap lies between the close and the idle timeout or some SYN follows a key's first
    packet."""
    ts = pb.ts[order]
    tcp = pb.proto[order] == PROTO_TCP
    tcp_timeout, udp_timeout, close_timeout = timeouts
    idle = np.where(tcp, tcp_timeout, udp_timeout)
    short = np.where(tcp, min(tcp_timeout, close_timeout), min(udp_timeout, close_timeout))
    flags = pb.flags[order].astype(np.int64)
    syn = ~key_start & ((flags & (TCP_SYN | TCP_ACK)) == TCP_SYN)
    prev = np.r_[-np.inf, ts[:-1]]
    candidate = syn | (~key_start & ((prev < ts - short) | np.isnan(prev)))
    nothing = np.zeros(ts.shape[0], dtype=bool)
    if not candidate.any():
        return nothing, nothing
    # latest time per key so far: a running maximum that restarts at each key, done as
    # one maximum.accumulate over (key number, rank of the time) packed into an int64
    clean = np.where(np.isnan(ts), -np.inf, ts)
    if init_latest is not None:  # a key's first packet: the latest the table carries in
        clean = np.where(key_start, np.maximum(clean, init_latest[order]), clean)
    values, rank = np.unique(clean, return_inverse=True)
    key_no = np.cumsum(key_start) - 1
    packed = key_no * np.int64(values.shape[0]) + rank.astype(np.int64)
    latest = values[np.maximum.accumulate(packed) - key_no * np.int64(values.shape[0])]
    before = np.r_[-np.inf, latest[:-1]]
    cut = ~key_start & (before < ts - idle)
    unsure = ~key_start & ~cut & (before < ts - short) & (before < ts - close_timeout)
    syn &= ~cut
    if not (unsure | syn).any():
        return cut, nothing
    # the FIN/RST state of a group before each packet in question: counts of each bit
    # since the group's start, from running sums, the groups' starts decided in key order
    side_a = src_first[order]
    fin = (flags & TCP_FIN) != 0
    bits = np.stack([(flags & TCP_RST) != 0, fin & side_a, fin & ~side_a]).astype(np.int64)
    sums = np.concatenate([np.zeros((3, 1), dtype=np.int64), np.cumsum(bits, axis=1)], axis=1)
    first_of_key = np.maximum.accumulate(np.where(key_start, np.arange(ts.shape[0]), 0))
    carried = np.zeros(ts.shape[0], dtype=np.int64) if init is None else init[order] & _CLOSING
    joined = nothing.copy()
    seg_start, seg_init, seg_key = 0, 0, -1
    for p in np.flatnonzero(cut | unsure | syn).tolist():
        if key_no[p] != seg_key:
            seg_key = int(key_no[p])
            seg_start = int(first_of_key[p])
            seg_init = int(carried[seg_start])
        if cut[p]:
            seg_start, seg_init = p, 0
            continue
        rst, fin_a, fin_b = (sums[:, p] - sums[:, seg_start] > 0).tolist()
        rst |= bool(seg_init & STATE_RST)
        fin_a |= bool(seg_init & STATE_FIN_A)
        fin_b |= bool(seg_init & STATE_FIN_B)
        closed = unsure[p] and (rst or (fin_a and fin_b))  # as _sweep
        reused = syn[p] and (rst or fin_a)  # as _reuse_closed
        if closed or reused:
            cut[p] = True
            seg_start, seg_init = p, 0
        else:
            joined[p] = True
    return cut, joined


def _group_compiled(
    pb: PacketBatch,
    timeouts: Timeouts,
    init: np.ndarray | None = None,
    init_latest: np.ndarray | None = None,
) -> Grouping:
    n = len(pb)
    src_first = np.empty(n, dtype=np.bool_)
    keys = np.empty(n, dtype=np.uint64)
    group = np.empty(n, dtype=np.int64)
    ukeys = np.empty(n, dtype=np.uint64)
    first = np.empty((3, n), dtype=np.int64)
    after_gap = np.empty(n, dtype=np.bool_)
    recheck = np.empty(n, dtype=np.bool_)
    count = fast.flow_group(
        pb.src_hi,
        pb.src_lo,
        pb.dst_hi,
        pb.dst_lo,
        pb.sport,
        pb.dport,
        pb.proto,
        pb.flags,
        pb.ts,
        pb.tunnel,
        *timeouts,
        None if init is None else np.ascontiguousarray(init, dtype=np.uint8),
        None if init_latest is None else np.ascontiguousarray(init_latest, dtype=np.float64),
        src_first.view(np.uint8),
        keys,
        group,
        ukeys,
        first[0],
        first[1],
        first[2],
        after_gap.view(np.uint8),
        recheck.view(np.uint8),
    )
    return (
        src_first,
        group,
        ukeys[:count],
        first[0, :count],
        first[1, :count],
        first[2, :count],
        after_gap[:count],
        recheck[:count],
    )


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class FlowConfig:
    """Flow-table limits. TCP idle timeout >= 600 s: pools push jobs every 20-340 s. UDP
    flows (DNS, NTP, QUIC - no mining protocol runs over UDP) idle out sooner, as in Zeek
    (udp_inactivity_timeout), which keeps the table small on resolver-heavy links."""

    idle_timeout: float = 600.0
    udp_idle_timeout: float = 120.0
    active_timeout: float = 3600.0
    close_timeout: float = 30.0
    max_flows: int = 500_000


@dataclass(slots=True)
class FlowRecord:
    """One ended (or cut) flow, oriented client -> server, with its facts: plain data
    (it crosses processes, and later machines, as it is)."""

    flow_id: int
    proto: str
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    first_ts: float
    last_ts: float
    pkts_toserver: int
    pkts_toclient: int
    bytes_toserver: int
    bytes_toclient: int
    payload_toserver: int
    payload_toclient: int
    orientation: str  # "syn", "payload" or "port"
    end_reason: str  # "idle", "closed", "active-timeout", "evicted", "end"; "open" (snapshot)
    facts: FlowFacts | None
    client_side: int = 0  # which FlowFacts side is the client
    # The tunnels its packets came in, outermost first (see _tunnel_layers), or None.
    tunnel: list[dict[str, Any]] | None = None
    # Its messages, pushes, answers and request rhythm, oriented client -> server, packed
    # (behaviour.PACKED: behaviour.unpack gives the numbers, behaviour.FIELDS names them);
    # None unless it is TCP with payload both ways. features.py reads it.
    behaviour: bytes | None = None
    # The flow model's calibrated P(mining) and whether it reached the model's threshold
    # (model.FlowModel.annotate); None/False for a flow it did not score (too few pushes).
    model_score: float | None = None
    model_alert: bool = False
    model_why: tuple[str, ...] = ()  # the features that moved the score most, strongest first

    @property
    def duration(self) -> float:
        return max(0.0, self.last_ts - self.first_ts)

    def without_facts(self) -> FlowRecord:
        """A copy without its facts: ``dataclasses.replace(self, facts=None)``, spelled
        out (replace reads the fields and builds keyword arguments on every call; the node
        table copies a record per new peer pair). tests/test_flow_record.py keeps them equal."""
        return FlowRecord(
            self.flow_id, self.proto, self.client_ip, self.client_port, self.server_ip,
            self.server_port, self.first_ts, self.last_ts, self.pkts_toserver,
            self.pkts_toclient, self.bytes_toserver, self.bytes_toclient,
            self.payload_toserver, self.payload_toclient, self.orientation, self.end_reason,
            None, self.client_side, self.tunnel, self.behaviour, self.model_score,
            self.model_alert, self.model_why,
        )  # fmt: skip


@dataclass(slots=True)
class FlowStats:
    """A flow tracker's counters (FlowTracker.stats), summed over captures and workers."""

    flows: int = 0
    evicted: int = 0
    collisions: int = 0
    peak_flows: int = 0
    peak_state_bytes: int = 0
    inspected_packets: int = 0
    cut_short: int = 0  # flows whose inspection ended early to bound its state
    records: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


def flow_ids(keys: np.ndarray, first_ts: np.ndarray) -> np.ndarray:
    """63-bit ids (non-negative) of ending flows (each one's 5-tuple key mixed with its start
    time in microseconds, splitmix64-style), like Suricata's flow_id: the same 5-tuple
    reused later gets a different id. Worked out for all the flows a batch ends at once
    (uint64 arithmetic wraps mod 2**64; tests check it against the integer definition)."""
    x = keys.astype(np.uint64) ^ (first_ts * 1e6).astype(np.int64).view(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (x ^ (x >> np.uint64(31))) & np.uint64(0x7FFF_FFFF_FFFF_FFFF)


@functools.lru_cache(maxsize=8192)
def ip_text(hi: int, lo: int) -> str:
    """Text form of an address held as two 64-bit halves (IPv4 is v4-mapped). Remembered
    for the 8,192 addresses used last: an entry costs ~270 bytes (its key's two big ints,
    the text, the cache's link), so the 65,536 it kept before held ~18 MB once a capture
    had that many hosts (bench-scale's real traffic with new hosts, 10 M packets: peak RSS
    123 -> 109 MB); real-1m's 8,883 addresses keep the same hits."""
    if hi == 0 and (lo >> 32) == 0xFFFF:
        # str(ipaddress.IPv4Address(lo & 0xFFFFFFFF)), without building the object: each
        # distinct address of the ended flows comes here once (tests/test_flow_record.py)
        return f"{(lo >> 24) & 255}.{(lo >> 16) & 255}.{(lo >> 8) & 255}.{lo & 255}"
    if hi >> 48 and _v6_text_same():
        # Not in ::/16 (where inet_ntop may write an embedded IPv4, "::a.b.c.d", and
        # ipaddress does not): the C library's text is ipaddress' (RFC 5952: lower-case
        # hex, the first longest run of two or more zero groups as "::") at a fifth of its
        # cost - IPv6Address and its str cost ~38,000 instructions an address (callgrind),
        # for each of real-1m's ~1,000 IPv6 hosts. tests/test_flow_record.py compares.
        import _socket  # socket's C core (owners._parse_ip says why), loaded once

        return _socket.inet_ntop(_socket.AF_INET6, ((hi << 64) | lo).to_bytes(16, "big"))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


@functools.cache
def _v6_text_same() -> bool:
    """Does this platform's inet_ntop write IPv6 addresses outside ::/16 as ipaddress
    does (ip_text)? Asked once, at the first such address, on the shapes where writers
    differ: zero runs of one and of two groups, ties between runs, a run at either end."""
    samples = (
        0x2001_0DB8_0000_0000_0000_0000_0000_0001, 0x2001_0DB8_0000_0001_0000_0000_0000_0001,
        0x2001_0DB8_0000_0000_0001_0000_0000_0001, 0x2001_0DB8_0001_0000_0001_0000_0001_0000,
        0x2001_0000_0000_0001_0000_0000_0000_0000, 0xFE80_0000_0000_0000_0000_0000_0000_0000,
        0x2001_0DB8_85A3_08D3_1319_8A2E_0370_7344, 0x0001_0000_0000_0000_0000_0000_0000_0000,
    )  # fmt: skip
    try:
        import _socket

        return all(
            _socket.inet_ntop(_socket.AF_INET6, v.to_bytes(16, "big"))
            == str(ipaddress.IPv6Address(v))
            for v in samples
        )
    except (AttributeError, OSError, ValueError):  # (no inet_ntop or no IPv6 here)
        return False


class FactSource(Protocol):
    """What the flow stage needs from the dissect stage: the facts of a flow by its slot.

    ``finish`` is called as the flow ends (its slot may be reused at once after), ``peek``
    for a snapshot of a flow still open (a copy: the flow goes on)."""

    def finish(self, slot: int) -> FlowFacts | None: ...

    def peek(self, slot: int) -> FlowFacts | None: ...


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class Placement:
    """Where the packets of one batch went: per packet its flow slot (-1: none, e.g. a
    hash collision) and whether its source is side A (side 0 of the facts)."""

    slots: np.ndarray  # int64
    from_a: np.ndarray  # bool


class FlowTracker:
    """Places packet batches into the flow table and queues a FlowRecord per ended flow."""

    def __init__(
        self,
        config: FlowConfig,
        facts: FactSource,
        keep_empty: bool = False,
        behaviour: bool = True,
        screen: HostScreen | None = None,
    ) -> None:
        self.config = config
        self.facts = facts
        self.keep_empty = keep_empty  # also records of flows with no facts (flows --all)
        # Track each flow's behaviour (§11: pushes, rhythm, checkpoints)? Only the model,
        # scoring in progress and the flow log read it: a rules-only scan skips its cost.
        self.behaviour = behaviour
        self.table = FlowTable(config.max_flows)
        self.stats = FlowStats()
        self.now = float("-inf")
        self.records: list[FlowRecord] = []  # ended flows, in the order they ended
        # Tunneled flows by slot: their tunnel layers as the first packet came, and whether
        # that packet's sender is side A (the table's "tunnel" column says which slots).
        self.tunnels: dict[int, tuple[list[dict[str, Any]], bool]] = {}
        # Slots whose push count reached a checkpoint (behaviour.is_checkpoint) since
        # take_checkpoints last ran; an ending flow leaves the set.
        self.checkpoints: set[int] = set()
        # Screened hosts (screen.py): both ends of every flow the table creates, or None.
        self.screen = screen

    def take_records(self) -> list[FlowRecord]:
        """The records queued since the last call (the later stages consume them)."""
        records, self.records = self.records, []
        return records

    # -- batch processing -------------------------------------------------------------
    def place(self, pb: PacketBatch) -> Placement:
        """Group one batch into flows: create, reuse or evict slots and add the counters.
        Flows ended on the way (port reuse after a close, eviction) are queued. A 5-tuple
        back after its idle timeout, or after the close timeout once its flow closed,
        starts a new flow (``_idle_ends``), within the batch as across batches: the flows
        are those a sweep run before every packet would leave."""
        n = len(pb)
        big = np.int64(n)
        group_of = _group_compiled if fast is not None else _group_numpy
        c = self.config
        timeouts = (c.idle_timeout, c.udp_idle_timeout, c.close_timeout)
        grouping = group_of(pb, timeouts)
        slots = self.table.lookup(grouping[2])
        if grouping[7].any() or grouping[6].any():
            carried = self._carried_state(slots, grouping, pb, big)
            if carried is not None:
                grouping = group_of(pb, timeouts, *carried)
                slots = self.table.lookup(grouping[2])
        src_first, group, ukeys, first_pkt, first_syn, first_synack, after_gap, _ = grouping

        slots, indexed, starts = self._idle_ends(slots, after_gap, first_pkt, pb)
        slots = self._reuse_closed(slots, first_syn, big)
        new = slots < 0
        if new.any():
            slots = self._create(
                slots,
                new,
                ukeys,
                first_pkt,
                first_syn,
                first_synack,
                big,
                pb,
                src_first,
                indexed,
                starts,
            )
        self._orient_late_syn(slots, new, first_syn, big, src_first)

        t = self.table
        # collision check: the stored tuple must equal the packet's
        verify = _verify_compiled if fast is not None else _verify_numpy
        slots, collisions = verify(t.cols, slots, first_pkt, src_first, pb, bool(self.tunnels))
        self.stats.collisions += collisions

        if fast is not None:
            pkt_slot = np.empty(n, dtype=np.int64)
            # flow_update does flow_behaviour's work in its own loop when given its columns
            reached = np.empty(n, dtype=np.int64) if self.behaviour else None
            count = fast.flow_update(
                group,
                slots,
                src_first.view(np.uint8),
                pb.flags,
                pb.wirelen,
                pb.payload_len,
                pb.ts,
                pb.seq,
                pkt_slot,
                *(t[name] for name in _UPDATED_COLUMNS),
                pb.proto,
                None
                if reached is None
                else (
                    t["client_is_a"],
                    t["first_ts"],
                    *(t[name] for name in behaviour.COLUMNS),
                    reached,
                ),
            )
            if count:
                self.checkpoints.update(reached[:count].tolist())
        else:
            if self.behaviour:
                reached_slots = behaviour.update_python(
                    t.cols, slots[group], src_first, pb.proto, pb.payload_len, pb.ts, pb.seq
                )
                self.checkpoints.update(reached_slots)
            flags = pb.flags.astype(np.int64)
            order = np.argsort(group, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(group[order]) != 0])
            self._update_counters(pb, order, starts, slots, src_first, flags)
            pkt_slot = slots[group]
            self._note_isn(pb, pkt_slot, src_first, flags)
        return Placement(pkt_slot, src_first)

    def advance(self, now: float) -> None:
        """Move the clock to ``now`` (never back) and end the flows that timed out: called
        after each batch with its last timestamp, and when no packet arrives at all."""
        self.now = max(self.now, now)
        self._sweep()

    def _stale(
        self, slots: np.ndarray, start: np.ndarray, found: np.ndarray | None = None
    ) -> np.ndarray:
        """Which of the table's flows at ``slots`` (those ``found`` marks; None: all) the
        sweep would have ended by ``start`` (per flow, the time of its key's next packet):
        quiet longer than the idle timeout of its protocol, or than the close timeout once
        closed (as ``_sweep`` decides). Quiet longer than the shortest timeout first (a
        gather and a comparison per flow: what every batch pays); the flow's own timeout
        only where that holds."""
        t = self.table
        c = self.config
        last = t["last_ts"][slots]  # a slot not found (-1) reads the last row: masked
        stale = last < start - min(c.idle_timeout, c.udp_idle_timeout, c.close_timeout)
        if found is not None:
            stale &= found
        if not stale.any():
            return stale
        which = np.flatnonzero(stale)
        s = slots[which]
        before, at = last[which], start[which]
        out = before < at - min(c.idle_timeout, c.udp_idle_timeout)
        if out.any():  # past an idle timeout: which one is the protocol's
            tcp = t["proto"][s] == PROTO_TCP
            out = before < at - np.where(tcp, c.idle_timeout, c.udp_idle_timeout)
        closed = _CLOSED_STATE[t["state"][s]]
        if closed.any():  # past the close timeout, closed (rare)
            out |= closed & (before < at - c.close_timeout)
        stale[which] = out
        return stale

    def _carried_state(
        self, slots: np.ndarray, grouping: Grouping, pb: PacketBatch, big: np.int64
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The FIN/RST state bits and the latest time a second grouping starts keys from
        (per packet, set at each such key's first packet; elsewhere 0 and -inf), or None
        when the first grouping stands: a key's first group continues the table's flow,
        and either that flow had some FIN/RST bits and a packet joined the group over a
        gap past the close timeout or as a pure SYN (``recheck``) - with the flow's bits
        the group may have closed before it, as the sweep sees it, or the SYN reuse the
        flow's ports (``_reuse_closed``) -, or the flow's last packet is later than the
        group's first (times gone back across batches) and the batch cuts the key after
        the group: a cut the flow's later time would not make. Not where the table's
        flow ends as the group starts (the sweep's timeouts, ``_stale``, or the group's
        first packet a SYN that reuses the ports): the group starts afresh."""
        _, _, _, first_pkt, first_syn, _, after_gap, recheck = grouping
        t = self.table
        cut_after = np.r_[after_gap[1:], False] & ~after_gap  # a key's first group, cut after
        which = np.flatnonzero((recheck & ~after_gap) | cut_after)
        which = which[slots[which] >= 0]
        if which.shape[0] == 0:
            return None
        s = slots[which]
        state = t["state"][s]
        last = t["last_ts"][s]
        start = pb.ts[first_pkt[which]]
        carry = (recheck[which] & ((state & _CLOSING) != 0)) | (cut_after[which] & (last > start))
        if not carry.any():  # mostly
            return None
        which, state, last, start, s = (x[carry] for x in (which, state, last, start, s))
        keep = ~self._stale(s, start)
        # a SYN first reuses the closed flow's ports: the group is a new flow
        keep &= ~(((state & _REUSABLE) != 0) & (first_syn[which] == first_pkt[which]))
        if not keep.any():
            return None
        at = first_pkt[which[keep]]
        init = np.zeros(len(pb), dtype=np.uint8)
        init[at] = state[keep] & _CLOSING
        init_latest = np.full(len(pb), -np.inf)
        init_latest[at] = last[keep]
        return init, init_latest

    def _idle_ends(
        self, slots: np.ndarray, after_gap: np.ndarray, first_pkt: np.ndarray, pb: PacketBatch
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """A 5-tuple back after its idle timeout, or after the close timeout once its flow
        closed, starts a new flow, as it would had the sweep run just before its packet
        came (Suricata's and Zeek's lookups end the old flow there): a group that starts
        after such a cut in the batch (``after_gap``, see _group_numpy; a SYN reusing a
        closed flow's ports within the batch cuts there too), and a key's first
        group when the flow the table holds for it went quiet longer than that before it
        (``_stale``), get a new slot (-1 here: _create makes it). The flow before each
        such start - the table's, or that of the key's previous group in the batch -
        leaves the key index but keeps its row (FlowTable.detach): its packets in this
        batch are still counted and dissected, and the sweep at the batch's end ends it,
        named as a sweep at the time of the packet that came back would name it (the
        row keeps that time). Returns the slots, which groups go into the index when
        created (a key's last group; None: all of them - the common batch, where nothing
        was back) and per group the time of its first packet (None with None).

        A stored flow whose last packet is later than its key's next packets in the batch
        (times going back across batches, as in a badly merged capture) holds back the
        cuts its later time would: place groups such keys again from it
        (``_carried_state``)."""
        t = self.table
        found = slots >= 0
        start = pb.ts[first_pkt]
        gaps = after_gap.any()
        # the key's first group decides
        stale = self._stale(slots, start, found & ~after_gap if gaps else found)
        if not gaps and not stale.any():
            return slots, None, None
        last_of_key = np.r_[~after_gap[1:], True]
        # the table's flows that end: those gone quiet (their key came back as their group
        # started), and those of keys whose first group in the batch (which keeps the
        # flow) is not their last (it came back as the next group started)
        ending = np.flatnonzero(stale | (found & ~after_gap & ~last_of_key))
        t.detach(slots[ending], start[np.where(stale[ending], ending, ending + 1)])
        slots = np.where(stale | after_gap, -1, slots)
        return slots, last_of_key, start

    def _reuse_closed(self, slots: np.ndarray, first_syn: np.ndarray, big: np.int64) -> np.ndarray:
        """A new SYN on a closed flow's 5-tuple (a RST, or side A's FIN) starts a new
        connection (port reuse): here a group that starts with it (a SYN later in a key's
        first group was cut there by the grouping, the stored flow's state carried in:
        ``_carried_state``; within the batch, the grouping cuts at it too)."""
        t = self.table
        found = slots >= 0
        if not found.any():
            return slots
        closed_state = (t["state"][np.where(found, slots, 0)] & _REUSABLE) != 0
        reuse = found & closed_state & (first_syn < big)
        if reuse.any():
            old = slots[reuse]
            for slot in old.tolist():
                self._end(slot, "closed")
            self._release(old)
            slots = slots.copy()
            slots[reuse] = -1
        return slots

    def _create(
        self,
        slots: np.ndarray,
        new: np.ndarray,
        ukeys: np.ndarray,
        first_pkt: np.ndarray,
        first_syn: np.ndarray,
        first_synack: np.ndarray,
        big: np.int64,
        pb: PacketBatch,
        src_first: np.ndarray,
        indexed: np.ndarray | None,
        starts: np.ndarray | None,
    ) -> np.ndarray:
        """New flows for the groups ``new`` marks; ``indexed``: which groups' flows go into
        the key index (None: all; the others are ended by this batch's sweep, _idle_ends,
        which names each by the time its key came back: the next group's first packet's,
        from ``starts``, each group's)."""
        t = self.table
        count = int(np.count_nonzero(new))
        if not t.can_allocate(count):
            self._evict(count - t.n_free, protect=slots[slots >= 0])
        if count > t.n_free:
            # More new flows in one batch than the table holds even with every flow the
            # batch does not touch evicted (a --max-flows below the batch size): those
            # whose first packet comes first get the room, the others go untracked (their
            # packets get no slot, as on a hash collision), counted as evicted.
            idx = np.flatnonzero(new)
            new = np.zeros_like(new)
            new[idx[np.argsort(first_pkt[idx], kind="stable")[: t.n_free]]] = True
            self.stats.evicted += count - t.n_free
            count = t.n_free
        if indexed is None or starts is None:
            created = t.allocate(ukeys[new])
        else:
            inside = indexed[new]
            # a group kept out of the index is not its key's last: its key came back as the
            # next group started
            back = starts[np.flatnonzero(new)[~inside] + 1]
            created = t.allocate(ukeys[new], inside, back)
        slots = slots.copy()
        slots[new] = created
        fp = first_pkt[new]
        fill = _fill_compiled if fast is not None else _fill_numpy
        fill(t.cols, created, fp, first_syn[new], first_synack[new], pb, src_first)
        if self.screen is not None:
            self.screen.see(*(t[name][created] for name in ("a_hi", "a_lo", "b_hi", "b_lo")))
        if pb.tunnel is not None:
            inside = np.flatnonzero(t["tunnel"][created] != 0)
            for slot, row in zip(created[inside].tolist(), fp[inside].tolist(), strict=True):
                self.tunnels[slot] = (_tunnel_layers(pb, row), bool(src_first[row]))
        self.stats.flows += count
        self.stats.peak_flows = max(self.stats.peak_flows, t.used)
        self.stats.peak_state_bytes = max(self.stats.peak_state_bytes, t.state_bytes())
        return slots

    def _orient_late_syn(
        self,
        slots: np.ndarray,
        new: np.ndarray,
        first_syn: np.ndarray,
        big: np.int64,
        src_first: np.ndarray,
    ) -> None:
        t = self.table
        late = (slots >= 0) & ~new & (first_syn < big)
        if late.any():
            s = slots[late]
            guessed = ~t["orient_syn"][s]
            s = s[guessed]
            t["client_is_a"][s] = src_first[first_syn[late][guessed]]
            t["orient_syn"][s] = True

    def _update_counters(
        self,
        pb: PacketBatch,
        order: np.ndarray,
        starts: np.ndarray,
        slots: np.ndarray,
        src_first: np.ndarray,
        flags: np.ndarray,
    ) -> None:
        t = self.table
        ok = slots >= 0
        s = slots[ok]
        from_a = src_first[order]
        wl = pb.wirelen[order]
        pl = pb.payload_len[order]
        fl = flags[order]
        count = np.diff(np.r_[starts, order.shape[0]])
        pk_a = np.add.reduceat(from_a.astype(np.int64), starts)
        by_all = np.add.reduceat(wl, starts)
        by_a = np.add.reduceat(np.where(from_a, wl, 0), starts)
        pl_all = np.add.reduceat(pl, starts)
        pl_a = np.add.reduceat(np.where(from_a, pl, 0), starts)
        fl_a = np.bitwise_or.reduceat(np.where(from_a, fl, 0), starts)
        fl_b = np.bitwise_or.reduceat(np.where(from_a, 0, fl), starts)
        ts_max = np.maximum.reduceat(pb.ts[order], starts)
        t["pkts_a"][s] += pk_a[ok].astype(np.uint32)
        t["pkts_b"][s] += (count - pk_a)[ok].astype(np.uint32)
        t["bytes_a"][s] += by_a[ok].astype(np.uint64)
        t["bytes_b"][s] += (by_all - by_a)[ok].astype(np.uint64)
        cap32 = 0xFFFFFFFF
        t["payload_a"][s] = np.minimum(t["payload_a"][s] + pl_a[ok], cap32).astype(np.uint32)
        t["payload_b"][s] = np.minimum(t["payload_b"][s] + (pl_all - pl_a)[ok], cap32).astype(
            np.uint32
        )
        t["flags_a"][s] |= fl_a[ok].astype(np.uint8)
        t["flags_b"][s] |= fl_b[ok].astype(np.uint8)
        t["last_ts"][s] = np.maximum(t["last_ts"][s], ts_max[ok])
        state = t["state"][s].astype(np.int64)
        state |= np.where((fl_a[ok] & TCP_FIN) != 0, STATE_FIN_A, 0)
        state |= np.where((fl_b[ok] & TCP_FIN) != 0, STATE_FIN_B, 0)
        state |= np.where(((fl_a[ok] | fl_b[ok]) & TCP_RST) != 0, STATE_RST, 0)
        t["state"][s] = state.astype(np.uint8)

    def _note_isn(
        self, pb: PacketBatch, pkt_slot: np.ndarray, src_first: np.ndarray, flags: np.ndarray
    ) -> None:
        """Remember where each side's byte stream starts (SYN seq + 1), vectorised, so that
        SYNs never have to reach Python and the reassembler still knows the start."""
        idx = np.flatnonzero(((flags & TCP_SYN) != 0) & (pkt_slot >= 0))
        if idx.shape[0] == 0:
            return
        t = self.table
        start = ((pb.seq[idx] + 1) & 0xFFFFFFFF).astype(np.uint32)
        for side_a, col, bit in ((True, "isn_a", STATE_SYN_A), (False, "isn_b", STATE_SYN_B)):
            sel = src_first[idx] == side_a
            slots = pkt_slot[idx[sel]]
            t[col][slots] = start[sel]
            t["state"][slots] |= np.uint8(bit)

    # -- ending flows -------------------------------------------------------------------
    def _sweep(self) -> None:
        """End the flows quiet longer than their idle timeout ("idle") or, once closed
        (_closed), than the close timeout ("closed", whether or not the idle timeout has
        passed too: the name must not depend on when a batch's sweep first meets the flow,
        and a capture that goes quiet for longer than the idle timeout meets it only then),
        and cut those older than the active timeout. A detached row (a flow its 5-tuple's
        return ended, _idle_ends) ends whatever the time, named as a sweep at its
        return's time would."""
        t = self.table
        used = t.used_slots()
        if used.shape[0] == 0:
            return
        c = self.config
        flags_of = _sweep_flags_compiled if fast is not None else _sweep_flags_numpy
        flags = flags_of(t.cols, used, self.now, c)
        if t.detached_slots.shape[0]:
            # ended by their return (_idle_ends), named as a sweep at the time it came
            # (the row keeps it) would: "closed" if the flow closed, or if its key came
            # back within the idle timeout to a flow a SYN may reuse (_reuse_closed);
            # else "idle"
            detached = np.isin(used, t.detached_slots)
            dj = np.flatnonzero(detached)
            flags[dj] |= _SWEEP_IDLE
            closed = _CLOSED_STATE[t["state"][used[dj]]]
            flags[dj[closed]] |= _SWEEP_CLOSED
            di = dj[~closed & ((flags[dj] & _SWEEP_REUSABLE) != 0)]
            if di.shape[0]:
                by_slot = np.argsort(t.detached_slots)
                pos = np.searchsorted(t.detached_slots, used[di], sorter=by_slot)
                at = t.detached_at[by_slot[pos]]
                s = used[di]
                timeout = np.where(t["proto"][s] == PROTO_TCP, c.idle_timeout, c.udp_idle_timeout)
                flags[di[t["last_ts"][s] >= at - timeout]] |= _SWEEP_CLOSED
        ending = (flags & (_SWEEP_IDLE | _SWEEP_CLOSED)) != 0
        if ending.any():
            closed_end = (flags & _SWEEP_CLOSED) != 0
            self._end_many((used[ending & ~closed_end], "idle"), (used[closed_end], "closed"))
            self._release(used[ending])
        # older than the active timeout and not ending (first_ts is what it was: ending
        # other flows changes no row of these)
        cut = (flags & (_SWEEP_IDLE | _SWEEP_CLOSED | _SWEEP_OLD)) == _SWEEP_OLD
        for slot in used[cut].tolist():
            self._cut(slot)

    def _evict(self, need: int, protect: np.ndarray) -> None:
        t = self.table
        used = t.indexed_slots()  # flows taken out of the index end "idle" at the sweep
        candidates = used[~np.isin(used, protect)]
        k = min(candidates.shape[0], max(need, t.capacity // 64))
        if k <= 0:
            return
        oldest = candidates[np.argpartition(t["last_ts"][candidates], k - 1)[:k]]
        self._end_many((oldest, "evicted"))
        self._release(oldest)
        self.stats.evicted += k

    def _cut(self, slot: int) -> None:
        """Active timeout: report the flow so far and keep tracking it from zero."""
        self._end(slot, "active-timeout")
        t = self.table
        for name in ("pkts_a", "pkts_b", "bytes_a", "bytes_b", "payload_a", "payload_b"):
            t[name][slot] = 0
        t["first_ts"][slot] = t["last_ts"][slot]
        t["inspect"][slot] = 3 if t["proto"][slot] in (PROTO_TCP, PROTO_UDP) else 0
        # the part that follows is read from where it picks up, as a flow met mid-session:
        # a stream anchored at the SYN's sequence number parked every later segment
        # behind a hole the size of the part before (no facts, and memory held to the end)
        t["state"][slot] &= np.uint8(~(STATE_SYN_A | STATE_SYN_B) & 0xFF)
        for name in behaviour.RESET:  # its behaviour starts afresh with its times
            t[name][slot] = 0
        self.checkpoints.discard(slot)

    def flush(self, limit: int = 1 << 62) -> bool:
        """End of input: the remaining flows end, at most ``limit`` of them per call (so
        that their records can be taken in bounded steps). True while some remain."""
        used = self.table.used_slots()[:limit].copy()
        self._end_many((used, "end"))
        self._release(used)
        return self.table.used > 0

    def open_records(self) -> list[FlowRecord]:
        """The flows still open, as records of what they did so far (``end_reason`` "open")
        with a copy of their facts: what scoring in progress looks at. Only flows whose
        payload reached the dissectors, unless the tracker keeps empty records too."""
        t = self.table
        slots = t.used_slots()
        if not self.keep_empty:
            slots = slots[t["touched"][slots]]
        return self._records(*self._with_facts(slots.tolist(), self.facts.peek), "open")

    def take_checkpoints(self, evidence: set[int] | None = None) -> list[FlowRecord]:
        """The open flows whose server pushes reached a checkpoint (1 ... 8, 12, 24 ...
        pushes, behaviour.is_checkpoint) since the last call, and those in ``evidence``
        (open flows with new facts: Inspector.take_evidence), as records of what they did
        so far (``end_reason`` "open", a copy of their facts, None if they have none):
        what scoring in progress looks at, while a miner mines. Facts or not, every such
        flow is returned: its behaviour is what the checkpoint is about."""
        if evidence:
            self.checkpoints |= evidence
        if not self.checkpoints:
            return []
        slots = sorted(self.checkpoints)
        self.checkpoints.clear()
        return self._records(slots, list(map(self.facts.peek, slots)), "open")

    def _end_many(self, *groups: tuple[np.ndarray, str]) -> None:
        """End flows, each group (slots, end reason) in turn; only those whose payload
        reached Python can carry facts, so the others (scans, bulk transfers, plain ACK
        streams) never leave numpy. The records of all the groups are built in one call
        (a sweep ends flows "idle" and "closed" at once: _records' ~60 column operations
        once a batch, not twice)."""
        ended: list[int] = []
        facts: list[FlowFacts | None] = []
        reasons: list[str] = []
        for slots, reason in groups:
            if slots.shape[0] == 0:
                continue
            count = int(slots.shape[0])
            self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + count
            if not self.keep_empty:
                slots = slots[self.table["touched"][slots]]
            kept, kept_facts = self._with_facts(slots.tolist(), self.facts.finish)
            ended += kept
            facts += kept_facts
            reasons += repeat(reason, len(kept))
        if ended:
            records = self._records(ended, facts, reasons)
            self.stats.records += len(records)
            self.records.extend(records)

    def _with_facts(
        self, slots: list[int], facts_of: Callable[[int], FlowFacts | None]
    ) -> tuple[list[int], list[FlowFacts | None]]:
        """``slots`` and their facts (``facts_of``: the inspector's finish or peek, asked
        once per slot, in order), those without facts left out unless empty records are
        kept. Two lists, not (slot, facts) pairs: _records wants them apart, and most
        flows that reach here have facts (map calls facts_of without a Python loop)."""
        facts = list(map(facts_of, slots))
        if self.keep_empty:
            return slots, facts
        kept = [i for i, f in enumerate(facts) if f is not None]  # (``is``: no __eq__ call)
        if len(kept) == len(facts):
            return slots, facts
        return [slots[i] for i in kept], [facts[i] for i in kept]

    def _add_behaviours(
        self, records: list[FlowRecord], chosen: np.ndarray, client_is_a: np.ndarray
    ) -> None:
        """The behaviour of the TCP flows among ``records`` with payload both ways (one
        gather per column for all of them, in steps: a flow's columns cost ~0.3 KB while
        they are packed). ``client_is_a``: per record, whether its client is side A (the
        orientation ``_records`` gave it: ``client_side == 0``)."""
        cols = self.table.cols
        both = (
            (cols["proto"][chosen] == PROTO_TCP)
            & (cols["payload_a"][chosen] > 0)
            & (cols["payload_b"][chosen] > 0)
        )
        which_all = np.flatnonzero(both)
        for start in range(0, which_all.shape[0], _BEHAVIOUR_STEP):
            step = which_all[start : start + _BEHAVIOUR_STEP]
            packed = behaviour.record_behaviours(cols, chosen[step], client_is_a[step])
            for i, blob in zip(step.tolist(), packed, strict=True):
                records[i].behaviour = blob

    def _records(
        self, slots: list[int], facts: list[FlowFacts | None], reason: str | list[str]
    ) -> list[FlowRecord]:
        """Records of flows (``slots``, each with its ``facts`` and end ``reason``, or one
        for all), oriented client -> server:
        one gather per column for all of them at once, each column put client or server side
        with numpy, then plain Python values per row (one call of FlowRecord per flow,
        positional).

        Orientation: the table's (a SYN or SYN-ACK said it, else the port guess), unless
        it is a guess and the payload's client votes (requests, ClientHellos, facts.py)
        lean one way."""
        if not slots:
            return []
        chosen = np.array(slots, dtype=np.int64)
        cols = self.table.cols
        ids = flow_ids(cols["key"][chosen], cols["first_ts"][chosen]).tolist()
        orient_syn = cols["orient_syn"][chosen]
        # the payload's client votes, read only where a SYN or SYN-ACK did not say it
        votes = np.zeros(len(facts), dtype=np.int64)
        guessed = np.flatnonzero(~orient_syn).tolist()
        if guessed:
            votes[guessed] = [
                0 if (f := facts[i]) is None
                else f.sides[0].client_votes - f.sides[1].client_votes
                for i in guessed
            ]  # fmt: skip
        by_votes = ~orient_syn & (votes != 0)
        client_is_a = np.where(by_votes, votes > 0, cols["client_is_a"][chosen])
        how = np.where(orient_syn, 0, np.where(by_votes, 1, 2)).tolist()

        def sides(a: str, b: str) -> tuple[list, list]:
            """Column ``a`` (side A's) and ``b`` as (the client's, the server's)."""
            at_a, at_b = cols[a][chosen], cols[b][chosen]
            return (np.where(client_is_a, at_a, at_b).tolist(),
                    np.where(client_is_a, at_b, at_a).tolist())  # fmt: skip

        c_hi, s_hi = sides("a_hi", "b_hi")
        c_lo, s_lo = sides("a_lo", "b_lo")
        c_port, s_port = sides("a_port", "b_port")
        c_pkts, s_pkts = sides("pkts_a", "pkts_b")
        c_bytes, s_bytes = sides("bytes_a", "bytes_b")
        c_payload, s_payload = sides("payload_a", "payload_b")
        # Every argument a column of its own and FlowRecord mapped over them: the loop,
        # the addresses' text (ip_text, cached) and the names' lookups all run in C, and
        # per record only FlowRecord's __init__ runs Python (a listcomp unpacking zip's
        # tuples of 19 cost ~900 instructions a record more: real-1m, callgrind). The
        # columns are all as long as ``slots`` (map would stop at the shortest).
        records = list(map(
            FlowRecord, ids, map(PROTO_NAMES.__getitem__, cols["proto"][chosen].tolist()),
            map(ip_text, c_hi, c_lo), c_port, map(ip_text, s_hi, s_lo), s_port,
            cols["first_ts"][chosen].tolist(), cols["last_ts"][chosen].tolist(), c_pkts,
            s_pkts, c_bytes, s_bytes, c_payload, s_payload,
            map(_ORIENTATIONS.__getitem__, how),
            repeat(reason) if isinstance(reason, str) else reason, facts,
            (~client_is_a).astype(np.int64).tolist(),
        ))  # fmt: skip
        if self.behaviour:
            self._add_behaviours(records, chosen, client_is_a)
        if self.tunnels:
            for i in np.flatnonzero(cols["tunnel"][chosen] != 0).tolist():
                r = records[i]
                layers, first_from_a = self.tunnels[int(chosen[i])]
                # the first packet's sender is the client: the layers are oriented already
                if (r.client_side == 0) == first_from_a:
                    r.tunnel = layers
                else:
                    r.tunnel = [_flipped(layer) for layer in layers]
        return records

    def _end(self, slot: int, reason: str) -> None:
        self._end_many((np.array([slot], dtype=np.int64), reason))

    def _release(self, slots: np.ndarray) -> None:
        """Free ended flows' slots (and forget the tunnels of those that had one, and
        their checkpoints)."""
        if self.checkpoints and slots.shape[0]:
            self.checkpoints.difference_update(slots.tolist())
        if self.tunnels and slots.shape[0]:
            for slot in slots[self.table["tunnel"][slots] != 0].tolist():
                self.tunnels.pop(slot, None)
        self.table.release(slots)


# FlowRecord.orientation by _records' code: a SYN or SYN-ACK said it, the payload's client
# votes did, or the port guess stands
_ORIENTATIONS = ("syn", "payload", "port")


_BEHAVIOUR_STEP = 512
# Ports at or above this are ephemeral on every common OS (Linux from 32768, Windows and
# the BSDs from 49152): when both ends use one, the lower port says nothing of the server.
EPHEMERAL_FROM = 32768
# Ports a server listens on, as Zeek's likely_server_ports (its analyzers' registered
# ports): a flow caught mid-session with exactly one of them is that end's. Port order
# alone fails behind NAT, whose public ports start low: a TLS MQTT session from a NAT's
# port 5379 to a broker's 8883 took the broker for the client, its telemetry for a pool's
# pushes, and the model flagged it (stop 27, docs/ARCHITECTURE.md §12). IANA service
# ports of the protocols a sensor meets most, the crypto nodes' and the pools' own -
# below EPHEMERAL_FROM (a client's own port may be any above it: a VTEP's source port
# 50001 beside Electrum's 50001), but for Stratum V2's 34254/34255 and the tunnels' 4789
# (VXLAN) and 6081 (Geneve) - 34254 is the SV2 reference pool's (stratum-mining/stratum,
# pool_sv2 "Listening for encrypted connection on 0.0.0.0:34254"). A NATed miner's port
# 22711 to a pool's 34255, caught mid-session, made the pool the suspect (held-out seed 98,
# stop 27).
LIKELY_SERVER_PORTS = np.array(sorted({
    21, 22, 23, 25, 53, 80, 110, 123, 143, 389, 443, 445, 465, 587, 636, 853, 993, 995,
    1080, 1194, 1433, 1521, 1723, 1883, 2049, 3128, 3306, 3389, 4443, 5060, 5061, 5222,
    5223, 5228, 5432, 5671, 5672, 5900, 6379, 6443, 8080, 8443, 8883, 9092, 9200, 9418,
    11211,
    8333, 18080, 18081, 18089, 30303, 7075, 1234, 2345, 8444, 8447,  # nodes
    3333, 3336, 4444, 5555, 7777, 9999, 14433, 14444, 34254, 34255,  # pools (ports.yaml)
    4789, 6081,  # tunnels
}), dtype=np.uint16)  # fmt: skip
# The same ports as a 65,536-entry table, indexed by port: a flow batch tests its ports by
# one gather. np.isin sorted the ports of every batch (np.unique), and its first call
# imported numpy.ma (~20 ms of each scan's start-up, `python -X importtime`).
_LIKELY_SERVER = np.zeros(1 << 16, dtype=bool)
_LIKELY_SERVER[LIKELY_SERVER_PORTS] = True
# (network, mask) on the low 32 bits: RFC 1918 (owners.py holds the one definition) and,
# for orientation only, RFC 6598's carrier-grade NAT space 100.64/10
_V4_PRIVATE = (*PRIVATE_V4, (0x64400000, 0xFFC00000))


def _internal(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Private addresses (RFC 1918, CGNAT 100.64/10, IPv6 ULA fc00::/7), vectorised on
    the table's (hi, lo) halves (IPv4 v4-mapped)."""
    return private_mask(hi, lo, _V4_PRIVATE)


def _client_by_port(
    a_port: np.ndarray,
    b_port: np.ndarray,
    a_hi: np.ndarray,
    a_lo: np.ndarray,
    b_hi: np.ndarray,
    b_lo: np.ndarray,
) -> np.ndarray:
    """Whether A is the client of flows whose first packets named no side (no SYN or
    SYN-ACK seen: a capture that starts mid-session): the end whose port is a likely
    server port (``LIKELY_SERVER_PORTS``) when only one is, else the higher port is the
    client's, unless both ports are ephemeral - then, if exactly one end is a private address, that
    end is (a sensor watches its own network's hosts talking out). Why: a Stratum V2
    pool on port 34255 and a miner on 33624, caught mid-session, made the pool's
    address the suspect (held-out corpus seed 99); Zeek likewise orients by what it
    knows of local networks and server ports, not by port order alone."""
    a_srv, b_srv = _LIKELY_SERVER[a_port], _LIKELY_SERVER[b_port]
    by_port = np.where(a_srv != b_srv, b_srv, a_port >= b_port)
    both_ephemeral = np.minimum(a_port, b_port) >= EPHEMERAL_FROM
    if not both_ephemeral.any():
        return by_port
    a_in, b_in = _internal(a_hi, a_lo), _internal(b_hi, b_lo)
    return np.where(both_ephemeral & (a_in != b_in), a_in, by_port)


def _src_is_a(pb: PacketBatch, idx: np.ndarray) -> np.ndarray:
    """_src_first of the packets at ``idx``."""
    s_hi, d_hi, s_lo, d_lo = pb.src_hi[idx], pb.dst_hi[idx], pb.src_lo[idx], pb.dst_lo[idx]
    directed = ((pb.flags[idx] & FLAG_DIRECTED) != 0) & (pb.proto[idx] != PROTO_TCP)
    return (
        (s_hi < d_hi)
        | ((s_hi == d_hi) & ((s_lo < d_lo) | ((s_lo == d_lo) & (pb.sport[idx] <= pb.dport[idx]))))
        | directed
    )


def _fill_numpy(
    cols: dict[str, np.ndarray],
    created: np.ndarray,
    fp: np.ndarray,
    fs: np.ndarray,
    fsa: np.ndarray,
    pb: PacketBatch,
    src_first: np.ndarray,
) -> None:
    """The table rows ``created`` of a batch's new flows, each from its first packet
    (``fp``): canonical tuple, protocol, times, inspect bits, tunnel key (when the batch
    has tunnels) and orientation - from its first pure SYN (``fs``) or SYN-ACK (``fsa``),
    ``len(pb)`` where there is none, else by port (_client_by_port). ``_fill_compiled``
    (``_fast.flow_fill``) is its one-pass twin."""
    big = len(pb)
    for name, value in zip(
        ("a_hi", "a_lo", "b_hi", "b_lo", "a_port", "b_port"),
        _canonical(pb, fp, src_first),
        strict=True,
    ):
        cols[name][created] = value
    proto = pb.proto[fp]
    cols["proto"][created] = proto
    cols["first_ts"][created] = pb.ts[fp]
    cols["last_ts"][created] = pb.ts[fp]
    # Only TCP and UDP payload goes to the dissectors (no mining protocol runs over the
    # others); a tunnel's inner packets are dissected in their own flows.
    cols["inspect"][created] = np.where((proto == PROTO_TCP) | (proto == PROTO_UDP), 3, 0)
    if pb.tunnel is not None:
        cols["tunnel"][created] = pb.tunnel[fp]
    # Orientation: the sender of a SYN is the client; the receiver of a SYN-ACK is;
    # otherwise the lower port is the server's (refined later by payload votes).
    src_first_fs = _src_is_a(pb, np.minimum(fs, big - 1))
    src_first_fsa = _src_is_a(pb, np.minimum(fsa, big - 1))
    by_port = _client_by_port(
        cols["a_port"][created], cols["b_port"][created],
        cols["a_hi"][created], cols["a_lo"][created], cols["b_hi"][created], cols["b_lo"][created],
    )  # fmt: skip
    cols["client_is_a"][created] = np.where(
        fs < big, src_first_fs, np.where(fsa < big, ~src_first_fsa, by_port)
    )
    cols["orient_syn"][created] = (fs < big) | (fsa < big)


# flow_fill's table columns, in its argument order
_FILLED_COLUMNS = ("a_hi", "a_lo", "b_hi", "b_lo", "a_port", "b_port", "proto", "first_ts",
                   "last_ts", "inspect", "client_is_a", "orient_syn", "tunnel")  # fmt: skip
# _internal's IPv4 networks as flow_fill reads them: (network, mask) pairs, flat
_V4_PRIVATE_FLAT = np.array([x for pair in _V4_PRIVATE for x in pair], dtype=np.uint64)


def _fill_compiled(
    cols: dict[str, np.ndarray],
    created: np.ndarray,
    fp: np.ndarray,
    fs: np.ndarray,
    fsa: np.ndarray,
    pb: PacketBatch,
    src_first: np.ndarray,
) -> None:
    """_fill_numpy in one pass over the new flows (``_fast.flow_fill``): numpy's ~25
    gathers and ~15 scatters of them cost ~2,100 instructions a new flow (callgrind,
    real-traffic bench)."""
    as_i64 = np.ascontiguousarray
    fast.flow_fill(
        as_i64(created, dtype=np.int64), as_i64(fp, dtype=np.int64),
        as_i64(fs, dtype=np.int64), as_i64(fsa, dtype=np.int64),
        pb.src_hi, pb.src_lo, pb.dst_hi, pb.dst_lo, pb.sport, pb.dport, pb.proto, pb.flags,
        pb.ts, as_i64(src_first, dtype=bool).view(np.uint8), pb.tunnel,
        _LIKELY_SERVER.view(np.uint8), _V4_PRIVATE_FLAT,
        tuple(cols[name] for name in _FILLED_COLUMNS),
    )  # fmt: skip


def _verify_numpy(
    cols: dict[str, np.ndarray],
    slots: np.ndarray,
    first_pkt: np.ndarray,
    src_first: np.ndarray,
    pb: PacketBatch,
    tunneled: bool,
) -> tuple[np.ndarray, int]:
    """The collision check: each group's slot (-1: none), kept only where the row's stored
    tuple equals the group's canonical one (read at its first packet), and its tunnel key
    the packet's - or 0 when the batch has no tunnels but the table holds ``tunneled``
    flows; -1 for the others, which are counted. ``_verify_compiled`` is its twin."""
    valid = slots >= 0
    ok = valid.copy()
    sv = slots[valid]
    at = first_pkt[valid]
    a_hi, a_lo, b_hi, b_lo, a_port, b_port = _canonical(pb, at, src_first)
    ok[valid] = (
        (cols["a_hi"][sv] == a_hi)
        & (cols["a_lo"][sv] == a_lo)
        & (cols["b_hi"][sv] == b_hi)
        & (cols["b_lo"][sv] == b_lo)
        & (cols["a_port"][sv] == a_port)
        & (cols["b_port"][sv] == b_port)
    )
    if pb.tunnel is not None:
        ok[valid] &= cols["tunnel"][sv] == pb.tunnel[at]
    elif tunneled:
        ok[valid] &= cols["tunnel"][sv] == 0
    collisions = int(np.count_nonzero(valid & ~ok))
    return np.where(ok, slots, -1), collisions


def _verify_compiled(
    cols: dict[str, np.ndarray],
    slots: np.ndarray,
    first_pkt: np.ndarray,
    src_first: np.ndarray,
    pb: PacketBatch,
    tunneled: bool,
) -> tuple[np.ndarray, int]:
    """_verify_numpy in one pass over the groups (``_fast.flow_verify``), on a copy of
    ``slots`` (flow_update reads it as int64, contiguous)."""
    out = np.array(slots, dtype=np.int64)
    collisions = fast.flow_verify(
        out, np.ascontiguousarray(first_pkt, dtype=np.int64),
        np.ascontiguousarray(src_first, dtype=bool).view(np.uint8),
        pb.src_hi, pb.src_lo, pb.dst_hi, pb.dst_lo, pb.sport, pb.dport, pb.tunnel,
        tunneled and pb.tunnel is None,
        *(cols[name] for name in ("a_hi", "a_lo", "b_hi", "b_lo", "a_port", "b_port", "tunnel")),
    )  # fmt: skip
    return out, collisions


# What the sweep decides of each used flow (_sweep_flags_numpy's bits)
_SWEEP_IDLE = np.uint8(1)  # quiet longer than its protocol's idle timeout
_SWEEP_CLOSED = np.uint8(2)  # closed (_closed) and quiet longer than the close timeout
_SWEEP_OLD = np.uint8(4)  # older than the active timeout
_SWEEP_REUSABLE = np.uint8(8)  # a RST or side A's FIN (_REUSABLE)


def _sweep_flags_numpy(
    cols: dict[str, np.ndarray], used: np.ndarray, now: float, c: FlowConfig
) -> np.ndarray:
    """Per flow at ``used``, what the sweep at ``now`` decides of it, as _SWEEP_* bits
    (uint8). ``_sweep_flags_compiled`` is its one-pass twin."""
    last = cols["last_ts"][used]
    state = cols["state"][used]
    timeout = np.where(cols["proto"][used] == PROTO_TCP, c.idle_timeout, c.udp_idle_timeout)
    idle = last < now - timeout
    done_closed = _closed(state) & (last < now - c.close_timeout)
    old = cols["first_ts"][used] < now - c.active_timeout
    reusable = (state & _REUSABLE) != 0
    return (
        idle.astype(np.uint8)
        | (done_closed.astype(np.uint8) << 1)
        | (old.astype(np.uint8) << 2)
        | (reusable.astype(np.uint8) << 3)
    )


def _sweep_flags_compiled(
    cols: dict[str, np.ndarray], used: np.ndarray, now: float, c: FlowConfig
) -> np.ndarray:
    """_sweep_flags_numpy by ``_fast.sweep_flags``: one pass over the used rows, where
    numpy gathered four columns of every flow every batch."""
    out = np.empty(used.shape[0], dtype=np.uint8)
    fast.sweep_flags(
        np.ascontiguousarray(used, dtype=np.int64), cols["last_ts"], cols["state"],
        cols["proto"], cols["first_ts"], now, c.idle_timeout, c.udp_idle_timeout,
        c.close_timeout, c.active_timeout, out,
    )  # fmt: skip
    return out


def _tunnel_layers(pb: PacketBatch, row: int) -> list[dict[str, Any]]:
    """The tunnels packet ``row`` of ``pb`` came in, outermost first, as it came: per
    carrier, the encapsulation it used (``encap``: decode.ENCAP_NAMES), its protocol
    (``proto``: "UDP", "GRE", "IP-in-IP", "IPv6"), its ``src_ip``, ``src_port``, ``dest_ip``,
    ``dest_port`` (ports 0 without ports) and the encapsulation's identifier (``ident``: VNI,
    session id, key, TEID, call id, see decode.ENCAP_ID_NAMES; None when it has none).
    Plain dicts: a record is plain data (and a dataclass more costs a millisecond of every
    command's start-up)."""
    assert pb.parent is not None and pb.encap is not None and pb.encap_id is not None
    layers = []
    while (parent := int(pb.parent[row])) >= 0:
        ident = int(pb.encap_id[row])
        udp = pb.proto[parent] == PROTO_UDP
        layers.append(
            {
                "encap": ENCAP_NAMES[int(pb.encap[row])],
                "proto": PROTO_NAMES[int(pb.proto[parent])],
                "src_ip": ip_text(int(pb.src_hi[parent]), int(pb.src_lo[parent])),
                "src_port": int(pb.sport[parent]) if udp else 0,
                "dest_ip": ip_text(int(pb.dst_hi[parent]), int(pb.dst_lo[parent])),
                "dest_port": int(pb.dport[parent]) if udp else 0,
                "ident": ident if ident >= 0 else None,
            }
        )
        row = parent
    layers.reverse()
    return layers


def _flipped(layer: dict[str, Any]) -> dict[str, Any]:
    """A tunnel layer seen from its other end (src and dest swapped)."""
    return layer | {
        "src_ip": layer["dest_ip"],
        "src_port": layer["dest_port"],
        "dest_ip": layer["src_ip"],
        "dest_port": layer["src_port"],
    }
