"""TLS after an upgrade (dissect/starttls.py, dissect/tunnel.py, the HTTP CONNECT path):
every kind of switch, generated with detector/synth, read through a whole scan - the
ClientHello's JA3 as tshark reads it, the switch named in the facts - and the sessions
that never switch left without TLS facts."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from detector.dissect.base import Probe
from detector.dissect.starttls import StartTls
from detector.dissect.tunnel import Socks, socks_handshake
from detector.synth import tunnels, upgrades
from detector.synth.benign.tls import load_templates
from detector.synth.chain import HexStream
from detector.synth.clock import at
from detector.synth.conversation import Conversation
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import run_cli

TEMPLATE = {t.label: t for t in load_templates()}["07-node-tls"]

# (server port, cleartext dialogue, the upgrade the facts must name, tunnel target)
SESSIONS = [
    (25, upgrades.smtp("mx.example.org", "client.example.net"), "smtp-starttls", None),
    (143, upgrades.imap("imap.example.org"), "imap-starttls", None),
    (110, upgrades.pop3(), "pop3-stls", None),
    (21, upgrades.ftp(), "ftp-auth-tls", None),
    (5222, upgrades.xmpp("example.org"), "xmpp-starttls", None),
    (119, upgrades.nntp("news.example.org"), "nntp-starttls", None),
    (5432, upgrades.postgres(), "postgres-sslrequest", None),
    (1080, [("c", tunnels.SOCKS5_GREETING), ("s", tunnels.SOCKS5_NO_AUTH),
            ("c", tunnels.socks5_connect("pool.example.org", 5555)),
            ("s", tunnels.socks5_reply("10.0.0.1", 40000))], "socks5", ("pool.example.org", 5555)),
    (1081, [("c", tunnels.socks4a_connect("pool.example.org", 7777, "rig")),
            ("s", tunnels.socks4_granted(7777))], "socks4a", ("pool.example.org", 7777)),
    (1082, [("c", b"\x04\x01\x1e\x61\xc6\x33\x64\x0arig\x00"),
            ("s", tunnels.socks4_granted(7777))], "socks4", ("198.51.100.10", 7777)),
    (1083, [("c", b"\x05\x01\x02"), ("s", b"\x05\x02"), ("c", b"\x01\x03rig\x01x"),
            ("s", b"\x01\x00"), ("c", tunnels.socks5_connect("pool.example.org", 443)),
            ("s", tunnels.socks5_reply())], "socks5", ("pool.example.org", 443)),
    (3128, [("c", tunnels.http_connect("pool.example.org", 14433)),
            ("s", tunnels.HTTP_CONNECT_OK)], "http-connect", ("pool.example.org", 14433)),
]  # fmt: skip

# Sessions that do not switch: plain SMTP, and an SMTP server that refuses STARTTLS (the
# client goes on in cleartext).
PLAIN = [
    (2525, upgrades.smtp("mx.example.org", "c")[:3]
     + [("c", b"MAIL FROM:<a@example.net>\r\n"), ("s", b"250 2.1.0 Ok\r\n")]),
    (2526, upgrades.smtp("mx.example.org", "c")[:4]
     + [("s", b"454 4.7.0 TLS not available due to local problem\r\n"),
        ("c", b"MAIL FROM:<a@example.net>\r\n"), ("s", b"250 2.1.0 Ok\r\n")]),
]  # fmt: skip


def _session(port: int, steps: upgrades.Steps, tls: bool, n: int) -> list:
    rb = HexStream(f"upgrade-{port}").bytes
    c = Conversation((f"10.7.0.{n}", 40000 + n), ("192.0.2.80", port), at(n), rtt=0.02)
    now = n + 0.01
    for side, data in steps:
        now += 0.03
        (c.client_send if side == "c" else c.server_send)(data, at(now))
    if tls:
        hello, sid = TEMPLATE.client_hello(rb, "pool.example.org")
        c.client_send(hello, at(now + 0.03))
        c.server_send(TEMPLATE.server_flight(rb, sid), at(now + 0.06))
        c.client_send(upgrades.app_record(300, rb), at(now + 0.09))
    c.close(at(now + 0.2))
    return c.finish()


@pytest.fixture(scope="module")
def scanned(tmp_path_factory) -> tuple[Path, dict[int, dict]]:
    packets = []
    for n, (port, steps, _, _) in enumerate(SESSIONS, start=1):
        packets += _session(port, steps, True, n)
    for n, (port, steps) in enumerate(PLAIN, start=50):
        packets += _session(port, steps, False, n)
    path = tmp_path_factory.mktemp("upgrades") / "upgrades.pcap"
    link = Ethernet()
    path.write_bytes(pcap_bytes(frames(packets, link), link.linktype))
    result = run_cli("flows", "--all", "-j", "1", str(path))
    assert result.rc == 0, result.err
    entries = [json.loads(line) for line in result.out.splitlines()]
    return path, {e["dest_port"]: (e.get("facts") or {}) for e in entries}


@pytest.mark.parametrize("port,via,target", [(p, v, t) for p, _, v, t in SESSIONS])
def test_tls_after_the_switch_is_read(scanned, port: int, via: str, target) -> None:
    _, facts = scanned
    tls = facts[port]["tls"]
    assert tls["upgrade"] == via
    assert tls["sni"] == "pool.example.org"
    assert tls["ja4"].startswith("t13d")
    if target is None:
        assert "tunnel_host" not in tls
    else:
        assert (tls["tunnel_host"], tls["tunnel_port"]) == target
    assert "tls" in facts[port]["app_protos"]


def test_sessions_that_never_switch_have_no_tls_facts(scanned) -> None:
    _, facts = scanned
    for port, _ in PLAIN:
        assert not (facts.get(port) or {}).get("tls"), port


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_ja3_is_tsharks(scanned) -> None:
    """tshark reads the hello after STARTTLS on the standard ports and after a SOCKS or
    CONNECT handshake; where it reads one, the JA3 is minewatch's."""
    path, facts = scanned
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "tls.handshake.type == 1", "-T", "fields",
         "-e", "tcp.dstport", "-e", "tls.handshake.ja3"],
        capture_output=True, text=True, timeout=60,
    ).stdout
    read = {int(port): ja3 for port, ja3 in (line.split("\t") for line in out.splitlines())}
    assert len(read) >= 8, read
    for port, ja3 in read.items():
        assert facts[port]["tls"]["ja3"] == ja3, port


def test_probes() -> None:
    assert StartTls.probe(b"220 mx ESMTP\r\n") is Probe.YES
    assert StartTls.probe(b"* OK ready\r\n") is Probe.YES
    assert StartTls.probe(upgrades.SSL_REQUEST) is Probe.YES
    assert StartTls.probe(b"S") is Probe.MAYBE
    assert StartTls.probe(b"S\x16\x03\x03\x00") is Probe.YES
    assert StartTls.probe(b"22") is Probe.MAYBE
    assert StartTls.probe(b"GET / HTTP/1.1\r\n") is Probe.NO
    assert StartTls.probe(b'{"id":1,"method":"login"}\n') is Probe.NO
    assert StartTls.probe(b"SSH-2.0-OpenSSH_9.6\r\n") is Probe.NO
    assert Socks.probe(tunnels.SOCKS5_GREETING) is Probe.MAYBE
    assert Socks.probe(tunnels.SOCKS5_NO_AUTH + tunnels.socks5_reply() + b"\x16\x03") is Probe.YES
    assert Socks.probe(b"\x05\x09\x07") is Probe.NO
    end, host, port, kind, named = socks_handshake(
        tunnels.SOCKS5_GREETING + tunnels.socks5_connect("a.example", 3333)
    )
    assert (host, port, kind, named) == ("a.example", 3333, "socks5", True)

