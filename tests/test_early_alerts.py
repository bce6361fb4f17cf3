"""Alerts while a miner mines: a cleartext miner is told of at its first mining message.

``scan --as-found`` on a capture arriving through a pipe behaves as ``minewatch live``
does on an interface: open flows are scored as they go (session.py,
``take_checkpoints``), at their job-push checkpoints and when inspection first reads a
mining message ("new evidence", Inspector.take_evidence). For a cleartext miner the
login or subscribe is that message, so the alert must not wait for the pool's next job
(20-340 s later on real pools).
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from datetime import datetime

import dpkt

from tests.conftest import PCAPS, REPO, pcap_records

REAL_MINER = PCAPS / "realset" / "xmrig-rx0-3333.pcap"  # XMRig 6 against a stub pool


def _first_payload_time(records: list[tuple[float, bytes]]) -> float:
    for ts, record in records:
        ip = dpkt.ethernet.Ethernet(record[16:]).data
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP) and ip.data.data:
            return ts
    raise AssertionError("no TCP payload in the capture")


def _alerts_after(proc: subprocess.Popen, seconds: float) -> list[dict]:
    """The alert lines the scan writes within ``seconds``."""
    assert proc.stdout is not None
    lines, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            lines.append(json.loads(proc.stdout.readline()))
    return [e for e in lines if e.get("event_type") == "alert"]


def test_a_cleartext_miner_is_told_of_at_its_first_mining_message() -> None:
    header, records = pcap_records(REAL_MINER)
    first_message = _first_payload_time(records)
    head = [r for ts, r in records if ts <= first_message + 1.0]
    rest = [r for ts, r in records if ts > first_message + 1.0]
    assert len(rest) > 10  # the session goes on for minutes after the first second
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", "scan", "--as-found", "-f", "jsonl", "-q",
         "--model", "none", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    assert proc.stdin is not None
    try:
        proc.stdin.write(header + b"".join(head))
        proc.stdin.flush()
        early = _alerts_after(proc, 4.0)  # the pipe reader hands over within 1 s
        out, err = proc.communicate(b"".join(rest), timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert len(early) == 1, f"no single alert from the miner's first second: {early}"
    alert = early[0]
    assert alert["src_port"] and alert["dest_port"] == 3333
    assert alert["alert"]["metadata"]["mining_dialect"] == ["cryptonote"]
    flow_end = datetime.fromisoformat(alert["flow"]["end"]).timestamp()
    assert flow_end <= first_message + 1.0  # the evidence is the open flow's first second
    later = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert [e for e in later if e.get("event_type") == "alert"] == []  # told once
