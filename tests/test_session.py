"""The capture session: fed from a slow pipe it sweeps idle flows by its own clock and
shows open flows before they end; its results are plain data that survive pickle and
JSON; a suspect is announced once, when it appears."""

from __future__ import annotations

import json
import os
import pickle
import struct
import threading
import time
from pathlib import Path

import numpy as np

from detector import plain
from detector.config import Detector, ScanConfig
from detector.dialects import STRATUM_V1
from detector.flows import FlowConfig
from detector.pipeline import run_scan
from detector.replay import IdleClock, scan_capture
from detector.session import CaptureScan, CaptureSession
from detector.sinks.eve import eve_order, write_eve
from detector.sinks.flowlog import write_flow_log
from detector.source import CaptureInput, expand_inputs, read_capture
from tests.conftest import PCAPS, meta, run_cli

MINER, POOL = ("10.9.0.5", 50123), ("198.51.100.9", 3333)


def _frame(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
           payload: bytes = b"") -> bytes:
    """Ethernet + IPv4 + TCP, checksums zero (as a capture with offload shows them)."""
    tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6,
                     0, bytes(map(int, src[0].split("."))), bytes(map(int, dst[0].split("."))))
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


def _record(frame: bytes, ts: float) -> bytes:
    sec, usec = int(ts), int(round((ts - int(ts)) * 1e6))
    return struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame


SUBSCRIBE = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.12.0"]}\n'
REPLY = (b'{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],'
         b'"08000002",4],"error":null}\n'
         b'{"id":null,"method":"mining.set_difficulty","params":[512]}\n'
         b'{"id":null,"method":"mining.notify","params":["bf","4d16b6f85af6e2198f44ae2a6de67f78487ae'
         b'5611b77c6c0440b921e00000000","01000000010000","072f736c7573682f000000000100f2052a010000'
         b'001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",[],"00000002","1c2ac4af",'
         b'"504e86b9",false]}\n')


def _conversation() -> list[tuple[str, bytes]]:
    """(what, frame) of a Stratum session's opening, one packet a second."""
    c, s = MINER, POOL
    return [
        ("syn", _frame(c, s, 1000, 0, 0x02)),
        ("syn-ack", _frame(s, c, 5000, 1001, 0x12)),
        ("ack", _frame(c, s, 1001, 5001, 0x10)),
        ("subscribe", _frame(c, s, 1001, 5001, 0x18, SUBSCRIBE)),
        ("reply", _frame(s, c, 5001, 1001 + len(SUBSCRIBE), 0x18, REPLY)),
    ]


def test_session_fed_from_a_slow_pipe_sweeps_and_shows_open_flows(tmp_path: Path) -> None:
    fifo = tmp_path / "live.pcap"
    os.mkfifo(fifo)
    written: dict[str, float] = {}  # what -> monotonic time it was written

    def writer() -> None:
        with open(fifo, "wb", buffering=0) as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for what, frame in _conversation():
                out.write(_record(frame, time.time()))
                written[what] = time.monotonic()
                time.sleep(1.0)
            time.sleep(4.0)  # the pipe stays open and quiet: only the session's clock moves
            written["close"] = time.monotonic()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    config = ScanConfig(flow=FlowConfig(idle_timeout=2.0, udp_idle_timeout=2.0))
    session = CaptureSession(str(fifo), config, Detector.load(config), announce=True)
    _, batches = read_capture(CaptureInput(str(fifo), "pcap", False, float("inf")),
                              config.chunk_size, max_wait=0.25)
    clock = IdleClock()
    empty_batches = 0
    open_seen: list[tuple[float, list]] = []  # (when, open records) after the reply arrived
    ended_at = suspect_at = None
    for batch in batches:
        session.feed(batch)
        if len(batch):
            clock.packets_until(session.now)
        else:
            empty_batches += 1
            session.tick(clock.now())
        if "reply" in written and ended_at is None:
            open_seen.append((time.monotonic(), session.snapshot()))
        if ended_at is None and session.tracker.stats.by_reason.get("idle"):
            ended_at = time.monotonic()
        if session.take_new_suspects():
            suspect_at = time.monotonic()
    thread.join()
    scanned = session.finish()

    assert empty_batches >= 5  # the reader handed over control while nothing came
    # Before the flow ended, a snapshot showed it open, with the dialect and orientation.
    shown = [records for _, records in open_seen if records]
    assert shown, "no snapshot showed the open flow"
    (record,) = shown[0]
    assert record.end_reason == "open" and record.facts is not None
    assert STRATUM_V1 in record.facts.dialects
    assert (record.client_ip, record.server_port) == (MINER[0], POOL[1])
    # The flow idled out by the session's clock while the pipe was still open and quiet.
    assert ended_at is not None and suspect_at is not None
    assert written["reply"] < ended_at < written["close"]
    assert suspect_at < written["close"]
    assert scanned.flows.by_reason == {"idle": 1}
    assert scanned.suspects.ips() == {MINER[0]}


def _scans(config: ScanConfig, detector: Detector) -> list[CaptureScan]:
    return [scan_capture(cap, config, detector) for cap in expand_inputs([str(PCAPS)])]


def _eve(scans: list[CaptureScan], config: ScanConfig, detector: Detector) -> str:
    from io import StringIO

    from detector.pipeline import ScanResult, _merge

    result = ScanResult(*(type(x)(config.window) for x in (scans[0].suspects, scans[0].nodes)),
                        [], type(scans[0].decode)(), type(scans[0].flows)(), [])
    for scanned in scans:
        _merge(result, scanned)
    out = StringIO()
    write_eve(result.suspects.stream(eve_order), out, detector.rules, result.nodes.hosts())
    write_flow_log(result.verdicts, out, with_empty=True)
    return out.getvalue()


def test_capture_results_are_plain_data_through_pickle_and_json() -> None:
    config = ScanConfig(keep_all_flows=True)
    detector = Detector.load(config)
    scans = _scans(config, detector)
    want = _eve(_scans(config, detector), config, detector)
    assert want.count('"event_type":"alert"') >= 30

    pickled = [pickle.loads(pickle.dumps(s)) for s in scans]  # noqa: S301 - our own bytes
    texts = [plain.dumps(s) for s in scans]
    for text in texts:
        json.loads(text)  # strict JSON: no NaN or Infinity
        assert "Infinity" not in text and "NaN" not in text
    from_json = [plain.loads(CaptureScan, text) for text in texts]
    # A result rebuilt from JSON encodes to the same JSON again, byte for byte (sets
    # encode sorted: a rebuilt set may iterate otherwise) ...
    assert [plain.dumps(s) for s in from_json] == texts
    # ... and gives the same alerts, crypto-node events and flow log.
    assert _eve(pickled, config, detector) == want
    assert _eve(from_json, config, detector) == want


def test_a_suspect_is_announced_once_when_it_appears() -> None:
    config = ScanConfig()
    detector = Detector.load(config)
    announced: list[tuple[str, float]] = []
    result = run_scan(expand_inputs([str(PCAPS)]), config, detector,
                      on_suspect=lambda s: announced.append((s.ip, s.window_start)))
    keys = [(s.ip, s.window_start) for s in result.suspects.suspects()]
    assert len(announced) == len(set(announced)) == len(keys)
    assert set(announced) == set(keys)


def test_scan_as_found_writes_the_same_alerts_as_they_appear() -> None:
    sorted_run = run_cli("scan", "-f", "jsonl", "-q", "--no-info", str(PCAPS))
    found_run = run_cli("scan", "-f", "jsonl", "-q", "--no-info", "--as-found", "-j", "1",
                        str(PCAPS))
    assert sorted_run.rc == found_run.rc == 0, found_run.err
    whole, early = sorted_run.events(), found_run.events()
    key = lambda e: (e["src_ip"], meta(e, "mining_first_seen")[0][:13])  # noqa: E731
    flows = lambda e: int(meta(e, "mining_flow_count")[0])  # noqa: E731
    assert sorted(map(key, early)) == sorted(map(key, whole)) and len(early) >= 30
    # An alert written as found has at most the evidence of the final one.
    final = {key(e): e for e in whole}
    assert all(flows(e) <= flows(final[key(e)]) for e in early)
    assert any(flows(e) < flows(final[key(e)]) for e in early)
    usage = run_cli("scan", "--as-found", str(PCAPS))
    assert usage.rc == 2 and "--as-found" in usage.err and "Traceback" not in usage.err


def test_mid_session_flows_between_ephemeral_ports_take_the_private_end_as_client() -> None:
    """No SYN seen: the higher port is the client's - unless both ports are ephemeral,
    when the one private end (RFC 1918, CGNAT, ULA) is the client (a Stratum V2 pool on
    34255 caught mid-session once made the pool's address the suspect)."""
    from detector.flows import _client_by_port

    def v4(text: str) -> tuple[int, int]:
        a, b, c, d = (int(x) for x in text.split("."))
        return 0, 0x0000FFFF00000000 | (a << 24 | b << 16 | c << 8 | d)

    cases = [  # (A, A port, B, B port, A is the client)
        ("100.70.0.184", 33624, "3.122.187.61", 34255, True),  # CGNAT miner, both ephemeral
        ("3.122.187.61", 34255, "100.70.0.184", 33624, False),
        ("10.0.0.5", 443, "8.8.8.8", 50000, False),  # a private server: the port decides
        ("192.168.1.9", 40000, "172.16.0.1", 50000, False),  # both private: the port decides
        ("8.8.4.4", 40000, "1.1.1.1", 50000, False),  # both public: the port decides
        ("10.1.2.3", 50000, "8.8.8.8", 3333, True),
    ]
    a = [v4(c[0]) for c in cases]
    b = [v4(c[2]) for c in cases]
    got = _client_by_port(
        np.array([c[1] for c in cases]), np.array([c[3] for c in cases]),
        np.array([x[0] for x in a], dtype=np.uint64), np.array([x[1] for x in a], dtype=np.uint64),
        np.array([x[0] for x in b], dtype=np.uint64), np.array([x[1] for x in b], dtype=np.uint64),
    )  # fmt: skip
    assert got.tolist() == [c[4] for c in cases]
    ula, public6 = (0xFD00 << 48, 1), (0x2001 << 48, 1)
    six = _client_by_port(
        np.array([40000]), np.array([50000]),
        np.array([public6[0]], dtype=np.uint64), np.array([1], dtype=np.uint64),
        np.array([ula[0]], dtype=np.uint64), np.array([1], dtype=np.uint64),
    )  # fmt: skip
    assert six.tolist() == [False]  # the ULA end (B) is the client
