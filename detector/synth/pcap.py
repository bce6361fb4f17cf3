"""Classic libpcap files, written whole (scripted captures) or record by record (streams).

The bytes are ours, not a library's: the magic 0xa1b2c3d4 (microseconds) or 0xa1b23c4d
(nanoseconds) in either byte order, as the capturing machine would write it, with every
header field following it; gzip with mtime 0 and no file name, so a compressed capture
depends only on its content.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable

from detector.synth.clock import NS

SNAPLEN = 262144
#: Record header of a little-endian file: ts_sec, ts_frac, incl_len, orig_len.
RECORD = struct.Struct("<IIII")


def file_header(
    linktype: int, *, big_endian: bool = False, nanosecond: bool = False, snaplen: int = SNAPLEN
) -> bytes:
    """The 24-byte global header."""
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    return struct.pack(
        (">" if big_endian else "<") + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype
    )


def record_us(ts_us: int, frame: bytes) -> bytes:
    """One record of a little-endian microsecond file, at integer microseconds ``ts_us``."""
    sec, usec = divmod(ts_us, 1_000_000)
    return RECORD.pack(sec, usec, len(frame), len(frame)) + frame


def pcap_bytes(
    records: Iterable[tuple[int, bytes]],
    linktype: int,
    *,
    big_endian: bool = False,
    nanosecond: bool = False,
    snaplen: int = SNAPLEN,
) -> bytes:
    """A whole file from (ts_ns, frame) records, frames cut at ``snaplen``."""
    e = ">" if big_endian else "<"
    out = [file_header(linktype, big_endian=big_endian, nanosecond=nanosecond, snaplen=snaplen)]
    div = 1 if nanosecond else 1000
    for ts_ns, frame in records:
        sec, frac = divmod(ts_ns, NS)
        incl = frame[:snaplen]
        out.append(struct.pack(e + "IIII", sec, frac // div, len(incl), len(frame)))
        out.append(incl)
    return b"".join(out)


def gzip_bytes(data: bytes) -> bytes:
    """gzip with mtime 0 and no file name, so the output depends only on ``data``.

    (The compressed bytes still depend on the zlib build; CPython's bundled/system zlib
    is stable across runs on one machine, which is what the determinism test checks.)
    """
    return gzip.compress(data, compresslevel=9, mtime=0)
