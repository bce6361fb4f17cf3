"""Host lists: names of a crypto network's own infrastructure, and the rules' ``list``s.

A host list is a text file, one name a line, ``#`` starting a comment (its source): a
name matches itself and every name below it (``chain.love`` matches
``bootstrap.filecoin.chain.love``; ``*.`` before a name says the same). Lists are data,
validated when loaded at start-up: a bad line stops minewatch with ``file:line: reason``
(exit 2), never a traceback.

Two readers: the rules' ``list`` operator (rules/engine.py, any ``lists/NAME.txt``) and
the **network names** here - ``signatures/lists/<network>-names.txt`` for the networks
in NETWORKS - which say "this host looked the network's own infrastructure up":

* Filecoin's bootstrap peers, drand and proof-parameter servers: enrich.py matches them
  against the names a flow's client itself used (its DNS questions, TLS SNI, HTTP Host),
  and nodehosts.py turns that, beside libp2p flows, into a Filecoin node
  (docs/ARCHITECTURE.md §3, "Filecoin and libp2p");
* Chia's introducers and seeders: chia.py reads them in a DNS flow's questions and in the
  passive-DNS names of a TLS peer's address (docs/ARCHITECTURE.md §3, "Chia").

A network's list says what a name is evidence of, so every name in it carries its source:
a ``# comment`` on its line, or a ``# source: ...`` line above its group (a group ends at
a blank line or a bare ``#``); a name without one is a bad line. The DNS dissector keeps
the questions of a lookup that names any of them (dissect/dns.py ``worth_noting``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from detector.errors import InputError

# Networks whose infrastructure names are shipped (signatures/lists/<network>-names.txt).
NETWORKS: tuple[str, ...] = ("filecoin", "chia")
MAX_NAMES = 8  # matched names kept per flow
# network_of's memo holds at most this many names, then starts over: a capture asks about
# few distinct names (the generated bench input: 68 in 19,108 calls), a hostile one about
# as many as it likes - at up to 253 characters a name, 8,192 keep the memo under ~3 MB.
MAX_MEMO = 8192
_MISSING = object()
# A DNS label as host lists write them: letters, digits, hyphen, and underscore (service
# labels such as libp2p's ``_dnsaddr``), 1-63 characters, no hyphen at either end.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


class HostListError(InputError):
    """A host list is invalid; the message names file, line and reason."""


def host_of(line: str) -> str:
    """The name on a host-list line (comment and ``*.`` taken off), lower case."""
    return line.split("#", 1)[0].strip().lower().removeprefix("*.").rstrip(".")


def name_problem(host: str) -> str | None:
    """Why ``host`` is not a host name a list may hold (None: it is one)."""
    if len(host) > 253:
        return "longer than 253 characters"
    labels = host.split(".")
    if len(labels) < 2:
        return "not a domain name (one label)"
    for label in labels:
        if not _LABEL.fullmatch(label):
            return f"bad label {label!r} (letters, digits, '-', '_'; 1-63 characters)"
    return None


def read_host_list(path: Path, sourced: bool = False) -> frozenset[str]:
    """Every name of a host list; raises HostListError on the first bad line.
    ``sourced``: every name must carry its source (a network's list: module docstring)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HostListError(f"{path}: cannot read ({exc})") from None
    names = set()
    group_source = False  # a "# source:" line opened the group this line is in
    for lineno, line in enumerate(lines, 1):
        text, hash_, comment = line.partition("#")
        if not text.strip():  # a comment line, a bare "#" or a blank line
            remark = comment.strip().lower()
            if not remark:
                group_source = False
            elif remark.startswith(("source:", "sources:")):
                group_source = True
            continue
        host = host_of(line)
        problem = name_problem(host)
        if problem is not None:
            raise HostListError(f"{path}:{lineno}: bad host name {host!r}: {problem}")
        if sourced and not (comment.strip() or group_source):
            raise HostListError(
                f"{path}:{lineno}: {host!r} has no source (a '# source' comment on its "
                "line, or a '# source:' line above its group)"
            )
        names.add(host)
    return frozenset(names)


def in_domains(host: str, domains: frozenset[str]) -> bool:
    """True if ``host`` is one of ``domains`` or a name below one (label walk)."""
    labels = host.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def _base(name: str) -> str:
    """A name's last two labels (its registered domain, near enough): the quick test."""
    head, dot, tld = name.rpartition(".")
    return head.rpartition(".")[2] + dot + tld


@dataclass(frozen=True, slots=True, eq=False, repr=False)  # see startup.py
class NetworkNames:
    """Each network's infrastructure names (network -> names).

    Asked for every flow's names and every DNS answer, so a lookup is a dictionary walk
    over the host's suffixes behind a one-set test of its last two labels (most names
    share none with any list): walking every network's set with joined label slices
    cost a tenth of a rules-only scan of the bench capture (stop 27, cProfile)."""

    lists: dict[str, frozenset[str]] = field(default_factory=dict)
    index: dict[str, str] = field(default_factory=dict, compare=False)  # name -> network
    bases: frozenset[str] = field(default_factory=frozenset, compare=False)
    # host as asked -> network_of's answer (None too): DNS answers and flows' names repeat
    memo: dict[str, str | None] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        index: dict[str, str] = {}
        for network, names in self.lists.items():  # NETWORKS order: the first list wins
            for name in names:
                index.setdefault(name, network)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "bases", frozenset(_base(n) for n in index))

    def named(self, network: str, host: str) -> bool:
        """Does ``network``'s list name ``host`` (or a name above it)?"""
        names = self.lists.get(network)
        return names is not None and in_domains(host, names)

    def network_of(self, host: str) -> str | None:
        """The network whose list names ``host`` or the nearest name above it, if any.
        Memoized per host (bounded by MAX_MEMO): the same few names are asked about for
        every DNS answer and flow, and the lookup below is a pure function of ``host``."""
        memo = self.memo
        network = memo.get(host, _MISSING)
        if network is not _MISSING:
            return network  # type: ignore[return-value]
        network = self._lookup(host)
        if len(memo) >= MAX_MEMO:
            memo.clear()  # a full reset is cheap and keeps the memo bounded
        memo[host] = network
        return network

    def _lookup(self, host: str) -> str | None:
        """network_of without the memo: a dictionary walk over the host's suffixes."""
        name = host.lower().rstrip(".")
        if _base(name) not in self.bases:
            return None
        index, at = self.index, 0
        while True:
            network = index.get(name[at:] if at else name)
            if network is not None:
                return network
            at = name.find(".", at) + 1
            if not at:
                return None

    def match(self, hosts: Iterable[str]) -> tuple[str, list[str]] | None:
        """(network, the hosts it names) for the first network that names one of
        ``hosts`` (in NETWORKS order); None when no list names any."""
        found: dict[str, list[str]] = {}
        memo = self.memo
        for host in hosts:
            # network_of's memo read here first: asked for most flows' names, and nearly
            # every one is remembered (and names no network): a call fewer per name
            network = memo.get(host, _MISSING)
            if network is _MISSING:
                network = self.network_of(host)
            if network is not None:
                kept = found.setdefault(network, [])
                if host not in kept and len(kept) < MAX_NAMES:
                    kept.append(host)
        if not found:
            return None  # (most flows: no walk over the networks)
        for network in self.lists:
            if network in found:
                return network, found[network]
        return None

    def __bool__(self) -> bool:
        return bool(self.lists)


def load_network_names(directory: Path) -> NetworkNames:
    """``<network>-names.txt`` of every network in NETWORKS (a missing file: none; a file
    without a name is a mistake, said as one)."""
    lists = {}
    for network in NETWORKS:
        path = directory / f"{network}-names.txt"
        if path.is_file():
            names = read_host_list(path, sourced=True)
            if not names:
                raise HostListError(f"{path}: no names")
            lists[network] = names
    return NetworkNames(lists)
