"""Per-flow payload inspection: reassemble, pick a dissector per side, feed it, stop early.

The flow stage calls ``packet()`` only for flows still under inspection; this module
returns False as soon as a flow needs no more payload (every side decided and done, or
its byte budget spent), so the flow stage can stop handing that flow to Python. That is
what keeps per-packet Python work to the first few KB of each flow (DESIGN.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.dissect.base import DatagramDissector, Probe, StreamDissector
from detector.dissect.http import Http
from detector.dissect.jsonlines import JsonLines
from detector.dissect.tlsflow import Tls
from detector.facts import FlowFacts
from detector.reassembly import GAP, StreamReassembler

STREAM_DISSECTORS: tuple[type[StreamDissector], ...] = (Tls, Http, JsonLines)
DATAGRAM_DISSECTORS: tuple[type[DatagramDissector], ...] = ()
FIRST_BYTES_KEPT = 64
PROBE_LIMIT = 4096


@dataclass(slots=True)
class InspectConfig:
    """How much of each flow the dissectors see."""

    bytes_per_side: int = 16 * 1024
    datagrams_per_flow: int = 16


class _Side:
    __slots__ = ("stream", "head", "dissector", "decided", "done", "budget")

    def __init__(self, budget: int) -> None:
        self.stream = StreamReassembler()
        self.head = b""  # bytes seen before a dissector accepted this side
        self.dissector: StreamDissector | None = None
        self.decided = False
        self.done = False
        self.budget = budget


class FlowInspection:
    """Inspection state of one flow: two sides, shared dissector instances, facts."""

    __slots__ = ("sides", "dissectors", "facts", "datagrams", "udp")

    def __init__(self, config: InspectConfig, udp: bool) -> None:
        self.sides = (_Side(config.bytes_per_side), _Side(config.bytes_per_side))
        self.dissectors: dict[str, StreamDissector] = {}
        self.facts = FlowFacts()
        self.datagrams = 0
        self.udp = udp

    def active(self) -> bool:
        return not (self.sides[0].done and self.sides[1].done)


class Inspector:
    """Holds the inspection state of every flow under inspection, keyed by flow slot."""

    def __init__(self, config: InspectConfig | None = None) -> None:
        self.config = config or InspectConfig()
        self.flows: dict[int, FlowInspection] = {}
        self.retired: dict[int, FlowFacts] = {}  # facts of flows no longer inspected

    def tcp_packet(
        self, slot: int, side: int, seq: int, syn: bool, data: bytes, seg_len: int, ts: float
    ) -> bool:
        """Feed one TCP segment; return False when the flow needs no more payload."""
        fi = self.flows.get(slot)
        if fi is None:
            fi = self.flows[slot] = FlowInspection(self.config, udp=False)
        sd = fi.sides[side]
        if sd.done:
            return fi.active()
        for piece in sd.stream.add(seq, data, seg_len, syn):
            self._deliver(fi, side, piece, ts)
            if sd.done:
                break
        return fi.active()

    def udp_packet(
        self, slot: int, side: int, data: bytes, ports: tuple[int, int], ts: float
    ) -> bool:
        """Feed one datagram; return False when the flow needs no more payload."""
        fi = self.flows.get(slot)
        if fi is None:
            fi = self.flows[slot] = FlowInspection(self.config, udp=True)
        fi.datagrams += 1
        sent = fi.facts.sides[side]
        if not sent.first_bytes:
            sent.first_bytes = data[:FIRST_BYTES_KEPT]
        if fi.datagrams >= self.config.datagrams_per_flow:
            fi.sides[0].done = fi.sides[1].done = True
        return fi.active()

    def _deliver(self, fi: FlowInspection, side: int, piece: bytes | None, ts: float) -> None:
        sd = fi.sides[side]
        facts = fi.facts
        if piece is GAP:
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
        piece = piece[: sd.budget]
        sd.budget -= len(piece)
        sent = facts.sides[side]
        if len(sent.first_bytes) < FIRST_BYTES_KEPT:
            sent.first_bytes += piece[: FIRST_BYTES_KEPT - len(sent.first_bytes)]
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
        assert sd.dissector is not None
        try:
            more = sd.dissector.on_data(side, piece, ts, facts)
        except Exception as exc:  # noqa: BLE001 - hostile payload must not stop the scan
            _dissector_failed(facts, sd.dissector.name, exc)
            more = False
        if not more or sd.budget <= 0:
            sd.done = True

    def _choose(self, fi: FlowInspection, side: int) -> None:
        sd = fi.sides[side]
        undecided = False
        for cls in STREAM_DISSECTORS:
            verdict = cls.probe(sd.head)
            if verdict is Probe.YES:
                dissector = fi.dissectors.get(cls.name)
                if dissector is None:
                    dissector = fi.dissectors[cls.name] = cls()
                sd.dissector = dissector
                sd.decided = True
                return
            if verdict is Probe.MAYBE:
                undecided = True
        if not undecided or len(sd.head) >= PROBE_LIMIT:
            sd.decided = True  # nobody wants this side

    def retire(self, slot: int) -> None:
        """Stop inspecting a flow: flush its parsers and keep only its facts (if any)."""
        fi = self.flows.pop(slot, None)
        if fi is None:
            return
        for side in (0, 1):
            sd = fi.sides[side]
            if not sd.done:
                for piece in sd.stream.flush():
                    self._deliver(fi, side, piece, 0.0)
                    if sd.done:
                        break
        for dissector in fi.dissectors.values():
            try:
                dissector.on_expire(fi.facts)
            except Exception as exc:  # noqa: BLE001 - see _deliver
                _dissector_failed(fi.facts, dissector.name, exc)
        if fi.facts.app_protos or fi.facts.dialects:
            self.retired[slot] = fi.facts

    def finish(self, slot: int) -> FlowFacts | None:
        """The flow ended: return its facts (None if nothing was learned)."""
        if slot in self.flows:
            self.retire(slot)
        return self.retired.pop(slot, None)


def _dissector_failed(facts: FlowFacts, name: str, exc: Exception) -> None:
    """A dissector bug on hostile input costs that flow's parsing, never the scan."""
    facts.dissector_errors += 1
    facts.note(f"{name} dissector stopped: {type(exc).__name__}")
