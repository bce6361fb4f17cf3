"""libp2p's multistream-select opener and the Filecoin node it can be, end to end through
the CLI (detector/dissect/libp2p.py, netnames.py, enrich.py, nodehosts.py;
docs/ARCHITECTURE.md §3 "Filecoin and libp2p").

One capture written here holds, host by host:

* 10.80.0.2: two libp2p connections (Noise) and a DNS lookup of lotus's bootstrap name
  -> a Filecoin node (rule 3950100), the name as its evidence;
* 10.80.0.3: libp2p and a lookup of IPFS's bootstrap name -> a libp2p sighting only;
* 10.80.0.4: libp2p proposing /tls/1.0.0 and an HTTPS hello to drand (SNI) -> Filecoin;
* 10.80.0.5: a lookup of and an HTTPS hello to proofs.filecoin.io, no libp2p -> nothing
  (every full node fetches its verifying keys there: no miner, and no node alone);
* 10.80.0.6: libp2p to a peer that DNS named a Filecoin bootstrap peer (10.80.0.7 looked
  it up) -> Filecoin (10.80.0.7, a lookup alone: nothing);
* 10.80.0.8: libp2p and a Filecoin lookup two hours apart -> libp2p only (same window
  only);
* 10.80.0.9, 10.80.0.10: hostile openers - a protocol id with terminal escapes, an absurd
  length varint - reported as libp2p, escaped in the table, no traceback.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys

import pytest

from detector.dissect.base import Probe
from detector.dissect.libp2p import HEADER, MAX_PROTOCOLS, Multistream, read_uvarint
from detector.facts import FlowFacts
from detector.synth.benign import dns
from detector.synth.benign.tls import load_templates
from detector.synth.clock import at
from detector.synth.conversation import Conversation, Talk
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import REPO, eve_errors, meta, run_cli

RESOLVER = "10.80.9.53"
ESCAPED_ID = "/\x1b[2J\x1b[31mpwned/1.0.0"


def msg(text: str) -> bytes:
    """A multistream-select message: varint length (with the newline), text, newline."""
    body = text.encode() + b"\n"
    assert len(body) < 0x80
    return bytes([len(body)]) + body


def noise_first(rng: random.Random) -> bytes:
    """Noise XX's first message behind libp2p's 2-byte length: the 32-byte ephemeral key."""
    return b"\x00\x20" + rng.randbytes(32)


def libp2p_noise(t: Talk, rng: random.Random) -> None:
    """go-libp2p's way: header and proposal in one write; then Noise, then records."""
    t.c(HEADER + msg("/noise"))
    t.s(HEADER + msg("/noise") + b"\x00\x60" + rng.randbytes(96))
    t.c(noise_first(rng))
    for _ in range(3):
        t.s(rng.randbytes(60))
        t.c(rng.randbytes(45))


def libp2p_tls(t: Talk, rng: random.Random) -> None:
    """Proposes TLS, then a TLS record follows (its length byte 0x16 is no message)."""
    t.c(HEADER + msg("/tls/1.0.0"))
    t.s(HEADER + msg("/tls/1.0.0"))
    t.c(b"\x16\x03\x01\x00\xc8" + rng.randbytes(200))
    t.s(b"\x16\x03\x03\x00\x7a" + rng.randbytes(122))


def hostile_escape(t: Talk, rng: random.Random) -> None:
    t.c(HEADER + msg(ESCAPED_ID))
    t.s(HEADER + msg("na"))


def hostile_varint(t: Talk, rng: random.Random) -> None:
    t.c(HEADER + b"\xff" * 9 + b"\x01" + rng.randbytes(40))
    t.s(HEADER + b"\x80\x80\x04" + rng.randbytes(40))  # 65,536: over go-multistream's limit


def tls_hello(sni: str):
    template = next(tp for tp in load_templates() if tp.hello.sni is not None)

    def script(t: Talk, rng: random.Random) -> None:
        hello, _ = template.client_hello(rng.randbytes, sni)
        t.c(hello)

    return script


# (client, server, port, script, seconds after the capture's start)
TCP = [
    ("10.80.0.2", "10.80.1.1", 1347, libp2p_noise, 10),
    ("10.80.0.2", "10.80.1.2", 34000, libp2p_noise, 20),
    ("10.80.0.3", "10.80.1.3", 4001, libp2p_noise, 30),
    ("10.80.0.4", "10.80.1.4", 4001, libp2p_tls, 40),
    ("10.80.0.4", "10.80.1.40", 443, tls_hello("api.drand.sh"), 45),
    ("10.80.0.5", "10.80.1.50", 443, tls_hello("proofs.filecoin.io"), 50),
    ("10.80.0.6", "10.80.1.6", 34000, libp2p_noise, 70),
    ("10.80.0.8", "10.80.1.8", 4001, libp2p_noise, 80),
    ("10.80.0.9", "10.80.1.9", 4001, hostile_escape, 90),
    ("10.80.0.10", "10.80.1.10", 4001, hostile_varint, 100),
]
# (client, name, answer, seconds)
DNS = [
    ("10.80.0.2", "bootstrap.filecoin.chain.love", "10.80.1.1", 5),
    ("10.80.0.3", "bootstrap.libp2p.io", "10.80.1.3", 25),
    ("10.80.0.5", "proofs.filecoin.io", "10.80.1.50", 48),
    ("10.80.0.7", "bootstrap-mainnet-0.chainsafe-fil.io", "10.80.1.6", 60),
    ("10.80.0.8", "api.drand.sh", "10.80.1.80", 2 * 3600 + 80),
]


def capture() -> bytes:
    rng = random.Random(20)
    packets = []
    for n, (name_client, name, addr, seconds) in enumerate(DNS):
        packets += dns.exchange(name_client, RESOLVER, 50000 + n, 0x1000 + n, name, [addr],
                                at(seconds))  # fmt: skip
    for n, (client, server, port, script, seconds) in enumerate(TCP):
        base = at(seconds)
        conv = Conversation((client, 41000 + n), (server, port), base, rtt=0.002)
        talk = Talk(conv, base, reply_gap=0.01)
        script(talk, rng)
        conv.close(at(talk.t + 0.5, base))
        packets += conv.finish()
    packets.sort(key=lambda p: (p.ts_ns, p.order))
    return pcap_bytes(frames(packets, Ethernet()), Ethernet.linktype)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], str]:
    path = tmp_path_factory.mktemp("libp2p") / "libp2p.pcap"
    path.write_bytes(capture())
    scan = run_cli("scan", "-f", "jsonl", "-q", str(path))
    assert scan.rc == 0 and "Traceback" not in scan.err, scan.err
    table = run_cli("scan", "-q", str(path))
    assert table.rc == 0 and "Traceback" not in table.err, table.err
    return [json.loads(line) for line in scan.out.splitlines()], table.out


def nodes_of(events: list[dict], ip: str) -> list[dict]:
    return [e for e in events if e["src_ip"] == ip]


def test_no_suspect_and_every_line_validates(scanned) -> None:
    events, table = scanned
    assert events
    for event in events:
        assert eve_errors(event) == [], event
        assert event["alert"]["category"] == "Crypto Currency Node Activity Detected", event
    assert "No mining suspects found." in table


def test_libp2p_with_filecoin_bootstrap_lookup_is_a_filecoin_node(scanned) -> None:
    events, _ = scanned
    (node,) = nodes_of(events, "10.80.0.2")
    assert node["alert"]["signature_id"] == 3950100
    assert meta(node, "rules") == ["3950100", "3950101"]
    assert meta(node, "node_protocol") == ["filecoin"]
    assert meta(node, "node_network") == ["filecoin"]
    assert meta(node, "node_name") == ["bootstrap.filecoin.chain.love"]
    assert meta(node, "node_flow_count") == ["2"]  # the libp2p flows, not the lookup
    assert meta(node, "node_command") == ["/noise"]
    assert sorted(meta(node, "node_peer")) == ["10.80.1.1:1347", "10.80.1.2:34000"]


def test_libp2p_without_filecoin_names_stays_libp2p(scanned) -> None:
    events, _ = scanned
    for ip in ("10.80.0.3", "10.80.0.8"):  # IPFS's name; Filecoin's in another window
        (node,) = nodes_of(events, ip)
        assert node["alert"]["signature_id"] == 3950101, node
        assert meta(node, "node_protocol") == ["libp2p"]
        assert "node_name" not in node["alert"]["metadata"]


def test_drand_sni_and_named_peers_make_filecoin(scanned) -> None:
    events, _ = scanned
    (tls_peer,) = nodes_of(events, "10.80.0.4")
    assert meta(tls_peer, "node_protocol") == ["filecoin"]
    assert meta(tls_peer, "node_name") == ["api.drand.sh"]
    assert meta(tls_peer, "node_command") == ["/tls/1.0.0"]
    (named_peer,) = nodes_of(events, "10.80.0.6")
    assert meta(named_peer, "node_protocol") == ["filecoin"]
    assert meta(named_peer, "node_name") == ["bootstrap-mainnet-0.chainsafe-fil.io"]


def test_filecoin_names_alone_report_nothing(scanned) -> None:
    events, _ = scanned
    for ip in ("10.80.0.5", "10.80.0.7"):  # proofs.filecoin.io fetch; a lookup alone
        assert not [e for e in events if ip in (e["src_ip"], e["dest_ip"])], ip


def test_hostile_openers_are_escaped_in_the_table(scanned) -> None:
    events, table = scanned
    (escaped,) = nodes_of(events, "10.80.0.9")
    assert meta(escaped, "node_command") == [ESCAPED_ID]  # JSON escapes it itself
    (absurd,) = nodes_of(events, "10.80.0.10")
    assert meta(absurd, "node_protocol") == ["libp2p"]
    assert "node_command" not in absurd["alert"]["metadata"]
    assert "\x1b" not in table
    row = next(line for line in table.splitlines() if "10.80.0.9 " in line)
    assert "/\\x1b[2J\\x1b[31mpwned/1.0.0" in row, row
    rows = [line for line in table.splitlines() if "10.80.0." in line]
    assert len(rows) == 7 and sum("filecoin" in r for r in rows) == 3, table


# --- the dissector alone --------------------------------------------------------------


def test_probe_wants_the_whole_header() -> None:
    assert Multistream.probe(b"\x13") is Probe.MAYBE  # js-libp2p writes the varint alone
    assert Multistream.probe(HEADER[:10]) is Probe.MAYBE
    assert Multistream.probe(HEADER) is Probe.YES
    assert Multistream.probe(b"\x13/multistream/2.0.0\n") is Probe.NO
    assert Multistream.probe(b"\x16\x03\x01") is Probe.NO


def test_split_segments_and_bounds() -> None:
    facts, d = FlowFacts(), Multistream()
    stream = HEADER + b"".join(msg(f"/p{i}/1.0.0") for i in range(40))
    for i in range(0, len(stream), 3):  # three bytes a segment: varints and ids split
        if not d.on_data(0, stream[i : i + 3], 0.0, facts):
            break
    assert facts.node["protocol"] == "libp2p" and facts.node["confidence"] == "low"
    assert facts.node["commands"] == [f"/p{i}/1.0.0" for i in range(15)]  # 16 messages a side
    assert len(facts.node["commands"]) <= MAX_PROTOCOLS
    assert read_uvarint(b"\xac\x02") == (300, 2)
    assert read_uvarint(b"\x80") is None
    with pytest.raises(ValueError):
        read_uvarint(b"\xff\xff\xff\x01")


# --- the names list is data, validated at start-up ----------------------------------------


def test_a_bad_names_line_is_file_line_reason(tmp_path) -> None:
    sig = tmp_path / "signatures"
    shutil.copytree(REPO / "signatures", sig)
    names = sig / "lists" / "filecoin-names.txt"
    names.write_text(names.read_text() + "api.drand.sh/beacon  # a URL, not a name\n")
    lineno = len(names.read_text().splitlines())
    proc = subprocess.run(
        [sys.executable, "-m", "detector", "scan", str(REPO / "pcaps" / "realset" /
                                                      "ssh-openssh-22.pcap")],
        capture_output=True, text=True, cwd=REPO, timeout=60,
        env={**os.environ, "MINEWATCH_SIGNATURES": str(sig)},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"filecoin-names.txt:{lineno}: bad host name 'api.drand.sh/beacon'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr



# --- the real programs' captures (pcaps/realset, tools/realset/filecoin.py) -----------------

REALSET = REPO / "pcaps" / "realset"


def test_real_libp2p_peers_and_lotus_rpc_get_their_verdicts() -> None:
    """js-libp2p peers with lotus's bootstrap name and drand looked up -> a Filecoin node;
    the same peers as an IPFS node -> libp2p only; a lotus-miner-like mining loop against a
    lotus-like API -> a storage farmer. One scan of the three captures."""
    files = ["libp2p-filecoin-dns.pcap", "libp2p-ipfs-dnsaddr.pcap", "lotus-rpc-miner-1234.pcap"]
    scan = run_cli("scan", "-f", "jsonl", "-q", *(str(REALSET / f) for f in files))
    assert scan.rc == 0 and "Traceback" not in scan.err, scan.err
    events = {e["src_ip"]: e for e in map(json.loads, scan.out.splitlines())}
    assert set(events) == {"10.213.240.2", "10.213.244.2", "10.213.248.2"}
    filecoin, ipfs, farm = events["10.213.240.2"], events["10.213.244.2"], events["10.213.248.2"]
    assert meta(filecoin, "node_protocol") == ["filecoin"]
    assert meta(filecoin, "rules") == ["3950100", "3950101"]
    assert "bootstrap.filecoin.chain.love" in meta(filecoin, "node_name")
    assert "api.drand.sh" in meta(filecoin, "node_name")
    assert meta(filecoin, "node_command") == ["/noise"]
    assert int(meta(filecoin, "node_flow_count")[0]) >= 5  # re-dialled: one opener each
    assert meta(ipfs, "node_protocol") == ["libp2p"] and "node_name" not in ipfs["alert"]["metadata"]
    assert farm["alert"]["category"] == "Crypto Currency Mining Activity Detected"
    assert meta(farm, "mining_role") == ["storage-farmer"]
    assert meta(farm, "mining_dialect") == ["filecoin-rpc"]
