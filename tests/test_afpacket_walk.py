"""The live ring's block walk: the compiled one (detector/_capture.c) and its Python twin
give identical results on synthetic TPACKET_V3 blocks, well-formed and malformed alike;
malformed ones are refused without reading past the block."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from detector.compiled import capture
from detector.source.afpacket import (
    DAMAGE,
    FULL,
    OK,
    PACKET_OUTGOING,
    TP_STATUS_VLAN_TPID_VALID,
    TP_STATUS_VLAN_VALID,
    block_room,
    py_walk_block,
)

MAC_OFF = 80  # where the kernel puts a frame after the header and the sockaddr_ll
SIZE = 4096


def _hdr(nxt: int, sec: int, nsec: int, snap: int, wire: int, status: int = 0,
         mac: int = MAC_OFF, tci: int = 0, tpid: int = 0, pkttype: int = 0) -> bytes:
    """A struct tpacket3_hdr and the struct sockaddr_ll after it (only sll_pkttype set)."""
    hdr = struct.pack("=IIIIIIHHIIHH8x", nxt, sec, nsec, snap, wire, status, mac, mac + 14,
                      0, tci, tpid, 0)
    sll = struct.pack("=HHiHBB8s", 17, 0, 1, 1, pkttype, 6, b"")
    return hdr + sll


def _block(packets: list[dict], size: int = SIZE, first: int = 48,
           num: int | None = None) -> bytes:
    """A block of ``packets`` (each: frame bytes plus _hdr keyword overrides), laid out as
    the kernel does: 16-byte aligned, each tp_next_offset pointing at the next."""
    out = bytearray(size)
    off = first
    slots = []
    for p in packets:
        frame = p["frame"]
        length = -(-(MAC_OFF + len(frame)) // 16) * 16
        slots.append((off, length))
        off += length
    for k, ((off, length), p) in enumerate(zip(slots, packets, strict=True)):
        frame = p["frame"]
        fields = {"nxt": length if k + 1 < len(packets) else 0, "sec": 1_700_000_000 + k,
                  "nsec": 123_456_789 * k % 1_000_000_000, "snap": len(frame),
                  "wire": len(frame) + p.get("extra", 0)}
        fields.update({key: v for key, v in p.items() if key not in ("frame", "extra")})
        head = _hdr(**fields)
        out[off : off + len(head)] = head
        end = min(size, off + MAC_OFF + len(frame))
        if off + MAC_OFF < size:
            out[off + MAC_OFF : end] = frame[: end - off - MAC_OFF]
    count = len(packets) if num is None else num
    desc = struct.pack("=IIIIIIQIIII", 3, 0, 1, count, first, off, 7, 0, 0, 0, 0)
    out[: len(desc)] = desc
    return bytes(out)


def _frame(k: int, n: int = 60) -> bytes:
    return bytes([0x02] * 6 + [0x04] * 6) + b"\x08\x00" + bytes((k + i) & 0xFF for i in range(n))


def _walk(fn, block: bytes, vlan: bool = True, skip_out: bool = False, cap: int = 64,
          room: int | None = None, first: int = 0, pos: int = 0):
    """Run one walk into fresh output; the result and what it wrote."""
    out = np.full(room if room is not None else block_room(len(block)), 0xEE, dtype=np.uint8)
    arrays = [np.full(cap, -1, dtype=np.int64) for _ in range(3)] + [np.full(cap, -1.0)]
    got = fn(block, out, pos, *arrays, first, vlan, skip_out)
    n, end = got[0], got[1]
    frames = [bytes(out[o : o + c]) for o, c in zip(arrays[0][first:n], arrays[1][first:n],
                                                    strict=True)]
    return got, [a[first:n].tolist() for a in arrays], frames, bytes(out[:end])


def _both(block: bytes, **kw):
    py = _walk(py_walk_block, block, **kw)
    if capture is not None:
        assert _walk(capture.walk_block, block, **kw) == py
    return py


def test_packets_are_copied_with_their_lengths_and_times() -> None:
    frames = [_frame(k, 40 + 13 * k) for k in range(5)]
    block = _block([{"frame": f, "extra": 100 * k} for k, f in enumerate(frames)])
    (n, end, status, stop), (off, cap, wire, ts), got, _ = _both(block)
    assert (n, status, stop) == (5, OK, SIZE) and got == frames
    assert cap == [len(f) for f in frames] and end == sum(cap)
    assert wire == [len(f) + 100 * k for k, f in enumerate(frames)]
    assert off == [sum(cap[:k]) for k in range(5)]
    assert ts[3] == 1_700_000_003 + (123_456_789 * 3 % 1_000_000_000) / 1e9


def test_a_stripped_vlan_tag_is_put_back() -> None:
    plain, tagged, tpid = _frame(1), _frame(2), _frame(3)
    block = _block([
        {"frame": plain},
        {"frame": tagged, "status": TP_STATUS_VLAN_VALID, "tci": 0x2064},
        {"frame": tpid, "status": TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID,
         "tci": 7, "tpid": 0x88A8},
        {"frame": b"\x01" * 10, "tci": 5},  # shorter than two MACs: left as it is
    ])
    (n, _, status, _), (_, cap, wire, _), got, _ = _both(block)
    assert (n, status) == (4, OK)
    assert got[0] == plain
    assert got[1] == tagged[:12] + b"\x81\x00\x20\x64" + tagged[12:]
    assert got[2] == tpid[:12] + b"\x88\xa8\x00\x07" + tpid[12:]
    assert got[3] == b"\x01" * 10
    assert cap[1] == wire[1] == len(tagged) + 4
    # not on links without an Ethernet header
    (_, _, _, _), _, raw, _ = _both(block, vlan=False)
    assert raw[1] == tagged


def test_outgoing_packets_are_left_out_on_request() -> None:
    frames = [_frame(k) for k in range(4)]
    block = _block([{"frame": f, "pkttype": PACKET_OUTGOING if k % 2 else 0}
                    for k, f in enumerate(frames)])
    assert _both(block)[2] == frames
    (n, _, status, _), _, got, _ = _both(block, skip_out=True)
    assert (n, status) == (2, OK) and got == [frames[0], frames[2]]


def _damaged(block: bytes, want_kept: int, want_stop: int | None = None) -> None:
    (n, _, status, stop), _, got, _ = _both(block)
    assert status == DAMAGE and n == want_kept, (status, n)
    if want_stop is not None:
        assert stop == want_stop


def _patch(block: bytes, at: int, fmt: str, *values: int) -> bytes:
    b = bytearray(block)
    struct.pack_into(fmt, b, at, *values)
    return bytes(b)


def test_malformed_blocks_are_refused_the_same_way() -> None:
    frames = [_frame(k, 100) for k in range(3)]
    good = _block([{"frame": f} for f in frames])
    second = 48 + -(-(MAC_OFF + len(frames[0])) // 16) * 16
    # the block descriptor cut short
    _damaged(good[:40], 0, 0)
    # first packet offset past the end, or inside the descriptor
    _damaged(_patch(good, 16, "=I", SIZE), 0, SIZE)
    _damaged(_patch(good, 16, "=I", SIZE - 47), 0, SIZE - 47)
    _damaged(_patch(good, 16, "=I", 0xFFFFFFFF), 0)
    _damaged(_patch(good, 16, "=I", 8), 0, 8)
    # a chain that does not move forward, or jumps out of the block (a packet whose own
    # slot is unknown is not kept)
    _damaged(_patch(good, 48, "=I", 0), 0, 48)
    _damaged(_patch(good, 48, "=I", 47), 0, 48)
    _damaged(_patch(good, 48, "=I", 0xFFFFFFF0), 0, 48)
    _damaged(_patch(good, second, "=I", SIZE), 1, second)
    # more packets claimed than the chain holds (the last's next offset is 0)
    _damaged(_patch(good, 12, "=I", 4), 2, second + (second - 48))
    _damaged(_patch(good, 12, "=I", 0xFFFFFFFF), 2)
    # data past its slot or the block: snaplen, tp_mac
    _damaged(_patch(good, 48 + 12, "=I", 0xFFFFFFFF), 0, 48)
    _damaged(_patch(good, second + 12, "=I", second), 1, second)
    _damaged(_patch(good, second + 24, "=H", 0xFFFF), 1, second)
    _damaged(_patch(good, 48 + 24, "=H", 20), 0, 48)  # data over the header
    last = second + (second - 48)
    _damaged(_patch(good, last + 12, "=I", SIZE - last - MAC_OFF + 1), 2, last)
    ok = _patch(good, last + 12, "=I", SIZE - last - MAC_OFF)  # to the block's very end
    (n, _, status, _), _, got, _ = _both(ok)
    assert (n, status) == (3, OK) and len(got[2]) == SIZE - last - MAC_OFF


def test_random_damage_never_reads_outside_and_both_agree() -> None:
    rng = random.Random(17)
    frames = [_frame(k, rng.randrange(0, 200)) for k in range(12)]
    good = _block([{"frame": f, "tci": rng.choice([0, 0, 9])} for f in frames])
    for _ in range(3000):
        b = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(0, 48 + 12 * 300)
            b[at] = rng.randrange(256)
        cut = bytes(b[: rng.choice([SIZE, SIZE, rng.randrange(0, SIZE)])])
        _both(cut, vlan=rng.random() < 0.5, skip_out=rng.random() < 0.5)


def test_a_full_output_keeps_nothing_of_the_block() -> None:
    frames = [_frame(k, 100) for k in range(4)]
    block = _block([{"frame": f} for f in frames])
    # room for 2 packets of the 4 in the arrays, then in the buffer
    for kw in ({"cap": 3, "first": 1}, {"room": 250, "pos": 10}):
        (n, end, status, _), _, _, _ = _both(block, **kw)
        assert status == FULL
        assert (n, end) == (kw.get("first", 0), kw.get("pos", 0))


def test_arguments_outside_the_output_are_refused() -> None:
    block = _block([{"frame": _frame(1)}])
    for fn in [py_walk_block] + ([capture.walk_block] if capture is not None else []):
        with pytest.raises(ValueError):
            _walk(fn, block, pos=10**6)
        with pytest.raises(ValueError):
            _walk(fn, block, first=65)
