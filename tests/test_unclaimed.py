"""First packets that no dissector would take (dissect/unclaimed.py): ``no_taker`` never
says so of bytes some probe takes or may take, the Inspector indeed concludes nothing
from the bytes it says it of, and the feeder's claim (in ``_fast.inspect_triage``)
agrees with its pure twin (``feeder._claim_first_py``)."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest

from detector.compiled import fast
from detector.dissect import feeder
from detector.dissect.base import NO
from detector.dissect.inspector import STREAM_DISSECTORS, Inspector
from detector.dissect.unclaimed import no_taker, quiet_first_bytes, signature_table

# Bytes that the probes look for, so that random data hits their edges.
_PIECES = (
    b"\n", b'"', b"}", b"]", b"{", b"[", b" ", b"\r\n", b"\x04", b"\x16\x03\x01",
    b"GET ", b"HTTP/1.1 ", b'{"id":1}\n', b"\x13/multistream/1.0.0\n", b"\xf9\xbe\xb4\xd9",
    b"220 ", b"+OK", b"\x00", b"\x05\x01\x00", b"\x01\x21\x01\x01",
    b"STARTTLS\r\n", b"stls\n", b"CAPA\r\n", b"ehlo ", b"AUTH TLS", b"a1 ", b"x.y STARTTLS\n",
    b"S\x16\x03\x01", b"SSH-2.0-OpenSSH_9.6", b"NOSA\x00\x10abcdefghijkl",
)  # fmt: skip


def _samples(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randrange(1, 8)):
            if rng.random() < 0.4:
                parts.append(rng.choice(_PIECES))
            else:
                parts.append(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12))))
        data = b"".join(parts)
        if rng.random() < 0.05:
            data += bytes(rng.randrange(256) for _ in range(5000))  # past the probe window
        out.append(data)
    return out


@pytest.mark.parametrize("seed", range(3))
def test_no_taker_only_where_every_probe_says_no(seed: int) -> None:
    said = opening = 0
    quiet = quiet_first_bytes()
    for data in _samples(seed, 4000):
        for budget in (16 * 1024, 6):
            if no_taker(data, budget):
                said += 1
                opening += quiet[data[0]] == 2  # (StartTls's probe looks at it too)
                head = data[:budget]
                for cls in STREAM_DISSECTORS:
                    assert cls.probe(head, (40000, 8080)) is NO, (cls.name, head[:40])
    assert said > 500 and opening > 100  # the test is not vacuous


def test_quiet_first_bytes_leave_out_what_a_probe_reads_specially() -> None:
    table, signatures = quiet_first_bytes(), signature_table()
    # StartTls's probe looks at a letter too (but for HTTP's method letters: 0)
    assert table[ord("a")] == 2 and table[ord("Z")] == 2 and table[ord("S")] == 2
    for b in b"\x16\x17GHP{[ \n\x00\x04\x05R\xf909*+<":
        assert not table[b], b
    assert no_taker(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu\r\n", 16384)
    assert not no_taker(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu\r\n", 15)  # cut short: a MAYBE
    assert not no_taker(b"a001 STARTTLS\r\nxxxxxxxxxx", 16384)  # an IMAP client's
    assert not no_taker(b"STLS\r\nxxxxxxxxxxxxxxxxxxxx", 16384)
    assert not no_taker(b"S\x16\x03\x01xxxxxxxxxxxxxxxxxxxx", 16384)  # PostgreSQL's server
    assert table[0x80] and table[0xFF] and table[0x02]
    # quiet but for a signature: libp2p's multistream header, Monero's Levin signature
    assert table[0x13] and table[0x01]
    assert signatures[0x13, 0] == 20 and signatures[0x01, 0] == 8
    assert signatures[0x01, 1:9].tobytes() == bytes.fromhex("0121010101010101")
    assert not no_taker(b"\x13/multi", 16384) and no_taker(b"\x13/multx", 16384)
    assert not no_taker(b"\x01\x21\x01", 16384) and no_taker(b"\x01\x21\x02\x01", 16384)
    # cut by the budget to a prefix of the signature: CryptoNode's MAYBE
    assert not no_taker(b"\x01\x21\x01\x01\x99", 4) and no_taker(b"\x01\x21\x01\x01\x99", 5)


def test_the_inspector_concludes_nothing_from_such_a_side() -> None:
    """What the claim pass spares the Inspector: a flow's first packet of those bytes
    leaves its side done, with no state worth a record."""
    for data in _samples(7, 600):
        if not no_taker(data, 16 * 1024):
            continue
        ins = Inspector()
        assert ins.tcp_packet(5, 1, 1000, None, data, len(data), 1.0, 40000, 8080) == 1
        assert ins.finish(5) is None


def _claim_case(rng: np.random.Generator, n: int, rows: int) -> tuple:
    """A batch of ``n`` packets over ``rows`` flows: TCP mostly, some UDP (DNS ports too),
    payloads from _samples, some cut by the capture, some in order at their side's start,
    and flow columns with some flows touched, some SYNs seen, some sides out of inspection."""
    samples = _samples(int(rng.integers(1 << 30)), n)
    buf = np.frombuffer(b"".join(samples) + bytes(8), dtype=np.uint8)
    lens = np.array([len(s) for s in samples], dtype=np.int64)
    off = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64) if n else lens
    pkt_slot = rng.integers(0, rows, n)
    pkt_slot[rng.random(n) < 0.05] = -1
    src_first = rng.integers(0, 2, n).astype(bool)
    cols = {
        "inspect": rng.choice(np.array([0, 1, 2, 3, 3, 3], dtype=np.uint8), rows),
        "touched": rng.random(rows) < 0.3,
        "state": rng.choice(np.array([0, 16, 32, 48], dtype=np.uint8), rows),
        "isn_a": rng.integers(0, 1 << 32, rows, dtype=np.uint32),
        "isn_b": rng.integers(0, 1 << 32, rows, dtype=np.uint32),
    }
    isn = np.where(src_first, cols["isn_a"][pkt_slot], cols["isn_b"][pkt_slot]).astype(np.int64)
    seq = np.where(rng.random(n) < 0.5, isn, rng.integers(0, 1 << 32, n))
    pb = SimpleNamespace(
        buf=buf,
        proto=rng.choice(np.array([6, 6, 6, 17], dtype=np.uint8), rows)[pkt_slot],  # by flow
        seq=seq,
        payload_off=off,
        payload_cap=np.where(rng.random(n) < 0.1, np.maximum(lens - 1, 0), lens),
        payload_len=lens,
        sport=rng.choice(np.array([53, 443, 40000, 5000]), n),
        dport=rng.choice(np.array([53, 80, 40001, 9999]), n),
    )
    return pkt_slot, pb, src_first, cols


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
@pytest.mark.parametrize("seed", range(4))
def test_claim_twins_agree(seed: int) -> None:
    """The candidates of a batch with the claim: ``_fast.inspect_triage`` against its
    twin (triage, then feeder._claim_first_py) - the same packets, and the same inspect
    bits cleared and flows touched."""
    rng = np.random.default_rng(seed)
    for n, rows in ((0, 4), (1, 4), (300, 40), (3000, 200)):
        pkt_slot, pb, src_first, cols = _claim_case(rng, n, rows)
        budget = 16384 if n == 3000 else int(rng.choice([16384, 6, 3]))
        runs = []
        for candidates in (feeder._candidates_numpy, feeder._candidates_compiled):
            mine = {k: v.copy() for k, v in cols.items()}
            got = candidates(mine["inspect"], pkt_slot, src_first, pb, mine, budget)
            runs.append((got, mine))
        (got_p, cols_p), (got_c, cols_c) = runs
        for x, y in zip(got_c, got_p, strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), n
        for name in ("inspect", "touched"):
            assert np.array_equal(cols_c[name], cols_p[name]), (n, name)
        if n == 3000:  # some claimed, some kept, flows touched
            assert (pb.proto[got_c[0]] == 6).any() and got_c[2].shape[0] > 0  # DNS answers too
            assert (cols_c["inspect"] != cols["inspect"]).any()
            assert (cols_c["touched"] & ~cols["touched"]).any()
