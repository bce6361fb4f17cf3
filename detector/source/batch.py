"""The record batch: the unit of work handed from a reader to the decoder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Zero bytes appended to every chunk so that vectorised gathers a few dozen bytes past a
# short packet never index outside the buffer; results there are masked out later.
PAD = 256
# The timestamps every output can show: Python's datetime covers years 1 to 9999. A
# record outside them is damage (a 64-bit pcapng timestamp or interface offset gone
# wrong), reported at its offset like any other.
MIN_TS = -62_135_596_800.0  # 0001-01-01T00:00:00Z
MAX_TS = 253_402_300_799.0  # 9999-12-31T23:59:59Z
# Packets per batch at most: the decode and flow stages allocate a few dozen arrays of
# this length, so it bounds their memory however small the packets are (a SYN scan
# packs 200,000 records into 16 MB).
MAX_BATCH_PACKETS = 65536


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class RecordBatch:
    """Packets of one chunk of a capture, located in one byte buffer.

    Attributes hold one entry per packet, in capture order. ``buf`` is shared by all of
    them and ends with ``PAD`` zero bytes.
    """

    buf: np.ndarray  # uint8
    data_off: np.ndarray  # int64, offset of the first link-layer byte in buf
    caplen: np.ndarray  # int64, bytes captured
    wirelen: np.ndarray  # int64, bytes on the wire
    ts: np.ndarray  # float64, seconds since the epoch
    linktype: np.ndarray  # int32, DLT/LINKTYPE value of the packet's interface
    stream_off: np.ndarray  # int64, offset of the record in the (uncompressed) capture

    def __len__(self) -> int:
        return int(self.data_off.shape[0])

    def part(self, start: int, stop: int) -> RecordBatch:
        """Packets ``start`` to ``stop`` (a view: the buffer is shared)."""
        return RecordBatch(
            self.buf, self.data_off[start:stop], self.caplen[start:stop],
            self.wirelen[start:stop], self.ts[start:stop], self.linktype[start:stop],
            self.stream_off[start:stop],
        )  # fmt: skip

    def head(self, n: int) -> RecordBatch:
        """The first ``n`` packets."""
        return self.part(0, n)

    def first_bad_time(self) -> int | None:
        """Index of the first packet whose timestamp no output can show, if any."""
        ts = self.ts
        if ts.shape[0] == 0:
            return None
        with np.errstate(invalid="ignore"):
            bad = ~((ts >= MIN_TS) & (ts <= MAX_TS))  # NaN included
        return int(np.argmax(bad)) if bad.any() else None

    @classmethod
    def empty(cls, buf: np.ndarray) -> RecordBatch:
        """A batch of no packets: what a reader by time yields when nothing whole came."""
        none = np.zeros(0, dtype=np.int64)
        return cls(buf, none, none, none, np.zeros(0), np.zeros(0, dtype=np.int32), none)


def gather_u32(buf: np.ndarray, offsets: np.ndarray, little: bool) -> np.ndarray:
    """Read one 32-bit unsigned integer at each offset (vectorised)."""
    b = buf[offsets[:, None] + np.arange(4)].astype(np.uint32)
    if little:
        return b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)
    return (b[:, 0] << 24) | (b[:, 1] << 16) | (b[:, 2] << 8) | b[:, 3]
