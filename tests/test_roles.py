"""The role of every host (issue 20), everywhere: EVE, table, CSV, the store and the report;
node hosts as suspects where a site's policy forbids nodes (``--nodes-as-suspects``); a
store of schema 3 migrated (its rows' roles written from their dialects); and a network
names list whose names must carry their sources (netnames.py, Filecoin's and Chia's).

Real captures of pcaps/: a solo miner (getblocktemplate), a Chia farm's harvester, an
XMRig pool miner and two Chia full nodes peering (pcaps/realset/README.md).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from detector.dialects import CRYPTO_NODE, POOL_MINER, role_of
from detector.errors import InputError
from detector.netnames import load_network_names
from detector.nodehosts import NodeHost, node_suspects
from detector.sinks.store import MIGRATIONS, SuspectStore
from detector.suspects import SuspectTable
from tests.conftest import PCAPS, REPO, eve_errors, meta, run_cli
from tests.test_store import (  # noqa: F401 - store_url: a fixture
    crafted,
    store_url,
    stored,
    without_write_time,
)

SOLO = str(PCAPS / "gbt-http-cpuminer-solo.pcap")
FARM = str(PCAPS / "realset" / "chia-farm-harvester-8447.pcap")
POOL = str(PCAPS / "realset" / "xmrig-rx0-3333.pcap")
NODE = str(PCAPS / "realset" / "chia-node-peering-8444.pcap")
ALL = (SOLO, FARM, POOL, NODE)
ROLES = {
    "192.168.1.50": "solo-miner",
    "10.213.200.2": "storage-farmer",
    "10.213.0.2": "pool-miner",
}
NODE_IP = "10.213.204.2"
V3_STORE = REPO / "tests" / "data" / "store-v3.db"


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def roles_of(rows: list[dict], ip: str = "ip", role: str = "role") -> dict[str, str]:
    return {row[ip]: row[role] for row in rows}


def test_the_scans_csv_says_every_hosts_role() -> None:
    result = run_cli("scan", "-f", "csv", "-q", *ALL)
    assert result.rc == 0, result.err
    rows = csv_rows(result.out)
    alerts = [r for r in rows if r["event"] == "alert"]
    assert roles_of(alerts, "src_ip") == ROLES
    # the node is informational (the default): a crypto-node row, its role said too
    (node,) = [r for r in rows if r["event"] == "crypto-node"]
    assert (node["src_ip"], node["role"], node["dialects"]) == (NODE_IP, CRYPTO_NODE, "chia")


def test_nodes_as_suspects_in_eve_table_and_csv() -> None:
    plain = run_cli("scan", "-f", "jsonl", "-q", NODE, POOL)
    assert [e["src_ip"] for e in plain.events("node")] == [NODE_IP]
    assert NODE_IP not in {e["src_ip"] for e in plain.events()}

    policy = run_cli("scan", "-f", "jsonl", "-q", "--nodes-as-suspects", NODE, POOL)
    assert policy.rc == 0, policy.err
    assert policy.events("node") == []  # no sighting left: the node is a suspect
    alerts = {e["src_ip"]: e for e in policy.events()}
    assert set(alerts) == {NODE_IP, "10.213.0.2"}
    node = alerts[NODE_IP]
    assert meta(node, "mining_role") == [CRYPTO_NODE]
    assert meta(node, "mining_node_protocol") == ["chia"]
    assert node["alert"]["signature_id"] == 3950200 and meta(node, "rules") == ["3950200"]
    assert int(meta(node, "mining_flow_count")[0]) > 0 and meta(node, "mining_community_id")
    assert meta(alerts["10.213.0.2"], "mining_role") == [POOL_MINER]
    assert "mining_node_protocol" not in alerts["10.213.0.2"]["alert"]["metadata"]
    for event in policy.events("all"):
        assert eve_errors(event) == []

    table = run_cli("scan", "-q", "--nodes-as-suspects", NODE)
    assert table.rc == 0, table.err
    assert "Mining suspects (1)" in table.out and "informational" not in table.out
    (line,) = [row for row in table.out.splitlines() if NODE_IP in row]
    assert "crypto-node" in line and "chia" in line

    rows = csv_rows(run_cli("scan", "-f", "csv", "-q", "--nodes-as-suspects", NODE).out)
    assert [(r["event"], r["src_ip"], r["role"], r["dialects"], r["rules"]) for r in rows] == [
        ("alert", NODE_IP, CRYPTO_NODE, "chia", "3950200")]  # fmt: skip


def test_roles_in_the_store_and_every_reports_input(store_url: str, tmp_path: Path) -> None:  # noqa: F811
    """scan --db keeps the roles; `suspects` (JSON lines, CSV, table) reads them back; the
    report says the same roles from the store, the captures and the scan's EVE lines."""
    db = store_url
    scan = run_cli("scan", "-q", "-f", "jsonl", "--nodes-as-suspects", "--db", db, *ALL)
    assert scan.rc == 0, scan.err
    (tmp_path / "eve.json").write_text(scan.out)
    expected = {**ROLES, NODE_IP: CRYPTO_NODE}
    rows = stored(db)
    assert roles_of(rows) == expected
    assert {r["ip"]: r["nodes"] for r in rows} == {ip: ["chia"] if ip == NODE_IP else []
                                                   for ip in expected}  # fmt: skip
    assert roles_of(csv_rows(run_cli("suspects", "--db", db, "-f", "csv").out)) == expected
    table = run_cli("suspects", "--db", db).out
    for ip, role in expected.items():
        (line,) = [row for row in table.splitlines() if ip in row]
        assert role in line

    reports = {}
    sources = {"db": ("--db", db)}
    if "://" not in db:  # the other inputs once: the store's backend does not change them
        sources |= {"eve": (str(tmp_path / "eve.json"),),
                    "captures": ("--nodes-as-suspects", *ALL)}  # fmt: skip
    for name, source in sources.items():
        out = tmp_path / name
        result = run_cli("report", *source, "-f", "csv", "-o", str(out), "-q")
        assert result.rc == 0, result.err
        summary = {r["key"]: r["value"] for r in csv_rows((out / "summary.csv").read_text())}
        reports[name] = (roles_of(csv_rows((out / "suspects.csv").read_text())),
                         summary["mining_ips"], summary["node_ips"])  # fmt: skip
    assert all(report == (expected, "3", "1") for report in reports.values())

    # the node as informational again (no policy): nothing of it is stored, nothing changes
    assert run_cli("scan", "-q", "--db", db, NODE).rc == 0
    assert without_write_time(stored(db)) == without_write_time(rows)
    # the policy is a scan's: EVE lines and the store hold what their scan decided
    refused = run_cli("report", "--db", db, "--nodes-as-suspects", "-f", "md")
    assert refused.rc == 2 and "--nodes-as-suspects" in refused.err


def _node_host(ip: str, start: float) -> NodeHost:
    host = NodeHost(ip, "bitcoin-p2p", 1_767_600_000.0, first_seen=start, last_seen=start + 60)
    host.flow_count = 3
    host.rules = {3950001}
    return host


def test_a_miner_outranks_its_node_in_a_scan_and_in_the_store(store_url: str) -> None:  # noqa: F811
    start = 1_767_600_100.0
    (node,) = node_suspects([_node_host("10.7.9.1", start)], 3600.0).suspects()
    assert (node.role, node.flow_count, node.rules, list(node.nodes)) == (
        CRYPTO_NODE, 3, [3950001], ["bitcoin-p2p"])  # fmt: skip
    table = node_suspects([_node_host("10.7.9.1", start)], 3600.0)
    miner = SuspectTable(3600.0)
    miner.by_key[("10.7.9.1", int(start // 3600))] = crafted("10.7.9.1", start, 1)
    table.merge(miner)
    (both,) = table.suspects()
    assert (both.role, both.flow_count, both.node_flows) == (POOL_MINER, 4, 3)

    with SuspectStore.open(store_url) as store:
        store.upsert(node)
        assert [r["role"] for r in store.query()] == [CRYPTO_NODE]
        (again,) = node_suspects([_node_host("10.7.9.1", start)], 3600.0).suspects()
        store.upsert(again)
        assert [r["role"] for r in store.query()] == [CRYPTO_NODE]  # a node, twice
        store.upsert(crafted("10.7.9.1", start, 1))
        (row,) = store.query()
        assert (row["role"], row["nodes"], row["dialects"]) == (
            POOL_MINER, ["bitcoin-p2p"], ["cryptonote"])  # fmt: skip


def test_a_schema_3_store_gets_its_rows_roles(tmp_path: Path) -> None:
    """tests/data/store-v3.db, written by the minewatch before schema 4 (its README):
    opened by today's, it gains role and nodes; each row's role is what role_of makes of
    its dialects and pool names; scanning into it and reporting on it work."""
    db = tmp_path / "v3.db"
    shutil.copy(V3_STORE, db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
        before = conn.execute("SELECT ip, flow_count FROM suspects ORDER BY ip").fetchall()
    rows = stored(db)  # `suspects` opens it: migration 4
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (len(MIGRATIONS),)] == [(4,)]  # fmt: skip
    assert sorted((r["ip"], r["flow_count"]) for r in rows) == before
    assert roles_of(rows) == {
        "192.168.1.50": "solo-miner",
        "10.1.11.30": "pool-miner",  # getwork beside Stratum: a pool's
        "10.213.0.2": "pool-miner",
        "10.213.200.2": "storage-farmer",
        "10.213.248.2": "storage-farmer",
    }
    for row in rows:
        assert row["role"] == role_of(frozenset(row["dialects"]), bool(row["pool_names"]))
        assert row["nodes"] == []
    # a re-scan of one of its captures merges as before: same count, same role
    assert run_cli("scan", "-q", "--db", str(db), SOLO).rc == 0
    assert {(r["ip"], r["flow_count"], r["role"]) for r in stored(db)} == {
        (r["ip"], r["flow_count"], r["role"]) for r in rows}  # fmt: skip
    out = tmp_path / "report"
    assert run_cli("report", "--db", str(db), "-f", "csv", "-o", str(out), "-q").rc == 0
    assert roles_of(csv_rows((out / "suspects.csv").read_text())) == roles_of(rows)


def test_a_network_list_name_needs_its_source(tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "chia-names.txt").write_text("# Chia\nnode.example.org  # made up\n")
    (lists / "filecoin-names.txt").write_text(
        "# Filecoin\n# source: made up\nboot.example.net\n#\nother.example.net\n")
    with pytest.raises(InputError, match=r"filecoin-names.txt:5: 'other.example.net' has no"):
        load_network_names(lists)
    (lists / "filecoin-names.txt").write_text("# source: made up\nboot.example.net\n")
    names = load_network_names(lists)
    assert names.network_of("a.boot.example.net") == "filecoin"
    assert names.named("chia", "NODE.example.org.") and not names.named("chia", "example.org")
    (lists / "chia-names.txt").write_text("# nothing\n")
    with pytest.raises(InputError, match="chia-names.txt: no names"):
        load_network_names(lists)


def test_eve_role_is_checked(tmp_path: Path) -> None:
    scan = run_cli("scan", "-q", "-f", "jsonl", POOL)
    (event,) = scan.events()
    event["alert"]["metadata"]["mining_role"] = ["\x1b[31mminer"]
    (tmp_path / "eve.json").write_text(json.dumps(event) + "\n")
    result = run_cli("report", str(tmp_path / "eve.json"), "-f", "md")
    assert result.rc == 2 and "eve.json:1: mining_role" in result.err
    assert "\x1b" not in result.err and len(result.err.strip().splitlines()) == 1
