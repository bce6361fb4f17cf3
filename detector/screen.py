"""Screened hosts: the distinct internal addresses at either end of the flows a capture's
flow table tracks (issue 18's "N screened"), collected vectorised.

Why here, in the flow stage, and per new flow: every tracked flow is created once, in
``FlowTracker._create`` with its two addresses already as numpy columns, so the test runs
on the new flows of a batch only - a few per thousand packets on the measured captures -
instead of on every packet, and never per packet in Python (docs/ARCHITECTURE.md §2).
When ``ScanConfig.screen`` is None no HostScreen exists and the flow stage pays one
``is None`` test per batch.

Addresses are the decode stage's two 64-bit halves, IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d).
Internal: inside an owners prefix, else RFC 1918 / ULA (owners.py defines the ranges;
``private_mask`` is their vectorised test, which flows.py's orientation reuses).
Distinct IPv4 hosts are kept as one sorted uint32 array (4 bytes each: 1,000,000 hosts in
4 MB), IPv6 hosts as a set of Python integers; at most owners.MAX_SCREENED in all.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from detector.owners import MAX_SCREENED, PRIVATE_V4, ULA_V6_TOP7, OwnerMap, ScreenedHosts

_V4_MAPPED = np.uint64(0x0000FFFF00000000)
_HIGH32 = np.uint64(0xFFFFFFFF00000000)
_LOW32 = np.uint64(0xFFFFFFFF)


def v4_rows(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Which addresses are IPv4 (v4-mapped)."""
    return (hi == 0) & ((lo & _HIGH32) == _V4_MAPPED)


def private_mask(
    hi: np.ndarray, lo: np.ndarray, v4_nets: tuple[tuple[int, int], ...] = PRIVATE_V4
) -> np.ndarray:
    """Per address: in one of ``v4_nets`` ((network, mask) on 32 bits; RFC 1918 unless
    told otherwise) if IPv4, else a unique local address (fc00::/7)."""
    low = lo & _LOW32
    private = np.zeros(hi.shape[0], dtype=bool)
    for net, mask in v4_nets:
        private |= (low & np.uint64(mask)) == np.uint64(net)
    ula = (hi >> np.uint64(121 - 64)) == np.uint64(ULA_V6_TOP7)
    return np.where(v4_rows(hi, lo), private, ula)


def _distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values. Not np.unique: its first call imports numpy.ma (17 ms,
    a third of the screening's cost on a 100 MB capture, measured with callgrind)."""
    ordered = np.sort(values)
    if ordered.shape[0] < 2:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


class HostScreen:
    """Collects the distinct internal hosts of one capture (see the module docstring)."""

    def __init__(self, owners: OwnerMap) -> None:
        self.owners = owners
        # IPv4 owners prefixes: (host bits, sorted networks >> host bits), longest first
        self._v4 = [
            (shift, np.array(sorted(nets), dtype=np.uint64))
            for _, shift, nets in owners.networks(4)
        ]
        # IPv6 prefixes of at most 64 bits test the high half alone; longer ones are
        # narrowed by their high half, then checked exactly (owner_of) on the few rows left.
        self._v6_short = []
        his: set[int] = set()
        self._v6_long = False
        for length, shift, nets in owners.networks(6):
            if length <= 64:
                self._v6_short.append((shift - 64, np.array(sorted(nets), dtype=np.uint64)))
            else:
                self._v6_long = True
                his.update(net << shift >> 64 for net in nets)
        self._v6_long_hi = np.array(sorted(his), dtype=np.uint64)
        self.v4 = np.empty(0, dtype=np.uint32)  # distinct IPv4 hosts, sorted
        self.v6: set[int] = set()
        self.overflow = 0

    def internal(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        """Per address: internal (an owners prefix, else RFC 1918/ULA)?"""
        inside = private_mask(hi, lo)
        if not self._v4 and not self._v6_short and not self._v6_long:
            return inside
        v4 = v4_rows(hi, lo)
        if self._v4:
            low = lo & _LOW32
            for shift, nets in self._v4:
                inside |= v4 & np.isin(low >> np.uint64(shift), nets)
        v6 = ~v4
        for shift, nets in self._v6_short:
            inside |= v6 & np.isin(hi >> np.uint64(shift), nets)
        if self._v6_long:
            maybe = np.flatnonzero(v6 & ~inside & np.isin(hi, self._v6_long_hi))
            for row in maybe.tolist():
                text = str(ipaddress.IPv6Address((int(hi[row]) << 64) | int(lo[row])))
                inside[row] = self.owners.owner_of(text) is not None
        return inside

    def see(self, a_hi: np.ndarray, a_lo: np.ndarray, b_hi: np.ndarray, b_lo: np.ndarray) -> None:
        """Note both ends of some flows (the new flows of a batch)."""
        if a_hi.shape[0] == 0:
            return
        hi = np.concatenate((a_hi, b_hi))
        lo = np.concatenate((a_lo, b_lo))
        keep = self.internal(hi, lo)
        if not keep.any():
            return
        hi, lo = hi[keep], lo[keep]
        v4 = v4_rows(hi, lo)
        room = MAX_SCREENED - len(self.v4) - len(self.v6)
        if v4.any():
            room = self._add_v4(_distinct((lo[v4] & _LOW32).astype(np.uint32)), room)
        if not v4.all():
            pairs = zip(hi[~v4].tolist(), lo[~v4].tolist(), strict=True)
            fresh = sorted({(h << 64) | low for h, low in pairs} - self.v6)
            self.overflow += max(0, len(fresh) - room)
            self.v6.update(fresh[: max(room, 0)])

    def _add_v4(self, candidates: np.ndarray, room: int) -> int:
        known = self.v4
        pos = np.searchsorted(known, candidates)
        present = np.zeros(candidates.shape[0], dtype=bool)
        inside = pos < known.shape[0]
        present[inside] = known[pos[inside]] == candidates[inside]
        fresh = ~present
        count = int(np.count_nonzero(fresh))
        if count == 0:
            return room
        if count > room:  # past the cap: the smallest new ones fit, the others are counted
            self.overflow += count - max(room, 0)
            fresh[np.flatnonzero(fresh)[max(room, 0) :]] = False
            count = max(room, 0)
        self.v4 = np.insert(known, pos[fresh], candidates[fresh])
        return room - count

    def hosts(self) -> ScreenedHosts:
        """The capture's screened hosts as plain data (owners.ScreenedHosts)."""
        import _socket  # here, not at import; socket's C core: owners._parse_ip says why

        ntoa = _socket.inet_ntoa
        ips = [ntoa(value.to_bytes(4, "big")) for value in self.v4.tolist()]
        ips += [str(ipaddress.IPv6Address(value)) for value in sorted(self.v6)]
        return ScreenedHosts(count=len(ips) + self.overflow, ips=ips, overflow=self.overflow)
