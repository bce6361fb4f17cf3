"""Decode stage: link, IP and transport headers of a whole record batch at once.

Input is a RecordBatch; output is a PacketBatch of numpy columns (addresses, ports, TCP
flags and sequence numbers, where the payload starts and how long it is) for the packets
that make flows - TCP, UDP, ICMP, ICMPv6, SCTP and the tunnel carriers GRE, IP-in-IP and
IPv6-in-IP - plus counters for everything else. No Python loop runs per packet here: each
header field is one fancy-indexed gather over the batch buffer (docs/ARCHITECTURE.md §2).

Tunnels are opened level by level: the carriers of a decoded level (VXLAN, Geneve, GTP-U,
CAPWAP data and Teredo on their UDP ports; GRE with ERSPAN, bridged Ethernet, MPLS or PPTP's
PPP inside; IP-in-IP and IPv6-in-IP) have their encapsulation header read (``decap``), and
the packets inside are decoded as a batch of their own, up to MAX_TUNNEL_DEPTH levels.
The outer packet stays a packet of its flow; the inner one carries a tunnel key (which
tunnel, see ``_tunnel_keys``) that keeps its flow apart from the same 5-tuple elsewhere.

Addresses are kept as two unsigned 64-bit halves of an IPv6 address; IPv4 addresses are
IPv4-mapped (::ffff:a.b.c.d) so both families share one flow table.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from detector.compiled import fast
from detector.source.batch import RecordBatch

# Link types (https://www.tcpdump.org/linktypes.html) this decoder understands: every one
# ndpiReader reads (nDPI example/reader_util.c, ndpi_workflow_process_packet) and bare 802.11.
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_PPP_HDLC = 50  # DLT_PPP_SERIAL
LINKTYPE_RAW = 101
LINKTYPE_C_HDLC = 104
LINKTYPE_IEEE802_11 = 105
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IEEE802_11_RADIOTAP = 127
LINKTYPE_PPI = 192
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
DLT_RAW_ALIASES = (12, 14)  # DLT_RAW on some BSDs/OpenBSD
# An 802.11 frame whose two frame control bytes are swapped, as some Cisco access points
# send them inside CAPWAP (Wireshark's CAPWAP preference "Swap Frame Control"): a link type
# of packets taken out of a tunnel only (capture files hold no negative link type).
LINK_DOT11_SWAPPED = -105
SUPPORTED_LINKTYPES = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_PPP,
        LINKTYPE_PPP_HDLC,
        LINKTYPE_RAW,
        LINKTYPE_C_HDLC,
        LINKTYPE_IEEE802_11,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IEEE802_11_RADIOTAP,
        LINKTYPE_PPI,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
        *DLT_RAW_ALIASES,
    }
)

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
ETH_PPPOE_SESSION = 0x8864
ETH_MPLS = (0x8847, 0x8848)  # MPLS unicast, multicast (RFC 3032)
PROTO_ICMP = 1
PROTO_IPIP = 4
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_IPV6 = 41
PROTO_GRE = 47
PROTO_ICMPV6 = 58
PROTO_SCTP = 132
# Suricata's names of the IP protocols that make flows (util-proto-name.c, from IANA).
PROTO_NAMES = {
    PROTO_ICMP: "ICMP",
    PROTO_IPIP: "IP-in-IP",
    PROTO_TCP: "TCP",
    PROTO_UDP: "UDP",
    PROTO_IPV6: "IPv6",
    PROTO_GRE: "GRE",
    PROTO_ICMPV6: "IPv6-ICMP",
    PROTO_SCTP: "SCTP",
}
# Bytes of each flow protocol's header a packet must hold (ICMP and ICMPv6: type, code,
# checksum and the 4-byte rest of the header, as Suricata's ICMPV4/ICMPV6_HEADER_LEN; SCTP:
# its common header, RFC 9260 §3.1; GRE: its base header, RFC 2784 §2.1); -1: no flow.
# And where the payload starts (L4_PAYLOAD; TCP: its data offset): a carrier's payload is
# what it carries with its encapsulation header (GRE's, whose length varies: decap reads it);
# IP-in-IP and IPv6-in-IP carry the inner packet as it is.
L4_HEADER = np.full(256, -1, dtype=np.int64)
L4_PAYLOAD = np.full(256, -1, dtype=np.int64)
for _proto, _need, _payload in ((PROTO_TCP, 20, 20), (PROTO_UDP, 8, 8), (PROTO_ICMP, 8, 8),
                                (PROTO_ICMPV6, 8, 8), (PROTO_SCTP, 12, 12), (PROTO_GRE, 4, 0),
                                (PROTO_IPIP, 0, 0), (PROTO_IPV6, 0, 0)):  # fmt: skip
    L4_HEADER[_proto], L4_PAYLOAD[_proto] = _need, _payload
# etype of a packet whose link-layer header is cut short or malformed (counted as a
# truncated header); -1 is an unsupported link type.
LINK_TRUNCATED = -2
PPP_IPV4 = 0x21  # PPP protocol numbers (RFC 1332, RFC 5072)
PPP_IPV6 = 0x57
CHDLC_ADDRS = (0x0F, 0x8F)  # Cisco HDLC unicast, multicast address (RFC 1547 §4.3.1)
# Radiotap Flags field bits (radiotap.org/fields/Flags; Wireshark packet-radiotap.c)
RADIOTAP_F_FCS = 0x10  # the 802.11 frame ends with its 4-byte FCS
RADIOTAP_F_DATAPAD = 0x20  # padding after the 802.11 header to a 32-bit boundary
RADIOTAP_F_BADFCS = 0x40  # the frame failed its FCS check
RADIOTAP_MAX_PRESENT = 8  # presence words followed to find Flags (bit 31 chains them)
# PPI (Per-Packet Information Header Specification 1.0.10; Wireshark packet-ppi.c)
PPI_MAX_FIELDS = 8  # TLV fields looked at for the 802.11-Common field
PPI_80211_COMMON = 2  # field type; its data is 20 bytes, Flags (LE u16) at data offset 8
PPI_80211_COMMON_LEN = 20
PPI_FLAG_HAVE_FCS = 0x0001
PPI_FLAG_FCS_INVALID = 0x0004
IPV6_EXT_HEADERS = (0, 43, 60)  # hop-by-hop, routing, destination options
IPV6_FRAGMENT = 44
V4_MAPPED_HI = np.uint64(0)
V4_MAPPED_LO_PREFIX = np.uint64(0x0000FFFF00000000)

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10
# Flags of the other flow protocols, in the TCP flags column: SYN marks a packet whose
# sender opened the exchange (an ICMP request or one-way message, an SCTP INIT), SYN|ACK
# its answer (an ICMP reply, an SCTP INIT ACK): the flow stage orients flows by them as by
# TCP's. DIRECTED (never set with TCP, whose 0x80 is CWR) marks a one-way ICMP message:
# its flow keeps the sender first instead of ordering the endpoints (Community ID v1).
FLAG_DIRECTED = 0x80
SCTP_INIT, SCTP_INIT_ACK = 1, 2  # chunk types (RFC 9260 §3.2)


def _icmp_tables(pairs: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per ICMP type: the port-equivalent "destination" of the Community ID spec (the
    paired type of a request or reply, -1 for one-way types, whose code is used), and the
    flags the decoder gives it (SYN: request, SYN|ACK: reply, SYN|DIRECTED: one-way)."""
    mapped = np.full(256, -1, dtype=np.int64)
    flags = np.full(256, TCP_SYN | FLAG_DIRECTED, dtype=np.int64)
    for request, reply in pairs.items():
        mapped[request], mapped[reply] = reply, request
        flags[request], flags[reply] = TCP_SYN, TCP_SYN | TCP_ACK
    return mapped, flags


# The request/reply pairs of the Community ID spec (corelight/community-id-spec; Zeek's
# ICMP "port" mapping): echo, router solicitation/advertisement, timestamp, information,
# address mask; for ICMPv6 echo, MLD query/report, router and neighbor solicitation/
# advertisement, node information (who-are-you) and home agent address discovery.
ICMP4_PAIRED, ICMP4_FLAGS = _icmp_tables({8: 0, 10: 9, 13: 14, 15: 16, 17: 18})
ICMP6_PAIRED, ICMP6_FLAGS = _icmp_tables(
    {128: 129, 130: 131, 133: 134, 135: 136, 139: 140, 144: 145}
)

# Tunnels. Carrier kinds (what the outer packet is) are also the encapsulation codes of
# the packets inside, except GRE's, which become ERSPAN's or PPTP's when they are.
ENCAP_VXLAN = 1  # UDP 4789, RFC 7348
ENCAP_GENEVE = 2  # UDP 6081, RFC 8926
ENCAP_GTPU = 3  # UDP 2152, 3GPP TS 29.281
ENCAP_CAPWAP = 4  # UDP 5247 (data channel), RFC 5415
ENCAP_TEREDO = 5  # UDP 3544, RFC 4380
ENCAP_GRE = 6  # IP protocol 47, RFC 2784/2890 (also transparent Ethernet bridging 0x6558)
ENCAP_ERSPAN1 = 7  # GRE 0x88BE without sequence number (no ERSPAN header)
ENCAP_ERSPAN2 = 8  # GRE 0x88BE with sequence number, ERSPAN version 1 header
ENCAP_ERSPAN3 = 9  # GRE 0x22EB, ERSPAN version 2 header
ENCAP_PPTP = 10  # enhanced GRE (version 1) with PPP inside, RFC 2637 §4.1
ENCAP_IPIP = 11  # IP protocol 4, RFC 2003 (IPv4 inside)
ENCAP_IP6 = 12  # IP protocol 41, RFC 4213 / RFC 2473 (IPv6 inside)
ENCAP_NAMES = {
    ENCAP_VXLAN: "vxlan",
    ENCAP_GENEVE: "geneve",
    ENCAP_GTPU: "gtp-u",
    ENCAP_CAPWAP: "capwap",
    ENCAP_TEREDO: "teredo",
    ENCAP_GRE: "gre",
    ENCAP_ERSPAN1: "erspan-i",
    ENCAP_ERSPAN2: "erspan-ii",
    ENCAP_ERSPAN3: "erspan-iii",
    ENCAP_PPTP: "pptp",
    ENCAP_IPIP: "ip-in-ip",
    ENCAP_IP6: "ipv6-in-ip",
}
# What the encapsulation's identifier (``encap_id``) is called, where it has one.
ENCAP_ID_NAMES = {
    ENCAP_VXLAN: "vni",
    ENCAP_GENEVE: "vni",
    ENCAP_GTPU: "teid",
    ENCAP_GRE: "key",
    ENCAP_ERSPAN2: "session_id",
    ENCAP_ERSPAN3: "session_id",
    ENCAP_PPTP: "call_id",
}
# Carriers by UDP port (either side, as Suricata's DecodeVXLANEnabledForPort; the
# destination port is looked at first) and by IP protocol.
TUNNEL_PORTS = {4789: ENCAP_VXLAN, 6081: ENCAP_GENEVE, 2152: ENCAP_GTPU, 5247: ENCAP_CAPWAP,
                3544: ENCAP_TEREDO}  # fmt: skip
PROTO_CARRIER = np.zeros(256, dtype=np.int64)
PROTO_CARRIER[[PROTO_GRE, PROTO_IPIP, PROTO_IPV6]] = [ENCAP_GRE, ENCAP_IPIP, ENCAP_IP6]
# Tunnels inside tunnels are opened this deep at most (a carrier deeper down is counted
# in ``tunnel_too_deep``); Suricata bounds its decoder layers likewise (decoder.max-layers).
MAX_TUNNEL_DEPTH = 4
MPLS_MAX_LABELS = 8  # label stack entries read before the bottom of the stack
MPLS_IPV4, MPLS_IPV6, MPLS_ETHERNET = 4, 6, 1  # what follows a label stack (_mpls_stack)
GTPU_MAX_EXT = 4  # GTP-U extension headers followed


@dataclass(slots=True)
class DecodeStats:
    """Counts of packets that did not become packets of a flow, by reason, and of the
    packets found inside tunnels. Packets inside a tunnel add to the same reasons."""

    packets: int = 0
    bytes: int = 0
    non_ip: int = 0
    ip_fragments: int = 0
    other_ip_proto: int = 0
    truncated_headers: int = 0
    unsupported_linktype: int = 0
    tunneled: int = 0  # packets taken out of a tunnel (each level counts)
    tunnel_malformed: int = 0  # encapsulation headers malformed or cut short
    tunnel_too_deep: int = 0  # carriers deeper than MAX_TUNNEL_DEPTH, not opened
    linktypes_unsupported: set[int] = field(default_factory=set)

    def add(self, other: DecodeStats) -> None:
        self.packets += other.packets
        self.bytes += other.bytes
        self.add_inner(other)
        self.unsupported_linktype += other.unsupported_linktype
        self.linktypes_unsupported |= other.linktypes_unsupported

    def add_inner(self, other: DecodeStats) -> None:
        """Add the counts of a batch of tunneled packets (no records of their own)."""
        self.non_ip += other.non_ip
        self.ip_fragments += other.ip_fragments
        self.other_ip_proto += other.other_ip_proto
        self.truncated_headers += other.truncated_headers
        self.tunneled += other.tunneled
        self.tunnel_malformed += other.tunnel_malformed
        self.tunnel_too_deep += other.tunnel_too_deep


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class PacketBatch:
    """Decoded packets of one record batch, one entry per packet: a record carrying a
    tunnel gives its outer packet and, right after it, the packets inside."""

    buf: np.ndarray  # the batch buffer (payload bytes are read from here)
    ts: np.ndarray  # float64
    wirelen: np.ndarray  # int64 (inside a tunnel: the inner packet's length)
    proto: np.ndarray  # uint8: a key of PROTO_NAMES
    src_hi: np.ndarray  # uint64
    src_lo: np.ndarray  # uint64
    dst_hi: np.ndarray  # uint64
    dst_lo: np.ndarray  # uint64
    sport: np.ndarray  # uint16 (as int64 for arithmetic); ICMP: type, 0 without ports
    dport: np.ndarray  # ICMP: the paired type (request/reply) or the code (one-way)
    flags: np.ndarray  # uint8 TCP flags (UDP 0; ICMP/SCTP: see FLAG_DIRECTED)
    seq: np.ndarray  # int64 (uint32 values)
    payload_off: np.ndarray  # int64 offset in buf
    payload_len: np.ndarray  # int64, length the headers announce
    payload_cap: np.ndarray  # int64, bytes actually captured (<= payload_len)
    stream_off: np.ndarray  # int64, record offset in the capture (for messages)
    # Tunnels: None when no packet of the batch came out of one.
    tunnel: np.ndarray | None = None  # uint64 key of the tunnel a packet came in, 0 none
    parent: np.ndarray | None = None  # int64 row of the packet that carried it, -1 none
    encap: np.ndarray | None = None  # uint8 ENCAP_* of that carrier, 0 none
    encap_id: np.ndarray | None = None  # int64 VNI, session id, key, TEID... -1 none

    def __len__(self) -> int:
        return int(self.ts.shape[0])


class _Gather:
    """Vectorised big-endian reads from a batch buffer with clipped indices."""

    def __init__(self, buf: np.ndarray) -> None:
        self.buf = buf
        self.last = buf.shape[0] - 8

    def u8(self, idx: np.ndarray) -> np.ndarray:
        return self.buf[np.clip(idx, 0, self.last)].astype(np.int64)

    def be16(self, idx: np.ndarray) -> np.ndarray:
        i = np.clip(idx, 0, self.last)
        return (self.buf[i].astype(np.int64) << 8) | self.buf[i + 1]

    def be32(self, idx: np.ndarray) -> np.ndarray:
        i = np.clip(idx, 0, self.last)
        b = self.buf
        return (
            (b[i].astype(np.int64) << 24)
            | (b[i + 1].astype(np.int64) << 16)
            | (b[i + 2].astype(np.int64) << 8)
            | b[i + 3]
        )

    def le16(self, idx: np.ndarray) -> np.ndarray:
        i = np.clip(idx, 0, self.last)
        return self.buf[i].astype(np.int64) | (self.buf[i + 1].astype(np.int64) << 8)

    def le32(self, idx: np.ndarray) -> np.ndarray:
        i = np.clip(idx, 0, self.last)
        b = self.buf
        return (
            b[i].astype(np.int64)
            | (b[i + 1].astype(np.int64) << 8)
            | (b[i + 2].astype(np.int64) << 16)
            | (b[i + 3].astype(np.int64) << 24)
        )

    def be64(self, idx: np.ndarray) -> np.ndarray:
        i = np.clip(idx, 0, self.last)
        rows = self.buf[i[:, None] + np.arange(8)]
        return np.ascontiguousarray(rows).view(">u8").reshape(-1).astype(np.uint64)


def _ethernet(g: _Gather, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(l3 offset, ethertype) of Ethernet frames at ``o`` (VLAN tags, PPPoE session) inside
    PPI: the steps of _link_layer's Ethernet branch, which stays written out there as in the
    compiled twin's loop (tests/test_linktypes.py checks both read a frame alike)."""
    et = g.be16(o + 12)
    pos = o + 14
    for _ in range(3):  # 802.1Q, 802.1ad QinQ, old 0x9100 stacks
        tagged = np.isin(et, ETH_VLAN_TAGS)
        if not tagged.any():
            break
        et = np.where(tagged, g.be16(pos + 2), et)
        pos = np.where(tagged, pos + 4, pos)
    pppoe = et == ETH_PPPOE_SESSION
    if pppoe.any():
        ppp = g.be16(pos + 6)
        et = np.where(
            pppoe, np.where(ppp == 0x21, ETH_IPV4, np.where(ppp == 0x57, ETH_IPV6, 0)), et
        )
        pos = np.where(pppoe, pos + 8, pos)
    return pos, et


def _mpls_stack(
    g: _Gather, pos: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MPLS label stacks at ``pos`` (RFC 3032 §2.1), read as Suricata's decode-mpls.c reads
    them: (offset after the stack, what follows, cut short). Label stack entries up to the
    one with the bottom-of-stack bit; a last label 0 (IPv4 explicit null) or 2 (IPv6 explicit
    null) says the protocol; the other reserved labels below 15 carry nothing readable;
    otherwise the first nibble guesses: 4 IPv4, 6 IPv6, 0 an Ethernet pseudowire frame behind
    its 4-byte control word (RFC 4385). What follows: MPLS_IPV4, MPLS_IPV6, MPLS_ETHERNET (at
    offset + 4) or 0 (unreadable, also a stack longer than MPLS_MAX_LABELS entries). Cut
    short: an entry, or the 4 bytes a guess needs, past ``end``."""
    active = np.ones(pos.shape[0], dtype=bool)
    cut = np.zeros(pos.shape[0], dtype=bool)
    label = np.zeros(pos.shape[0], dtype=np.int64)
    for _ in range(MPLS_MAX_LABELS):
        cut |= active & (pos + 4 > end)
        active &= ~cut
        if not active.any():
            break
        shim = g.be32(pos)
        label = np.where(active, shim >> 12, label)
        pos = np.where(active, pos + 4, pos)
        active &= ((shim >> 8) & 1) == 0
    nibble = g.u8(pos) >> 4
    guess = label >= 15
    kind = np.where(
        label == 0,
        MPLS_IPV4,
        np.where(label == 2, MPLS_IPV6, 0),
    )
    guessed = np.where(
        nibble == 4,
        MPLS_IPV4,
        np.where(nibble == 6, MPLS_IPV6, np.where(nibble == 0, MPLS_ETHERNET, 0)),
    )
    kind = np.where(guess, guessed, kind)
    cut |= ~active & guess & (pos + 4 > end)
    return pos, np.where(active, 0, kind), cut & ~active


def _mpls(g: _Gather, pos: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(l3 offset, ethertype) behind MPLS label stacks on a link (see _mpls_stack): the
    pseudowire's Ethernet frame is read here (VLAN tags and PPPoE included, MPLS again inside
    is non-IP); a stack, or a pseudowire's Ethernet header, cut short is a truncated link
    header."""
    pos, kind, cut = _mpls_stack(g, pos, end)
    pw = kind == MPLS_ETHERNET
    el3, eet = _ethernet(g, pos + 4)
    eet = np.where(np.isin(eet, ETH_MPLS), 0, eet)
    et = np.where(kind == MPLS_IPV4, ETH_IPV4, np.where(kind == MPLS_IPV6, ETH_IPV6, 0))
    et = np.where(pw, eet, et)
    cut |= pw & (pos + 18 > end)
    return np.where(pw, el3, pos), np.where(cut, LINK_TRUNCATED, et)


def _ppp(g: _Gather, o: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PPP (9) and PPP in HDLC-like framing (50), as libpcap's linktypes page, tcpdump's
    print-ppp.c (ppp_print, ppp_hdlc_if_print) and Wireshark's packet-ppp.c
    (dissect_ppp_hdlc) read them: a frame starting 0x0F or 0x8F is Cisco HDLC; else an
    optional address/control 0xFF 0x03, then the protocol field, one byte when its first
    byte is odd (protocol-field compression, RFC 1661 §6.5), else two."""
    b0 = g.u8(o)
    framed = (b0 == 0xFF) & (g.u8(o + 1) == 0x03)
    pos = np.where(framed, o + 2, o)
    p0 = g.u8(pos)
    short = (p0 & 1) == 1
    proto = np.where(short, p0, g.be16(pos))
    l3 = np.where(short, pos + 1, pos + 2)
    et = np.where(proto == PPP_IPV4, ETH_IPV4, np.where(proto == PPP_IPV6, ETH_IPV6, 0))
    chdlc = np.isin(b0, CHDLC_ADDRS)
    l3 = np.where(chdlc, o + 4, l3)
    et = np.where(chdlc, g.be16(o + 2), et)
    return l3, np.where(l3 > end, LINK_TRUNCATED, et)


def _dot11(
    g: _Gather, o: np.ndarray, end: np.ndarray, datapad: np.ndarray | bool, swapped: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """802.11 data frames at ``o`` (frames end at ``end``): (l3 offset, ethertype).

    Frame control: protocol version 0, type 2 (data), a subtype with a body (bit 2 clear:
    not Null/CF-Ack/CF-Poll) and not Protected, else non-IP. Header length as Linux's
    ieee80211_hdrlen (net/wireless/util.c): 24 bytes, 30 with both To DS and From DS (a
    fourth address), +2 for QoS subtypes, +4 more (HT Control) for QoS with the Order bit;
    rounded up to 4 when radiotap says DATAPAD (libpcap gencode.c,
    gen_load_802_11_header_len). Then LLC/SNAP AA AA 03 with OUI 00 00 00 (RFC 1042) or
    00 00 F8 (802.1H bridge tunnel) and the ethertype. A-MSDU frames (QoS Control bit 7)
    carry several packets behind subframe headers: not read, non-IP. ``swapped``: the two
    frame control bytes come in the other order (LINK_DOT11_SWAPPED)."""
    fc0, fc1 = g.u8(o), g.u8(o + 1)
    if swapped:
        fc0, fc1 = fc1, fc0
    data = ((fc0 & 0x0F) == 0x08) & ((fc0 & 0x40) == 0) & ((fc1 & 0x40) == 0)
    qos = (fc0 & 0x80) != 0
    four = (fc1 & 0x03) == 0x03
    hl = 24 + np.where(four, 6, 0) + np.where(qos, 2, 0) + np.where(qos & (fc1 >= 0x80), 4, 0)
    hl = np.where(datapad, (hl + 3) & ~3, hl)
    amsdu = qos & (g.u8(o + np.where(four, 30, 24)) >= 0x80)
    llc = o + hl
    oui = g.u8(llc + 5)
    snap = (
        (g.be16(llc) == 0xAAAA)
        & (g.u8(llc + 2) == 0x03)
        & (g.be16(llc + 3) == 0)
        & ((oui == 0x00) | (oui == 0xF8))
    )
    room = end - o
    cut = (room < 2) | (data & (room < hl + 8))
    et = np.where(cut, LINK_TRUNCATED, np.where(data & ~amsdu & snap, g.be16(llc + 6), 0))
    return llc + 8, et


def _fcs_end(rb: RecordBatch, m: np.ndarray | slice, fcs: np.ndarray) -> np.ndarray:
    """End of each frame without its 4-byte FCS when ``fcs`` (as Wireshark's 802.11
    dissector: captured length at most the wire length less 4)."""
    cap, wire = rb.caplen[m], rb.wirelen[m]
    return rb.data_off[m] + np.where(fcs, np.minimum(cap, np.maximum(wire - 4, 0)), cap)


def _radiotap(
    rb: RecordBatch, m: np.ndarray | slice, g: _Gather
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """802.11 with a radiotap header (127): (l3 offset, ethertype, frame end).

    Header (radiotap.org; Wireshark packet-radiotap.c): version 0, pad, length (LE u16),
    presence words (LE u32, bit 31 chains another). Fields follow the last presence word
    in bit order: TSFT (bit 0, 8 bytes aligned to 8), then Flags (bit 1, one byte): FCS at
    the end of the frame (0x10), padding after the 802.11 header (0x20), bad FCS (0x40:
    dropped as non-IP, as ndpiReader drops them). A header shorter than 8 bytes or longer
    than the capture is a truncated header; another version is non-IP."""
    o = rb.data_off[m]
    cap = rb.caplen[m]
    ver, rlen, p0 = g.u8(o), g.le16(o + 2), g.le32(o + 4)
    last = o + 4  # the presence word being read
    more = (p0 >> 31) == 1
    for _ in range(RADIOTAP_MAX_PRESENT - 1):
        if not more.any():
            break
        last = np.where(more, last + 4, last)
        more &= (g.le32(last) >> 31) == 1
    fields = last + 4
    fpos = np.where((p0 & 1) == 1, o + ((fields - o + 7) & ~7) + 8, fields)
    flags = np.where(((p0 & 2) != 0) & ~more & (fpos < o + rlen), g.u8(fpos), 0)
    end = _fcs_end(rb, m, (flags & RADIOTAP_F_FCS) != 0)
    l3, et = _dot11(g, o + rlen, end, (flags & RADIOTAP_F_DATAPAD) != 0)
    short = cap < 8
    other = ~short & (ver != 0)
    bad = ~short & ~other & ((rlen < 8) | (rlen > cap))
    dropped = (flags & RADIOTAP_F_BADFCS) != 0
    et = np.where(short | bad, LINK_TRUNCATED, np.where(other | dropped, 0, et))
    return l3, et, end


def _ppi(
    rb: RecordBatch, m: np.ndarray | slice, g: _Gather
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PPI (192): (l3 offset, ethertype, frame end).

    Header (PPI Header Specification 1.0.10; tcpdump print-ppi.c; Wireshark packet-ppi.c):
    version, flags (bit 0: fields padded to 32 bits), length of the whole PPI header (LE u16,
    at least 8 and captured, else a truncated header), DLT of the payload (LE u32), then
    TLV fields (type, length: LE u16). The payload after the header is decoded by that DLT:
    Ethernet (1, as ndpiReader reads PPI) or 802.11 (105), whose 802.11-Common field
    (type 2, 20 bytes) has Flags at offset 8: FCS present (0x0001), FCS invalid (0x0004:
    dropped as non-IP). Any other DLT is non-IP."""
    o = rb.data_off[m]
    cap = rb.caplen[m]
    pflags, plen, dlt = g.u8(o + 1), g.le16(o + 2), g.le32(o + 4)
    stop = o + plen
    pos = o + 8
    cflags = np.zeros(o.shape[0], dtype=np.int64)
    active = (dlt == LINKTYPE_IEEE802_11) & (plen >= 8) & (plen <= cap)
    padded = (pflags & 1) == 1
    for _ in range(PPI_MAX_FIELDS):
        active &= pos + 4 <= stop
        if not active.any():
            break
        flen = g.le16(pos + 2)
        hit = (
            active
            & (g.le16(pos) == PPI_80211_COMMON)
            & (flen == PPI_80211_COMMON_LEN)
            & (pos + 4 + PPI_80211_COMMON_LEN <= stop)
        )
        cflags = np.where(hit, g.le16(pos + 12), cflags)
        active &= ~hit
        step = np.where(padded, (flen + 7) & ~3, flen + 4)
        pos = np.where(active, pos + step, pos)
    end = _fcs_end(rb, m, (dlt == LINKTYPE_IEEE802_11) & ((cflags & PPI_FLAG_HAVE_FCS) != 0))
    l3, et = _dot11(g, stop, end, False)
    dropped = (cflags & PPI_FLAG_FCS_INVALID) != 0
    et = np.where(dropped, 0, et)
    eth = dlt == LINKTYPE_ETHERNET
    if eth.any():
        el3, eet = _ethernet(g, stop)
        l3, et = np.where(eth, el3, l3), np.where(eth, eet, et)
    other = (dlt != LINKTYPE_ETHERNET) & (dlt != LINKTYPE_IEEE802_11)
    et = np.where(other, 0, et)
    l3 = np.where(other, stop, l3)
    cut = (cap < 8) | (plen < 8) | (plen > cap)
    return l3, np.where(cut, LINK_TRUNCATED, et), end


def _link_layer(
    rb: RecordBatch, g: _Gather, stats: DecodeStats
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (l3 offset, ethertype, frame end) per packet; ethertype 0 means not IP,
    LINK_TRUNCATED a link header cut short or malformed, -1 an unsupported link type."""
    n = len(rb)
    off = rb.data_off
    l3 = off.copy()
    etype = np.zeros(n, dtype=np.int64)
    end = off + rb.caplen
    link = rb.linktype
    kinds = np.unique(link)
    for lt in kinds.tolist():
        m = link == lt if kinds.shape[0] > 1 else slice(None)
        o = off[m]
        if lt == LINKTYPE_ETHERNET:
            et = g.be16(o + 12)
            pos = o + 14
            for _ in range(3):  # 802.1Q, 802.1ad QinQ, old 0x9100 stacks
                tagged = np.isin(et, ETH_VLAN_TAGS)
                if not tagged.any():
                    break
                et = np.where(tagged, g.be16(pos + 2), et)
                pos = np.where(tagged, pos + 4, pos)
            pppoe = et == ETH_PPPOE_SESSION
            if pppoe.any():
                ppp = g.be16(pos + 6)
                et = np.where(
                    pppoe, np.where(ppp == 0x21, ETH_IPV4, np.where(ppp == 0x57, ETH_IPV6, 0)), et
                )
                pos = np.where(pppoe, pos + 8, pos)
            l3[m], etype[m] = pos, et
        elif lt == LINKTYPE_LINUX_SLL:
            l3[m], etype[m] = o + 16, g.be16(o + 14)
        elif lt == LINKTYPE_LINUX_SLL2:
            l3[m], etype[m] = o + 20, g.be16(o)
        elif lt in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, *DLT_RAW_ALIASES):
            ver = g.u8(o) >> 4
            l3[m], etype[m] = o, np.where(ver == 4, ETH_IPV4, np.where(ver == 6, ETH_IPV6, 0))
        elif lt in (LINKTYPE_NULL, LINKTYPE_LOOP):
            fam_be = g.be32(o)
            # NULL stores the family in the writer's byte order; LOOP in network order.
            fam_le = (
                ((fam_be & 0xFF) << 24)
                | ((fam_be & 0xFF00) << 8)
                | ((fam_be >> 8) & 0xFF00)
                | (fam_be >> 24)
            )
            fam = np.where(fam_be > 0xFFFF, fam_le, fam_be) if lt == LINKTYPE_NULL else fam_be
            et = np.where(fam == 2, ETH_IPV4, np.where(np.isin(fam, (10, 24, 28, 30)), ETH_IPV6, 0))
            l3[m], etype[m] = o + 4, et
        elif lt in (LINKTYPE_PPP, LINKTYPE_PPP_HDLC):
            l3[m], etype[m] = _ppp(g, o, end[m])
        elif lt == LINKTYPE_C_HDLC:
            # Cisco HDLC (RFC 1547 §4.3.1; Wireshark packet-chdlc.c): address, control,
            # then an ethertype.
            l3[m] = o + 4
            etype[m] = np.where(o + 4 > end[m], LINK_TRUNCATED, g.be16(o + 2))
        elif lt == LINKTYPE_IEEE802_11:  # no radio header, no FCS (Wireshark's default)
            l3[m], etype[m] = _dot11(g, o, end[m], False)
        elif lt == LINK_DOT11_SWAPPED:  # from a CAPWAP tunnel (py_decap)
            l3[m], etype[m] = _dot11(g, o, end[m], False, swapped=True)
        elif lt == LINKTYPE_IEEE802_11_RADIOTAP:
            l3[m], etype[m], end[m] = _radiotap(rb, m, g)
        elif lt == LINKTYPE_PPI:
            l3[m], etype[m], end[m] = _ppi(rb, m, g)
        else:
            count = int(np.count_nonzero(link == lt))
            stats.unsupported_linktype += count
            stats.linktypes_unsupported.add(int(lt))
            etype[m] = -1
    mpls = np.isin(etype, ETH_MPLS)  # on any link that names its payload by ethertype
    if mpls.any():
        l3[mpls], etype[mpls] = _mpls(g, l3[mpls], end[mpls])
    return l3, etype, end


# What a decoded level gives: its packets, its counters, which record (or outer packet)
# each packet came from, how many of them carry a tunnel (see _carriers), and the DecodeRows its
# columns were written into (None: arrays of its own, the numpy twin's way).
Level = tuple[PacketBatch, DecodeStats, np.ndarray, int, "DecodeRows | None"]
# What decapsulating carriers gives per carrier (see py_decap).
Decap = tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
    tuple[int, int, int],
]  # fmt: skip


def decode(rb: RecordBatch, rows: DecodeRows | None = None) -> tuple[PacketBatch, DecodeStats]:
    """Decode every record of ``rb``, tunnels opened; return its packets and what was
    skipped. With ``rows`` (a capture session's), the packets' columns are written there,
    over the previous batch's (see DecodeRows); else into new ones.

    The per-packet header walks run in C (detector/csrc/decode.c) when built; py_decode is their
    numpy twin with identical results (tests/test_compiled_twins.py, tests/test_tunnels.py)."""
    if fast is None:
        return py_decode(rb, rows)
    return _decode(rb, rows, _c_level, _c_decap, _carrier_rows_compiled)


def py_decode(rb: RecordBatch, rows: DecodeRows | None = None) -> tuple[PacketBatch, DecodeStats]:
    """Decode every record of ``rb`` with numpy (see decode)."""
    return _decode(rb, rows, _py_level, py_decap, _carrier_rows_numpy)


def _decode(
    rb: RecordBatch,
    rows: DecodeRows | None,
    level,  # noqa: ANN001
    decap,  # noqa: ANN001
    carrier_rows,  # noqa: ANN001
) -> tuple[PacketBatch, DecodeStats]:
    if rows is None:
        rows = DecodeRows()
    pb, stats, _, carriers, written = level(rb, rows, 0)
    if carriers:
        if written is None:  # the numpy twin's level 0: its own arrays, copied once
            rows.put(0, pb)
        pb = _open_tunnels(pb, stats, level, decap, carrier_rows, rows)
    return pb, stats


class DecodeRows:
    """The columns a batch's packets are decoded into, every tunnel level's after the one
    before, written in place: decode_batch writes each level straight after the last, so
    the levels need no concatenation. Joining them with np.concatenate instead cost a copy
    of every column of the batch whenever one packet of it was tunnelled (+0.07 s of 2.9 s
    on the real-traffic bench, 1M packets).

    A capture session keeps one and decodes every batch into it (see decode): the pages are
    faulted in once, not once per batch - on this VM a page fault costs ~10 us, and fresh
    columns per batch cost ~17,000 of them on the real-traffic bench. The packets of a
    batch are therefore views that the next decode into the same rows overwrites.

    The columns are rows of two blocks (above glibc's mmap threshold, see
    pipeline._steady_allocator), so that they never fragment the heap that long-lived
    records live in (separate columns did: +3 MB of peak RSS with 10,000 miners,
    tests/test_harden.py). When a batch needs more rows than there are, the blocks are
    replaced by bigger ones (reserve)."""

    __slots__ = ("capacity", "ts", "small", "wide", "nums")

    def __init__(self, capacity: int = 0) -> None:
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        self.capacity = capacity
        eight = np.empty((13, capacity), dtype=np.uint64)  # the 8-byte columns
        one = np.empty((2, capacity), dtype=np.uint8)
        self.ts = eight[0].view(np.float64)
        self.small = [one[0], one[1]]  # proto, flags
        self.wide = [eight[1], eight[2], eight[3], eight[4]]  # addresses
        # sport, dport, seq, payload off/len/cap, wirelen, stream_off
        self.nums = [eight[i].view(np.int64) for i in range(5, 13)]

    def reserve(self, used: int, need: int) -> None:
        """Room for ``need`` rows, keeping the first ``used``: bigger blocks when these are
        too small (with room for half as many again: tunnels in the next batch)."""
        if need <= self.capacity:
            return
        old = self.columns()
        self._allocate(max(need + need // 2 + 64, 2 * self.capacity))
        for was, now in zip(old, self.columns(), strict=True):
            now[:used] = was[:used]

    def columns(self) -> list[np.ndarray]:
        return [self.ts, *self.small, *self.wide, *self.nums]

    def put(self, at: int, pb: PacketBatch) -> None:
        """Copy a level decoded into arrays of its own (the numpy twin) to rows ``at``..."""
        end = at + len(pb)
        self.reserve(at, end)
        for column, name in zip(self.columns(), _COLUMNS, strict=True):
            column[at:end] = getattr(pb, name)

    def batch(self, buf: np.ndarray, at: int, end: int, **tunnels: np.ndarray) -> PacketBatch:
        """The packets of rows ``at``..``end`` (views, not copies)."""
        fields = {
            name: column[at:end] for column, name in zip(self.columns(), _COLUMNS, strict=True)
        }
        return PacketBatch(buf=buf, **fields, **tunnels)


@functools.cache
def _port_carrier() -> np.ndarray:
    """TUNNEL_PORTS as a table by port (made when first needed: most runs see no tunnel)."""
    table = np.zeros(65536, dtype=np.uint8)
    table[list(TUNNEL_PORTS)] = list(TUNNEL_PORTS.values())
    return table


def _carriers(pb: PacketBatch) -> np.ndarray:
    """Per packet, the kind of tunnel it carries (ENCAP_*), 0 for none. The ports are
    looked up for the UDP packets only: every batch pays this, and looking up both ports
    of every packet cost ~1.5 % of a scan of the real-traffic bench capture (cProfile)."""
    kinds = PROTO_CARRIER[pb.proto]
    udp = np.flatnonzero(pb.proto == PROTO_UDP)
    if udp.shape[0]:
        table = _port_carrier()
        kind = table[pb.dport[udp]]
        kinds[udp] = np.where(kind == 0, table[pb.sport[udp]], kind)
    return kinds


def _carrier_rows_numpy(pb: PacketBatch) -> tuple[np.ndarray, np.ndarray]:
    """The rows of the packets that carry a tunnel, in order, and the kind of each
    (_carriers). _carrier_rows_compiled is its one-pass twin."""
    kinds = _carriers(pb)
    at = np.flatnonzero(kinds)
    return at, kinds[at]


def _carrier_rows_compiled(pb: PacketBatch) -> tuple[np.ndarray, np.ndarray]:
    """_carrier_rows_numpy by ``_fast.carrier_rows``: one pass over the level's packets
    (numpy made ~5 passes and gathers of them per level, every batch with a carrier)."""
    out = np.empty((2, pb.proto.shape[0]), dtype=np.int64)
    count = fast.carrier_rows(
        np.ascontiguousarray(pb.proto, dtype=np.uint8),
        np.ascontiguousarray(pb.sport, dtype=np.int64),
        np.ascontiguousarray(pb.dport, dtype=np.int64),
        PROTO_CARRIER, _port_carrier(), out[0], out[1],
    )  # fmt: skip
    return out[0, :count], out[1, :count]


_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TUNNEL_SEED = np.uint64(0x7E57ED7E57ED7E57)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (as flows.py hashes 5-tuples)."""
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def _tunnel_keys(
    outer: PacketBatch, rows: np.ndarray, parent: np.ndarray, encap: np.ndarray, key_id: np.ndarray
) -> np.ndarray:
    """The tunnel key of packets taken out of the carriers at ``rows`` of ``outer``: what
    keeps their flows apart from the same 5-tuple in another tunnel (or in none). A hash of
    the carrier's own tunnel key (``parent``: tunnels in tunnels), the kind of encapsulation,
    the carrier's two addresses in canonical order (both directions of a tunnel share them:
    a VXLAN reply leaves the other VTEP, from another entropy source port, so ports are left
    out) and the segment the encapsulation names when both directions carry the same one
    (``key_id``: VXLAN and Geneve VNIs, ERSPAN session ids; GTP-U TEIDs, GRE keys and PPTP
    call ids differ by direction, and are left out). Never 0, which means no tunnel."""
    s_hi, s_lo = outer.src_hi[rows], outer.src_lo[rows]
    d_hi, d_lo = outer.dst_hi[rows], outer.dst_lo[rows]
    first = (s_hi < d_hi) | ((s_hi == d_hi) & (s_lo <= d_lo))
    h = _mix64(parent ^ _TUNNEL_SEED)
    for part in (
        np.where(first, s_hi, d_hi),
        np.where(first, s_lo, d_lo),
        np.where(first, d_hi, s_hi),
        np.where(first, d_lo, s_lo),
        (encap.astype(np.uint64) << np.uint64(32)) | key_id.astype(np.uint64),
    ):
        h = _mix64(h ^ part)
    return np.where(h == 0, np.uint64(1), h)


# PacketBatch's columns, in DecodeRows.columns' order.
_COLUMNS = ("ts", "proto", "flags", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport",
            "seq", "payload_off", "payload_len", "payload_cap", "wirelen",
            "stream_off")  # fmt: skip


def _open_tunnels(
    pb: PacketBatch,
    stats: DecodeStats,
    level,  # noqa: ANN001
    decap,  # noqa: ANN001
    carrier_rows,  # noqa: ANN001
    rows: DecodeRows,
) -> PacketBatch:
    """``pb`` with the packets inside its tunnels: each level's carriers decapsulated
    (``decap``), the packets inside decoded as a batch (``level``), up to MAX_TUNNEL_DEPTH
    levels; the levels one after the other in ``rows`` (see DecodeRows), each in record order.

    Level after level, each in record order: the packets of one flow keep their order (a
    flow's packets are all at one level - the tunnel is in its key), which is all the flow
    stage needs. Sorting the whole batch back into record order instead cost a gather of
    every column of every packet whenever one packet of the batch was tunneled: +0.45 G
    instructions on the real-traffic bench (callgrind, 1M packets)."""
    spans = [(0, len(pb))]  # each level's rows
    inner_levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    # the tunnel key of each packet of the level (None: level 0, in no tunnel - no zeros
    # of the batch's length to fill)
    cur, cur_tunnel = pb, None
    for depth in range(MAX_TUNNEL_DEPTH + 1):
        at_carrier, carrier_kinds = carrier_rows(cur)
        if at_carrier.shape[0] == 0:
            break
        if depth == MAX_TUNNEL_DEPTH:
            stats.tunnel_too_deep += int(at_carrier.shape[0])
            break
        link, off, cap, wire, encap, ident, key_id, (malformed, non_ip, fragments) = decap(
            cur.buf, carrier_kinds, cur.payload_off[at_carrier], cur.payload_cap[at_carrier],
            cur.payload_len[at_carrier],
        )  # fmt: skip
        stats.tunnel_malformed += malformed
        stats.non_ip += non_ip
        stats.ip_fragments += fragments
        inside = np.flatnonzero(link != 0)
        if inside.shape[0] == 0:
            break
        carrier = at_carrier[inside]
        inner = RecordBatch(
            cur.buf, off[inside], cap[inside], wire[inside], cur.ts[carrier],
            link[inside].astype(np.int32), cur.stream_off[carrier],
        )  # fmt: skip
        stats.tunneled += len(inner)
        start = spans[-1][1]
        ipb, istats, ikeep, _, written = level(inner, rows, start)
        stats.add_inner(istats)
        if len(ipb) == 0:
            break
        if written is None:
            rows.put(start, ipb)
        at = carrier[ikeep]  # each inner packet's carrier, a row of cur
        chosen = inside[ikeep]
        outer_key = np.zeros(at.shape[0], np.uint64) if cur_tunnel is None else cur_tunnel[at]
        key = _tunnel_keys(cur, at, outer_key, encap[chosen], key_id[chosen])
        inner_levels.append((spans[-1][0] + at, encap[chosen], ident[chosen], key))
        spans.append((start, start + len(ipb)))
        cur, cur_tunnel = ipb, key
    if len(spans) == 1:
        return pb
    total = spans[-1][1]
    tunnel = np.zeros(total, dtype=np.uint64)
    parent = np.full(total, -1, dtype=np.int64)
    encap_of = np.zeros(total, dtype=np.uint8)
    encap_id = np.full(total, -1, dtype=np.int64)
    for (lo, hi), (carried_by, encap, ident, key) in zip(spans[1:], inner_levels, strict=True):
        parent[lo:hi], encap_of[lo:hi] = carried_by, encap
        encap_id[lo:hi], tunnel[lo:hi] = ident, key
    return rows.batch(pb.buf, 0, total, tunnel=tunnel, parent=parent, encap=encap_of,
                      encap_id=encap_id)  # fmt: skip


def _c_level(rb: RecordBatch, rows: DecodeRows, at: int) -> Level:
    """One level of decode_batch (detector/csrc/decode.c): _py_level's compiled twin. Its packets
    are written to ``rows`` from row ``at`` on (see DecodeRows)."""
    n = len(rb)
    rows.reserve(at, at + n)
    end = at + n
    keep = np.empty(n, dtype=np.int64)
    proto, flags = (column[at:end] for column in rows.small)
    sport, dport, seq, poff, plen, pcap, wirelen, stream_off = (c[at:end] for c in rows.nums)
    kept, non_ip, frags, other, truncated, unsupported, carriers = fast.decode_batch(
        rb.buf,
        np.ascontiguousarray(rb.data_off, dtype=np.int64),
        np.ascontiguousarray(rb.caplen, dtype=np.int64),
        np.ascontiguousarray(rb.linktype, dtype=np.int32),
        np.ascontiguousarray(rb.ts, dtype=np.float64),
        np.ascontiguousarray(rb.wirelen, dtype=np.int64),
        np.ascontiguousarray(rb.stream_off, dtype=np.int64),
        keep,
        proto,
        *(column[at:end] for column in rows.wide),
        sport,
        dport,
        flags,
        seq,
        poff,
        plen,
        pcap,
        rows.ts[at:end],  # the kept records' time, wire length and stream offset
        wirelen,
        stream_off,
    )
    stats = DecodeStats(
        packets=n,
        bytes=int(rb.wirelen.sum()),
        non_ip=non_ip,
        ip_fragments=frags,
        other_ip_proto=other,
        truncated_headers=truncated,
        unsupported_linktype=unsupported,
    )
    if unsupported:
        kinds = np.unique(rb.linktype)
        stats.linktypes_unsupported = {int(k) for k in kinds if int(k) not in SUPPORTED_LINKTYPES}
    return rows.batch(rb.buf, at, at + kept), stats, keep[:kept], carriers, rows


def _c_decap(
    buf: np.ndarray, kinds: np.ndarray, off: np.ndarray, cap: np.ndarray, wire: np.ndarray
) -> Decap:
    """decap_batch (detector/csrc/decode.c): py_decap's compiled twin."""
    m = kinds.shape[0]
    link = np.empty(m, dtype=np.int64)
    out = np.empty((3, m), dtype=np.int64)  # offset, captured, wire length
    encap = np.empty(m, dtype=np.int64)
    ident = np.empty(m, dtype=np.int64)
    key_id = np.empty(m, dtype=np.int64)
    counts = fast.decap_batch(
        buf,
        np.ascontiguousarray(kinds, dtype=np.int64),
        np.ascontiguousarray(off, dtype=np.int64),
        np.ascontiguousarray(cap, dtype=np.int64),
        np.ascontiguousarray(wire, dtype=np.int64),
        link,
        out[0],
        out[1],
        out[2],
        encap,
        ident,
        key_id,
    )
    return link, out[0], out[1], out[2], encap, ident, key_id, counts


def _py_level(rb: RecordBatch, rows: DecodeRows, at: int) -> Level:
    """One level of decoding with numpy: every record of ``rb`` read as its link type.
    Its packets are arrays of their own (``rows`` is not written: see _open_tunnels)."""
    stats = DecodeStats(packets=len(rb), bytes=int(rb.wirelen.sum()))
    g = _Gather(rb.buf)
    l3, etype, pkt_end = _link_layer(rb, g, stats)
    avail = pkt_end - l3
    first = g.u8(l3)
    ver = first >> 4

    is4 = (etype == ETH_IPV4) & (ver == 4) & (avail >= 20)
    is6 = (etype == ETH_IPV6) & (ver == 6) & (avail >= 40)
    is_ip = is4 | is6
    stats.non_ip += int(
        np.count_nonzero((etype >= 0) & ~(etype == ETH_IPV4) & ~(etype == ETH_IPV6))
    )
    stats.truncated_headers += int(
        np.count_nonzero(
            (((etype == ETH_IPV4) | (etype == ETH_IPV6)) & ~is_ip) | (etype == LINK_TRUNCATED)
        )
    )

    # IPv4 header fields
    ihl = (first & 0x0F) * 4
    total4 = g.be16(l3 + 2)
    frag4 = g.be16(l3 + 6)
    is_frag4 = is4 & (((frag4 & 0x1FFF) != 0) | ((frag4 & 0x2000) != 0))
    proto4 = g.u8(l3 + 9)
    ip_end4 = np.where(total4 >= ihl, l3 + total4, pkt_end)
    ip_end4 = np.where(total4 == 0, pkt_end, ip_end4)  # TSO: length left to the NIC

    # IPv6 header and extension-header chain
    plen6 = g.be16(l3 + 4)
    nh = g.u8(l3 + 6)
    l4_6 = l3 + 40
    frag6 = np.zeros(rb.data_off.shape[0], dtype=bool)
    if is6.any():
        for _ in range(4):
            ext = is6 & np.isin(nh, IPV6_EXT_HEADERS)
            fr = is6 & (nh == IPV6_FRAGMENT)
            if not (ext.any() or fr.any()):
                break
            frag6 |= fr
            step = np.where(fr, 8, (g.u8(l4_6 + 1) + 1) * 8)
            moving = ext | fr
            nh = np.where(moving, g.u8(l4_6), nh)
            l4_6 = np.where(moving, l4_6 + step, l4_6)
    ip_end6 = np.where(plen6 == 0, pkt_end, l3 + 40 + plen6)

    proto = np.where(is4, proto4, nh)
    l4 = np.where(is4, l3 + ihl, l4_6)
    ip_end = np.where(is4, ip_end4, ip_end6)
    is_frag = is_frag4 | (is6 & frag6)
    stats.ip_fragments += int(np.count_nonzero(is_frag))

    whole = is_ip & ~is_frag
    need = L4_HEADER[proto]
    flow = whole & (need >= 0)
    held = flow & (pkt_end - l4 >= need)
    stats.other_ip_proto += int(np.count_nonzero(whole & (need < 0)))
    stats.truncated_headers += int(np.count_nonzero(flow & ~held))
    keep = np.flatnonzero(held)
    l3k, l4k, endk, pendk = l3[keep], l4[keep], ip_end[keep], pkt_end[keep]
    is4k, protok = is4[keep], proto[keep]
    tcpk = protok == PROTO_TCP

    # IPv4 addresses, v4-mapped; the IPv6 halves are gathered only for IPv6 packets.
    src_hi = np.zeros(keep.shape[0], dtype=np.uint64)
    dst_hi = np.zeros(keep.shape[0], dtype=np.uint64)
    src_lo = V4_MAPPED_LO_PREFIX | g.be32(l3k + 12).astype(np.uint64)
    dst_lo = V4_MAPPED_LO_PREFIX | g.be32(l3k + 16).astype(np.uint64)
    v6 = np.flatnonzero(~is4k)
    if v6.shape[0]:
        base6 = l3k[v6]
        src_hi[v6], src_lo[v6] = g.be64(base6 + 8), g.be64(base6 + 16)
        dst_hi[v6], dst_lo[v6] = g.be64(base6 + 24), g.be64(base6 + 32)
    sport = g.be16(l4k)
    dport = g.be16(l4k + 2)
    doff = (g.u8(l4k + 12) >> 4) * 4
    hdr_len = np.where(tcpk, np.maximum(doff, 20), L4_PAYLOAD[protok])
    flags = np.where(tcpk, g.u8(l4k + 13), 0)
    seq = np.where(tcpk, g.be32(l4k + 4), 0)
    rare = np.flatnonzero(~tcpk & (protok != PROTO_UDP))
    if rare.shape[0]:
        sport[rare], dport[rare], flags[rare] = _rare_ports(g, protok[rare], l4k[rare], pendk[rare])
    payload_off = l4k + hdr_len
    payload_len = np.maximum(endk - payload_off, 0)
    payload_cap = np.clip(np.minimum(endk, pendk) - payload_off, 0, None)
    payload_cap = np.minimum(payload_cap, payload_len)

    pb = PacketBatch(
        buf=rb.buf,
        ts=rb.ts[keep],
        wirelen=rb.wirelen[keep],
        proto=protok.astype(np.uint8),
        src_hi=src_hi,
        src_lo=src_lo,
        dst_hi=dst_hi,
        dst_lo=dst_lo,
        sport=sport,
        dport=dport,
        flags=flags.astype(np.uint8),
        seq=seq,
        payload_off=payload_off,
        payload_len=payload_len,
        payload_cap=payload_cap,
        stream_off=rb.stream_off[keep],
    )
    return pb, stats, keep, int(np.count_nonzero(_carriers(pb))), None


def _rare_ports(
    g: _Gather, proto: np.ndarray, l4: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sport, dport, flags) of the flow protocols other than TCP and UDP. ICMP and ICMPv6:
    the Community ID spec's port equivalents - the type, and the paired type of a request or
    reply or else the code - with the flags of ICMP4_FLAGS/ICMP6_FLAGS. SCTP: its ports, SYN
    on an INIT chunk, SYN|ACK on an INIT ACK (the first chunk, RFC 9260 §3.3.2-3). Carriers
    (GRE, IP-in-IP, IPv6-in-IP) have no ports."""
    kind, code = g.u8(l4), g.u8(l4 + 1)
    v6 = proto == PROTO_ICMPV6
    icmp = (proto == PROTO_ICMP) | v6
    paired = np.where(v6, ICMP6_PAIRED[kind], ICMP4_PAIRED[kind])
    sctp = proto == PROTO_SCTP
    chunk = np.where(end - l4 > 12, g.u8(l4 + 12), 0)
    sctp_flags = np.where(
        chunk == SCTP_INIT, TCP_SYN, np.where(chunk == SCTP_INIT_ACK, TCP_SYN | TCP_ACK, 0)
    )
    sport = np.where(icmp, kind, np.where(sctp, g.be16(l4), 0))
    dport = np.where(icmp, np.where(paired >= 0, paired, code), np.where(sctp, g.be16(l4 + 2), 0))
    flags = np.where(
        icmp, np.where(v6, ICMP6_FLAGS[kind], ICMP4_FLAGS[kind]), np.where(sctp, sctp_flags, 0)
    )
    return sport, dport, flags


# What decapsulating one carrier found (py_decap): a packet inside, a malformed or cut
# encapsulation header, a frame that is not IP, a fragment of one, or no frame at all
# (signalling, keep-alives, acknowledgements, encrypted payload).
R_INNER, R_MALFORMED, R_NON_IP, R_FRAGMENT, R_NONE = range(5)
LINK_INNER_IP = LINKTYPE_RAW  # an IP packet (version from its first nibble)


def py_decap(
    buf: np.ndarray, kinds: np.ndarray, off: np.ndarray, cap: np.ndarray, wire: np.ndarray
) -> Decap:
    """Read the encapsulation header of each carrier (``kinds``: ENCAP_* of _carriers) at
    its payload (``off``, ``cap`` bytes captured, ``wire`` announced). Per carrier: the link
    type of what is inside (0: nothing to decode), where it starts, its captured and wire
    lengths, the encapsulation (ENCAP_*), its identifier (-1: none) and the part of it that
    names the tunnel both ways (``_tunnel_keys``); and the counts (malformed, non-IP,
    fragments). decap_batch in detector/csrc/decode.c is the compiled twin.

    - VXLAN (RFC 7348 §5; Suricata decode-vxlan.c): 8 bytes, the I flag (0x08) set and the
      last reserved byte 0, room for an Ethernet header; then Ethernet. Identifier: the VNI.
    - Geneve (RFC 8926 §3.4; Suricata decode-geneve.c): version 0, reserved bits 0, 8 bytes
      plus the options' length; protocol type 0x6558 is Ethernet, 0x0800/0x86DD IP, anything
      else is not IP. Identifier: the VNI.
    - GTP-U (3GPP TS 29.281 §5.1-5.2): version 1, protocol type GTP, 8 bytes, 12 when any of
      E, S, PN is set, then the extension headers (length in 4-octet units, next type in
      their last byte; up to GTPU_MAX_EXT). Only a G-PDU (type 255) carries a packet (IP);
      echo, error indication and end marker carry none. Identifier: the TEID.
    - CAPWAP data (RFC 5415 §4.3): preamble version 0 and type 0 (type 1 is DTLS: none);
      HLEN 4-byte words of header from the preamble on; F (a fragment) counted as fragment,
      K (keep-alive) carries none; T clear: an 802.3 frame (Ethernet), T set with wireless
      binding 1: an IEEE 802.11 frame (105, no FCS), another binding: not IP.
    - Teredo (RFC 4380 §5.1.1; Suricata decode-teredo.c): an optional authentication
      indicator (0x0001, id and auth lengths, 8-byte nonce, confirmation byte) and origin
      indication (0x0000, 8 bytes), then an IPv6 header whose payload length fills the rest
      (Suricata stops at an authentication indicator; the qualification messages behind it
      are read here).
    - GRE (RFC 2784, RFC 2890; Suricata decode-gre.c): version 0 with C, K, S adding 4
      bytes each; routing (R, RFC 1701), recursion or reserved flags set: malformed (so is
      source routing, which RFC 2784 dropped). Protocol 0x0800/0x86DD: IP; 0x6558
      (transparent Ethernet bridging): Ethernet; 0x88BE: ERSPAN type II when the sequence
      number is present (8-byte header, version 1, session id in its low 10 bits; Linux
      include/net/erspan.h, draft-foschiano-erspan), type I without (Ethernet right away);
      0x22EB: ERSPAN type III (12-byte header, version 2, 8 more with the O bit; frame type 0
      Ethernet, 2 IP); 0x8847/0x8848: MPLS (_mpls_stack); other protocols: not IP.
      Identifier: the key (K), the ERSPAN session id. Version 1 (PPTP, RFC 2637 §4.1): K set,
      C, R, s, recursion clear, protocol 0x880B, 8 bytes plus 4 for S and for A; a payload
      length of 0 (an acknowledgement) carries none; then PPP (9). Identifier: the call id.
    - IP-in-IP (protocol 4, RFC 2003) and IPv6-in-IP (41: 6in4 RFC 4213, IPv6 in IPv6 RFC
      2473): the payload is the packet."""
    g = _Gather(buf)
    n = kinds.shape[0]
    res = np.full(n, R_MALFORMED, dtype=np.int64)
    link = np.zeros(n, dtype=np.int64)
    hdr = np.zeros(n, dtype=np.int64)
    encap = kinds.astype(np.int64).copy()
    ident = np.full(n, -1, dtype=np.int64)
    key_id = np.zeros(n, dtype=np.int64)
    o, c = off, cap
    b0, b1, b7 = g.u8(o), g.u8(o + 1), g.u8(o + 7)
    vni = g.be32(o + 4) >> 8

    def put(mask, r, lt=0, h=0, idn=-1, key=0, enc=None) -> None:  # noqa: ANN001
        for out, value in ((res, r), (link, lt), (hdr, h), (ident, idn), (key_id, key)):
            out[mask] = np.broadcast_to(value, (n,))[mask]
        if enc is not None:
            encap[mask] = np.broadcast_to(enc, (n,))[mask]

    k = kinds == ENCAP_VXLAN
    if k.any():
        ok = (c >= 8 + 14) & ((b0 & 0x08) != 0) & (b7 == 0)
        put(k, np.where(ok, R_INNER, R_MALFORMED), LINKTYPE_ETHERNET, 8, vni, vni)
    k = kinds == ENCAP_GENEVE
    if k.any():
        h = 8 + (b0 & 0x3F) * 4
        bad = (c < 8) | ((b0 >> 6) != 0) | ((b1 & 0x3F) != 0) | (b7 != 0) | (h > c)
        ptype = g.be16(o + 2)
        lt = np.where(ptype == 0x6558, LINKTYPE_ETHERNET, 0)
        lt = np.where((ptype == ETH_IPV4) | (ptype == ETH_IPV6), LINK_INNER_IP, lt)
        r = np.where(bad, R_MALFORMED, np.where(lt != 0, R_INNER, R_NON_IP))
        put(k, r, lt, h, vni, vni)
    k = kinds == ENCAP_GTPU
    if k.any():
        h = np.where((b0 & 0x07) != 0, 12, 8)
        bad = (c < 8) | ((b0 >> 5) != 1) | ((b0 & 0x10) == 0) | (h > c)
        nxt = np.where((b0 & 0x04) != 0, g.u8(o + 11), 0)
        for _ in range(GTPU_MAX_EXT):
            more = k & ~bad & (nxt != 0)
            if not more.any():
                break
            size = g.u8(o + h) * 4
            bad |= more & ((size == 0) | (h + size > c))
            step = more & ~bad
            nxt = np.where(step, g.u8(o + h + size - 1), nxt)
            h = np.where(step, h + size, h)
        bad |= nxt != 0
        r = np.where(bad, R_MALFORMED, np.where(b1 == 0xFF, R_INNER, R_NONE))
        put(k, r, LINK_INNER_IP, h, g.be32(o + 4))
    k = kinds == ENCAP_CAPWAP
    if k.any():
        word = g.be32(o) & 0xFFFFFF
        h = (word >> 19) * 4
        binding, native = (word >> 9) & 0x1F, (word >> 8) & 1
        fragment, keepalive = (word >> 7) & 1, (word >> 3) & 1
        # An 802.11 frame's protocol version (the low bits of frame control) is 0; the
        # flags byte of a frame to or from the distribution system has one of those bits set:
        # a frame whose first byte has them and whose second has not came swapped.
        fc0, fc1 = g.u8(o + h), g.u8(o + h + 1)
        swapped = ((fc0 & 3) != 0) & ((fc1 & 3) == 0)
        lt = np.where(swapped, LINK_DOT11_SWAPPED, LINKTYPE_IEEE802_11)
        lt = np.where(binding == 1, lt, 0)
        lt = np.where(native == 0, LINKTYPE_ETHERNET, lt)
        dtls = (b0 & 0x0F) == 1
        bad = (c < 8) | ((b0 >> 4) != 0) | (((b0 & 0x0F) != 0) & ~dtls)
        bad |= ~dtls & ((h < 8) | (h > c))
        r = np.where(keepalive == 1, R_NONE, np.where(lt != 0, R_INNER, R_NON_IP))
        r = np.where(fragment == 1, R_FRAGMENT, r)
        r = np.where(bad, R_MALFORMED, np.where(dtls, R_NONE, r))
        put(k, r, lt, h)
    k = kinds == ENCAP_TEREDO
    if k.any():
        pos = o.copy()
        auth = (c >= 4) & (g.be16(pos) == 0x0001)
        pos = np.where(auth, pos + 4 + g.u8(pos + 2) + g.u8(pos + 3) + 9, pos)
        origin = (pos + 8 <= o + c) & (g.be16(pos) == 0x0000)
        pos = np.where(origin, pos + 8, pos)
        h = pos - o
        ok = (c - h >= 40) & ((g.u8(pos) >> 4) == 6) & (wire - h == 40 + g.be16(pos + 4))
        put(k, np.where(ok, R_INNER, R_MALFORMED), LINK_INNER_IP, h)
    k = kinds == ENCAP_GRE
    if k.any():
        _gre(g, k, o, c, put)
    k = (kinds == ENCAP_IPIP) | (kinds == ENCAP_IP6)
    if k.any():
        put(k, R_INNER, LINK_INNER_IP, 0)

    inner = res == R_INNER
    link = np.where(inner, link, 0)
    start = o + hdr
    encap = np.where(inner, encap, kinds)
    ident = np.where(inner, ident, -1)
    key_id = np.where(inner, key_id, 0)
    counts = (
        int(np.count_nonzero(res == R_MALFORMED)),
        int(np.count_nonzero(res == R_NON_IP)),
        int(np.count_nonzero(res == R_FRAGMENT)),
    )
    return (
        link,
        np.where(inner, start, 0),
        np.where(inner, c - hdr, 0),
        np.where(inner, wire - hdr, 0),
        encap,
        ident,
        key_id,
        counts,
    )


def _gre(g: _Gather, k: np.ndarray, o: np.ndarray, c: np.ndarray, put) -> None:  # noqa: ANN001
    """py_decap's GRE branch (see there): ``put`` records each carrier's outcome."""
    flags, ptype = g.be16(o), g.be16(o + 2)
    ver = flags & 0x7
    csum, routed = (flags & 0x8000) != 0, (flags & 0x4000) != 0
    keyed, seqd, ack = (flags & 0x2000) != 0, (flags & 0x1000) != 0, (flags & 0x0080) != 0
    v0, v1 = ver == 0, ver == 1
    h = np.where(
        v1,
        8 + np.where(seqd, 4, 0) + np.where(ack, 4, 0),
        4 + np.where(csum, 4, 0) + np.where(keyed, 4, 0) + np.where(seqd, 4, 0),
    )
    bad = (c < 4) | ~(v0 | v1) | ((flags & 0x0778) != 0) | routed
    bad |= v1 & (csum | ((flags & 0x0800) != 0) | ~keyed | (ptype != 0x880B))
    bad |= h > c
    key = np.where(keyed, g.be32(o + 4 + np.where(csum, 4, 0)), -1)
    # plain GRE: IP or bridged Ethernet
    lt = np.where((ptype == ETH_IPV4) | (ptype == ETH_IPV6), LINK_INNER_IP, 0)
    lt = np.where(ptype == 0x6558, LINKTYPE_ETHERNET, lt)
    put(k, np.where(bad, R_MALFORMED, np.where(lt != 0, R_INNER, R_NON_IP)), lt, h, key)
    ok = k & ~bad
    # PPTP's enhanced GRE
    pptp = ok & v1
    if pptp.any():
        carries = g.be16(o + 4) != 0
        put(pptp, np.where(carries, R_INNER, R_NONE), LINKTYPE_PPP, h, g.be16(o + 6),
            enc=ENCAP_PPTP)  # fmt: skip
    e = o + h  # an ERSPAN header
    word = g.be32(e)
    session = word & 0x3FF
    erspan1 = ok & v0 & (ptype == 0x88BE) & ~seqd
    if erspan1.any():
        put(erspan1, R_INNER, LINKTYPE_ETHERNET, h, enc=ENCAP_ERSPAN1)
    erspan2 = ok & v0 & (ptype == 0x88BE) & seqd
    if erspan2.any():
        good = (h + 8 <= c) & ((word >> 28) == 1)
        put(erspan2, np.where(good, R_INNER, R_MALFORMED), LINKTYPE_ETHERNET, h + 8, session,
            session, ENCAP_ERSPAN2)  # fmt: skip
    erspan3 = ok & v0 & (ptype == 0x22EB)
    if erspan3.any():
        h3 = h + 12 + np.where((g.u8(e + 11) & 1) == 1, 8, 0)
        frame = (g.be16(e + 10) >> 10) & 0x1F
        good = (h + 12 <= c) & ((word >> 28) == 2) & (h3 <= c)
        lt3 = np.where(frame == 0, LINKTYPE_ETHERNET, np.where(frame == 2, LINK_INNER_IP, 0))
        r = np.where(good, np.where(lt3 != 0, R_INNER, R_NON_IP), R_MALFORMED)
        put(erspan3, r, lt3, h3, session, session, ENCAP_ERSPAN3)
    mpls = ok & v0 & np.isin(ptype, ETH_MPLS)
    if mpls.any():
        after, what, cut = _mpls_stack(g, e, o + c)
        ltm = np.where(what == MPLS_ETHERNET, LINKTYPE_ETHERNET, 0)
        ltm = np.where((what == MPLS_IPV4) | (what == MPLS_IPV6), LINK_INNER_IP, ltm)
        hm = after - o + np.where(what == MPLS_ETHERNET, 4, 0)
        r = np.where(cut, R_MALFORMED, np.where(ltm != 0, R_INNER, R_NON_IP))
        put(mpls, r, ltm, hm, key)
