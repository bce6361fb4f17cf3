"""`minewatch scan` end to end: formats, inputs (stdin, gzip, pcapng, nanosecond, directories)
and what the output says, checked on real captures converted with real tools."""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS, meta, needs_corpus, needs_tool, run_cli

pytestmark = needs_corpus()
MINING = CORPUS / "ndpi" / "mining.pcapng"
BTC = CORPUS / "zeek" / "bitcoin-mining.pcap"
COINHIVE_STRATUM = CORPUS / "zeek" / "coinhive-stratum.pcap"
MINERS = {"147.229.13.222", "192.168.2.148", "192.168.2.92"}


def suspects(result) -> set[str]:
    return {e["src_ip"] for e in result.events()}


def test_jsonl_is_suricata_eve_shaped() -> None:
    result = run_cli("scan", "-f", "jsonl", "-q", str(MINING))
    assert result.rc == 0, result.err
    events = result.events()
    assert suspects(result) == MINERS
    by_ip = {e["src_ip"]: e for e in events}
    for event in events:
        assert event["event_type"] == "alert"
        for key in ("timestamp", "flow_id", "src_port", "dest_ip", "dest_port", "proto",
                    "app_proto", "community_id", "alert", "flow"):
            assert key in event, key
        assert "mining" not in event  # the full record only with --eve-extended
        alert = event["alert"]
        assert alert["category"] == "Crypto Currency Mining Activity Detected"
        assert alert["signature"].startswith("MINEWATCH ")
        assert isinstance(alert["signature_id"], int) and alert["rev"] >= 1
        assert event["community_id"].startswith("1:")
        assert event["timestamp"].endswith("+0000")
        assert event["flow"]["pkts_toserver"] > 0 and event["flow"]["bytes_toclient"] > 0
    eth = by_ip["147.229.13.222"]
    assert eth["dest_ip"] == "185.71.66.39" and eth["dest_port"] == 9999
    assert meta(eth, "mining_dialect") == ["eth-proxy"] and meta(eth, "mining_coin") == ["ETH"]
    assert meta(eth, "mining_wallet") == ["0x9c99d212f7e5daa18ab50810e0fd255d1f04303b"]
    assert float(meta(eth, "mining_hashrate_reported")[0]) > 0
    xmr = by_ip["192.168.2.92"]
    assert meta(xmr, "mining_agent")[0].startswith("xmr-stak-cpu/")
    assert meta(xmr, "mining_coin") == ["XMR"] and int(meta(xmr, "mining_submits")[0]) >= 1
    zec = by_ip["192.168.2.148"]
    assert meta(zec, "mining_flow_count") == ["2"] and meta(zec, "mining_coin") == ["ZEC"]
    assert {p.rsplit(":", 1)[0] for p in meta(zec, "mining_pool_endpoint")} == {
        "94.23.199.191", "116.211.167.195"}
    # --eve-extended: the same events, each with its full record beside
    extended = run_cli("scan", "-f", "jsonl", "-q", "--eve-extended", str(MINING)).events()
    assert [{k: v for k, v in e.items() if k != "mining"} for e in extended] == events
    records = {e["src_ip"]: e["mining"] for e in extended}
    assert records["147.229.13.222"]["wallet"] == "0x9c99d212f7e5daa18ab50810e0fd255d1f04303b"
    assert records["147.229.13.222"]["hashrate_reported"] > 0
    assert {f["dest_ip"] for f in records["192.168.2.148"]["flows"]} == {
        "94.23.199.191", "116.211.167.195"}


def test_community_id_reproduces_the_spec_example() -> None:
    """Community ID v1 spec: 128.232.110.120:34855 -> 66.35.250.204:80/TCP."""
    from detector.flows import FlowRecord
    from detector.sinks.common import community_id

    rec = FlowRecord(1, "TCP", "128.232.110.120", 34855, "66.35.250.204", 80, 0.0, 0.0,
                     0, 0, 0, 0, 0, 0, "syn", "end", None)
    assert community_id(rec) == "1:LQU9qZlK+B5F3KDmev6m5PMibrg="


def test_csv_output_to_file(tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    result = run_cli("scan", "-f", "csv", "-o", str(out), "-q", str(MINING))
    assert result.rc == 0 and result.out == ""
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {r["src_ip"] for r in rows} == MINERS
    assert all(float(r["score"]) >= 0.7 for r in rows)


def test_table_output_and_summary_line() -> None:
    result = run_cli("scan", str(MINING))
    assert result.rc == 0
    for ip in MINERS:
        assert ip in result.out
    assert "Mining suspects (3)" in result.out
    summary = result.err.strip().splitlines()[-1]
    assert summary.startswith("minewatch: 673 packets,") and "3 suspects" in summary
    assert "packets/s" in summary


def test_python_dash_m_and_console_script_agree() -> None:
    exe = Path(sys.executable).parent / "minewatch"
    assert exe.exists(), "the console script is installed beside the interpreter"
    a = run_cli("scan", "-f", "jsonl", "-q", str(BTC)).out
    b = subprocess.run([str(exe), "scan", "-f", "jsonl", "-q", str(BTC)], capture_output=True, text=True).stdout
    assert a == b


@needs_tool("tcpdump")
def test_stdin_from_tcpdump() -> None:
    pcap = subprocess.run(["tcpdump", "-r", str(BTC), "-w", "-"], capture_output=True, check=True).stdout
    result = run_cli("scan", "-f", "jsonl", "-q", "-", stdin=pcap)
    assert result.rc == 0, result.err
    assert suspects(result) == {"10.0.2.15"}


def test_gzip_capture(tmp_path: Path) -> None:
    path = tmp_path / "btc.pcap.gz"
    path.write_bytes(gzip.compress(BTC.read_bytes(), mtime=0))
    result = run_cli("scan", "-f", "jsonl", "-q", str(path))
    assert result.rc == 0, result.err
    assert suspects(result) == {"10.0.2.15"}


@needs_tool("editcap")
@pytest.mark.parametrize("fmt", ["pcapng", "nsecpcap", "pcap"])
def test_formats_written_by_editcap(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"mining.{fmt}"
    subprocess.run(["editcap", "-F", fmt, str(MINING), str(path)], check=True, capture_output=True)
    result = run_cli("scan", "-f", "jsonl", "-q", str(path))
    assert result.rc == 0, result.err
    assert suspects(result) == MINERS
    reference = run_cli("scan", "-f", "jsonl", "-q", str(MINING)).events()
    assert [e["timestamp"] for e in result.events()] == [e["timestamp"] for e in reference]


@needs_tool("mergecap")
def test_pcapng_merged_from_two_captures(tmp_path: Path) -> None:
    """mergecap writes one interface per input into the pcapng (different link types in
    one file are covered by the generated fixtures in pcaps/)."""
    merged = tmp_path / "merged.pcapng"
    subprocess.run(["mergecap", "-F", "pcapng", "-w", str(merged), str(BTC), str(COINHIVE_STRATUM)],
                   check=True, capture_output=True)
    result = run_cli("scan", "-f", "jsonl", "-q", str(merged))
    assert result.rc == 0, result.err
    dialects = set()
    for e in result.events():
        dialects |= set(meta(e, "mining_dialect"))
    assert "cryptonote" in dialects and "stratum-v1" in dialects


def test_directory_is_recursive_and_in_time_order(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(COINHIVE_STRATUM, tmp_path / "a" / "b" / "zzz-2018-09.cap")
    shutil.copy(MINING, tmp_path / "a" / "first-2017.pcapng")
    shutil.copy(BTC, tmp_path / "mid-2018-08.pcap")
    (tmp_path / "README.txt").write_text("not a capture")
    result = run_cli("scan", "-f", "jsonl", "-q", str(tmp_path))
    assert result.rc == 0, result.err
    stamps = [e["timestamp"] for e in result.events()]
    assert stamps == sorted(stamps)
    assert len(stamps) == 5  # 3 miners in 2017, one 10.0.2.15 window each in 2018-08 and -09


def test_hostile_agent_is_escaped_in_table_and_json(tmp_path: Path) -> None:
    """A pool login whose agent carries terminal escapes must not reach the terminal raw."""
    import json

    from detector.synth.clock import at
    from detector.synth.conversation import Conversation
    from detector.synth.links import Ethernet, frames
    from detector.synth.pcap import pcap_bytes

    conv = Conversation(("10.9.0.5", 40001), ("10.9.0.1", 3333), start=at(0))
    evil = "cgminer/4\x1b[2J\x1b]0;pwned\x07\r\nBAD"
    subscribe = json.dumps({"id": 1, "method": "mining.subscribe", "params": [evil]}) + "\n"
    conv.client_send(subscribe.encode(), at(1.0))
    conv.server_send(b'{"id":1,"result":[[["mining.notify","1"]],"00",4],"error":null}\n', at(1.1))
    conv.client_send(b'{"id":2,"method":"mining.authorize","params":["user.rig","x"]}\n', at(1.2))
    conv.server_send(b'{"id":2,"result":true,"error":null}\n', at(1.3))
    path = tmp_path / "evil.pcap"
    path.write_bytes(pcap_bytes(frames(conv.finish(), Ethernet()), 1))
    table = run_cli("scan", str(path))
    assert table.rc == 0, table.err
    assert "10.9.0.5" in table.out
    assert "\x1b" not in table.out and "\x07" not in table.out and "\r" not in table.out
    assert "cgminer/4\\x" in table.out  # shown escaped (and shortened) in the table
    csv_out = run_cli("scan", "-f", "csv", "-q", str(path))
    assert "\x1b" not in csv_out.out and "cgminer/4\\x1b[2J\\x1b]0;pwned\\x07\\x0d\\x0aBAD" in csv_out.out
    jsonl = run_cli("scan", "-f", "jsonl", "-q", str(path))
    assert "\x1b" not in jsonl.out
    assert meta(jsonl.events()[0], "mining_agent") == [evil]
