"""`minewatch report` end to end through the CLI: its numbers against an independent
computation from the scan's own EVE output (and the flow log for the screened hosts), the
three inputs (captures, EVE lines, the store) giving the same suspects, Markdown and CSV
tables, hostile strings made inert, and bad input (owners file, EVE lines, a missing
matplotlib) refused with one line and exit 2. The HTML report in a real browser is
tests/test_report_browser.py."""

from __future__ import annotations

import csv
import html
import ipaddress
import json
from pathlib import Path

import pytest

from detector.plain import from_plain, to_plain
from tests.conftest import CORPUS, PCAPS, REPO, meta, needs_corpus, run_cli

OWNERS = REPO / "contrib" / "owners-example.csv"
NA = "not available from this input"
CORPUS_MINERS = ["ndpi/mining.pcapng", "zeek/bitcoin-mining.pcap",
                 "zeek/bitcoin-mining-in-progress.pcap", "zeek/coinhive-stratum.pcap",
                 "zeek/coinhive.pcap"]
# the corpus' miners: a home lab (192.168.2.0/24) and a VM host's NAT (10.0.2.0/24); the
# ETH miner's public address is left out: unknown address space
CORPUS_OWNERS = """cidr,entity,department,contact
192.168.2.0/24,Home lab,Basement,lab@home.example
192.168.2.148/32,Home lab,Gaming PC,kid@home.example
10.0.2.0/24,VM host,NAT network,ops@vm.example
"""


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


SAME = ("ip", "entity", "department", "first_seen", "last_seen", "flows", "jobs", "submits",
        "accepted", "reported_hashrate", "hashrate", "rules")
# lists whose order is the scan's ranking: an IP's windows, merged from EVE lines or store
# rows, may rank them otherwise than the exact merge of a scan's suspects
SAME_SETS = ("coins", "algos", "pool_names", "pool_endpoints", "agents", "wallets", "logins",
             "workers", "dialects")
# the store keeps a hashrate's best estimate only (no interval): its energy range is the
# efficiency range at that estimate
WITH_INTERVAL = ("hashrate_low", "hashrate_high", "kwh_day_low", "kwh_day_high")


def same_suspects(a: list[dict], b: list[dict], interval: bool = True) -> None:
    keys = SAME + (WITH_INTERVAL if interval else ())
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


def test_eve_and_store_inputs_give_the_captures_suspects(pcaps_run: dict) -> None:
    summary, entities, suspects = pcaps_run["captures"]
    for name in ("eve_input", "db_input"):
        other_summary, other_entities, other_suspects = pcaps_run[name]
        interval = name == "eve_input"
        same_suspects(other_suspects, suspects, interval)
        same_entities(other_entities, entities, interval)
        # what these inputs cannot know is said, not invented
        assert other_summary["screened"] == NA
        keys = ["mining_ips", "entities", "unknown_space_ips", "coins", "pool_endpoints",
                "first_seen", "last_seen"] + (["kwh_day_low", "kwh_day_high"] if interval else [])
        for key in keys:
            assert other_summary[key] == summary[key], (name, key)
    rated = [r for r in pcaps_run["db_input"][2] if r["hashrate"]]
    assert rated and all("(no interval in the store)" in r["hashrate_method"] for r in rated)
    assert all(r["hashrate_low"] == "" for r in rated)


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
    owners = tmp_path / "owners.csv"
    owners.write_text(CORPUS_OWNERS)
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
    # the EVE lines of the same scan give the same suspects
    from_eve = tmp_path / "from-eve"
    assert run_cli("report", str(eve), "--owners", str(owners), "-f", "csv",
                   "-o", str(from_eve)).rc == 0  # fmt: skip
    same_suspects(read_csv_dir(from_eve)[2], suspects)


def test_postgresql_store_input(pg_cluster, tmp_path: Path) -> None:
    """--db takes a PostgreSQL URL as well as a SQLite path."""
    capture = str(PCAPS / "cryptonote-xmrig.pcap")
    url = pg_cluster.new_database()
    assert run_cli("scan", capture, "--db", url, "-q").rc == 0
    for name, source in (("pg", ["--db", url]), ("cap", [capture])):
        result = run_cli("report", *source, "-f", "csv", "-o", str(tmp_path / name))
        assert result.rc == 0, result.err
    same_suspects(read_csv_dir(tmp_path / "pg")[2], read_csv_dir(tmp_path / "cap")[2], False)


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


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("hostile")
    capture, owners = tmp / "evil.pcap", tmp / "owners.csv"
    hostile_capture(capture)
    owners.write_text(f'cidr,entity,department,contact\n10.9.0.0/24,"{EVIL_ENTITY.replace(chr(34), chr(34) * 2)}",'
                      f"IT\x1b[2J,=HYPERLINK(1)\n")  # fmt: skip
    html_out = tmp / "evil.html"
    result = run_cli("report", str(capture), "--owners", str(owners), "-o", str(html_out))
    assert result.rc == 0, result.err
    assert "\x1b" not in result.err
    return {"capture": capture, "owners": owners, "html": html_out, "tmp": tmp}


def test_hostile_strings_are_inert_in_html(hostile: dict[str, Path]) -> None:
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


def test_hostile_strings_are_inert_in_markdown_and_csv(hostile: dict[str, Path]) -> None:
    args = (str(hostile["capture"]), "--owners", str(hostile["owners"]))
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
    assert suspects[0]["agents"] == EVIL_AGENT  # CSV holds it as data (no HTML here)
    assert suspects[0]["logins"].startswith("4W\\x1b[31m")
    assert entities[0]["contacts"] == "'=HYPERLINK(1)"  # no formula


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


def test_malformed_eve_names_file_and_line(tmp_path: Path) -> None:
    eve = tmp_path / "eve.jsonl"
    good = run_cli("scan", str(PCAPS / "cryptonote-xmrig.pcap"), "-f", "jsonl", "-q").out
    eve.write_text(good + '{"event_type": "alert", "alert": \n')
    line = one_error(run_cli("report", str(eve), "-f", "md"))
    assert line.startswith(f"minewatch: error: {eve}:2: not valid JSON")


def test_eve_and_captures_are_not_mixed(tmp_path: Path) -> None:
    eve = tmp_path / "eve.jsonl"
    eve.write_text(run_cli("scan", str(PCAPS / "cryptonote-xmrig.pcap"), "-f", "jsonl").out)
    line = one_error(run_cli("report", str(eve), str(PCAPS / "cryptonote-xmrig.pcap"),
                             "-f", "md"))  # fmt: skip
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
