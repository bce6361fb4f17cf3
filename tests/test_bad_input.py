"""Bad input through the real CLI: one line on stderr, exit 2, no traceback, and what was
found before damage is still reported."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from tests.conftest import CORPUS, needs_corpus, run_cli

MINING = CORPUS / "ndpi" / "mining.pcapng"
BTC = CORPUS / "zeek" / "bitcoin-mining.pcap"


def _one_line_error(result, fragment: str) -> None:
    assert result.rc == 2, (result.rc, result.err)
    assert "Traceback" not in result.err
    errors = [line for line in result.err.splitlines() if "error:" in line]
    assert len(errors) == 1, result.err
    assert fragment in errors[0], errors[0]


def test_missing_file() -> None:
    _one_line_error(run_cli("scan", "/nonexistent/capture.pcap"), "no such file")


def test_directory_without_captures(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    _one_line_error(run_cli("scan", str(tmp_path)), "no pcap or pcapng captures")


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_text("this is text, not a capture\n")
    _one_line_error(run_cli("scan", str(path)), "not a pcap or pcapng capture")


def test_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"\xde\xad\xbe\xef" + b"\x00" * 60)
    _one_line_error(run_cli("scan", str(path)), "unknown magic 0xdeadbeef")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    path.write_bytes(b"")
    _one_line_error(run_cli("scan", str(path)), "empty file")


def test_gzip_that_is_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(gzip.compress(b"plain text inside gzip" * 10, mtime=0))
    _one_line_error(run_cli("scan", str(path)), "gzip data that is not a capture")


@needs_corpus()
def test_truncated_pcap_header(tmp_path: Path) -> None:
    path = tmp_path / "short.pcap"
    path.write_bytes(BTC.read_bytes()[:20])
    _one_line_error(run_cli("scan", str(path)), "truncated pcap file header")


@needs_corpus()
def test_truncated_last_record_keeps_earlier_results(tmp_path: Path) -> None:
    data = BTC.read_bytes()
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[: len(data) - 7])
    result = run_cli("scan", "--format", "jsonl", str(path))
    _one_line_error(result, "truncated record")
    assert "byte offset" in result.err
    assert {e["src_ip"] for e in result.events()} == {"10.0.2.15"}


@needs_corpus()
def test_corrupt_record_length_mid_file_keeps_earlier_results(tmp_path: Path) -> None:
    data = bytearray(BTC.read_bytes())
    # Walk to the 150th record and give it an impossible captured length.
    off = 24
    for _ in range(150):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        off += 16 + caplen
    struct.pack_into("<I", data, off + 8, 0x7FFFFFF0)
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(data))
    result = run_cli("scan", "--format", "jsonl", str(path))
    _one_line_error(result, f"at byte offset {off}")
    assert {e["src_ip"] for e in result.events()} == {"10.0.2.15"}


@needs_corpus()
def test_corrupt_pcapng_block_keeps_earlier_results(tmp_path: Path) -> None:
    data = bytearray(MINING.read_bytes())
    cut = len(data) * 3 // 4
    # find a block boundary after `cut` by walking blocks
    off = 0
    while off < cut:
        off += struct.unpack_from("<I", data, off + 4)[0]
    struct.pack_into("<I", data, off + 4, 13)  # not a multiple of 4
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(bytes(data))
    result = run_cli("scan", "--format", "jsonl", str(path))
    _one_line_error(result, "bad length")
    assert result.events(), "suspects found before the damage must be reported"


@needs_corpus()
def test_unknown_link_type(tmp_path: Path) -> None:
    data = bytearray(BTC.read_bytes())
    struct.pack_into("<I", data, 20, 147)  # LINKTYPE_USER0
    path = tmp_path / "user0.pcap"
    path.write_bytes(bytes(data))
    _one_line_error(run_cli("scan", str(path)), "unsupported link type 147")


@needs_corpus()
def test_snaplen_cut_packets_do_not_crash(tmp_path: Path) -> None:
    """Re-write every record with at most 60 captured bytes (headers only)."""
    src = BTC.read_bytes()
    out = bytearray(src[:24])
    struct.pack_into("<I", out, 16, 60)
    off = 24
    while off + 16 <= len(src):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", src, off)
        keep = min(caplen, 60)
        out += struct.pack("<IIII", sec, usec, keep, wirelen) + src[off + 16 : off + 16 + keep]
        off += 16 + caplen
    path = tmp_path / "snap60.pcap"
    path.write_bytes(bytes(out))
    result = run_cli("scan", "--format", "jsonl", str(path))
    assert result.rc == 0, result.err
    assert "Traceback" not in result.err


def test_bad_output_path() -> None:
    result = run_cli("scan", "-o", "/nonexistent/dir/out.json", "--format", "jsonl",
                     str(CORPUS / "ndpi" / "dns.pcap"))
    _one_line_error(result, "cannot write")


@pytest.mark.parametrize("garbage", [b"\x00" * 10, b"\xff" * 200, bytes(range(256)) * 3])
def test_binary_garbage_on_stdin(garbage: bytes) -> None:
    _one_line_error(run_cli("scan", "-", stdin=garbage), "not a pcap or pcapng capture")
