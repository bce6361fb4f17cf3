"""Passive DNS: which names the network resolved to which IPs, as seen on the wire.

Miners usually connect by IP, or by a pool name resolved just before; TLS to a pool on
:443 shows no method at all. Remembering DNS answers lets a later flow to that IP carry
the pool's name (docs/ARCHITECTURE.md §5). Bounded: least recently answered IPs are dropped first.

The table is a plain dict kept in least-recently-answered order (an answered IP is
re-inserted at the end), so that a batch's answers can be taken in one compiled call
(``add_groups``; detector/csrc/dns.c ``pdns_groups``, with this module's loop as the
fallback: tests compare the two).
"""

from __future__ import annotations

from collections.abc import Mapping

from detector.compiled import fast

MAX_IPS = 50_000
MAX_NAMES_PER_IP = 8
MAX_AGE = 3600.0  # seconds of capture time: DNS TTLs are shorter; older answers are dropped
EXPIRE_EVERY = 4096  # new IPs between two sweeps for answers older than MAX_AGE

Parsed = tuple[list[str], list[str], list[str]]  # questions, CNAMEs, addresses


class PassiveDns:
    """IP -> names answered for it, with the time of the last answer."""

    def __init__(self, max_ips: int = MAX_IPS, max_age: float = MAX_AGE) -> None:
        self.max_ips = max_ips
        self.max_age = max_age
        self._stamp: dict[str, float] = {}  # ip -> time of its latest answer
        self._names: dict[str, dict[str, float]] = {}  # least recently answered first
        # the same table, to test an address against without a call (``ip in answered``):
        # enrichment asks ``names`` for every ended flow's server, and most have none
        self.answered: Mapping[str, dict[str, float]] = self._names
        self.evicted = 0

    def add_groups(self, distinct: list[Parsed], last: list[int], times: list[float]) -> None:
        """A batch's distinct answers (dnsparse.answer_groups), each at its last message,
        in message order: what feeding every message one by one would leave."""
        if fast is not None:
            fast.pdns_groups(
                self, self._names, self._stamp, distinct, last, times,
                MAX_NAMES_PER_IP, self.max_ips, EXPIRE_EVERY,
            )  # fmt: skip
            return
        for g in sorted(range(len(distinct)), key=last.__getitem__):
            self.add_response(distinct[g], times[last[g]])

    def add_response(self, parsed: Parsed, ts: float) -> None:
        """One DNS response's answers: every IP was answered for the questions and then
        the CNAMEs that are not among them."""
        questions, cnames, ips = parsed
        names = questions + [c for c in cnames if c not in questions] if cnames else questions
        if ips and names:
            self.add_answer(ips, names, ts)

    def add_answer(self, ips: list[str] | tuple[str, ...], names: list[str], ts: float) -> None:
        """One DNS answer: every IP in it was answered for ``names`` at ``ts``. (One call
        per answer, not per IP: a resolver link carries tens of thousands of answers.)"""
        table, stamp = self._names, self._stamp
        kept = names[:MAX_NAMES_PER_IP]
        for ip in ips:
            entry = table.pop(ip, None)
            stamp[ip] = ts
            if entry is None:
                table[ip] = dict.fromkeys(kept, ts)
                if len(table) > self.max_ips:
                    self._drop_oldest()
                elif len(table) % EXPIRE_EVERY == 0:
                    self._expire(ts)
                continue
            table[ip] = entry  # now the most recently answered
            for name in names:
                if name in entry or len(entry) < MAX_NAMES_PER_IP:
                    entry[name] = ts

    def _drop_oldest(self) -> None:
        ip = next(iter(self._names))
        del self._names[ip]
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
