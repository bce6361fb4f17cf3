"""Screened hosts (detector/screen.py): the distinct internal hosts at either end of the
flows a scan tracks, counted by the engine, checked against an independent count (dpkt)
over real captures of ../shared/corpus; serial and parallel runs agree."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import dpkt
import numpy as np
import pytest

from detector import plain
from detector.config import Detector, ScanConfig
from detector.owners import OwnerMap
from detector.pipeline import run_scan
from detector.replay import scan_capture
from detector.screen import HostScreen
from detector.session import CaptureScan
from detector.source import expand_inputs
from tests.conftest import CORPUS, needs_corpus

SUITE = CORPUS / "ndpi-suite"
# 1kxun.pcap: Ethernet, 1,723 packets, 83 IPv4 and 17 IPv6 addresses (29 of them RFC 1918)
CAPTURE = SUITE / "1kxun.pcap"
OWNERS = """\
cidr,entity,department,contact
18.64.0.0/16,CDN Org,,
192.168.5.0/24,Office,Floor 5,
2001:b030:214:100::/64,V6 Lab,,
2001:b020:6:0:c2a0:bbff:fe73:eb50/124,V6 Host,,
"""
FLOW_PROTOCOLS = (6, 17, 1, 58, 132)  # TCP, UDP, ICMP, ICMPv6, SCTP: what makes a flow


def _independent(path: Path, prefixes: list[str]) -> set[str]:
    """The internal addresses at either end of the capture's IP packets of a flow
    protocol, read with dpkt and tested with ipaddress (no minewatch code)."""
    networks = [ipaddress.ip_network(p) for p in prefixes]
    networks += [ipaddress.ip_network(p) for p in ("10.0.0.0/8", "172.16.0.0/12",
                                                   "192.168.0.0/16", "fc00::/7")]  # fmt: skip
    seen: set[str] = set()
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        assert reader.datalink() == dpkt.pcap.DLT_EN10MB
        for _, frame in reader:
            ip = dpkt.ethernet.Ethernet(frame).data
            if isinstance(ip, dpkt.ip.IP):
                proto = ip.p
            elif isinstance(ip, dpkt.ip6.IP6):
                proto = ip.nxt
            else:
                continue
            if proto not in FLOW_PROTOCOLS:
                continue
            for raw in (ip.src, ip.dst):
                address = ipaddress.ip_address(raw)
                if any(address.version == n.version and address in n for n in networks):
                    seen.add(str(address))
    return seen


def _config(owners: OwnerMap | None) -> ScanConfig:
    return ScanConfig(screen=owners, model=None)


@needs_corpus()
def test_screened_hosts_equal_an_independent_count(tmp_path: Path) -> None:
    owners_file = tmp_path / "owners.csv"
    owners_file.write_text(OWNERS, encoding="utf-8")
    owners = OwnerMap.load(owners_file)
    config = _config(owners)
    detector = Detector.load(config)
    result = run_scan(expand_inputs([str(CAPTURE)]), config, detector)
    want = _independent(CAPTURE, owners.prefixes())
    assert set(result.hosts.ips) == want
    assert len(want) == 36  # 29 private + 5 of 18.64/16 + 2 IPv6 of the owners file
    assert "2001:b020:6:0:c2a0:bbff:fe73:eb57" in want and "18.64.103.30" in want
    assert (result.hosts.count, result.hosts.overflow) == (36, 0)
    keys = [(ipaddress.ip_address(ip).version, int(ipaddress.ip_address(ip)))
            for ip in result.hosts.ips]  # fmt: skip
    assert keys == sorted(keys)  # address order, IPv4 first
    # plain data: a capture's result crosses processes and machines as JSON
    scanned = scan_capture(expand_inputs([str(CAPTURE)])[0], config, detector)
    again = plain.loads(CaptureScan, plain.dumps(scanned))
    assert again.hosts == scanned.hosts == result.hosts
    # Private space only (no owners file): the RFC 1918 hosts alone
    private = run_scan(expand_inputs([str(CAPTURE)]), _config(OwnerMap.empty()), detector)
    assert set(private.hosts.ips) == _independent(CAPTURE, []) and private.hosts.count == 29
    # Without screen nothing is counted, and the scan's findings are the same
    off = run_scan(expand_inputs([str(CAPTURE)]), _config(None), detector)
    assert off.hosts.count == 0 and off.hosts.ips == []
    assert off.flows == private.flows and off.suspects.ips() == private.suspects.ips()


@needs_corpus()
def test_a_parallel_run_screens_the_same_hosts_as_a_serial_one() -> None:
    files = [CAPTURE, SUITE / "whatsapp_login_call.pcap", CORPUS / "ndpi" / "mining.pcapng",
             CORPUS / "zeek" / "coinhive.pcap", SUITE / "telegram_videocall.pcapng"]  # fmt: skip
    inputs = expand_inputs([str(f) for f in files])
    config = _config(OwnerMap.empty())
    detector = Detector.load(config)
    serial = run_scan(inputs, config, detector, jobs=1)
    parallel = run_scan(inputs, config, detector, jobs=2)
    assert serial.hosts == parallel.hosts
    union: set[str] = set()
    for f in files:
        union |= set(run_scan(expand_inputs([str(f)]), config, detector).hosts.ips)
    assert set(serial.hosts.ips) == union and serial.hosts.count == len(union) == 40


@needs_corpus()
def test_past_the_cap_hosts_are_counted_as_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("detector.screen.MAX_SCREENED", 10)
    config = _config(OwnerMap.empty())
    result = run_scan(expand_inputs([str(CAPTURE)]), config, Detector.load(config))
    assert len(result.hosts.ips) == 10
    assert result.hosts.overflow >= 19 and result.hosts.count >= 29


def test_the_vectorised_test_agrees_with_owner_of(tmp_path: Path) -> None:
    """HostScreen.internal on the engine's (hi, lo) halves equals OwnerMap.is_internal
    for addresses in and around every kind of prefix (IPv4, IPv6 short and long)."""
    owners_file = tmp_path / "owners.csv"
    owners_file.write_text(OWNERS, encoding="utf-8")
    owners = OwnerMap.load(owners_file)
    screen = HostScreen(owners)
    texts = ["18.64.0.0", "18.64.255.255", "18.63.255.255", "18.65.0.0", "192.168.5.1",
             "172.16.0.1", "172.32.0.1", "10.0.0.1", "11.0.0.1", "100.64.0.1",
             "2001:b030:214:100::1", "2001:b030:214:101::1", "2001:b020:6:0:c2a0:bbff:fe73:eb5f",
             "2001:b020:6:0:c2a0:bbff:fe73:eb60", "fd00::1", "fe80::1", "::1",
             "2001:b020:6:0:c2a0:bbff:fe73:eb4f"]  # fmt: skip
    rng = np.random.default_rng(7)
    texts += [str(ipaddress.IPv4Address(int(x))) for x in rng.integers(0, 2**32, 2000)]
    values = []
    for text in texts:
        address = ipaddress.ip_address(text)
        value = int(address) | (0xFFFF << 32 if address.version == 4 else 0)
        values.append((value >> 64, value & (2**64 - 1)))
    hi = np.array([v[0] for v in values], dtype=np.uint64)
    lo = np.array([v[1] for v in values], dtype=np.uint64)
    assert screen.internal(hi, lo).tolist() == [owners.is_internal(t) for t in texts]
    screen.see(hi, lo, hi[:0], lo[:0])
    assert set(screen.hosts().ips) == {str(ipaddress.ip_address(t)) for t in texts
                                       if owners.is_internal(t)}  # fmt: skip
