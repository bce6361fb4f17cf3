"""The dissector interface: three small hooks, as in nfstream's plugins.

A stream dissector handles one application protocol on one TCP flow. The inspector
offers it the first bytes of each side and the ports (``probe``); if it accepts, it receives that
side's in-order bytes (``on_data``), hole notices (``on_gap``) and a final call when the
flow ends (``on_expire``). It records facts on the flow's FlowFacts and returns False from
``on_data`` when it needs no more bytes of that side.

A side can change protocol mid-stream: STARTTLS and its kin, a proxy tunnel that
opens (SOCKS, HTTP CONNECT), or an HTTP Upgrade to WebSocket. The dissector that saw the
switch returns False from ``on_data`` and answers ``upgraded(side)`` with an
:class:`Upgrade` - which switch, and the side's bytes from there on; the inspector offers
those bytes to the dissectors afresh, as the start of a new stream (or, when the switch
names its protocol, to that protocol's dissector alone), and tells the one that accepts
them (``on_upgrade``).

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
from detector.netnames import NetworkNames
from detector.pdns import PassiveDns
from detector.pools import PoolList


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class InspectContext:
    """State shared by every flow's dissectors (e.g. the passive-DNS map)."""

    pdns: PassiveDns = field(default_factory=PassiveDns)
    pools: PoolList | None = None  # to notice DNS lookups of pool names
    # ...and of a crypto network's own names (netnames.py: Filecoin's bootstrap peers,
    # Chia's introducers and seeders), whose askers are nodes
    names: NetworkNames | None = None


class Probe(Enum):
    """A dissector's answer to the first bytes of a side."""

    YES = 1
    NO = 2
    MAYBE = 3  # need more bytes to decide


# The members as plain names, for the probes and Inspector._choose, which read them for
# every side's first bytes: ``Probe.YES`` goes through EnumType's __getattr__ hook, some
# 60 ns (~250 instructions) a read against a few for a module global.
YES, NO, MAYBE = Probe.YES, Probe.NO, Probe.MAYBE


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A side's stream goes on in another protocol (see the module docstring).

    Most switches leave what follows to be recognised from its bytes (TLS after STARTTLS
    or a tunnel). An HTTP ``Upgrade`` names the protocol itself, and WebSocket frames have
    no signature to probe for: ``protocol`` then names the dissector that reads them, and
    the inspector hands the bytes to it without probing. ``detail`` is what the switch's
    answer settled, for the side that answered (HTTP Upgrade: the server's
    ``Sec-WebSocket-Extensions``, "" if none); None on the side that asked."""

    via: str  # which switch: "smtp-starttls", "postgres-sslrequest", "socks5", "http-connect"...
    data: bytes  # the side's bytes from the switch on (may be empty: they come later)
    host: str | None = None  # a tunnel's target, as the client asked for it
    port: int | None = None
    protocol: str | None = None  # the dissector (its ``name``) that must read what follows
    detail: str | None = None


class StreamDissector:
    """Base class: one application protocol on one TCP flow (both sides)."""

    name: ClassVar[str] = "base"
    # The first bytes of a side for which ``probe`` can say anything but NO (None: any
    # byte may start this protocol). The inspector asks only the dissectors a side's first
    # byte allows (a test checks every probe against its set): most sides are settled by
    # one probe, and a side nobody claims is asked 3 probes instead of 7.
    first_bytes: ClassVar[frozenset[int] | None] = None
    # Whether the class has an ``upgraded`` / an ``on_expire`` of its own (set for each
    # subclass as it is made): the inspector does not call the base's, which do nothing
    # - a call a side that ends, and one a flow's dissector as the flow ends.
    switches: ClassVar[bool] = False
    flushes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.switches = cls.upgraded is not StreamDissector.upgraded
        cls.flushes = cls.on_expire is not StreamDissector.on_expire

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

    def upgraded(self, side: int) -> Upgrade | None:
        """Asked after ``on_data`` returned False: did ``side`` switch to another protocol
        (None: no, the side is simply done)?"""
        return None

    def on_upgrade(self, side: int, upgrade: Upgrade, facts: FlowFacts) -> None:
        """This dissector accepted the bytes of ``side`` that followed an upgrade."""


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
