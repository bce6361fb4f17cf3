"""The [rules] features end to end through the CLI: TLS fingerprints equal tshark's on
every corpus ClientHello, SNI/DNS/pool intelligence, crypto-node events, user rules,
rule errors, and the rules/pools commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from detector.config import SIGNATURES
from detector.synth.clock import at
from detector.synth.conversation import Conversation
from detector.synth.links import Ethernet, frames
from detector.synth.packets import udp
from detector.synth.pcap import pcap_bytes
from tests.conftest import (
    CORPUS,
    PCAPS,
    REPO,
    corpus_labels,
    meta,
    needs_corpus,
    needs_tool,
    run_cli,
)
from tests.test_tls import alpn_ext, client_hello_record, groups_ext, sigalgs_ext


def flow_log(path: Path | str, *extra: str) -> list[dict]:
    result = run_cli("flows", str(path), *extra)
    assert result.rc == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def tshark_hellos(path: Path) -> set[tuple[str, int, str, str]]:
    """(client ip, client port, ja3 md5, sni) of every ClientHello tshark sees."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", "tls.handshake.type == 1", "-T", "fields",
         "-e", "ip.src", "-e", "tcp.srcport", "-e", "tls.handshake.ja3",
         "-e", "tls.handshake.extensions_server_name"],
        capture_output=True, text=True, check=True,
    ).stdout
    hellos = set()
    for line in out.splitlines():
        ip, port, ja3, sni = (line.split("\t") + ["", "", "", ""])[:4]
        if ja3:
            hellos.add((ip, int(port), ja3, sni))
    return hellos


@needs_corpus()
@needs_tool("tshark")
@pytest.mark.parametrize("name", [r["file"] for r in corpus_labels()] if (CORPUS / "labels.csv").is_file() else [])
def test_ja3_and_sni_equal_tshark_on_every_corpus_clienthello(name: str) -> None:
    path = CORPUS / name
    theirs = tshark_hellos(path)
    ours = set()
    for e in flow_log(path):
        tls = e.get("facts", {}).get("tls", {})
        if tls.get("ja3"):
            ours.add((e["src_ip"], e["src_port"], tls["ja3"], tls.get("sni") or ""))
            assert len(tls["ja4"].split("_")) == 3 and tls["ja4"][0] == "t"
    # tshark may report a retransmitted hello twice; the sets must be equal.
    assert ours == theirs


@needs_corpus()
def test_coinhive_websocket_carries_sni_pool_and_verdict() -> None:
    result = run_cli("scan", "-f", "jsonl", "-q", "--eve-extended",
                     str(CORPUS / "zeek" / "coinhive.pcap"))
    assert result.rc == 0, result.err
    (alert,) = result.events()
    assert alert["src_ip"] == "10.0.2.15" and alert["dest_port"] == 443
    assert alert["tls"]["sni"] == "ws027.authedmine.com"
    assert meta(alert, "mining_pool") == ["CoinHive AuthedMine"]
    assert meta(alert, "mining_dialect") == ["browser-wss-tls"]
    assert alert["mining"]["pool"] == "CoinHive AuthedMine"
    assert alert["mining"]["dialects"] == ["browser-wss-tls"]
    assert 3700002 in {f for flow in alert["mining"]["flows"] for f in flow["rules"]}
    flows = flow_log(CORPUS / "zeek" / "coinhive.pcap")
    ws = [e for e in flows if e["facts"]["tls"].get("sni") == "ws027.authedmine.com"]
    assert ws[0]["facts"]["pool"]["via"] == "tls.sni"


@needs_corpus()
@pytest.mark.parametrize(
    "name,protocol",
    [("ndpi/bitcoin.pcap", "bitcoin-p2p"), ("ndpi/ethereum.pcap", "ethereum-devp2p"),
     ("ndpi/monero.pcap", "monero-levin")],
)
def test_node_captures_give_crypto_node_events_and_no_suspect(name: str, protocol: str) -> None:
    result = run_cli("scan", "-f", "jsonl", "-q", str(CORPUS / name))
    assert result.rc == 0, result.err
    assert result.events() == []
    nodes = result.events("node")
    assert protocol in {p for n in nodes for p in meta(n, "node_protocol")}
    assert all(n["alert"]["signature"].startswith("MINEWATCH ") for n in nodes)
    assert all(n["alert"]["severity"] == 3 and n["alert"]["action"] == "allowed" for n in nodes)
    hidden = run_cli("scan", "-f", "jsonl", "-q", "--no-info", str(CORPUS / name))
    assert hidden.out == ""


def _dns_answer(name: str, ip: str) -> bytes:
    import dpkt

    msg = dpkt.dns.DNS(id=7)
    msg.qr, msg.rd, msg.ra = dpkt.dns.DNS_R, 1, 1
    msg.qd = [dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)]
    msg.an = [dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, ttl=60,
                              rdata=bytes(int(x) for x in ip.split(".")))]
    return bytes(msg)


def _pool_by_dns_capture(path: Path) -> None:
    """DNS answers asia-erg.2miners.com -> 203.0.113.9; then TLS without SNI to the pool's
    stratum+ssl port 18888: only DNS ties the encrypted flow to the pool."""
    client, resolver, pool = "10.5.0.8", "10.5.0.1", "203.0.113.9"
    packets = [udp((resolver, 53), (client, 53000), _dns_answer("asia-erg.2miners.com", pool), at(0.01))]
    conv = Conversation((client, 41000), (pool, 18888), start=at(1))
    hello = client_hello_record([0x1301, 0xC02F, 0xC030],
                                [groups_ext([29, 23]), sigalgs_ext([0x0403, 0x0804]), alpn_ext(b"http/1.1")])
    conv.client_send(hello, at(1.1))
    conv.server_send(bytes([23, 3, 3, 0, 40]) + bytes(40), at(1.2))
    for i in range(10):
        conv.server_send(bytes([23, 3, 3, 0, 120]) + bytes(120), at(30 + 30 * i))
        conv.client_send(bytes([23, 3, 3, 0, 60]) + bytes(60), at(31 + 30 * i))
    path.write_bytes(pcap_bytes(frames(packets + conv.finish(), Ethernet()), 1))


def test_dns_names_reach_a_later_tls_flow_and_match_the_pool_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "dns-pool.pcap"
    _pool_by_dns_capture(path)
    tls_flow = [e for e in flow_log(path) if e["dest_port"] == 18888][0]
    assert tls_flow["facts"]["dns_names"] == ["asia-erg.2miners.com"]
    assert tls_flow["facts"]["pool"]["match"] == "endpoint"
    assert tls_flow["facts"]["pool"]["via"] == "dns"
    assert "sni" not in tls_flow["facts"]["tls"]
    result = run_cli("scan", "-f", "jsonl", "-q", str(path))
    (alert,) = result.events()
    assert alert["src_ip"] == "10.5.0.8" and alert["alert"]["signature_id"] == 3600001
    assert meta(alert, "mining_pool") == ["2Miners"] and meta(alert, "mining_coin") == ["ERG"]


def test_user_rules_add_verdicts(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "site.yaml").write_text(
        "rules:\n"
        "  - id: 9000001\n"
        "    name: Electrum wallet in the lab\n"
        "    weight: 0.9\n"
        "    match:\n"
        "      client_method: [blockchain.scripthash.subscribe]\n"
    )
    path = PCAPS / "neg-electrum-50001.pcap"
    assert run_cli("scan", "-f", "jsonl", "-q", str(path)).events() == []
    result = run_cli("scan", "-f", "jsonl", "-q", "--rules", str(rules), str(path))
    (alert,) = result.events()
    assert alert["alert"]["signature_id"] == 9000001
    assert alert["alert"]["signature"] == "MINEWATCH Electrum wallet in the lab"


def test_broken_user_rule_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: 9000002\n    name: typo\n    match:\n      feild: agent\n")
    for args in (["rules", "check", "--rules", str(bad)],
                 ["scan", "--rules", str(bad), str(PCAPS / "cryptonote-xmrig.pcap")]):
        result = run_cli(*args)
        assert result.rc == 2 and "Traceback" not in result.err
        lines = result.err.strip().splitlines()
        assert len(lines) == 1
        assert f"{bad}:5: rule 9000002: unknown condition 'feild'" in lines[0]


def test_rules_list_check_test_commands() -> None:
    listed = run_cli("rules", "list")
    assert listed.rc == 0 and "3100003" in listed.out and "rules from" in listed.out
    checked = run_cli("rules", "check")
    assert checked.rc == 0 and checked.out.startswith("ok: ")
    tested = run_cli("rules", "test", "3300002", str(PCAPS / "cryptonote-midsession-bigendian.pcap"))
    assert tested.rc == 0
    assert "192.168.70.5" in tested.out and "matched 1 of" in tested.out
    missing = run_cli("rules", "test", "1", str(PCAPS / "cryptonote-xmrig.pcap"))
    assert missing.rc == 2 and "no rule with id 1" in missing.err


def test_pools_update_and_match_offline(tmp_path: Path) -> None:
    signatures = tmp_path / "signatures"
    shutil.copytree(SIGNATURES, signatures)
    env_args = {"MINEWATCH_SIGNATURES": str(signatures)}
    mine = tmp_path / "mine.txt"
    mine.write_text("# our own pool proxy\n*.pool.corp.example\nxmr.proxy.example.org\n")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "detector", *args], capture_output=True,
                              text=True, cwd=REPO, env={**os.environ, **env_args})

    before = cli("pools", "match", "eu.pool.corp.example")
    assert before.returncode == 1
    first = cli("pools", "update", str(mine))
    assert first.returncode == 0 and "2 added" in first.stdout
    again = cli("pools", "update", str(mine))
    assert "0 added, 2 already present" in again.stdout
    after = cli("pools", "match", "eu.pool.corp.example:3333", "xmr.proxy.example.org")
    assert after.returncode == 0
    assert "suffix match on pool.corp.example" in after.stdout
    assert "host match on xmr.proxy.example.org" in after.stdout
    assert (signatures / "pools" / "user.csv").is_file()


def test_pool_match_of_an_address_without_the_suffix_walk() -> None:
    """An IPv4 address skips the suffix and domain walk (pools.PoolList._numeric_keys)
    only when no wildcard suffix or domain of the lists is all digits and dots: with or
    without such a key, every answer is the full walk's."""
    import random

    from detector.pools import PoolEntry, PoolList

    def entry(host: str, wildcard: bool = False, port: int | None = None) -> PoolEntry:
        return PoolEntry(host, port, "stratum+tcp", "p-" + host, None, wildcard, "t:1")

    plain = [entry("pool.example.org"), entry("eu.pool.example.org"), entry("198.51.100.7", port=3333),
             entry("mine.example.net", wildcard=True)]  # fmt: skip
    numeric = plain + [entry("3.4", wildcard=True), entry("9.8.7.1.nip.io"), entry("1.7.1.nip.io")]
    rng = random.Random(4)
    hosts = [".".join(str(rng.randrange(10)) for _ in range(4)) for _ in range(2000)]
    hosts += ["198.51.100.7", "1.2.3.4", "5.3.4", "1..2", ".5", "12", "a.mine.example.net"]
    for entries, fast in ((plain, True), (numeric, False)):
        pools = PoolList(entries)
        assert pools._numeric_keys is not fast
        walked = PoolList(entries)
        walked._numeric_keys = True  # the full walk for every name
        for host in hosts:
            for port in (None, 3333, 443):
                assert pools._match(host, port) == walked._match(host, port), (host, port)
    assert PoolList(numeric)._match("5.3.4", None) is not None  # the wildcard *.3.4
