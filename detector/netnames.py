"""Host lists: names of a crypto network's own infrastructure, and the rules' ``list``s.

A host list is a text file, one name a line, ``#`` starting a comment (its source): a
name matches itself and every name below it (``chain.love`` matches
``bootstrap.filecoin.chain.love``; ``*.`` before a name says the same). Lists are data,
validated when loaded at start-up: a bad line stops minewatch with ``file:line: reason``
(exit 2), never a traceback.

Two readers: the rules' ``list`` operator (rules/engine.py, any ``lists/NAME.txt``) and
the **network names** here - ``signatures/lists/<network>-names.txt`` for the networks
in NETWORKS - which enrich.py matches against the names a flow's client itself used (its
DNS questions, TLS SNI, HTTP Host) to say "this host looked up Filecoin's bootstrap
peers" (nodehosts.py turns that, beside libp2p flows, into a Filecoin node;
docs/ARCHITECTURE.md §3, "Filecoin and libp2p").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from detector.errors import InputError

# Networks whose infrastructure names are shipped (signatures/lists/<network>-names.txt).
NETWORKS: tuple[str, ...] = ("filecoin",)
MAX_NAMES = 8  # matched names kept per flow
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


def read_host_list(path: Path) -> frozenset[str]:
    """Every name of a host list; raises HostListError on the first bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise HostListError(f"{path}: cannot read ({exc})") from None
    names = set()
    for lineno, line in enumerate(lines, 1):
        host = host_of(line)
        if not host:
            continue
        problem = name_problem(host)
        if problem is not None:
            raise HostListError(f"{path}:{lineno}: bad host name {host!r}: {problem}")
        names.add(host)
    return frozenset(names)


def in_domains(host: str, domains: frozenset[str]) -> bool:
    """True if ``host`` is one of ``domains`` or a name below one (label walk)."""
    labels = host.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


@dataclass(frozen=True, slots=True)
class NetworkNames:
    """Each network's infrastructure names (network -> names)."""

    lists: dict[str, frozenset[str]] = field(default_factory=dict)

    def network_of(self, host: str) -> str | None:
        """The network whose list names ``host`` (or a name above it), if any."""
        for network, names in self.lists.items():
            if in_domains(host, names):
                return network
        return None

    def match(self, hosts: Iterable[str]) -> tuple[str, list[str]] | None:
        """(network, the hosts it names) for the first network that names one of
        ``hosts`` (in NETWORKS order); None when no list names any."""
        found: dict[str, list[str]] = {}
        for host in hosts:
            network = self.network_of(host)
            if network is not None:
                kept = found.setdefault(network, [])
                if host not in kept and len(kept) < MAX_NAMES:
                    kept.append(host)
        for network in self.lists:
            if network in found:
                return network, found[network]
        return None

    def __bool__(self) -> bool:
        return bool(self.lists)


def load_network_names(directory: Path) -> NetworkNames:
    """``<network>-names.txt`` of every network in NETWORKS (a missing file: none)."""
    lists = {}
    for network in NETWORKS:
        path = directory / f"{network}-names.txt"
        if path.is_file():
            lists[network] = read_host_list(path)
    return NetworkNames(lists)
