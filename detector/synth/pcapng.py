"""pcapng sections with several interfaces of different link types and time resolutions.

One capture file can mix link layers only in pcapng, and readers differ exactly where the
format is flexible: per-interface ``if_tsresol``, and Simple Packet Blocks (interface 0
only, no timestamp). This writer produces both on purpose.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from detector.synth.links import Link
from detector.synth.pcap import SNAPLEN


@dataclass(frozen=True)
class Interface:
    """A pcapng interface (one IDB).

    :param tsresol: decimal exponent of the timestamp unit (6 = microseconds, the
        pcapng default; 9 = nanoseconds). Written as ``if_tsresol`` unless ``None``.
    """

    link: Link
    name: str
    tsresol: int | None = None
    snaplen: int = SNAPLEN
    description: str | None = None


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def pcapng_bytes(
    interfaces: Sequence[Interface],
    records: Iterable[tuple[int, int, bytes]],
    *,
    simple_on_0: bool = False,
    shb_hardware: str = "x86_64",
    shb_os: str = "Linux 6.1.0-28-amd64",
    shb_userappl: str = "Dumpcap (Wireshark) 4.0.17",
) -> bytes:
    """A little-endian pcapng section: SHB, one IDB per interface, then packet blocks.

    :param records: (interface index, ts_ns, frame) in the order to write them.
    :param simple_on_0: write interface 0's packets as Simple Packet Blocks. An SPB has
        no interface id (it is always interface 0) and **no timestamp**, which is why
        only interface 0 may use them and why a reader must cope with time-less packets.
    """
    shb_opts = (
        _opt(2, shb_hardware.encode())
        + _opt(3, shb_os.encode())
        + _opt(4, shb_userappl.encode())
        + _opt(0, b"")
    )
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts
    out = [_block(0x0A0D0D0A, shb)]
    units = []
    for iface in interfaces:
        opts = _opt(2, iface.name.encode())
        if iface.description:
            opts += _opt(3, iface.description.encode())
        if iface.tsresol is not None:
            opts += _opt(9, bytes([iface.tsresol]))
        opts += _opt(0, b"")
        body = struct.pack("<HHI", iface.link.linktype, 0, iface.snaplen) + opts
        out.append(_block(0x00000001, body))
        exp = 6 if iface.tsresol is None else iface.tsresol
        if exp > 9:
            raise ValueError("timestamp resolution finer than 1 ns is not supported here")
        units.append(10 ** (9 - exp))
    for idx, ts_ns, frame in records:
        snap = interfaces[idx].snaplen
        data = frame[:snap]
        pad = b"\x00" * (-len(data) % 4)
        if simple_on_0 and idx == 0:
            out.append(_block(0x00000003, struct.pack("<I", len(frame)) + data + pad))
            continue
        ts = ts_ns // units[idx]
        body = struct.pack("<IIIII", idx, ts >> 32, ts & 0xFFFFFFFF, len(data), len(frame))
        out.append(_block(0x00000006, body + data + pad))
    return b"".join(out)
