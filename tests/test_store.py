"""The suspect store (detector/sinks/store.py) end to end: `minewatch scan --db` writes it,
`minewatch suspects` reads it in another process; re-scans change no count; bad stores
exit 2 with one line; the schema migrates and a newer one is refused. Every test of the
store runs on both backends (``store_url``: a SQLite file, and a database of a real
PostgreSQL server, tests/pgserver.py); what only one backend has (SQLite's WAL and file
damage) is tested on that one; tests/test_store_pg.py has what only PostgreSQL has."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.score import Verdict
from detector.sinks.store import (
    MIGRATIONS,
    StoreError,
    SuspectStore,
    parse_since,
    sqlite_path,
)
from detector.suspects import MAX_EVIDENCE_FLOWS, Suspect, SuspectTable
from tests.conftest import PCAPS, REPO, meta, run_cli

# Every fixture of pcaps/ (recursive: recorded/ and realset/ too).
ALL = str(PCAPS)
ONE = str(PCAPS / "stratum-v1-segmentation.pcap")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store: a SQLite path, or a PostgreSQL database's URL."""
    if request.param == "sqlite":
        return str(tmp_path / "x.db")
    return request.getfixturevalue("pg_cluster").new_database()


def sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    """One statement (written with ``?``) on the store's own connection; its rows."""
    with SuspectStore.open(url) as store:
        cursor = store.conn.execute(store.backend.sql(statement), params)
        return cursor.fetchall() if cursor.description else []


def columns(store: SuspectStore, table: str) -> list[str]:
    rows = store.conn.execute(store.backend.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        if store.backend.name == "postgresql" else "SELECT name FROM pragma_table_info(?)"),
        (table,)).fetchall()
    return [r[0] for r in rows]


def stored(db: Path | str, *args: str) -> list[dict]:
    result = run_cli("suspects", "--db", str(db), "-f", "jsonl", *args)
    assert result.rc == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def without_write_time(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "updated_at"} for row in rows]


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("minewatch: error: "), err
    assert "Traceback" not in err
    return lines[0]


def crafted(
    ip: str,
    start: float,
    flows: int,
    agent: str = "xmrig/6.21",
    wallet: str = "4AbC",
    port: int = 40000,
    score: float = 0.99,
    pool_host: str | None = None,
) -> Suspect:
    """A suspect made of ``flows`` miner flows from ``ip`` (one window), as the scan would
    build it: Verdicts added to a SuspectTable."""
    table = SuspectTable(window=3600.0)
    for i in range(flows):
        facts = FlowFacts(agent=agent, wallet=wallet, coin="XMR", jobs=3, submits=2, accepted=1,
                          pool_host=pool_host)
        facts.dialects.add("cryptonote")
        record = FlowRecord(i + 1, "TCP", ip, port + i, "198.51.100.9", 3333, start + i,
                            start + i + 30.0, 10, 10, 900, 900, 500, 500, "syn", "closed", facts)
        table.add(Verdict(record, score - i * 0.001, True, rules=(3300001,)))
    (suspect,) = table.suspects()
    return suspect


@pytest.fixture(scope="module")
def plain_scan() -> list[dict]:
    """The miner alerts of a plain `scan -f jsonl` over every fixture: what the store must hold."""
    result = run_cli("scan", "-f", "jsonl", "-q", ALL)
    assert result.rc == 0, result.err
    events = result.events()
    assert len(events) > 20
    return events


def test_scan_db_stores_exactly_the_suspects_the_scan_reports(
    store_url: str, plain_scan: list[dict]
) -> None:
    db = store_url
    result = run_cli("scan", "-q", ALL, "--db", str(db))
    assert result.rc == 0, result.err
    rows = stored(db)
    expected = {(e["src_ip"], meta(e, "mining_first_seen")[0]): e for e in plain_scan}
    from detector.sinks.common import eve_time

    got = {(r["ip"], eve_time(r["first_seen"])): r for r in rows}
    assert set(got) == set(expected)
    assert {r["ip"] for r in rows} == {e["src_ip"] for e in plain_scan}
    estimates: list[float | None] = []
    for key, row in got.items():
        event = expected[key]
        assert row["flow_count"] == int(meta(event, "mining_flow_count")[0])
        assert set(row["wallets"]) == set(meta(event, "mining_wallet"))
        assert set(row["agents"]) == set(meta(event, "mining_agent"))
        assert row["top_rule"] == event["alert"]["signature_id"]
        estimate = meta(event, "mining_hashrate_estimate")
        assert row["hashrate_estimate"] == (float(estimate[0]) if estimate else None)
        estimates.append(row["hashrate_estimate"])
        assert len(row["evidence"]) == len(meta(event, "mining_community_id"))
        assert {f["community_id"] for f in row["evidence"]} == set(
            meta(event, "mining_community_id"))
    assert any(e is not None for e in estimates)  # some fixture's shares say a hashrate


def test_scanning_twice_changes_no_count(store_url: str) -> None:
    db = store_url
    assert run_cli("scan", "-q", ALL, "--db", str(db)).rc == 0
    first = without_write_time(stored(db))
    assert run_cli("scan", "-q", ALL, "--db", str(db)).rc == 0
    assert without_write_time(stored(db)) == first
    # --as-found writes the same suspects (its stores are the run's final table)
    again = run_cli("scan", "-q", "-f", "jsonl", "--as-found", ALL, "--db", str(db))
    assert again.rc == 0, again.err
    assert without_write_time(stored(db)) == first
    ((evidence,),) = sql(db, "SELECT COUNT(*) FROM evidence")
    assert evidence == sum(len(r["evidence"]) for r in first)


def test_as_found_scan_fills_the_store(store_url: str, plain_scan: list[dict]) -> None:
    db = store_url
    result = run_cli("scan", "-q", "-f", "jsonl", "--as-found", ALL, "--db", str(db))
    assert result.rc == 0, result.err
    assert {r["ip"] for r in stored(db)} == {e["src_ip"] for e in plain_scan}


def test_another_capture_of_the_same_window_adds_its_flows(store_url: str) -> None:
    """Same IP and window, other flows (a rotated capture, a sensor after a restart): counts
    add; the same suspect again (a re-scan) or grown (a sensor's next upsert) does not."""
    db = store_url
    start = 1_767_600_000.0
    a = crafted("10.7.0.1", start, 3, port=40000)
    b = crafted("10.7.0.1", start + 600, 2, port=50000, wallet="4Other")
    with SuspectStore.open(str(db)) as store:
        store.upsert(a, "s1")
        store.upsert(a, "s1")
        (row,) = store.query()
        assert (row["flow_count"], row["jobs"], row["submits"]) == (3, 9, 6)
        store.upsert(b, "s2")
        (row,) = store.query()
    assert (row["flow_count"], row["jobs"], row["submits"], row["accepted"]) == (5, 15, 10, 5)
    assert row["first_seen"] == start and row["last_seen"] == start + 600 + 1 + 30
    assert row["wallets"] == ["4AbC", "4Other"] and row["sensor"] == "s2"
    assert len(row["evidence"]) == 5
    grown = crafted("10.7.0.1", start, 4, port=40000)  # a's flows and one more
    with SuspectStore.open(str(db)) as store:
        store.upsert(grown)
        (row,) = store.query()
    assert row["flow_count"] == 6 and row["sensor"] == "s2"  # 4 (grown a) + 2 (b)


def test_evidence_is_bounded_to_the_strongest(store_url: str) -> None:
    db = store_url
    start = 1_767_600_000.0
    weak = crafted("10.7.0.2", start, 40, port=40000, score=0.80)
    strong = crafted("10.7.0.2", start + 100, 40, port=50000, score=0.99)
    with SuspectStore.open(str(db)) as store:
        store.upsert(weak)
        store.upsert(strong)
        (row,) = store.query()
    assert row["flow_count"] == 80
    assert len(row["evidence"]) == MAX_EVIDENCE_FLOWS
    scores = [f["score"] for f in row["evidence"]]
    assert scores == sorted(scores, reverse=True)
    assert sum(1 for f in row["evidence"] if f["src_port"] >= 50000) == 40  # all strong kept
    assert row["score"] == 0.99


def test_a_second_process_sees_the_store(store_url: str) -> None:
    db = store_url
    assert run_cli("scan", "-q", ONE, "--db", str(db)).rc == 0
    code = ("import json, sys; from detector.sinks.store import SuspectStore; "
            "s = SuspectStore.open(sys.argv[1], create=False); "
            "print(json.dumps([r['ip'] for r in s.query()]))")
    proc = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True,
                          text=True, cwd=REPO, check=True)
    assert json.loads(proc.stdout) == ["10.1.0.66"]
    assert sql(db, "SELECT version FROM schema_version") == [(len(MIGRATIONS),)]


def test_a_sqlite_store_is_wal(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert run_cli("scan", "-q", ONE, "--db", str(db)).rc == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_suspects_reads_while_a_writer_holds_the_lock(store_url: str) -> None:
    db = store_url
    with SuspectStore.open(str(db)) as store:
        store.upsert(crafted("10.7.0.3", 1_767_600_000.0, 1))
        for statement in store.backend.begin_write:  # the store's write lock, taken
            store.conn.execute(statement)
        store.conn.execute("UPDATE suspects SET flow_count = 99")  # not committed
        rows = stored(db)  # another process, while this one holds the write lock
        store.conn.execute("ROLLBACK")
    assert [(r["ip"], r["flow_count"]) for r in rows] == [("10.7.0.3", 1)]


def test_since_filters_by_iso_time(store_url: str, plain_scan: list[dict]) -> None:
    db = store_url
    assert run_cli("scan", "-q", ALL, "--db", str(db)).rc == 0
    rows = stored(db)
    lasts = sorted(r["last_seen"] for r in rows)
    cut = (lasts[len(lasts) // 2] + lasts[len(lasts) // 2 - 1]) / 2
    from datetime import UTC, datetime

    iso = datetime.fromtimestamp(cut, UTC).isoformat()
    later = stored(db, "--since", iso)
    assert 0 < len(later) < len(rows)
    assert {(r["ip"], r["window_start"]) for r in later} == {
        (r["ip"], r["window_start"]) for r in rows if r["last_seen"] >= cut}
    naive = iso.replace("+00:00", "")  # no offset: UTC
    assert stored(db, "--since", naive) == later


def test_since_takes_durations_and_ip_filters(store_url: str) -> None:
    db = store_url
    now = time.time()
    with SuspectStore.open(str(db)) as store:
        store.upsert(crafted("10.7.1.1", now - 3600, 1))  # last seen ~an hour ago
        store.upsert(crafted("10.7.1.2", now - 3 * 86400, 1))  # three days ago
    assert [r["ip"] for r in stored(db, "--since", "2h")] == ["10.7.1.1"]
    assert [r["ip"] for r in stored(db, "--since", "30m")] == []
    assert {r["ip"] for r in stored(db, "--since", "7d")} == {"10.7.1.1", "10.7.1.2"}
    assert [r["ip"] for r in stored(db, "--ip", "10.7.1.2")] == ["10.7.1.2"]
    bad = run_cli("suspects", "--db", str(db), "--since", "last tuesday")
    assert bad.rc == 2 and "--since" in one_error_line(bad.err)


def test_parse_since() -> None:
    assert parse_since("90s", 1000.0) == 910.0
    assert parse_since("2h", 10_000.0) == 10_000.0 - 7200
    assert parse_since("1.5d", 200_000.0) == 200_000.0 - 1.5 * 86400
    assert parse_since("1970-01-02T00:00:00Z", 0.0) == 86400.0
    assert parse_since("1970-01-02T01:00:00+01:00", 0.0) == 86400.0
    assert parse_since("1970-01-02", 0.0) == 86400.0
    with pytest.raises(StoreError):
        parse_since("2 hours", 0.0)


def test_hostile_strings_are_escaped_in_the_table(store_url: str) -> None:
    db = store_url
    evil_agent = "xmrig\x1b[2J\x1b]0;pwned\x07\r\nX"
    evil_wallet = "4W\x1b[31m[bold]red[/bold]\u202e"
    with SuspectStore.open(str(db)) as store:
        store.upsert(crafted("10.7.2.1", 1_767_600_000.0, 1, agent=evil_agent,
                             wallet=evil_wallet, pool_host="pool\x00.evil"), sensor="edge\x1b[1m")
    table = run_cli("suspects", "--db", str(db))
    assert table.rc == 0, table.err
    assert "10.7.2.1" in table.out
    for raw in ("\x1b", "\x07", "\r", "\u202e"):
        assert raw not in table.out
    # shown escaped (and shortened in the middle), rich markup left as text
    assert "xmrig\\x1b[2" in table.out and "4W\\x1b[31m[b" in table.out
    assert "edge\\x1b[1m" in table.out
    csv_out = run_cli("suspects", "--db", str(db), "-f", "csv")
    assert csv_out.rc == 0 and "\x1b" not in csv_out.out and "xmrig\\x1b[2J" in csv_out.out
    (row,) = stored(db)
    assert row["agents"] == [evil_agent] and row["wallets"] == [evil_wallet]  # data intact
    # a NUL (which PostgreSQL's TEXT cannot hold) does not stop the suspect being stored
    assert row["evidence"][0]["pool_host"] == "pool\ufffd.evil"


def test_bad_stores_exit_2_with_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    missing_dir = tmp_path / "no" / "such" / "dir" / "x.db"
    for args in (
        ("suspects", "--db", str(text)),
        ("suspects", "--db", str(tmp_path / "absent.db")),
        ("suspects", "--db", str(tmp_path)),
        ("suspects", "--db", "mysql://db.example/minewatch"),
        ("scan", "-q", ONE, "--db", str(text)),
        ("scan", "-q", ONE, "--db", str(missing_dir)),
    ):
        result = run_cli(*args)
        assert result.rc == 2, (args, result.err)
        one_error_line(result.err)
        assert result.out == "", args  # the store is refused before anything is scanned
    assert text.read_text() == "not a database\n" * 100  # left as it was
    assert not (tmp_path / "absent.db").exists()  # a query creates nothing


def test_a_corrupt_store_exits_2_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert run_cli("scan", "-q", ALL, "--db", str(db)).rc == 0
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    assert len(data) > 8192
    data[4096:] = b"\xa5" * (len(data) - 4096)  # every page after the first is garbage
    db.write_bytes(bytes(data))
    for args in (("suspects", "--db", str(db)), ("scan", "-q", ONE, "--db", str(db))):
        result = run_cli(*args)
        assert result.rc == 2, (args, result.out, result.err)
        assert "malformed" in one_error_line(result.err) or "not a" in result.err


def test_sqlite_urls(tmp_path: Path) -> None:
    assert sqlite_path("x.db") == "x.db"
    assert sqlite_path("sqlite:///var/lib/minewatch.db") == "/var/lib/minewatch.db"
    assert sqlite_path("sqlite:data/x.db") == "data/x.db"
    assert sqlite_path("SQLite:data/x.db") == "data/x.db"
    for bad in ("", "sqlite:", "sqlite://host/x.db", "postgresql://h/db", "ftp://h/x"):
        with pytest.raises(StoreError):
            sqlite_path(bad)
    db = tmp_path / "u.db"
    result = run_cli("scan", "-q", ONE, "--db", f"sqlite://{db}")
    assert result.rc == 0, result.err
    assert [r["ip"] for r in stored(db)] == ["10.1.0.66"]


def test_default_store_is_minewatch_db_env_first(tmp_path: Path, store_url: str) -> None:
    env_db = store_url
    with SuspectStore.open(str(env_db)) as store:
        store.upsert(crafted("10.7.3.1", 1_767_600_000.0, 1))
    exe = [sys.executable, "-m", "detector", "suspects", "-f", "jsonl"]
    env = {"PATH": "/usr/bin:/bin", "MINEWATCH_DB": str(env_db), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(exe, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["ip"] for line in proc.stdout.splitlines()] == ["10.7.3.1"]
    env.pop("MINEWATCH_DB")
    proc = subprocess.run(exe, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 2 and "minewatch.db" in one_error_line(proc.stderr)
    with SuspectStore.open(str(tmp_path / "minewatch.db")) as store:
        store.upsert(crafted("10.7.3.2", 1_767_600_000.0, 1))
    proc = subprocess.run(exe, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "10.7.3.2" in proc.stdout


def test_migrations_apply_in_order_and_a_newer_store_is_refused(store_url: str) -> None:
    db, now = store_url, len(MIGRATIONS)
    with SuspectStore.open(str(db)) as store:
        assert store.version() == now
        store.upsert(crafted("10.7.4.1", 1_767_600_000.0, 2))
    with SuspectStore.open(str(db)) as store:
        assert store.version() == now  # opening again applies nothing
    later = [*MIGRATIONS, ("ALTER TABLE suspects ADD COLUMN note TEXT",
                           "UPDATE suspects SET note = 'migrated'")]
    with SuspectStore.open(str(db), migrations=later) as store:
        assert store.version() == now + 1
        assert store.conn.execute("SELECT ip, flow_count, note FROM suspects").fetchall() == [
            ("10.7.4.1", 2, "migrated")]
        assert store.query()[0]["flow_count"] == 2  # the store works on the new schema
    with pytest.raises(StoreError, match="newer minewatch"):
        SuspectStore.open(str(db))


def test_a_first_version_store_is_brought_up_to_date(store_url: str) -> None:
    """A store written by the first schema gains the hashrate estimate column (migration
    2) when today's minewatch opens it, and works."""
    db = store_url
    with SuspectStore.open(str(db), migrations=MIGRATIONS[:1]) as store:
        assert store.version() == 1
        assert "hashrate_estimate" not in columns(store, "suspects")
    with SuspectStore.open(str(db)) as store:
        assert store.version() == len(MIGRATIONS) >= 3
        assert {"hashrate_estimate", "hashrate_low", "hashrate_method", "activity"} <= set(
            columns(store, "suspects"))
        assert {"work", "activity"} <= set(columns(store, "reports"))
        store.upsert(crafted("10.7.4.9", 1_767_600_000.0, 1))
        assert [row["ip"] for row in store.query()] == ["10.7.4.9"]


def test_a_failing_migration_leaves_the_store_as_it_was(store_url: str) -> None:
    db = store_url
    with SuspectStore.open(str(db)):
        pass
    broken = [*MIGRATIONS, ("ALTER TABLE suspects ADD COLUMN a TEXT", "NOT SQL")]
    with pytest.raises(StoreError):
        SuspectStore.open(str(db), migrations=broken)
    with SuspectStore.open(str(db)) as store:
        assert store.version() == len(MIGRATIONS)
        assert "window_start" in columns(store, "suspects")
        assert "a" not in columns(store, "suspects")


def test_cli_refuses_a_store_from_a_future_schema(store_url: str) -> None:
    db = store_url
    assert run_cli("scan", "-q", ONE, "--db", str(db)).rc == 0
    sql(db, "UPDATE schema_version SET version = ?", (len(MIGRATIONS) + 1,))
    for args in (("suspects", "--db", str(db)), ("scan", "-q", ONE, "--db", str(db))):
        result = run_cli(*args)
        assert result.rc == 2
        assert "newer minewatch" in one_error_line(result.err)
    # refused, not touched (read with the driver: the store itself refuses to open)
    if db.startswith("postgresql:"):
        import psycopg

        with psycopg.connect(db) as conn:
            versions = conn.execute("SELECT version FROM schema_version").fetchall()
    else:
        with sqlite3.connect(db) as conn:
            versions = conn.execute("SELECT version FROM schema_version").fetchall()
    assert versions == [(len(MIGRATIONS) + 1,)]


def test_upsert_many_commits_in_batches(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from detector.sinks import store as store_module

    monkeypatch.setattr(store_module, "COMMIT_EVERY", 2)
    suspects = [crafted(f"10.7.5.{i}", 1_767_600_000.0, 1) for i in range(1, 6)]
    with SuspectStore.open(store_url) as store:
        assert store.upsert_many(iter(suspects)) == 5
        assert store.upsert_many(iter(suspects)) == 5
        rows = store.query()
    assert sorted(r["ip"] for r in rows) == [f"10.7.5.{i}" for i in range(1, 6)]
    assert all(r["flow_count"] == 1 for r in rows)


# A writer process of the concurrency test: opens the store, says "ready", waits for "go"
# on stdin, then upserts ROUNDS reports of one (ip, window), each with its own flows (a
# new anchor: counts add), one transaction each.
WRITER = """
import sys
from tests.test_store import crafted
from detector.sinks.store import SuspectStore
url, writer, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with SuspectStore.open(url) as store:
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(rounds):
        n = writer * rounds + i
        store.upsert(crafted("10.7.6.1", 1_767_600_000.0 + n * 10, 1, port=20000 + n,
                             agent=f"agent-{writer}", wallet=f"4W{writer}"), f"sensor-{writer}")
"""


def test_two_processes_writing_one_suspect_at_once_lose_nothing(store_url: str) -> None:
    """Two sensors merging the same (ip, window) at the same moment: every report's counts
    add, both writers' bags are there. Without the write lock (SQLite's BEGIN IMMEDIATE,
    PostgreSQL's advisory lock) both read the same old row and the later write drops the
    other's flows."""
    rounds = 40
    SuspectStore.open(store_url).close()  # the schema, made once before the race
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, store_url, str(w), str(rounds)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO)
               for w in range(2)]  # fmt: skip
    try:
        for proc in writers:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        for proc in writers:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in writers:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    with SuspectStore.open(store_url) as store:
        (row,) = store.query()
        ((reports,),) = store.conn.execute("SELECT COUNT(*) FROM reports").fetchall()
    assert reports == 2 * rounds
    assert (row["flow_count"], row["jobs"], row["submits"], row["accepted"]) == (
        2 * rounds, 6 * rounds, 4 * rounds, 2 * rounds)
    assert set(row["agents"]) == {"agent-0", "agent-1"}
    assert set(row["wallets"]) == {"4W0", "4W1"}
    assert row["first_seen"] == 1_767_600_000.0
    assert row["last_seen"] == 1_767_600_000.0 + (2 * rounds - 1) * 10 + 30
    assert len(row["evidence"]) == min(2 * rounds, MAX_EVIDENCE_FLOWS)


def test_two_captures_stored_give_the_estimate_and_timeline_of_both(
    store_url: str, tmp_path: Path
) -> None:
    """One miner's two sessions of one hour scanned into the store one after the other
    (and the first again): the stored hashrate, interval, method and activity are those a
    scan of both captures reports - recomputed from every report's share work and timeline,
    not the larger of two estimates."""
    from detector.dialects import CRYPTONOTE
    from detector.synth.rated import rated_miner

    parts = [
        rated_miner(CRYPTONOTE, 600.0, 700.0, "store-a", vardiff=[(0, 3000), (350, 9000)],
                    client="10.77.2.2"),
        rated_miner(CRYPTONOTE, 600.0, 700.0, "store-b", vardiff=[(0, 4000)],
                    client="10.77.2.2", client_port=41002, start=1800.0),
    ]
    for name, part in zip("ab", parts, strict=True):
        (tmp_path / f"{name}.pcap").write_bytes(part.pcap)
    db = store_url
    for name in "aba":
        assert run_cli("scan", "-q", str(tmp_path / f"{name}.pcap"), "--db", db).rc == 0
    (row,) = stored(db)
    both = run_cli("scan", "-q", "-f", "jsonl", "--eve-extended", str(tmp_path))
    assert both.rc == 0, both.err
    (event,) = both.events()
    record = event["mining"]
    assert row["submits"] == record["submits"] == sum(len(p.shares) for p in parts)
    assert row["activity"] == record["activity"]
    assert row["hashrate_method"] == record["hashrate_method"]
    for name in ("hashrate_estimate", "hashrate_low", "hashrate_high"):
        assert row[name] == pytest.approx(record[name], rel=1e-12), name
    assert row["hashrate_low"] <= 600.0 <= row["hashrate_high"]

