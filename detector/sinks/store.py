"""The suspect store: suspects kept in a database that outlives a run.

A sensor (``minewatch live``) runs for weeks and restarts; forensics staff scan captures
(``minewatch scan --db``) into the same store; ``minewatch suspects`` reads it while a
sensor writes. So: SQLite from the standard library in WAL mode (readers never block the
writer, and the writer never blocks them), ``synchronous=NORMAL`` (a commit costs no
fsync; a power cut may lose the last commits, never the database) and a busy timeout, so
two writers take turns instead of failing.

**PostgreSQL.** ``postgresql://`` and ``postgres://`` URLs open the same store in a
PostgreSQL database through psycopg 3 (``postgres.py``), so several sensors and scans on
several hosts can share one store. Same schema, same statements, same merge code: the SQL
keeps to what both run: ``BIGINT``, ``DOUBLE PRECISION`` (not ``REAL``: PostgreSQL's
``REAL`` is 4 bytes, which would round an epoch time to minutes), ``TEXT``, composite
primary keys and ``INSERT ... ON CONFLICT (...) DO UPDATE``. Lists are JSON text.
Statements are written with ``?`` placeholders; ``Backend`` holds the few things that
differ (placeholder style, how a writer locks, how a reader gets one snapshot, byte-order
sorting of text), and ``Backend.sql`` is the one place that translates.

**Writers take turns.** Merging happens in Python inside one write transaction, because
the merge of bags and counts (below) is not expressible in SQL both databases share. It
reads the stored row, computes, writes: two writers merging the same (ip, window) at once
must not both read the old row, or the second write drops the first one's flows. SQLite's
``BEGIN IMMEDIATE`` takes the database's one write lock. PostgreSQL has none; ``SELECT ...
FOR UPDATE`` would not do: it locks rows that exist, and a suspect seen by two sensors for
the first time has no row yet - both would read nothing, and the second ``INSERT ... ON
CONFLICT DO UPDATE`` would overwrite the first's bags and counts with its own. So a PostgreSQL
writer takes a transaction-level advisory lock on one key (``WRITE_LOCK``) after ``BEGIN``:
the same one-writer-at-a-time as SQLite, released by ``COMMIT`` or ``ROLLBACK`` (or the
connection's end), and held by the same short transactions (``COMMIT_EVERY`` suspects).
Per-(ip, window) locks would let writers of different IPs run side by side, but a batch
would then hold hundreds of locks, taken in an order that two batches must agree on to
avoid deadlocks; the store's writes are small and a minute apart, so one lock it is.
Readers never wait: WAL in SQLite, MVCC in PostgreSQL, where ``query`` reads in one
``REPEATABLE READ`` transaction so its two statements see one snapshot (PostgreSQL's
default gives each statement its own).

**Schema versions.** ``MIGRATIONS`` is the ordered list of steps; the store's version is
the row of ``schema_version``. Opening applies the missing steps in one transaction; a
store written by a newer minewatch (a version past the list) is refused, never guessed at.

**Merging, and why scanning the same capture twice changes nothing.** A suspect is one
(ip, window_start) row. Times merge as min/max, score as max (the top rule follows the
higher score), bags as ordered unions capped as ``Suspect``'s own (``MAX_BAG``,
``MAX_POOL_ENDPOINTS``): all idempotent by nature. Counts (flows, jobs, submits, accepted)
are sums over flows, which a re-scan must not add again - yet a second capture of the same
hour, or a sensor's run after a restart, brings new flows that must be added. The store
cannot keep every flow's key (evidence is bounded), so it keeps counts per *report*: the
``reports`` table holds, per suspect, one row per report anchor - the key (community id
and start time) of the earliest evidence flow of the suspect as it was upserted - and the
largest counts any report with that anchor gave. The suspect's counts are the sums over
its anchors. So:

* the same capture scanned again has the same earliest flow: same anchor, max of equal
  counts - unchanged;
* a sensor re-upserting its growing suspect keeps its earliest flow: same anchor, and the
  max is the newest, larger count;
* another capture of the same window, or a sensor's run after a restart, starts with other
  flows: a new anchor, whose counts add.

The hashrate estimate and the activity timeline follow the same rule: each report row
keeps what they are made of (the shares' work by kind, ``Suspect.work``, and the timeline,
JSON), those of its bigger report; the suspect's are recomputed from all its reports
together (``_report_sums``), so two captures of a window give what one scan of both gives.

What it gets wrong, knowingly: scanning a capture *and then a part of it that does not
contain its earliest flow* adds that part again; and a sensor whose earliest flow is pushed
out of the bounded evidence by 50 stronger ones starts a new anchor. Both over-count; none
of the cases above does. Evidence flows are keyed by (community id, flow start), so a flow
seen again updates its row (end and score as max) instead of adding one; each suspect keeps
the ``MAX_EVIDENCE_FLOWS`` strongest (score, then earliest), like ``Suspect`` does.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from detector import activity, plain
from detector.dialects import merged_role
from detector.errors import InputError
from detector.hashrate import estimate
from detector.sinks.common import community_id
from detector.suspects import (
    MAX_BAG,
    MAX_EVIDENCE_FLOWS,
    MAX_POOL_ENDPOINTS,
    ShareWork,
    Suspect,
)
from detector.textsafe import escape

DEFAULT_PATH = "minewatch.db"
ENV_VAR = "MINEWATCH_DB"
BUSY_TIMEOUT_S = 30.0
COMMIT_EVERY = 500  # suspects merged per write transaction

# Multi-valued columns of ``suspects`` (JSON lists) and the cap of each; "dialects" and
# "rules" come from fixed vocabularies (dissector names, rule ids) and are kept sorted.
BAGS: dict[str, int] = {
    "coins": MAX_BAG,
    "algos": MAX_BAG,
    "pools": MAX_POOL_ENDPOINTS,
    "pool_names": MAX_BAG,
    "pool_hosts": MAX_BAG,
    "wallets": MAX_BAG,
    "logins": MAX_BAG,
    "workers": MAX_BAG,
    "agents": MAX_BAG,
    "nodes": MAX_BAG,  # schema 4: node protocols of a node host made a suspect by policy
}
SORTED_SETS = ("dialects", "rules")
COUNTS = ("flow_count", "jobs", "submits", "accepted")

# Version N of the schema is MIGRATIONS[N - 1]: append steps, never edit a released one.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE suspects (
            ip TEXT NOT NULL,
            window_start DOUBLE PRECISION NOT NULL,
            first_seen DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL,
            flow_count BIGINT NOT NULL,
            score DOUBLE PRECISION NOT NULL,
            top_rule BIGINT,
            rules TEXT NOT NULL,
            dialects TEXT NOT NULL,
            coins TEXT NOT NULL,
            algos TEXT NOT NULL,
            pools TEXT NOT NULL,
            pool_names TEXT NOT NULL,
            pool_hosts TEXT NOT NULL,
            wallets TEXT NOT NULL,
            logins TEXT NOT NULL,
            workers TEXT NOT NULL,
            agents TEXT NOT NULL,
            jobs BIGINT NOT NULL,
            submits BIGINT NOT NULL,
            accepted BIGINT NOT NULL,
            reported_hashrate DOUBLE PRECISION,
            sensor TEXT,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (ip, window_start)
        )""",
        "CREATE INDEX suspects_last_seen ON suspects (last_seen)",
        """CREATE TABLE reports (
            ip TEXT NOT NULL,
            window_start DOUBLE PRECISION NOT NULL,
            anchor TEXT NOT NULL,
            flow_count BIGINT NOT NULL,
            jobs BIGINT NOT NULL,
            submits BIGINT NOT NULL,
            accepted BIGINT NOT NULL,
            PRIMARY KEY (ip, window_start, anchor)
        )""",
        """CREATE TABLE evidence (
            ip TEXT NOT NULL,
            window_start DOUBLE PRECISION NOT NULL,
            community_id TEXT NOT NULL,
            flow_start DOUBLE PRECISION NOT NULL,
            flow_end DOUBLE PRECISION NOT NULL,
            src_ip TEXT NOT NULL,
            src_port BIGINT NOT NULL,
            dst_ip TEXT NOT NULL,
            dst_port BIGINT NOT NULL,
            proto TEXT NOT NULL,
            score DOUBLE PRECISION NOT NULL,
            rules TEXT NOT NULL,
            dialect TEXT,
            pool_host TEXT,
            PRIMARY KEY (ip, window_start, community_id, flow_start)
        )""",
    ),
    # 2: the hashrate hashrate.py estimates from accepted shares (H/s), beside the one a
    # miner reports; NULL where shares say nothing (rows stored before stay NULL).
    ("ALTER TABLE suspects ADD COLUMN hashrate_estimate DOUBLE PRECISION",),
    # 3: the estimate's 95 % interval and method, and the activity timeline (JSON); per
    # report, what they are made of - the shares' work by kind and the timeline - so that
    # the suspect's are those of all its reports together (rows before: NULL).
    (
        "ALTER TABLE suspects ADD COLUMN hashrate_low DOUBLE PRECISION",
        "ALTER TABLE suspects ADD COLUMN hashrate_high DOUBLE PRECISION",
        "ALTER TABLE suspects ADD COLUMN hashrate_method TEXT",
        "ALTER TABLE suspects ADD COLUMN activity TEXT",
        "ALTER TABLE reports ADD COLUMN work TEXT",
        "ALTER TABLE reports ADD COLUMN activity TEXT",
    ),
    # 4: what the host is (dialects.role_of: pool-miner, solo-miner, storage-farmer,
    # crypto-node) and the node protocols of a node host that the site's policy made a
    # suspect (``scan --nodes-as-suspects``). Rows stored before were all miners: their
    # role is what role_of makes of their dialects and pool names, written out here in SQL
    # both databases run (the dialects are JSON text, ``json.dumps``'s ", " between them):
    # a storage dialect makes a farmer; only solo dialects and no pool name, a solo miner.
    (
        "ALTER TABLE suspects ADD COLUMN role TEXT NOT NULL DEFAULT 'pool-miner'",
        "ALTER TABLE suspects ADD COLUMN nodes TEXT NOT NULL DEFAULT '[]'",
        """UPDATE suspects SET role = CASE
            WHEN dialects LIKE '%"filecoin-rpc"%' OR dialects LIKE '%"chia-farming"%'
                THEN 'storage-farmer'
            WHEN dialects <> '[]' AND pool_names = '[]' AND REPLACE(REPLACE(REPLACE(REPLACE(
                REPLACE(dialects, '"getwork-http"', ''), '"gbt-http"', ''),
                '"eth-getwork-http"', ''), '"monero-daemon-http"', ''), ', ', '') = '[]'
                THEN 'solo-miner'
            ELSE 'pool-miner' END""",
    ),
]
RATE_COLUMNS = ("hashrate_estimate", "hashrate_low", "hashrate_high", "hashrate_method")

SUSPECT_COLUMNS = (
    "ip",
    "window_start",
    "first_seen",
    "last_seen",
    "flow_count",
    "score",
    "top_rule",
    "role",
    *SORTED_SETS,
    *BAGS,
    "jobs",
    "submits",
    "accepted",
    "reported_hashrate",
    *RATE_COLUMNS,
    "activity",
    "sensor",
    "updated_at",
)
EVIDENCE_COLUMNS = (
    "community_id",
    "flow_start",
    "flow_end",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "proto",
    "score",
    "rules",
    "dialect",
    "pool_host",
)
_JSON_COLUMNS = frozenset((*SORTED_SETS, *BAGS, "activity"))


# The PostgreSQL writers' advisory lock (module docstring): one 64-bit key, the first 8
# bytes of BLAKE2b("minewatch suspect store"); advisory locks are per database.
WRITE_LOCK = 215767785112166578


@dataclass(frozen=True, slots=True)
class Backend:
    """What differs between database drivers: placeholders, how a writer locks, how a
    reader sees one snapshot, how text sorts."""

    name: str
    placeholder: str  # the DB-API paramstyle's marker: "?" (qmark) or "%s" (format)
    begin_write: tuple[str, ...]  # start a transaction that holds the write lock from the start
    begin_read: str  # starts a transaction whose reads all see one snapshot
    table_exists: str  # a row when the table named by the one parameter exists
    # After a TEXT column in ORDER BY: sort by bytes, as SQLite does, whatever collation
    # the PostgreSQL database was made with (which evidence flow is dropped on a tie, the
    # order of rows, must not depend on the server's locale).
    by_bytes: str

    def sql(self, statement: str) -> str:
        """A statement written with ``?`` in this driver's placeholder style."""
        return statement if self.placeholder == "?" else statement.replace("?", self.placeholder)


SQLITE = Backend(
    "sqlite",
    "?",
    ("BEGIN IMMEDIATE",),
    "BEGIN",  # deferred: the snapshot is taken at the first read and kept (WAL)
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?",
    "",
)
POSTGRES = Backend(
    "postgresql",
    "%s",
    ("BEGIN", f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    "SELECT table_name FROM information_schema.tables "
    "WHERE table_schema = current_schema() AND table_name = ?",
    ' COLLATE "C"',
)


class Connection(Protocol):
    """What the store uses of a DB-API connection (sqlite3's and psycopg's alike)."""

    def execute(self, statement: str, params: Any = ...) -> Any: ...
    def cursor(self) -> Any: ...
    def close(self) -> None: ...


class StoreError(InputError):
    """The store cannot be used (the CLI prints one line and exits 2)."""


def default_url(environ: dict[str, str]) -> str:
    """The store when none is named: $MINEWATCH_DB, else minewatch.db here."""
    return environ.get(ENV_VAR) or DEFAULT_PATH


def sqlite_path(url: str) -> str:
    """The SQLite file a store URL names: a plain path, ``sqlite:///abs/path`` or
    ``sqlite:relative/path`` (a PostgreSQL URL is no SQLite file: refused)."""
    text = url.strip()
    if not text:
        raise StoreError("empty store path")
    scheme, sep, rest = text.partition(":")
    scheme = scheme.lower()
    if sep and scheme in ("postgresql", "postgres"):
        raise StoreError(f"{scheme}: not a SQLite store")
    if sep and scheme == "sqlite":
        if rest.startswith("//"):
            host, slash, path = rest[2:].partition("/")
            if host:
                raise StoreError(f"{escape(url)}: a sqlite URL has no host (sqlite:///abs/path)")
            rest = slash + path
        if not rest:
            raise StoreError(f"{escape(url)}: no path in the URL")
        return rest
    if sep and "//" in rest[:2] and re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme):
        raise StoreError(
            f"{escape(scheme)}: unsupported store URL scheme (use a path, sqlite: or postgresql:)"
        )
    return text


class SuspectStore:
    """Suspects in a SQLite or PostgreSQL database (see the module docstring). Use as a
    context manager, or ``close`` it. Every database failure comes out as ``StoreError``."""

    def __init__(
        self,
        conn: Connection,
        shown: str,
        backend: Backend = SQLITE,
        errors: tuple[type[Exception], ...] = (sqlite3.Error,),
        url: str = "",
    ) -> None:
        self.conn = conn
        self.shown = shown  # escaped, no password: what a message names the store by
        self.backend = backend
        self.errors = errors  # what the driver raises when the database fails
        self.url = url  # PostgreSQL: to connect again after the connection broke

    @classmethod
    def open(
        cls,
        url: str,
        create: bool = True,
        migrations: list[tuple[str, ...]] | None = None,
    ) -> SuspectStore:
        """Open (``create``: or make) the store ``url`` names and bring its schema up to
        date. ``migrations`` is for tests: another list of steps than MIGRATIONS."""
        migrations = MIGRATIONS if migrations is None else migrations
        from detector.sinks import postgres

        if postgres.is_postgres_url(url):
            return cls._open_postgres(url, create, migrations)
        path = sqlite_path(url)
        shown = escape(path)  # a user's path, but it goes to a terminal all the same
        if not create and not Path(path).is_file():
            raise StoreError(f"{shown}: no suspect store there (write one with scan --db)")
        try:
            target = Path(path).absolute().as_uri() + ("?mode=rwc" if create else "?mode=rw")
            conn = sqlite3.connect(target, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (sqlite3.Error, ValueError) as exc:
            raise StoreError(f"{shown}: cannot open the suspect store ({exc})") from None
        store = cls(conn, shown)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn, SQLITE, migrations)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"{shown}: not a usable suspect store ({exc})") from None
        except StoreError as exc:
            conn.close()
            raise StoreError(f"{shown}: {exc}") from None
        return store

    @classmethod
    def _open_postgres(
        cls, url: str, create: bool, migrations: list[tuple[str, ...]]
    ) -> SuspectStore:
        """The PostgreSQL store ``url`` names. The database must exist (the store makes
        its tables, not databases). Without ``create`` (``minewatch suspects``) a database
        without the store's tables is refused rather than given them: a reader writes no
        schema, and may not have the right to."""
        from detector.sinks import postgres

        shown = escape(postgres.masked(url))
        errors = postgres.driver_errors()
        try:
            conn = postgres.connect(url, BUSY_TIMEOUT_S)
        except errors as exc:
            reason = _one_line(exc, url)
            raise StoreError(f"{shown}: cannot open the suspect store ({reason})") from None
        store = cls(conn, shown, POSTGRES, errors, url)
        try:
            if not create and schema_version(conn, POSTGRES) == 0:
                raise StoreError("no suspect store there (write one with scan --db)")
            migrate(conn, POSTGRES, migrations)
        except errors as exc:
            conn.close()
            reason = _one_line(exc, url)
            raise StoreError(f"{shown}: not a usable suspect store ({reason})") from None
        except StoreError as exc:
            conn.close()
            raise StoreError(f"{shown}: {exc}") from None
        return store

    def _connected(self) -> None:
        """A PostgreSQL connection that broke (the server restarted, a network cut) is
        made again before the next read or write: the write that met the break failed
        (StoreError; a sensor warns and goes on), the next one merges what it missed."""
        if self.url and getattr(self.conn, "closed", False):
            from detector.sinks import postgres

            try:
                self.conn = postgres.connect(self.url, BUSY_TIMEOUT_S)
            except self.errors as exc:
                reason = _one_line(exc, self.url)
                raise StoreError(f"{self.shown}: cannot connect again ({reason})") from None

    def __enter__(self) -> SuspectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def _x(self, statement: str, params: Iterable[Any] = ()) -> Any:
        """Run one statement (written with ``?``); its cursor."""
        return self.conn.execute(self.backend.sql(statement), tuple(params))

    def _many(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one statement (written with ``?``) for each of ``rows``."""
        if rows:
            self.conn.cursor().executemany(self.backend.sql(statement), rows)

    def version(self) -> int:
        return schema_version(self.conn, self.backend)

    def upsert(self, suspect: Suspect, sensor: str | None = None) -> None:
        """Merge one suspect into its (ip, window_start) row (see the module docstring)."""
        self.upsert_many([suspect], sensor)

    def upsert_many(self, suspects: Iterable[Suspect], sensor: str | None = None) -> int:
        """Merge suspects, COMMIT_EVERY to a transaction (a farm's thousands do not commit
        one by one, nor hold the lock a sensor waits for all at once); how many. A failure
        part-way leaves the earlier transactions stored: merging again is harmless."""
        done = 0
        now = time.time()
        batch: list[Suspect] = []
        self._connected()
        try:
            for suspect in suspects:
                batch.append(suspect)
                if len(batch) >= COMMIT_EVERY:
                    done += self._merge_batch(batch, sensor, now)
                    batch = []
            done += self._merge_batch(batch, sensor, now)
        except self.errors as exc:
            reason = _one_line(exc, self.url)
            raise StoreError(f"{self.shown}: cannot write the suspect store ({reason})") from None
        return done

    def _merge_batch(self, batch: list[Suspect], sensor: str | None, now: float) -> int:
        if not batch:
            return 0
        try:
            _begin_write(self.conn, self.backend)  # PostgreSQL: the lock may time out
            for suspect in batch:
                self._merge(suspect, sensor, now)
            self._x("COMMIT")
        except BaseException:
            _rollback(self.conn)
            raise
        return len(batch)

    def _merge(self, s: Suspect, sensor: str | None, now: float) -> None:
        key = (s.ip, s.window_start)
        new = _suspect_row(s, sensor, now)
        old = self._x(
            f"SELECT {', '.join(SUSPECT_COLUMNS)} FROM suspects WHERE ip = ? AND window_start = ?",
            key,
        ).fetchone()
        evidence = [_evidence_row(v) for v in s.flows]
        self._merge_counts(key, new, evidence, _report_parts(s))
        if old is not None:
            new = _merged(dict(zip(SUSPECT_COLUMNS, old, strict=True)), new)
        new.update(self._count_sums(key))
        new.update(self._report_sums(key, new))
        values = [_column_value(name, new[name]) for name in SUSPECT_COLUMNS]
        updates = ", ".join(f"{c} = excluded.{c}" for c in SUSPECT_COLUMNS[2:])
        self._x(
            f"INSERT INTO suspects ({', '.join(SUSPECT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(SUSPECT_COLUMNS))}) "
            f"ON CONFLICT (ip, window_start) DO UPDATE SET {updates}",
            values,
        )
        self._merge_evidence(key, evidence)

    def _merge_counts(
        self,
        key: tuple[str, float],
        new: dict[str, Any],
        evidence: list[dict[str, Any]],
        parts: tuple[str, str],
    ) -> None:
        """This report's counts under its anchor, the larger of stored and new; its work
        and timeline (``parts``) those of the bigger report (more flows, jobs and shares:
        a growing suspect's newer report holds the older one's; a re-scan's are equal)."""
        first = min(evidence, key=lambda e: (e["flow_start"], e["community_id"]), default=None)
        anchor = f"{first['community_id']}@{first['flow_start']!r}" if first else ""
        bigger = ", ".join(
            f"{c} = CASE WHEN excluded.{c} > reports.{c} THEN excluded.{c} ELSE reports.{c} END"
            for c in COUNTS
        )
        size = " + ".join(f"{{0}}.{c}" for c in ("flow_count", "jobs", "submits"))
        larger = f"{size.format('excluded')} >= {size.format('reports')}"
        replaced = ", ".join(
            f"{c} = CASE WHEN {larger} THEN excluded.{c} ELSE reports.{c} END"
            for c in ("work", "activity")
        )
        self._x(
            f"INSERT INTO reports (ip, window_start, anchor, {', '.join(COUNTS)}, work, activity) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (ip, window_start, anchor) DO UPDATE SET {bigger}, {replaced}",
            (*key, anchor, *(new[c] for c in COUNTS), *parts),
        )

    def _report_sums(self, key: tuple[str, float], row: dict[str, Any]) -> dict[str, Any]:
        """The suspect's hashrate estimate and timeline from all its reports' work and
        timelines together - what one scan of all their flows gives. Reports stored before
        schema version 3 have neither: then the estimate stays the largest one seen, and
        the timeline holds the reports that have one."""
        found = self._x(
            "SELECT work, activity FROM reports WHERE ip = ? AND window_start = ?", key
        ).fetchall()
        whole = Suspect(key[0], key[1], row["first_seen"], row["last_seen"])
        whole.reported_hashrate = row["reported_hashrate"]
        whole.submits = row["submits"]
        complete = True
        for work, timeline in found:
            if timeline is not None:
                whole.activity = activity.merge(
                    whole.activity, _timeline(json.loads(timeline)), activity.SUSPECT_CAP
                )
            if work is None:
                complete = False
                continue
            stored = json.loads(work)
            whole.merge_work(
                plain.from_plain(dict[str, ShareWork], stored["work"]), stored["unread_flows"]
            )
        out: dict[str, Any] = {"activity": [list(b) for b in whole.activity]}
        if complete:
            rate = estimate(whole)
            out.update(zip(RATE_COLUMNS, (rate.hs, rate.low, rate.high, rate.method), strict=True))
        return out

    def _count_sums(self, key: tuple[str, float]) -> dict[str, int]:
        sums = ", ".join(f"SUM({c})" for c in COUNTS)
        row = self._x(
            f"SELECT {sums} FROM reports WHERE ip = ? AND window_start = ?", key
        ).fetchone()
        return {c: int(v or 0) for c, v in zip(COUNTS, row, strict=True)}

    def _merge_evidence(self, key: tuple[str, float], rows: list[dict[str, Any]]) -> None:
        """Upsert the new evidence flows, then keep the MAX_EVIDENCE_FLOWS strongest."""
        cols = ("ip", "window_start", *EVIDENCE_COLUMNS)
        keep_max = ("flow_end", "score")
        updates = ", ".join(
            f"{c} = CASE WHEN excluded.{c} > evidence.{c} THEN excluded.{c} ELSE evidence.{c} END"
            if c in keep_max
            else f"{c} = excluded.{c}"
            for c in EVIDENCE_COLUMNS[2:]
        )
        self._many(
            f"INSERT INTO evidence ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT (ip, window_start, community_id, flow_start) DO UPDATE SET {updates}",
            [(*key, *(_column_value(c, r[c]) for c in EVIDENCE_COLUMNS)) for r in rows],
        )
        ranked = self._x(
            "SELECT community_id, flow_start FROM evidence WHERE ip = ? AND window_start = ? "
            f"ORDER BY score DESC, flow_start, community_id{self.backend.by_bytes}",
            key,
        ).fetchall()
        self._many(
            "DELETE FROM evidence WHERE ip = ? AND window_start = ? "
            "AND community_id = ? AND flow_start = ?",
            [(*key, *row) for row in ranked[MAX_EVIDENCE_FLOWS:]],
        )

    def query(self, since: float | None = None, ip: str | None = None) -> list[dict[str, Any]]:
        """Suspects last seen at or after ``since`` (epoch seconds; traffic time, not the
        time they were stored), of ``ip`` if given, by first seen then IP; each with its
        ``evidence`` flows, strongest first. Plain data: lists decoded from JSON."""
        where, params = ["1 = 1"], []
        if since is not None:
            where.append("s.last_seen >= ?")
            params.append(since)
        if ip is not None:
            where.append("s.ip = ?")
            params.append(ip)
        condition = " AND ".join(where)
        text = self.backend.by_bytes
        self._connected()
        try:
            self._x(self.backend.begin_read)  # one snapshot for both reads; writers go on
            try:
                rows = self._x(
                    f"SELECT {', '.join('s.' + c for c in SUSPECT_COLUMNS)} FROM suspects s "
                    f"WHERE {condition} ORDER BY s.first_seen, s.ip{text}, s.window_start",
                    params,
                ).fetchall()
                flows = self._x(
                    f"SELECT e.ip, e.window_start, {', '.join('e.' + c for c in EVIDENCE_COLUMNS)}"
                    " FROM evidence e JOIN suspects s"
                    " ON s.ip = e.ip AND s.window_start = e.window_start"
                    f" WHERE {condition} ORDER BY e.score DESC, e.flow_start, e.community_id{text}",
                    params,
                ).fetchall()
                self._x("COMMIT")
            except BaseException:
                _rollback(self.conn)
                raise
        except self.errors as exc:
            reason = _one_line(exc, self.url)
            raise StoreError(f"{self.shown}: cannot read the suspect store ({reason})") from None
        out: list[dict[str, Any]] = []
        by_key: dict[tuple[str, float], list[dict[str, Any]]] = {}
        for row in rows:
            suspect = {c: _decoded(c, v) for c, v in zip(SUSPECT_COLUMNS, row, strict=True)}
            suspect["evidence"] = by_key.setdefault((suspect["ip"], suspect["window_start"]), [])
            out.append(suspect)
        for row in flows:
            kept = by_key.get((row[0], row[1]))
            if kept is not None:
                kept.append(
                    {c: _decoded(c, v) for c, v in zip(EVIDENCE_COLUMNS, row[2:], strict=True)}
                )
        return out


def schema_version(conn: Connection, backend: Backend = SQLITE) -> int:
    """The store's schema version; 0 for a new (empty) database."""
    if conn.execute(backend.sql(backend.table_exists), ("schema_version",)).fetchone() is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def _refuse_newer(current: int, latest: int) -> None:
    if current > latest:
        raise StoreError(
            f"written by a newer minewatch (schema version {current}; this one knows up "
            f"to {latest}): upgrade minewatch to read it"
        )


def migrate(conn: Connection, backend: Backend, migrations: list[tuple[str, ...]]) -> int:
    """Bring the schema to ``len(migrations)`` in one transaction; the version it has now.
    A store of a later version than the list knows is refused (StoreError). A store that is
    up to date is only read: a reader must not wait for a writer's lock."""
    latest = len(migrations)
    current = schema_version(conn, backend)
    _refuse_newer(current, latest)
    if current == latest:
        return current
    try:
        _begin_write(conn, backend)
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        current = schema_version(conn, backend)  # again, under the lock: someone may have
        _refuse_newer(current, latest)  # migrated it meanwhile
        for version in range(current + 1, latest + 1):
            for statement in migrations[version - 1]:
                conn.execute(statement)
        if latest > current:
            conn.execute("DELETE FROM schema_version")
            conn.execute(backend.sql("INSERT INTO schema_version (version) VALUES (?)"), (latest,))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return max(current, latest)


def _begin_write(conn: Connection, backend: Backend) -> None:
    """Start a write transaction holding the store's write lock (module docstring)."""
    for statement in backend.begin_write:
        conn.execute(statement)


def _rollback(conn: Connection) -> None:
    """Roll back after a failure, with a ROLLBACK statement: psycopg's ``rollback()`` does
    nothing on an autocommit connection, which would leave PostgreSQL's transaction open
    and aborted, failing every later statement. A rollback that fails too (no transaction
    left, the connection gone) must not hide the first error, which the caller raises."""
    with contextlib.suppress(Exception):
        conn.execute("ROLLBACK")


def _one_line(exc: BaseException, url: str) -> str:
    """A driver's message as a message shows it: on one line (libpq's run over several,
    with DETAIL and HINT), escaped, and without a password of ``url``."""
    text = " ".join(str(exc).split())
    if url:
        from detector.sinks import postgres

        text = postgres.scrubbed(text, url)
    return escape(text)


def _suspect_row(s: Suspect, sensor: str | None, now: float) -> dict[str, Any]:
    rate = estimate(s)
    return {
        "ip": s.ip,
        "window_start": s.window_start,
        "first_seen": s.first_seen,
        "last_seen": s.last_seen,
        "flow_count": s.flow_count,
        "score": s.score,
        "top_rule": s.top.top_rule if s.flows else None,
        "role": s.role,
        "rules": sorted(s.rule_hits),
        "dialects": sorted(s.dialects),
        "coins": list(s.coins),
        "algos": list(s.algos),
        "pools": [p for p, _ in s.pools.most_common()],
        "pool_names": sorted(s.pool_names),
        "pool_hosts": list(s.pool_hosts),
        "wallets": list(s.wallets),
        "logins": list(s.logins),
        "workers": list(s.workers),
        "agents": list(s.agents),
        "nodes": list(s.nodes),
        "jobs": s.jobs,
        "submits": s.submits,
        "accepted": s.accepted,
        "reported_hashrate": s.reported_hashrate,
        **dict(zip(RATE_COLUMNS, (rate.hs, rate.low, rate.high, rate.method), strict=True)),
        "activity": [list(b) for b in s.activity],
        "sensor": sensor,
        "updated_at": now,
    }


def _report_parts(s: Suspect) -> tuple[str, str]:
    """What a report's estimate and timeline are made of, as the JSON text stored with it."""
    work = {"work": plain.to_plain(s.work), "unread_flows": s.unread_flows}
    return json.dumps(work, separators=(",", ":")), json.dumps(s.activity)


def _timeline(buckets: list[list[Any]]) -> list[tuple[float, float, int, int]]:
    return [(float(a), float(b), int(c), int(d)) for a, b, c, d in buckets]


def _evidence_row(v: Any) -> dict[str, Any]:
    r, f = v.record, v.record.facts
    host = None
    if f is not None:
        host = f.pool_host or (f.tls or {}).get("sni") or (f.http or {}).get("host")
    dialects = sorted(v.dialects)
    return {
        "community_id": community_id(r),
        "flow_start": r.first_ts,
        "flow_end": r.last_ts,
        "src_ip": r.client_ip,
        "src_port": r.client_port,
        "dst_ip": r.server_ip,
        "dst_port": r.server_port,
        "proto": r.proto,
        "score": v.score,
        "rules": list(v.rules),
        "dialect": dialects[0] if dialects else None,
        "pool_host": host,
    }


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A stored row (JSON columns still text) and a new one as one row; counts are
    summed over reports by the caller."""
    out = dict(new)
    out["first_seen"] = min(old["first_seen"], new["first_seen"])
    out["last_seen"] = max(old["last_seen"], new["last_seen"])
    if old["score"] >= new["score"]:  # ties: the stored top rule stays
        out["score"], out["top_rule"] = old["score"], old["top_rule"]
    for name in SORTED_SETS:
        out[name] = sorted(set(json.loads(old[name])) | set(new[name]))
    for name, cap in BAGS.items():
        bag = list(json.loads(old[name]))
        for value in new[name]:
            if len(bag) >= cap:
                break
            if value not in bag:
                bag.append(value)
        out[name] = bag
    out["role"] = merged_role(
        old["role"], new["role"], frozenset(out["dialects"]), bool(out["pool_names"])
    )
    rates = [r for r in (old["reported_hashrate"], new["reported_hashrate"]) if r is not None]
    out["reported_hashrate"] = max(rates) if rates else None
    # the largest estimate seen, with its interval and method (_report_sums recomputes them
    # when every report has its work stored)
    if old["hashrate_estimate"] is not None and (
        new["hashrate_estimate"] is None or old["hashrate_estimate"] > new["hashrate_estimate"]
    ):
        for name in RATE_COLUMNS:
            out[name] = old[name]
    out["sensor"] = new["sensor"] if new["sensor"] is not None else old["sensor"]
    return out


def _column_value(name: str, value: Any) -> Any:
    """A value as stored. PostgreSQL's TEXT cannot hold NUL, and a pool host comes from a
    packet's JSON, where ``\\u0000`` is one escape away: a NUL must not make a miner's
    suspect unstorable, so it is stored as U+FFFD by both backends alike (JSON columns
    keep it, escaped by ``json.dumps``)."""
    if name in _JSON_COLUMNS:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _decoded(name: str, value: Any) -> Any:
    return json.loads(value) if name in _JSON_COLUMNS and value is not None else value


_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float) -> float:
    """``--since``: an ISO-8601 time (UTC when it names no offset) or a duration back
    from ``now`` (``90s``, ``30m``, ``2h``, ``7d``, ``1w``), as epoch seconds."""
    value = text.strip()
    match = _DURATION.fullmatch(value.lower())
    if match:
        return now - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise StoreError(
            f"--since {text!r}: not an ISO-8601 time or a duration like 30m, 2h, 7d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    stamp = when.timestamp()
    if not math.isfinite(stamp):
        raise StoreError(f"--since {text!r}: not a usable time")
    return stamp
