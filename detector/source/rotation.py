"""Rotated files of one capture stream, found by their names and file headers.

A sensor that writes with ``tcpdump -C/-G/-W`` (or ``dumpcap -b``, ``editcap -c``) cuts
one packet stream into files: a TCP connection that lasts longer than a file goes on in
the next one. Scanned file by file, that connection ends at the end of the first file and
starts again (mid-stream) in the second: two flows, two flow counts, and the second one
without the handshake and login that identify it. So files of one stream are grouped into
a *chain* that is scanned as one session (replay.scan_chain; docs/ARCHITECTURE.md §7).

What is decided here, from names and headers only (no packet is read):

* **Names.** A name is cut into digit runs and the rest. The *rotation fields* are the
  digit run that ends the name right after a letter (the counter tcpdump appends:
  ``eth0.pcap``, ``eth0.pcap1``, ``eth0.pcap2``; ``trace0`` ... ``trace9`` with ``-W``)
  and the digit runs that do not follow a letter and read as a time or a zero-padded
  counter (strftime fields of ``-G`` names, ``eth0-20240105-1200.pcap``; dumpcap's
  ``ring_00001_20240105120000.pcapng``). Everything else - ``eth0``'s ``0``, a port in
  ``poll-3333.pcap``, the width of each field - is the *stem*. Files are candidates for
  one chain only when their directory and stem are equal, so ``eth0-...`` never joins
  ``eth1-...``, nor ``sensor-1.pcap`` ``sensor-2.pcap``, nor ``poll-443.pcap``
  ``poll-3333.pcap``. A ``.gz`` suffix is looked through (``eth0.pcap1.gz``). Names
  cannot tell everything: extension-less ``eth0`` and ``eth1`` read as ``tcpdump -W``'s
  ``eth`` counter; what the scan checks below keeps two interfaces captured at the same
  time apart.
* **Headers.** Every file of a chain has byte for byte the same stream description: a
  pcap's 24-byte file header (byte order, timestamp precision, snaplen, link type), or a
  pcapng's interface description blocks (link types, snaplens, interface names and
  options) in the same byte order.
* **Order.** A chain is ordered by its rotation fields as numbers (``trace2`` before
  ``trace10``); a pcap whose first packet is older than the previous file's first packet
  starts a new chain.

What can only be seen while reading - each file's first packet at or after the previous
file's last, within the TCP idle timeout - is checked by the scan, which starts a new
session where it does not hold. A chain that is not one stream after all costs only
parallelism, never a wrong join.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections import defaultdict

from detector.source.inputs import PCAPNG_MAGIC, CaptureInput
from detector.source.pcap import FILE_HEADER_LEN
from detector.source.pcap import MAGICS as PCAP_MAGICS
from detector.source.stream import GZIP_MAGIC

_RUNS = re.compile(r"\d+|\D+")
FIELD = "#"  # what a rotation field becomes in a stem
HEAD_BYTES = 64 * 1024  # what is read of a file (and inflated of a gzip file) for its header
_PCAPNG_IDB = 0x00000001
_PCAPNG_SHB = 0x0A0D0D0A

Chain = list[CaptureInput]  # files scanned as one stream, in order; most chains hold one


def rotation_name(name: str) -> tuple[str, tuple[int, ...]]:
    """A file name's stem and its rotation fields as numbers (see the module docstring).

    >>> rotation_name("eth0.pcap7")
    ('eth0.pcap', (7,))
    >>> rotation_name("eth0-20240105-120500.pcap")
    ('eth0-#8-#6.pcap', (20240105, 120500, 0))
    """
    if name.lower().endswith(".gz") and len(name) > 3:
        name = name[:-3]
    runs = _RUNS.findall(name)
    counter = 0
    if len(runs) > 1 and runs[-1].isdigit() and runs[-2][-1].isalpha():
        counter = int(runs.pop())  # tcpdump's counter, appended to the name as it is
    stem: list[str] = []
    fields: list[int] = []
    for i, run in enumerate(runs):
        follows_letter = i > 0 and runs[i - 1][-1].isalpha()
        if run.isdigit() and not follows_letter and _time_or_counter(run):
            stem.append(f"{FIELD}{len(run)}")
            fields.append(int(run))
        else:
            stem.append(run)
    return "".join(stem), (*fields, counter)


def _time_or_counter(digits: str) -> bool:
    """Whether a digit run can be a strftime field (``%Y``, ``%m`` ... ``%S``, ``%j``, ``%s``
    and their concatenations such as ``%Y%m%d%H%M%S``) or a zero-padded counter (dumpcap's
    ``%05d``): so that a port or an address in a name (``poll-443``, ``poll-3333``) stays in
    the stem."""
    width = len(digits)
    if width >= 2 and digits[0] == "0":
        return True  # zero-padded: a counter, or a time field below 10
    value = int(digits)
    if width == 2:
        return value <= 59
    if width == 3:
        return 1 <= value <= 366  # day of the year
    if width == 4:
        return 1970 <= value <= 2099 or _clock(digits)  # a year, or HHMM
    if width == 6:
        return _clock(digits)  # HHMMSS
    if width == 8:
        return _date(digits)  # YYYYMMDD
    if width == 10:
        return True  # seconds since the epoch (2001-2286)
    if width in (12, 14):
        return _date(digits[:8]) and _clock(digits[8:])  # YYYYMMDDHHMM[SS]
    return False


def _clock(digits: str) -> bool:
    parts = [int(digits[i : i + 2]) for i in range(0, len(digits), 2)]
    return parts[0] <= 23 and all(part <= 59 for part in parts[1:])


def _date(digits: str) -> bool:
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    return 1970 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


def stream_header(path: str) -> bytes | None:
    """What describes a file's packet stream (see the module docstring), or None when it
    cannot be read: such a file is never joined."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
    except OSError:
        return None
    if head[:2] == GZIP_MAGIC:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD_BYTES)
        except zlib.error:
            return None
    if head[:4] in PCAP_MAGICS:
        return head[:FILE_HEADER_LEN] if len(head) >= FILE_HEADER_LEN else None
    if head[:4] == PCAPNG_MAGIC:
        return _pcapng_interfaces(head)
    return None


def _pcapng_interfaces(head: bytes) -> bytes | None:
    """The byte order and the interface description blocks that come before the first
    packet of a pcapng's first section; None when they do not fit in ``head``."""
    if len(head) < 12:
        return None
    order = head[8:12]
    if order == b"\x4d\x3c\x2b\x1a":
        endian = "<"
    elif order == b"\x1a\x2b\x3c\x4d":
        endian = ">"
    else:
        return None
    described = [order]
    off = 0
    while off + 12 <= len(head):
        btype, blen = struct.unpack_from(endian + "II", head, off)
        if blen < 12 or blen % 4 or off + blen > len(head):
            return None
        if btype == _PCAPNG_IDB:
            described.append(head[off : off + blen])
        elif btype != _PCAPNG_SHB or off:
            break  # the first packet (or any other block): the interfaces are known
        off += blen
    else:
        return None  # the head ended inside the header blocks
    return b"".join(described) if len(described) > 1 else None


def join_rotations(inputs: list[CaptureInput]) -> list[Chain]:
    """The inputs as chains, each at the place of its first file in ``inputs``; an input
    that is not a candidate (stdin, a pipe, a problem, an unreadable header) is a chain of
    its own, and so is a file named twice."""
    by_name: dict[tuple[str, str], list[tuple[tuple[int, ...], int]]] = defaultdict(list)
    seen: set[str] = set()
    alone: list[int] = []
    for index, cap in enumerate(inputs):
        if cap.problem is not None or cap.fmt not in ("pcap", "pcapng"):
            alone.append(index)
            continue
        real = os.path.realpath(cap.path)
        if real in seen:
            alone.append(index)
            continue
        seen.add(real)
        folder, name = os.path.split(cap.path)
        stem, fields = rotation_name(name)
        by_name[(os.path.realpath(folder or "."), stem)].append((fields, index))
    # Headers are read only where names could join (most directories have no such pair).
    groups: list[list[tuple[tuple[int, ...], int]]] = []
    for members in by_name.values():
        if len(members) == 1:
            alone.append(members[0][1])
            continue
        by_header: dict[bytes, list[tuple[tuple[int, ...], int]]] = defaultdict(list)
        for fields, index in members:
            header = stream_header(inputs[index].path)
            if header is None:
                alone.append(index)
            else:
                by_header[header].append((fields, index))
        groups.extend(by_header.values())
    placed: list[tuple[int, Chain]] = [(index, [inputs[index]]) for index in alone]
    for members in groups:
        members.sort()
        chain: Chain = []
        first = 0
        for _, index in members:
            cap = inputs[index]
            if chain and cap.first_ts < chain[-1].first_ts:  # time disagrees with the names
                placed.append((first, chain))
                chain = []
            if not chain:
                first = index
            chain.append(cap)
            first = min(first, index)
        placed.append((first, chain))
    placed.sort(key=lambda item: item[0])
    return [chain for _, chain in placed]
