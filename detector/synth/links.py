"""Link layers: what a capture put in front of each IP packet, and the hosts' MAC addresses.

Every link layer minewatch reads is written here: DIX Ethernet (with 802.1Q and QinQ tags),
Linux cooked captures v1 and v2 (``tcpdump -i any``), raw IP (tun devices), BSD NULL
(loopback, utun), PPP and Cisco HDLC (serial WAN links), and 802.11 Wi-Fi bare, under a
radiotap header or under PPI (monitor-mode captures). A link's header is constant for one
direction of a flow, so :meth:`header` is what a streamed connection computes once, and
:meth:`frame` what a scripted capture calls per packet (a Wi-Fi frame's sequence number,
radio timestamp and FCS follow the packet, so those links need :meth:`frame`).
Frames that carry no IP packet - beacons, acknowledgements, keepalives - are written by
functions of their link (:func:`dot11_beacon`, :func:`slarp_keepalive`, ...) and merged into
a capture's records with :func:`merge_records`.
"""

from __future__ import annotations

import hashlib
import heapq
import struct
import zlib
from collections.abc import Iterable, Sequence
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


class PPP(_HeaderLink):
    """PPP over a serial line (RFC 1661, framing of RFC 1662): DLT_PPP (9) or
    DLT_PPP_SERIAL (50, "PPP in HDLC-like framing").

    Each frame starts with the HDLC address and control bytes FF 03, then the PPP protocol
    field, 00 21 for IPv4 and 00 57 for IPv6. LCP lets each direction negotiate
    Address-and-Control-Field-Compression (the FF 03 left out) and Protocol-Field-Compression
    (a one-byte protocol, 21 or 57) on its own, so ``acfc`` and ``pfc`` are (outgoing,
    incoming) pairs. DLT 50 always carries the address and control bytes.
    """

    def __init__(
        self,
        linktype: int = 9,
        *,
        acfc: tuple[bool, bool] = (False, False),
        pfc: tuple[bool, bool] = (False, False),
    ) -> None:
        if linktype not in (9, 50):
            raise ValueError("PPP is link type 9 or 50")
        if linktype == 50 and any(acfc):
            raise ValueError("DLT_PPP_SERIAL frames keep address and control")
        self.linktype = linktype
        self.acfc = acfc
        self.pfc = pfc

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        side = 0 if outgoing else 1
        proto = 0x21 if version == 4 else 0x57
        head = b"" if self.acfc[side] else b"\xff\x03"
        return head + (bytes([proto]) if self.pfc[side] else struct.pack(">H", proto))

    def control(self, protocol: int, payload: bytes, outgoing: bool) -> bytes:
        """A frame of another PPP protocol (LCP 0xC021: echo requests) on this link; the
        protocol field of a control protocol is never compressed."""
        head = b"" if self.acfc[0 if outgoing else 1] else b"\xff\x03"
        return head + struct.pack(">H", protocol) + payload


def lcp_echo(ident: int, magic: int, reply: bool) -> bytes:
    """An LCP Echo-Request (code 9) or Echo-Reply (10) with the sender's magic number: the
    keepalive pppd sends every ``lcp-echo-interval`` seconds (RFC 1661 §5.8)."""
    return struct.pack(">BBHI", 10 if reply else 9, ident & 0xFF, 8, magic)


class CiscoHDLC(_HeaderLink):
    """Cisco HDLC (DLT_C_HDLC = 104), the default encapsulation of a Cisco serial interface
    (RFC 1547 §4.3.1): address 0x0F (unicast; 0x8F multicast), control 0x00, ethertype."""

    linktype = 104

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        return struct.pack(">BBH", 0x0F, 0x00, ethertype(version))


def slarp_keepalive(mine: int, yours: int) -> bytes:
    """A Cisco HDLC SLARP keepalive (ethertype 0x8035, multicast address 0x8F), sent every
    10 s by each end of the link: code 2, my and your sequence numbers, reliability 0xFFFF."""
    return struct.pack(">BBHIIIH", 0x8F, 0x00, 0x8035, 2, mine, yours, 0xFFFF)


def cdp_announcement(device: str, port: str) -> bytes:
    """A Cisco Discovery Protocol v2 announcement over Cisco HDLC (ethertype 0x2000): header
    (version 2, TTL 180, checksum left 0) with the Device-ID and Port-ID TLVs."""
    tlvs = b"".join(
        struct.pack(">HH", kind, 4 + len(text)) + text.encode()
        for kind, text in ((0x0001, device), (0x0003, port))
    )
    return struct.pack(">BBHBBH", 0x0F, 0x00, 0x2000, 2, 180, 0) + tlvs


#: The Wi-Fi access point's BSSID (a locally administered MAC).
AP_MAC = bytes.fromhex("0242a0010001")
#: LLC/SNAP header of an ethertype-carrying 802.11 data frame (RFC 1042 encapsulation).
_SNAP = bytes.fromhex("aaaa03000000")


def _us(ts_ns: int) -> int:
    return ts_ns // 1000


class Dot11(_HeaderLink):
    """IEEE 802.11 data frames between a station and its access point, as a monitor-mode
    capture shows them (DLT_IEEE802_11 = 105 when bare: no radio header, no FCS).

    Outgoing frames go to the AP (To DS: address 1 the BSSID, 2 the sender, 3 the final
    destination), incoming ones come from it (From DS: 1 the receiver, 2 the BSSID, 3 the
    original sender). A ``wds`` link bridges two APs (To DS and From DS: four addresses).
    ``qos`` frames (subtype QoS Data) carry a QoS Control field (TID 0, best effort), and
    with ``htc`` the Order bit and a 4-byte HT Control field. ``datapad`` pads the MAC header
    to a multiple of 4 bytes, as Atheros radios do (radiotap flag 0x20). The sequence number
    follows the capture time, so :meth:`frame` needs the packet. The frame body is LLC/SNAP
    (AA AA 03 00 00 00) and the ethertype.
    """

    linktype = 105

    def __init__(
        self,
        bssid: bytes = AP_MAC,
        *,
        qos: bool = True,
        htc: bool = False,
        wds: bool = False,
        datapad: bool = False,
    ) -> None:
        if htc and not qos:
            raise ValueError("an HT Control field needs a QoS data frame")
        self.bssid = bssid
        self.qos = qos
        self.htc = htc
        self.wds = wds
        self.datapad = datapad

    def mac_header(self, src_mac: bytes, dst_mac: bytes, outgoing: bool, seq: int) -> bytes:
        flags = 0x03 if self.wds else (0x01 if outgoing else 0x02)
        if self.htc:
            flags |= 0x80
        if self.wds:  # receiver, transmitter (the two APs), destination, source
            peer = bytes.fromhex("0242a0010002")
            addrs = (peer, self.bssid) if outgoing else (self.bssid, peer)
            addrs += (dst_mac, src_mac)
        elif outgoing:
            addrs = (self.bssid, src_mac, dst_mac)
        else:
            addrs = (dst_mac, self.bssid, src_mac)
        fc0 = 0x88 if self.qos else 0x08  # subtype QoS Data / Data, type 2 (data)
        head = struct.pack("<BBH", fc0, flags, 44) + b"".join(addrs[:3])
        head += struct.pack("<H", (seq & 0xFFF) << 4) + b"".join(addrs[3:])
        if self.qos:
            head += b"\x00\x00"  # TID 0, normal ack, no A-MSDU
        if self.htc:
            head += b"\x00\x00\x00\x00"
        if self.datapad:
            head += b"\x00" * (-len(head) % 4)
        return head

    def on_air(self, frame: bytes) -> bytes:
        """A data ``frame`` of this link as the radio sent it: without the ``datapad``
        padding, which the driver adds and the FCS does not cover."""
        if not self.datapad:
            return frame
        size = 24 + (6 if self.wds else 0) + (2 if self.qos else 0) + (4 if self.htc else 0)
        return frame[:size] + frame[size + (-size % 4) :]

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        return (
            self.mac_header(src_mac, dst_mac, outgoing, 0)
            + _SNAP
            + struct.pack(">H", ethertype(version))
        )

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        return self.data_frame(
            pkt.ts_ns, pkt.src_mac, pkt.dst_mac, pkt.outgoing, pkt.l3, ethertype(pkt.version)
        )

    def data_frame(
        self, ts_ns: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, body: bytes, etype: int
    ) -> bytes:
        """The 802.11 frame of ``body`` (an ``etype`` payload) sent at ``ts_ns``."""
        head = self.mac_header(src_mac, dst_mac, outgoing, _us(ts_ns) // 1024)
        return head + _SNAP + struct.pack(">H", etype) + body


def dot11_beacon(ts_ns: int, ssid: str, bssid: bytes = AP_MAC, channel: int = 6) -> bytes:
    """An AP's beacon (management, subtype 8): timestamp, interval 100 TU, capabilities,
    SSID, supported rates and DS parameter set elements."""
    head = struct.pack("<BBH", 0x80, 0x00, 0) + b"\xff" * 6 + bssid + bssid
    head += struct.pack("<H", ((_us(ts_ns) // 102400) & 0xFFF) << 4)
    body = struct.pack("<QHH", _us(ts_ns), 100, 0x0411)
    body += bytes([0, len(ssid)]) + ssid.encode()
    body += bytes([1, 8, 0x82, 0x84, 0x8B, 0x96, 0x0C, 0x12, 0x18, 0x24])
    return head + body + bytes([3, 1, channel])


def dot11_ack(receiver: bytes) -> bytes:
    """An ACK control frame (type 1, subtype 13): frame control, duration, receiver."""
    return struct.pack("<BBH", 0xD4, 0x00, 0) + receiver


def dot11_null(station: bytes, bssid: bytes = AP_MAC, power_save: bool = True) -> bytes:
    """A station's QoS Null frame to its AP (data type, subtype 12, no body): how a phone
    or laptop tells the AP it dozes (Power Management bit) or wakes up."""
    flags = 0x01 | (0x10 if power_save else 0)
    return struct.pack("<BBH", 0xC8, flags, 44) + bssid + station + bssid + b"\x00\x00" * 2


def dot11_protected(
    src_mac: bytes,
    dst_mac: bytes,
    outgoing: bool,
    ciphertext: bytes,
    pn: int,
    bssid: bytes = AP_MAC,
) -> bytes:
    """A QoS data frame with the Protected bit and a CCMP header (packet number ``pn``,
    key 0) in front of ``ciphertext`` and its 8-byte MIC: what a WPA2 network carries when
    the capture has no key."""
    link = Dot11(bssid)
    head = bytearray(link.mac_header(src_mac, dst_mac, outgoing, pn))
    head[1] |= 0x40
    p = pn.to_bytes(6, "little")
    ccmp = bytes([p[0], p[1], 0, 0x20, p[2], p[3], p[4], p[5]])
    return bytes(head) + ccmp + ciphertext


#: Radiotap fields by presence bit: (alignment, size) (https://www.radiotap.org/fields/defined).
_RADIOTAP_FIELDS = {0: (8, 8), 1: (1, 1), 2: (1, 1), 3: (2, 4), 5: (1, 1), 11: (1, 1)}


class Radiotap:
    """802.11 under a radiotap header (DLT_IEEE802_11_RADIO = 127), what a Linux monitor
    interface (mac80211) captures.

    The header: version 0, pad, length, presence words (bit 31 chains another), then each
    present field aligned to its natural size from the header's start: TSFT (the radio's
    microsecond clock, bit 0), Flags (bit 1), Rate (bit 2), Channel (bit 3: frequency, flags),
    antenna signal (bit 5), antenna (bit 11). ``multi_antenna`` adds a second presence word
    (radiotap namespace again, bit 29) with a per-antenna signal and antenna number and
    leaves TSFT out, as Intel radios write it. With ``fcs`` the frame ends with its CRC-32
    (Flags 0x10); the Dot11 link's ``datapad`` sets Flags 0x20.
    """

    linktype = 127

    def __init__(
        self,
        dot11: Dot11 | None = None,
        *,
        fcs: bool = True,
        multi_antenna: bool = False,
        channel_mhz: int = 2437,
    ) -> None:
        self.dot11 = dot11 if dot11 is not None else Dot11()
        self.fcs = fcs
        self.multi_antenna = multi_antenna
        self.channel_mhz = channel_mhz

    def radio_header(self, ts_ns: int, flags: int) -> bytes:
        if self.multi_antenna:
            words = [
                (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 29) | (1 << 31),
                (1 << 5) | (1 << 11),
            ]
            values = {
                0: {1: flags, 2: 12, 3: (self.channel_mhz, 0x00A0), 5: -52},
                1: {5: -53, 11: 1},
            }
        else:
            words = [(1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 11)]
            values = {
                0: {0: _us(ts_ns), 1: flags, 2: 108, 3: (self.channel_mhz, 0x00C0), 5: -47, 11: 0}
            }
        body = b"".join(struct.pack("<I", w) for w in words)
        pos = 8 + len(body) - 4
        for index, word in enumerate(words):
            for bit in sorted(b for b in _RADIOTAP_FIELDS if word & (1 << b)):
                align, size = _RADIOTAP_FIELDS[bit]
                pad = -pos % align
                value = values[index][bit]
                if bit == 3:
                    field = struct.pack("<HH", *value)
                elif bit == 0:
                    field = struct.pack("<Q", value)
                elif bit == 5:
                    field = struct.pack("<b", value)
                else:
                    field = struct.pack("<B", value)
                body += b"\x00" * pad + field
                pos += pad + size
        return struct.pack("<BBH", 0, 0, 4 + len(body)) + body

    def flags(self, bad_fcs: bool = False) -> int:
        return (
            (0x10 if self.fcs else 0)
            | (0x20 if self.dot11.datapad else 0)
            | (0x40 if bad_fcs else 0)
        )

    def wrap(self, ts_ns: int, mac_frame: bytes, *, bad_fcs: bool = False) -> bytes:
        """``mac_frame`` (an 802.11 frame of any type; a data frame of this link padded as
        its ``datapad`` says) as captured at ``ts_ns``; a ``bad_fcs`` frame keeps a wrong
        CRC and says so in Flags."""
        trailer = b""
        if self.fcs:
            air = self.dot11.on_air(mac_frame) if mac_frame[0] & 0x0C == 0x08 else mac_frame
            crc = zlib.crc32(air) ^ (0xFFFFFFFF if bad_fcs else 0)
            trailer = struct.pack("<I", crc)
        return self.radio_header(ts_ns, self.flags(bad_fcs)) + mac_frame + trailer

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        if self.fcs:
            raise ValueError("a frame that ends with its FCS needs frame()")
        return self.radio_header(0, self.flags()) + self.dot11.header(
            version, src_mac, dst_mac, outgoing
        )

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        return self.wrap(pkt.ts_ns, self.dot11.frame(pkt))


class PPI:
    """A frame under a Per-Packet Information header (DLT_PPI = 192), what AirPcap adapters
    and Kismet write (PPI Header Specification 1.0.10).

    The header: version 0, flags 0, length (LE), the DLT of the frame (LE), then TLV fields.
    Over 802.11 (``inner`` a :class:`Dot11`, DLT 105) one 802.11-Common field (type 2, 20
    bytes: TSF timer, flags - 0x0001 the frame ends with its FCS, 0x0004 that FCS is
    wrong - rate, channel frequency and flags, FHSS, signal, noise); over Ethernet (DLT 1) one
    Aggregation Extension field (type 8: interface id), as nDPI's someip_sd_sample.pcap has.
    """

    linktype = 192

    def __init__(
        self, inner: Dot11 | Ethernet | None = None, *, fcs: bool = True, channel_mhz: int = 5180
    ) -> None:
        self.inner = inner if inner is not None else Dot11()
        self.fcs = fcs and isinstance(self.inner, Dot11)
        self.channel_mhz = channel_mhz

    def ppi_header(self, ts_ns: int, bad_fcs: bool = False) -> bytes:
        if isinstance(self.inner, Dot11):
            flags = (0x0001 if self.fcs else 0) | (0x0004 if bad_fcs else 0)
            common = struct.pack(
                "<QHHHHBBbb", _us(ts_ns), flags, 108, self.channel_mhz, 0x0140, 0, 0, -58, -95
            )
            fields = struct.pack("<HH", 2, len(common)) + common
        else:
            fields = struct.pack("<HHI", 8, 4, 0)
        return struct.pack("<BBHI", 0, 0, 8 + len(fields), self.inner.linktype) + fields

    def wrap(self, ts_ns: int, frame: bytes, *, bad_fcs: bool = False) -> bytes:
        """``frame`` (of the inner link) as captured at ``ts_ns``."""
        trailer = b""
        if self.fcs:
            crc = zlib.crc32(frame) ^ (0xFFFFFFFF if bad_fcs else 0)
            trailer = struct.pack("<I", crc)
        return self.ppi_header(ts_ns, bad_fcs) + frame + trailer

    def header(
        self, version: int, src_mac: bytes, dst_mac: bytes, outgoing: bool, byteorder: str = "<"
    ) -> bytes:
        if self.fcs:
            raise ValueError("a frame that ends with its FCS needs frame()")
        return self.ppi_header(0) + self.inner.header(version, src_mac, dst_mac, outgoing)

    def frame(self, pkt: Packet, byteorder: str = "<") -> bytes:
        return self.wrap(pkt.ts_ns, self.inner.frame(pkt))


def frames(packets: Iterable[Packet], link: Link, byteorder: str = "<") -> list[tuple[int, bytes]]:
    """Sort packets by capture time (creation order on ties) and frame them."""
    ordered = sorted(packets, key=lambda p: (p.ts_ns, p.order))
    return [(p.ts_ns, link.frame(p, byteorder)) for p in ordered]


def merge_records(
    records: Sequence[tuple[int, bytes]], extra: Iterable[tuple[int, bytes]]
) -> list[tuple[int, bytes]]:
    """``records`` with ``extra`` (ts_ns, frame) records - frames carrying no IP packet -
    merged in by time (on equal times, ``records`` first)."""
    return list(heapq.merge(records, sorted(extra, key=lambda r: r[0]), key=lambda r: r[0]))
