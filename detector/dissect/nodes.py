"""Cryptocurrency *node* peer-to-peer traffic: Bitcoin-family P2P, Monero Levin,
Ethereum devp2p (RLPx handshake) and discv4, Nano.

A node is not a miner (docs/ARCHITECTURE.md §3): these dissectors only record ``facts.node`` so that
info rules can report a ``crypto-node`` event and so that no mining rule mistakes node
traffic on :8333/:30303 for mining. Recognition is by framing (magic numbers, header
layout, handshake sizes), never by port alone.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from detector.dissect.base import (
    MAYBE,
    NO,
    YES,
    DatagramDissector,
    InspectContext,
    Probe,
    StreamDissector,
)
from detector.facts import FlowFacts

# Bitcoin-style message start bytes -> network name
BITCOIN_MAGICS: dict[bytes, str] = {
    bytes.fromhex("f9beb4d9"): "bitcoin",
    bytes.fromhex("0b110907"): "bitcoin-testnet",
    bytes.fromhex("fabfb5da"): "bitcoin-regtest",
    bytes.fromhex("0a03cf40"): "bitcoin-signet",
    bytes.fromhex("e3e1f3e8"): "bitcoin-cash",
    bytes.fromhex("fbc0b6db"): "litecoin",
    bytes.fromhex("c0c0c0c0"): "dogecoin",
    bytes.fromhex("bf0c6bbd"): "dash",
    bytes.fromhex("24e92764"): "zcash",
}
LEVIN_SIGNATURE = bytes.fromhex("0121010101010101")
LEVIN_COMMANDS = {
    1001: "handshake",
    1002: "timed_sync",
    1003: "ping",
    1004: "stat_info",
    1005: "network_state",
    1006: "peer_id",
    1007: "support_flags",
    2001: "new_block",
    2002: "new_transactions",
    2003: "request_get_objects",
    2004: "response_get_objects",
    2006: "request_chain",
    2007: "response_chain_entry",
    2008: "new_fluffy_block",
    2009: "request_fluffy_missing_tx",
}
ETH_PORTS = frozenset({30303, 30304, 30305})
MAX_MESSAGES = 12
MAX_COMMANDS = 16


_COMMAND_BYTES = b"abcdefghijklmnopqrstuvwxyz0123456789"


def _ascii_command(raw: bytes) -> str | None:
    name = raw.rstrip(b"\x00")
    # (translate deletes the allowed bytes, a-z and 0-9: none left, all were; a NUL
    # inside the name is one of those left)
    if not name or name.translate(None, _COMMAND_BYTES):
        return None
    return name.decode("ascii")


def _rlpx_handshake(data: bytes) -> bool:
    """EIP-8 auth/ack: 2-byte size, then an ECIES message starting with an uncompressed
    public key (0x04); pre-EIP-8 auth is 307 bytes and ack 210 bytes of the same form."""
    if len(data) >= 3 and data[2] == 0x04:
        size = struct.unpack("!H", data[:2])[0]
        if 150 <= size <= 2048 and len(data) <= size + 2:
            return True
    return data[:1] == b"\x04" and len(data) in (307, 210)


def _nano_header(data: bytes) -> bool:
    return (
        len(data) >= 8
        and data[0:1] == b"R"
        and data[1:2] in (b"A", b"B", b"C", b"X")
        and all(v <= 0x40 for v in data[2:5])
        and data[2] >= data[3] >= data[4]
        and data[5] <= 0x10
    )


class CryptoNode(StreamDissector):
    """Node P2P protocols over TCP."""

    name: ClassVar[str] = "crypto-node"

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.bufs = [b"", b""]
        self.kind = ["", ""]
        self.messages = 0

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        if len(data) < 4:
            return MAYBE
        if data[:4] in BITCOIN_MAGICS:
            return YES if len(data) < 16 or _ascii_command(data[4:16]) else NO
        # Each test below needs a byte that most sides' first bytes are not: checked
        # first, the calls are skipped (this probe sees nearly every side's first bytes).
        first = data[0]
        if first == 0x01 and data[:8] == LEVIN_SIGNATURE[: min(8, len(data))]:
            return YES if len(data) >= 8 else MAYBE
        if first == 0x52 and _nano_header(data):  # b"R"
            return YES
        if (first == 0x04 or data[2] == 0x04) and _rlpx_handshake(data):
            return YES
        return NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        buf = self.bufs[side] + data
        node = facts.node
        if not self.kind[side]:
            self.kind[side] = self._classify(buf, node)
        kind = self.kind[side]
        if kind == "bitcoin":
            buf = self._bitcoin(buf, node)
        elif kind == "levin":
            buf = self._levin(buf, node)
        elif kind == "rlpx":
            sides = node.setdefault("handshake_sides", [])
            if side not in sides:
                sides.append(side)
            node["confidence"] = "high" if len(sides) == 2 else "low"
            buf = b""
        else:
            buf = b""
        self.bufs[side] = buf[-65536:]
        facts.app_protos.add("crypto-node")
        return kind in ("bitcoin", "levin") and self.messages < MAX_MESSAGES

    def _classify(self, buf: bytes, node: dict) -> str:
        if buf[:4] in BITCOIN_MAGICS:
            node.setdefault("protocol", "bitcoin-p2p")
            node.setdefault("network", BITCOIN_MAGICS[buf[:4]])
            return "bitcoin"
        if buf[:8] == LEVIN_SIGNATURE:
            node.setdefault("protocol", "monero-levin")
            node.setdefault("network", "cryptonote")
            return "levin"
        if _nano_header(buf):
            node.setdefault("protocol", "nano")
            node.setdefault(
                "network",
                {"C": "nano", "B": "nano-beta", "A": "nano-test"}.get(chr(buf[1]), "nano"),
            )
            return "nano"
        node.setdefault("protocol", "ethereum-devp2p")
        node.setdefault("network", "ethereum")
        return "rlpx"

    def _command(self, node: dict, command: str) -> None:
        commands = node.setdefault("commands", [])
        if command not in commands and len(commands) < MAX_COMMANDS:
            commands.append(command)

    def _bitcoin(self, buf: bytes, node: dict) -> bytes:
        while len(buf) >= 24 and self.messages < MAX_MESSAGES:
            if buf[:4] not in BITCOIN_MAGICS:
                return b""
            command = _ascii_command(buf[4:16])
            length = struct.unpack_from("<I", buf, 16)[0]
            if command is None or length > 32 * 1024 * 1024:
                return b""
            if len(buf) < 24 + length:
                if length <= 65536:
                    break  # wait for the rest of a small message (version, inv...)
                self.messages += 1
                self._command(node, command)
                return b""  # a block or large tx: the header said enough
            self.messages += 1
            self._command(node, command)
            if command == "version":
                self._bitcoin_version(buf[24 : 24 + length], node)
            buf = buf[24 + length :]
        return buf

    @staticmethod
    def _bitcoin_version(payload: bytes, node: dict) -> None:
        if len(payload) < 81 or "user_agent" in node:
            return
        size = payload[80]
        if size < 0xFD and len(payload) >= 81 + size:
            agent = payload[81 : 81 + size].decode("ascii", "replace")
            node["user_agent"] = agent[:128]
            node["version"] = struct.unpack_from("<i", payload, 0)[0]

    def _levin(self, buf: bytes, node: dict) -> bytes:
        while len(buf) >= 33 and self.messages < MAX_MESSAGES:
            if buf[:8] != LEVIN_SIGNATURE:
                return b""
            length = struct.unpack_from("<Q", buf, 8)[0]
            command = struct.unpack_from("<I", buf, 17)[0]
            if length > 100 * 1024 * 1024:
                return b""
            self.messages += 1
            self._command(node, LEVIN_COMMANDS.get(command, str(command)))
            if len(buf) < 33 + length:
                return b""  # skip a large body: the header already told what we need
            buf = buf[33 + length :]
        return buf


class CryptoNodeUdp(DatagramDissector):
    """Ethereum discv4 and Nano over UDP."""

    name: ClassVar[str] = "crypto-node-udp"

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.seen = 0

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int]) -> bool:
        return _discv4(data) or _nano_header(data)

    def on_datagram(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        node = facts.node
        if _nano_header(data):
            node.setdefault("protocol", "nano")
            node.setdefault("network", "nano")
        elif _discv4(data):
            node.setdefault("protocol", "ethereum-discv4")
            node.setdefault("network", "ethereum")
            kinds = node.setdefault("commands", [])
            kind = {
                1: "ping",
                2: "pong",
                3: "findnode",
                4: "neighbors",
                5: "enrrequest",
                6: "enrresponse",
            }.get(data[97], str(data[97]))
            if kind not in kinds and len(kinds) < MAX_COMMANDS:
                kinds.append(kind)
        facts.app_protos.add("crypto-node")
        self.seen += 1
        return self.seen < 4


def _discv4(data: bytes) -> bool:
    """discv4 packet: hash(32) signature(65) type(1) RLP list, the list filling the rest
    of the datagram exactly. Without Keccak at hand the hash is not verified; the exact
    RLP length makes random payloads (QUIC...) match about once in 10^5 instead of 1%."""
    if len(data) < 100 or not 1 <= data[97] <= 6:
        return False
    prefix = data[98]
    rest = len(data) - 98
    if 0xC0 <= prefix <= 0xF7:
        return 1 + (prefix - 0xC0) == rest
    if prefix >= 0xF8:
        width = prefix - 0xF7
        if rest < 1 + width:
            return False
        length = int.from_bytes(data[99 : 99 + width], "big")
        return 1 + width + length == rest
    return False
