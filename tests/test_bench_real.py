"""The real-traffic bench input (bench/make_real.py): deterministic, replicas that never
share a flow, valid IPv4 header checksums, TCP/UDP checksums exactly as valid as in the
source, skipped files counted, and miner IPs mapped so that minewatch finds them all.

Runs on a small corpus of a few shared-corpus captures (pcap and pcapng, IPv4 and IPv6,
IP-in-IP tunnels, miners), so that a few thousand packets hold several replicas."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bench.make_real import shift_ip
from tests.conftest import CORPUS, REPO, needs_corpus, needs_tool, run_cli

pytestmark = needs_corpus()

FILES = (
    "ndpi/mining.pcapng",
    "ndpi/bittorrent.pcap",
    "ndpi/dns.pcap",
    "ndpi-suite/4in4tunnel.pcap",
    "ndpi-suite/6in6tunnel.pcap",
    "ndpi-suite/http_ipv6.pcap",
    "ndpi-suite/rdp.pcap",  # link type 0 (BSD loopback): skipped as non-Ethernet
)
MINERS = ("147.229.13.222", "192.168.2.92", "192.168.2.148")


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / rel, root / rel)
    whole = (CORPUS / "ndpi/dns.pcap").read_bytes()
    (root / "ndpi/cut.pcap").write_bytes(whole[:-7])  # truncated: a parse error
    (root / "labels.csv").write_text("file,class,miner_ips\nndpi/mining.pcapng,miner,"
                                     + ";".join(MINERS) + "\n")
    return root


def make(out: Path, corpus: Path, *args: str) -> dict:
    subprocess.run([sys.executable, "-m", "bench.make_real", str(out), "--corpus", str(corpus),
                    *args], check=True, cwd=REPO, capture_output=True, timeout=120)
    return json.loads(Path(f"{out}.truth.json").read_text())


def records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert struct.unpack_from("<IHHiIII", data) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    out, off = [], 24
    while off < len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        out.append(data[off + 16 : off + 16 + incl])
        off += 16 + incl
    assert off == len(data)
    return out


def five_tuple(frame: bytes) -> tuple | None:
    """(proto, src, dst, sport, dport) of an Ethernet frame's outer IP header."""
    off, etype = 14, frame[12] << 8 | frame[13]
    while etype == 0x8100:
        etype, off = frame[off + 2] << 8 | frame[off + 3], off + 4
    if etype == 0x0800 and len(frame) >= off + 20:
        proto, src, dst = frame[off + 9], frame[off + 12 : off + 16], frame[off + 16 : off + 20]
        l4 = off + (frame[off] & 15) * 4
    elif etype == 0x86DD and len(frame) >= off + 40:
        proto, src, dst = frame[off + 6], frame[off + 8 : off + 24], frame[off + 24 : off + 40]
        l4 = off + 40
    else:
        return None
    ports = struct.unpack_from(">HH", frame, l4) if proto in (6, 17) and len(frame) >= l4 + 4 \
        else (0, 0)
    return (proto, src, dst, *ports)


@pytest.fixture(scope="module")
def built(mini, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("real") / "real.pcap"
    probe = make(out, mini, "--packets", "1", "--seed", "0")
    per = probe["packets_per_replica"]
    truth = make(out, mini, "--packets", str(4 * per), "--seed", "0")
    return out, truth


def test_files_used_and_skipped(built) -> None:
    _, truth = built
    assert truth["files_used"] == len(FILES) - 1
    assert {(s["file"], s["reason"]) for s in truth["skipped"]} == {
        ("ndpi-suite/rdp.pcap", "non-ethernet"), ("ndpi/cut.pcap", "parse-error")}
    assert truth["replicas"] == truth["complete_replicas"] == 4
    assert truth["packets"] == 4 * truth["packets_per_replica"]
    assert [f["file"] for f in truth["files"]] == sorted(f for f in FILES if "rdp" not in f)


def test_deterministic(built, mini, tmp_path) -> None:
    first, truth = built
    again = tmp_path / "again.pcap"
    assert make(again, mini, "--packets", str(truth["packets"]), "--seed", "0") == truth
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(
        first.read_bytes()).digest()
    other = tmp_path / "other.pcap"
    shuffled = make(other, mini, "--packets", str(truth["packets"]), "--seed", "3")
    assert [f["file"] for f in shuffled["files"]] != [f["file"] for f in truth["files"]]
    assert sorted(records(other)) == sorted(records(first))  # same packets, another order


def test_replicas_are_distinct_flows(built) -> None:
    path, truth = built
    frames = records(path)
    per = truth["packets_per_replica"]
    tuples = [five_tuple(f) for f in frames]
    one = {t for t in tuples[:per] if t}
    assert len(one) > 50
    for r in range(1, truth["replicas"]):
        assert len({t for t in tuples[: (r + 1) * per] if t}) == (r + 1) * len(one)
    # replica 0 keeps the original addresses and bytes, but for IPv4 header checksums
    source = [_no_ip_sum(f) for f in records(CORPUS / "ndpi/bittorrent.pcap")]
    assert set(source) <= {_no_ip_sum(f) for f in frames[:per]}
    assert not set(source) & {_no_ip_sum(f) for f in frames[per:]}


def _no_ip_sum(frame: bytes) -> bytes:
    """The frame with the checksum of an untagged IPv4 header zeroed."""
    return frame[:24] + b"\0\0" + frame[26:] if frame[12:14] == b"\x08\x00" else frame


def test_last_replica_is_cut(mini, tmp_path) -> None:
    truth = make(tmp_path / "cut.pcap", mini, "--packets", "700", "--seed", "0")
    assert truth["packets"] == 700 and truth["complete_replicas"] == 700 // truth[
        "packets_per_replica"]
    assert len(records(tmp_path / "cut.pcap")) == 700


def _ipv4_header_ok(frame: bytes) -> bool | None:
    off, etype = 14, frame[12] << 8 | frame[13]
    while etype == 0x8100:
        etype, off = frame[off + 2] << 8 | frame[off + 3], off + 4
    if etype != 0x0800 or len(frame) < off + 20:
        return None
    ihl = (frame[off] & 15) * 4
    total = sum(struct.unpack_from(f">{ihl // 2}H", frame, off))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def test_ipv4_header_checksums_valid(built) -> None:
    path, _ = built
    checked = [_ipv4_header_ok(f) for f in records(path)]
    assert checked.count(True) > 1000 and checked.count(False) == 0


@needs_tool("tshark")
def test_checksums_as_valid_as_the_source(built) -> None:
    """tshark with every checksum check on: no bad IPv4 header, and each replica has the
    same number of good and bad TCP/UDP/ICMPv6 checksums as replica 0."""
    path, truth = built
    per = truth["packets_per_replica"]
    fields = ("ip.checksum.status", "tcp.checksum.status", "udp.checksum.status",
              "icmpv6.checksum.status")
    cmd = ["tshark", "-r", str(path), "-o", "ip.check_checksum:TRUE", "-o",
           "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-T", "fields",
           "-E", "occurrence=l", "-e", "frame.number", *[x for f in fields for x in ("-e", f)]]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    counts: dict[tuple[int, str, str], int] = {}
    for line in out.splitlines():
        number, *status = line.split("\t")
        replica = (int(number) - 1) // per
        for name, value in zip(fields, status, strict=True):
            if value:
                key = (replica, name, value)
                counts[key] = counts.get(key, 0) + 1
    assert not any(name == "ip.checksum.status" and value == "0"
                   for _, name, value in counts)  # 0 = bad
    assert counts[(0, "tcp.checksum.status", "1")] > 100
    for r in range(1, truth["replicas"]):
        assert {k[1:]: v for k, v in counts.items() if k[0] == r} == \
            {k[1:]: v for k, v in counts.items() if k[0] == 0}


def test_miners_mapped_and_found(built) -> None:
    path, truth = built
    want = {shift_ip(ip, r) for ip in MINERS for r in range(truth["replicas"])}
    assert set(truth["miner_ips"]) == want and len(want) == 3 * truth["replicas"]
    assert shift_ip("192.168.2.92", 1) == "192.169.2.92"
    assert shift_ip("fe80::1", 2) == "fe80:2::1"
    res = run_cli("scan", str(path), "-f", "jsonl", "-q")
    assert res.rc == 0, res.err
    assert {e["src_ip"] for e in res.events()} == want


def test_same_hosts_replicas_repeat_the_traffic_later(built, mini, tmp_path) -> None:
    """--same-hosts (bench.scale's size-only series): every replica carries replica 0's
    frames byte for byte, one replica period (its span and MAX_GAP, past every idle
    timeout) later, so its miners are the same IPs, and minewatch finds those."""
    _, truth = built
    per = truth["packets_per_replica"]
    path = tmp_path / "same.pcap"
    same = make(path, mini, "--packets", str(3 * per), "--seed", "0", "--same-hosts")
    assert same["variant"] == "real-same-hosts" and same["replicas"] == 3
    frames = records(path)
    assert frames[per : 2 * per] == frames[:per] == frames[2 * per :]
    data, stamps, off = path.read_bytes(), [], 24
    while off < len(data):
        stamps.append(struct.unpack_from("<I", data, off)[0])
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    period = round(same["replica_period_s"])
    assert period == round(same["replica_span_s"]) + 900  # MAX_GAP
    assert all(abs(stamps[i + per] - stamps[i] - period) <= 1 for i in range(2 * per))
    assert {m["ip"] for m in same["miners"]} == set(same["miner_ips"]) == set(MINERS)
    assert sorted({m["replica"] for m in same["miners"]}) == [0, 1, 2]
    res = run_cli("scan", str(path), "-f", "jsonl", "-q")
    assert res.rc == 0, res.err
    assert {e["src_ip"] for e in res.events()} == set(MINERS)
