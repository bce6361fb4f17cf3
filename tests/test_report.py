"""`minewatch report` end to end through the CLI: its numbers against an independent
computation from the scan's own EVE output (and the flow log for the screened hosts), the
three inputs (captures, EVE lines, the store) giving the same suspects, Markdown and CSV
tables, hostile strings made inert, bad input (owners file, EVE lines, a missing
matplotlib) refused with one line and exit 2, and the HTML report in headless Chromium."""

from __future__ import annotations

import csv
import html
import io
import ipaddress
import json
import shutil
from pathlib import Path

import pytest

from detector.plain import from_plain, to_plain
from tests.conftest import CORPUS, PCAPS, REPO, meta, needs_corpus, run_cli

# one process for the module under pytest-xdist: its fixtures (a scan of pcaps/ into EVE
# lines and a store, the reports of all three; the hostile HTML report) are made once
pytestmark = pytest.mark.xdist_group("report")

OWNERS = REPO / "contrib" / "owners-example.csv"
NA = "not available from this input"
CORPUS_MINERS = ["ndpi/mining.pcapng", "zeek/bitcoin-mining.pcap",
                 "zeek/bitcoin-mining-in-progress.pcap", "zeek/coinhive-stratum.pcap",
                 "zeek/coinhive.pcap"]
CORPUS_OWNERS = REPO / "tests" / "data" / "owners-corpus.csv"


# ---- an independent reading of the inputs ------------------------------------------------


def owners_rows(path: Path) -> list[tuple[ipaddress._BaseNetwork, str]]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return [(ipaddress.ip_network(r["cidr"]), r["entity"]) for r in csv.DictReader(lines)]


def owner(ip: str, rows: list[tuple[ipaddress._BaseNetwork, str]]) -> str | None:
    """Longest prefix, the slow obvious way."""
    addr = ipaddress.ip_address(ip)
    holding = [(net.prefixlen, entity) for net, entity in rows
               if net.version == addr.version and addr in net]
    return max(holding)[1] if holding else None


def internal(ip: str, rows: list[tuple[ipaddress._BaseNetwork, str]]) -> bool:
    addr = ipaddress.ip_address(ip)
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                  "192.168.0.0/16", "fc00::/7")]
    return owner(ip, rows) is not None or any(
        addr.version == n.version and addr in n for n in private)


def expected_from_eve(eve: Path, owners: Path) -> dict:
    """The summary recomputed from a scan's EVE lines."""
    rows = owners_rows(owners)
    alerts = [e for e in map(json.loads, eve.read_text().splitlines())
              if e["alert"]["category"] == "Crypto Currency Mining Activity Detected"]
    ips = {e["src_ip"] for e in alerts}
    owned = {ip: owner(ip, rows) for ip in ips}
    return {
        "mining_ips": len(ips),
        "entities": len({o for o in owned.values() if o is not None}),
        "unknown_space_ips": sum(1 for o in owned.values() if o is None),
        "coins": sorted({c for e in alerts for c in meta(e, "mining_coin")}),
        "pool_endpoints": sorted({p for e in alerts for p in meta(e, "mining_pool_endpoint")}),
        "pool_names": sorted({p for e in alerts for p in meta(e, "mining_pool")}),
        "by_entity": {o or "unknown address space": sorted(ip for ip in ips if owned[ip] == o)
                      for o in set(owned.values())},
    }


def screened_from_flow_log(paths: list[str], owners: Path) -> int:
    """Distinct internal hosts at either end of every flow (`minewatch flows --all`)."""
    log = run_cli("flows", "--all", *paths)
    rows = owners_rows(owners)
    hosts = {ip for line in log.out.splitlines() for event in [json.loads(line)]
             for ip in (event["src_ip"], event["dest_ip"])}
    return sum(1 for ip in hosts if internal(ip, rows))


# ---- reading the report's CSV ---------------------------------------------------------------


def read_csv_dir(directory: Path) -> tuple[dict[str, str], list[dict], list[dict]]:
    def rows(name: str) -> list[dict]:
        with (directory / name).open(newline="") as fh:
            return list(csv.DictReader(fh))

    summary = {r["key"]: r["value"] for r in rows("summary.csv")}
    return summary, rows("entities.csv"), rows("suspects.csv")


def split(cell: str) -> list[str]:
    return sorted(cell.split(";")) if cell else []


def check_summary(summary: dict[str, str], entities: list[dict], want: dict) -> None:
    assert int(summary["mining_ips"]) == want["mining_ips"]
    assert int(summary["entities"]) == want["entities"]
    assert int(summary["unknown_space_ips"]) == want["unknown_space_ips"]
    assert split(summary["coins"]) == want["coins"]
    assert int(summary["pools"]) == len(want["pool_endpoints"])
    assert split(summary["pool_endpoints"]) == want["pool_endpoints"]
    assert split(summary["pool_names"]) == want["pool_names"]
    assert {e["entity"]: split(e["ips"]) for e in entities} == want["by_entity"]
    assert [e["known"] for e in entities][-1:] == (
        ["no"] if want["unknown_space_ips"] else ["yes"])  # the unknown space comes last


SAME = ("ip", "entity", "department", "role", "first_seen", "last_seen", "flows", "jobs", "submits",
        "accepted", "reported_hashrate", "hashrate", "rules")
# lists whose order is the scan's ranking: an IP's windows, merged from EVE lines or store
# rows, may rank them otherwise than the exact merge of a scan's suspects
SAME_SETS = ("coins", "algos", "pool_names", "pool_endpoints", "agents", "wallets", "logins",
             "workers", "dialects")
# what a store written before schema 3 lacks (a hashrate's interval, activity over time)
NOT_STORED = ("hashrate_low", "hashrate_high", "kwh_day_low", "kwh_day_high", "activity")


def same_suspects(a: list[dict], b: list[dict], interval: bool = True) -> None:
    keys = SAME + (NOT_STORED if interval else ())
    assert [{k: r[k] for k in keys} for r in a] == [{k: r[k] for k in keys} for r in b]
    assert [{k: split(r[k]) for k in SAME_SETS} for r in a] == [
        {k: split(r[k]) for k in SAME_SETS} for r in b]


def same_entities(a: list[dict], b: list[dict], interval: bool = True) -> None:
    keys = ["entity", "known", "departments", "contacts", "mining_ips", "coins", "pools"]
    keys += ["hashrate", "kwh_day_low", "kwh_day_high", "energy_unknown"] if interval else []
    assert [{k: r[k] for k in keys} | {"ips": split(r["ips"])} for r in a] == [
        {k: r[k] for k in keys} | {"ips": split(r["ips"])} for r in b]


# ---- pcaps/: captures, their EVE lines and their store --------------------------------------


@pytest.fixture(scope="module")
def pcaps_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One scan of pcaps/ writing EVE lines and a store, and the report of each input."""
    tmp = tmp_path_factory.mktemp("report")
    eve, db = tmp / "eve.jsonl", tmp / "store.db"
    scan = run_cli("scan", str(PCAPS), "-f", "jsonl", "-o", str(eve), "--db", str(db), "-q")
    assert scan.rc == 0, scan.err
    out = {"eve": eve, "tmp": tmp}
    for name, source in (("captures", [str(PCAPS)]), ("eve_input", [str(eve)]),
                         ("db_input", ["--db", str(db)])):  # fmt: skip
        result = run_cli("report", *source, "--owners", str(OWNERS), "-f", "csv",
                         "-o", str(tmp / name))  # fmt: skip
        assert result.rc == 0, result.err
        assert result.err.count("\n") == 1 and result.err.startswith("minewatch: report: ")
        out[name] = read_csv_dir(tmp / name)
    return out


def test_summary_equals_an_independent_count_from_the_scans_eve(pcaps_run: dict) -> None:
    summary, entities, suspects = pcaps_run["captures"]
    want = expected_from_eve(pcaps_run["eve"], OWNERS)
    check_summary(summary, entities, want)
    assert want["mining_ips"] > 40 and want["entities"] >= 5 and want["unknown_space_ips"] == 1
    assert [r["ip"] for r in suspects] == sorted(
        (r["ip"] for r in suspects), key=lambda ip: next(s["first_seen"] for s in suspects
                                                         if s["ip"] == ip))
    assert int(summary["screened"]) == screened_from_flow_log([str(PCAPS)], OWNERS)
    # every suspect names its owner (longest prefix) or the unknown space
    rows = owners_rows(OWNERS)
    for s in suspects:
        assert s["entity"] == (owner(s["ip"], rows) or "unknown address space")
    by_ip = {s["ip"]: s for s in suspects}
    assert by_ip["10.1.3.14"]["department"] == "CS research cluster"  # the /24 inside the /16
    assert by_ip["10.1.0.5"]["department"] == "Computer Science"
    assert by_ip["2001:db8:10:20::35"]["entity"] == "Example University"  # IPv6
    # each miner's role is the one its alerts give it
    roles: dict[str, set[str]] = {}
    for line in pcaps_run["eve"].read_text().splitlines():
        event = json.loads(line)
        metadata = event.get("alert", {}).get("metadata", {})
        if event.get("event_type") == "alert" and "node_protocol" not in metadata:  # miners
            roles.setdefault(event["src_ip"], set()).update(metadata["mining_role"])
    assert {s["ip"]: {s["role"]} for s in suspects} == roles
    assert {s["role"] for s in suspects} >= {"pool-miner", "solo-miner"}


def test_eve_and_store_inputs_give_the_captures_suspects(pcaps_run: dict) -> None:
    summary, entities, suspects = pcaps_run["captures"]
    for name in ("eve_input", "db_input"):
        other_summary, other_entities, other_suspects = pcaps_run[name]
        same_suspects(other_suspects, suspects, True)
        same_entities(other_entities, entities, True)
        # what these inputs cannot know is said, not invented
        assert other_summary["screened"] == NA
        keys = ["mining_ips", "entities", "unknown_space_ips", "coins", "pool_endpoints",
                "first_seen", "last_seen", "kwh_day_low", "kwh_day_high"]  # fmt: skip
        for key in keys:
            assert other_summary[key] == summary[key], (name, key)
        # jobs and shares over time: from captures, EVE lines and the store alike
        assert [r["activity"] for r in other_suspects] == [r["activity"] for r in suspects]
    assert sum(1 for r in suspects if r["activity"]) > 30


def test_markdown_has_the_same_tables(pcaps_run: dict) -> None:
    summary, entities, suspects = pcaps_run["captures"]
    md = run_cli("report", str(pcaps_run["eve"]), "--owners", str(OWNERS), "-f", "md", "-q")
    assert md.rc == 0, md.err
    sections = md.out.split("\n## ")
    assert [s.split("\n", 1)[0] for s in sections[1:]] == ["Summary", "Entities", "Suspects"]
    table_rows = {s.split("\n", 1)[0]: [line for line in s.splitlines() if line.startswith("| ")]
                  for s in sections[1:]}
    # header + one row per entity / suspect
    assert len(table_rows["Entities"]) == 1 + len(entities)
    assert len(table_rows["Suspects"]) == 1 + len(suspects)
    assert f"| Mining IPs | {summary['mining_ips']} |" in md.out
    assert f"| Screened hosts | {NA} |" in md.out
    cells = [row.split(" | ")[0].lstrip("| ") for row in table_rows["Suspects"][1:]]
    assert cells == [s["ip"] for s in suspects]


def test_report_data_is_plain(pcaps_run: dict) -> None:
    """The report crosses a process as JSON (detector/plain.py), like every result."""
    from detector.owners import OwnerMap
    from detector.report.collect import from_eve
    from detector.report.data import Collected, Report
    from detector.report.summary import build_report
    from detector.rules import load_rules

    rules = load_rules([REPO / "signatures" / "rules"], lists_dir=REPO / "signatures" / "lists")
    suspects = from_eve([pcaps_run["eve"]], rules, None)
    report = build_report(Collected("eve", suspects), OwnerMap.load(OWNERS), "o", now=0.0)
    again = from_plain(Report, json.loads(json.dumps(to_plain(report))))
    assert again == report


# ---- the corpus ------------------------------------------------------------------------------


@needs_corpus()
def test_corpus_miners_with_an_owners_file(tmp_path: Path) -> None:
    owners = CORPUS_OWNERS
    paths = [str(CORPUS / name) for name in CORPUS_MINERS]
    eve = tmp_path / "eve.jsonl"
    assert run_cli("scan", *paths, "-f", "jsonl", "-o", str(eve), "-q").rc == 0
    out = tmp_path / "csv"
    result = run_cli("report", *paths, "--owners", str(owners), "-f", "csv", "-o", str(out))
    assert result.rc == 0, result.err
    summary, entities, suspects = read_csv_dir(out)
    want = expected_from_eve(eve, owners)
    check_summary(summary, entities, want)
    assert want == want | {"mining_ips": 4, "entities": 2, "unknown_space_ips": 1}
    assert int(summary["screened"]) == screened_from_flow_log(paths, owners)
    by_ip = {s["ip"]: s for s in suspects}
    assert by_ip["192.168.2.148"]["department"] == "Gaming PC"
    assert by_ip["192.168.2.92"]["department"] == "Basement"
    assert by_ip["147.229.13.222"]["entity"] == "unknown address space"


def test_postgresql_store_input(pg_cluster, pcaps_run: dict, tmp_path: Path) -> None:
    """--db takes a PostgreSQL URL as well as a SQLite path."""
    url = pg_cluster.new_database()
    captures = [str(PCAPS / "cryptonote-xmrig.pcap"), str(PCAPS / "stratum-v1-cgminer-btc.pcap")]
    assert run_cli("scan", *captures, "--db", url, "-q").rc == 0
    result = run_cli("report", "--db", url, "--owners", str(OWNERS), "-f", "csv",
                     "-o", str(tmp_path / "pg"))  # fmt: skip
    assert result.rc == 0, result.err
    stored = read_csv_dir(tmp_path / "pg")[2]
    assert [r["ip"] for r in stored] == ["10.1.0.5", "10.1.3.14"]  # each in one capture only
    scanned = [r for r in pcaps_run["captures"][2] if r["ip"] in ("10.1.0.5", "10.1.3.14")]
    same_suspects(stored, scanned, False)


# ---- hostile strings ---------------------------------------------------------------------------

EVIL_AGENT = "<script>alert(1)</script>"
EVIL_WALLET = "4W\x1b[31m\x1b]0;pwned\x07|[x](javascript:alert(1))=cmd"
EVIL_ENTITY = '<img src=x onerror="alert(2)">'


def hostile_capture(path: Path) -> None:
    """A CryptoNote login whose agent is a script tag and whose wallet carries terminal
    escapes, Markdown and a spreadsheet formula."""
    from detector.synth.clock import at
    from detector.synth.conversation import Conversation
    from detector.synth.links import Ethernet, frames
    from detector.synth.pcap import pcap_bytes

    conv = Conversation(("10.9.0.5", 40001), ("10.9.0.1", 3333), start=at(0))
    login = {"id": 1, "jsonrpc": "2.0", "method": "login",
             "params": {"login": EVIL_WALLET, "pass": "x", "agent": EVIL_AGENT}}
    conv.client_send((json.dumps(login) + "\n").encode(), at(1.0))
    job = {"id": 1, "jsonrpc": "2.0", "error": None, "result": {
        "id": "1", "status": "OK", "job": {"blob": "07" * 38, "job_id": "j1",
                                            "target": "b88d0600", "algo": "rx/0"}}}
    conv.server_send((json.dumps(job) + "\n").encode(), at(1.1))
    submit = {"id": 2, "jsonrpc": "2.0", "method": "submit",
              "params": {"id": "1", "job_id": "j1", "nonce": "00000000", "result": "00" * 32}}
    conv.client_send((json.dumps(submit) + "\n").encode(), at(2.0))
    conv.server_send(b'{"id":2,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}\n', at(2.1))
    path.write_bytes(pcap_bytes(frames(conv.finish(), Ethernet()), 1))


# with the hostile one, a few captures: miners with jobs and shares over time, and one over
# TLS (no activity readable: its flow's span is drawn instead)
BROWSER_CAPTURES = ["cryptonote-xmrig.pcap", "stratum-v1-cgminer-btc.pcap",
                    "ethstratum-nbminer-14444.pcap", "tls-xmrig-socks5-stratum-ssl.pcap",
                    "stratum-v1-cpuminer-ltc-8080.pcap"]  # fmt: skip


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The HTML report of a directory holding the hostile capture and a few others, with
    the example owners and a hostile entity for the hostile capture's network."""
    tmp = tmp_path_factory.mktemp("hostile")
    captures, owners = tmp / "captures", tmp / "owners.csv"
    captures.mkdir()
    for name in BROWSER_CAPTURES:
        shutil.copy(PCAPS / name, captures / name)
    hostile_capture(captures / "evil.pcap")
    evil = EVIL_ENTITY.replace('"', '""')
    owners.write_text(OWNERS.read_text() + f'10.9.0.0/24,"{evil}",IT\x1b[2J,=HYPERLINK(1)\n')
    html_out = tmp / "evil.html"
    result = run_cli("report", str(captures), "--owners", str(owners), "-o", str(html_out))
    assert result.rc == 0, result.err
    assert "\x1b" not in result.err
    miners = int(result.err.split(" mining IP")[0].rsplit(" ", 1)[1])
    assert miners == len(BROWSER_CAPTURES) + 1
    return {"captures": captures, "owners": owners, "html": html_out, "tmp": tmp,
            "miners": miners}  # fmt: skip


def test_hostile_strings_are_inert_in_html(hostile: dict) -> None:
    page = hostile["html"].read_text()
    assert "<script" not in page and "<img" not in page and "onerror=\"" not in page
    assert "\x1b" not in page and "\x07" not in page
    assert html.escape(EVIL_AGENT) in page  # shown, as text
    assert html.escape('<img src=x onerror="alert(2)">') in page
    assert "4W\\x1b[31m\\x1b]0;pwned\\x07" in page  # the escapes shown, not sent
    # the plots' text too (the entity names a bar)
    svg = page[page.index('<figure id="plot-entities">'):page.index("</figure>",
                                                               page.index('id="plot-entities"'))]
    assert "&lt;img src=x onerror=&quot;" in svg and "<img" not in svg


def test_hostile_strings_are_inert_in_markdown_and_csv(hostile: dict) -> None:
    args = (str(hostile["captures"]), "--owners", str(hostile["owners"]))
    md = run_cli("report", *args, "-f", "md", "-q")
    assert md.rc == 0, md.err
    assert "<script" not in md.out and "<img" not in md.out and "\x1b" not in md.out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md.out
    assert "\\|\\[x\\](javascript:alert(1))" in md.out  # no cell break, no link
    out = hostile["tmp"] / "csv"
    assert run_cli("report", *args, "-f", "csv", "-o", str(out), "-q").rc == 0
    summary, entities, suspects = read_csv_dir(out)
    text = "".join(p.read_text() for p in out.iterdir())
    assert "\x1b" not in text and "\x07" not in text
    evil = next(s for s in suspects if s["ip"] == "10.9.0.5")
    assert evil["agents"] == EVIL_AGENT  # CSV holds it as data (no HTML here)
    assert evil["logins"].startswith("4W\\x1b[31m")
    assert evil["department"] == "IT\\x1b[2J"
    assert evil["contact"] == "'=HYPERLINK(1)"  # no formula


# ---- in a browser ---------------------------------------------------------------------------


def non_white(png: bytes) -> float:
    """The share of a screenshot's pixels that are not (nearly) white."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    return float((pixels.min(axis=2) < 235).mean())


def test_the_report_renders_in_headless_chromium(hostile: dict) -> None:
    """The HTML report in a real browser - Debian's headless Chromium driven by selenium
    through chromium-driver (tools/browser.py; `make sysdeps` installs both): tables and
    the three plots render with a size, the screenshot is not blank, the page logs no
    error and runs no script, the hostile agent shows as text. Skipped, saying why, only
    where Chromium cannot be started."""
    from tools.browser import BrowserUnavailable, chromium

    try:
        with chromium(1400, 1000) as browser:
            look(browser, hostile["html"], hostile["miners"], hostile["tmp"] / "report.png")
    except BrowserUnavailable as exc:
        pytest.skip(str(exc))


def look(browser, page: Path, miners: int, png: Path) -> None:
    """What a person would check on the page, as assertions."""
    browser.get(page.resolve().as_uri())
    run = browser.execute_script
    assert run("return document.readyState") == "complete"
    # no script on the page (the hostile agent included), nothing loaded from elsewhere
    assert run("return document.scripts.length") == 0
    assert run("return document.querySelectorAll('img, iframe, object, embed').length") == 0
    # tables: one row per miner, the summary and the entities there
    assert run("return document.querySelectorAll('#suspects tbody tr').length") == miners
    for ident in ("cards", "summary", "entities", "suspects"):
        size = run(f"const r = document.getElementById('{ident}').getBoundingClientRect();"
                   "return [r.width, r.height]")  # fmt: skip
        assert size[0] > 300 and size[1] > 30, (ident, size)
    cells = run("return [...document.querySelectorAll('#suspects td')].map(td => td.textContent)")
    assert EVIL_AGENT in cells  # shown as the text it is
    # the plots: inline SVG with drawn marks and a size, and not blank on screen
    for name in ("timeline", "entities", "coins"):
        svg = browser.find_element("css selector", f"#plot-{name} svg")
        assert svg.size["width"] > 500 and svg.size["height"] > 150, (name, svg.size)
        assert run("return arguments[0].querySelectorAll('path').length", svg) > 10
        run("arguments[0].scrollIntoView()", svg)
        assert non_white(svg.screenshot_as_png) > 0.02, name
    # the timeline draws jobs and shares where captures show them, spans where not
    timeline = run("return document.querySelector('#plot-timeline svg').textContent")
    assert "shares sent by the miner" in timeline and "evidence flow open" in timeline
    run("window.scrollTo(0, 0)")
    shot = browser.get_screenshot_as_png()
    png.write_bytes(shot)
    assert non_white(shot) > 0.05
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors


# ---- bad input ------------------------------------------------------------------------------


def one_error(result) -> str:
    assert result.rc == 2, (result.rc, result.err)
    lines = result.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    return lines[0]


def test_a_bad_owners_row_names_file_and_line(tmp_path: Path) -> None:
    owners = tmp_path / "owners.csv"
    owners.write_text("cidr,entity,department,contact\n10.0.0.0/8,A,,\n10.1.2.3/16,B,,\n")
    line = one_error(run_cli("report", str(PCAPS / "cryptonote-xmrig.pcap"), "--owners",
                             str(owners), "-o", str(tmp_path / "r.html")))  # fmt: skip
    assert line.startswith(f"minewatch: error: {owners}:3: ") and "host bits set" in line
    assert not (tmp_path / "r.html").exists()


def test_malformed_eve_names_file_and_line(pcaps_run: dict, tmp_path: Path) -> None:
    eve = tmp_path / "eve.jsonl"
    good = pcaps_run["eve"].read_text().splitlines(keepends=True)
    eve.write_text("".join(good[:2]) + '{"event_type": "alert", "alert": \n' + good[2])
    line = one_error(run_cli("report", str(eve), "-f", "md"))
    assert line.startswith(f"minewatch: error: {eve}:3: not valid JSON")


def test_eve_and_captures_are_not_mixed(pcaps_run: dict) -> None:
    line = one_error(run_cli("report", str(pcaps_run["eve"]),
                             str(PCAPS / "cryptonote-xmrig.pcap"), "-f", "md"))  # fmt: skip
    assert "not both" in line


def test_missing_matplotlib_says_what_to_install(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent)}
    proc = subprocess.run([sys.executable, "-m", "detector", "report",
                           str(PCAPS / "cryptonote-xmrig.pcap"), "-o", str(tmp_path / "r.html")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [
        "minewatch: error: the HTML report needs matplotlib: pip install 'minewatch[report]'"]
    # the tables need no matplotlib
    md = subprocess.run([sys.executable, "-m", "detector", "report", "-f", "md",
                         str(PCAPS / "cryptonote-xmrig.pcap")],
                        capture_output=True, text=True, env=env, cwd=REPO, timeout=60)  # fmt: skip
    assert md.returncode == 0 and "| Mining IPs | 1 |" in md.stdout
