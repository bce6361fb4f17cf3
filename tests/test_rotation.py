"""Rotated files of one capture stream are read as one stream: a connection that goes on
from one file into the next is one flow, counted once - serially and with -j alike; files
of different captures are never joined (source/rotation.py, replay.scan_chain)."""

from __future__ import annotations

import functools
import getpass
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from detector.config import Detector, ScanConfig
from detector.pipeline import ScanResult, run_scan
from detector.source import expand_inputs
from detector.source.rotation import join_rotations, rotation_name
from tests.conftest import CORPUS, PCAPS, meta, needs_corpus, needs_tool, pcap_records, run_cli

MINER = PCAPS / "realset" / "xmrig-rx0-3333.pcap"  # one XMRig connection for 330 s, recorded
BIG = CORPUS / "ndpi-suite" / "1kxun.pcap"  # 2.5 MB of real traffic: three files at -C 1
JOINED = "rotated files read on from the file before them"


@pytest.mark.parametrize(
    ("name", "stem", "fields"),
    [
        ("eth0.pcap", "eth0.pcap", (0,)),  # tcpdump -C: the first file, then a counter
        ("eth0.pcap1", "eth0.pcap", (1,)),
        ("eth0.pcap12", "eth0.pcap", (12,)),
        ("eth0.pcap3.gz", "eth0.pcap", (3,)),
        ("trace", "trace", (0,)),
        ("trace7", "trace", (7,)),  # -W: trace0 ... trace9
        ("eth0-20240105-120500.pcap", "eth0-#8-#6.pcap", (20240105, 120500, 0)),  # -G
        ("eth1-20240105-120500.pcap", "eth1-#8-#6.pcap", (20240105, 120500, 0)),
        ("2024-01-05_12-05.pcap", "#4-#2-#2_#2-#2.pcap", (2024, 1, 5, 12, 5, 0)),
        ("ring_00012_20240105120500.pcapng", "ring_#5_#14.pcapng", (12, 20240105120500, 0)),
        ("cap-1704456300.pcap", "cap-#10.pcap", (1704456300, 0)),
        # not a time nor a padded counter: part of the stem (ports, sensor numbers)
        ("poll-443.pcap", "poll-443.pcap", (0,)),
        ("poll-3333.pcap", "poll-3333.pcap", (0,)),
        ("sensor-1.pcap", "sensor-1.pcap", (0,)),
        ("x.pcap.1", "x.pcap.1", (0,)),  # logrotate numbers backwards: not a rotation
    ],
)
def test_rotation_names(name: str, stem: str, fields: tuple[int, ...]) -> None:
    assert rotation_name(name) == (stem, fields)


@needs_corpus()
@needs_tool("tcpdump")
def test_tcpdump_rotation_is_read_as_one_capture(tmp_path: Path) -> None:
    """tcpdump -C 1 cuts a real capture into 1kxun.pcap, 1kxun.pcap1, 1kxun.pcap2: read
    as one stream they give the whole capture's flows, each once; with -j too."""
    subprocess.run(["tcpdump", "-r", str(BIG), "-w", str(tmp_path / "1kxun.pcap"), "-C", "1",
                    "-Z", getpass.getuser()], check=True, capture_output=True)
    parts = sorted(p.name for p in tmp_path.iterdir())
    assert parts == ["1kxun.pcap", "1kxun.pcap1", "1kxun.pcap2"]
    other = str(PCAPS / "cryptonote-xmrig.pcap")  # a second chain, so that -j 2 forks
    whole = run_cli("flows", "-j", "1", str(BIG), other)
    joined = run_cli("flows", "-j", "2", str(tmp_path), other)
    assert whole.rc == joined.rc == 0, joined.err
    assert len(whole.out.splitlines()) > 50
    assert joined.out == whole.out  # the same flows, with the same facts and counters
    # every flow (not only those inspected): once joined, more when each file is alone
    assert _scan([tmp_path]).flows.flows == _scan([BIG]).flows.flows == 197
    assert _scan([tmp_path], join=False).flows.flows == 206


@needs_tool("editcap")
def test_miner_connection_across_files_counts_once(tmp_path: Path) -> None:
    """editcap -c (dumpcap's ring-buffer names) cuts a recorded XMRig session into four
    files: joined, the alert is the whole capture's (one flow); apart, four flows."""
    subprocess.run(["editcap", "-c", "20", str(MINER), str(tmp_path / "xmrig.pcap")],
                   check=True, capture_output=True)
    assert len(list(tmp_path.iterdir())) == 4
    whole = run_cli("scan", "-q", "-f", "jsonl", str(MINER))
    joined = run_cli("scan", "-q", "-f", "jsonl", str(tmp_path))
    apart = run_cli("scan", "-q", "-f", "jsonl", "--no-join-rotated", str(tmp_path))
    assert whole.rc == joined.rc == apart.rc == 0
    assert joined.out == whole.out
    [alert] = joined.events()
    assert meta(alert, "mining_flow_count") == ["1"]
    [cut] = apart.events()
    assert meta(cut, "mining_flow_count") == ["4"]


def _write(path: Path, header: bytes, records: list[tuple[float, bytes]], shift: int = 0,
           snaplen: int | None = None) -> None:
    """A little-endian pcap of ``records``, their seconds moved by ``shift``; ``snaplen``
    rewrites the file header's (as a capture taken with another -s)."""
    if snaplen is not None:
        header = header[:16] + struct.pack("<I", snaplen) + header[20:]
    out = bytearray(header)
    for _, record in records:
        sec = struct.unpack_from("<I", record)[0] + shift
        out += struct.pack("<I", sec) + record[4:]
    path.write_bytes(bytes(out))


def _scan(paths: list[Path], join: bool = True) -> ScanResult:
    config = ScanConfig(model=None, join_rotated=join)
    return run_scan(expand_inputs([str(p) for p in paths]), config, _detector())


@functools.cache
def _detector() -> Detector:
    return Detector.load(ScanConfig(model=None))


def test_files_of_different_captures_are_not_joined(tmp_path: Path) -> None:
    """The two halves of one real capture, made to look like two captures: another
    interface's name (eth0-/eth1-), a gap longer than the idle timeout, another snaplen,
    another directory. None is joined; the positive control (same names, untouched) is."""
    header, records = pcap_records(MINER)
    first, second = records[:36], records[36:]
    cases = {
        "control": [("eth0.pcap", 0, None), ("eth0.pcap1", 0, None)],
        "interface": [("eth0-20261203-1141.pcap", 0, None), ("eth1-20261203-1145.pcap", 0, None)],
        "gap": [("cap.pcap", 0, None), ("cap.pcap1", 3600, None)],
        "snaplen": [("snap.pcap", 0, None), ("snap.pcap1", 0, 1500)],
    }
    for case, files in cases.items():
        (tmp_path / case).mkdir()
        for (name, shift, snaplen), part in zip(files, (first, second), strict=True):
            _write(tmp_path / case / name, header, part, shift, snaplen)
    other = tmp_path / "elsewhere"  # the second half in another directory
    other.mkdir()
    shutil.copy(tmp_path / "control" / "eth0.pcap1", other / "eth0.pcap1")

    for case in cases:
        result = _scan([tmp_path / case])
        assert result.flows.flows == (1 if case == "control" else 2), case
        joined = [cap.joined for cap in result.captures]
        assert joined == ([[str(tmp_path / case / "eth0.pcap1")]] if case == "control"
                          else [[], []]), case
    split = _scan([tmp_path / "control" / "eth0.pcap", other])
    assert split.flows.flows == 2 and len(split.captures) == 2
    # the gap is seen only while reading: through the CLI, two flows, two alerts
    run = run_cli("scan", "-f", "jsonl", str(tmp_path / "gap"))
    assert run.rc == 0 and JOINED not in run.err
    counts = [int(n) for alert in run.events() for n in meta(alert, "mining_flow_count")]
    assert counts == [1, 1]
    # what is decided before reading: names and headers (the gap is seen while reading)
    chains = join_rotations(expand_inputs([str(tmp_path / c) for c in cases] + [str(other)]))
    assert [len(chain) for chain in chains] == [2, 1, 1, 2, 1, 1, 1]


def test_a_file_named_twice_is_not_joined_to_itself(tmp_path: Path) -> None:
    one = tmp_path / "one.pcap"
    header, records = pcap_records(MINER)
    _write(one, header, records[:1])  # a single packet: its first time is its last
    chains = join_rotations(expand_inputs([str(one), str(one)]))
    assert [len(chain) for chain in chains] == [1, 1]
    result = _scan([one, one])
    assert [cap.joined for cap in result.captures] == [[], []]
