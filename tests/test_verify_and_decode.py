"""`minewatch verify` as CI uses it (mismatch -> exit 1, JUnit XML), and decode edge cases
(IP fragments, IPv6 extension headers, PPPoE) through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

from detector.synth.clock import at
from detector.synth.conversation import Conversation
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import PCAPS, run_cli


def test_verify_passes_on_the_fixtures_and_writes_junit(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = run_cli("verify", str(PCAPS), "--junit", str(junit))
    assert result.rc == 0, result.out[-2000:]
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0"
    assert int(suite.get("tests")) == len(list(suite.iter("testcase"))) >= 40


def test_verify_fails_with_exit_1_on_a_regression(tmp_path: Path) -> None:
    shutil.copy(PCAPS / "cryptonote-xmrig.pcap", tmp_path)
    shutil.copy(PCAPS / "neg-electrum-50001.pcap", tmp_path)
    (tmp_path / "manifest.toml").write_text(
        '[[capture]]\nfile = "cryptonote-xmrig.pcap"\nsuspects = ["10.1.3.99"]\n'
        'dialects = ["stratum-v1"]\n\n'
        '[[capture]]\nfile = "neg-electrum-50001.pcap"\nsuspects = []\n'
    )
    junit = tmp_path / "junit.xml"
    result = run_cli("verify", str(tmp_path), "--junit", str(junit))
    assert result.rc == 1
    assert "FAIL  cryptonote-xmrig.pcap" in result.out
    assert "missing suspects: 10.1.3.99" in result.out
    assert "unexpected suspects: 10.1.3.14" in result.out
    assert "missing dialects: stratum-v1" in result.out
    assert "PASS  neg-electrum-50001.pcap" in result.out
    assert "1/2 captures passed" in result.out
    failures = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failures] == ["cryptonote-xmrig.pcap"]


def test_verify_bad_manifest_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.toml").write_text("[[capture]]\nfile = 5\n")
    result = run_cli("verify", str(tmp_path))
    assert result.rc == 2 and "Traceback" not in result.err
    assert "needs a 'file' string" in result.err


def test_verify_refuses_a_dialect_name_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "manifest.toml").write_text(
        '[[capture]]\nfile = "a.pcap"\nsuspects = []\ndialects = ["stratum1"]\n')
    result = run_cli("verify", str(tmp_path))
    assert result.rc == 2 and "Traceback" not in result.err
    assert "unknown dialect stratum1" in result.err and "stratum-v1" in result.err


def test_verify_checks_the_coins_a_manifest_lists(tmp_path: Path) -> None:
    """A GPU coin fixture labelled with another coin fails; a non-list is refused."""
    shutil.copy(PCAPS / "gpu-kaspa-bridge-lolminer.pcap", tmp_path)
    (tmp_path / "manifest.toml").write_text(
        '[[capture]]\nfile = "gpu-kaspa-bridge-lolminer.pcap"\nsuspects = ["10.61.0.11"]\n'
        'coins = ["XMR"]\n')
    result = run_cli("verify", str(tmp_path))
    assert result.rc == 1
    assert "missing coins: XMR" in result.out and "unexpected coins: KAS" in result.out
    (tmp_path / "manifest.toml").write_text(
        '[[capture]]\nfile = "gpu-kaspa-bridge-lolminer.pcap"\nsuspects = []\ncoins = "KAS"\n')
    result = run_cli("verify", str(tmp_path))
    assert result.rc == 2 and "coins must be a list" in result.err


def _fragmented_capture(path: Path) -> int:
    """A Stratum session plus IPv4 and IPv6 fragments (which must be counted, not parsed)."""
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
    from scapy.layers.l2 import Ether

    conv = Conversation(("10.7.0.5", 40001), ("10.7.0.1", 3333), start=at(0))
    conv.client_send(b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.12.1"]}\n', at(1))
    conv.server_send(b'{"id":1,"result":[[["mining.notify","1"]],"00",4],"error":null}\n', at(1.1))
    conv.server_send(b'{"id":null,"method":"mining.notify","params":["1","00","01","02",[],"2","3","4",true]}\n', at(2))
    records = frames(conv.finish(), Ethernet())
    frags = fragment(IP(src="10.7.0.9", dst="10.7.0.1") / UDP(sport=5000, dport=5001) / (b"x" * 3000), fragsize=1000)
    v6 = IPv6(src="2001:db8::9", dst="2001:db8::1") / IPv6ExtHdrFragment(offset=0, m=1, id=7) / UDP(sport=1, dport=2) / (b"y" * 100)
    extra = [bytes(Ether() / f) for f in frags] + [bytes(Ether() / v6)]
    ts = records[-1][0]
    records += [(ts + i + 1, raw) for i, raw in enumerate(extra)]
    path.write_bytes(pcap_bytes(records, 1))
    return len(extra)


def test_fragments_are_counted_not_crashed_on(tmp_path: Path) -> None:
    path = tmp_path / "frag.pcap"
    fragments = _fragmented_capture(path)
    assert fragments >= 4
    result = run_cli("scan", "-f", "jsonl", str(path))
    assert result.rc == 0, result.err
    assert [e["src_ip"] for e in result.events()] == ["10.7.0.5"]
    assert f"; {fragments} IP fragments" in result.err.splitlines()[-1]


def test_flows_log_has_facts_and_verdicts() -> None:
    result = run_cli("flows", str(PCAPS / "cryptonote-xmrig.pcap"))
    assert result.rc == 0, result.err
    entries = [json.loads(line) for line in result.out.splitlines()]
    mining = [e for e in entries if e["verdict"]["miner"]]
    assert len(mining) == 1
    facts = mining[0]["facts"]
    assert facts["dialects"] == ["cryptonote"] and "login" in facts["client_methods"]
    assert facts["agent"].startswith("XMRig/") and facts["jobs"] >= 1
    assert mining[0]["orientation"] == "syn" and mining[0]["src_ip"] == "10.1.3.14"
