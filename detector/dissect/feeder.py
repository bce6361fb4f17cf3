"""Feed the dissectors: which packets of a batch reach Python, in which order.

The flow stage placed each packet in a flow slot; this decides, with numpy, which of them
the dissectors must see (flows still under inspection, payload only, DNS sorted out by
triage.py) and hands those to the Inspector one by one in capture order per flow. The
table's ``inspect`` bits, which the Inspector's answers update, are how a flow leaves
inspection: its later packets never reach Python again (docs/ARCHITECTURE.md §2).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from detector.compiled import fast
from detector.decode import PROTO_TCP, PacketBatch
from detector.dissect.dnsparse import answer_groups
from detector.dissect.inspector import Inspector
from detector.dissect.triage import QUIC_MIN_DATAGRAM, QUIC_V2, dns_port_table, triage
from detector.dissect.unclaimed import no_taker, quiet_first_bytes, signature_table
from detector.flows import Placement
from detector.flowtable import STATE_SYN_A, STATE_SYN_B, FlowTable

ROUNDS = ((0, 4), (4, 32), (32, 1 << 62))
_SIDE_A, _SIDE_B = np.uint8(1), np.uint8(2)  # a side's bit in the table's inspect column


def _rank_within_numpy(slots: np.ndarray) -> np.ndarray:
    """Position of each packet among the packets of its flow (capture order kept)."""
    order = np.argsort(slots, kind="stable")
    ordered = slots[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, ordered.shape[0]])
    rank_sorted = np.arange(ordered.shape[0]) - np.repeat(starts, sizes)
    rank = np.empty_like(rank_sorted)
    rank[order] = rank_sorted
    return rank


def _wanted_numpy(
    inspect: np.ndarray, pkt_slot: np.ndarray, src_first: np.ndarray, payload_len: np.ndarray
) -> np.ndarray:
    """Per packet: has it a flow slot, payload, and its side's bit (1: side A, 2: side B)
    set in the flow's ``inspect`` byte? (What _candidates_numpy triages.)"""
    ok = pkt_slot >= 0
    side_bit = np.where(src_first, 1, 2).astype(np.uint8)
    if ok.all():  # every packet has a flow (most batches): no masking needed
        insp = (inspect[pkt_slot] & side_bit) != 0
    else:
        insp = np.zeros(pkt_slot.shape[0], dtype=bool)
        insp[ok] = (inspect[pkt_slot[ok]] & side_bit[ok]) != 0
    return insp & (payload_len > 0)


def _candidates_numpy(
    inspect: np.ndarray,
    pkt_slot: np.ndarray,
    src_first: np.ndarray,
    pb: PacketBatch,
    cols: dict[str, np.ndarray],
    budget: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The packets of a batch the dissectors must see (triage of ``_wanted_numpy``'s, less
    the first packets of new flows that no dissector would take: _claim_first_py), in
    capture order: those for the inspector with their flow slots, and the DNS responses
    with answers (the fast DNS path). ``cols``: the flow table's (``inspect`` is its
    column, its bits and ``touched`` updated by the claim); ``budget``: the Inspector's
    bytes per side. _candidates_compiled's twin."""
    cand, dns = triage(pb, _wanted_numpy(inspect, pkt_slot, src_first, pb.payload_len))
    if dns.any():
        cand, dns_idx = cand[~dns], cand[dns]
    else:
        dns_idx = cand[:0]
    cand, slots = _claim_first_py(cand, pkt_slot[cand], pb, src_first, inspect, cols, budget)
    return cand, slots, dns_idx


def _candidates_compiled(
    inspect: np.ndarray,
    pkt_slot: np.ndarray,
    src_first: np.ndarray,
    pb: PacketBatch,
    cols: dict[str, np.ndarray],
    budget: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """_candidates_numpy by ``_fast.inspect_triage``: one pass over the batch, where numpy
    made some twenty over the wanted packets, and the claim in the same pass (a buffer
    shorter than its 8 bytes of padding, which no capture makes, goes to the twin)."""
    if pb.buf.shape[0] < 8:
        return _candidates_numpy(inspect, pkt_slot, src_first, pb, cols, budget)
    n = pkt_slot.shape[0]
    out = np.empty((3, n), dtype=np.int64)  # candidates, their slots, DNS responses
    as_c = np.ascontiguousarray
    count, dns_count = fast.inspect_triage(
        as_c(pkt_slot, dtype=np.int64), as_c(src_first, dtype=bool),
        as_c(pb.payload_len, dtype=np.int64), as_c(pb.proto, dtype=np.uint8),
        as_c(pb.sport, dtype=np.int64), as_c(pb.dport, dtype=np.int64), dns_port_table(),
        pb.buf, as_c(pb.payload_off, dtype=np.int64), as_c(pb.payload_cap, dtype=np.int64),
        as_c(pb.seq, dtype=np.int64), cols["isn_a"], cols["isn_b"], cols["state"],
        quiet_first_bytes(), signature_table(), inspect, cols["touched"], out[0], out[1],
        out[2], QUIC_V2, QUIC_MIN_DATAGRAM, budget,
    )  # fmt: skip
    return out[0, :count], out[1, :count], out[2, :dns_count]


def _claim_first_py(
    cand: np.ndarray,
    slots: np.ndarray,
    pb: PacketBatch,
    src_first: np.ndarray,
    inspect: np.ndarray,
    cols: dict[str, np.ndarray],
    budget: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The candidates (``cand``, their ``slots``; capture order) less the TCP packets
    that are the first of their flow to be judged and that no dissector would take
    (dissect/unclaimed.py): each such packet's side has its inspect bit cleared, and the
    side's later packets of the batch go too. A flow none of whose packets reached Python
    yet (``touched`` clear) is judged by its first packet, then - if that side went - by
    the other side's first; every candidate kept marks its flow touched, as the first
    round would. A packet is judged only whole (payload_cap == payload_len) and in order
    at the start of its side's stream (its SYN unseen, or seq == isn), off port 53.
    ``_fast.inspect_triage`` does the same in its pass (tests/test_unclaimed.py)."""
    touched, state = cols["touched"], cols["state"]
    isn_a, isn_b = cols["isn_a"], cols["isn_b"]
    buf = pb.buf
    keep = np.ones(cand.shape[0], dtype=bool)
    for k, (i, s) in enumerate(zip(cand.tolist(), slots.tolist(), strict=True)):
        a = bool(src_first[i])
        bit = 1 if a else 2
        if not inspect[s] & bit:  # its side went earlier in this batch
            keep[k] = False
            continue
        if not touched[s] and pb.proto[i] == PROTO_TCP:
            syn = STATE_SYN_A if a else STATE_SYN_B
            isn = int(isn_a[s] if a else isn_b[s])
            plen, off = int(pb.payload_len[i]), int(pb.payload_off[i])
            if (
                (not state[s] & syn or int(pb.seq[i]) == isn)
                and int(pb.payload_cap[i]) == plen
                and off >= 0
                and off + plen <= buf.shape[0]
                and pb.sport[i] != 53
                and pb.dport[i] != 53
                and no_taker(buf[off : off + plen].tobytes(), budget)
            ):
                inspect[s] &= 0xFF ^ bit
                keep[k] = False
                continue
        touched[s] = True
    return cand[keep], slots[keep]


def _rank_within_compiled(slots: np.ndarray, rows: int) -> np.ndarray:
    """_rank_within_numpy by ``_fast.rank_within``: a counter per table row (``rows`` of
    them; every slot in [0, rows)), one pass, no sort."""
    out = np.empty(slots.shape[0], dtype=np.int64)
    fast.rank_within(np.ascontiguousarray(slots, dtype=np.int64), rows, out)
    return out


def _round_numpy(
    cand: np.ndarray,
    rank: np.ndarray,
    lo: int,
    hi: int,
    inspect: np.ndarray | None,
    pkt_slot: np.ndarray,
    src_first: np.ndarray,
) -> np.ndarray:
    """The candidates whose rank is in [lo, hi), in their order; with ``inspect``, only
    those whose side's bit is still set in their flow's byte. (_round_compiled's twin.)"""
    idx = cand[(rank >= lo) & (rank < hi)]
    if inspect is not None:
        side_bit = np.where(src_first[idx], _SIDE_A, _SIDE_B)  # uint8, as inspect
        idx = idx[(inspect[pkt_slot[idx]] & side_bit) != 0]
    return idx


def _round_compiled(
    cand: np.ndarray,
    rank: np.ndarray,
    lo: int,
    hi: int,
    inspect: np.ndarray | None,
    pkt_slot: np.ndarray,
    src_first: np.ndarray,
) -> np.ndarray:
    """_round_numpy by ``_fast.round_pick``: one pass over the candidates."""
    out = np.empty(cand.shape[0], dtype=np.int64)
    count = fast.round_pick(
        np.ascontiguousarray(cand, dtype=np.int64),
        np.ascontiguousarray(rank, dtype=np.int64),
        lo,
        hi,
        inspect,
        np.ascontiguousarray(pkt_slot, dtype=np.int64),
        np.ascontiguousarray(src_first, dtype=bool),
        out,
    )
    return out[:count]


class PayloadFeeder:
    """Hands the payload of flows under inspection to the Inspector."""

    def __init__(self, inspector: Inspector, table: FlowTable) -> None:
        self.inspector = inspector
        self.table = table  # the flow stage's table: its inspect and touched bits
        self.inspected = 0  # packets that reached Python in the current batch
        self.cut_short = 0  # flows retired early to bound inspection state (all batches)

    def feed(self, pb: PacketBatch, placement: Placement) -> int:
        """Inspect one placed batch; return how many packets reached Python."""
        self.inspected = 0
        self.inspector.stow_retired()  # the facts of last batch's flows that are still open
        self._inspect(pb, placement.slots, placement.from_a)
        return self.inspected

    def _inspect(self, pb: PacketBatch, pkt_slot: np.ndarray, src_first: np.ndarray) -> None:
        t = self.table
        # Only payload goes to Python (SYN sequence numbers were noted vectorised), and DNS
        # only when it answers something (see dissect/triage.py).
        candidates = _candidates_compiled if fast is not None else _candidates_numpy
        # slots all >= 0: candidates have a flow (_wanted)
        # The first packets of new flows that no dissector would take leave inspection
        # there, their flows untouched (dissect/unclaimed.py).
        budget = self.inspector.config.bytes_per_side
        cand, slots, dns = candidates(t["inspect"], pkt_slot, src_first, pb, t.cols, budget)
        if dns.shape[0]:
            self._dns_answers(pb, dns, pkt_slot, src_first)
        if cand.shape[0] == 0:
            return
        # Rounds: first each flow's first few payload packets of this batch, then more of
        # the flows still under inspection. A bulk download that its first packet already
        # settled never walks its remaining packets through Python.
        if fast is not None:
            rank = _rank_within_compiled(slots, t["inspect"].shape[0])
        else:
            rank = _rank_within_numpy(slots)
        pick = _round_compiled if fast is not None else _round_numpy
        for lo, hi in ROUNDS:
            # after the first round, only the flows (sides) still under inspection
            inspect = t["inspect"] if lo else None
            idx = pick(cand, rank, lo, hi, inspect, pkt_slot, src_first)
            if idx.shape[0]:
                self._inspect_packets(pb, idx, pkt_slot, src_first)

    def _dns_answers(
        self, pb: PacketBatch, idx: np.ndarray, pkt_slot: np.ndarray, src_first: np.ndarray
    ) -> None:
        """DNS responses of the batch: parsed in one call, fed to passive DNS. Only the
        flows that got facts (a pool's name looked up) are marked touched: the others
        leave nothing to report, so at their end they never reach Python again."""
        self.inspected += int(idx.shape[0])
        grouped = answer_groups(
            pb.buf,
            np.ascontiguousarray(pb.payload_off[idx]),
            np.ascontiguousarray(pb.payload_cap[idx]),
        )
        with_facts = self.inspector.dns_answers(
            pkt_slot[idx].tolist(),
            np.where(src_first[idx], 0, 1).tolist(),
            grouped,
            pb.ts[idx].tolist(),
        )
        if with_facts:
            self.table["touched"][np.array(with_facts, dtype=np.int64)] = True

    def _inspect_packets(
        self,
        pb: PacketBatch,
        idx: np.ndarray,
        pkt_slot: np.ndarray,
        src_first: np.ndarray,
    ) -> None:
        """Feed packets to the inspector one by one, in capture order per flow. Which
        side each packet is, and where its side's stream starts (SYN seen), is worked out
        for all of them at once; only the inspect bits change as the loop goes."""
        t = self.table
        self.inspected += int(idx.shape[0])
        round_cols = _round_cols_compiled if fast is not None else _round_cols_numpy
        cols = round_cols(pb, idx, pkt_slot, src_first, t.cols)
        inspector = self.inspector
        feed = fast.feed_packets if fast is not None else _feed_rows
        self.cut_short += feed(
            cols,
            t["inspect"],
            pb.buf,
            inspector.tcp_packet,
            inspector.udp_packet,
            inspector.retire,
            inspector.cut_short,
        )


def _round_cols_numpy(
    pb: PacketBatch,
    idx: np.ndarray,
    pkt_slot: np.ndarray,
    src_first: np.ndarray,
    cols: dict[str, np.ndarray],
) -> tuple[np.ndarray, ...]:
    """The columns the feed loop takes (see _feed_rows) for the packets ``idx``, whose
    flows (``cols``: the flow table's) are marked touched on the way: which side each
    packet is, and where its side's stream starts (SYN seen), for all of them at once.
    ``_round_cols_compiled`` is its one-pass twin."""
    slots = pkt_slot[idx]
    cols["touched"][slots] = True
    from_a = src_first[idx]
    syn_bit = np.where(from_a, STATE_SYN_A, STATE_SYN_B)
    isn = np.where(from_a, cols["isn_a"][slots], cols["isn_b"][slots]).astype(np.int64)
    isn = np.where((cols["state"][slots] & syn_bit) != 0, isn, -1)
    off = pb.payload_off[idx]
    return (
        slots.astype(np.int64, copy=False),
        np.where(from_a, 0, 1),
        (pb.proto[idx] == PROTO_TCP).astype(np.int64),
        pb.seq[idx].astype(np.int64, copy=False),
        isn,
        off,
        off + pb.payload_cap[idx],
        pb.payload_len[idx],
        pb.sport[idx].astype(np.int64, copy=False),
        pb.dport[idx].astype(np.int64, copy=False),
        pb.ts[idx],
    )


def _round_cols_compiled(
    pb: PacketBatch,
    idx: np.ndarray,
    pkt_slot: np.ndarray,
    src_first: np.ndarray,
    cols: dict[str, np.ndarray],
) -> tuple[np.ndarray, ...]:
    """_round_cols_numpy by ``_fast.inspect_cols``: one pass over the round's packets
    (numpy made ~14 gathers and a few where's of them)."""
    m = idx.shape[0]
    out = np.empty((10, m), dtype=np.int64)
    ts = np.empty(m, dtype=np.float64)
    as_c = np.ascontiguousarray
    fast.inspect_cols(
        as_c(idx, dtype=np.int64), as_c(pkt_slot, dtype=np.int64),
        as_c(src_first, dtype=bool), as_c(pb.proto, dtype=np.uint8),
        as_c(pb.seq, dtype=np.int64), as_c(pb.payload_off, dtype=np.int64),
        as_c(pb.payload_cap, dtype=np.int64), as_c(pb.payload_len, dtype=np.int64),
        as_c(pb.sport, dtype=np.int64), as_c(pb.dport, dtype=np.int64),
        as_c(pb.ts, dtype=np.float64), cols["isn_a"], cols["isn_b"], cols["state"],
        cols["touched"], out, ts,
    )  # fmt: skip
    return (*out, ts)


def _feed_rows(
    cols: tuple[np.ndarray, ...],
    inspect: np.ndarray,
    buf: np.ndarray,
    tcp_packet: Callable[..., int],
    udp_packet: Callable[..., int],
    retire: Callable[[int], None],
    cut_short: list[int],
) -> int:
    """Hand a round's packets to the Inspector one by one (``_fast.feed_packets`` is its
    compiled twin, which makes no Python object for a packet it skips). ``cols``: per
    packet its slot, side, whether TCP, seq, isn (-1: none), payload begin and end in
    ``buf``, payload length, ports and time. A packet whose side no longer wants payload
    (its ``inspect`` bit, which each answer updates) is skipped. Returns how many flows
    the Inspector cut short (``cut_short``, emptied: no more payload for them)."""
    view = memoryview(buf)
    # A memoryview reads and writes the column as plain ints, several times cheaper
    # per packet than numpy scalar indexing (the table does not grow in this loop).
    inspect_col = memoryview(inspect)
    rows = zip(*(c.tolist() for c in cols), strict=True)
    cut = 0
    for slot, side, tcp, seq, start, begin, end, plen, sport, dport, ts in rows:
        held = inspect_col[slot]
        if not held & (side + 1):
            continue
        data = bytes(view[begin:end])
        if tcp:
            keep = tcp_packet(
                slot, side, seq, start if start >= 0 else None, data, plen, ts, sport, dport
            )
        else:
            keep = udp_packet(slot, side, data, ts, sport, dport)
        # A side that left inspection before the Inspector heard of it (_claim_first_py)
        # is not done there: its bit stays clear. (Otherwise a no-op: the Inspector's
        # sides only ever become done, so its answer never sets a cleared bit.)
        keep &= held
        inspect_col[slot] = keep
        if not keep:
            retire(slot)
        if cut_short:  # flows retired to make room: no more payload for them
            for retired in cut_short:
                inspect_col[retired] = 0
            cut += len(cut_short)
            cut_short.clear()
    return cut
