"""A 5-tuple back after its idle timeout (TCP 600 s, UDP 120 s) starts a new flow, and
the old one ends "idle" - whether the gap falls inside one packet batch, across a batch
boundary the sweep before it was too early to catch, or between batches where the sweep
caught it: the same flows, field for field, through ``minewatch flows --all``, compiled
and pure (MINEWATCH_PURE=1) alike. A gap just under the timeout keeps one flow."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from detector.source.batch import MAX_BATCH_PACKETS
from detector.synth.pcap import pcap_bytes
from tests.conftest import REPO

T0 = 1_700_000_000.0
CLIENT, POOL, RESOLVER, OTHER = "10.0.0.5", "198.51.100.7", "203.0.113.9", "192.0.2.44"


def _ip(text: str) -> bytes:
    return bytes(int(part) for part in text.split("."))


def _ipv4(src: str, dst: str, proto: int, body: bytes) -> bytes:
    """A raw IPv4 packet (LINKTYPE_RAW) with its header checksum."""
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0,
                         _ip(src), _ip(dst))  # fmt: skip
    total = sum(struct.unpack("!10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:] + body


def _tcp(
    src: str, sport: int, dst: str, dport: int, seq: int, flags: int, data: bytes = b""
) -> bytes:
    body = struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0) + data
    return _ipv4(src, dst, 6, body)


def _udp(src: str, sport: int, dst: str, dport: int, data: bytes) -> bytes:
    return _ipv4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data)


SYN, ACK, PSH = 0x02, 0x10, 0x08


def _conversation(at: float, sport: int, dport: int = 3333) -> list[tuple[float, bytes]]:
    """A TCP exchange of a few packets at ``at`` (a handshake, a request, an answer)."""
    return [
        (at, _tcp(CLIENT, sport, POOL, dport, 100, SYN)),
        (at + 0.01, _tcp(POOL, dport, CLIENT, sport, 500, SYN | ACK)),
        (at + 0.02, _tcp(CLIENT, sport, POOL, dport, 101, ACK)),
        (at + 0.03, _tcp(CLIENT, sport, POOL, dport, 101, PSH | ACK, b"hello pool\n")),
        (at + 0.04, _tcp(POOL, dport, CLIENT, sport, 501, PSH | ACK, b"hello miner\n")),
    ]


def _resumed(at: float, sport: int, dport: int = 3333) -> list[tuple[float, bytes]]:
    """The same 5-tuple later, without a handshake (as a capture sees a NAT reuse it)."""
    return [
        (at, _tcp(CLIENT, sport, POOL, dport, 900, PSH | ACK, b"again\n")),
        (at + 0.01, _tcp(POOL, dport, CLIENT, sport, 700, PSH | ACK, b"welcome back\n")),
    ]


def _datagrams(at: float, sport: int, count: int = 2) -> list[tuple[float, bytes]]:
    out = []
    for i in range(count):
        out.append((at + i * 0.01, _udp(CLIENT, sport, RESOLVER, 9000, b"ping %d" % i)))
        out.append((at + i * 0.01 + 0.005, _udp(RESOLVER, 9000, CLIENT, sport, b"pong %d" % i)))
    return out


def _filler(count: int, start: float, end: float) -> list[tuple[float, bytes]]:
    """``count`` packets of one more UDP flow, evenly from ``start`` to ``end``: what puts
    the batch boundary where a case wants it (a batch holds MAX_BATCH_PACKETS)."""
    step = (end - start) / max(1, count - 1)
    packet = _udp(OTHER, 7000, RESOLVER, 7001, b"x")
    return [(start + i * step, packet) for i in range(count)]


def _first_half() -> list[tuple[float, bytes]]:
    return [
        *_conversation(T0, 40001),  # back after 700 s: two flows
        *_datagrams(T0, 50001),  # back after 200 s: two flows
        *_conversation(T0, 40002),  # back after 599.9 s: one flow
        *_datagrams(T0, 50002),  # back after 119.9 s: one flow
    ]


def _second_half() -> list[tuple[float, bytes]]:
    return [
        *_resumed(T0 + 700, 40001),
        *_datagrams(T0 + 200, 50001),
        *_resumed(T0 + 0.04 + 599.9, 40002),
        *_datagrams(T0 + 0.015 + 119.9, 50002),
    ]


def _write(path: Path, records: list[tuple[float, bytes]]) -> Path:
    ordered = sorted(records, key=lambda r: r[0])  # stable: a conversation keeps its order
    path.write_bytes(pcap_bytes(((round(ts * 1e9), frame) for ts, frame in ordered), 101))
    return path


def _case(tmp_path: Path, name: str, boundary_at: float | None) -> Path:
    """Both halves in one file. ``boundary_at`` None: in one batch; else the first batch
    is filled up to end at that time (the second half is in the next batch)."""
    first, second = _first_half(), _second_half()
    records = first + second
    if boundary_at is not None:
        records = first + _filler(MAX_BATCH_PACKETS - len(first), T0 + 1, boundary_at) + second
    return _write(tmp_path / f"{name}.pcap", records)


def _flows(path: Path, pure: bool, *extra: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_PURE"}
    if pure:
        env["MINEWATCH_PURE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "detector", "flows", "--all", "-j", "1", "--model", "none",
         *extra, str(path)],
        capture_output=True, cwd=REPO, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]


def _ours(lines: list[dict]) -> list[dict]:
    """The records of the test's 5-tuples (not the filler), in a fixed order."""
    mine = [r for r in lines if OTHER not in (r.get("src_ip"), r.get("dest_ip"))]
    return sorted(mine, key=lambda r: (r["src_port"], r["dest_port"], r["flow"]["start"]))


def _by_port(records: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for r in records:
        port = r["src_port"] if r["src_ip"] == CLIENT else r["dest_port"]
        out.setdefault(port, []).append(r)
    return out


def test_back_after_idle_timeout_is_a_new_flow(tmp_path: Path) -> None:
    inside = _case(tmp_path, "inside", None)  # one batch
    across = _case(tmp_path, "across", T0 + 10)  # the sweep at T0 + 10 is too early
    swept = _case(tmp_path, "swept", T0 + 650)  # the sweep at T0 + 650 ends them first
    runs = {(p.name, pure): _ours(_flows(p, pure)) for p in (inside, across, swept)
            for pure in (False, True)}  # fmt: skip
    reference = runs[("swept.pcap", False)]
    flows = _by_port(reference)
    for port in (40001, 50001):  # back after the timeout: two flows, the first "idle"
        first, second = flows[port]
        assert first["end_reason"] == "idle", port
        assert first["flow_id"] != second["flow_id"]
        assert first["flow"]["end"] < second["flow"]["start"]
    assert flows[40001][1]["end_reason"] == "end"  # the capture ends 0.01 s after it
    assert flows[50001][1]["end_reason"] == "idle"  # the capture goes on 500 s after it
    assert [r["flow"]["pkts_toserver"] for r in flows[40001]] == [3, 1]
    assert [r["flow"]["pkts_toserver"] for r in flows[50001]] == [2, 2]
    for port, packets in ((40002, 4), (50002, 4)):  # back just before it: one flow
        [one] = flows[port]
        assert one["flow"]["pkts_toserver"] == packets, port
    for key, records in runs.items():
        assert records == reference, key


def test_the_same_flows_with_a_split_scan(tmp_path: Path) -> None:
    """Two workers (a split scan) end the flows in the order one session does."""
    _split_scan_ends_the_same_flows(_case(tmp_path, "inside", None), 6)


def _split_scan_ends_the_same_flows(path: Path, ours: int) -> None:
    """``flows --all`` with two workers (a split scan) equals one session's, which has
    ``ours`` records of the test's own conversations."""
    one = _flows(path, False)
    two = _flows(path, False, "-j", "2", "--split-from", "1")
    assert two == one
    assert len(_ours(one)) == ours


def test_detached_rows_are_listed_in_key_order_until_released() -> None:
    """FlowTable.detach takes a flow out of the key index and keeps its row: a lookup no
    longer finds it, used_slots lists it before its key's indexed flow (oldest first, the
    order the sweep ends them in), release forgets it."""
    import numpy as np

    from detector.flowtable import FlowTable

    table = FlowTable(64)
    keys = np.array([30, 10, 20], dtype=np.uint64)
    slots = table.allocate(keys)
    table.detach(slots[:1])  # key 30's flow
    again = table.allocate(np.array([30, 30, 5], dtype=np.uint64),
                           indexed=np.array([False, True, True]))  # fmt: skip
    assert table.lookup(np.array([30], dtype=np.uint64)).tolist() == [again[1]]
    assert table.used_slots().tolist() == [
        again[2],
        slots[1],
        slots[2],
        slots[0],
        again[0],
        again[1],
    ]
    assert table.indexed_slots().tolist() == [again[2], slots[1], slots[2], again[1]]
    assert table.used == 6
    table.release(np.array([slots[0], again[0]]))
    assert table.detached_slots.shape[0] == 0
    assert table.used_slots().tolist() == table.indexed_slots().tolist()
