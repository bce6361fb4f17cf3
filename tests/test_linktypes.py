"""The link types past Ethernet that ndpiReader reads: PPP (9), PPP in HDLC-like framing
(50), Cisco HDLC (104), 802.11 with radiotap (127) and PPI (192), and bare 802.11 (105).

Why: a capture of a serial WAN link or of a Wi-Fi monitor interface must show minewatch the
same TCP/UDP packets as an Ethernet capture of that traffic would - and a Wi-Fi capture is
mostly frames that carry no IP packet at all (beacons, acknowledgements, encrypted data),
which must be counted, never misread. Frames are written by scapy (an independent writer)
or by hand; the decoded columns of each are compared with those of the bare IP packet, and
the compiled decoder (detector/csrc/decode.c) with its numpy twin on every frame, every
truncation of it and random mutations.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import numpy as np
import pytest
from scapy.all import raw
from scapy.layers.dot11 import Dot11, Dot11FCS, Dot11QoS, RadioTap
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import LLC, SNAP, Ether
from scapy.layers.ppp import HDLC, PPP, PPPoE

from detector.compiled import fast
from detector.decode import SUPPORTED_LINKTYPES, decode, py_decode
from detector.source import expand_inputs, read_capture
from detector.synth.links import PPI as SynthPPI
from detector.synth.links import Dot11 as SynthDot11
from detector.synth.links import (
    Ethernet,
    Radiotap,
    dot11_ack,
    dot11_beacon,
    dot11_null,
    dot11_protected,
    slarp_keepalive,
)
from detector.synth.pcap import gzip_bytes, pcap_bytes
from tests.conftest import cut_and_mutated

T0 = 1_767_607_200 * 10**9
STA, AP, GW = "02:42:00:00:00:17", "02:42:a0:01:00:01", "00:00:5e:00:01:01"
COLUMNS = ("proto", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "flags", "seq",
           "payload_len", "payload_cap")  # fmt: skip


def _ip_packets() -> list[bytes]:
    return [
        raw(IP(src="10.9.0.2", dst="198.51.100.7", id=7) / TCP(sport=40001, dport=3333, flags="PA",
            seq=1000) / b'{"id":1,"method":"mining.subscribe","params":[]}\n'),  # fmt: skip
        raw(IPv6(src="2001:db8::2", dst="2001:db8::53") / UDP(sport=5353, dport=53) / b"\x12\x34q"),
        raw(IP(src="10.9.0.2", dst="198.51.100.7") / TCP(sport=40001, dport=3333, flags="S")),
    ]


def _batches(tmp_path: Path, linktype: int, frames: list[bytes], snaplen: int = 262144):
    """The record batches of a capture of ``frames``. gzip: a compressed capture is read
    into a buffer padded with zeros, as the decoder expects of every batch (a memory-mapped
    file's window ends at the file's last byte, so reads there are clipped)."""
    path = tmp_path / f"lt{linktype}-{len(list(tmp_path.iterdir()))}.pcap.gz"
    records = [(T0 + 1000 * i, f) for i, f in enumerate(frames)]
    path.write_bytes(gzip_bytes(pcap_bytes(records, linktype, snaplen=snaplen)))
    (cap,) = expand_inputs([str(path)])
    _, it = read_capture(cap)
    return list(it)


def _view(rb, decoder=decode):
    """The decoded packets (columns and payload bytes) and the skip counters."""
    pb, st = decoder(rb)
    rows = []
    for i in range(len(pb)):
        row = tuple(int(getattr(pb, c)[i]) for c in COLUMNS)
        off, cap = int(pb.payload_off[i]), int(pb.payload_cap[i])
        rows.append(row + (bytes(pb.buf[off : off + cap]),))
    return rows, (st.non_ip, st.truncated_headers, st.unsupported_linktype)


def _both(rb):
    """The view of ``rb``: the compiled decoder and its numpy twin must agree on it."""
    view = _view(rb, py_decode)
    if fast is not None:
        assert _view(rb, decode) == view
    return view


def _llc(ip: bytes) -> bytes:
    return raw(LLC() / SNAP(code=0x0800 if ip[0] >> 4 == 4 else 0x86DD)) + ip


def _radiotap_two_words(flags: int) -> bytes:
    """A radiotap header with two presence words and TSFT: the fields start at 12, so
    TSFT is aligned to 16 and Flags sits at 24."""
    words = struct.pack("<II", (1 << 0) | (1 << 1) | (1 << 31), 1 << 11)
    return struct.pack("<BBH", 0, 0, 26) + words + bytes(4) + struct.pack("<QBB", 7, flags, 1)


def _ppi_with_vendor_field(cflags: int) -> bytes:
    """A PPI header with fields padded to 32 bits (flag 0x01): a 5-byte vendor field (padded
    to 8), then the 802.11-Common field with ``cflags``."""
    vendor = struct.pack("<HH", 30001, 5) + b"abcde" + bytes(3)
    common = struct.pack("<HHQHHHHBBbb", 2, 20, 1, cflags, 108, 2437, 0xA0, 0, 0, -60, -90)
    fields = vendor + common
    return struct.pack("<BBHI", 0, 1, 8 + len(fields), 105) + fields


def _dot11_variants(ip: bytes) -> list[bytes]:
    """802.11 data frames carrying ``ip``, as scapy and by hand: To DS and From DS, QoS,
    four addresses with QoS and HT Control (Order bit)."""
    body = _llc(ip)
    up = Dot11(type=2, subtype=0, FCfield="to_DS", addr1=AP, addr2=STA, addr3=GW)
    down = Dot11(type=2, subtype=8, FCfield="from_DS", addr1=STA, addr2=AP, addr3=GW)
    wds = Dot11(type=2, subtype=8, FCfield="to_DS+from_DS+order", addr1=AP, addr2=AP,
                addr3=GW, addr4=STA)  # fmt: skip
    return [
        raw(up) + body,
        raw(down / Dot11QoS(TID=5)) + body,
        raw(wds / Dot11QoS()) + b"\x00\x00\x00\x00" + body,  # HT Control
    ]


def _variants() -> dict[int, list[list[bytes]]]:
    """Per link type, per IP packet: frames that must decode as that packet."""
    out: dict[int, list[list[bytes]]] = {}
    for ip in _ip_packets():
        v4 = ip[0] >> 4 == 4
        pproto = 0x21 if v4 else 0x57
        etype = 0x0800 if v4 else 0x86DD
        out.setdefault(9, []).append([
            raw(HDLC() / PPP(proto=pproto)) + ip,  # FF 03, 2-byte protocol
            struct.pack(">H", pproto) + ip,  # address and control compressed
            bytes([pproto]) + ip,  # and the protocol field too
            b"\xff\x03" + bytes([pproto]) + ip,  # protocol field compressed only
        ])  # fmt: skip
        out.setdefault(50, []).append([
            raw(HDLC() / PPP(proto=pproto)) + ip,
            struct.pack(">BBH", 0x0F, 0x00, etype) + ip,  # Cisco HDLC on a PPP_SERIAL link
        ])  # fmt: skip
        out.setdefault(104, []).append([
            struct.pack(">BBH", 0x0F, 0x00, etype) + ip,
            struct.pack(">BBH", 0x8F, 0x00, etype) + ip,
        ])  # fmt: skip
        out.setdefault(105, []).append(_dot11_variants(ip))
        rt = [
            raw(RadioTap(present="TSFT+Flags+Rate+Channel+dBm_AntSignal", Flags="FCS")
                / Dot11FCS(type=2, subtype=8, FCfield="to_DS", addr1=AP, addr2=STA, addr3=GW)
                / Dot11QoS() / LLC() / SNAP(code=etype) / ip),  # fmt: skip
            raw(RadioTap(present="Flags+Rate", Flags=0)) + _dot11_variants(ip)[1],
            raw(RadioTap(present="Rate+Channel")) + _dot11_variants(ip)[2],
        ]
        pkt = _Pkt(ip)
        rt.append(Radiotap(SynthDot11(qos=True, datapad=True), multi_antenna=True).frame(pkt))
        padded = _dot11_variants(ip)[1]  # 26-byte QoS header, padded to 28 (DATAPAD)
        rt.append(_radiotap_two_words(0x20) + padded[:26] + b"\x00\x00" + padded[26:])
        rt.append(Radiotap(SynthDot11(qos=False)).frame(pkt))
        out.setdefault(127, []).append(rt)
        out.setdefault(192, []).append([
            SynthPPI(SynthDot11(qos=True)).frame(pkt),  # 802.11-Common with FCS present
            SynthPPI(SynthDot11(qos=False), fcs=False).frame(pkt),
            SynthPPI(Ethernet(vlan=12)).frame(pkt),
            SynthPPI(Ethernet(vlan=12, outer_vlan=300)).frame(pkt),
            SynthPPI(Ethernet()).ppi_header(T0)
            + raw(Ether() / PPPoE() / PPP(proto=pproto)) + ip,  # PPPoE session
            _ppi_with_vendor_field(0x0000) + _dot11_variants(ip)[0],
        ])  # fmt: skip
    return out


class _Pkt:
    """What the synth links need of a packet."""

    def __init__(self, ip: bytes) -> None:
        self.ts_ns = T0
        self.l3 = ip
        self.version = ip[0] >> 4
        self.src_mac = bytes.fromhex(STA.replace(":", ""))
        self.dst_mac = bytes.fromhex(GW.replace(":", ""))
        self.outgoing = True


def test_new_link_types_are_supported() -> None:
    assert {9, 50, 104, 105, 127, 192} <= SUPPORTED_LINKTYPES


@pytest.mark.parametrize("linktype", [9, 50, 104, 105, 127, 192])
def test_frames_decode_as_their_ip_packet(tmp_path: Path, linktype: int) -> None:
    """Every framing of a packet gives exactly the columns and payload of the bare packet."""
    for ip, frames in zip(_ip_packets(), _variants()[linktype], strict=True):
        (bare,) = _batches(tmp_path, 101, [ip])
        expected, _ = _both(bare)
        assert len(expected) == 1
        (rb,) = _batches(tmp_path, linktype, frames)
        rows, counts = _both(rb)
        assert counts == (0, 0, 0)
        assert rows == expected * len(frames), (linktype, ip.hex())


def _a(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _no_ip_frames() -> dict[int, list[tuple[bytes, str]]]:
    """Per link type: frames that carry no readable IP packet and how each is counted."""
    ip = _ip_packets()[0]
    data = _dot11_variants(ip)[1]  # QoS data, From DS
    protected = dot11_protected(_a(STA), _a(GW), True, bytes(60), 9)
    amsdu = bytearray(data)
    amsdu[24] |= 0x80  # QoS Control: A-MSDU present (TID 5)
    amsdu4 = bytearray(_dot11_variants(ip)[2])
    amsdu4[30] |= 0x80  # after four addresses, TID 0
    stp = raw(Dot11(type=2, subtype=0, FCfield="to_DS", addr1=AP, addr2=STA, addr3=GW)
              / LLC(dsap=0x42, ssap=0x42, ctrl=3)) + bytes(35)  # fmt: skip
    eapol = raw(Dot11(type=2, subtype=0, FCfield="from_DS", addr1=STA, addr2=AP, addr3=AP)
                / LLC() / SNAP(code=0x888E)) + bytes(99)  # fmt: skip
    version1 = bytearray(data)
    version1[0] |= 0x01
    wifi = [
        (dot11_beacon(T0, "lab"), "non_ip"),
        (dot11_ack(_a(STA)), "non_ip"),
        (dot11_null(_a(STA)), "non_ip"),
        (protected, "non_ip"),
        (bytes(amsdu), "non_ip"),
        (bytes(amsdu4), "non_ip"),
        (stp, "non_ip"),
        (eapol, "non_ip"),
        (bytes(version1), "non_ip"),
        (data[:30], "truncated"),  # the LLC/SNAP header cut
        (data[:1], "truncated"),
    ]
    rt_ok = raw(RadioTap(present="Flags", Flags=0))
    badfcs = raw(RadioTap(present="TSFT+Flags", Flags="FCS+badFCS")) + data + b"\x00" * 4
    rt_v1 = b"\x01" + rt_ok[1:] + data
    rt_short = struct.pack("<BBHI", 0, 0, 4, 0) + data
    rt_long = struct.pack("<BBHI", 0, 0, 400, 0) + data
    ppi = SynthPPI(SynthDot11(qos=True))
    ppi_hdr = ppi.ppi_header(T0)
    bad_ppi = ppi.wrap(T0, data, bad_fcs=True)
    other_dlt = ppi_hdr[:4] + struct.pack("<I", 101) + ppi_hdr[8:] + ip
    return {
        105: wifi,
        127: [(rt_ok + f, why) for f, why in wifi] + [
            (badfcs, "non_ip"), (_radiotap_two_words(0x50) + data + bytes(4), "non_ip"),
            (rt_v1, "non_ip"), (rt_short, "truncated"),
            (rt_long, "truncated"), (rt_ok[:7], "truncated"),
        ],  # fmt: skip
        192: [(ppi_hdr + f, why) for f, why in wifi] + [
            (bad_ppi, "non_ip"), (other_dlt, "non_ip"),
            (_ppi_with_vendor_field(0x0005) + data + bytes(4), "non_ip"),  # FCS invalid
            (ppi_hdr[:2] + struct.pack("<H", 4) + ppi_hdr[4:] + data, "truncated"),
            (ppi_hdr[:2] + struct.pack("<H", 900) + ppi_hdr[4:] + data, "truncated"),
            (ppi_hdr[:6], "truncated"),
        ],  # fmt: skip
        9: [
            (raw(HDLC() / PPP(proto=0xC021)) + bytes(8), "non_ip"),  # LCP
            (b"\xff\x03\x80\x21" + bytes(10), "non_ip"),  # IPCP
            (b"\xff\x03", "truncated"),
        ],
        50: [(raw(HDLC() / PPP(proto=0xC021)) + bytes(8), "non_ip"),
             (slarp_keepalive(1, 2), "non_ip")],  # fmt: skip
        104: [(slarp_keepalive(1, 2), "non_ip"), (b"\x0f\x00\x08", "truncated")],
    }


@pytest.mark.parametrize("linktype", [9, 50, 104, 105, 127, 192])
def test_frames_without_ip_are_counted_never_read(tmp_path: Path, linktype: int) -> None:
    """Management, control, Null, encrypted, EAPOL, A-MSDU, other LLC, other versions,
    bad-FCS frames and other PPI payloads are non-IP; cut or malformed link headers are
    truncated headers; none becomes a packet."""
    for frame, why in _no_ip_frames()[linktype]:
        # the frame between two good ones: a misread length would disturb its neighbours
        good = _variants()[linktype][0][0]
        (rb,) = _batches(tmp_path, linktype, [good, frame, good])
        rows, (non_ip, truncated, unsupported) = _both(rb)
        assert len(rows) == 2, (linktype, frame.hex())
        assert (non_ip, truncated, unsupported) == (
            (1, 0, 0) if why == "non_ip" else (0, 1, 0)), (linktype, why, frame.hex())  # fmt: skip


def test_fcs_is_not_payload(tmp_path: Path) -> None:
    """A frame that ends with its FCS (radiotap Flags 0x10, PPI 802.11-Common 0x0001): a
    packet whose IP length says nothing (TSO: total length 0) ends 4 bytes before the
    frame; if the capture cut the frame (snap length), what was captured is all payload."""
    tso = bytearray(_ip_packets()[0])
    tso[2:4] = b"\x00\x00"
    pkt = _Pkt(bytes(tso))
    body = len(tso) - 40
    for link in (Radiotap(SynthDot11(qos=True)), SynthPPI(SynthDot11(qos=False))):
        frame = link.frame(pkt)
        (rb,) = _batches(tmp_path, link.linktype, [frame])
        rows, _ = _both(rb)
        assert rows[0][-1] == tso[40:] and rows[0][-2] == body
        (cut,) = _batches(tmp_path, link.linktype, [frame], snaplen=len(frame) - 10)
        rows, _ = _both(cut)
        assert rows[0][-2] == body - 6  # 10 bytes cut: 4 of the FCS, 6 of the payload


def test_real_ppi_capture_is_read() -> None:
    """nDPI's someip_sd_sample.pcap (PPI over Ethernet, 6 UDP packets) is read whole."""
    from tests.conftest import CORPUS

    path = CORPUS / "ndpi-suite" / "someip_sd_sample.pcap"
    if not path.exists():
        pytest.skip("corpus not present")
    (cap,) = expand_inputs([str(path)])
    _, it = read_capture(cap)
    packets = 0
    for rb in it:
        rows, counts = _both(rb)
        assert counts == (0, 0, 0)
        packets += len(rows)
    assert packets == 6


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
@pytest.mark.parametrize("linktype", [9, 50, 104, 105, 127, 192])
def test_decode_twins_agree_on_cut_and_mutated_frames(tmp_path: Path, linktype: int) -> None:
    """Every truncation and 300 random mutations of every frame above: the compiled
    decoder and the numpy twin give the same columns and counters (and never fail)."""
    rng = random.Random(linktype)
    frames = [f for group in _variants()[linktype] for f in group]
    frames += [f for f, _ in _no_ip_frames()[linktype]]
    batch = []
    for frame in frames:
        batch += cut_and_mutated(frame, rng, 300, max_flips=3)
    for rb in _batches(tmp_path, linktype, batch):
        a, sa = decode(rb)
        b, sb = py_decode(rb)
        assert sa == sb
        for name in ("ts", "wirelen", *COLUMNS, "payload_off", "stream_off"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name


# --- minewatch's view of the captures against Wireshark's -----------------------------

NEW_LINKTYPES = {9, 50, 104, 105, 127, 192}


def _linktypes(path: Path) -> set[int]:
    (cap,) = expand_inputs([str(path)])
    _, it = read_capture(cap)
    return {int(k) for rb in it for k in np.unique(rb.linktype)}


def _captures_on_new_links() -> list[Path]:
    """Every fixture with a frame of one of these link types, and the corpus's PPI capture."""
    from tests.conftest import CORPUS, PCAPS

    found = [p for p in sorted(PCAPS.iterdir())  # the fixtures only, not their subfolders
             if p.is_file() and p.suffix != ".toml" and _linktypes(p) & NEW_LINKTYPES]  # fmt: skip
    real = CORPUS / "ndpi-suite" / "someip_sd_sample.pcap"
    return found + ([real] if real.exists() else [])


def _key(proto: str, a: tuple[str, int], b: tuple[str, int]) -> tuple:
    import ipaddress

    ends = sorted((str(ipaddress.ip_address(ip)), port) for ip, port in (a, b))
    return (proto, *ends)


def _tshark_flows(path: Path) -> dict[tuple, int]:
    """Packets per TCP/UDP connection as tshark decodes the capture - less the frames
    minewatch drops on purpose (bad FCS, as ndpiReader does) or cannot read (A-MSDU)."""
    import shutil
    import subprocess

    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip("tshark is not installed")
    keep = ("(tcp || udp) && !(radiotap.flags.badfcs == 1)"
            " && !(ppi.80211-common.flags.fcs-invalid == 1) && !(wlan.qos.amsdupresent == 1)")
    fields = ("ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport",
              "udp.srcport", "udp.dstport")  # fmt: skip
    proc = subprocess.run(
        [exe, "-n", "-r", str(path), "-Y", keep, "-T", "fields", "-E", "separator=|",
         *(x for f in fields for x in ("-e", f))],
        capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    counts: dict[tuple, int] = {}
    for line in proc.stdout.splitlines():
        s4, s6, d4, d6, ts, td, us, ud = line.split("|")
        src, dst = (s4 or s6).split(",")[0], (d4 or d6).split(",")[0]
        proto, sport, dport = ("TCP", ts, td) if ts else ("UDP", us, ud)
        key = _key(proto, (src, int(sport)), (dst, int(dport)))
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize("path", _captures_on_new_links(), ids=lambda p: p.name)
def test_minewatch_sees_the_connections_and_packets_tshark_sees(path: Path) -> None:
    """``minewatch flows --all`` reports exactly the TCP/UDP connections tshark decodes in
    the capture, each with as many packets (both directions)."""
    import json

    from tests.conftest import run_cli

    res = run_cli("flows", "--all", "-j", "1", str(path))
    assert res.rc == 0, res.err
    mine: dict[tuple, int] = {}
    for line in res.out.splitlines():
        e = json.loads(line)
        key = _key(e["proto"], (e["src_ip"], e["src_port"]), (e["dest_ip"], e["dest_port"]))
        mine[key] = mine.get(key, 0) + e["flow"]["pkts_toserver"] + e["flow"]["pkts_toclient"]
    theirs = _tshark_flows(path)
    assert theirs, f"tshark decoded no TCP/UDP packet in {path.name}"
    assert mine == theirs
