"""The compiled helpers (detector/csrc/) and their pure-Python twins agree exactly:
on real messages, on every truncation of them and on random mutations."""

from __future__ import annotations

import random
import socket
import struct
from pathlib import Path

import pytest

from detector.compiled import fast
from detector.dissect import dnsparse
from detector.dissect.tls import hello
from detector.errors import CorruptCapture
from tests.conftest import CORPUS, PCAPS, cut_and_mutated, is_known_unread
from tests.test_tls import (
    alpn_ext,
    client_hello_body,
    groups_ext,
    sigalgs_ext,
    sni_ext,
    versions_ext,
)

pytestmark = pytest.mark.skipif(fast is None, reason="compiled helpers not built")


def _udp_payloads(path, port: int) -> list[bytes]:
    import dpkt

    out = []
    with open(path, "rb") as fh:
        is_ng = fh.read(4) == b"\x0a\x0d\x0d\x0a"
        fh.seek(0)
        reader = dpkt.pcapng.Reader(fh) if is_ng else dpkt.pcap.Reader(fh)
        for _, raw in reader:
            try:
                ip = dpkt.ethernet.Ethernet(raw).data
            except (dpkt.UnpackError, struct.error):
                continue
            udp = getattr(ip, "data", None)
            if isinstance(udp, dpkt.udp.UDP) and port in (udp.sport, udp.dport):
                out.append(bytes(udp.data))
    return out


def _dns_messages() -> list[bytes]:
    msgs = []
    for path in [CORPUS / "ndpi" / "dns.pcap", PCAPS / "mixed-two-miners-benign.pcap"]:
        if path.exists():
            msgs += _udp_payloads(path, 53)
    # hand-made: compression pointers, a pointer loop, CNAME chain, AAAA, odd labels
    header = struct.pack("!HHHHHH", 1, 0x8180, 1, 3, 0, 0)
    q = b"\x03WwW\x07Example\x03com\x00" + b"\x00\x01\x00\x01"
    cname = b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x06\x03cdn\xc0\x10"
    a = b"\xc0\x2d\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xcb\x00\x71\x09"
    aaaa = b"\xc0\x2d\x00\x1c\x00\x01\x00\x00\x00\x3c\x00\x10" + bytes(range(16))
    msgs.append(header + q + cname + a + aaaa)
    msgs.append(struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c")  # loop
    msgs.append(struct.pack("!HHHHHH", 1, 0x8180, 1, 1, 0, 0) + b"\x02\xff\xfe\x00\x00\x01\x00\x01")
    msgs.append(struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + q)  # a query
    return msgs


def _outcome(fn, data: bytes):
    try:
        return ("ok", fn(data))
    except dnsparse.DnsError:
        return ("error", None)


def test_dns_reader_twins_agree_on_messages_truncations_and_mutations() -> None:
    rng = random.Random(11)
    msgs = _dns_messages()
    assert len(msgs) >= 6
    cases = 0
    for msg in msgs:
        for v in cut_and_mutated(msg, rng, 200, max_flips=4):
            assert _outcome(dnsparse._c_parse_response, v) == _outcome(dnsparse.py_parse_response, v), v.hex()
            cases += 1
    assert cases > 1000


def _aaaa_response(addresses: list[bytes]) -> bytes:
    """A DNS response to one AAAA question with ``addresses`` as its answers."""
    head = struct.pack(">HHHHHH", 0x1234, 0x8180, 1, len(addresses), 0, 0)
    question = b"\x04test\x07example\x00" + struct.pack(">HH", 28, 1)
    answers = b"".join(
        b"\xc0\x0c" + struct.pack(">HHIH", 28, 1, 60, 16) + address for address in addresses
    )
    return head + question + answers


def test_ipv6_answer_text_twins_agree() -> None:
    """The compiled reader writes an AAAA answer's address itself (glibc's inet_ntop goes
    through sprintf): the same text as socket.inet_ntop, which the Python twin calls -
    zero runs of every length and place, ties, IPv4-compatible and -mapped addresses."""
    if fast is None:
        pytest.skip("the compiled helpers are not built")
    rng = random.Random(6)
    edge = [bytes(16), bytes(15) + b"\x01", b"\x00" * 10 + b"\xff\xff\x01\x02\x03\x04",
            b"\x00" * 12 + b"\x01\x02\x03\x04", b"\x00" * 12 + b"\x00\x00\x00\x01",
            b"\x00" * 10 + b"\xff\xfe\x01\x02\x03\x04", b"\xff" * 16,
            b"\x20\x01\x0d\xb8" + bytes(12), b"\xfe\x80" + bytes(6) + b"\x00\x01" * 4]  # fmt: skip
    addresses = edge + [
        bytes(rng.choice((0, 0, 0, 1, 0xFF, rng.randrange(256))) for _ in range(16))
        for _ in range(3000)
    ]
    for lo in range(0, len(addresses), 20):  # (a response keeps its first 32 addresses)
        message = _aaaa_response(addresses[lo : lo + 20])
        compiled = dnsparse._c_parse_response(message)
        assert compiled == dnsparse.py_parse_response(message)
        wanted = [socket.inet_ntop(socket.AF_INET6, a) for a in addresses[lo : lo + 20]]
        assert compiled[2] == wanted


def test_dns_batch_reader_twins_agree() -> None:
    """Grouped batch reading: the same result for every message, each group's last message
    right, and repeated answers (new transaction ids) in one group."""
    import numpy as np

    base = _dns_messages()
    repeated = []
    for i, m in enumerate(base[:3]):  # the same answers again under other ids
        again = bytearray(m)
        again[0:2] = (0x4000 + i).to_bytes(2, "big")
        repeated.append(bytes(again))
    msgs = base + repeated + base[:2]
    blob = b"".join(msgs) + b"\x00" * 64
    offsets, pos = [], 0
    for m in msgs:
        offsets.append(pos)
        pos += len(m)
    buf = np.frombuffer(blob, dtype=np.uint8)
    offs = np.array(offsets, dtype=np.int64)
    lens = np.array([len(m) for m in msgs], dtype=np.int64)
    expected = []
    for m in msgs:
        try:
            expected.append(dnsparse.py_parse_response(m))
        except dnsparse.DnsError:
            expected.append(None)
    for distinct, last, groups in (
        dnsparse.answer_groups(buf, offs, lens),
        dnsparse.py_answer_groups(memoryview(buf), offsets, lens.tolist()),
    ):
        assert [distinct[g] if g >= 0 else None for g in groups] == expected
        assert len(distinct) < sum(1 for e in expected if e is not None)
        for g, i in enumerate(last):
            assert groups[i] == g and g not in groups[i + 1 :]
    assert any(r is None for r in expected) and any(r for r in expected)


def _hellos() -> list[bytes]:
    bodies = [
        client_hello_body([0x1301, 0x1302, 0xC02F, 0x0A0A], [sni_ext("pool.example.org"), alpn_ext(b"h2", b"http/1.1"),
                          groups_ext([0x1A1A, 29, 23]), sigalgs_ext([0x0403, 0x0804]), versions_ext([0x2A2A, 0x0304, 0x0303]),
                          (11, b"\x01\x00"), (0x5A5A, b"")]),
        client_hello_body([0x002F], None),
        client_hello_body([0x002F], [sni_ext("caf\xe9.example")]),
    ]
    for path in (CORPUS / "zeek" / "coinhive.pcap", CORPUS / "ndpi" / "443-firefox.pcap"):
        if not path.exists():
            continue
        data = path.read_bytes()
        pos = data.find(b"\x16\x03")
        while pos != -1 and len(bodies) < 40:
            if data[pos + 5 : pos + 6] == b"\x01":
                length = int.from_bytes(data[pos + 6 : pos + 9], "big")
                bodies.append(data[pos + 9 : pos + 9 + length])
            pos = data.find(b"\x16\x03", pos + 1)
    return bodies


def test_client_hello_twins_agree() -> None:
    rng = random.Random(5)
    bodies = _hellos()
    assert len(bodies) >= 5
    assert hello.parse_client_hello(bodies[0]) is not None
    for body in bodies:
        variants = [body[:n] for n in range(0, len(body) + 1, 3)] + [body]
        for _ in range(150):
            m = bytearray(body)
            for _ in range(rng.randint(1, 3)):
                m[rng.randrange(len(m))] = rng.randrange(256)
            variants.append(bytes(m))
        for v in variants:
            assert hello.parse_client_hello(v, 0x0301) == hello.py_parse_client_hello(v, 0x0301), v.hex()


def _edge_capture(tmp_path: Path) -> Path:
    """Frames that stress decoding: VLAN/QinQ/PPPoE, IPv6 extension headers and
    fragments, truncated and garbage frames, an unknown link type in a pcapng."""
    from types import SimpleNamespace

    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
    from scapy.layers.ppp import PPP, PPPoE

    from detector.synth.links import Ethernet
    from detector.synth.pcapng import Interface, pcapng_bytes

    t = 1_767_607_200 * 10**9
    frames = [
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2, flags="S"),
        Ether() / Dot1Q(vlan=5) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=3, dport=4) / b"x",
        Ether(type=0x88A8) / Dot1AD(vlan=7) / Dot1Q(vlan=8) / IP() / TCP() / b"payload",
        Ether() / PPPoE() / PPP(proto=0x21) / IP(src="1.2.3.4", dst="5.6.7.8") / UDP() / b"y",
        Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP() / b"z",
        Ether() / IPv6() / IPv6ExtHdrFragment(m=1) / UDP() / b"f",
        Ether() / IP(flags="MF") / UDP() / b"frag",
        Ether() / IP() / ICMP(),
        Ether() / IP(len=0) / TCP() / b"tso",
        Ether() / IP(ihl=15) / TCP(),
    ]
    raw = [bytes(f) for f in frames]
    raw += [raw[0][:20], raw[0][:40], b"\x00" * 60, bytes(range(200))]
    records = [(0, t + i, r) for i, r in enumerate(raw)] + [(1, t + 100 + i, r) for i, r in enumerate(raw[:3])]
    path = tmp_path / "edge.pcapng"
    interfaces = [Interface(Ethernet(), "eth0"), Interface(SimpleNamespace(linktype=147), "user0")]
    path.write_bytes(pcapng_bytes(interfaces, records))
    return path


def test_decode_twins_agree_on_every_capture(tmp_path) -> None:
    import numpy as np

    from detector.decode import decode, py_decode
    from detector.source import expand_inputs, read_capture

    paths = [str(PCAPS), str(_edge_capture(tmp_path))] + ([str(CORPUS)] if CORPUS.is_dir() else [])
    batches = 0
    for cap in expand_inputs(paths):
        _, it = read_capture(cap, 256 * 1024)
        try:
            for rb in it:
                a, sa = decode(rb)
                b, sb = py_decode(rb)
                assert sa == sb, cap.path
                for name in ("ts", "wirelen", "proto", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport",
                             "dport", "flags", "seq", "payload_off", "payload_len", "payload_cap",
                             "stream_off"):
                    assert np.array_equal(getattr(a, name), getattr(b, name)), (cap.path, name)
                for name in ("tunnel", "parent", "encap", "encap_id"):  # None: no tunnel
                    x, y = getattr(a, name), getattr(b, name)
                    assert (x is None) == (y is None), (cap.path, name)
                    assert x is None or np.array_equal(x, y), (cap.path, name)
                batches += 1
        except CorruptCapture as exc:  # compare what was read; only known captures may stop
            assert is_known_unread(cap.path, str(exc)), exc
    assert batches > 60


def _pdns_state(pdns) -> tuple:
    """Everything passive DNS holds, in its order (which IP is dropped next matters)."""
    return (
        [(ip, list(entry.items())) for ip, entry in pdns._names.items()],
        list(pdns._stamp.items()),
        pdns.evicted,
    )


def _fill_both(batches, max_ips: int, max_age: float):
    from detector import pdns as pdns_module

    compiled, pure = pdns_module.PassiveDns(max_ips, max_age), pdns_module.PassiveDns(max_ips, max_age)
    for distinct, last, times in batches:
        compiled.add_groups(distinct, last, times)
        saved, pdns_module.fast = pdns_module.fast, None
        try:
            pure.add_groups(distinct, last, times)
        finally:
            pdns_module.fast = saved
    return compiled, pure


def test_passive_dns_twins_agree_on_real_answers() -> None:
    """The compiled batch update leaves passive DNS exactly as the Python loop does, on
    the answers of real captures grouped as the scan groups them."""
    import numpy as np

    msgs = _dns_messages()
    blob = b"".join(msgs)
    offsets = np.cumsum([0] + [len(m) for m in msgs[:-1]]).astype(np.int64)
    lens = np.array([len(m) for m in msgs], dtype=np.int64)
    distinct, last, _ = dnsparse.answer_groups(np.frombuffer(blob, dtype=np.uint8), offsets, lens)
    times = [1000.0 + i for i in range(len(msgs))]
    assert sum(1 for _, _, ips in distinct if ips) >= 3
    for max_ips in (50_000, 3, 1):  # room for all; eviction on nearly every answer
        compiled, pure = _fill_both([(distinct, last, times)] * 3, max_ips, 3600.0)
        assert _pdns_state(compiled) == _pdns_state(pure)
        assert len(compiled) == min(max_ips, len({ip for _, _, ips in distinct for ip in ips}))


@pytest.mark.parametrize("seed", range(6))
def test_passive_dns_twins_agree_under_eviction_expiry_and_cname_overlap(seed: int) -> None:
    """Random batches: shared IPs across answers, CNAMEs that repeat a question, more names
    than an IP keeps, equal message indices never, but many batches; a small table (LRU
    eviction) and a short maximum age (the periodic expiry sweep runs)."""
    from detector import pdns as pdns_module

    rng = random.Random(seed)
    ips = [f"198.51.100.{i}" for i in range(40)] + [f"2001:db8::{i:x}" for i in range(20)]
    names = [f"n{i}.example" for i in range(30)]
    batches, now = [], 0.0
    for _ in range(40):
        distinct, last, times = [], [], []
        n_msgs = rng.randrange(1, 30)
        for _ in range(n_msgs):
            now += rng.choice([0.001, 0.5, 30.0, 900.0])
            times.append(now)
        used = rng.sample(range(n_msgs), rng.randrange(0, n_msgs + 1))
        for at in used:
            questions = rng.sample(names, rng.randrange(0, 3))
            cnames = rng.sample(names, rng.randrange(0, 10)) + questions[:1]
            distinct.append((questions, cnames, rng.sample(ips, rng.randrange(0, 6))))
            last.append(at)
        batches.append((distinct, last, times))
    saved = pdns_module.EXPIRE_EVERY
    pdns_module.EXPIRE_EVERY = 7  # sweep often (the real value needs thousands of IPs)
    try:
        for max_ips, max_age in ((25, 3600.0), (60, 1000.0), (5, 50.0)):
            compiled, pure = _fill_both(batches, max_ips, max_age)
            assert _pdns_state(compiled) == _pdns_state(pure)
            assert compiled.evicted > 0 or max_ips >= 60
    finally:
        pdns_module.EXPIRE_EVERY = saved


def test_passive_dns_compiled_rejects_malformed_groups() -> None:
    from detector.pdns import PassiveDns

    pdns = PassiveDns()
    with pytest.raises(TypeError):
        pdns.add_groups([(["a.example"], [], "198.51.100.1")], [0], [1.0])  # ips not a list
    with pytest.raises(IndexError):
        pdns.add_groups([(["a.example"], [], ["198.51.100.1"])], [5], [1.0])
    with pytest.raises(ValueError):
        pdns.add_groups([], [0], [1.0])
