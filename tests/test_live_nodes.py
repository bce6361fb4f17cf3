"""Crypto-node sightings and the site's node policy in ``minewatch live`` (issue 20).

No network namespaces: ``live --capture tcpdump`` reads a pcap stream from the tcpdump it
starts (source/tcpdump.py), so a ``tcpdump`` first on PATH that writes a capture file to
its stdout - the stream ``tcpdump -w -`` writes - feeds real captures through the whole
sensor, as a mirror port would, CLI to sinks. The capture: a Chia full node peering
(pcaps/realset/chia-node-peering-8444.pcap) and an XMRig pool miner (xmrig-rx0-3333.pcap,
moved into the node's hour), one stream in time order.
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from detector import live
from detector.config import Detector, ScanConfig
from detector.live import run_workers
from detector.nodehosts import MAX_NODE_ENTRIES, NodeTable
from detector.session import CaptureSession
from detector.sinks.common import CATEGORY, NODE_CATEGORY
from detector.sinks.store import SuspectStore
from detector.source.batch import RecordBatch
from detector.source.inputs import CaptureInput, read_capture
from detector.source.livestats import CaptureCounters
from tests.conftest import PCAPS, REPO, eve_errors, meta, pcap_records, run_cli

NODE = PCAPS / "realset" / "chia-node-peering-8444.pcap"
POOL = PCAPS / "realset" / "xmrig-rx0-3333.pcap"
NODE_IP, MINER_IP = "10.213.204.2", "10.213.0.2"


def _stream(tmp_path: Path) -> Path:
    """The miner's and the node's records as one capture, in time order, the miner's
    moved to start 5 s after the node's: both hosts in one suppression window."""
    header, node = pcap_records(NODE)
    _, pool = pcap_records(POOL)
    shift = int(node[0][0] - pool[0][0]) + 5
    moved = [
        (ts + shift, struct.pack("<I", struct.unpack_from("<I", r)[0] + shift) + r[4:])
        for ts, r in pool
    ]
    records = sorted(node + moved, key=lambda tr: tr[0])
    path = tmp_path / "node-and-miner.pcap"
    path.write_bytes(header + b"".join(r for _, r in records))
    return path


def _live(tmp_path: Path, capture: Path, *args: str) -> tuple[list[dict], str]:
    """Run ``live --capture tcpdump`` on ``capture`` (a fake tcpdump that writes it to
    the pipe and ends: the sensor stops as when its source ends); its EVE lines."""
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    tcpdump = fake / "tcpdump"
    tcpdump.write_text('#!/bin/sh\nexec cat "$MW_REPLAY"\n')
    tcpdump.chmod(0o755)
    eve = tmp_path / "eve.json"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "MW_REPLAY": str(capture)}
    result = subprocess.run(
        [sys.executable, "-m", "detector", "live", "-i", "replay0", "--capture", "tcpdump",
         "--model", "none", "--health", "0", "--eve", str(eve), *args],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in eve.read_text().splitlines() if line.strip()]
    return events, result.stderr


def test_live_tells_a_node_host_once_as_scan_does_to_eve_and_syslog(tmp_path: Path) -> None:
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(5)
    port = collector.getsockname()[1]
    capture = _stream(tmp_path)
    events, err = _live(tmp_path, capture, "--syslog", f"udp:127.0.0.1:{port}")
    try:
        messages = [collector.recv(65536).decode() for _ in events]
    finally:
        collector.close()
    assert all(eve_errors(e) == [] for e in events), [eve_errors(e) for e in events]
    nodes = [e for e in events if e["alert"]["category"].startswith("Crypto Currency Node")]
    miners = [e for e in events if meta(e, "mining_role")]
    assert [(e["src_ip"], meta(e, "node_protocol")) for e in nodes] == [(NODE_IP, ["chia"])]
    assert [(e["src_ip"], meta(e, "mining_role")) for e in miners] == [
        (MINER_IP, ["pool-miner"])
    ]
    assert len(events) == 2  # each told once
    assert "1 suspects told" in err and "1 crypto nodes told" in err, err
    # the node alert is the one scan writes for the same capture
    scan = run_cli("scan", "-f", "jsonl", "-q", "--model", "none", str(capture))
    assert scan.rc == 0, scan.err
    assert scan.events("node") == nodes
    # syslog carries the same events (the EVE line is the message)
    assert sorted(json.loads(m.split(" - ", 1)[1])["src_ip"] for m in messages) == sorted(
        [NODE_IP, MINER_IP]
    )


def test_the_node_policy_from_the_config_file_makes_the_node_a_stored_suspect(
    tmp_path: Path,
) -> None:
    """``nodes-as-suspects = true`` in the TOML config, as ``--nodes-as-suspects``: the
    node host is a suspect of role crypto-node (no informational node alert), alerted once,
    and the store keeps it with its node protocols."""
    config = tmp_path / "minewatch.toml"
    db = tmp_path / "suspects.db"
    config.write_text(f'[live]\nnodes-as-suspects = true\ndb = "{db}"\n')
    events, _ = _live(tmp_path, _stream(tmp_path), "--config", str(config))
    assert all(eve_errors(e) == [] for e in events)
    assert [(e["src_ip"], meta(e, "mining_role")) for e in events] == [
        (MINER_IP, ["pool-miner"]),
        (NODE_IP, ["crypto-node"]),
    ]
    (node,) = [e for e in events if e["src_ip"] == NODE_IP]
    assert meta(node, "mining_node_protocol") == ["chia"]
    with SuspectStore.open(str(db), create=False) as store:
        rows = {row["ip"]: row for row in store.query()}
    assert rows[NODE_IP]["role"] == "crypto-node" and rows[NODE_IP]["nodes"] == ["chia"]
    assert rows[NODE_IP]["sensor"] == "replay0" and rows[MINER_IP]["role"] == "pool-miner"


def test_a_retired_window_gives_its_node_entries_back() -> None:
    """A sensor's node table forgets windows that are over (NodeTable.retire) and their
    entries return to the budget: weeks of running stay bounded."""
    config = ScanConfig(model=None)
    session = CaptureSession("node", config, Detector.load(config))
    _, batches = read_capture(CaptureInput(str(NODE), "?", False, 0.0))
    for batch in batches:
        session.feed(batch)
    table: NodeTable = session.finish().nodes
    assert table.hosts() and table.budget.left < MAX_NODE_ENTRIES
    (index,) = {key[3] for key in table.pairs}
    table.retire(index)  # its own window is not over: nothing goes
    assert [h.ip for h in table.hosts()] == [NODE_IP]
    table.retire(index + 1)
    assert table.hosts() == [] and not table.pairs and not table.hints
    assert table.budget.left == MAX_NODE_ENTRIES


class _FileSource:
    """A live source that reads a capture file (each worker reads all of it)."""

    kind = "file"

    def __init__(self, path: Path, chunk: int = 1 << 20) -> None:
        self.path, self.chunk, self.packets = path, chunk, 0

    def batches(self, max_wait: float) -> Iterator[RecordBatch]:
        for batch in read_capture(CaptureInput(str(self.path), "?", False, 0.0), self.chunk)[1]:
            self.packets += len(batch)
            yield batch

    def counters(self) -> CaptureCounters:
        return CaptureCounters(packets=self.packets)

    def close(self) -> None:
        pass


class _Events:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def event(self, event: dict) -> None:
        self.events.append(event)

    def health(self, line: str) -> None:
        pass

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_workers_tell_a_node_once_apart_from_the_miner(tmp_path: Path) -> None:
    """With ``--workers`` the parent tells each node host once per (IP, protocol, window)
    across workers, and a node alert never silences a suspect alert (live.run_workers):
    two workers that both see the whole stream give one node and one miner alert."""
    capture = _stream(tmp_path)
    config = ScanConfig(model=None)
    sink = _Events()
    report = run_workers(
        2, lambda: _FileSource(capture), "w", config, Detector.load(config), [sink], None,
        0.0, False, None, io.StringIO(),
    )  # fmt: skip
    assert report.error is None
    assert [(e["src_ip"], e["alert"]["category"]) for e in sink.events] == [
        (MINER_IP, CATEGORY),
        (NODE_IP, NODE_CATEGORY),
    ]
    assert (report.suspects_told, report.nodes_told) == (1, 1)


def test_node_hosts_are_told_as_windows_pass_once_each_as_scan_windows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sensor reads its node table as it goes (NODE_EVERY) and retires windows that
    are over (STORE_EVERY), here after every batch, with one-minute windows over the
    node's five minutes: one node alert per window scan reports, none twice - the
    peering connection that outlasts its window (a late flow of a retired window, its
    host told in the windows since) is not told again - and only two windows of node
    pairs are held at the end."""
    monkeypatch.setattr(live, "NODE_EVERY", 0.0)
    monkeypatch.setattr(live, "STORE_EVERY", 0.0)
    config = ScanConfig(model=None, window=60.0)
    config.flow.udp_idle_timeout = 30.0  # its DNS flows end before their window retires
    sink = _Events()
    sensor = live.LiveSensor(
        "n", _FileSource(NODE, 1 << 14), config, Detector.load(config), [sink], health_every=0
    )
    report = sensor.run()
    scan = run_cli("scan", "-f", "jsonl", "-q", "--model", "none", "--window", "60",
                   "--udp-idle-timeout", "30", str(NODE))  # fmt: skip
    assert scan.rc == 0, scan.err
    windows = [(e["src_ip"], e["timestamp"]) for e in scan.events("node")]
    assert len(windows) == 7
    assert [(e["src_ip"], e["timestamp"]) for e in sink.events] == windows
    assert report.nodes_told == 7 and all(eve_errors(e) == [] for e in sink.events)
    # held: the last two windows, and the peering's first (it ended at the stop)
    index = [int(datetime.fromisoformat(t).timestamp() // 60) for _, t in windows]
    held = {key[3] for key in sensor.session.analysis.nodes.pairs}
    assert held == {index[0], index[-2], index[-1]}
