"""Record walks: find where each record of a chunk starts.

This loop cannot be vectorised (each record's length says where the next begins), so it
has a compiled twin in ``detector/csrc/pcap.c``, built as an optional extension when the
package is installed. Without a compiler - or with ``MINEWATCH_PURE=1`` - the Python
versions below run instead and give identical results (tests/test_walk.py checks that).

A classic pcap's record header holds two lengths, captured and on the wire, and which
comes first depends on the file's version (``pcap_lengths``); ``walk_pcap`` takes that
order as ``lengths``.

Both walks fill ``out`` (an int64 numpy array) with record offsets and return
``(count, stop_offset, status)``; status 0 = stopped at an incomplete record, 1 = damage
at ``stop_offset``, 2 = (pcapng) a block other than an Enhanced Packet Block, 3 = ``out``
is full.
"""

from __future__ import annotations

import struct

import numpy as np

from detector.compiled import fast

OK, DAMAGE, OTHER_BLOCK, FULL = 0, 1, 2, 3
MAX_BLOCK = 16 * 1024 * 1024
EPB = 6

# Which of a classic-pcap record header's two lengths is the captured one, as libpcap's
# sf-pcap.c reads them: the first in files of version 2.4; the second in versions before
# 2.3 (and DG/UX's 543.0), which wrote the wire length first; in 2.3 files, which come
# both ways, the smaller.
LENGTHS_IN_ORDER, LENGTHS_SWAPPED, LENGTHS_MAYBE_SWAPPED = 0, 1, 2


def pcap_lengths(major: int, minor: int) -> int:
    """The length order of a classic pcap of this version (libpcap's rule)."""
    if major == 543 or (major == 2 and minor < 3):
        return LENGTHS_SWAPPED
    if major == 2 and minor == 3:
        return LENGTHS_MAYBE_SWAPPED
    return LENGTHS_IN_ORDER


def record_caplen(buf: np.ndarray, off: int, little: bool, lengths: int) -> int:
    """The captured length of the record header at ``off``."""
    first, second = struct.unpack_from("<II" if little else ">II", buf, off + 8)
    if lengths == LENGTHS_IN_ORDER:
        return first
    return second if lengths == LENGTHS_SWAPPED else min(first, second)


def _check_lengths(lengths: int) -> None:
    if lengths not in (LENGTHS_IN_ORDER, LENGTHS_SWAPPED, LENGTHS_MAYBE_SWAPPED):
        raise ValueError("lengths must be 0, 1 or 2")


def py_walk_pcap(
    buf: np.ndarray,
    start: int,
    end: int,
    little: bool,
    limit: int,
    out: np.ndarray,
    lengths: int = LENGTHS_IN_ORDER,
) -> tuple[int, int, int]:
    _check_lengths(lengths)
    lengths_at = struct.Struct("<II" if little else ">II").unpack_from
    end = min(end, buf.shape[0])
    off, n, cap = start, 0, out.shape[0]
    while off + 16 <= end:
        first, second = lengths_at(buf, off + 8)
        if lengths == LENGTHS_IN_ORDER:
            caplen = first
        else:
            caplen = second if lengths == LENGTHS_SWAPPED else min(first, second)
        if caplen > limit:
            return n, off, DAMAGE
        nxt = off + 16 + caplen
        if nxt > end:
            break
        if n >= cap:
            return n, off, FULL
        out[n] = off
        n += 1
        off = nxt
    return n, off, OK


def py_walk_pcapng_epb(
    buf: np.ndarray, start: int, end: int, little: bool, out: np.ndarray
) -> tuple[int, int, int]:
    u32 = struct.Struct("<I" if little else ">I").unpack_from
    end = min(end, buf.shape[0])
    off, n, cap = start, 0, out.shape[0]
    while off + 12 <= end:
        btype, blen = u32(buf, off)[0], u32(buf, off + 4)[0]
        if btype != EPB:
            return n, off, OTHER_BLOCK
        if blen < 32 or blen & 3 or blen > MAX_BLOCK:
            return n, off, DAMAGE
        if off + blen > end:
            break
        if u32(buf, off + blen - 4)[0] != blen or u32(buf, off + 20)[0] > blen - 32:
            return n, off, DAMAGE
        if n >= cap:
            return n, off, FULL
        out[n] = off
        n += 1
        off += blen
    return n, off, OK


walk_pcap = py_walk_pcap
walk_pcapng_epb = py_walk_pcapng_epb
COMPILED = False
if fast is not None:
    walk_pcap = fast.walk_pcap
    walk_pcapng_epb = fast.walk_pcapng_epb
    COMPILED = True
