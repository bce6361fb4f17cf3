"""Mining pool intelligence: which host names and endpoints belong to mining pools.

Loaded from ``signatures/pools/*.csv`` (columns host, port, scheme, pool, coin,
confidence; ``#`` comment lines allowed). A host ``*.example.org`` matches that domain
and all its subdomains. Besides the listed names, every registered domain that carries at
least two listed pool hosts is also matched as a suffix (``eu1.pool.example`` and
``us1.pool.example`` make ``*.pool.example``), so a new regional host of a known pool is
still recognised; those matches are reported as ``domain`` (weaker than ``host``).

Lookups are dictionary probes per label of the name, so thousands of entries cost the
same as ten.
"""

from __future__ import annotations

import csv
import dataclasses
import ipaddress
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detector import parsedcache
from detector.errors import InputError

COLUMNS = ("host", "port", "scheme", "pool", "coin", "confidence")
# Answers ``PoolList.match`` remembers before it forgets them all (names repeat a lot; a
# full reset is cheap). 8,192 like the other address memos (flows.ip_text, netnames): a
# key is mostly a server address with its port, so the memo grows with the hosts a
# capture has until the bound, and with the 65,536 it held before it pinned ~1.9 MB (its
# keys and their address texts) at bench-scale's real traffic with new hosts at 10 M
# packets (9,915 keys), on the way to ~10 MB; real-1m asks ~1,450 distinct keys.
MATCH_MEMO = 8192
# second-level labels under which registrations happen one level deeper (co.uk, com.cn...)
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ac", "gov", "edu"})


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """One row of a pool list (a docstring also spares dataclass making one from
    ``inspect.signature`` at import)."""

    host: str  # lower-case name or IP literal; no "*." prefix
    port: int | None
    scheme: str  # stratum+tcp, stratum+ssl, wss (browser mining)...
    pool: str
    coin: str | None
    wildcard: bool
    source: str  # "file:line"


@dataclass(frozen=True, slots=True)
class PoolMatch:
    """How a host name or endpoint matched the pool lists."""

    pool: str
    coin: str | None
    kind: str  # "endpoint" (host and port), "host", "suffix", "domain"
    matched: str  # the listed name that matched
    scheme: str
    source: str


def registered_domain(host: str) -> str:
    labels = host.split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def _is_ip(text: str) -> bool:
    if not (text[-1:].isdigit() or ":" in text):
        return False  # a name ends in a letter (its TLD); parsing every host costs start-up
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class PoolList:
    """All pool entries with fast host, suffix and endpoint lookups."""

    def __init__(self, entries: list[PoolEntry]) -> None:
        self.entries = entries
        self.unroutable = 0  # rows dropped at load: addresses that cannot be a pool
        self._hosts: dict[str, list[PoolEntry]] = defaultdict(list)
        self._wild: dict[str, PoolEntry] = {}
        self._domains: dict[str, PoolEntry] = {}
        self._cache: dict[tuple[str, int | None], PoolMatch | None] = {}
        per_domain: dict[str, list[PoolEntry]] = defaultdict(list)
        for e in entries:
            if e.wildcard:
                self._wild.setdefault(e.host, e)
            else:
                self._hosts[e.host].append(e)
                if not _is_ip(e.host) and "." in e.host:
                    per_domain[registered_domain(e.host)].append(e)
        for domain, members in per_domain.items():
            if len({m.host for m in members}) >= 2 and domain not in self._wild:
                pool = Counter(m.pool for m in members).most_common(1)[0][0]
                first = next(m for m in members if m.pool == pool)
                self._domains[domain] = first
        # Whether a wildcard suffix or a domain is all digits and dots. If none is, a name
        # that is (an IPv4 address: most flows' server, looked up with its port, so mostly
        # a cache miss) can match a listed host only: its suffixes and its registered
        # domain are all digits and dots too.
        self._numeric_keys = any(_numeric(key) for key in (*self._wild, *self._domains))

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, host: str | None, port: int | None = None) -> PoolMatch | None:
        """Best match for a host name or IP (and port): endpoint > host > suffix > domain."""
        if not host:
            return None
        key = (host, port)
        cached = self._cache.get(key, _MISSING)
        if cached is not _MISSING:
            return cached  # type: ignore[return-value]
        result = self._match(host, port)
        if len(self._cache) >= MATCH_MEMO:
            self._cache.clear()  # names repeat a lot; a full reset is cheap and bounded
        self._cache[key] = result
        return result

    def match_address(self, ip: str, port: int | None) -> PoolMatch | None:
        """``match`` for a flow's server address: most addresses are listed nowhere, and
        each flow asks about its own (ip, port), mostly a cache miss. An IPv4 address not
        listed as a host matches nothing unless a suffix or domain is numeric (see
        __init__): that is said here without the cache's key, its miss and ``_match``
        (which would strip a final dot: such a text goes there)."""
        if self.unlisted_address(ip):
            return None
        return self.match(ip, port)

    def unlisted_address(self, ip: str) -> bool:
        """Does ``match_address`` answer None for ``ip`` without a lookup: an IPv4 address
        (not ending in a dot) listed as no host, where no suffix or domain is numeric?
        (enrich_all asks it first, and looks up with ``match`` only what it leaves.)"""
        return not self._numeric_keys and ip not in self._hosts and _numeric(ip) and ip[-1] != "."

    def _match(self, host: str, port: int | None) -> PoolMatch | None:
        name = host.strip().lower().rstrip(".")
        if name.startswith("[") and "]" in name:
            name = name[1 : name.index("]")]
        elif name.count(":") == 1:
            name = name.split(":", 1)[0]
        listed = self._hosts.get(name)
        if listed:
            for e in listed:
                if port is not None and e.port == port:
                    return _m(e, "endpoint")
            return _m(listed[0], "host")
        if not self._numeric_keys and _numeric(name):
            return None  # no suffix or domain can be one of its own (see __init__)
        labels = name.split(".")
        for i in range(len(labels) - 1):
            suffix = ".".join(labels[i:])
            wild = self._wild.get(suffix)
            if wild is not None and (wild.port is None or port is None or wild.port == port):
                return _m(wild, "suffix")
        domain = self._domains.get(registered_domain(name))
        if domain is not None:
            return _m(domain, "domain")
        return None


_MISSING = object()


def _numeric(name: str) -> bool:
    """All digits and dots (with a digit): an IPv4 address, or a suffix of one."""
    return name.replace(".", "").isdigit()


def _m(e: PoolEntry, kind: str) -> PoolMatch:
    return PoolMatch(
        pool=e.pool, coin=e.coin, kind=kind, matched=e.host, scheme=e.scheme, source=e.source
    )


def parse_pool_file(path: Path) -> list[PoolEntry]:
    """Read one pool CSV; InputError names file and line of the first bad row. A shipped
    list's rows come out of the parsed cache (parsedcache.py) when its text is there."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    found, rows = parsedcache.lookup("pools", text)
    if found:
        name = path.name
        return [PoolEntry(*row[:6], f"{name}:{row[6]}") for row in rows]
    return _parse(path, text)


def cache_entries(paths: list[Path]) -> list[list[str]]:
    """The parsed cache's entries for the pool lists ``paths`` (tools/parsed_cache.py):
    each row's fields, its line number in place of the source."""
    entries = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        rows = [[*_fields(e)[:6], int(e.source.rsplit(":", 1)[1])] for e in _parse(path, text)]
        entries.append([text, json.dumps(rows, ensure_ascii=False, separators=(",", ":"))])
    return entries


def _fields(entry: PoolEntry) -> list[Any]:
    return [getattr(entry, f.name) for f in dataclasses.fields(entry)]


def _parse(path: Path, text: str) -> list[PoolEntry]:
    lines = text.splitlines()
    entries: list[PoolEntry] = []
    header_seen = False
    name = path.name
    for lineno, row in _rows(lines):
        if not header_seen:
            header_seen = True
            if [c.strip().lower() for c in row[: len(COLUMNS)]] == list(COLUMNS):
                continue
        if not row or not row[0].strip():
            raise InputError(f"{path}:{lineno}: missing host")
        if len(row) < 5:  # missing cells are empty (a host alone is a row)
            row = row + [""] * (5 - len(row))
        host, port_text, scheme, pool, coin = row[:5]  # each stripped below
        host = host.strip().lower().rstrip(".")
        wildcard = host.startswith("*.")
        if wildcard:
            host = host[2:]
        if not host or " " in host or "/" in host:
            raise InputError(f"{path}:{lineno}: bad host {host!r}")
        port: int | None = None
        port_text = port_text.strip()
        if port_text:
            port = int(port_text) if port_text.isdigit() else 0
            if not 0 < port < 65536:
                raise InputError(f"{path}:{lineno}: bad port {port_text!r}")
        ticker = coin.strip().upper()
        entries.append(
            PoolEntry(
                host,
                port,
                scheme.strip().lower() or "stratum+tcp",
                pool.strip() or host,
                ticker if 2 <= len(ticker) <= 6 and ticker.isalnum() else None,
                wildcard,
                f"{name}:{lineno}",
            )
        )
    return entries


def _rows(lines: list[str]) -> list[tuple[int, list[str]]]:
    """The CSV rows of the lines that are neither blank nor a comment, each with its line
    number (a quoted cell over several lines takes the number of its first)."""
    numbered = [(i, line) for i, line in enumerate(lines, 1) if line.lstrip()[:1] not in ("", "#")]
    rows = csv.reader([line for _, line in numbered])
    return list(zip([i for i, _ in numbered], rows, strict=False))  # fewer rows: see above


def load_pools(directory: Path) -> PoolList:
    entries: list[PoolEntry] = []
    if directory.is_dir():
        for path in sorted(directory.glob("*.csv")):
            entries.extend(parse_pool_file(path))
    usable = [e for e in entries if _routable(e.host)]
    pools = PoolList(usable)
    pools.unroutable = len(entries) - len(usable)
    return pools


def _routable(host: str) -> bool:
    """Whether a listed host can be a pool at all. Public lists sinkhole a pool's domain
    to 0.0.0.0 or 127.0.0.1 and carry private, multicast and documentation addresses;
    as pool rows they would make any local service on that port look like a pool. Names
    are kept; only addresses outside the global unicast space are dropped (and counted)."""
    if not _is_ip(host):
        return True
    address = ipaddress.ip_address(host)
    return address.is_global and not address.is_multicast


def merge_user_list(source: Path, target: Path) -> tuple[int, int]:
    """Merge a user's pool list (pool CSV, or one host per line) into ``target``.

    Returns (entries added, entries already present). The target is rewritten whole, so
    running the same update twice changes nothing.
    """
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{source}: cannot read ({exc})") from None
    if "," in text:
        new = parse_pool_file(source)
    else:
        new = []
        for lineno, line in enumerate(text.splitlines(), 1):
            host = line.split("#", 1)[0].strip().lower()
            if not host:
                continue
            if " " in host or "/" in host:
                raise InputError(f"{source}:{lineno}: bad host {host!r}")
            wildcard = host.startswith("*.")
            new.append(
                PoolEntry(
                    host=host[2:] if wildcard else host,
                    port=None,
                    scheme="stratum+tcp",
                    pool=host.removeprefix("*."),
                    coin=None,
                    wildcard=wildcard,
                    source=f"{source.name}:{lineno}",
                )
            )
    existing = parse_pool_file(target) if target.exists() else []
    keys = {(e.host, e.port, e.wildcard) for e in existing}
    added = [e for e in new if (e.host, e.port, e.wildcard) not in keys]
    merged = existing + list({(e.host, e.port, e.wildcard): e for e in added}.values())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="", encoding="utf-8") as fh:
            fh.write("# Pool entries added with `minewatch pools update`.\n")
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            for e in merged:
                host = f"*.{e.host}" if e.wildcard else e.host
                writer.writerow([host, e.port or "", e.scheme, e.pool, e.coin or "", ""])
    except OSError as exc:
        raise InputError(f"{target}: cannot write ({exc.strerror or exc})") from None
    return len(added), len(new) - len(added)
