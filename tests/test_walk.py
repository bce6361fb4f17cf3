"""The compiled record walk and its pure-Python twin give identical results, on real
captures, on every truncation point and on damaged records (DESIGN: same results, tested)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from detector.source import walk
from tests.conftest import CORPUS, PCAPS, REPO, assert_only_known_unread

pytestmark = pytest.mark.skipif(not walk.COMPILED, reason="C walk not built (no compiler)")


def _arr(data: bytes) -> np.ndarray:
    return np.frombuffer(data + b"\x00" * 64, dtype=np.uint8)


def _both_pcap(data: bytes, start: int, end: int, little: bool, limit: int, cap: int = 100000,
               lengths: int = walk.LENGTHS_IN_ORDER):
    outs = [np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64)]
    buf = _arr(data)
    a = walk.py_walk_pcap(buf, start, end, little, limit, outs[0], lengths)
    b = walk.walk_pcap(buf, start, end, little, limit, outs[1], lengths)
    return a, b, outs


def _old_order(data: bytes, swap_every: int = 1, snap: int = 80) -> bytes:
    """A little-endian pcap's records cut to ``snap`` captured bytes, with the two lengths
    written wire length first in every ``swap_every``-th record (as pcap < 2.3 wrote them;
    a 2.3 file may mix both orders)."""
    out, off, i = bytearray(data[:24]), 24, 0
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack_from("<IIII", data, off)
        keep = min(caplen, snap)
        first, second = (wirelen, keep) if i % swap_every == 0 else (keep, wirelen)
        out += struct.pack("<IIII", sec, frac, first, second) + data[off + 16 : off + 16 + keep]
        off += 16 + caplen
        i += 1
    return bytes(out)


@pytest.mark.parametrize("lengths,swap_every", [(walk.LENGTHS_SWAPPED, 1),
                                                (walk.LENGTHS_MAYBE_SWAPPED, 3)])
def test_pcap_walk_twins_agree_in_every_length_order(lengths: int, swap_every: int) -> None:
    data = _old_order((CORPUS / "zeek" / "bitcoin-mining.pcap").read_bytes(), swap_every)
    for end in list(range(24, 3000, 11)) + [len(data)]:
        a, b, outs = _both_pcap(data, 24, end, True, 262144, lengths=lengths)
        assert a == b
        assert (outs[0][: a[0]] == outs[1][: b[0]]).all()
    a, b, outs = _both_pcap(data, 24, len(data), True, 262144, lengths=lengths)
    assert a[2] == walk.OK and a[1] == len(data) and a[0] > 100  # every record, to the end
    # read in the file's order, the records are found; read in the other, they are not
    wrong = _both_pcap(data, 24, len(data), True, 262144)[0]
    assert wrong != a
    # damage: the captured length (whichever field holds it) beyond the limit
    bad = bytearray(data)
    struct.pack_into("<II", bad, 24 + 8, 10**9, 10**9)
    a, b, _ = _both_pcap(bytes(bad), 24, len(bad), True, 262144, lengths=lengths)
    assert a == b == (0, 24, walk.DAMAGE)


def test_pcap_lengths_follow_libpcap() -> None:
    assert [walk.pcap_lengths(*v) for v in [(2, 4), (2, 3), (2, 2), (2, 0), (543, 0), (3, 0)]] == [
        walk.LENGTHS_IN_ORDER, walk.LENGTHS_MAYBE_SWAPPED, walk.LENGTHS_SWAPPED,
        walk.LENGTHS_SWAPPED, walk.LENGTHS_SWAPPED, walk.LENGTHS_IN_ORDER]
    for twin in (walk.py_walk_pcap, walk.walk_pcap):
        with pytest.raises(ValueError):
            twin(_arr(b""), 0, 0, True, 262144, np.zeros(4, dtype=np.int64), 3)


def test_pcap_walk_matches_on_every_truncation() -> None:
    data = (CORPUS / "zeek" / "bitcoin-mining.pcap").read_bytes()
    for end in list(range(24, 2000, 7)) + [len(data)]:
        a, b, outs = _both_pcap(data, 24, end, True, 262144)
        assert a == b
        assert (outs[0][: a[0]] == outs[1][: b[0]]).all()


def test_pcap_walk_matches_on_damage_and_full_buffer() -> None:
    data = bytearray((CORPUS / "zeek" / "bitcoin-mining.pcap").read_bytes())
    struct.pack_into("<I", data, 24 + 8, 10**9)
    a, b, _ = _both_pcap(bytes(data), 24, len(data), True, 262144)
    assert a == b == (0, 24, walk.DAMAGE)
    data = (CORPUS / "zeek" / "bitcoin-mining.pcap").read_bytes()
    a, b, _ = _both_pcap(data, 24, len(data), True, 262144, cap=5)
    assert a == b and a[2] == walk.FULL and a[0] == 5


def test_big_endian_pcap_walk_matches() -> None:
    data = (PCAPS / "cryptonote-midsession-bigendian.pcap").read_bytes()
    a, b, outs = _both_pcap(data, 24, len(data), False, 262144)
    assert a == b and a[0] > 10


def test_pcapng_epb_walk_matches() -> None:
    data = (CORPUS / "ndpi" / "mining.pcapng").read_bytes()
    buf = _arr(data)
    off = 0  # skip SHB and IDB
    while struct.unpack_from("<I", data, off)[0] != 6:
        off += struct.unpack_from("<I", data, off + 4)[0]
    for end in list(range(off, off + 3000, 13)) + [len(data)]:
        outs = [np.zeros(10000, dtype=np.int64), np.zeros(10000, dtype=np.int64)]
        a = walk.py_walk_pcapng_epb(buf, off, end, True, outs[0])
        b = walk.walk_pcapng_epb(buf, off, end, True, outs[1])
        assert a == b
        assert (outs[0][: a[0]] == outs[1][: b[0]]).all()


def test_fast_and_simple_paths_give_identical_results() -> None:
    """Every compiled helper on (default) versus MINEWATCH_PURE=1 (numpy and Python
    twins): the same flows, facts, verdicts and suspects on all fixtures and the corpus."""
    paths = [str(PCAPS)] + ([str(CORPUS)] if CORPUS.is_dir() else [])

    def run(pure: bool, *args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_PURE"}
        if pure:
            env["MINEWATCH_PURE"] = "1"
        proc = subprocess.run([sys.executable, "-m", "detector", *args, *paths],
                              capture_output=True, text=True, cwd=REPO, env=env)
        assert_only_known_unread(proc.returncode, proc.stderr, CORPUS.is_dir())
        return proc.stdout

    flows_fast, flows_simple = run(False, "flows"), run(True, "flows")
    assert len(flows_fast.splitlines()) > 100
    assert [json.loads(x) for x in flows_fast.splitlines()] == [json.loads(x) for x in flows_simple.splitlines()]
    assert run(False, "scan", "-f", "jsonl", "-q") == run(True, "scan", "-f", "jsonl", "-q")
