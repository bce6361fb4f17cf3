"""afpacket_block: the live ring's block walk - ``_capture.walk_block`` (C, when built) and
its twin ``py_walk_block`` - agree on every TPACKET_V3 block, and neither reads past it.

Input: one flags byte (bit 0: re-insert stripped VLAN tags, bit 1: leave out outgoing
packets, bits 2-3: the output buffer's size class), then the block's bytes. Blocks come
from the kernel, not from the wire, but their packets' bytes and lengths are the wire's:
the walk must hold on any block.
Crash: any exception from either, a result mismatch, or output past the buffer.
"""

from __future__ import annotations

import struct

from fuzz import common

with common.instrumented():
    import numpy as np

    from detector.compiled import capture
    from detector.source.afpacket import block_room, py_walk_block

MAC_OFF = 80  # where the kernel puts a frame: after tpacket3_hdr and a sockaddr_ll


def block_of(frames: list[bytes], size: int = 8192) -> bytes:
    """A block laid out as the kernel lays it out (16-byte aligned packets, each
    tp_next_offset pointing at the next): what the seeds are made of."""
    out, off, slots = bytearray(size), 48, []
    for frame in frames:
        length = -(-(MAC_OFF + len(frame)) // 16) * 16
        if off + length > size:
            break
        slots.append((off, length, frame))
        off += length
    for k, (at, length, frame) in enumerate(slots):
        nxt = length if k + 1 < len(slots) else 0
        head = struct.pack("=IIIIIIHHIIHH8x", nxt, 1_700_000_000 + k, 1000 * k, len(frame),
                           len(frame), 0, MAC_OFF, MAC_OFF + 14, 0, 0, 0, 0)  # fmt: skip
        head += struct.pack("=HHiHBB8s", 17, 0, 1, 1, 0, 6, b"")
        out[at : at + len(head)] = head
        out[at + MAC_OFF : at + MAC_OFF + len(frame)] = frame
    desc = struct.pack("=IIIIIIQIIII", 3, 0, 1, len(slots), 48, off, 7, 0, 0, 0, 0)
    out[: len(desc)] = desc
    return bytes(out)


def _walk(walk, block: bytes, vlan: bool, skip_out: bool, room: int):  # type: ignore[no-untyped-def]
    out = np.zeros(room, dtype=np.uint8)
    cols = [np.zeros(256, dtype=np.int64) for _ in range(3)] + [np.zeros(256)]
    result = walk(block, out, 0, *cols, 0, vlan, skip_out)
    n, end = result[0], result[1]
    assert 0 <= end <= room, "output past the buffer"
    return result, [c[:n].tolist() for c in cols], out[:end].tobytes()


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    flags, block = data[0], data[1:]
    vlan, skip_out = bool(flags & 1), bool(flags & 2)
    room = (block_room(len(block)), 64, 1024, 1 << 16)[(flags >> 2) & 3]
    py = _walk(py_walk_block, block, vlan, skip_out, room)
    if capture is not None and common.compiled_available():
        assert _walk(capture.walk_block, block, vlan, skip_out, room) == py


if __name__ == "__main__":
    common.main(TestOneInput)
