"""A throw-away PostgreSQL server for the suspect store's tests (tests/conftest.py's
``pg_cluster`` fixture): Debian's ``initdb`` and ``pg_ctl`` (package ``postgresql``,
installed by ``make sysdeps``) make a cluster in a temporary directory and start it on a
Unix socket in that directory only (``listen_addresses=''``: nothing on the network, no
clash with anything else on the machine). initdb and postgres refuse to run as root, so as
root they run as the ``postgres`` system user, which then owns the directory.

The cluster's default collation is ICU's English one, not the C locale: the store must
sort text by bytes (``Backend.by_bytes``) whatever the server's locale, and a test on a
C-locale server would not see the difference. Durability is off (``fsync``): nothing here
outlives the test run.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "minewatch"
# A role that logs in with a password over the socket (every other role: trust), for the
# tests of a wrong password.
PASSWORD_USER = "sensor"
PASSWORD = "s3cret-Pa55"


def find_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin that has initdb and pg_ctl."""
    found = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            version = re.match(r"\d+", bindir.parent.name)
            found.append((int(version.group()) if version else 0, bindir))
    return max(found)[1] if found else None


def _free_port() -> int:
    """A port no local TCP socket uses: the server listens on none, but the port names
    its socket file, and a clash with another cluster's is better avoided all the same."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    bindir: Path
    root: Path  # the socket's directory; the data directory is root/data
    port: int
    _names: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str, user: str = SUPERUSER, password: str | None = None) -> str:
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@/{database}?host={self.root}&port={self.port}"

    def sql(self, statement: str, database: str = "postgres") -> None:
        """One statement as the superuser (autocommit: CREATE DATABASE needs it)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)

    def create_database(self, owner: str = SUPERUSER) -> str:
        """A new, empty database; its name."""
        name = f"t{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} OWNER {owner}")
        return name

    def new_database(self) -> str:
        """A new, empty database; its URL (as the superuser)."""
        return self.url(self.create_database())

    def stop(self) -> None:
        """Stop the server (immediately: nothing to keep) and remove every file."""
        try:
            if (self.data / "postmaster.pid").exists():
                subprocess.run(
                    _as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data),
                               "-m", "immediate", "-w", "stop"]),
                    capture_output=True, timeout=60, check=False,
                )  # fmt: skip
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _as_owner(command: list[str]) -> list[str]:
    """``command`` as the postgres user when we are root (initdb, postgres refuse root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def start(bindir: Path) -> Cluster:
    """Make and start a cluster; on any failure, remove what was made and raise."""
    root = Path(tempfile.mkdtemp(prefix="mw-pg-"))
    cluster = Cluster(bindir, root, _free_port())
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        _run(cluster, [str(bindir / "initdb"), "-D", str(cluster.data), "-U", SUPERUSER,
                       "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                       "--locale-provider=icu", "--icu-locale=en-US"])  # fmt: skip
        hba = cluster.data / "pg_hba.conf"  # first match wins: the password role first
        hba.write_text(f"local all {PASSWORD_USER} scram-sha-256\n" + hba.read_text())
        options = (f"-p {cluster.port} -k {root} -c listen_addresses='' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=40 "
                   "-c shared_buffers=32MB")  # fmt: skip
        _run(cluster, [str(bindir / "pg_ctl"), "-D", str(cluster.data), "-l",
                       str(root / "server.log"), "-o", options, "-w", "-t", "60", "start"])  # fmt: skip
        cluster.sql(f"CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _run(cluster: Cluster, command: list[str]) -> None:
    proc = subprocess.run(_as_owner(command), capture_output=True, text=True, timeout=120,
                          cwd=cluster.root)  # fmt: skip
    if proc.returncode != 0:
        log = cluster.root / "server.log"
        tail = log.read_text()[-2000:] if log.is_file() else ""
        raise RuntimeError(f"{command[0]} failed ({proc.returncode}): {proc.stderr}{tail}")
