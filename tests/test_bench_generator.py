"""The benchmark capture generator (bench/make_capture.py): deterministic, readable by
Wireshark's tools, truthful about its miners, and minewatch finds exactly those miners."""

from __future__ import annotations

import hashlib
import json
import random
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from detector.synth.mix.schedule import PCAP_HEADER
from detector.synth.tcp import Tcp
from tests.conftest import REPO, needs_tool, run_cli
from tests.tcp_wire import run_suricata, suricata_present, tcp_problems

PACKETS = 20_000


def make(out: Path, *args: str) -> dict:
    subprocess.run([sys.executable, "-m", "bench.make_capture", str(out), *args], check=True,
                   cwd=REPO, capture_output=True, timeout=120)
    return json.loads(Path(f"{out}.truth.json").read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tcp_pairs(path: Path) -> set[tuple[str, str, int]]:
    """(src ip, dst ip, dst port) of every TCP packet in an Ethernet/IPv4 pcap."""
    data = path.read_bytes()
    out = set()
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        if frame[12:14] == b"\x08\x00" and frame[23] == 6:
            ihl = (frame[14] & 15) * 4
            dport = struct.unpack_from(">H", frame, 14 + ihl + 2)[0]
            out.add((socket.inet_ntoa(frame[26:30]), socket.inet_ntoa(frame[30:34]), dport))
    return out


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bench") / "mixed.pcap"
    return out, make(out, "--packets", str(PACKETS))


def test_same_arguments_give_identical_bytes(capture, tmp_path) -> None:
    first, truth = capture
    again = tmp_path / "again.pcap"
    assert make(again, "--packets", str(PACKETS)) == truth
    assert sha256(again) == sha256(first)
    other = tmp_path / "other-seed.pcap"
    make(other, "--packets", "2000", "--seed", "2")
    assert sha256(other) != sha256(first)


def test_truth_file_describes_the_capture(capture) -> None:
    _, truth = capture
    assert truth["packets"] == PACKETS
    assert 400 <= truth["duration_s"] <= 900  # ~10 minutes whatever the packet count
    assert truth["miner_ips"] == [m["ip"] for m in truth["miners"]]
    assert truth["mining_flows"] == sum(m["flows"] for m in truth["miners"]) >= 8
    assert len({m["dialect"] for m in truth["miners"]}) >= 3


@needs_tool("capinfos")
def test_capinfos_counts_every_packet(capture) -> None:
    path, _ = capture
    proc = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"Number of packets:   {PACKETS}" in proc.stdout


@needs_tool("tshark")
def test_tshark_reads_every_packet_and_finds_nothing_malformed(capture) -> None:
    path, _ = capture
    proc = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number",
                           "-e", "_ws.malformed", "-e", "tls.handshake.type"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "Running as user" not in ln]
    assert errors == []
    rows = [ln.split("\t") for ln in proc.stdout.splitlines()]
    assert len(rows) == PACKETS
    assert [r for r in rows if r[1]] == []  # no malformed packet (TLS, DNS, NTP, HTTP...)
    assert sum("1" in r[2].split(",") for r in rows) >= 20  # ClientHellos decode as such


def test_truth_miners_talk_to_their_pools_in_the_capture(capture) -> None:
    path, truth = capture
    pairs = tcp_pairs(path)
    for miner in truth["miners"]:
        pool_ip, port = miner["pool"].rsplit(":", 1)
        assert (miner["ip"], pool_ip, int(port)) in pairs, miner


def test_minewatch_finds_exactly_the_truth_miners(capture) -> None:
    path, truth = capture
    result = run_cli("scan", str(path), "-f", "jsonl", "-q")
    assert result.rc == 0, result.err
    suspects = {e["src_ip"] for e in result.events() if e.get("event_type") == "alert"}
    assert suspects == set(truth["miner_ips"])


def test_synscan_probes_distinct_pairs_and_gets_a_reset_for_each(tmp_path) -> None:
    out = tmp_path / "scan.pcap"
    truth = make(out, "--variant", "synscan", "--pairs", "3000")
    assert truth["packets"] == 6000 and truth["distinct_pairs"] == 3000
    pairs = tcp_pairs(out)
    probes = {(d, p) for s, d, p in pairs if s == truth["scanner"]}
    assert len(probes) == 3000
    base = tmp_path / "base.pcap"
    truth = make(base, "--variant", "synscan-1flow", "--pairs", "3000")
    assert truth["packets"] == 6000 and base.stat().st_size == out.stat().st_size


def test_size_mb_writes_about_that_many_bytes(tmp_path) -> None:
    out = tmp_path / "sized.pcap"
    truth = make(out, "--size-mb", "3")
    assert 3_000_000 <= out.stat().st_size < 3_000_000 + 70_000
    assert truth["bytes"] == out.stat().st_size


def test_tcp_is_what_a_stack_sends(capture) -> None:
    """Timestamps echo the peer's latest TSval (the SYN-ACK the SYN's), never go back; ACKs
    cover only what was sent; windows hold what is in flight (tests/tcp_wire.py)."""
    path, _ = capture
    problems, examples = tcp_problems(path)
    assert not problems, examples


def test_the_wire_check_sees_a_wrong_echo(tmp_path) -> None:
    """A handshake whose SYN-ACK echoes something else than the SYN's TSval (what the
    generator wrote before: the client's clock at the SYN-ACK's time) is found."""
    conn = Tcp(random.Random(1), "10.20.0.5", 40000, "192.0.2.9", 3333)
    records = [rec for _, rec in conn.handshake(1_000_000, 30_000)]
    good = tmp_path / "good.pcap"
    good.write_bytes(PCAP_HEADER + b"".join(records))
    assert tcp_problems(good)[0] == {}
    synack = bytearray(records[1])
    tsecr = 16 + 14 + 20 + 20 + 12  # record, Ethernet, IPv4, TCP headers; MSS, SACK+TS, TSval
    synack[tsecr : tsecr + 4] = struct.pack(">I", struct.unpack_from(">I", synack, tsecr)[0] + 30)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(PCAP_HEADER + records[0] + bytes(synack) + records[2])
    assert tcp_problems(bad)[0] == {"tsecr": 1}


@pytest.mark.skipif(not suricata_present(), reason="suricata not installed")
def test_suricata_keeps_every_session_and_its_rules_alert_on_the_stratum_miners(
    capture, tmp_path
) -> None:
    """Suricata 7's stream engine takes the capture's TCP as it comes (no invalid timestamp,
    SYN-ACK, ACK or window event), and the bench's coin-miner rules alert on every Stratum
    and eth-proxy miner of the truth file that opens a connection in the capture, and on no
    other address."""
    path, truth = capture
    run = run_suricata(path, tmp_path / "suricata")
    assert not run.bad_stream_events()
    assert run.stats["tcp"]["synack"] > 0 and run.stats["app_layer"]["flow"]["tls"] > 0
    expected = {
        m["ip"]
        for m in truth["miners"]
        if m["dialect"] in ("stratum-v1", "ethereum-stratum", "eth-proxy")
        and not (m["midsession"] and m["flows"] == 1)
    }
    assert expected
    assert expected <= run.alerted <= set(truth["miner_ips"])
