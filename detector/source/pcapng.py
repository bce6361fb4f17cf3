"""pcapng reader: SHB/IDB/EPB/SPB (and the obsolete PB), several interfaces and link types.

Blocks are walked sequentially (each block's length locates the next); Enhanced Packet
Block fields are then gathered for the whole chunk with numpy. Interface Description
Blocks set each interface's link type and timestamp resolution; a new Section Header
Block resets the interface list and may switch byte order.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from detector.errors import CorruptCapture, InputError
from detector.source.batch import MAX_BATCH_PACKETS, RecordBatch, gather_u32
from detector.source.stream import CaptureStream, StreamDamage
from detector.source.walk import DAMAGE, FULL, OTHER_BLOCK, walk_pcapng_epb

SHB = 0x0A0D0D0A
IDB = 0x00000001
OPB = 0x00000002  # obsolete Packet Block
SPB = 0x00000003
EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
MAX_BLOCK = 16 * 1024 * 1024
OPT_IF_TSRESOL = 9
OPT_IF_TSOFFSET = 14
LINKTYPE_UNKNOWN = -1


@dataclass(slots=True)
class Interface:
    """What an IDB says about one capture interface."""

    linktype: int
    snaplen: int
    units_per_second: float
    offset_seconds: int


def read_pcapng(stream: CaptureStream, chunk_size: int) -> Iterator[RecordBatch]:
    """Yield record batches of a pcapng; raise CorruptCapture after the last good one."""
    first = stream.read_exact(12)
    if len(first) < 12:
        raise InputError(f"{stream.display}: truncated pcapng section header")
    order = first[8:12]
    if order == b"\x4d\x3c\x2b\x1a":
        little = True
    elif order == b"\x1a\x2b\x3c\x4d":
        little = False
    else:
        raise InputError(f"{stream.display}: pcapng section header has a bad byte-order magic")
    base = 0  # stream offset of buf[0]
    want = chunk_size
    interfaces: list[Interface] = []
    seen_shb = False
    last_ts = 0.0  # the time of the last packet so far: a simple packet block's (below)
    while True:
        try:
            buf, filled, eof = stream.window(base, want)
        except StreamDamage as exc:
            raise CorruptCapture(stream.display, stream.pos, str(exc)) from None
        walker = _BlockWalker(
            buf, filled, base, little, interfaces, seen_shb, stream.display, last_ts
        )
        damage = walker.walk()
        yielded = False
        for batch in walker.batches():
            bad = batch.first_bad_time()
            if bad is not None:
                if bad:
                    yield batch.head(bad)
                offset, when = int(batch.stream_off[bad]), float(batch.ts[bad])
                raise CorruptCapture(
                    stream.display, offset, f"packet timestamp out of range ({when:.6g} s)"
                )
            yielded = True
            yield batch
        if stream.timed_out and not yielded:
            yield RecordBatch.empty(buf)  # nothing whole arrived in time: let the session tick
        little, interfaces, seen_shb = walker.little, walker.interfaces, walker.seen_shb
        last_ts = walker.last_ts
        off = walker.off
        del walker, buf  # the window is unmapped (or freed) once its batches are dropped
        if damage is not None:
            raise CorruptCapture(stream.display, base + off, damage)
        if stream.damage is not None:  # the byte stream broke after what was just read
            raise CorruptCapture(stream.display, stream.damage_pos, stream.damage)
        if eof:
            if off < filled:
                raise CorruptCapture(stream.display, base + off, "truncated block")
            return
        # A block longer than the window: widen it until the block fits.
        want = chunk_size if off else filled + chunk_size
        base += off


class _BlockWalker:
    """Walks the complete blocks of one chunk and collects packet records."""

    def __init__(
        self,
        buf: np.ndarray,
        filled: int,
        base: int,
        little: bool,
        interfaces: list[Interface],
        seen_shb: bool,
        display: str,
        last_ts: float = 0.0,
    ) -> None:
        self.buf = buf
        # the time of the packet before this chunk's first: a simple packet block (no
        # time of its own) at the start of a chunk or batch takes it, so its time does
        # not depend on where windows and batches are cut
        self.last_ts = last_ts
        self.filled = filled
        self.base = base
        self.little = little
        self.interfaces = interfaces
        self.seen_shb = seen_shb
        self.display = display
        self.off = 0
        # Packet records grouped in runs of one byte order and interface table.
        self._runs: list[tuple[bool, list[Interface], list[np.ndarray], list[tuple[int, ...]]]] = []
        self._new_run()

    def _new_run(self) -> None:
        self._epb: list[np.ndarray] = []  # runs of EPB offsets
        self._other: list[tuple[int, ...]] = []  # (block_off, data_off, caplen, wirelen, iface)
        self._runs.append((self.little, self.interfaces, self._epb, self._other))

    def walk(self) -> str | None:
        buf, filled = self.buf, self.filled
        out = np.empty(MAX_BATCH_PACKETS, dtype=np.int64)
        while self.off + 12 <= filled:
            off = self.off
            endian = "<" if self.little else ">"
            btype, blen = struct.unpack_from(endian + "II", buf, off)
            if btype == EPB and self.seen_shb:
                # Fast path: a run of packet blocks, walked in C where available.
                count, stop, status = walk_pcapng_epb(buf, off, filled, self.little, out)
                if count:
                    run = out[:count].copy()
                    iface = gather_u32(buf, run + 8, self.little)
                    bad = np.flatnonzero(iface >= len(self.interfaces))
                    if bad.size:
                        first = int(bad[0])
                        if first:
                            self._epb.append(run[:first])
                        self.off = int(run[first])
                        return f"packet on undeclared interface {int(iface[first])}"
                    self._epb.append(run)
                if status == FULL:
                    self._new_run()  # bound the batch size (see MAX_BATCH_PACKETS)
                self.off = stop
                if status == DAMAGE:
                    return _epb_damage(buf, stop, endian)
                if status not in (OTHER_BLOCK, FULL):
                    return None
                continue
            if btype == SHB:
                order = bytes(buf[off + 8 : off + 12])
                if order == b"\x4d\x3c\x2b\x1a":
                    little = True
                elif order == b"\x1a\x2b\x3c\x4d":
                    little = False
                else:
                    return "section header with a bad byte-order magic"
                blen = struct.unpack_from("<I" if little else ">I", buf, off + 4)[0]
                if blen < 28 or blen % 4 or blen > MAX_BLOCK:
                    return f"section header with a bad length ({blen})"
                if off + blen > filled:
                    return None
                self.little = little
                self.interfaces = []
                self.seen_shb = True
                self._new_run()
                self.off = off + blen
                continue
            if not self.seen_shb:
                return "pcapng block before any section header"
            if blen < 12 or blen % 4 or blen > MAX_BLOCK:
                return f"block of type 0x{btype:08x} with a bad length ({blen})"
            if off + blen > filled:
                return None
            trailer = struct.unpack_from(endian + "I", buf, off + blen - 4)[0]
            if trailer != blen:
                return f"block length mismatch ({blen} vs trailing {trailer})"
            if btype == SPB:
                if not self.interfaces:
                    return "simple packet block without an interface"
                wirelen = struct.unpack_from(endian + "I", buf, off + 8)[0]
                snap = self.interfaces[0].snaplen or wirelen
                caplen = min(wirelen, snap, blen - 16)
                self._other.append((off, off + 12, caplen, wirelen, 0))
            elif btype == OPB:
                if blen < 32:
                    return f"packet block too short ({blen})"
                iface = struct.unpack_from(endian + "H", buf, off + 8)[0]
                caplen, wirelen = struct.unpack_from(endian + "II", buf, off + 20)
                if caplen > blen - 32 or iface >= len(self.interfaces):
                    return "malformed packet block"
                self._other.append((off, off + 28, caplen, wirelen, iface))
            elif btype == IDB:
                if blen < 20:
                    return f"interface description block too short ({blen})"
                self.interfaces = [*self.interfaces, _parse_idb(buf, off, blen, endian)]
                self._new_run()
            self.off = off + blen
        return None

    def batches(self) -> Iterator[RecordBatch]:
        for little, interfaces, epb, other in self._runs:
            if epb or other:
                yield self._batch(little, interfaces, epb, other)

    def _batch(
        self,
        little: bool,
        interfaces: list[Interface],
        epb: list[np.ndarray],
        other: list[tuple[int, ...]],
    ) -> RecordBatch:
        buf = self.buf
        rec = np.concatenate(epb) if epb else np.empty(0, dtype=np.int64)
        iface = gather_u32(buf, rec + 8, little).astype(np.int64)
        ts_raw = (gather_u32(buf, rec + 12, little).astype(np.uint64) << np.uint64(32)) | (
            gather_u32(buf, rec + 16, little).astype(np.uint64)
        )
        caplen = gather_u32(buf, rec + 20, little).astype(np.int64)
        wirelen = gather_u32(buf, rec + 24, little).astype(np.int64)
        data_off = rec + 28
        units = np.array([i.units_per_second for i in interfaces], dtype=np.float64)
        shift = np.array([i.offset_seconds for i in interfaces], dtype=np.float64)
        links = np.array([i.linktype for i in interfaces], dtype=np.int32)
        ts = ts_raw.astype(np.float64) / units[iface] + shift[iface]
        link = links[iface]
        if other:
            block_off = np.concatenate([rec, np.array([o[0] for o in other], dtype=np.int64)])
            order = np.argsort(block_off, kind="stable")
            data_off = np.concatenate([data_off, [o[1] for o in other]])[order]
            caplen = np.concatenate([caplen, [o[2] for o in other]])[order]
            wirelen = np.concatenate([wirelen, [o[3] for o in other]])[order]
            link = np.concatenate([link, links[[o[4] for o in other]]])[order]
            # Simple packet blocks carry no timestamp: they inherit the previous packet's.
            ts = np.concatenate([ts, np.full(len(other), np.nan)])[order]
            ts = _forward_fill(ts, self.last_ts)
            rec = block_off[order]
        if len(ts):
            self.last_ts = float(ts[-1])
        return RecordBatch(
            buf=buf,
            data_off=data_off.astype(np.int64),
            caplen=caplen.astype(np.int64),
            wirelen=np.maximum(wirelen, caplen).astype(np.int64),
            ts=ts,
            linktype=link.astype(np.int32),
            stream_off=rec + self.base,
        )


def _parse_idb(buf: np.ndarray, off: int, blen: int, endian: str) -> Interface:
    linktype, _reserved, snaplen = struct.unpack_from(endian + "HHI", buf, off + 8)
    units = 1e6
    shift = 0
    pos, end = off + 16, off + blen - 4
    while pos + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, pos)
        if code == 0:
            break
        value = bytes(buf[pos + 4 : pos + 4 + length])
        if code == OPT_IF_TSRESOL and length >= 1:
            v = value[0]
            units = float(2 ** (v & 0x7F)) if v & 0x80 else float(10**v)
        elif code == OPT_IF_TSOFFSET and length == 8:
            shift = struct.unpack(endian + "q", value)[0]
        pos += 4 + ((length + 3) & ~3)
    return Interface(
        linktype=linktype, snaplen=snaplen, units_per_second=units, offset_seconds=shift
    )


def _forward_fill(ts: np.ndarray, before: float) -> np.ndarray:
    """Replace NaN timestamps with the last preceding real one (``before``, the time of
    the packet before the batch, ahead of any)."""
    bad = np.isnan(ts)
    if not bad.any():
        return ts
    idx = np.where(~bad, np.arange(ts.shape[0]), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = ts[idx]
    return np.where(np.isnan(filled), before, filled)


def _epb_damage(buf: np.ndarray, off: int, endian: str) -> str:
    blen = struct.unpack_from(endian + "I", buf, off + 4)[0]
    return f"enhanced packet block with a bad length or captured length ({blen})"
