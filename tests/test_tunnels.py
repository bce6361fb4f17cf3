"""Tunnels the decoder opens (decode.py's py_decap and decap_batch in detector/csrc/decode.c),
the flows their packets make, and the flows of ICMP, ICMPv6 and SCTP.

Why: a sensor on an overlay, a mirror port fed by ERSPAN or a mobile core sees the miner's
packets inside another packet; its flow must be found as on a plain link, kept apart from
the same 5-tuple in another tunnel, and the outer flow must stay visible. Frames are written
by scapy (an independent writer: VXLAN, Geneve, GTP-U, GRE, ERSPAN I/II/III, MPLS, PPTP) or by
hand from the specs (CAPWAP, Teredo); the inner packet's columns must be those of the bare
packet, and the compiled decoder and its numpy twin must agree on every frame, every
truncation of it and random mutations. Real kernel tunnels: tests/test_recorded.py.
"""

from __future__ import annotations

import ipaddress
import json
import random
import struct
from pathlib import Path

import communityid
import numpy as np
import pytest
from scapy.all import Raw, raw
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
from scapy.contrib.mpls import MPLS
from scapy.layers.dot11 import Dot11
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import GRE, GRE_PPTP, LLC, SNAP, Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.sctp import SCTP, SCTPChunkInit, SCTPChunkInitAck
from scapy.layers.vxlan import VXLAN

from detector.compiled import fast
from detector.decode import ENCAP_NAMES, MAX_TUNNEL_DEPTH, decode, py_decode
from detector.sinks.common import community_id_v1
from detector.source import expand_inputs, read_capture
from detector.synth.pcap import pcap_bytes
from tests.conftest import cut_and_mutated, run_cli

T0 = 1_767_607_200 * 10**9
ROWS = ("proto", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "flags", "seq",
        "payload_len", "payload_cap")  # fmt: skip
TUNNEL_COLUMNS = ("tunnel", "parent", "encap", "encap_id")
STRATUM = b'{"id":1,"method":"mining.subscribe","params":["cpuminer/2.5.1"]}\n'
MINER, POOL = "10.9.0.2", "198.51.100.7"
A, B = "192.0.2.1", "192.0.2.2"  # tunnel endpoints


def _inner4() -> bytes:
    return raw(IP(src=MINER, dst=POOL, id=7) / TCP(sport=40001, dport=3333, flags="PA", seq=1000)
               / STRATUM)  # fmt: skip


def _inner6() -> bytes:
    return raw(IPv6(src="2001:db8::2", dst="2001:db8::53") / UDP(sport=5353, dport=53) / b"\x12\x34q")


def _eth(**kw):  # noqa: ANN003, ANN202
    """An Ethernet header with addresses (scapy looks a missing one up, noisily)."""
    return Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b", **kw)


def _outer(payload, v6: bool = False, proto: int | None = None):  # noqa: ANN001
    """An Ethernet frame from tunnel endpoint A to B with ``payload`` (``proto``: the IP
    protocol, when the payload is bytes)."""
    ip = IPv6(src="2001:db8:ff::1", dst="2001:db8:ff::2") if v6 else IP(src=A, dst=B)
    if proto is not None:
        ip.setfieldval("nh" if v6 else "proto", proto)
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ip / payload


def _capwap(inner: bytes, *, native: bool, swapped: bool = False) -> bytes:
    """A CAPWAP data packet (RFC 5415 §4.3) by hand: preamble 0, HLEN 4 (with the 4-byte
    wireless specific information of Cisco's frames, padded), WBID 1 (IEEE 802.11), T as
    ``native``, W set; an 802.11 data frame To DS with LLC/SNAP (``swapped``: its frame
    control bytes in the other order, as some Cisco access points send them) or an 802.3
    frame."""
    word = (4 << 19) | (1 << 9) | (int(native) << 8) | (1 << 5)
    header = struct.pack(">BBH", 0, word >> 16, word & 0xFFFF) + bytes(4)
    header += b"\x04\xbf\x23\x00\x00\x00\x00\x00"  # wireless info length 4, RSSI, SNR, rate, pad
    if not native:
        return header + raw(_eth() / (IP(inner) if inner[0] >> 4 == 4 else IPv6(inner)))
    frame = raw(Dot11(type=2, subtype=0, FCfield="to_DS", addr1="02:42:a0:01:00:01",
                      addr2="02:42:00:00:00:17", addr3="00:00:5e:00:01:01")
                / LLC() / SNAP(code=0x0800 if inner[0] >> 4 == 4 else 0x86DD))  # fmt: skip
    if swapped:
        frame = frame[1::-1] + frame[2:]
    return header + frame + inner


def _teredo(inner6: bytes, origin: bool = False, auth: bool = False) -> bytes:
    """Teredo (RFC 4380 §5.1.1): an authentication indicator (id and auth lengths 2 and 3,
    nonce, confirmation) and an origin indication before the IPv6 packet, when asked."""
    out = b""
    if auth:
        out += b"\x00\x01\x02\x03" + b"id" + b"abc" + bytes(8) + b"\x00"
    if origin:
        out += b"\x00\x00" + b"\xff\xfe" + bytes(4)
    return out + inner6


def _cases() -> list[tuple[str, bytes, list[str], int | None, bytes]]:
    """(name, Ethernet frame, the encapsulations from the outside in (none: a link layer,
    not a tunnel), the innermost one's identifier, the packet inside)."""
    i4, i6 = _inner4(), _inner6()
    p4, p6 = IP(i4), IPv6(i6)  # as layers: the header before them names their protocol
    erspan3 = ERSPAN_III(session_id=9, o=1, gra=1) / ERSPAN_PlatformSpecific()
    pptp = GRE_PPTP(seqnum_present=1, call_id=7, payload_len=len(i4) + 4, sequence_number=3)
    gtp_ext = GTP_U_Header(teid=0xA1B2, E=1, next_ex=0x85) / GTPPDUSessionContainer(QFI=9)
    cases = [
        ("vxlan", _outer(UDP(sport=49152, dport=4789) / VXLAN(vni=4242) / _eth() / p4),
         ["vxlan"], 4242, i4),
        ("vxlan-ipv6-underlay", _outer(UDP(sport=5000, dport=4789) / VXLAN(vni=1) / _eth() / p6,
         v6=True), ["vxlan"], 1, i6),
        ("vxlan-inner-vlan", _outer(UDP(dport=4789) / VXLAN(vni=7) / _eth() / Dot1Q(vlan=5) / p4),
         ["vxlan"], 7, i4),
        ("geneve-ethernet", _outer(UDP(dport=6081) / GENEVE(vni=77, proto=0x6558) / _eth() / p4),
         ["geneve"], 77, i4),
        ("geneve-options", _outer(UDP(dport=6081) / GENEVE(vni=78, proto=0x86DD, optionlen=2)
         / bytes.fromhex("0102800100000000") / p6), ["geneve"], 78, i6),
        ("gtp-u", _outer(UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0x1234) / p4),
         ["gtp-u"], 0x1234, i4),
        ("gtp-u-extension", _outer(UDP(sport=2152, dport=2152) / gtp_ext / p6),
         ["gtp-u"], 0xA1B2, i6),
        ("capwap-802.3", _outer(UDP(sport=5247, dport=40000) / _capwap(i4, native=False)),
         ["capwap"], None, i4),
        ("capwap-802.11", _outer(UDP(sport=40000, dport=5247) / _capwap(i4, native=True)),
         ["capwap"], None, i4),
        ("capwap-802.11-swapped", _outer(UDP(sport=40000, dport=5247)
         / _capwap(i6, native=True, swapped=True)), ["capwap"], None, i6),
        ("teredo", _outer(UDP(sport=3544, dport=40000) / _teredo(i6)), ["teredo"], None, i6),
        ("teredo-indicators", _outer(UDP(sport=40000, dport=3544) / _teredo(i6, True, True)),
         ["teredo"], None, i6),
        ("gre-ip", _outer(GRE(proto=0x0800) / p4), ["gre"], None, i4),
        ("gre-options", _outer(GRE(chksum_present=1, key_present=1, seqnum_present=1, key=99,
         sequence_number=5, proto=0x86DD) / p6), ["gre"], 99, i6),
        ("gre-ethernet", _outer(GRE(proto=0x6558) / _eth() / p4), ["gre"], None, i4),
        ("gre-ipv6-underlay", _outer(GRE(proto=0x0800) / p4, v6=True), ["gre"], None, i4),
        ("erspan-i", _outer(GRE(proto=0x88BE) / _eth() / p4), ["erspan-i"], None, i4),
        ("erspan-ii", _outer(GRE(seqnum_present=1, proto=0x88BE) / ERSPAN_II(session_id=321)
         / _eth() / p4), ["erspan-ii"], 321, i4),
        ("erspan-iii", _outer(GRE(proto=0x22EB) / erspan3 / _eth() / p4), ["erspan-iii"], 9, i4),
        ("gre-mpls", _outer(GRE(proto=0x8847) / MPLS(label=100, s=0) / MPLS(label=200, s=1) / p4),
         ["gre"], None, i4),
        ("gre-mpls-pseudowire", _outer(GRE(proto=0x8847) / MPLS(label=300, s=1) / bytes(4)
         / _eth() / p6), ["gre"], None, i6),
        ("pptp", _outer(pptp / PPP(proto=0x21) / p4), ["pptp"], 7, i4),
        ("ip-in-ip", _eth() / IP(src=A, dst=B, proto=4) / Raw(i4), ["ip-in-ip"], None, i4),
        ("6in4", _eth() / IP(src=A, dst=B, proto=41) / Raw(i6), ["ipv6-in-ip"], None, i6),
        ("6in6", _eth() / IPv6(src="2001:db8:ff::1", dst="2001:db8:ff::2", nh=41) / Raw(i6),
         ["ipv6-in-ip"], None, i6),
        ("4in6", _eth() / IPv6(src="2001:db8:ff::1", dst="2001:db8:ff::2", nh=4) / Raw(i4),
         ["ip-in-ip"], None, i4),
        ("vxlan-in-gre", _outer(GRE(proto=0x0800) / IP(src="172.16.0.1", dst="172.16.0.2")
         / UDP(dport=4789) / VXLAN(vni=5) / _eth() / p4), ["gre", "vxlan"], 5, i4),
        # link layers, not tunnels: the frame's own packet
        ("mpls", _eth(type=0x8847) / MPLS(label=16, s=0) / MPLS(label=17, s=1) / Raw(i4), [],
         None, i4),
        ("mpls-explicit-null", _eth(type=0x8847) / MPLS(label=2, s=1) / Raw(i6), [], None, i6),
        ("mpls-pseudowire", _eth(type=0x8847) / MPLS(label=18, s=1) / Raw(bytes(4)
         + raw(_eth() / Dot1Q(vlan=3) / p4)), [], None, i4),
        ("qinq-pppoe", _eth() / Dot1AD(vlan=100) / Dot1Q(vlan=200) / PPPoE() / PPP(proto=0x21)
         / Raw(i4), [], None, i4),
    ]  # fmt: skip
    return [(name, raw(frame), encaps, ident, inner) for name, frame, encaps, ident, inner in cases]


def _batches(tmp_path: Path, frames: list[bytes], linktype: int = 1):
    path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.pcap"
    path.write_bytes(pcap_bytes([(T0 + 1000 * i, f) for i, f in enumerate(frames)], linktype))
    (cap,) = expand_inputs([str(path)])
    _, it = read_capture(cap)
    return list(it)


def _both(rb):  # noqa: ANN001, ANN202
    """The numpy twin's decode of ``rb``; the compiled decoder must give the same."""
    pb, st = py_decode(rb)
    if fast is not None:
        pc, sc = decode(rb)
        assert sc == st
        for name in ("ts", "wirelen", "stream_off", "payload_off", *ROWS):
            assert np.array_equal(getattr(pc, name), getattr(pb, name)), name
        for name in TUNNEL_COLUMNS:
            x, y = getattr(pc, name), getattr(pb, name)
            assert (x is None) == (y is None) and (x is None or np.array_equal(x, y)), name
    return pb, st


def _row(pb, i: int) -> tuple:  # noqa: ANN001
    off, cap = int(pb.payload_off[i]), int(pb.payload_cap[i])
    return tuple(int(getattr(pb, c)[i]) for c in ROWS) + (bytes(pb.buf[off : off + cap]),)


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_encapsulation_yields_the_packet_inside(tmp_path: Path, case) -> None:  # noqa: ANN001
    name, frame, encaps, ident, inner = case
    (rb,) = _batches(tmp_path, [frame])
    pb, st = _both(rb)
    assert (st.tunnel_malformed, st.non_ip, st.truncated_headers) == (0, 0, 0), name
    assert len(pb) == 1 + len(encaps) and st.tunneled == len(encaps)
    (brb,) = _batches(tmp_path, [inner], linktype=101)
    assert _row(pb, len(pb) - 1) == _row(_both(brb)[0], 0)
    if not encaps:  # a link layer: its own packet, no tunnel
        assert pb.tunnel is None
        return
    assert pb.parent is not None and pb.encap is not None and pb.encap_id is not None
    assert pb.parent.tolist() == list(range(-1, len(encaps)))  # each carried by the one before
    assert [ENCAP_NAMES[int(e)] for e in pb.encap[1:]] == encaps
    assert int(pb.encap_id[-1]) == (-1 if ident is None else ident)
    assert int(pb.tunnel[0]) == 0 and all(int(k) != 0 for k in pb.tunnel[1:])


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
def test_decode_twins_agree_on_cut_and_mutated_tunnel_frames(tmp_path: Path) -> None:
    """Every truncation and 300 random mutations of every frame above (more flips where
    headers nest): the same columns and counters from both decoders, never a failure."""
    rng = random.Random(7)
    frames = []
    for _, frame, _, _, _ in CASES:
        frames += cut_and_mutated(frame, rng, 300, max_flips=3)
    seen = {"malformed": 0, "tunneled": 0}
    for rb in _batches(tmp_path, frames):
        _, st = _both(rb)
        seen["malformed"] += st.tunnel_malformed
        seen["tunneled"] += st.tunneled
    assert seen["malformed"] > 500 and seen["tunneled"] > 5000, seen


def test_nesting_is_bounded(tmp_path: Path) -> None:
    """IP-in-IP six deep: the outer packet and MAX_TUNNEL_DEPTH levels are opened, the
    carrier below that is counted as too deep."""
    pkt = _inner4()
    for _ in range(6):
        pkt = raw(IP(src=A, dst=B, proto=4) / Raw(pkt))
    (rb,) = _batches(tmp_path, [raw(_eth(type=0x0800)) + pkt])
    pb, st = _both(rb)
    assert len(pb) == 1 + MAX_TUNNEL_DEPTH and st.tunnel_too_deep == 1
    assert st.tunneled == MAX_TUNNEL_DEPTH


def _malformed() -> list[tuple[str, bytes]]:
    i4 = _inner4()
    gtp = bytearray(raw(GTP_U_Header(teid=1, E=1, next_ex=0x85) / GTPPDUSessionContainer()))
    gtp[12] = 0  # an extension header of length 0
    erspan = bytearray(raw(ERSPAN_II(session_id=1)))
    erspan[0] = (erspan[0] & 0x0F) | 0x20  # version 2 under 0x88BE
    capwap = bytearray(_capwap(i4, native=False))
    capwap[1] = 0xF8  # HLEN 31 words: longer than the packet
    cases = [
        ("vxlan-no-I-flag", _outer(UDP(dport=4789) / VXLAN(flags=0, vni=1) / _eth() / i4)),
        ("vxlan-short", _outer(UDP(dport=4789) / VXLAN(vni=1) / (b"\x00" * 6))),
        ("geneve-version", _outer(UDP(dport=6081) / GENEVE(version=1, proto=0x0800) / i4)),
        ("geneve-options-past-end", _outer(UDP(dport=6081) / GENEVE(optionlen=63, proto=0x0800))),
        ("gtp-version", _outer(UDP(dport=2152) / GTP_U_Header(version=2, teid=1) / i4)),
        ("gtp-extension", _outer(UDP(dport=2152) / bytes(gtp) / i4)),
        ("capwap-hlen", _outer(UDP(dport=5247) / bytes(capwap[:40]))),
        ("teredo-length", _outer(UDP(dport=3544) / _inner6()[:-2])),
        ("gre-routing", _outer(GRE(routing_present=1, proto=0x0800) / i4)),
        ("gre-version", _outer(b"\x00\x02\x08\x00" + i4, proto=47)),
        ("gre-short", _outer(b"\x20\x00\x08\x00\x00", proto=47)),
        ("erspan-ii-version", _outer(GRE(seqnum_present=1, proto=0x88BE) / bytes(erspan)
         / _eth() / i4)),
        ("gre-mpls-cut", _outer(GRE(proto=0x8847) / MPLS(label=100, s=0))),
    ]  # fmt: skip
    return [(name, raw(frame)) for name, frame in cases]


@pytest.mark.parametrize("case", _malformed(), ids=lambda c: c[0])
def test_malformed_encapsulations_are_counted(tmp_path: Path, case) -> None:  # noqa: ANN001
    """The outer packet stays a packet of its flow; the encapsulation is counted malformed
    and nothing inside is read."""
    name, frame = case
    (rb,) = _batches(tmp_path, [frame])
    pb, st = _both(rb)
    assert len(pb) == 1 and pb.tunnel is None, name
    assert st.tunnel_malformed == 1 and st.tunneled == 0, name


def _flows(tmp_path: Path, frames: list[bytes], name: str = "f.pcap") -> list[dict]:
    path = tmp_path / name
    path.write_bytes(pcap_bytes([(T0 + 10**8 * i, f) for i, f in enumerate(frames)], 1))
    res = run_cli("flows", "--all", "-j", "1", str(path))
    assert res.rc == 0, res.err
    return [json.loads(line) for line in res.out.splitlines()]


def _tcp(src: str, dst: str, sport: int, dport: int, flags: str, payload: bytes = b""):  # noqa: ANN202
    return IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags) / payload


def test_the_same_5_tuple_in_two_segments_and_on_the_wire_makes_three_flows(tmp_path) -> None:
    """VXLAN VNI 1 and VNI 2 between the same VTEPs, and the wire itself, each carry the
    same connection: three flows, each with its tunnel; the outer UDP flows stay."""
    syn = _tcp(MINER, POOL, 40001, 3333, "S")
    frames = [raw(_outer(UDP(sport=50000 + vni, dport=4789) / VXLAN(vni=vni) / _eth() / syn))
              for vni in (1, 2)] + [raw(_eth() / syn)]  # fmt: skip
    flows = _flows(tmp_path, frames)
    inner = [f for f in flows if f["src_ip"] == MINER]
    assert sorted((f.get("tunnel") or {}).get("vni", 0) for f in inner) == [0, 1, 2]
    assert len({f["flow_id"] for f in inner}) == 3
    assert len({f["community_id"] for f in inner}) == 1  # the spec ignores tunnels
    outer = [f for f in flows if f["dest_port"] == 4789]
    assert len(outer) == 2 and all(f["proto"] == "UDP" for f in outer)


def test_both_directions_of_a_tunnel_make_one_flow(tmp_path: Path) -> None:
    """A VXLAN reply leaves the other VTEP from another source port; GTP-U's downlink has
    another TEID than its uplink: still one inner flow each, with packets both ways, and its
    tunnel seen from the client's side."""
    syn = _tcp(MINER, POOL, 40001, 3333, "S")
    synack = _tcp(POOL, MINER, 3333, 40001, "SA")
    ack = _tcp(MINER, POOL, 40001, 3333, "PA", STRATUM)
    back = _eth() / IP(src=B, dst=A)
    frames = [
        raw(_outer(UDP(sport=50001, dport=4789) / VXLAN(vni=9) / _eth() / syn)),
        raw(back / UDP(sport=61000, dport=4789) / VXLAN(vni=9) / _eth() / synack),
        raw(_outer(UDP(sport=50001, dport=4789) / VXLAN(vni=9) / _eth() / ack)),
        raw(_outer(UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0x10) / syn)),
        raw(back / UDP(sport=2152, dport=2152) / GTP_U_Header(teid=0x20) / synack),
    ]
    flows = _flows(tmp_path, frames)
    inner = {f["tunnel"]["encapsulation"]: f for f in flows if f["src_ip"] == MINER}
    assert set(inner) == {"vxlan", "gtp-u"}
    vx, gtp = inner["vxlan"], inner["gtp-u"]
    assert (vx["flow"]["pkts_toserver"], vx["flow"]["pkts_toclient"]) == (2, 1)
    assert (gtp["flow"]["pkts_toserver"], gtp["flow"]["pkts_toclient"]) == (1, 1)
    assert vx["tunnel"] | {} == {"src_ip": A, "src_port": 50001, "dest_ip": B, "dest_port": 4789,
                                 "proto": "UDP", "encapsulation": "vxlan", "vni": 9, "depth": 1}
    assert gtp["tunnel"]["teid"] == 0x10 and gtp["orientation"] == "syn"


def _reference(proto: int, saddr: str, daddr: str, sport: int, dport: int) -> str:
    if proto in (1, 6, 17, 58, 132):
        tpl = communityid.FlowTuple(proto, saddr, daddr, sport, dport)
    else:
        tpl = communityid.FlowTuple.make_ip(saddr, daddr, proto)
    return str(communityid.CommunityID().calc(tpl))


def test_icmp_icmpv6_and_sctp_make_flows(tmp_path: Path) -> None:
    """An echo request and its reply are one flow whose client is the requester; one-way
    messages (destination unreachable) make one flow per sender; ICMPv6 neighbour
    solicitation and advertisement pair up; an SCTP INIT's sender is the client whatever
    the ports. Community ids are the reference's."""
    h, r = "10.0.0.1", "10.0.0.2"
    frames = [
        raw(_eth() / IP(src=h, dst=r) / ICMP(type=8, id=1) / b"ping"),
        raw(_eth() / IP(src=r, dst=h) / ICMP(type=0, id=1) / b"ping"),
        raw(_eth() / IP(src=r, dst=h) / ICMP(type=3, code=3) / raw(IP(src=h, dst=r) / UDP())),
        raw(_eth() / IP(src=h, dst=r) / ICMP(type=3, code=3) / raw(IP(src=r, dst=h) / UDP())),
        raw(_eth() / IPv6(src="fe80::1", dst="fe80::2") / ICMPv6ND_NS(tgt="fe80::2")),
        raw(_eth() / IPv6(src="fe80::2", dst="fe80::1") / ICMPv6ND_NA(tgt="fe80::2")),
        raw(_eth() / IPv6(src="2001:db8::9", dst="2001:db8::1") / ICMPv6EchoRequest()),
        raw(_eth() / IPv6(src="2001:db8::1", dst="2001:db8::9") / ICMPv6EchoReply()),
        raw(_eth() / IP(src=r, dst=h) / SCTP(sport=2905, dport=40000) / SCTPChunkInit()),
        raw(_eth() / IP(src=h, dst=r) / SCTP(sport=40000, dport=2905) / SCTPChunkInitAck()),
    ]
    flows = _flows(tmp_path, frames)
    got = sorted((f["proto"], f["src_ip"], f["src_port"], f["dest_ip"], f["dest_port"],
                  f["flow"]["pkts_toserver"], f["flow"]["pkts_toclient"]) for f in flows)  # fmt: skip
    assert got == sorted([
        ("ICMP", h, 8, r, 0, 1, 1),
        ("ICMP", r, 3, h, 3, 1, 0),
        ("ICMP", h, 3, r, 3, 1, 0),
        ("IPv6-ICMP", "fe80::1", 135, "fe80::2", 136, 1, 1),
        ("IPv6-ICMP", "2001:db8::9", 128, "2001:db8::1", 129, 1, 1),
        ("SCTP", r, 2905, h, 40000, 1, 1),
    ])  # fmt: skip
    for f in flows:
        number = {"ICMP": 1, "IPv6-ICMP": 58, "SCTP": 132}[f["proto"]]
        want = _reference(number, f["src_ip"], f["dest_ip"], f["src_port"], f["dest_port"])
        assert f["community_id"] == want, f


def test_community_id_matches_the_reference_for_every_protocol() -> None:
    """ICMP and ICMPv6 types and codes of every kind (pairs, one-way, unknown), SCTP ports
    and portless protocols, both directions, equal addresses, IPv4 and IPv6."""
    rng = random.Random(5)
    for i in range(4000):
        v6 = i % 2 == 1
        pick = ipaddress.IPv6Address if v6 else ipaddress.IPv4Address
        a = str(pick(rng.getrandbits(128 if v6 else 32)))
        b = a if i % 13 == 0 else str(pick(rng.getrandbits(128 if v6 else 32)))
        proto = rng.choice((58, 132, 47, 4, 41, 50) if v6 else (1, 132, 47, 4, 41, 50))
        if proto in (1, 58):
            kinds = [0, 3, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 128, 129, 130, 131, 133, 134,
                     135, 136, 137, 139, 140, 144, 145, 255]  # fmt: skip
            sport, dport = rng.choice(kinds), rng.randrange(256)
        else:
            sport, dport = rng.randrange(65536), rng.randrange(65536)
        if proto not in (1, 58, 132):
            sport = dport = 0
        want = _reference(proto, a, b, sport, dport)
        assert community_id_v1(proto, a, b, sport, dport) == want, (proto, a, b, sport, dport)


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
def test_carrier_rows_twins_agree_on_random_packets() -> None:
    """_fast.carrier_rows against _carrier_rows_numpy: the same carrier rows and kinds for
    random protocols (GRE, IP-in-IP, IPv6 among them) and UDP ports (every tunnel port,
    on either side, both, or neither); a port out of range raises."""
    from types import SimpleNamespace

    from detector import decode as dec

    rng = np.random.default_rng(3)
    ports = np.array([*dec.TUNNEL_PORTS, 53, 443, 40000, 65535], dtype=np.int64)
    for n in (0, 1, 30, 5000):
        pb = SimpleNamespace(
            proto=rng.choice(np.array([6, 17, 17, 47, 4, 41, 1, 132], dtype=np.uint8), n),
            sport=rng.choice(ports, n),
            dport=rng.choice(ports, n),
        )
        got = dec._carrier_rows_compiled(pb)
        want = dec._carrier_rows_numpy(pb)
        for x, y in zip(got, want, strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), n
        if n == 5000:
            assert set(got[1].tolist()) == set(dec.TUNNEL_PORTS.values()) | set(
                dec.PROTO_CARRIER[dec.PROTO_CARRIER > 0].tolist()
            )
    bad = SimpleNamespace(proto=np.full(1, 17, np.uint8), sport=np.array([70000]),
                          dport=np.array([1]))  # fmt: skip
    with pytest.raises(ValueError):
        dec._carrier_rows_compiled(bad)
