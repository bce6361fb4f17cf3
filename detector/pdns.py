"""Passive DNS: which names the network resolved to which IPs, as seen on the wire.

Miners usually connect by IP, or by a pool name resolved just before; TLS to a pool on
:443 shows no method at all. Remembering DNS answers lets a later flow to that IP carry
the pool's name (DESIGN.md §5). Bounded: least recently answered IPs are dropped first.
"""

from __future__ import annotations

from collections import OrderedDict

MAX_IPS = 50_000
MAX_NAMES_PER_IP = 8
MAX_AGE = 3600.0  # seconds of capture time: DNS TTLs are shorter; older answers are dropped


class PassiveDns:
    """IP -> names answered for it, with the time of the last answer."""

    def __init__(self, max_ips: int = MAX_IPS, max_age: float = MAX_AGE) -> None:
        self.max_ips = max_ips
        self.max_age = max_age
        self._stamp: dict[str, float] = {}  # ip -> time of its latest answer
        self._names: OrderedDict[str, dict[str, float]] = OrderedDict()
        self.evicted = 0

    def add_answer(self, ips: list[str] | tuple[str, ...], names: list[str], ts: float) -> None:
        """One DNS answer: every IP in it was answered for ``names`` at ``ts``. (One call
        per answer, not per IP: a resolver link carries tens of thousands of answers.)"""
        table, stamp = self._names, self._stamp
        kept = names[:MAX_NAMES_PER_IP]
        for ip in ips:
            entry = table.get(ip)
            stamp[ip] = ts
            if entry is None:
                table[ip] = dict.fromkeys(kept, ts)
                if len(table) > self.max_ips:
                    self._drop_oldest()
                elif len(table) % 4096 == 0:
                    self._expire(ts)
                continue
            table.move_to_end(ip)
            for name in names:
                if name in entry or len(entry) < MAX_NAMES_PER_IP:
                    entry[name] = ts

    def _drop_oldest(self) -> None:
        ip, _ = self._names.popitem(last=False)
        self._stamp.pop(ip, None)
        self.evicted += 1

    def _expire(self, now: float) -> None:
        """Forget answers older than max_age (least recently answered come first)."""
        table, stamp = self._names, self._stamp
        while table:
            ip = next(iter(table))
            if stamp.get(ip, now) >= now - self.max_age:
                break
            self._drop_oldest()
            self.evicted -= 1  # aged out, not evicted for space

    def names(self, ip: str, before: float | None = None) -> list[str]:
        """Names answered for ``ip`` (only answers seen up to ``before``, if given)."""
        entry = self._names.get(ip)
        if not entry:
            return []
        return sorted(n for n, t in entry.items() if before is None or t <= before + 1.0)

    def __len__(self) -> int:
        return len(self._names)
