"""Chia farms and nodes, end to end through the CLI (detector/chia.py; docs/ARCHITECTURE.md
§3 "Chia").

Real programs first: chia-blockchain 2.7.5's harvester, farmer and full nodes captured in
network namespaces (pcaps/realset/, tools/realset/chia_lab.py): the harvester host is a
storage farmer; two full nodes that found each other through the introducer names are
a Chia node sighting and no suspect; an HTTPS poller on Chia's port 8444 is nothing.

Then a capture written here (generated, not recorded - the certificate, the records and
their sizes follow chia/ssl/create_ssl.py and the captures above): what only TLS 1.2
shows (the Chia CA's certificate names) and the boundaries of the rules - a signage
rhythm without anything Chia about its TLS, the same rhythm behind SNI and ALPN, a pool
partial in cleartext, a hostile certificate - and a bad names list.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from detector.config import SIGNATURES
from detector.errors import InputError
from detector.netnames import load_network_names
from detector.sinks.common import CATEGORY, NODE_CATEGORY
from detector.synth.clock import at
from detector.synth.conversation import Conversation, Talk
from detector.synth.http import http_req, http_resp
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import PCAPS, REPO, eve_errors, meta, run_cli
from tests.test_tls import (
    client_hello_record,
    groups_ext,
    handshake,
    record,
    server_hello_body,
    sigalgs_ext,
    vec,
)

REALSET = PCAPS / "realset"
FARM = REALSET / "chia-farm-harvester-8447.pcap"
REMOTE = REALSET / "chia-farm-remote-node-8444.pcap"
PEERING = REALSET / "chia-node-peering-8444.pcap"
POLLER = REALSET / "https-requests-poll-8444.pcap"
HARVESTER, FARMER = "10.213.200.2", "10.213.200.1"
NODE_A, NODE_B = "10.213.204.2", "10.213.204.1"
# the farm of three hosts: full node - farmer (two addresses, one per link) - harvester
R_NODE, R_FARMER, R_FRONT, R_HARVESTER = (
    "10.213.212.1",
    "10.213.212.2",
    "10.213.213.1",
    "10.213.213.2",
)


def eve(*paths: Path) -> list[dict]:
    scan = run_cli("scan", "-f", "jsonl", "-q", *map(str, paths))
    assert scan.rc == 0 and "Traceback" not in scan.err, scan.err
    events = [json.loads(line) for line in scan.out.splitlines()]
    for event in events:
        assert eve_errors(event) == [], event
    return events


def miners(events: list[dict]) -> list[dict]:
    return [e for e in events if e["alert"]["category"] == CATEGORY]


def nodes(events: list[dict], protocol: str = "chia") -> list[dict]:
    return [
        e
        for e in events
        if e["alert"]["category"] == NODE_CATEGORY and meta(e, "node_protocol") == [protocol]
    ]


# --- real programs (pcaps/realset) ----------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> dict[str, list[dict]]:
    for path in (FARM, REMOTE, PEERING, POLLER):
        if not path.exists():
            pytest.skip(f"{path} missing")
    return {path.name: eve(path) for path in (FARM, REMOTE, PEERING, POLLER)}


def test_the_real_harvester_is_a_storage_farmer(real) -> None:
    events = real[FARM.name]
    (alert,) = miners(events)
    assert alert["src_ip"] == HARVESTER  # the host with the plots, dialling its farmer
    assert alert["dest_ip"] == FARMER and alert["dest_port"] == 8447
    assert meta(alert, "mining_role") == ["storage-farmer"]
    assert meta(alert, "mining_dialect") == ["chia-farming"]
    assert meta(alert, "mining_coin") == ["XCH"]
    assert {"3020001", "3020003"} <= set(meta(alert, "rules"))
    assert not nodes(events)  # the farm's flow is the farm's, not a node sighting


def test_a_real_farmer_fed_by_a_full_node_on_another_host_is_a_storage_farmer_too(real) -> None:
    events = real[REMOTE.name]
    found = {e["src_ip"]: e for e in miners(events)}
    assert set(found) == {R_HARVESTER, R_FARMER}  # not the full node
    harvester, farmer = found[R_HARVESTER], found[R_FARMER]
    assert (harvester["dest_ip"], harvester["dest_port"]) == (R_FRONT, 8447)
    assert (farmer["dest_ip"], farmer["dest_port"]) == (R_NODE, 8444)
    assert "3020002" in meta(farmer, "rules")  # the node's signage points, pushed
    for alert in (harvester, farmer):
        assert meta(alert, "mining_role") == ["storage-farmer"]
        assert meta(alert, "mining_dialect") == ["chia-farming"]


def test_real_full_nodes_that_met_through_the_introducer_names_are_a_chia_sighting(real) -> None:
    events = real[PEERING.name]
    assert not miners(events)
    sighted = nodes(events)
    assert {e["src_ip"] for e in sighted} <= {NODE_A, NODE_B}
    # node A asked the lab's resolver for the introducers (the asker, not the resolver,
    # is the node), and dialled the address it got: named by them, so Chia's
    assert NODE_A in {e["src_ip"] for e in sighted}
    assert all(e["alert"]["signature_id"] == 3950200 for e in sighted)


POOL_FARM = REALSET / "chia-pool-farmer-443.pcap"
# the farmer (farmer + harvester with a plot NFT's plot), its full node, its pool's HTTPS
P_FARMER, P_NODE, P_POOL = "10.213.216.2", "10.213.216.1", "10.213.217.1"


def test_a_real_pool_farmer_is_a_storage_farmer_by_its_node_session_not_its_pool() -> None:
    """chia's farmer sending partials to a pool over HTTPS (tools/realset/chia_lab.py):
    the farmer is a suspect by the signage points its full node pushes (3020002); the pool
    flows are TLS 1.3 to a name (one connection per request: /pool_info, /farmer,
    /partial) in which minewatch sees nothing of Chia - no event names the pool's host."""
    if not POOL_FARM.exists():
        pytest.skip(f"{POOL_FARM} missing")
    events = eve(POOL_FARM)
    (alert,) = miners(events)
    assert alert["src_ip"] == P_FARMER
    assert (alert["dest_ip"], alert["dest_port"]) == (P_NODE, 8444)
    assert meta(alert, "mining_role") == ["storage-farmer"]
    assert {"3020002", "3020003"} <= set(meta(alert, "rules"))
    assert not [e for e in events if P_POOL in (e["src_ip"], e["dest_ip"])]
    flows = run_cli("flows", str(POOL_FARM))
    assert flows.rc == 0, flows.err
    pool = [json.loads(x) for x in flows.out.splitlines() if f'"{P_POOL}"' in x]
    assert len(pool) >= 12  # /pool_info, /farmer x3, POST /farmer, the partials
    assert all(f["dest_port"] == 443 and f["src_ip"] == P_FARMER for f in pool)


WALLET = REALSET / "chia-wallet-8444.pcap"


def test_a_real_chia_wallet_is_no_farm_and_looks_like_a_node() -> None:
    """chia's wallet following a full node (tools/realset/chia_lab.py): TLS 1.3 on 8444
    with a client certificate, as a node's peering - minewatch cannot tell the wallet
    from a node (docs/ARCHITECTURE.md §3.w), so it is a chia sighting, never a suspect."""
    if not WALLET.exists():
        pytest.skip(f"{WALLET} missing")
    events = eve(WALLET)
    assert not miners(events)
    sighted = nodes(events)
    assert [e["src_ip"] for e in sighted] == ["10.213.220.2"]  # the wallet's host
    assert meta(sighted[0], "node_role") == ["crypto-node"]


def test_an_https_poller_on_8444_is_nothing(real) -> None:
    events = real[POLLER.name]
    assert not miners(events)
    assert not nodes(events)


# --- generated: what TLS 1.2 shows, and the rules' edges ---------------------------------


def chia_certificate(common_name: str = "Chia") -> bytes:
    """A certificate with the names chia/ssl/create_ssl.py gives every node's (issued by
    "Chia CA"); Ed25519 so that the bytes are the same every run."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Chia"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Organic Farming Division"),
    ])  # fmt: skip
    issuer = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Chia"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Chia CA"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Organic Farming Division"),
    ])  # fmt: skip
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(0x5EED)
        .not_valid_before(datetime.datetime(2026, 1, 1))
        .not_valid_after(datetime.datetime(2100, 8, 2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("chia.net")]), critical=False)
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.DER)


PYTHON_CIPHERS = [0xC02C, 0xC030, 0xC02B, 0xC02F, 0xCCA9, 0xCCA8, 0x009F, 0x009E]


def tls12_handshake(t: Talk, cert: bytes, sni: bool = False, alpn: bool = False) -> None:
    """A TLS 1.2 mutual-TLS handshake as an older Chia server (min TLS 1.2, ECDHE-RSA-
    AES256-GCM) and Python's ssl client make it: both send a certificate in the clear."""
    extensions = [groups_ext([29, 23, 24]), sigalgs_ext([0x0403, 0x0804, 0x0401])]
    if sni:
        extensions.insert(0, (0x0000, vec(2, b"\x00" + vec(2, b"farmer.example.org"))))
    if alpn:
        extensions.append((0x0010, vec(2, vec(1, b"h2"))))
    t.c(client_hello_record(PYTHON_CIPHERS, extensions), gap=0.01)
    chain = vec(3, vec(3, cert))
    t.s(
        record(22, handshake(2, server_hello_body(0xC030, [(0xFF01, b"\x00")])))
        + record(22, handshake(11, chain))
        + record(22, handshake(12, bytes(300)))  # ServerKeyExchange
        + record(22, handshake(13, b"\x01\x01" + vec(2, u16(0x0401)) + vec(2, b"")))
        + record(22, handshake(14, b"")),
        gap=0.003,
    )
    t.c(
        record(22, handshake(11, chain))
        + record(22, handshake(16, bytes(33)))
        + record(22, handshake(15, bytes(260)))
        + record(20, b"\x01")
        + record(22, bytes(40)),  # encrypted Finished
        gap=0.003,
    )
    t.s(record(20, b"\x01") + record(22, bytes(40)), gap=0.003)


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def signage_rhythm(t: Talk, points: int = 30) -> None:
    """A farmer's signage point every ~9.375 s (a 119-byte record, as in the real capture),
    each answered at once by the harvester's farming_info (121 bytes)."""
    t.c(record(23, bytes(260)), gap=0.01)  # WebSocket upgrade, handshake...
    t.s(record(23, bytes(219)), gap=0.002)
    for k in range(points):
        t.s(record(23, bytes(119)), gap=9.375 + (0.2 if k % 3 == 0 else -0.1))
        t.c(record(23, bytes(121)), gap=0.002)


def tls12_farm(t: Talk) -> None:
    """A harvester and its farmer on TLS 1.2 (an older Chia server) on a port of its own:
    the certificate names say Chia, the rhythm says farm."""
    tls12_handshake(t, chia_certificate())
    signage_rhythm(t)


def tls12_node_feeds_its_farmer(t: Talk) -> None:
    """A full node (server) pushing its farmer a signage point every ~9.375 s; the farmer
    sends nothing back but ACKs (new_signage_point, full_node.py)."""
    tls12_handshake(t, chia_certificate())
    t.c(record(23, bytes(260)), gap=0.01)
    t.s(record(23, bytes(219)), gap=0.002)
    for k in range(30):
        t.s(record(23, bytes(300)), gap=9.375 + (0.15 if k % 2 else -0.1))


def tls12_node(t: Talk) -> None:
    """Two full nodes on TLS 1.2: Chia by the names, no rhythm (a few messages)."""
    tls12_handshake(t, chia_certificate())
    for _ in range(4):
        t.c(record(23, bytes(90)), gap=2.0)
        t.s(record(23, bytes(400)), gap=0.01)


def hostile_node(t: Talk) -> None:
    """A Chia-named certificate whose common name carries terminal escapes."""
    tls12_handshake(t, chia_certificate("Chia\x1b[2J\x1b]0;pwned\x07"))
    t.c(record(23, bytes(90)), gap=1.0)
    t.s(record(23, bytes(400)), gap=0.01)


def rhythm_only(t: Talk) -> None:
    """The signage rhythm inside TLS that says nothing of Chia (no certificate, no Chia
    name, no Chia port): 0.6, not a farm."""
    tls12_handshake(t, b"\x30\x03\x02\x01\x00")  # an unreadable certificate
    signage_rhythm(t)


def rhythm_behind_sni(t: Talk) -> None:
    """The same rhythm on 8447, but the client named a server and offered ALPN: not how
    a Chia peer dials."""
    tls12_handshake(t, b"\x30\x03\x02\x01\x00", sni=True, alpn=True)
    signage_rhythm(t)


def pool_partial(t: Talk) -> None:
    """A farmer's POST /partial to a pool over plain HTTP (pool protocol)."""
    body = json.dumps({
        "payload": {"launcher_id": "0x" + "ab" * 32, "authentication_token": 2853264,
                    "proof_of_space": {"size": 32}, "sp_hash": "0x" + "cd" * 32,
                    "end_of_sub_slot": False, "harvester_id": "0x" + "ef" * 32},
        "aggregate_signature": "0x" + "00" * 96,
    }).encode()  # fmt: skip
    t.c(http_req("POST", "/partial", [("Host", "pool.example.org"),
                                      ("User-Agent", "Chia Blockchain v.2.7.5"),
                                      ("chia-farmer-version", "2.7.5"),
                                      ("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))], body))  # fmt: skip
    reply = b'{"new_difficulty": 1}'
    t.s(http_resp("200 OK", [("Content-Type", "application/json"),
                             ("Content-Length", str(len(reply)))], reply))  # fmt: skip


# (client, server, server port, script)
SESSIONS = [
    ("10.71.0.2", "10.71.0.1", 9447, tls12_farm),
    ("10.71.0.3", "10.71.0.4", 8444, tls12_node),
    ("10.71.0.5", "10.71.0.6", 8444, hostile_node),
    ("10.71.0.7", "10.71.0.8", 9443, rhythm_only),
    ("10.71.0.9", "10.71.0.10", 8447, rhythm_behind_sni),
    ("10.71.0.11", "10.71.0.12", 80, pool_partial),
    ("10.71.0.13", "10.71.0.14", 8444, tls12_node_feeds_its_farmer),
]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], str]:
    """(EVE lines, the table) of a capture of SESSIONS."""
    packets = []
    for n, (client, server, port, script) in enumerate(SESSIONS):
        base = at(n * 400.0)
        conv = Conversation((client, 42000 + n), (server, port), base, rtt=0.001)
        talk = Talk(conv, base, reply_gap=0.002)
        script(talk)
        conv.close(at(talk.t + 1, base))
        packets += conv.finish()
    path = tmp_path_factory.mktemp("chia") / "chia-generated.pcap"
    path.write_bytes(pcap_bytes(frames(packets, Ethernet()), Ethernet.linktype))
    table = run_cli("scan", "-q", str(path))
    assert table.rc == 0 and "Traceback" not in table.err, table.err
    return eve(path), table.out


def test_tls12_certificate_names_and_the_rhythm_make_a_farm_on_any_port(generated) -> None:
    events, _ = generated
    (alert,) = [e for e in miners(events) if e["src_ip"] == "10.71.0.2"]
    assert alert["dest_port"] == 9447
    assert meta(alert, "mining_role") == ["storage-farmer"]
    assert {"3020001", "3020003"} <= set(meta(alert, "rules"))


def test_a_farmer_fed_signage_points_by_its_full_node_is_a_farm(generated) -> None:
    events, _ = generated
    (alert,) = [e for e in miners(events) if e["src_ip"] == "10.71.0.13"]  # the farmer
    assert meta(alert, "mining_role") == ["storage-farmer"]
    assert {"3020002", "3020003"} <= set(meta(alert, "rules"))


def test_tls12_certificate_names_alone_are_a_node(generated) -> None:
    events, _ = generated
    sighted = {e["src_ip"] for e in nodes(events)}
    assert sighted & {"10.71.0.3", "10.71.0.4"}
    assert not [e for e in miners(events) if e["src_ip"] in ("10.71.0.3", "10.71.0.4")]


def test_a_rhythm_without_chia_tls_is_no_farm(generated) -> None:
    events, _ = generated
    for ip in ("10.71.0.7", "10.71.0.9"):
        assert not [e for e in events if ip in (e["src_ip"], e["dest_ip"])], ip


def test_a_pool_partial_in_cleartext_is_a_farm(generated) -> None:
    events, _ = generated
    (alert,) = [e for e in miners(events) if e["src_ip"] == "10.71.0.11"]
    assert meta(alert, "mining_role") == ["storage-farmer"]
    assert "3020004" in meta(alert, "rules")


def test_hostile_certificate_names_stay_out_of_the_terminal(generated) -> None:
    events, table = generated
    assert "\x1b" not in table and "\x07" not in table
    assert {e["src_ip"] for e in nodes(events)} & {"10.71.0.5", "10.71.0.6"}
    # the two farms and the partial only
    assert sorted(e["src_ip"] for e in miners(events)) == ["10.71.0.11", "10.71.0.13", "10.71.0.2"]


def test_the_names_list_is_checked_at_start_up(tmp_path: Path) -> None:
    names = load_network_names(SIGNATURES / "lists")  # netnames.py: one loader for all
    assert names.named("chia", "dns-introducer.chia.net")
    assert names.named("chia", "SEEDER.DEXIE.SPACE.")
    assert not names.named("chia", "chia.net") and not names.named("chia", "www.chia.net")
    sig = tmp_path / "signatures"
    shutil.copytree(SIGNATURES, sig)
    listed = sig / "lists" / "chia-names.txt"
    lines = listed.read_text().splitlines()
    lines.insert(14, "seeder.example.org")  # no source
    listed.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"chia-names.txt:15: 'seeder.example.org' has no"):
        load_network_names(listed.parent)
    lines[14] = "bad name!.org  # made up"
    listed.write_text("\n".join(lines) + "\n")
    scan = subprocess.run([sys.executable, "-m", "detector", "scan", "-q", str(FARM)],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "MINEWATCH_SIGNATURES": str(sig)})  # fmt: skip
    assert scan.returncode == 2
    assert scan.stderr.strip().count("\n") == 0 and "Traceback" not in scan.stderr
    assert "chia-names.txt:15: bad host name 'bad name!.org'" in scan.stderr


def test_chia_name_is_the_patterns_it_replaced() -> None:
    """chia._chia_name says what ``(^|,)OU=Organic Farming Division(,|$)`` and
    ``(^|,)O=Chia(,|$)`` both finding said, on names made of pieces that sit at, next to
    or across the parts' edges (escaped commas, prefixes, suffixes, spaces)."""
    import itertools
    import random
    import re

    from detector.chia import _chia_name

    dn = re.compile(r"(^|,)OU=Organic Farming Division(,|$)")
    org = re.compile(r"(^|,)O=Chia(,|$)")
    pieces = ["OU=Organic Farming Division", "O=Chia", "O=Chia2", "XO=Chia", "CN=Chia", ",",
              "\\,", " ", "OU=Organic Farming Divisio", "O=", "Chia", ""]  # fmt: skip
    names = ["OU=Organic Farming Division,O=Chia,CN=Chia", "O=Chia,OU=Organic Farming Division"]
    names += ["".join(p) for p in itertools.product(pieces, repeat=3)]
    rng = random.Random(5)
    names += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 7))) for _ in range(5000)]
    found = 0
    for name in names:
        expected = bool(dn.search(name) and org.search(name))
        assert _chia_name(name) == expected, name
        found += expected
    assert 0 < found < len(names)  # both answers occur
