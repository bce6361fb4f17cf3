"""Who owns an address: the owners file (CIDR -> entity, department, contact) and what
counts as an internal host.

Why: the people who act on a finding ask which organisation and department a mining
host belongs to, and how many hosts were looked at ("N screened, M mining, K entities",
issue 18). This module is base-stage data: plain values, no engine imports, so the
engine (screen.py), the report and any sink may use it.

The owners file is CSV with the header ``cidr,entity,department,contact``; department
and contact may be empty; blank lines and lines starting with ``#`` are skipped. IPv4
and IPv6 prefixes; overlapping prefixes are allowed and the longest one that holds an
address wins (a department's /24 inside its company's /16). Refused, with
``FILE:LINE: reason`` (InputError: the CLI prints one line and exits 2): a cidr that
does not parse, a cidr with host bits set (``192.168.1.5/24: host bits set`` - a typo
for /32 or for .0/24 would otherwise silently give a whole network to someone; we ask
the author to say which), the same prefix twice, a row without entity, a row with the
wrong number of columns, a file that is not UTF-8, and a file without the header (an
empty file included).

Lookups are meant for millions of calls: the prefixes are kept per address family as
one dict per prefix length, mapping the network's integer (shifted right by the host
bits) to its owner, and the lengths are tried longest first - at most one dict probe
per distinct length in the file (Python's ``ipaddress`` objects cost ~1 us to build per
address and a linear scan of networks grows with the file).

Internal addresses (``is_internal``): inside any owners prefix, else private space as
the issue defines it - RFC 1918 (10/8, 172.16/12, 192.168/16) or IPv6 unique local
addresses (fc00::/7, RFC 4193). Those ranges are defined once, here (PRIVATE_V4,
ULA_V6); flows.py's ``_internal`` (which end of a mid-session flow is the client) reads
them and adds RFC 6598's carrier-grade NAT space 100.64/10, which for orientation is
"our side" too but is not an organisation's own space. nodehosts.py's ``_is_private``
uses Python's ``ipaddress.is_private`` (which also counts loopback, link-local and the
documentation ranges) to pick the local end of a peer-to-peer pair; it is left as it is,
since changing it would move node hosts the tests and the corpus pin down.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from detector.csvdata import table_rows
from detector.errors import InputError

HEADER = ("cidr", "entity", "department", "contact")

# Private space as (network, mask) on 32-bit IPv4 integers: RFC 1918 §3.
PRIVATE_V4: tuple[tuple[int, int], ...] = (
    (0x0A000000, 0xFF000000),  # 10.0.0.0/8
    (0xAC100000, 0xFFF00000),  # 172.16.0.0/12
    (0xC0A80000, 0xFFFF0000),  # 192.168.0.0/16
)
# IPv6 unique local addresses, fc00::/7 (RFC 4193 §3.1): the top 7 bits of 128.
ULA_V6_TOP7 = 0x7E

# Distinct screened hosts kept per capture and per run (see ScreenedHosts).
MAX_SCREENED = 1_000_000


@dataclass(frozen=True, slots=True, eq=False, repr=False)  # see startup.py
class Owner:
    """One row of the owners file."""

    cidr: str
    entity: str
    department: str
    contact: str


def _parse_ip(ip: str) -> tuple[int, int] | None:
    """(version, integer) of an address's text; IPv4-mapped IPv6 counts as IPv4 (the
    engine writes IPv4 addresses as dotted quads, flows.ip_text). None if not an address.
    inet_pton is strict (dotted quads only for IPv4) and ~5x faster than ipaddress.
    It is taken from ``_socket``, the C module that ``socket`` re-exports it from (the same
    function, constants and errors; socket.py itself cannot load without it): socket.py
    adds nothing used here but its enum classes, made at import (~9 M instructions,
    callgrind). Imported here, not with the module: only an owners map or screening
    parses addresses. (dissect/dnsparse.py, screen.py and sinks/common.py do the same.)"""
    import _socket

    try:
        return 4, int.from_bytes(_socket.inet_pton(_socket.AF_INET, ip), "big")
    except (OSError, TypeError, ValueError):
        pass
    try:
        value = int.from_bytes(_socket.inet_pton(_socket.AF_INET6, ip.split("%", 1)[0]), "big")
    except (OSError, TypeError, ValueError):
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


def is_private(version: int, value: int) -> bool:
    """RFC 1918 or ULA (the module docstring says why these and no more)."""
    if version == 4:
        return any(value & mask == net for net, mask in PRIVATE_V4)
    return value >> 121 == ULA_V6_TOP7


class OwnerMap:
    """Owners of address space, longest prefix first (see the module docstring)."""

    def __init__(self, owners: list[Owner] | None = None) -> None:
        # per version: [(prefix length, host bits, {network >> host bits: owner})],
        # longest prefix first
        self._tables: dict[int, list[tuple[int, int, dict[int, Owner]]]] = {4: [], 6: []}
        self._owners: list[Owner] = []
        for owner in owners or []:
            self._add(owner)

    def __plain__(self) -> list[Owner]:
        """As plain data (detector/plain.py): its rows, in the order they were added (a
        scan's options carry the map to worker processes and cluster workers)."""
        return list(self._owners)

    @classmethod
    def __from_plain__(cls, data: list[dict[str, str]]) -> OwnerMap:
        return cls([Owner(**{name: str(row[name]) for name in Owner.__slots__}) for row in data])

    @classmethod
    def empty(cls) -> OwnerMap:
        """No owners: every address is unknown space; internal means private."""
        return cls()

    @classmethod
    def load(cls, path: Path) -> OwnerMap:
        """Read an owners CSV; a bad row raises InputError ``FILE:LINE: reason``."""
        owners = cls()
        for lineno, (cidr, entity, department, contact) in table_rows(path, HEADER):
            if not entity:
                raise InputError(f"{path}:{lineno}: missing entity")
            try:
                owners._add(Owner(cidr, entity, department, contact))
            except ValueError as exc:
                raise InputError(f"{path}:{lineno}: {exc}") from None
        return owners

    def _add(self, owner: Owner) -> None:
        """Add one owner; ValueError with the reason when its cidr is unusable."""
        text = owner.cidr
        if not text:
            raise ValueError("missing cidr")
        try:
            net = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            if "host bits set" in str(exc):
                raise ValueError(f"{text}: host bits set") from None
            raise ValueError(f"{text}: not a CIDR prefix") from None
        version, length = net.version, net.prefixlen
        bits = 32 if version == 4 else 128
        shift = bits - length
        tables = self._tables[version]
        table = next((t for n, _, t in tables if n == length), None)
        if table is None:
            table = {}
            tables.append((length, shift, table))
            tables.sort(key=lambda t: -t[0])
        key = int(net.network_address) >> shift
        if key in table:
            raise ValueError(f"{net}: the same prefix twice (first for {table[key].entity!r})")
        stored = Owner(str(net), owner.entity, owner.department, owner.contact)
        table[key] = stored
        self._owners.append(stored)

    def owner_of(self, ip: str) -> Owner | None:
        """The owner of the longest prefix that holds ``ip``; None for unknown space or
        text that is not an address."""
        parsed = _parse_ip(ip)
        if parsed is None:
            return None
        version, value = parsed
        for _, shift, table in self._tables[version]:
            owner = table.get(value >> shift)
            if owner is not None:
                return owner
        return None

    def is_internal(self, ip: str) -> bool:
        """Inside any owners prefix, else RFC 1918 / ULA (module docstring)."""
        parsed = _parse_ip(ip)
        if parsed is None:
            return False
        version, value = parsed
        for _, shift, table in self._tables[version]:
            if value >> shift in table:
                return True
        return is_private(version, value)

    def prefixes(self) -> list[str]:
        """Every prefix of the file, in file order, as normalised text."""
        return [owner.cidr for owner in self._owners]

    def owners(self) -> list[Owner]:
        """Every row of the file, in file order (prefix normalised)."""
        return list(self._owners)

    def networks(self, version: int) -> list[tuple[int, int, list[int]]]:
        """Per prefix length of one address family, longest first: (length, host bits,
        the networks' integers shifted right by the host bits). What a vectorised
        membership test needs (screen.py)."""
        return [(length, shift, list(table)) for length, shift, table in self._tables[version]]

    def __len__(self) -> int:
        return len(self._owners)


def _sort_key(ip: str) -> tuple[int, int]:
    parsed = _parse_ip(ip)
    return parsed if parsed is not None else (7, 0)


@dataclass(slots=True)
class ScreenedHosts:
    """The distinct internal hosts seen in the traffic (either end of any tracked flow):
    plain data, merged across captures.

    ``ips`` holds at most MAX_SCREENED addresses, in address order (IPv4 first, each
    family numerically). Past the cap, the smallest addresses are kept and ``overflow``
    counts what was left out: distinct within a batch of packets (or a merge), but a
    host left out twice may be counted twice, so ``count`` = ``len(ips)`` + ``overflow``
    is exact when ``overflow`` is 0 and an upper bound otherwise. Why a cap: a scan of a
    big network stays flat in memory (1,000,000 addresses: ~16 MB as integers, ~60 MB
    as text at the end)."""

    count: int = 0
    ips: list[str] = field(default_factory=list)
    overflow: int = 0

    def merge(self, other: ScreenedHosts) -> None:
        """Fold another capture's hosts into these (deterministic: the result depends
        only on the two sets, so serial and parallel runs agree)."""
        if not other.ips and not other.overflow:
            return
        if not self.ips and not self.overflow:
            self.ips, self.overflow = list(other.ips), other.overflow
        else:
            union = sorted(set(self.ips) | set(other.ips), key=_sort_key)
            dropped = max(0, len(union) - MAX_SCREENED)
            self.ips = union[:MAX_SCREENED]
            self.overflow += other.overflow + dropped
        self.count = len(self.ips) + self.overflow
