"""Decode stage: link, IP and transport headers of a whole record batch at once.

Input is a RecordBatch; output is a PacketBatch of numpy columns (addresses, ports, TCP
flags and sequence numbers, where the payload starts and how long it is) for the TCP and
UDP packets, plus counters for everything else. No Python loop runs per packet here:
each header field is one fancy-indexed gather over the batch buffer (docs/ARCHITECTURE.md §2).

Addresses are kept as two unsigned 64-bit halves of an IPv6 address; IPv4 addresses are
IPv4-mapped (::ffff:a.b.c.d) so both families share one flow table.
"""

from __future__ import annotations

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
PROTO_TCP = 6
PROTO_UDP = 17
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


@dataclass(slots=True)
class DecodeStats:
    """Counts of packets that did not become TCP/UDP packets, by reason."""

    packets: int = 0
    bytes: int = 0
    non_ip: int = 0
    ip_fragments: int = 0
    other_ip_proto: int = 0
    truncated_headers: int = 0
    unsupported_linktype: int = 0
    linktypes_unsupported: set[int] = field(default_factory=set)

    def add(self, other: DecodeStats) -> None:
        self.packets += other.packets
        self.bytes += other.bytes
        self.non_ip += other.non_ip
        self.ip_fragments += other.ip_fragments
        self.other_ip_proto += other.other_ip_proto
        self.truncated_headers += other.truncated_headers
        self.unsupported_linktype += other.unsupported_linktype
        self.linktypes_unsupported |= other.linktypes_unsupported


@dataclass(slots=True)
class PacketBatch:
    """Decoded TCP and UDP packets of one record batch (one entry per packet)."""

    buf: np.ndarray  # the batch buffer (payload bytes are read from here)
    ts: np.ndarray  # float64
    wirelen: np.ndarray  # int64
    proto: np.ndarray  # uint8: 6 or 17
    src_hi: np.ndarray  # uint64
    src_lo: np.ndarray  # uint64
    dst_hi: np.ndarray  # uint64
    dst_lo: np.ndarray  # uint64
    sport: np.ndarray  # uint16 (as int64 for arithmetic)
    dport: np.ndarray
    flags: np.ndarray  # uint8 TCP flags (0 for UDP)
    seq: np.ndarray  # int64 (uint32 values)
    payload_off: np.ndarray  # int64 offset in buf
    payload_len: np.ndarray  # int64, length the headers announce
    payload_cap: np.ndarray  # int64, bytes actually captured (<= payload_len)
    stream_off: np.ndarray  # int64, record offset in the capture (for messages)

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
    g: _Gather, o: np.ndarray, end: np.ndarray, datapad: np.ndarray | bool
) -> tuple[np.ndarray, np.ndarray]:
    """802.11 data frames at ``o`` (frames end at ``end``): (l3 offset, ethertype).

    Frame control: protocol version 0, type 2 (data), a subtype with a body (bit 2 clear:
    not Null/CF-Ack/CF-Poll) and not Protected, else non-IP. Header length as Linux's
    ieee80211_hdrlen (net/wireless/util.c): 24 bytes, 30 with both To DS and From DS (a
    fourth address), +2 for QoS subtypes, +4 more (HT Control) for QoS with the Order bit;
    rounded up to 4 when radiotap says DATAPAD (libpcap gencode.c,
    gen_load_802_11_header_len). Then LLC/SNAP AA AA 03 with OUI 00 00 00 (RFC 1042) or
    00 00 F8 (802.1H bridge tunnel) and the ethertype. A-MSDU frames (QoS Control bit 7)
    carry several packets behind subframe headers: not read, non-IP."""
    fc0, fc1 = g.u8(o), g.u8(o + 1)
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
        elif lt == LINKTYPE_IEEE802_11_RADIOTAP:
            l3[m], etype[m], end[m] = _radiotap(rb, m, g)
        elif lt == LINKTYPE_PPI:
            l3[m], etype[m], end[m] = _ppi(rb, m, g)
        else:
            count = int(np.count_nonzero(link == lt))
            stats.unsupported_linktype += count
            stats.linktypes_unsupported.add(int(lt))
            etype[m] = -1
    return l3, etype, end


def decode(rb: RecordBatch) -> tuple[PacketBatch, DecodeStats]:
    """Decode every record of ``rb``; return its TCP/UDP packets and what was skipped.

    The per-packet header walk runs in C (detector/_fast.c) when built; py_decode is its
    numpy twin with identical results (tests/test_compiled_twins.py)."""
    if fast is None:
        return py_decode(rb)
    n = len(rb)
    keep = np.empty(n, dtype=np.int64)
    proto = np.empty(n, dtype=np.uint8)
    addr = np.empty((4, n), dtype=np.uint64)
    ports = np.empty((2, n), dtype=np.int64)
    flags = np.empty(n, dtype=np.uint8)
    nums = np.empty((4, n), dtype=np.int64)  # seq, payload_off, payload_len, payload_cap
    kept, non_ip, frags, other, truncated, unsupported = fast.decode_batch(
        rb.buf,
        np.ascontiguousarray(rb.data_off, dtype=np.int64),
        np.ascontiguousarray(rb.caplen, dtype=np.int64),
        np.ascontiguousarray(rb.linktype, dtype=np.int32),
        keep,
        proto,
        addr[0],
        addr[1],
        addr[2],
        addr[3],
        ports[0],
        ports[1],
        flags,
        nums[0],
        nums[1],
        nums[2],
        nums[3],
        np.ascontiguousarray(rb.wirelen, dtype=np.int64),
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
    k = keep[:kept]
    # Views of the output arrays (contiguous slices), not copies.
    return (
        PacketBatch(
            buf=rb.buf,
            ts=rb.ts[k],
            wirelen=rb.wirelen[k],
            proto=proto[:kept],
            src_hi=addr[0, :kept],
            src_lo=addr[1, :kept],
            dst_hi=addr[2, :kept],
            dst_lo=addr[3, :kept],
            sport=ports[0, :kept],
            dport=ports[1, :kept],
            flags=flags[:kept],
            seq=nums[0, :kept],
            payload_off=nums[1, :kept],
            payload_len=nums[2, :kept],
            payload_cap=nums[3, :kept],
            stream_off=rb.stream_off[k],
        ),
        stats,
    )


def py_decode(rb: RecordBatch) -> tuple[PacketBatch, DecodeStats]:
    """Decode every record of ``rb`` with numpy (see decode)."""
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

    tcp = is_ip & ~is_frag & (proto == PROTO_TCP) & (pkt_end - l4 >= 20)
    udp = is_ip & ~is_frag & (proto == PROTO_UDP) & (pkt_end - l4 >= 8)
    stats.other_ip_proto += int(
        np.count_nonzero(is_ip & ~is_frag & (proto != PROTO_TCP) & (proto != PROTO_UDP))
    )
    stats.truncated_headers += int(
        np.count_nonzero(
            is_ip & ~is_frag & ((proto == PROTO_TCP) | (proto == PROTO_UDP)) & ~(tcp | udp)
        )
    )
    keep = np.flatnonzero(tcp | udp)
    l3k, l4k, endk, pendk = l3[keep], l4[keep], ip_end[keep], pkt_end[keep]
    is4k, tcpk = is4[keep], tcp[keep]

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
    hdr_len = np.where(tcpk, np.maximum(doff, 20), 8)
    flags = np.where(tcpk, g.u8(l4k + 13), 0).astype(np.uint8)
    seq = np.where(tcpk, g.be32(l4k + 4), 0)
    payload_off = l4k + hdr_len
    payload_len = np.maximum(endk - payload_off, 0)
    payload_cap = np.clip(np.minimum(endk, pendk) - payload_off, 0, None)
    payload_cap = np.minimum(payload_cap, payload_len)

    return (
        PacketBatch(
            buf=rb.buf,
            ts=rb.ts[keep],
            wirelen=rb.wirelen[keep],
            proto=np.where(tcpk, PROTO_TCP, PROTO_UDP).astype(np.uint8),
            src_hi=src_hi,
            src_lo=src_lo,
            dst_hi=dst_hi,
            dst_lo=dst_lo,
            sport=sport,
            dport=dport,
            flags=flags,
            seq=seq,
            payload_off=payload_off,
            payload_len=payload_len,
            payload_cap=payload_cap,
            stream_off=rb.stream_off[keep],
        ),
        stats,
    )
