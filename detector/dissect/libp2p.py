"""libp2p's cleartext opener: multistream-select on a TCP connection.

Filecoin's lotus (and IPFS, Ethereum's consensus clients, Polkadot...) speak libp2p. A
libp2p TCP connection is encrypted after its first round trip, but that round trip is
cleartext and always the same shape (docs/ARCHITECTURE.md §3, "Filecoin and libp2p"):

* every multistream-select message is "a varint length, the message, a newline", the
  newline counted in the length (multiformats/multistream-select README.md, "Note 1/2";
  libp2p/specs connections/README.md, "multistream-select");
* both peers first send the protocol's own id, ``/multistream/1.0.0``: 19 bytes with the
  newline, so every such connection opens with ``\\x13/multistream/1.0.0\\n`` on both
  sides (connections/README.md: "both peers will send the multistream protocol id");
* the dialer then proposes a security protocol - ``/noise`` (libp2p/specs
  noise/README.md, "Negotiation") or ``/tls/1.0.0`` - and the listener echoes the one it
  accepts or answers ``na``; from there on the connection is encrypted (muxer
  negotiation, ``/yamux/1.0.0`` or ``/mplex/6.7.0``, happens inside, unless a peer runs
  the insecure ``/plaintext/2.0.0``).

So this dissector only reads the messages a side sends from its first byte until the
first one that is not a multistream message (the Noise handshake's 2-byte length, a TLS
record): the protocol ids proposed and echoed become flow facts (``node.commands``), the
flow a ``libp2p`` node sighting (informational, nodes.yaml). libp2p alone is no
cryptocurrency: IPFS and Ethereum's consensus clients look the same; nodehosts.py names a
host Filecoin only with Filecoin's own names beside its libp2p flows.

Cheap: ``first_bytes`` is ``0x13``, so only sides whose first byte is that length are
offered to the probe (dissect/inspector.py); on a libp2p side, one call per message of
the opener, then the side is done. Bounded and hostile-proof: a length varint of more
than 3 bytes or above go-multistream's own 64 KiB limit (multiformats/go-multistream
multistream.go, ``ReadNextToken``: ``ErrTooLarge``) ends the reading with a note, as does
a message without its newline; at most MAX_MESSAGES messages per side, MAX_PROTOCOLS ids
per flow, each cut to MAX_ID characters (they are escaped where they are shown).
"""

from __future__ import annotations

from typing import ClassVar

from detector.dissect.base import MAYBE, NO, YES, Probe, StreamDissector
from detector.facts import FlowFacts, intern

PROTOCOL_ID = "/multistream/1.0.0"
HEADER = b"\x13/multistream/1.0.0\n"  # len(PROTOCOL_ID) + 1 = 19 = 0x13
NODE_PROTOCOL = "libp2p"
APP_PROTO = "libp2p"
MAX_VARINT = 3  # 64 KiB needs 3 varint bytes
MAX_LENGTH = 64 * 1024  # go-multistream refuses longer messages (ErrTooLarge)
MAX_BUFFER = 1024  # bytes of one side held while a message is incomplete
MAX_MESSAGES = 16  # per side: a real opener has 2-4
MAX_PROTOCOLS = 16  # per flow
MAX_ID = 128  # characters kept of a protocol id
CONTROL = frozenset({"na", "ls"})  # "not available", "list": answers, not protocols


def read_uvarint(data: bytes, pos: int = 0) -> tuple[int, int] | None:
    """The unsigned varint at ``pos`` (multiformats unsigned-varint: 7 bits a byte,
    least significant first, high bit "more"): (value, position after it); None when the
    bytes end first. Raises ValueError past MAX_VARINT bytes."""
    value = 0
    for i in range(MAX_VARINT):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise ValueError("varint longer than 3 bytes")


class Multistream(StreamDissector):
    """The multistream-select messages a libp2p connection opens with (both sides)."""

    name: ClassVar[str] = "libp2p"
    first_bytes: ClassVar[frozenset[int] | None] = frozenset({HEADER[0]})

    def __init__(self, ctx: object = None) -> None:
        self.bufs = [b"", b""]
        self.messages = [0, 0]
        self.headers = 0  # sides that opened with the header
        self.lost = [False, False]  # a hole in the side's bytes: no message boundary left

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        n = min(len(data), len(HEADER))
        if data[:n] != HEADER[:n]:
            return NO
        return YES if n == len(HEADER) else MAYBE

    def on_gap(self, side: int, facts: FlowFacts) -> None:
        """Bytes are missing: the next length prefix cannot be found again, so the side
        is read no further (what was read stays)."""
        facts.gaps += 1
        self.lost[side] = True

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        if self.lost[side]:
            return False
        buf = self.bufs[side] + data
        node = facts.node
        if node.get("protocol") not in (None, NODE_PROTOCOL):
            return False  # another dissector's node facts (cannot happen: one per side)
        if not node:
            node.update(protocol=NODE_PROTOCOL, confidence="low", commands=[])
            facts.app_protos.add(APP_PROTO)
        pos = 0
        while self.messages[side] < MAX_MESSAGES:
            try:
                head = read_uvarint(buf, pos)
            except ValueError:
                facts.note("libp2p: multistream length varint too long")
                return False
            if head is None:
                break  # the varint goes on in the next segment
            length, start = head
            if length == 0 or length > MAX_LENGTH:
                # the encrypted part began (Noise's 2-byte length starts with 0x00) - or a
                # length no multistream peer would accept
                if length > MAX_LENGTH:
                    facts.note("libp2p: multistream message over 64 KiB")
                return False
            if len(buf) < start + length:
                if length > MAX_BUFFER:
                    return False  # no protocol id is that long: not multistream any more
                break
            message = buf[start : start + length]
            pos = start + length
            if message[-1:] != b"\n":
                return False  # a TLS record or a handshake: the cleartext part is over
            self.messages[side] += 1
            if not self._message(side, message[:-1].decode("utf-8", "replace"), node):
                return False
        self.bufs[side] = buf[pos:]
        return self.messages[side] < MAX_MESSAGES

    def _message(self, side: int, text: str, node: dict) -> bool:
        """One message of ``side``; False when it cannot be multistream-select."""
        if self.messages[side] == 1:
            if text != PROTOCOL_ID:
                return False  # the probe saw the header: only a hostile split gets here
            self.headers += 1
            node["confidence"] = "high" if self.headers == 2 else "low"
            return True
        if text in CONTROL or text == PROTOCOL_ID:
            return True  # "na", "ls", or the header again (a new negotiation round)
        if not text.startswith("/"):
            return False  # protocol ids are paths; anything else is not this protocol
        commands = node.setdefault("commands", [])
        protocol = text[:MAX_ID]
        if protocol not in commands and len(commands) < MAX_PROTOCOLS:
            commands.append(intern(protocol))
        return True
