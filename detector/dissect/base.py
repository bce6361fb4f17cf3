"""The dissector interface: three small hooks, as in nfstream's plugins.

A stream dissector handles one application protocol on one TCP flow. The inspector
offers it the first bytes of each side and the ports (``probe``); if it accepts, it receives that
side's in-order bytes (``on_data``), hole notices (``on_gap``) and a final call when the
flow ends (``on_expire``). It records facts on the flow's FlowFacts and returns False from
``on_data`` when it needs no more bytes of that side.

Example - a dissector that notes SSH banners::

    class Ssh(StreamDissector):
        name = "ssh"

        @staticmethod
        def probe(data: bytes, ports: tuple[int, int]) -> Probe:
            return Probe.YES if data.startswith(b"SSH-") else Probe.NO

        def on_data(self, side, data, ts, facts):
            facts.app_protos.add("ssh")
            return False
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

from detector.facts import FlowFacts
from detector.pdns import PassiveDns
from detector.pools import PoolList


@dataclass(slots=True)
class InspectContext:
    """State shared by every flow's dissectors (e.g. the passive-DNS map)."""

    pdns: PassiveDns = field(default_factory=PassiveDns)
    pools: PoolList | None = None  # to notice DNS lookups of pool names


class Probe(Enum):
    """A dissector's answer to the first bytes of a side."""

    YES = 1
    NO = 2
    MAYBE = 3  # need more bytes to decide


class StreamDissector:
    """Base class: one application protocol on one TCP flow (both sides)."""

    name: ClassVar[str] = "base"

    def __init__(self, ctx: InspectContext) -> None:
        self.ctx = ctx

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int]) -> Probe:
        """Decide from the first bytes of a side (and its (sender, receiver) ports) whether
        this protocol is spoken."""
        return Probe.NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        """Consume in-order bytes of ``side``; return False when done with that side."""
        return False

    def on_gap(self, side: int, facts: FlowFacts) -> None:
        """Bytes of ``side`` are missing before the next ``on_data``: resynchronise."""
        facts.gaps += 1

    def on_expire(self, facts: FlowFacts) -> None:
        """The flow ended: flush anything half-parsed."""


class DatagramDissector:
    """Base class for UDP protocols: one call per datagram."""

    name: ClassVar[str] = "base-udp"

    def __init__(self, ctx: InspectContext) -> None:
        self.ctx = ctx

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int]) -> bool:
        return False

    def on_datagram(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        """Consume one datagram from ``side``; return False when done with the flow."""
        return False
