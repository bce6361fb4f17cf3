"""Classic libpcap reader: both byte orders, micro- and nanosecond timestamps, and the
record lengths in the order the file's version puts them (libpcap's rule, walk.py).

The record walk is a tight loop over 16-byte headers (each record's length says where
the next begins, so it is inherently sequential; see walk.py). The compiled walk writes
each record's timestamp and lengths as it goes; after the Python walk they are gathered
for the whole chunk at once with numpy.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

from detector.compiled import fast
from detector.errors import CorruptCapture, InputError
from detector.source.batch import MAX_BATCH_PACKETS, RecordBatch
from detector.source.stream import CaptureStream, StreamDamage
from detector.source.walk import (
    DAMAGE,
    FULL,
    LENGTHS_IN_ORDER,
    LENGTHS_MAYBE_SWAPPED,
    LENGTHS_SWAPPED,
    pcap_lengths,
    record_caplen,
    walk_pcap,
)

# magic as read little-endian -> (byte order is little, seconds per timestamp unit)
MAGICS: dict[bytes, tuple[bool, float]] = {
    b"\xd4\xc3\xb2\xa1": (True, 1e-6),
    b"\xa1\xb2\xc3\xd4": (False, 1e-6),
    b"\x4d\x3c\xb2\xa1": (True, 1e-9),
    b"\xa1\xb2\x3c\x4d": (False, 1e-9),
}
FILE_HEADER_LEN = 24
RECORD_HEADER_LEN = 16
# Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD and libpcap's MAXIMUM_SNAPLEN; anything larger
# is damage, not a packet: libpcap stops there too ("invalid packet capture length").
MAX_CAPLEN = 262_144


def read_pcap(stream: CaptureStream, chunk_size: int) -> Iterator[RecordBatch]:
    """Yield record batches of a classic pcap; raise CorruptCapture after the last good one."""
    header = stream.read_exact(FILE_HEADER_LEN)
    if len(header) < FILE_HEADER_LEN:
        raise InputError(f"{stream.display}: truncated pcap file header ({len(header)} bytes)")
    little, unit = MAGICS[header[:4]]
    endian = "<" if little else ">"
    major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(endian + "HHiIII", header[4:])
    lengths = pcap_lengths(major, minor)
    linktype = network & 0x0FFF_FFFF
    limit = max(MAX_CAPLEN, snaplen if snaplen < 0x1000000 else 0)

    base = FILE_HEADER_LEN  # stream offset of buf[0]
    want = chunk_size
    # The walk writes the record offsets into a column made for each batch, and the
    # compiled walk (_fast.walk_pcap) each record's caplen, wirelen and ts as it goes:
    # a batch keeps the first ``count`` rows of each, no copy (copying them out of one
    # reused column was ~1 % of the read stage's instructions, callgrind). The Python
    # walk leaves the fields to _batch.
    compiled = fast is not None and walk_pcap is fast.walk_pcap
    while True:
        try:
            buf, filled, eof = stream.window(base, want)
        except StreamDamage as exc:
            raise CorruptCapture(stream.display, stream.pos, str(exc)) from None
        off, damage, yielded = 0, None, False
        while True:  # a chunk of small packets is cut into batches of bounded size
            # room for every record the rest of the window can hold (16 bytes at least)
            room = max(1, min(MAX_BATCH_PACKETS, (filled - off) // RECORD_HEADER_LEN))
            out, made = np.empty(room, dtype=np.int64), None
            if compiled:
                made = tuple(np.empty(room, dtype=t) for t in ("i8", "i8", "f8"))
                walked = walk_pcap(buf, off, filled, little, limit, out, lengths, unit, *made)
            else:
                walked = walk_pcap(buf, off, filled, little, limit, out, lengths)
            count, off, status = walked
            if count:
                rec = out[:count]
                if made is not None:
                    made = (made[0][:count], made[1][:count], made[2][:count])
                yield _batch(buf, rec, little, unit, linktype, base, lengths, made)
                yielded = True
            if status == DAMAGE:
                caplen = record_caplen(buf, off, little, lengths)
                damage = f"record claims {caplen} captured bytes (limit {limit})"
            if status != FULL:
                break
        if damage is not None:
            raise CorruptCapture(stream.display, base + off, damage)
        if stream.damage is not None:  # the byte stream broke after what was just read
            raise CorruptCapture(stream.display, stream.damage_pos, stream.damage)
        if stream.timed_out and not yielded:
            yield RecordBatch.empty(buf)  # nothing whole arrived in time: let the session tick
        if eof:
            if off < filled:
                what = "record header" if filled - off < RECORD_HEADER_LEN else "record"
                raise CorruptCapture(stream.display, base + off, f"truncated {what}")
            return
        # A record longer than the window: widen it until the record fits.
        want = chunk_size if off else filled + chunk_size
        del buf  # the window is unmapped (or freed) once its batches are dropped too
        base += off


def _batch(
    buf: np.ndarray,
    rec: np.ndarray,
    little: bool,
    unit: float,
    linktype: int,
    base: int,
    lengths: int = LENGTHS_IN_ORDER,
    made: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> RecordBatch:
    """The batch of the records at ``rec``; ``made``: their (caplen, wirelen, ts) as the
    compiled walk wrote them, else read from their headers here."""
    if made is not None:
        caplen, wirelen, ts = made
    else:
        caplen, wirelen, ts = _fields_numpy(buf, rec, little, unit, lengths)
    return RecordBatch(
        buf=buf,
        data_off=rec + RECORD_HEADER_LEN,
        caplen=caplen,
        wirelen=wirelen,
        ts=ts,
        linktype=np.full(rec.shape[0], linktype, dtype=np.int32),
        stream_off=rec + base,
    )


def _fields_numpy(
    buf: np.ndarray, rec: np.ndarray, little: bool, unit: float, lengths: int = LENGTHS_IN_ORDER
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(caplen, wirelen, ts) of each record: the twin of what ``_fast.walk_pcap`` writes
    given the field columns. The captured length is the one ``lengths`` names; the wire
    length is the larger."""
    if lengths not in (LENGTHS_IN_ORDER, LENGTHS_SWAPPED, LENGTHS_MAYBE_SWAPPED):
        raise ValueError("lengths must be 0, 1 or 2")
    hdr = buf[rec[:, None] + np.arange(RECORD_HEADER_LEN)]
    words = hdr.view("<u4" if little else ">u4").reshape(-1, 4).astype(np.int64)
    ts = words[:, 0].astype(np.float64) + words[:, 1].astype(np.float64) * unit
    first, second = words[:, 2], words[:, 3]
    if lengths == LENGTHS_IN_ORDER:
        caplen = first
    elif lengths == LENGTHS_SWAPPED:
        caplen = second
    else:
        caplen = np.minimum(first, second)
    return caplen, np.maximum(first, second), ts
