"""One capture split by flow across workers (``scan -j N FILE``, parallel.scan_split) gives
exactly what one session gives: the same alerts, suspects, node sightings, flow log and
summary, byte for byte."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np
import pytest

from detector import fanout
from detector.config import Detector, ScanConfig
from detector.decode import DecodeRows, decode
from detector.dissect.triage import DNS_PORTS
from detector.parallel import merge_shares
from detector.replay import scan_chain
from detector.source import expand_inputs, read_capture
from tests.conftest import CORPUS, PCAPS, run_cli

# Corpus captures with DNS, TLS and tunnels (VXLAN, Teredo, 4in4, 6in6, GTP-C), a node.
CORPUS_PICKS = (
    "ndpi-suite/vxlan.pcap", "ndpi-suite/teredo.pcap", "ndpi-suite/4in4tunnel.pcap",
    "ndpi-suite/6in6tunnel.pcap", "ndpi-suite/gtp_c.pcap", "ndpi-suite/dns-exf.pcap",
    "ndpi-suite/bad-dns-traffic.pcap", "ndpi-suite/dns_long_domainname.pcap",
    "ndpi/dns.pcap", "ndpi/443-firefox.pcap", "ndpi/bitcoin.pcap",
    "zeek/bitcoin-mining-in-progress.pcap",
)  # fmt: skip


def _records(path: Path) -> tuple[int, list[tuple[float, bytes]]] | None:
    """(link type, [(time, record header and data)]) of a classic pcap, times as seconds."""
    data = path.read_bytes()
    magic = data[:4]
    order = {b"\xd4\xc3\xb2\xa1": ("<", 1e-6), b"\xa1\xb2\xc3\xd4": (">", 1e-6),
             b"\x4d\x3c\xb2\xa1": ("<", 1e-9), b"\xa1\xb2\x3c\x4d": (">", 1e-9)}.get(magic)  # fmt: skip
    if order is None:
        return None
    e, unit = order
    link = struct.unpack(e + "I", data[20:24])[0]
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, frac, cap, wire = struct.unpack(e + "IIII", data[pos : pos + 16])
        body = data[pos + 16 : pos + 16 + cap]
        out.append((sec + frac * unit, struct.pack("<II", cap, wire) + body))
        pos += 16 + cap
    return link, out


def _merged(paths: list[Path], out: Path) -> Path:
    """One Ethernet capture of the packets of ``paths``, each file moved to start 10 ms
    after the one before and all of them interleaved by time: their flows are open at
    once, as on one link."""
    packets: list[tuple[float, int, bytes]] = []
    for n, path in enumerate(paths):
        found = _records(path)
        if found is None or found[0] != 1 or not found[1]:
            continue
        start = min(ts for ts, _ in found[1])
        packets += [(1_700_000_000 + n * 0.01 + ts - start, n, rec) for ts, rec in found[1]]
    packets.sort(key=lambda p: (p[0], p[1]))
    with out.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for ts, _, rec in packets:
            usec = round(ts * 1e6)
            fh.write(struct.pack("<II", usec // 1_000_000, usec % 1_000_000) + rec)
    return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    picks = sorted(PCAPS.glob("*.pcap"))
    picks += [CORPUS / name for name in CORPUS_PICKS if (CORPUS / name).is_file()]
    return _merged(picks, tmp_path_factory.mktemp("split") / "mixed.pcap")


@pytest.mark.parametrize(
    "command",
    [["scan", "-f", "jsonl", "--eve-extended"], ["flows"]],
    ids=["jsonl", "flows"],
)
def test_split_equals_one_session(mixed: Path, command: list[str]) -> None:
    serial = run_cli(*command, "-j", "1", str(mixed))
    split = run_cli(*command, "-j", "2", "--split-from", "0", str(mixed))
    assert serial.rc == split.rc == 0, serial.err + split.err
    assert split.out == serial.out
    assert len(serial.out.splitlines()) > 20
    # the summary (packets, flows, suspects, skipped) is the same too, but for the time
    assert _untimed(split.err) == _untimed(serial.err)


def test_rotated_chain_split(mixed: Path, tmp_path: Path) -> None:
    """A capture cut into rotated files is split as one stream: a file that goes on from
    the one before stays in its session, one that starts an hour later starts another
    (two sessions per worker, put together in order)."""
    found = _records(mixed)
    assert found is not None
    records = found[1]
    third = len(records) // 3
    parts = [records[:third], records[third : 2 * third], records[2 * third :]]
    for n, part in enumerate(parts):
        name = "cut.pcap" if n == 0 else f"cut.pcap{n}"
        with (tmp_path / name).open("wb") as fh:
            fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
            for ts, rec in part:
                usec = round((ts + (3600 if n == 2 else 0)) * 1e6)
                fh.write(struct.pack("<II", usec // 1_000_000, usec % 1_000_000) + rec)
    args = ["scan", "-f", "jsonl", str(tmp_path)]
    serial = run_cli(*args, "-j", "1")
    split = run_cli(*args, "-j", "2", "--split-from", "0")
    assert serial.rc == split.rc == 0, serial.err + split.err
    assert "1 rotated files read on" in serial.err
    assert split.out == serial.out
    assert _untimed(split.err) == _untimed(serial.err)


def _untimed(err: str) -> list[str]:
    return [line.split(" in ")[0] + line.partition("packets/s)")[2] for line in err.splitlines()]


def test_a_full_table_is_scanned_again(mixed: Path) -> None:
    """With a flow table too small for the capture's flows, one session evicts flows that
    depend on every flow: the split run notices and gives one session's result."""
    args = ["scan", "-f", "jsonl", "--max-flows", "64", "--max-inspected", "16", str(mixed)]
    serial = run_cli(*args, "-j", "1")
    split = run_cli(*args, "-j", "2", "--split-from", "0")
    assert "evicted" in serial.err
    assert split.out == serial.out
    assert _untimed(split.err) == _untimed(serial.err)


def _owners_of(path: Path, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owner, DNS mark and source port of every packet of a capture's first batch."""
    cap = expand_inputs([str(path)])[0]
    stream, batches = read_capture(cap, ScanConfig().chunk_size, None)
    try:
        pb, _ = decode(next(iter(batches)), DecodeRows())
        return fanout.owners(pb, count), fanout.on_ports(pb, DNS_PORTS), pb.sport.copy()
    finally:
        stream.close()


def test_passive_dns_crosses_workers() -> None:
    """A pool's name answered in a DNS flow enriches the miner's flow when another worker
    holds it: every worker keeps passive DNS with every DNS flow (the shadow)."""
    path = PCAPS / "gpu-etc-ethstratum-2miners.pcap"
    config = dataclasses.replace(ScanConfig(), split_from=0)
    detector = Detector.load(config)
    chain = expand_inputs([str(path)])
    for count in range(2, 9):  # a worker count that puts the DNS flow apart from the miner's
        owner, dns, _ = _owners_of(path, count)
        asked, mined = set(owner[dns].tolist()), set(owner[~dns].tolist())
        if len(asked) == len(mined) == 1 and asked != mined:
            break
    else:
        pytest.fail("no worker count splits the DNS flow from the miner's")
    parts = [
        scan_chain(chain, dataclasses.replace(config, share=(i, count)), detector)[0]
        for i in range(count)
    ]
    miner_worker = int(owner[~dns][0])
    tagged = parts[miner_worker].share.tagged
    assert tagged, "the miner's worker has the miner's verdict"
    names = {n for *_, v in tagged for n in (v.record.facts.dns_names or [])}
    assert "etc.2miners.com" in names
    merged = merge_shares(parts, config)
    one = scan_chain(chain, config, detector)[0]
    assert merged is not None
    assert [s.ip for s in merged.suspects.stream()] == [s.ip for s in one.suspects.stream()]


def test_tunnel_packets_go_with_their_carrier() -> None:
    """The packets inside a tunnel go where their outermost carrier's addresses send them,
    so an inner flow's layers are read in its worker, whichever carrier ports it used."""
    path = CORPUS / "ndpi-suite" / "vxlan.pcap"
    if not path.is_file():
        pytest.skip("../shared/corpus missing")
    cap = expand_inputs([str(path)])[0]
    stream, batches = read_capture(cap, ScanConfig().chunk_size, None)
    try:
        pb, _ = decode(next(iter(batches)), DecodeRows())
    finally:
        stream.close()
    assert pb.parent is not None and (pb.parent >= 0).any()
    for count in (2, 3, 5):
        owner = fanout.owners(pb, count)
        inner = np.flatnonzero(pb.parent >= 0)
        assert (owner[inner] == owner[pb.parent[inner]]).all()
        mine = owner == 0
        part = fanout.subset(pb, mine)
        if part.parent is not None:
            kept = np.flatnonzero(part.parent >= 0)
            assert (part.src_lo[part.parent[kept]] == pb.src_lo[pb.parent[np.flatnonzero(mine)[kept]]]).all()


@pytest.mark.skipif(fanout.fast is None, reason="compiled helpers not built")
def test_compiled_owners_equal_numpy() -> None:
    """fanout_owners (detector/csrc/flow.c) gives what its numpy twin gives, tunnels included."""
    paths = [PCAPS / "mixed-two-miners-benign.pcap", PCAPS / "ethstratum-trex-qinq.pcap"]
    paths += [CORPUS / name for name in CORPUS_PICKS[:5] if (CORPUS / name).is_file()]
    seen_tunnel = False
    for path in paths:
        cap = expand_inputs([str(path)])[0]
        stream, batches = read_capture(cap, ScanConfig().chunk_size, None)
        try:
            for batch in batches:
                pb, _ = decode(batch, DecodeRows())
                seen_tunnel |= pb.parent is not None
                for count in (1, 2, 3, 7):
                    expected = fanout._owners_numpy(pb, count)
                    assert (fanout.owners(pb, count) == expected).all(), path
        finally:
            stream.close()
    assert seen_tunnel or not CORPUS.is_dir()
