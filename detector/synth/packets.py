"""Single captured packets: one IP datagram with its capture time and link addresses.

A :class:`Packet` is what a scripted capture collects before a link layer frames it and a
writer stores it. :func:`udp` and :func:`tcp_raw` make packets that belong to no scripted
conversation: DNS lookups, discovery pings, port scans, resets, odd flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count

from detector.synth.ip import Direction, tcp_flags, tcp_options
from detector.synth.links import GATEWAY_MAC, mac_for

_order = count()  # creation order: a stable tie-breaker when timestamps are equal


@dataclass(frozen=True)
class Packet:
    """One captured IP datagram.

    ``ts_ns`` is the capture time in integer nanoseconds; ``outgoing`` is True when the
    capturing host sent it (Linux cooked captures record that as packet type 4); ``order``
    breaks timestamp ties in creation order.
    """

    ts_ns: int
    l3: bytes
    version: int
    src_mac: bytes
    dst_mac: bytes
    outgoing: bool
    order: int = field(default_factory=lambda: next(_order))


def _macs(
    src: str, dst: str, outgoing: bool, src_mac: bytes | None, dst_mac: bytes | None
) -> tuple[bytes, bytes]:
    """The client side is on the LAN; the other side is reached through the gateway."""
    return (
        src_mac if src_mac is not None else (mac_for(src) if outgoing else GATEWAY_MAC),
        dst_mac if dst_mac is not None else (GATEWAY_MAC if outgoing else mac_for(dst)),
    )


def udp(
    src: tuple[str, int],
    dst: tuple[str, int],
    payload: bytes,
    ts_ns: int,
    *,
    ttl: int = 64,
    ip_id: int = 0,
    outgoing: bool = True,
    src_mac: bytes | None = None,
    dst_mac: bytes | None = None,
) -> Packet:
    """One UDP datagram (DNS, discovery pings, NTP...)."""
    path = Direction(src[0], dst[0], ttl)
    l3 = path.udp(ip_id & 0xFFFF, src[1], dst[1], payload)
    return Packet(
        ts_ns, l3, path.version, *_macs(src[0], dst[0], outgoing, src_mac, dst_mac), outgoing
    )


def tcp_raw(
    src: tuple[str, int],
    dst: tuple[str, int],
    flags: str,
    ts_ns: int,
    *,
    seq: int = 0,
    ack: int = 0,
    window: int = 1024,
    options: Sequence[tuple[str, object]] = (),
    payload: bytes = b"",
    ttl: int = 64,
    ip_id: int = 0,
    outgoing: bool = True,
    src_mac: bytes | None = None,
    dst_mac: bytes | None = None,
) -> Packet:
    """One TCP segment with exactly the given fields: for scans, resets, odd flags.

    ``flags`` are letters as tcpdump prints them; ``options`` as :func:`~.ip.tcp_options`.
    """
    path = Direction(src[0], dst[0], ttl)
    l3 = path.tcp(
        ip_id & 0xFFFF,
        src[1],
        dst[1],
        seq & 0xFFFFFFFF,
        ack & 0xFFFFFFFF,
        tcp_flags(flags),
        window,
        tcp_options(options),
        payload,
    )
    return Packet(
        ts_ns, l3, path.version, *_macs(src[0], dst[0], outgoing, src_mac, dst_mac), outgoing
    )
