"""Classic pcap record lengths read as libpcap reads them, checked against tcpdump.

A record header holds the captured and the wire length; files before version 2.3 (and
DG/UX's 543.0) hold the wire length first, and 2.3 files come both ways (the smaller is the
captured one). A captured length over 262,144 bytes is damage: libpcap stops there
("invalid packet capture length"), and so does minewatch. The corpus's
fuzz-2021-10-13.pcap, a version 2.0 file, is read as tcpdump reads it: one packet of 197
captured bytes (wire length 524,501), then a record header cut short."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from detector.errors import CorruptCapture
from detector.source import expand_inputs, read_capture
from detector.source.walk import LENGTHS_IN_ORDER, LENGTHS_SWAPPED, pcap_lengths
from tests.conftest import CORPUS, PCAPS, REPO, needs_corpus, needs_tool, run_cli

pytestmark = needs_tool("tcpdump")

MINER = PCAPS / "cryptonote-xmrig.pcap"  # little-endian, version 2.4; one XMRig miner
MINER_IP = "10.1.3.14"
FUZZ = CORPUS / "ndpi-suite" / "fuzz-2021-10-13.pcap"


def _versioned(data: bytes, major: int, minor: int, swap_every: int) -> bytes:
    """``data`` (a little-endian 2.4 pcap) as version major.minor: every record claims 60
    wire bytes more than it holds (so the order of the two lengths matters), written wire
    length first in every ``swap_every``-th record."""
    out = bytearray(data[:24])
    struct.pack_into("<HH", out, 4, major, minor)
    off, i = 24, 0
    while off + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, off)
        wirelen = caplen + 60
        first, second = (wirelen, caplen) if i % swap_every == 0 else (caplen, wirelen)
        out += struct.pack("<IIII", sec, frac, first, second) + data[off + 16 : off + 16 + caplen]
        off += 16 + caplen
        i += 1
    return bytes(out)


def _tcpdump_copy(src: Path, dst: Path) -> subprocess.CompletedProcess:
    """What tcpdump reads of ``src``, written as a version 2.4 pcap."""
    return subprocess.run(["tcpdump", "-n", "-r", str(src), "-w", str(dst)],
                          capture_output=True, text=True, timeout=60)


def _records(path: Path) -> list[tuple[int, int, bytes]]:
    """(captured length, wire length, data) of each record minewatch reads."""
    found = []
    (cap,) = expand_inputs([str(path)])
    _, batches = read_capture(cap)
    try:
        for rb in batches:
            for k in range(len(rb)):
                start, n = int(rb.data_off[k]), int(rb.caplen[k])
                found.append((n, int(rb.wirelen[k]), bytes(rb.buf[start : start + n])))
    except CorruptCapture:  # damage after the records: the caller looks at what came before
        pass
    return found


def _run(pure: bool, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_PURE"}
    if pure:
        env["MINEWATCH_PURE"] = "1"
    return subprocess.run([sys.executable, "-m", "detector", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=120)


def test_length_order_by_version() -> None:
    assert pcap_lengths(2, 4) == LENGTHS_IN_ORDER and pcap_lengths(2, 2) == LENGTHS_SWAPPED


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure"])
@pytest.mark.parametrize("version,swap_every", [((2, 2), 1), ((2, 0), 1), ((543, 0), 1),
                                                ((2, 3), 1), ((2, 3), 3)])
def test_old_versions_are_read_as_tcpdump_reads_them(
    tmp_path: Path, version: tuple[int, int], swap_every: int, pure: bool
) -> None:
    old = tmp_path / "old.pcap"
    old.write_bytes(_versioned(MINER.read_bytes(), *version, swap_every))
    copy = tmp_path / "tcpdump.pcap"
    done = _tcpdump_copy(old, copy)
    assert done.returncode == 0, done.stderr
    ours, theirs = _records(old), _records(copy)
    assert len(ours) > 20 and ours == theirs
    assert all(wire == n + 60 for n, wire, _ in ours)
    flows = [_run(pure, "flows", "--all", str(p)) for p in (old, copy)]
    assert flows[0].returncode == flows[1].returncode == 0, flows[0].stderr
    assert flows[0].stdout == flows[1].stdout
    scans = [_run(pure, "scan", "-f", "jsonl", "-q", str(p)) for p in (old, copy)]
    assert scans[0].stdout == scans[1].stdout
    assert {json.loads(line)["src_ip"] for line in scans[0].stdout.splitlines()} == {MINER_IP}


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "pure"])
def test_a_record_over_the_limit_stops_the_file_as_libpcap_does(tmp_path: Path, pure: bool) -> None:
    """A 300,000-byte record that the file holds whole: libpcap 1.10 stops there (tcpdump:
    "invalid packet capture length 300000, bigger than snaplen of 262144", exit 1); so
    does minewatch, keeping what came before it."""
    data = MINER.read_bytes()
    first_end = 24 + 16 + struct.unpack_from("<I", data, 24 + 8)[0]
    big = struct.pack("<IIII", 1, 0, 300_000, 300_000) + b"\x00" * 300_000
    path = tmp_path / "big.pcap"
    path.write_bytes(data[:first_end] + big + data[first_end:])
    copy = tmp_path / "tcpdump.pcap"
    done = _tcpdump_copy(path, copy)
    assert done.returncode == 1 and "invalid packet capture length 300000" in done.stderr
    assert len(_records(copy)) == 1
    result = _run(pure, "scan", "-f", "jsonl", str(path))
    assert result.returncode == 2
    assert (f"record claims 300000 captured bytes (limit 262144) at byte offset {first_end}"
            in result.stderr)
    assert "minewatch: 1 packets" in result.stderr and "Traceback" not in result.stderr


@needs_corpus()
def test_the_fuzz_capture_gives_what_tcpdump_reads(tmp_path: Path) -> None:
    copy = tmp_path / "tcpdump.pcap"
    done = _tcpdump_copy(FUZZ, copy)
    assert done.returncode == 1
    assert "truncated dump file; tried to read 16 header bytes, only got 2" in done.stderr
    ((caplen, wirelen, data),) = _records(FUZZ)
    assert (caplen, wirelen) == (197, 524501)
    assert _records(copy) == [(caplen, wirelen, data)]
    result = run_cli("scan", "-f", "jsonl", str(FUZZ))
    assert result.rc == 2 and result.out == ""
    assert "truncated record header at byte offset 237" in result.err
    assert "minewatch: 1 packets" in result.err


def test_the_known_unread_helpers_work_with_an_empty_list(monkeypatch) -> None:
    """KNOWN_UNREAD only shrinks; once empty, a corpus run must simply succeed."""
    from tests import conftest

    monkeypatch.setattr(conftest, "KNOWN_UNREAD", {})
    assert conftest.known_unread_present() == {}
    conftest.assert_only_known_unread(0, "minewatch: 10 packets\n")
    with pytest.raises(AssertionError):
        conftest.assert_only_known_unread(2, f"minewatch: error: {FUZZ}: truncated record header")
    assert not conftest.is_known_unread(FUZZ, "truncated record header")
