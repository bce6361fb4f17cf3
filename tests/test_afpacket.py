"""Live capture for real: two network namespaces joined by a veth pair, the capture opened
inside one of them, real traffic (ping, TCP, UDP, raw frames) sent from the other. What the
batches hold is checked against what was sent, and fed through a capture session.

Needs root and iproute2 (skipped otherwise). Namespaces are named mwcap<pid>a/b and
removed after the module, whatever happened; every socket is closed."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from detector.config import Detector, ScanConfig
from detector.dialects import STRATUM_V1
from detector.errors import InputError
from detector.session import CaptureSession
from detector.source.afpacket import LiveCapture, open_live
from detector.source.batch import RecordBatch
from tests.conftest import REPO

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="live capture tests need root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (ip) is not installed"),
]

A_IP, B_IP = "10.77.0.1", "10.77.0.2"
CLONE_NEWNET = 0x40000000
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv").is_dir() else sys.executable


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@dataclass
class Lab:
    a: str  # namespace of the sender
    b: str  # namespace the capture runs in

    def run(self, ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *cmd], check=check,
                              capture_output=True, text=True, timeout=30)

    def inside(self, ns: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """``fn(*args, **kw)`` in a thread that entered namespace ``ns``: sockets it makes
        belong to that namespace and keep working from any thread."""
        return in_netns(ns, fn, *args, **kw)

    def open(self, *args: Any, **kw: Any) -> LiveCapture:
        return self.inside(self.b, open_live, *args, **kw)

    def promiscuity(self, ns: str, iface: str) -> int:
        out = self.run(ns, "ip", "-d", "link", "show", iface).stdout.split()
        return int(out[out.index("promiscuity") + 1])


def in_netns(ns: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            result["value"] = fn(*args, **kw)
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    tag = f"mwcap{os.getpid()}"
    lab = Lab(f"{tag}a", f"{tag}b")
    try:
        for ns in (lab.a, lab.b):
            _ip("netns", "del", ns, check=False)
            _ip("netns", "add", ns)
            lab.run(ns, "ip", "link", "set", "lo", "up")
            lab.run(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            lab.run(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        _ip("-n", lab.a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0",
            "netns", lab.b)
        for ns, ip in ((lab.a, A_IP), (lab.b, B_IP)):
            lab.run(ns, "ip", "addr", "add", f"{ip}/24", "dev", "veth0")
            lab.run(ns, "ip", "link", "set", "veth0", "up")
            lab.run(ns, "ethtool", "-K", "veth0", "tso", "off", "gso", "off", "gro", "off",
                    check=False)
        # a second pair, left down
        _ip("-n", lab.a, "link", "add", "veth1", "type", "veth", "peer", "name", "veth1",
            "netns", lab.b)
        ping(lab, 1)  # ARP settled before the tests
        yield lab
    finally:
        for ns in (lab.a, lab.b):
            for pid in _ip("netns", "pids", ns, check=False).stdout.split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            _ip("netns", "del", ns, check=False)


def ping(lab: Lab, count: int) -> int:
    """ICMP echo requests from a to b (a raw socket: no ping program needed); replies."""
    sock = lab.inside(lab.a, socket.socket, socket.AF_INET, socket.SOCK_RAW,
                      socket.IPPROTO_ICMP)
    replies = 0
    with sock:
        sock.settimeout(2.0)
        for seq in range(count):
            body = struct.pack(">BBHHH", 8, 0, 0, 0x6d77, seq) + b"mwcap-ping"
            words = sum(struct.unpack(f">{len(body) // 2}H", body))
            words = (words & 0xFFFF) + (words >> 16)
            body = body[:2] + struct.pack(">H", ~words & 0xFFFF) + body[4:]
            sock.sendto(body, (B_IP, 0))
            with contextlib.suppress(TimeoutError):
                while True:
                    reply = sock.recv(2048)
                    ihl = (reply[0] & 15) * 4
                    if reply[ihl] == 0 and reply[ihl + 6 : ihl + 8] == struct.pack(">H", seq):
                        replies += 1
                        break
    return replies


@dataclass
class Packet:
    frame: bytes
    caplen: int
    wirelen: int
    ts: float
    linktype: int


def packets(batch: RecordBatch) -> list[Packet]:
    return [
        Packet(bytes(batch.buf[o : o + c]), int(c), int(w), float(t), int(lt))
        for o, c, w, t, lt in zip(batch.data_off, batch.caplen, batch.wirelen, batch.ts,
                                  batch.linktype, strict=True)
    ]


def collect(cap: LiveCapture, enough: Callable[[list[Packet]], bool],
            timeout: float = 5.0) -> list[Packet]:
    """Packets until ``enough`` says so (or ``timeout``)."""
    got: list[Packet] = []
    deadline = time.monotonic() + timeout
    for batch in cap.batches(0.1):
        got += packets(batch)
        if enough(got) or time.monotonic() > deadline:
            return got
    return got


def udp_of(p: Packet) -> tuple[int, int, bytes] | None:
    """(source port, destination port, payload) of an Ethernet/IPv4/UDP frame."""
    f = p.frame
    if len(f) < 42 or f[12:14] != b"\x08\x00" or f[23] != 17:
        return None
    ihl = (f[14] & 15) * 4
    sport, dport = struct.unpack_from(">HH", f, 14 + ihl)
    return sport, dport, f[14 + ihl + 8 :]


def udp_sender(lab: Lab) -> socket.socket:
    return lab.inside(lab.a, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)


def test_tcp_payload_lands_where_the_headers_say_with_lengths_and_times(lab: Lab) -> None:
    payload = b"minewatch-live-" + os.urandom(8).hex().encode() + b"\n"
    listener = lab.inside(lab.b, socket.create_server, (B_IP, 4444))
    client = lab.inside(lab.a, socket.socket, socket.AF_INET, socket.SOCK_STREAM)
    with lab.open(["veth0"], "tcp port 4444", 65535) as cap, listener, client:
        started = time.time()
        client.connect((B_IP, 4444))
        conn, _ = listener.accept()
        with conn:
            client.sendall(payload)
            assert conn.recv(100) == payload
            conn.sendall(b"ok")
            assert client.recv(10) == b"ok"
        client.close()
        got = collect(cap, lambda ps: sum(payload in p.frame for p in ps) >= 1
                      and len(ps) >= 8)
    data = [p for p in got if payload in p.frame]
    assert len(data) == 1
    (p,) = data
    f = p.frame
    ihl, doff = (f[14] & 15) * 4, (f[14 + (f[14] & 15) * 4 + 12] >> 4) * 4
    assert f[14 + ihl + doff :] == payload  # exactly after the TCP header
    assert f.index(payload) == 14 + ihl + doff
    total = struct.unpack_from(">H", f, 16)[0]
    assert p.caplen == p.wirelen == len(f) == 14 + total
    assert f[12:14] == b"\x08\x00" and p.linktype == 1
    assert socket.inet_ntoa(f[26:30]) == A_IP and socket.inet_ntoa(f[30:34]) == B_IP
    assert all(started - 1 < q.ts < time.time() + 1 for q in got)
    assert [q.ts for q in got] == sorted(q.ts for q in got)
    flags = [q.frame[14 + (q.frame[14] & 15) * 4 + 13] for q in got]
    assert flags[0] == 0x02 and any(fl & 0x01 for fl in flags)  # SYN first, FINs seen


def test_filter_lets_only_matching_packets_through(lab: Lab) -> None:
    sender = udp_sender(lab)
    with lab.open(["veth0"], "udp port 9999", 65535) as cap, sender:
        assert ping(lab, 2) == 2
        for k in range(5):
            sender.sendto(b"match %d" % k, (B_IP, 9999))
            sender.sendto(b"other %d" % k, (B_IP, 9998))
        got = collect(cap, lambda ps: len(ps) >= 5, timeout=2.0)
        time.sleep(0.3)
        got += collect(cap, lambda ps: True, timeout=0.2)
        port = sender.getsockname()[1]
    assert [udp_of(p) for p in got] == [(port, 9999, b"match %d" % k) for k in range(5)]


def test_snaplen_truncates_caplen_not_wirelen(lab: Lab) -> None:
    sender = udp_sender(lab)
    with lab.open(["veth0"], "udp port 9997", 64) as cap, sender:
        sender.sendto(b"x" * 1000, (B_IP, 9997))
        got = collect(cap, lambda ps: len(ps) >= 1)
    assert [(p.caplen, p.wirelen, len(p.frame)) for p in got] == [(64, 14 + 20 + 8 + 1000, 64)]
    nofilter = lab.open(["veth0"], None, 50)
    with nofilter, udp_sender(lab) as again:
        again.sendto(b"y" * 500, (B_IP, 9996))
        got = collect(nofilter, lambda ps: any(p.wirelen == 542 for p in ps))
    assert [p.caplen for p in got if p.wirelen == 542] == [50]
    assert all(p.caplen <= 50 for p in got)


def _raw_frame(dst: bytes, marker: bytes) -> bytes:
    return dst + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + marker + b"\x00" * 30


def test_promiscuous_capture_sees_frames_for_another_mac(lab: Lab) -> None:
    foreign = b"\x02\xaa\xbb\xcc\xdd\xee"
    marker = b"mwcap-foreign-" + os.urandom(4).hex().encode()
    raw = lab.inside(lab.a, socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0)
    with raw:
        raw.bind(("veth0", 0))
        assert lab.promiscuity(lab.b, "veth0") == 0
        with lab.open(["veth0"], "ether proto 0x88b5", 65535) as cap:
            assert lab.promiscuity(lab.b, "veth0") == 1  # PACKET_MR_PROMISC, not IFF_PROMISC
            raw.send(_raw_frame(foreign, marker))
            got = collect(cap, lambda ps: any(marker in p.frame for p in ps))
        assert lab.promiscuity(lab.b, "veth0") == 0  # given back when the socket closed
        with lab.open(["veth0"], None, 65535, promisc=False) as plain:
            assert lab.promiscuity(lab.b, "veth0") == 0
    hits = [p for p in got if marker in p.frame]
    assert len(hits) == 1 and hits[0].frame[:6] == foreign and hits[0].frame[12:14] == b"\x88\xb5"
    assert plain.closed


def test_stats_count_received_packets(lab: Lab) -> None:
    with lab.open(["veth0"], "udp port 9995", 65535) as cap, udp_sender(lab) as sender:
        assert cap.stats().received == 0
        for k in range(20):
            sender.sendto(b"%d" % k, (B_IP, 9995))
        got = collect(cap, lambda ps: len(ps) >= 20)
        first = cap.stats()
        sender.sendto(b"one more", (B_IP, 9995))
        got += collect(cap, lambda ps: len(ps) >= 1)
        second = cap.stats()
    assert len(got) == 21
    assert (first.received, first.dropped, first.delivered) == (20, 0, 20)
    # the kernel resets its counters when read; ours add up
    assert (second.received, second.dropped, second.delivered) == (21, 0, 21)


def _ipv4_udp(src: str, dst: str, dport: int, payload: bytes) -> bytes:
    udp = struct.pack(">HHHH", 40000, dport, 8 + len(payload), 0) + payload
    head = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    words = sum(struct.unpack(">10H", head))
    words = (words & 0xFFFF) + (words >> 16)
    checksum = ~((words & 0xFFFF) + (words >> 16)) & 0xFFFF
    return head[:10] + struct.pack(">H", checksum) + head[12:] + udp


def test_a_stripped_vlan_tag_is_put_back_in_the_frame(lab: Lab) -> None:
    """The receiving device takes an 802.1Q tag off into the packet's metadata before a
    packet socket sees it (__netif_receive_skb_core); the ring reports it in
    tp_vlan_tci and the walk puts it back, so the decoder sees the VLAN. (The kernel's
    filter sees the frame untagged: a program compiled on a dead libpcap handle tests
    "vlan" in the frame's bytes, so such a filter needs the plain form.)"""
    raw = lab.inside(lab.a, socket.socket, socket.AF_PACKET, socket.SOCK_RAW, 0)
    ip = _ipv4_udp(A_IP, B_IP, 9994, b"tagged")
    frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x81\x00\x20\x0a\x08\x00" + ip
    with raw, lab.open(["veth0"], "udp port 9994", 65535) as cap:
        raw.bind(("veth0", 0))
        raw.send(frame)
        got = collect(cap, lambda ps: len(ps) >= 1)
    (p,) = got
    assert p.frame == frame  # VLAN 10, priority 1, then IPv4
    assert p.caplen == p.wirelen == len(frame)


def test_two_interfaces_are_read_together(lab: Lab) -> None:
    with lab.open(["veth0", "lo"], "udp port 9993", 65535) as cap:
        assert cap.interfaces == ["veth0", "lo"] and cap.linktypes == [1, 1]
        on_lo = lab.inside(lab.b, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        with on_lo, udp_sender(lab) as s:
            for k in range(3):
                s.sendto(b"veth %d" % k, (B_IP, 9993))
                on_lo.sendto(b"lo %d" % k, ("127.0.0.1", 9993))
            got: list[Packet] = []
            deadline = time.monotonic() + 5
            for batch in cap.batches(0.1):
                assert list(batch.ts) == sorted(batch.ts)  # a batch is in time order
                got += packets(batch)
                if len(got) >= 6 or time.monotonic() > deadline:
                    break
    payloads = sorted(udp_of(p)[2] for p in got)  # type: ignore[index]
    # the loopback device shows a packet leaving and arriving: it is kept once
    assert payloads == sorted([b"veth %d" % k for k in range(3)] + [b"lo %d" % k for k in range(3)])


def test_a_down_interface_is_waited_on(lab: Lab) -> None:
    assert "state DOWN" in lab.run(lab.b, "ip", "link", "show", "veth1").stdout
    with lab.open(["veth1"], None, 65535) as cap:
        started = time.monotonic()
        batches = [next(iter(cap.batches(0.2))) for _ in range(3)]
        took = time.monotonic() - started
    assert [len(b) for b in batches] == [0, 0, 0]
    assert took >= 0.55  # it waited, not spun on the link-down error


def test_unknown_interface_and_bad_filter_are_one_line_errors(lab: Lab) -> None:
    with pytest.raises(InputError) as err:
        lab.open(["mwcap-nope"], None, 65535)
    assert str(err.value) == "mwcap-nope: no such interface"
    with pytest.raises(InputError) as err:
        lab.open(["veth0", "eth9"], None, 65535)
    assert str(err.value) == "eth9: no such interface"
    with pytest.raises(InputError) as err:
        lab.open(["veth0"], "udp port", 65535)
    assert "'udp port'" in str(err.value) and "\n" not in str(err.value)


def _in_child(lab: Lab, code: str) -> dict:
    """Run ``code`` (which prints one JSON line) in a fresh interpreter in namespace b."""
    run = lab.run(lab.b, PYTHON, "-c", code, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_without_root_capture_fails_with_one_line(lab: Lab) -> None:
    code = (
        "import json\n"
        "from detector.errors import InputError\n"
        "from detector.source.afpacket import open_live\n"
        "from detector.source.privileges import drop_privileges\n"
        "drop_privileges('nobody')\n"
        "try:\n"
        "    open_live(['veth0'], None, 65535)\n"
        "    print(json.dumps({'error': None}))\n"
        "except InputError as exc:\n"
        "    print(json.dumps({'error': str(exc)}))\n"
    )
    assert _in_child(lab, code) == {"error": "capturing on veth0 needs root or CAP_NET_RAW"}


def test_an_open_capture_goes_on_after_privileges_are_dropped(lab: Lab) -> None:
    code = (
        "import json, os, socket\n"
        "from detector.source.afpacket import open_live\n"
        "from detector.source.privileges import drop_privileges\n"
        "cap = open_live(['lo'], 'udp port 9992', 65535)\n"
        "drop_privileges('nobody')\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.sendto(b'as nobody', ('127.0.0.1', 9992))\n"
        "n = 0\n"
        "for _, batch in zip(range(50), cap.batches(0.1)):\n"
        "    n += len(batch)\n"
        "    if n: break\n"
        "try:\n"
        "    os.setuid(0)\n"
        "    back = True\n"
        "except PermissionError:\n"
        "    back = False\n"
        "cap.close()\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(),\n"
        "                  'groups': os.getgroups(), 'packets': n, 'root_back': back}))\n"
    )
    nobody = pwd.getpwnam("nobody")
    assert _in_child(lab, code) == {"uid": nobody.pw_uid, "gid": nobody.pw_gid, "groups": [],
                                    "packets": 1, "root_back": False}


def test_drop_privileges_names_an_unknown_user() -> None:
    from detector.source.privileges import drop_privileges

    with pytest.raises(InputError, match="^mwcap-nobody: no such user$"):
        drop_privileges("mwcap-nobody")


SUBSCRIBE = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.12.0"]}\n'
REPLY = (b'{"id":1,"result":[[["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],'
         b'"08000002",4],"error":null}\n'
         b'{"id":null,"method":"mining.set_difficulty","params":[512]}\n'
         b'{"id":null,"method":"mining.notify","params":["bf","4d16b6f85af6e2198f44ae2a6de67f78487ae'
         b'5611b77c6c0440b921e00000000","01000000010000","072f736c7573682f000000000100f2052a010000'
         b'001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",[],"00000002","1c2ac4af",'
         b'"504e86b9",false]}\n')


def test_a_stratum_session_on_the_wire_becomes_a_suspect(lab: Lab) -> None:
    config = ScanConfig(keep_all_flows=True)
    session = CaptureSession("veth0", config, Detector.load(config))
    listener = lab.inside(lab.b, socket.create_server, (B_IP, 3333))
    client = lab.inside(lab.a, socket.socket, socket.AF_INET, socket.SOCK_STREAM)
    fed = 0
    with lab.open(["veth0"], "tcp port 3333", 65535) as cap, listener, client:
        client.connect((B_IP, 3333))
        conn, _ = listener.accept()
        with conn:
            client.sendall(SUBSCRIBE)
            assert conn.recv(len(SUBSCRIBE)) == SUBSCRIBE
            conn.sendall(REPLY)
            received = b""
            while len(received) < len(REPLY):
                received += client.recv(4096)
        client.close()
        deadline = time.monotonic() + 5
        for batch in cap.batches(0.1):
            session.feed(batch)
            fed += len(batch)
            if session.tracker.stats.by_reason or time.monotonic() > deadline:
                break
    scanned = session.finish()
    assert fed >= 8 and scanned.decode.packets == fed
    (verdict,) = scanned.verdicts
    record = verdict.record
    assert (record.client_ip, record.server_port) == (A_IP, 3333)
    assert record.facts is not None and STRATUM_V1 in record.facts.dialects
    assert verdict.is_miner
    assert scanned.suspects.ips() == {A_IP}


def test_a_fanout_group_gives_each_flow_to_one_socket(lab: Lab) -> None:
    caps = [lab.open(["veth0"], "udp port 9991", 65535, fanout_group=4242) for _ in range(2)]
    senders = [udp_sender(lab) for _ in range(16)]
    try:
        for k, s in enumerate(senders):
            for j in range(3):
                s.sendto(b"flow %d packet %d" % (k, j), (B_IP, 9991))
        got = [collect(cap, lambda ps: False, timeout=0.5) for cap in caps]
    finally:
        for thing in [*caps, *senders]:
            thing.close()
    flows = [{udp_of(p)[0] for p in ps} for ps in got]  # type: ignore[index]
    assert len(got[0]) + len(got[1]) == 48
    assert not flows[0] & flows[1]  # each flow went to one socket ...
    assert len(flows[0] | flows[1]) == 16 and all(len(f) >= 1 for f in flows)  # ... and both got some
