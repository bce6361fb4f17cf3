"""The scaling bench (bench/scale.py), its concurrent-flow captures (bench/make_capture.py
--variant concurrent) and the Suricata rules of make bench (bench/suricata/), through the
real tools on small inputs: the big captures themselves are make bench-scale's."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench import scale
from bench.run import SURICATA_RULES, Measured, Row, Run, rule_count, summary_table, suricata_cmd
from tests.conftest import PCAPS, REPO, needs_tool, run_cli

FLOWS = 3_000


def make(out: Path, *args: str) -> dict:
    subprocess.run([sys.executable, "-m", "bench.make_capture", str(out), *args], check=True,
                   cwd=REPO, capture_output=True, timeout=120)
    return json.loads(Path(f"{out}.truth.json").read_text())


def test_concurrent_flows_are_all_open_in_minewatchs_table(tmp_path: Path) -> None:
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    truth = make(a, "--variant", "concurrent", "--flows", str(FLOWS))
    make(b, "--variant", "concurrent", "--flows", str(FLOWS))
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    assert truth["packets"] == 4 * FLOWS and truth["flows"] == FLOWS
    # Far shorter than the 600 s TCP idle timeout: nothing may expire before the end.
    assert truth["duration_s"] < 60
    res = run_cli("scan", str(a), "--stats", "-f", "jsonl", "-o", str(tmp_path / "o.jsonl"))
    assert res.rc == 0, res.err
    # Every flow distinct (flows == FLOWS) and all in the table at once (peak == FLOWS).
    assert f"{4 * FLOWS:,} packets, {FLOWS:,} flows" in res.err
    assert re.search(rf"peak {FLOWS:,} flows in .* 0 evicted", res.err), res.err


def test_scale_runner_prints_and_appends_its_table(tmp_path: Path) -> None:
    data, results = tmp_path / "data", tmp_path / "results.md"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--packets", "5000", "--flows", "300,600",
         "--real", "20000,40000", "--real-same", "20000,40000", "--runs", "1", "--data", str(data), "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = {ln.split(" | ")[0].lstrip("| "): ln.split(" | ") for ln in proc.stdout.splitlines()
            if ln.startswith("| ") and "packets" not in ln.split(" | ")[1]}
    mixed = rows["0.005 M packets, mixed, steady rate"]
    assert mixed[1] == "5,000" and mixed[3] == "0"  # packets, nothing evicted
    for flows in (300, 600):
        row = rows[f"{flows:,} concurrent flows"]
        assert row[1] == f"{4 * flows:,}" and row[2] == f"{flows:,}" and row[3] == "0"
        assert "B/flow" in row[4]  # the flow table's own bytes
        assert float(row[8].replace(",", "")) > 0  # own packets/s
    assert "600 vs 300 concurrent flows: own packets/s" in proc.stdout
    # the real-traffic series: bench/make_real.py's replicas of the corpus, at each size
    for n in (20_000, 40_000):
        assert rows[f"{n / 1e6:g} M packets, real traffic, replicated"][1] == f"{n:,}"
        assert rows[f"{n / 1e6:g} M packets, real traffic, replicated, same hosts"][1] == f"{n:,}"
    same = json.loads((data / "realsame-40000-s1.pcap.truth.json").read_text())
    assert same["variant"] == "real-same-hosts"
    assert "bench-scale" in results.read_text() and mixed[0] in results.read_text()
    # --steady: 5,000 packets at the bench's 1,000,000 per 10 minutes cover ~3 s, not 10 min.
    truth = json.loads((data / "steady-5000-s1.pcap.truth.json").read_text())
    assert 1 < truth["duration_s"] < 10  # (600 s without --steady)
    # Captures present are reused, not made again.
    stamp = (data / "steady-5000-s1.pcap").stat().st_mtime_ns
    for case in scale.cases([5_000], [300], 1, data, 2_000_000):
        scale.ensure(case)
    assert (data / "steady-5000-s1.pcap").stat().st_mtime_ns == stamp


def _row(walls: list[float], rss_mb: int = 50) -> Row:
    return Row("t", runs=[Run(w, rss_mb * 1024, 0) for w in walls])


def test_summary_ratio_is_against_the_faster_of_ndpi_and_suricata() -> None:
    rows = {"minewatch": _row([1.0, 2.0, 3.0]), "minewatch2": _row([2.0, 2.0, 2.0]),
            "ndpi": _row([4.0, 4.0, 4.0], 300), "suricata": _row([1.5, 3.0, 3.5])}
    for key, name in (("minewatch", "mw1"), ("minewatch2", "mw2"), ("ndpi", "ndpiReader -i"),
                      ("suricata", "Suricata 7")):
        rows[key].tool = name
    text = summary_table([("in", 1000, Measured(rows, Path("x"), Path("y"), Path("z")))])
    lines = {ln.split(" | ")[1]: ln.split(" | ") for ln in text.splitlines()
             if ln.startswith("| in ")}
    # Suricata is the faster by median (3.0 s vs 4.0) and by fastest run (1.5 vs 4.0).
    # Paired by round: each round's faster reference is Suricata (1.5, 3.0, 3.5 s).
    assert lines["mw1"][5:8] == ["1.50x", "1.50x", "1.50x"]  # 1.5/1, 3/2, 3.5/3
    assert lines["mw2"][5:8] == ["1.50x", "0.75x", "1.50x"]  # 0.75, 1.5, 1.75
    assert lines["ndpiReader -i"][5] == "0.75x" and lines["ndpiReader -i"][8] == "300 |"
    assert "faster by median Suricata, by fastest run Suricata" in text
    # Paired by round: a slow stretch of the machine that hit both tools of a round (round
    # 3) counts as that round's ratio, one that hit only one of them (round 2) as one bad
    # round; the medians of each tool's own runs (3 s against 2 s) fall in different ones.
    drift = {"minewatch": _row([1.0, 3.0, 3.0]), "ndpi": _row([2.0, 2.0, 6.0]),
             "suricata": _row([9.0, 9.0, 9.0])}
    for key in drift:
        drift[key].tool = key
    text = summary_table([("in", 1000, Measured(drift, Path("x"), Path("y"), Path("z")))])
    cells = next(ln.split(" | ") for ln in text.splitlines() if ln.startswith("| in | minewatch"))
    assert cells[5:8] == ["0.67x", "2.00x", "2.00x"]  # 2/3; 2/1; rounds 2/1, 2/3, 6/3
    # Neither reference installed: no ratios, and the row is still written.
    alone = {"minewatch": _row([1.0, 2.0])}
    alone["minewatch"].tool = "minewatch"
    text = summary_table([("in", 1000, Measured(alone, Path("x"), Path("y"), Path("z")))])
    cells = next(ln.split(" | ") for ln in text.splitlines() if ln.startswith("| in | minewatch"))
    assert cells[5:8] == ["-", "-", "-"]


@needs_tool("suricata")
def test_suricata_rules_parse_and_each_fires_on_its_miner(tmp_path: Path) -> None:
    check = subprocess.run(["suricata", "-T", "-S", str(SURICATA_RULES), "-l", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert rule_count() == 4
    # One fixture per rule: Stratum subscribe, CryptoNote login+agent, eth_submitLogin,
    # getblocktemplate; read as one directory by the bench's own Suricata command.
    # Copies dated a day back: Suricata's directory mode skips files changed in the last
    # 30 s (pcap-file.delay), a fresh checkout's among them.
    pcaps = tmp_path / "pcaps"
    pcaps.mkdir()
    for name in ("stratum-v1-bfgminer-port80", "cryptonote-xmrig", "ethproxy-claymore-port25",
                 "gbt-http-cpuminer-solo"):
        copy = pcaps / f"{name}.pcap"
        copy.write_bytes((PCAPS / f"{name}.pcap").read_bytes())
        os.utime(copy, (time.time() - 86400, time.time() - 86400))
    logs = tmp_path / "logs"
    logs.mkdir()
    run = subprocess.run(suricata_cmd(pcaps, logs), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    events = [json.loads(x) for x in (logs / "eve.json").read_text().splitlines()]
    assert {e["event_type"] for e in events} == {"alert"}  # EVE with alerts only
    assert {e["alert"]["signature_id"] for e in events} == {1000001, 1000002, 1000003, 1000004}
    assert {e["alert"]["category"] for e in events} == {"Crypto Currency Mining Activity Detected"}


def test_a_longer_steady_capture_has_the_miners_of_the_bench_capture_not_more() -> None:
    """bench.scale compares memory at 1 M and 10 M packets of steady traffic: the longer
    capture is the same network for longer, so its miners are as many (a denser capture
    of 10 M packets in 10 minutes would have more)."""
    from bench.make_capture import miner_count

    bench = miner_count(1e6, False)
    assert miner_count(1e7, True) == miner_count(1e6, True) == bench
    assert miner_count(1e5, True) < bench < miner_count(1e7, False)


@needs_tool("fincore")
def test_recache_leaves_the_capture_whole_in_the_page_cache(tmp_path: Path) -> None:
    """bench.run.recache drops a capture from the cache and reads it back: afterwards every
    page is cached again (fincore, util-linux) and the bytes are the same."""
    from bench.run import recache

    capture = tmp_path / "c.pcap"
    capture.write_bytes(os.urandom(3 << 20))
    before = hashlib.sha256(capture.read_bytes()).digest()
    recache(capture)
    out = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES,SIZE",
                          str(capture)], capture_output=True, text=True, check=True).stdout
    resident, size = (int(x) for x in out.split())
    assert size == 3 << 20 and resident == size
    assert hashlib.sha256(capture.read_bytes()).digest() == before
