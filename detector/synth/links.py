"""Link layers: what a capture put in front of each IP packet, and the hosts' MAC addresses.

Every link layer minewatch reads is written here: DIX Ethernet (with 802.1Q and QinQ tags),
Linux cooked captures v1 and v2 (``tcpdump -i any``), raw IP (tun devices) and BSD NULL
(loopback, utun). A link's header is constant for one direction of a flow, so
:meth:`header` is what a streamed connection computes once, and :meth:`frame` what a
scripted capture calls per packet.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol


class Packet(Protocol):
    """What a link needs of a packet (packets.Packet is one): links sit below packets,
    so they name the shape rather than import the class."""

    ts_ns: int
    l3: bytes
    version: int
    src_mac: bytes
    dst_mac: bytes
    outgoing: bool


#: The LAN's default gateway (VRRP virtual MAC): every off-LAN peer is reached through it.
GATEWAY_MAC = bytes.fromhex("00005e000101")

_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD


@lru_cache(maxsize=4096)
def mac_for(ip: str) -> bytes:
    """A stable, locally administered MAC derived from an IP address.

    Hosts keep the same MAC across captures, which is what a capture of one LAN shows.
    """
    return bytes([0x02, 0x42]) + hashlib.sha256(b"mac:" + ip.encode()).digest()[:4]


def ethertype(version: int) -> int:
    return _ETH_IPV4 if version == 4 else _ETH_IPV6


class Link(Protocol):
    """What a link layer offers: its DLT/LINKTYPE number and the frame of a packet."""

    linktype: int

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        """The bytes in front of an IP packet of ``version`` sent from ``src_mac``."""
        ...

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        """The captured frame for ``pkt`` (``byteorder`` matters only for NULL)."""
        ...


class _HeaderLink:
    """A link whose frame is a header followed by the IP packet, unpadded."""

    linktype = -1

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        raise NotImplementedError

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        return self.header(pkt.version, pkt.src_mac, pkt.dst_mac, pkt.outgoing, byteorder) + pkt.l3


class Ethernet(_HeaderLink):
    """DIX Ethernet (DLT_EN10MB = 1), optionally 802.1Q tagged or QinQ double tagged.

    :param vlan: 802.1Q VLAN id (TPID 0x8100), the customer tag.
    :param outer_vlan: 802.1ad service tag (TPID 0x88a8) put in front of ``vlan``.
    :param pcp: 802.1p priority of the tags.
    :param tap: the capture point is a tap or SPAN port, so every frame shorter than the
        60-byte minimum arrives padded. Otherwise (a capture on the host) only received
        frames are padded: frames the host sent are captured before the NIC pads them.
    """

    linktype = 1

    def __init__(
        self,
        vlan: int | None = None,
        outer_vlan: int | None = None,
        pcp: int = 0,
        *,
        tap: bool = False,
    ) -> None:
        if outer_vlan is not None and vlan is None:
            raise ValueError("QinQ needs an inner vlan too")
        self.vlan = vlan
        self.outer_vlan = outer_vlan
        self.pcp = pcp
        self.tap = tap

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        head = dst_mac + src_mac
        if self.outer_vlan is not None:
            head += struct.pack(">HH", 0x88A8, (self.pcp << 13) | self.outer_vlan)
        if self.vlan is not None:
            head += struct.pack(">HH", 0x8100, (self.pcp << 13) | self.vlan)
        return head + struct.pack(">H", ethertype(version))

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        out = self.header(pkt.version, pkt.src_mac, pkt.dst_mac, pkt.outgoing) + pkt.l3
        return self.pad(out, pkt.outgoing)

    def pad(self, frame: bytes, outgoing: bool) -> bytes:
        """``frame`` as captured: padded to 60 bytes if the wire padded it before capture."""
        if len(frame) < 60 and (self.tap or not outgoing):
            frame += b"\x00" * (60 - len(frame))
        return frame


class LinuxSLL(_HeaderLink):
    """Linux cooked capture v1 (DLT_LINUX_SLL = 113), what ``tcpdump -i any`` wrote.

    16-byte header: packet type (0 = to us, 4 = outgoing), ARPHRD_ETHER, address length,
    the sender's link address padded to 8 bytes, protocol.
    """

    linktype = 113

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        return struct.pack(">HHH8sH", 4 if outgoing else 0, 1, 6, src_mac, ethertype(version))


class LinuxSLL2(_HeaderLink):
    """Linux cooked capture v2 (DLT_LINUX_SLL2 = 276), libpcap >= 1.10 ``-i any``.

    20-byte header: protocol, reserved, interface index, ARPHRD_ETHER, packet type,
    address length, link address padded to 8 bytes.
    """

    linktype = 276

    def __init__(self, ifindex: int = 2) -> None:
        self.ifindex = ifindex

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        return struct.pack(
            ">HHIHBB8s", ethertype(version), 0, self.ifindex, 1, 4 if outgoing else 0, 6, src_mac
        )


class RawIP(_HeaderLink):
    """Raw IP, no link header (LINKTYPE_RAW = 101): tun devices, some firewalls."""

    linktype = 101

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        return b""


class Null(_HeaderLink):
    """BSD loopback / NULL encapsulation (DLT_NULL = 0): lo0 and utun on macOS/BSD.

    The 4-byte address family is in the *writing host's* byte order, so it follows the
    file's byte order. AF_INET is 2 everywhere; AF_INET6 differs by OS (macOS 30,
    FreeBSD 28, OpenBSD/NetBSD 24).
    """

    linktype = 0

    def __init__(self, af_inet6: int = 30) -> None:
        self.af_inet6 = af_inet6

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        return struct.pack(byteorder + "I", 2 if version == 4 else self.af_inet6)


def frames(packets: Iterable[Packet], link: Link, byteorder: str = "<") -> list[tuple[int, bytes]]:
    """Sort packets by capture time (creation order on ties) and frame them."""
    ordered = sorted(packets, key=lambda p: (p.ts_ns, p.order))
    return [(p.ts_ns, link.frame(p, byteorder)) for p in ordered]
