"""What only the PostgreSQL suspect store has (everything both backends share is run on both
in tests/test_store.py): URLs and their passwords, a server that refuses or is not there,
a database that is not a suspect store, a connection that breaks. Every failure: exit 2,
one line, and never the password of the URL, through the real CLI against a real server
(tests/pgserver.py)."""

from __future__ import annotations

import psycopg
import pytest

from detector.sinks.postgres import is_postgres_url, masked, scrubbed
from detector.sinks.store import StoreError, SuspectStore
from tests.pgserver import PASSWORD, PASSWORD_USER
from tests.test_store import ONE, crafted, one_error_line, stored

WRONG = "Wr0ng-Secret-77"


def test_postgres_urls_are_told_apart_and_shown_without_passwords() -> None:
    assert is_postgres_url("postgresql://h/db") and is_postgres_url("POSTGRES://h/db")
    assert not is_postgres_url("x.db") and not is_postgres_url("sqlite:///x.db")
    assert not is_postgres_url("postgresql:rel/path")
    assert masked("postgresql://u:p%40ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert masked("postgres://u@h/db?password=abc&sslmode=require") == (
        "postgres://u@h/db?password=***&sslmode=require")
    assert masked("postgresql://u:a@b@h/db") == "postgresql://u:***@h/db"  # last @ ends it
    assert masked("postgresql://h/db") == "postgresql://h/db"
    url = "postgresql://u:p%40ss@h/db"
    assert scrubbed('bad "p@ss" and "p%40ss"', url) == 'bad "***" and "***"'


def _refused(*args: str, secret: str) -> str:
    """Run the CLI; it must exit 2 with one line that does not hold ``secret``."""
    from tests.conftest import run_cli

    result = run_cli(*args)
    assert result.rc == 2, (args, result.out, result.err)
    line = one_error_line(result.err)
    assert secret not in result.err and secret not in result.out
    assert result.out == ""  # refused before anything was scanned or listed
    return line


def test_a_wrong_password_is_exit_2_in_one_line_without_the_password(pg_cluster) -> None:
    database = pg_cluster.create_database(owner=PASSWORD_USER)
    wrong = pg_cluster.url(database, PASSWORD_USER, WRONG)
    in_query = pg_cluster.url(database, PASSWORD_USER) + f"&password={WRONG}"
    for url in (wrong, in_query):
        for args in (("suspects", "--db", url), ("scan", "-q", ONE, "--db", url)):
            line = _refused(*args, secret=WRONG)
            assert "password authentication failed" in line and "***" in line
    # before anything is captured, too (the interface is never opened)
    _refused("live", "-i", "lo", "--eve", "-", "--db", wrong, secret=WRONG)


def test_the_right_password_opens_the_store(pg_cluster) -> None:
    from tests.conftest import run_cli

    database = pg_cluster.create_database(owner=PASSWORD_USER)
    url = pg_cluster.url(database, PASSWORD_USER, PASSWORD)
    result = run_cli("scan", "-q", ONE, "--db", url)
    assert result.rc == 0, result.err
    assert PASSWORD not in result.out + result.err
    assert [r["ip"] for r in stored(url)] == ["10.1.0.66"]


def test_no_server_there_is_exit_2_in_one_line(pg_cluster, tmp_path) -> None:
    import socket

    with socket.socket() as s:  # a TCP port nothing listens on: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for url in (f"postgresql://u:{WRONG}@127.0.0.1:{port}/db",
                f"postgres://u:{WRONG}@/db?host={tmp_path}&port=5432"):  # fmt: skip
        for args in (("suspects", "--db", url), ("scan", "-q", ONE, "--db", url)):
            line = _refused(*args, secret=WRONG)
            assert "cannot open the suspect store" in line and "u:***@" in line


def test_bad_urls_and_missing_databases_are_exit_2_in_one_line(pg_cluster) -> None:
    for url, secret in ((f"postgresql://u:{WRONG}@127.0.0.1:notaport/db", WRONG),
                        (f"postgresql://u:{WRONG}@/db?host=/tmp&no_such_option=1", WRONG),
                        (f"postgresql://u@/db?password={WRONG}&no_such_option=1", WRONG),
                        (pg_cluster.url("no_such_database", PASSWORD_USER, PASSWORD), PASSWORD),
                        (pg_cluster.url("no_such_database"), WRONG)):  # fmt: skip
        for args in (("suspects", "--db", url), ("scan", "-q", ONE, "--db", url)):
            _refused(*args, secret=secret)


def test_a_database_that_is_not_a_suspect_store_is_refused(pg_cluster) -> None:
    empty = pg_cluster.new_database()
    line = _refused("suspects", "--db", empty, secret=WRONG)
    assert "no suspect store there" in line
    with psycopg.connect(empty) as conn:  # the reader made no tables
        assert conn.execute("SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone() == (0,)  # fmt: skip
    other = pg_cluster.new_database()
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE suspects (id INTEGER PRIMARY KEY, name TEXT)")
    for args in (("scan", "-q", ONE, "--db", other), ("suspects", "--db", other)):
        line = _refused(*args, secret=WRONG)
        assert "suspect store" in line
    with psycopg.connect(other) as conn:  # left as it was
        names = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert [n for (n,) in names] == ["suspects"]


def test_a_broken_connection_fails_one_write_and_the_next_connects_again(pg_cluster) -> None:
    """A sensor's store outlives a restart of the server: the write that meets the broken
    connection fails (StoreError: the sensor warns and goes on), the next one reconnects
    and merges what was missed."""
    url = pg_cluster.new_database()
    start = 1_767_600_000.0
    with SuspectStore.open(url) as store:
        store.upsert(crafted("10.7.7.1", start, 2))
        pid = store.conn.info.backend_pid
        pg_cluster.sql(f"SELECT pg_terminate_backend({pid})")
        with pytest.raises(StoreError, match="cannot write"):
            store.upsert(crafted("10.7.7.1", start, 3))
        store.upsert(crafted("10.7.7.1", start, 3))  # the same report, grown
        (row,) = store.query()
    assert row["flow_count"] == 3


def test_a_writer_that_waited_too_long_fails_that_write_only(pg_cluster) -> None:
    """Another writer holds the write lock past the lock timeout (SQLite's busy timeout):
    this write fails (StoreError), the transaction is rolled back, the next one works."""
    url = pg_cluster.new_database()
    with SuspectStore.open(url) as holder, SuspectStore.open(url) as waiter:
        waiter.conn.execute("SET lock_timeout = 200")
        for statement in holder.backend.begin_write:
            holder.conn.execute(statement)
        with pytest.raises(StoreError, match="lock timeout"):
            waiter.upsert(crafted("10.7.8.1", 1_767_600_000.0, 1))
        holder.conn.execute("ROLLBACK")
        waiter.upsert(crafted("10.7.8.1", 1_767_600_000.0, 2))
        assert [r["flow_count"] for r in waiter.query()] == [2]
