"""Per-flow payload inspection: reassemble, pick a dissector per side, feed it, stop early.

The flow stage calls ``tcp_packet``/``udp_packet`` only for flows still under inspection;
they return False as soon as a flow needs no more payload (every side decided and done,
or its byte budget spent), so the flow stage stops handing that flow to Python. That is
what keeps per-packet Python work to the first few KB of each flow (docs/ARCHITECTURE.md §2).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from detector import activity
from detector.compiled import fast
from detector.dialects import SHARE_DIALECTS
from detector.dissect.base import (
    MAYBE,
    NO,
    YES,
    DatagramDissector,
    InspectContext,
    Probe,
    StreamDissector,
    Upgrade,
)
from detector.dissect.dns import DnsTcp, note_pool_lookup, worth_noting
from detector.dissect.dnsparse import Groups
from detector.dissect.http import Http
from detector.dissect.jsonlines import JsonLines
from detector.dissect.libp2p import Multistream
from detector.dissect.nodes import CryptoNode, CryptoNodeUdp
from detector.dissect.quic import Quic
from detector.dissect.starttls import StartTls
from detector.dissect.tls.flow import FirstPackets, Tls, new_first_packets
from detector.dissect.tunnel import Socks
from detector.facts import FlowFacts, new_facts
from detector.reassembly import GAP, StreamReassembler

# Probed in this order on the first bytes of each side; the first YES wins.
# Socks and StartTls hand what follows a switch on (base.Upgrade): Tls reads it.
STREAM_DISSECTORS: tuple[type[StreamDissector], ...] = (
    Tls,
    Http,
    DnsTcp,
    Multistream,
    CryptoNode,
    JsonLines,
    Socks,
    StartTls,
)
DATAGRAM_DISSECTORS: tuple[type[DatagramDissector], ...] = (Quic, CryptoNodeUdp)
# The stream dissectors a side's first byte allows, in probing order (first_bytes).
PROBED_BY_FIRST_BYTE: tuple[tuple[type[StreamDissector], ...], ...] = tuple(
    tuple(c for c in STREAM_DISSECTORS if c.first_bytes is None or b in c.first_bytes)
    for b in range(256)
)
# The same without DnsTcp, whose probe says NO unless a port is 53 (a test checks): the
# sides of the other flows - nearly all - are not asked it.
PROBED_OFF_DNS_PORT: tuple[tuple[type[StreamDissector], ...], ...] = tuple(
    tuple(c for c in probed if c is not DnsTcp) for probed in PROBED_BY_FIRST_BYTE
)
STREAM_DISSECTORS_OFF_DNS_PORT = tuple(c for c in STREAM_DISSECTORS if c is not DnsTcp)
PROBE_LIMIT = 4096
MAX_UPGRADES = 2  # protocol switches followed per side (a tunnel, then STARTTLS inside it)


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class InspectConfig:
    """How much of each flow the dissectors see."""

    bytes_per_side: int = 16 * 1024
    datagrams_per_flow: int = 16
    # Flows under inspection at once (reassembly, dissector state: ~4 KB each). Past it,
    # the oldest is retired with the facts it has, as Suricata's stream memcap bounds its
    # reassembly: 100,000 concurrent miner flows would otherwise hold 400 MB.
    max_flows: int = 4096
    # Miner flows whose shares are still being counted past their byte budget (see
    # Inspector._keep_counting), at once; past it the oldest stops counting, noted.
    max_counting: int = 4096


class _Side:
    __slots__ = (
        "stream", "head", "dissector", "decided", "done", "budget", "upgrades", "upgrade",
        "counting", "taker",
    )  # fmt: skip

    def __init__(self, budget: int) -> None:
        self.stream = StreamReassembler()
        self.head = b""  # bytes seen before a dissector accepted this side
        self.dissector: StreamDissector | None = None
        self.decided = False
        self.done = False
        self.budget = budget
        self.upgrades = 0  # protocol switches followed on this side
        self.upgrade: Upgrade | None = None  # the switch that the bytes being chosen for follow
        self.counting = False  # past the budget, still read: a miner's shares (see _deliver)
        # The dissector whose probe said YES to the bytes about to be delivered, probed
        # before this state was made (see Inspector.tcp_packet): _choose takes it as is.
        self.taker: type[StreamDissector] | None = None


class FlowInspection:
    """Inspection state of one flow: two sides, shared dissector instances, facts."""

    __slots__ = (
        "sides", "dissectors", "facts", "datagrams", "datagram_count", "udp", "ports", "told",
        "slot", "last_ts",
    )  # fmt: skip

    def __init__(
        self, config: InspectConfig, udp: bool, ports: tuple[int, int], slot: int = -1
    ) -> None:
        self.sides = (_Side(config.bytes_per_side), _Side(config.bytes_per_side))
        self.dissectors: dict[str, StreamDissector] = {}
        # Made when a dissector takes a side (or a gap is counted): a third of the flows
        # inspected on real traffic never get one, and new facts are some 12,000
        # instructions (``facts.new_facts``).
        self.facts: FlowFacts | None = None
        self.datagrams: DatagramDissector | None = None
        self.datagram_count = 0
        self.udp = udp
        self.ports = ports  # (side 0 port, side 1 port)
        self.told = False  # put in Inspector.evidence once (its first dialect)
        self.slot = slot
        self.last_ts = 0.0  # of the last payload delivered (for the activity at flush)

    def made_facts(self) -> FlowFacts:
        """The flow's facts, made if nothing wrote any yet."""
        facts = self.facts
        if facts is None:
            facts = self.facts = new_facts()
        return facts

    def wanting(self) -> int:
        """Bit mask of the sides that still want payload."""
        return (0 if self.sides[0].done else 1) | (0 if self.sides[1].done else 2)


def _copied_inspection(
    config: InspectConfig, udp: bool, ports: tuple[int, int], slot: int = -1
) -> FlowInspection:
    """``FlowInspection(config, udp, ports, slot)``, its two sides and their reassemblers
    copied from prototypes by the compiled ``fresh_copy`` (each empty dict a new one): a
    flow's inspection state is five objects, ~10,000 instructions built by their
    __init__s, and some 10,000 flows of the real-traffic bench input are inspected (a
    test checks both ways make the same state)."""
    budget = config.bytes_per_side
    a = _fresh_copy(_SIDE)
    a.stream, a.budget = _fresh_copy(_STREAM), budget
    b = _fresh_copy(_SIDE)
    b.stream, b.budget = _fresh_copy(_STREAM), budget
    fi = _fresh_copy(_INSPECTION)
    fi.sides, fi.udp, fi.ports, fi.slot = (a, b), udp, ports, slot
    return fi


# What _copied_inspection copies (never handed out: every copy gets its own sides).
_INSPECTION = FlowInspection(InspectConfig(), False, (0, 0))
_SIDE = _INSPECTION.sides[0]
_STREAM = _SIDE.stream
if fast is not None:
    _fresh_copy = fast.fresh_copy
    new_inspection = _copied_inspection
else:
    new_inspection = FlowInspection  # the pure twin: built by the __init__s


class Inspector:
    """Holds the inspection state of every flow under inspection, keyed by flow slot."""

    first_packets = True  # use the TLS first-packet path (tests turn it off to compare)

    def __init__(
        self, config: InspectConfig | None = None, ctx: InspectContext | None = None
    ) -> None:
        self.config = config or InspectConfig()
        self.ctx = ctx or InspectContext()
        self.flows: dict[int, FlowInspection] = {}
        # Miner flows past their byte budget that still count shares (see _deliver): kept
        # apart so that the cap on flows under inspection never retires them first (they
        # are the oldest) and they have a cap of their own.
        self.counting: dict[int, FlowInspection] = {}
        self.first: dict[int, FirstPackets] = {}  # TLS flows settled one packet per side
        self.retired: dict[int, FlowFacts] = {}  # facts of flows no longer inspected
        # Slots retired since the last ``stow_retired``, their facts not stowed yet (see
        # retire).
        self.unstowed: list[int] = []
        self.cut_short: list[int] = []  # slots retired for room (see _make_room), not yet told
        # The most flows under inspection, and counting shares, at once since a driver last
        # reset them: a split scan's workers report them so that the run can tell whether
        # one session holding all flows would have reached the caps (parallel.scan_split).
        self.high_flows = 0
        self.high_counting = 0
        # Slots whose inspection named a dialect (a mining message was read) since
        # take_evidence last ran: "new evidence", scored while the flow is open. None
        # unless a driver alerts as it goes (``watch_evidence``): a scan that reports at
        # its end pays one attribute test per packet for it.
        self.evidence: set[int] | None = None

    def watch_evidence(self) -> None:
        """Note flows as a dissector first names their dialect (see take_evidence)."""
        if self.evidence is None:
            self.evidence = set()

    def _tell(self, fi: FlowInspection) -> None:
        """Note ``fi`` in ``evidence`` once, when its dissectors first named a dialect
        (callers test ``evidence is not None`` first: most scans do not watch)."""
        assert self.evidence is not None
        if not fi.told and fi.facts is not None and fi.facts.dialects:
            fi.told = True
            self.evidence.add(fi.slot)

    def take_evidence(self) -> set[int]:
        """The open flows that first named a dialect since the last call: a cleartext
        miner is told of at its first mining message, not its second job push."""
        found = self.evidence
        if not found:
            return set()
        self.evidence = set()
        return found

    def _state(self, slot: int, udp: bool, side: int, sport: int, dport: int) -> FlowInspection:
        fi = self.flows.get(slot)
        if fi is None:
            fi = self.counting.get(slot)
            if fi is None:
                fi = self._new_state(slot, udp, side, sport, dport)
        return fi

    def _new_state(self, slot: int, udp: bool, side: int, sport: int, dport: int) -> FlowInspection:
        """The inspection state of a flow that has none (room made for it first)."""
        if len(self.flows) >= self.config.max_flows:
            self._make_room()
        ports = (sport, dport) if side == 0 else (dport, sport)
        fi = self.flows[slot] = new_inspection(self.config, udp, ports, slot)
        if len(self.flows) > self.high_flows:  # (max() is a call per new flow)
            self.high_flows = len(self.flows)
        return fi

    def _make_room(self) -> None:
        """Retire the flow that has been under inspection longest (dicts keep creation
        order), keeping its facts with a note; the flow stage clears its inspect bits
        (``cut_short``)."""
        slot = next(iter(self.flows))
        facts = self._conclude(slot)
        if facts is not None:
            facts.note("inspection cut short: too many flows under inspection")
            self.retired[slot] = facts.stow()
        self.cut_short.append(slot)

    def tcp_packet(
        self,
        slot: int,
        side: int,
        seq: int,
        isn: int | None,
        data: bytes,
        seg_len: int,
        ts: float,
        sport: int = 0,
        dport: int = 0,
    ) -> int:
        """Feed one TCP segment; return which sides still want payload (bit 0: side 0,
        bit 1: side 1). ``isn`` is where this side's stream starts, if its SYN was seen."""
        size = len(data)  # (once: up to three tests below read it)
        fi = self.flows.get(slot)
        if fi is None and self.counting:  # (empty but on a miner's flows)
            fi = self.counting.get(slot)
        if fi is None:
            first = None
            if self.first_packets:
                # The TLS first-packet path (see dissect/tls/flow.py, FirstPackets): an
                # in-order, whole segment at the start of its side's stream - or the next
                # one of a side whose first packets it holds (FirstPackets.take).
                first = self.first.get(slot)
                if size == seg_len:
                    # Held flights wait for their rest in memory: no more of them than
                    # flows may be under inspection at once (``hold``, worked out only
                    # for a packet that take may see).
                    if first is not None:
                        hold = len(self.first) < self.config.max_flows
                        at_start = isn is None or seq == isn
                        budget = self.config.bytes_per_side
                        if first.take(side, data, ts, budget, seq, hold, at_start):
                            taken = first.taken  # FirstPackets.wanting, inline
                            return (0 if taken[0] >= 0 else 1) | (0 if taken[1] >= 0 else 2)
                    # Only a packet that starts like a TLS record (what _fast.tls_first
                    # checks first) can be taken: most flows' first packets are not, and
                    # need no FirstPackets (and its FlowFacts) built to learn that.
                    elif (
                        (isn is None or seq == isn)
                        and size >= 3
                        and 20 <= data[0] <= 23
                        and data[1] == 3
                        and data[2] <= 4
                    ):
                        hold = len(self.first) < self.config.max_flows
                        ports = (sport, dport) if side == 0 else (dport, sport)
                        candidate = new_first_packets(ports)
                        if candidate.take(side, data, ts, self.config.bytes_per_side, seq, hold):
                            self.first[slot] = candidate
                            taken = candidate.taken  # FirstPackets.wanting, inline
                            return (0 if taken[0] >= 0 else 1) | (0 if taken[1] >= 0 else 2)
                if first is not None:
                    self._leave_first_packets(slot, first)
            taker: type[StreamDissector] | Probe | None = None
            if first is None and 0 < size == seg_len and (isn is None or seq == isn):
                # A new flow's side, its first bytes whole and in order: what _choose
                # will make of them (the bytes _deliver hands it, cut to the budget) is
                # known before the flow's inspection state is made - none for a side no
                # dissector takes (done, as _deliver would conclude; the feeder's claim
                # does the same for some: dissect/unclaimed.py).
                taker = _probe_head(data[: self.config.bytes_per_side], (sport, dport), None)
                if taker is NO:
                    return 1 << (1 - side)  # FlowInspection.wanting: the other side only
            if first is not None:  # (its flow's state made, held packets replayed)
                fi = self._state(slot, False, side, sport, dport)
            else:  # a new flow (_state's lookups both missed above)
                fi = self._new_state(slot, False, side, sport, dport)
            if taker is not None and taker is not MAYBE:
                fi.sides[side].taker = taker  # type: ignore[assignment]
        sd = fi.sides[side]
        if not sd.done:
            stream = sd.stream
            next_seq = stream.next_seq
            if next_seq is None:
                next_seq = stream.next_seq = isn  # (None: the stream starts at its first)
            if (seq == next_seq or next_seq is None) and not stream.pending and 0 < seg_len == size:
                # StreamReassembler.add's common case (whole, in order, nothing waiting;
                # or the first bytes of a stream whose start was not seen, which add
                # starts at them), without the call and the one-piece list.
                stream.next_seq = (seq + seg_len) & 0xFFFFFFFF
                self._deliver(fi, side, data, ts)
            else:
                for piece in stream.add(seq, data, seg_len, False):
                    self._deliver(fi, side, piece, ts)
                    if sd.done:
                        break
            if self.evidence is not None:
                self._tell(fi)
        sides = fi.sides  # FlowInspection.wanting, inline
        return (0 if sides[0].done else 1) | (0 if sides[1].done else 2)

    def _leave_first_packets(self, slot: int, first: FirstPackets) -> None:
        """Go on the general way from where the first-packet path left the flow: with
        the packets it held, fed the general way as they came."""
        self.first.pop(slot, None)
        fi = self.flows[slot] = new_inspection(self.config, False, first.ports, slot)
        self.high_flows = max(self.high_flows, len(self.flows))
        fi.facts = first.facts
        dissector = fi.dissectors[Tls.name] = first.to_dissector(self.ctx)
        for side, taken in enumerate(first.taken):
            if taken >= 0:
                sd = fi.sides[side]
                sd.dissector, sd.decided, sd.done = dissector, True, True
                sd.budget -= taken
        for side, going in enumerate(first.going or ()):
            if going is not None:  # read so far packet by packet: goes on from there
                sd = fi.sides[side]
                sd.dissector, sd.decided = dissector, True
                sd.stream.next_seq, sd.budget = going[0], sd.budget - going[1]
        if first.held_side >= 0:
            self._replay(fi, first.held_side, first.held)

    def _replay(
        self, fi: FlowInspection, side: int, held: tuple[tuple[int, bytes, float], ...]
    ) -> None:
        """Feed the general way the packets the first-packet path held for ``side``: whole,
        in order from the start of the side's stream, none that would have ended it."""
        sd = fi.sides[side]
        for seq, data, ts in held:
            for piece in sd.stream.add(seq, data, len(data), False):
                self._deliver(fi, side, piece, ts)
            if self.evidence is not None:
                self._tell(fi)

    def udp_packet(
        self, slot: int, side: int, data: bytes, ts: float, sport: int = 0, dport: int = 0
    ) -> int:
        """Feed one datagram; return which sides still want payload (0: none)."""
        fi = self._state(slot, True, side, sport, dport)
        if fi.datagrams is None:
            ports = (sport, dport)
            for cls in DATAGRAM_DISSECTORS:
                if cls.probe(data, ports):
                    fi.datagrams = cls(self.ctx)
                    break
            else:
                fi.sides[0].done = fi.sides[1].done = True
                return 0
        facts = fi.made_facts()
        more = True
        try:
            more = fi.datagrams.on_datagram(side, data, ts, facts)
        except Exception as exc:  # noqa: BLE001 - hostile payload must not stop the scan
            _dissector_failed(facts, fi.datagrams.name, exc)
            more = False
        fi.datagram_count += 1
        if self.evidence is not None:
            self._tell(fi)
        if not more or fi.datagram_count >= self.config.datagrams_per_flow:
            fi.sides[0].done = fi.sides[1].done = True
        return fi.wanting()

    def dns_answers(
        self, slots: list[int], sides: list[int], grouped: Groups, times: list[float]
    ) -> list[int]:
        """Batch fast path for UDP DNS responses with answers (see triage.py): feed
        passive DNS with each distinct answer of the batch once, at its last message;
        keep flow facts only for the messages whose question names a mining pool or a
        crypto network's own infrastructure (dns.worth_noting).
        Returns the slots of the flows that got facts."""
        distinct, last, groups = grouped
        ctx = self.ctx
        ctx.pdns.add_groups(distinct, last, times)
        pooled = {g for g in range(len(distinct)) if worth_noting(distinct[g][0], ctx)}
        if not pooled:
            return []
        with_facts = []
        for slot, side, g in zip(slots, sides, groups, strict=True):
            if g in pooled:
                questions, _, ips = distinct[g]
                facts = self.retired.get(slot)
                facts = new_facts() if facts is None else facts.unstow()
                note_pool_lookup(facts, questions, ips, side)
                self.retired[slot] = facts.stow()
                with_facts.append(slot)
        return with_facts

    def _deliver(self, fi: FlowInspection, side: int, piece: bytes | None, ts: float) -> None:
        sd = fi.sides[side]
        if piece is GAP:
            facts = fi.made_facts()
            if sd.dissector is not None:
                try:
                    sd.dissector.on_gap(side, facts)
                except Exception as exc:  # noqa: BLE001 - see below
                    _dissector_failed(facts, sd.dissector.name, exc)
                    sd.done = True
            else:
                facts.gaps += 1
                sd.head = b""
            return
        assert piece is not None
        budget, size = sd.budget, len(piece)
        if size >= budget and not sd.counting and sd.decided:
            self._keep_counting(fi, sd)  # before the piece is cut: no message lost
        if not sd.counting:
            if size > budget:
                piece = piece[:budget]
                size = len(piece)
            sd.budget = budget - size
        if ts:
            fi.last_ts = ts
        if not sd.decided:
            sd.head += piece
            self._choose(fi, side)
            if not sd.decided:
                if sd.budget <= 0:
                    sd.done = True
                return
            piece, sd.head = sd.head, b""
            if sd.dissector is None:
                sd.done = True
                return
        dissector = sd.dissector
        assert dissector is not None
        facts = fi.facts  # made when the dissector took the side
        assert facts is not None
        jobs, shares = facts.jobs, facts.submits
        try:
            more = dissector.on_data(side, piece, ts, facts)
            upgrade = dissector.upgraded(side) if not more and dissector.switches else None
        except Exception as exc:  # noqa: BLE001 - hostile payload must not stop the scan
            _dissector_failed(facts, dissector.name, exc)
            more, upgrade = False, None
        if facts.jobs != jobs or facts.submits != shares:
            _tally(fi, jobs, shares)
        if upgrade is not None and sd.upgrades < MAX_UPGRADES:
            self._upgrade(fi, side, upgrade, ts)
            return
        if not more or (sd.budget <= 0 and not sd.counting):
            sd.done = True

    def _keep_counting(self, fi: FlowInspection, sd: _Side) -> None:
        """The side's byte budget runs out: a miner's side goes on being read, so that
        every share and job of the session is counted - a hashrate rests on the share
        count of the whole session, and a 16 KB budget holds a few minutes of it
        (docs/ARCHITECTURE.md §13). Only a side read as newline JSON or WebSocket
        whose flow already showed a dialect with shares; such a flow costs one parse per
        message (a share every few seconds) and its inspection state (a few KB), so the
        flows doing it at once are capped (``max_counting``, oldest stop first, noted)."""
        if sd.dissector is None or sd.dissector.name not in _COUNTING_DISSECTORS:
            return
        if not (fi.made_facts().dialects & SHARE_DIALECTS):
            return
        sd.counting = True
        if self.flows.get(fi.slot) is fi:
            del self.flows[fi.slot]
            if len(self.counting) >= self.config.max_counting:
                self._stop_counting(next(iter(self.counting)))
            self.counting[fi.slot] = fi
            self.high_counting = max(self.high_counting, len(self.counting))

    def _stop_counting(self, slot: int) -> None:
        """Retire the flow that has counted longest, keeping its facts with a note; the
        flow stage clears its inspect bits (``cut_short``)."""
        facts = self._conclude(slot)
        if facts is not None:
            facts.shares_cut = True
            facts.note("share counting cut short: too many miner flows at once")
            self.retired[slot] = facts.stow()
        self.cut_short.append(slot)

    def _upgrade(self, fi: FlowInspection, side: int, upgrade: Upgrade, ts: float) -> None:
        """The side switched protocol (base.Upgrade): its bytes from the switch on are
        offered to the dissectors as the start of a new stream - or given to the one the
        switch named, if it named one (an HTTP Upgrade to WebSocket)."""
        sd = fi.sides[side]
        sd.upgrades += 1
        sd.dissector, sd.decided, sd.head, sd.upgrade = None, False, b"", upgrade
        sd.budget += len(upgrade.data)  # counted once already, by the piece that held them
        if upgrade.protocol is not None:
            self._choose(fi, side)  # the switch named its protocol: no bytes needed to decide
            if sd.dissector is None:
                sd.done = True
                return
        if upgrade.data:
            self._deliver(fi, side, upgrade.data, ts)
        elif sd.budget <= 0:
            sd.done = True

    def _choose(self, fi: FlowInspection, side: int) -> None:
        sd = fi.sides[side]
        if sd.upgrade is not None and sd.upgrade.protocol is not None:
            self._take_named(fi, side, sd.upgrade)
            return
        cls, sd.taker = sd.taker, None  # probed already (tcp_packet), or None
        if cls is None:
            cls = _probe_head(sd.head, (fi.ports[side], fi.ports[1 - side]), fi)
            if cls is NO:
                sd.decided = True  # nobody wants this side
            if cls is NO or cls is MAYBE:
                return
        dissector = fi.dissectors.get(cls.name)
        if dissector is None:
            dissector = fi.dissectors[cls.name] = cls(self.ctx)
        sd.dissector = dissector
        sd.decided = True
        facts = fi.facts  # FlowInspection.made_facts, inline: once per side
        if facts is None:
            facts = fi.facts = new_facts()
        if sd.upgrade is not None:
            dissector.on_upgrade(side, sd.upgrade, facts)

    def _take_named(self, fi: FlowInspection, side: int, upgrade: Upgrade) -> None:
        """Give a side to the dissector its switch named (none known: nobody reads it)."""
        sd = fi.sides[side]
        sd.decided = True
        cls = _upgrade_dissector(upgrade.protocol or "")
        if cls is None:
            return
        dissector = fi.dissectors.get(cls.name)
        if dissector is None:
            dissector = fi.dissectors[cls.name] = cls(self.ctx)
        facts = fi.made_facts()
        try:
            dissector.on_upgrade(side, upgrade, facts)
        except Exception as exc:  # noqa: BLE001 - see _deliver
            _dissector_failed(facts, cls.name, exc)
            return
        sd.dissector = dissector

    def retire(self, slot: int) -> None:
        """Stop inspecting a flow: flush its parsers and keep only its facts (if any)
        until the flow ends, stowed (FlowFacts.stow) at the next ``stow_retired``: most
        short flows end in the batch that retired them, and a stow with the unstow at the
        flow's end costs some 30,000 instructions (callgrind) to leave equal facts."""
        facts = self._conclude(slot)
        if facts is not None:
            self.retired[slot] = facts
            self.unstowed.append(slot)

    def stow_retired(self) -> None:
        """Stow the facts that ``retire`` kept as they were and whose flows are still
        open (the feeder calls this as each batch starts; stowing twice changes nothing)."""
        retired = self.retired
        for slot in self.unstowed:
            facts = retired.get(slot)
            if facts is not None:
                facts.stow()
        self.unstowed.clear()

    def _conclude(self, slot: int) -> FlowFacts | None:
        """End the inspection of a flow under inspection: its facts, if it has any."""
        first = self.first.get(slot)
        if first is not None:
            if first.held_side < 0:
                del self.first[slot]
                return first.facts  # a TLS flow: it has facts
            self._leave_first_packets(slot, first)  # what it held, read the general way
        fi = self.flows.pop(slot, None)
        if fi is None:
            fi = self.counting.pop(slot, None)
            if fi is None:
                return None
        for side in (0, 1):
            sd = fi.sides[side]
            if not sd.done and sd.stream.pending:  # (else the flush delivers nothing)
                for piece in sd.stream.flush():
                    self._deliver(fi, side, piece, 0.0)
                    if sd.done:
                        break
        facts = fi.facts
        if facts is None:
            return None  # no dissector took a side: nothing learned
        jobs, shares = facts.jobs, facts.submits
        for dissector in fi.dissectors.values():
            if dissector.flushes:  # (the base's on_expire does nothing)
                try:
                    dissector.on_expire(facts)
                except Exception as exc:  # noqa: BLE001 - see _deliver
                    _dissector_failed(facts, dissector.name, exc)
        if facts.jobs != jobs or facts.submits != shares:
            _tally(fi, jobs, shares)
        return facts if _has_facts(facts) else None

    def peek(self, slot: int) -> FlowFacts | None:
        """A copy of what is known so far about a flow that is still open (None if
        nothing yet): a snapshot for scoring in progress, while inspection goes on."""
        first = self.first.get(slot)
        if first is not None and first.held_side >= 0:
            self._leave_first_packets(slot, first)  # what it held, read the general way
            first = None
        fi = self.flows.get(slot) or self.counting.get(slot)
        if first is not None:
            facts: FlowFacts | None = first.facts
        elif fi is not None:
            facts = fi.facts if fi.facts is not None and _has_facts(fi.facts) else None
        else:
            facts = self.retired.get(slot)
        return None if facts is None else copy.deepcopy(facts).unstow()

    def finish(self, slot: int) -> FlowFacts | None:
        """The flow ended: return its facts (None if nothing was learned)."""
        if self.evidence:
            self.evidence.discard(slot)
        if slot in self.flows or slot in self.first or slot in self.counting:
            facts = self._conclude(slot)
            if facts is not None:  # these replace any kept before (as retire would)
                self.retired.pop(slot, None)
                return facts
        facts = self.retired.pop(slot, None)
        if facts is None:
            return None
        # Facts that ``retire`` kept are stowed only at the next batch (stow_retired), and
        # most flows end in the batch that retired them: facts never stowed are as the
        # dissectors left them, which a set in ``app_protos`` says - here, where every
        # facts kept were either made by the dissectors or stowed by ``stow``, which
        # leaves a frozenset or None there (facts read back from plain data may have a
        # set beside stowed fields: FlowFacts.unstow itself cannot take this shortcut).
        return facts if type(facts.app_protos) is set else facts.unstow()


# The dissectors whose sides go on being read past the budget on a miner's flow.
_COUNTING_DISSECTORS = frozenset({JsonLines.name, "websocket"})


def _tally(fi: FlowInspection, jobs: int, shares: int) -> None:
    """Jobs and shares the dissectors just counted (above ``jobs``/``shares``) go into the
    flow's activity timeline at the time of the payload that carried them."""
    facts = fi.facts
    assert facts is not None  # a dissector counted
    if fi.last_ts <= 0:
        return  # nothing was delivered with a time (cannot happen with packets)
    facts.activity = activity.add(
        facts.activity, fi.last_ts, facts.jobs - jobs, facts.submits - shares
    )


def _probe_head(
    head: bytes, ports: tuple[int, int], failed: FlowInspection | None
) -> type[StreamDissector] | Probe | None:
    """What the probes make of ``head``, the first bytes of a side whose ports are ``ports``
    (its own first): the dissector class that takes the side, NO if none does (every probe
    said NO, or MAYBE past PROBE_LIMIT), MAYBE if undecided. A probe that raises is noted in
    the facts of ``failed`` (the flow) and the next one asked; with no flow (Inspector.
    tcp_packet probes a new side before its state exists) the answer is None at once, and
    _choose probes that side again with its flow at hand."""
    if 53 in ports:
        probed = PROBED_BY_FIRST_BYTE[head[0]] if head else STREAM_DISSECTORS
    else:
        probed = PROBED_OFF_DNS_PORT[head[0]] if head else STREAM_DISSECTORS_OFF_DNS_PORT
    undecided = False
    for cls in probed:
        try:
            verdict = cls.probe(head, ports)
        except Exception as exc:  # noqa: BLE001 - see Inspector._deliver
            if failed is None:
                return None
            _dissector_failed(failed.made_facts(), cls.name, exc)
            continue
        if verdict is YES:
            return cls
        if verdict is MAYBE:
            undecided = True
    return MAYBE if undecided and len(head) < PROBE_LIMIT else NO


def _upgrade_dissector(protocol: str) -> type[StreamDissector] | None:
    """The dissector a switch names (base.Upgrade.protocol). These are never probed -
    WebSocket frames have no signature of their own - and are imported when a flow first
    needs one: few flows upgrade, and the three modules cost ~0.7 ms of every start-up
    (~3 M instructions, callgrind)."""
    if protocol == "websocket":
        from detector.dissect.websocket import WebSocket

        return WebSocket
    return None


def _has_facts(facts: FlowFacts) -> bool:
    """Whether inspection learned anything worth a record."""
    return bool(facts.app_protos or facts.dialects or facts.node or facts.dissector_errors)


def _dissector_failed(facts: FlowFacts, name: str, exc: Exception) -> None:
    """A dissector bug on hostile input costs that flow's parsing, never the scan."""
    facts.dissector_errors += 1
    facts.note(f"{name} dissector stopped: {type(exc).__name__}")
