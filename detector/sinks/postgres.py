"""Connecting the suspect store (store.py) to PostgreSQL through psycopg 3, and showing a
PostgreSQL URL without its password.

psycopg is imported only here, and this module only when a ``postgresql://`` or
``postgres://`` URL is opened: the commands that never touch PostgreSQL do not pay its
import at start-up. The connection is in autocommit mode, like the SQLite one
(``isolation_level=None``): the store writes its own ``BEGIN`` / ``COMMIT``, so both
drivers run the same transaction code.

A URL may carry a password (``postgresql://user:secret@host/db`` or ``?password=``). It
must never reach a terminal or a log: ``masked`` is the URL as shown, and ``scrubbed``
takes the password out of a driver's message too (libpq quotes parts of a bad URL).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_S = 10  # a server that does not answer: a sensor's start fails, not hangs
_URL = re.compile(r"([a-z][a-z0-9+.-]*://)([^/?#]*)(.*)", re.IGNORECASE | re.DOTALL)
_PASSWORD_PARAM = re.compile(r"(password=)([^&#]*)", re.IGNORECASE)


def is_postgres_url(url: str) -> bool:
    """A ``postgresql://`` or ``postgres://`` URL (scheme in any case)."""
    scheme, sep, rest = url.strip().partition(":")
    return bool(sep) and scheme.lower() in SCHEMES and rest.startswith("//")


def _split(url: str) -> tuple[str, str, str]:
    match = _URL.fullmatch(url.strip())
    if match is None:
        return "", "", url
    scheme, netloc, rest = match.groups()
    return scheme, netloc, rest


def passwords(url: str) -> list[str]:
    """Every password the URL holds, as written and percent-decoded."""
    _, netloc, rest = _split(url)
    found = []
    userinfo, at, _ = netloc.rpartition("@")
    if at and ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    found += [m.group(2) for m in _PASSWORD_PARAM.finditer(rest)]
    return [p for raw in found if raw for p in {raw, unquote(raw)}]


def masked(url: str) -> str:
    """The URL with each password replaced by ``***``: what messages show."""
    scheme, netloc, rest = _split(url)
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:***@{hostport}"
    return scrubbed(scheme + netloc + _PASSWORD_PARAM.sub(r"\1***", rest), url)


def scrubbed(message: str, url: str) -> str:
    """``message`` with every password of ``url`` replaced by ``***`` (longest first, so
    a password that contains another is not left half shown)."""
    for secret in sorted(passwords(url), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def connect(url: str, lock_timeout_s: float) -> Any:
    """An autocommit psycopg connection to the database ``url`` names, whose statements
    give up waiting for a lock after ``lock_timeout_s`` (SQLite's busy timeout: a writer
    stuck behind a hung one fails, and a sensor's next write tries again). Raises
    psycopg's errors (a bad URL is a ``psycopg.ProgrammingError``); the caller words them."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    scheme, sep, rest = url.strip().partition(":")
    params = conninfo_to_dict(scheme.lower() + sep + rest)  # libpq wants the scheme lower case
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    params.setdefault("application_name", "minewatch")
    conn = psycopg.connect(autocommit=True, **params)
    try:
        conn.execute(f"SET lock_timeout = {int(lock_timeout_s * 1000)}")
    except BaseException:
        conn.close()
        raise
    return conn


def driver_errors() -> tuple[type[Exception], ...]:
    """What psycopg raises when the database fails (the store turns them into StoreError)."""
    import psycopg

    return (psycopg.Error,)
