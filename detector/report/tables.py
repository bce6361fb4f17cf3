"""The report's three tables - summary, entities, suspects - as text cells every format
shares (html.py, markdown.py), and as typed records for CSV (csvout.py).

Cells here are plain, unescaped text: wallets, agents, pool names and owner names may be
hostile, and each format escapes them for itself (HTML, Markdown, CSV all differ). Numbers
are formatted once here, so the formats agree on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detector.report.data import NOT_AVAILABLE, EntityRow, RateSum, Report, ReportSuspect
from detector.report.summary import pool_labels
from detector.sinks.common import eve_time, short_time

LIST_SHOWN = 3  # values of a list shown in a cell before "+N"


@dataclass(slots=True)
class Table:
    """A titled table of text cells (unescaped)."""

    title: str
    headers: list[str]
    rows: list[list[str]]


# ---- number formats ------------------------------------------------------------------------

_SI = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si(value: float, unit: str) -> str:
    """3487.9 H/s -> "3.49 kH/s" (three significant digits)."""
    for scale, prefix in _SI:
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def kwh(value: float) -> str:
    """kWh/day with sensible digits: 0.0123, 1.23, 123, 12,345."""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def kwh_range(low: float, high: float) -> str:
    return f"{kwh(low)}–{kwh(high)} kWh/day" if kwh(low) != kwh(high) else f"{kwh(low)} kWh/day"


def rate_text(s: ReportSuspect) -> str:
    r = s.hashrate
    if r is None or r.hs is None:
        return "unknown"
    if r.low is not None and r.high is not None:
        return f"{si(r.hs, 'H/s')} (95 %: {si(r.low, 'H/s')}–{si(r.high, 'H/s')})"
    return si(r.hs, "H/s")


def method_text(s: ReportSuspect) -> str:
    r = s.hashrate
    if r is None:
        return NOT_AVAILABLE
    parts = [r.method]
    if r.hs is not None and r.shares:
        parts.append(f"{r.shares} shares over {duration(r.seconds)}")
    return "; ".join(parts)


def energy_text(s: ReportSuspect) -> str:
    e = s.energy
    if e is None:
        return "unknown"
    return f"{kwh_range(e.kwh_day_low, e.kwh_day_high)} ({e.hardware}, {e.algo})"


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def ips(n: int) -> str:
    """How many mining IPs, in words that agree with the number."""
    return f"{n:,} mining IP" + ("" if n == 1 else "s")


def some(values: list[str], shown: int = LIST_SHOWN) -> str:
    """The first values and how many more: a cell stays readable for a farm's miner."""
    if not values:
        return "-"
    more = len(values) - shown
    return ", ".join(values[:shown]) + (f" +{more}" if more > 0 else "")


def rate_sum_text(r: RateSum) -> str:
    if not r.known:
        return f"{r.algo}: unknown ({r.unknown})"
    text = f"{r.algo}: {si(r.hs, 'H/s')}"
    if r.low != r.high:
        text += f" ({si(r.low, 'H/s')}–{si(r.high, 'H/s')})"
    return text + (f", {r.unknown} unknown" if r.unknown else "")


# ---- the tables ----------------------------------------------------------------------------


def summary_table(report: Report) -> Table:
    s = report.summary
    if s.screened is None:
        screened = NOT_AVAILABLE
    else:
        screened = f"{s.screened:,}"
        if s.screened_overflow:
            screened += f" (at most: {s.screened_overflow:,} past the list's cap)"
    entities = f"{s.entities:,}"
    if s.unknown_ips:
        entities += f" (and {ips(s.unknown_ips)} in unknown address space)"
    pools = f"{len(s.pools):,} endpoints"
    if s.pool_names:
        pools += f"; named: {some(s.pool_names, 8)}"
    energy = kwh_range(s.kwh_day_low, s.kwh_day_high)
    if s.energy_unknown:
        energy += f" ({ips(s.energy_unknown)} without an estimate)"
    seen = "-"
    if s.first_seen is not None and s.last_seen is not None:
        seen = f"{short_time(s.first_seen)} – {short_time(s.last_seen)} UTC"
    rows = [
        ["Screened hosts", screened],
        ["Mining IPs", f"{s.mining_ips:,}"],
        *([["Crypto-node IPs (site policy)", f"{s.node_ips:,}"]] if s.node_ips else []),
        ["Entities", entities],
        ["Coins", f"{len(s.coins):,}" + (f": {', '.join(s.coins)}" if s.coins else "")],
        ["Pools", pools],
        ["Energy", energy],
        ["Traffic seen", seen],
        ["Input", report.source],
        ["Owners", report.owners],
    ]
    return Table("Summary", ["", ""], rows)


ENTITY_HEADERS = ["Entity", "Department", "Contact", "Mining IPs", "Coins", "Pools",
                  "Hashrate (sum per algorithm)", "Energy"]  # fmt: skip


def entity_table(report: Report) -> Table:
    rows = [
        [
            e.entity,
            some(e.departments) if e.known else "-",
            some(e.contacts) if e.known else "-",
            f"{len(e.ips)}: {some(e.ips)}",
            some(e.coins),
            some(e.pools),
            "; ".join(rate_sum_text(r) for r in e.rates) or "-",
            _entity_energy(e),
        ]
        for e in report.entities
    ]
    return Table("Entities", ENTITY_HEADERS, rows)


def _entity_energy(e: EntityRow) -> str:
    known = len(e.ips) - e.energy_unknown
    if not known:
        return "unknown"
    text = kwh_range(e.kwh_day_low, e.kwh_day_high)
    return text + (f" ({e.energy_unknown} unknown)" if e.energy_unknown else "")


SUSPECT_HEADERS = ["IP", "Entity", "Role", "First seen (UTC)", "Last seen (UTC)", "Dialect", "Coin",
                   "Pool", "Agent", "Wallet / login", "Flows", "Hashrate", "Method",
                   "Energy", "Evidence", "Rules / model"]  # fmt: skip


def suspect_table(report: Report) -> Table:
    rows = [
        [
            s.ip,
            s.entity + (f" / {s.department}" if s.department else ""),
            role(s),
            short_time(s.first_seen),
            short_time(s.last_seen),
            some(s.dialects or s.nodes, 2),  # a node host's protocols (by policy)
            some(s.coins, 2),
            some(pool_labels(s), 2),
            some(s.agents, 1),
            some(s.wallets or s.logins, 1),
            f"{s.flows:,}",
            rate_text(s),
            method_text(s),
            energy_text(s),
            "; ".join(s.evidence[:3]) or "-",
            fired_text(s),
        ]
        for s in report.suspects
    ]
    return Table("Suspects", SUSPECT_HEADERS, rows)


def role(s: ReportSuspect) -> str:
    """What the host is (dialects.role_of, as EVE's ``mining_role`` and the store's role
    say it; each input's collector fills it, and merging windows combines them)."""
    return s.role


def fired_text(s: ReportSuspect) -> str:
    parts = list(s.rule_names)
    score = f" (score {s.model_score:.2f})" if s.model_score is not None else ""
    if s.model_fired:
        parts.append(f"flow model fired{score}")
    elif score:
        parts.append(f"flow model did not fire{score}")
    return "; ".join(parts) or "-"


def energy_sources(report: Report) -> list[str]:
    """The efficiency rows the energy estimates rest on (their citations)."""
    return sorted({s.energy.source for s in report.suspects if s.energy is not None})


# ---- typed records for CSV -----------------------------------------------------------------


def summary_records(report: Report) -> list[dict[str, Any]]:
    s = report.summary
    values: list[tuple[str, Any]] = [
        ("screened", NOT_AVAILABLE if s.screened is None else s.screened),
        ("screened_overflow", s.screened_overflow),
        ("mining_ips", s.mining_ips),
        ("node_ips", s.node_ips),
        ("entities", s.entities),
        ("unknown_space_ips", s.unknown_ips),
        ("coins", s.coins),
        ("pools", len(s.pools)),
        ("pool_endpoints", s.pools),
        ("pool_names", s.pool_names),
        ("kwh_day_low", round(s.kwh_day_low, 6)),
        ("kwh_day_high", round(s.kwh_day_high, 6)),
        ("energy_unknown", s.energy_unknown),
        ("first_seen", eve_time(s.first_seen) if s.first_seen is not None else ""),
        ("last_seen", eve_time(s.last_seen) if s.last_seen is not None else ""),
        ("input", report.source),
        ("owners", report.owners),
    ]
    return [{"key": k, "value": v} for k, v in values]


def entity_records(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "entity": e.entity,
            "known": e.known,
            "departments": e.departments,
            "contacts": e.contacts,
            "mining_ips": len(e.ips),
            "ips": e.ips,
            "coins": e.coins,
            "pools": e.pools,
            "hashrate": [
                f"{r.algo}={r.hs:.6g}[{r.low:.6g},{r.high:.6g}]" if r.known else f"{r.algo}=unknown"
                for r in e.rates
            ],
            "kwh_day_low": round(e.kwh_day_low, 6),
            "kwh_day_high": round(e.kwh_day_high, 6),
            "energy_unknown": e.energy_unknown,
        }
        for e in report.entities
    ]


def suspect_records(report: Report) -> list[dict[str, Any]]:
    out = []
    for s in report.suspects:
        r, e = s.hashrate, s.energy
        out.append(
            {
                "ip": s.ip,
                "entity": s.entity,
                "department": s.department,
                "contact": s.contact,
                "role": role(s),
                "nodes": s.nodes,
                "first_seen": eve_time(s.first_seen),
                "last_seen": eve_time(s.last_seen),
                "windows": s.windows,
                "dialects": s.dialects,
                "coins": s.coins,
                "algos": s.algos,
                "pool_names": s.pool_names,
                "pool_hosts": s.pool_hosts,
                "pool_endpoints": s.pool_endpoints,
                "agents": s.agents,
                "wallets": s.wallets,
                "logins": s.logins,
                "workers": s.workers,
                "flows": s.flows,
                "jobs": s.jobs,
                "submits": s.submits,
                "accepted": s.accepted,
                "reported_hashrate": s.reported_hashrate,
                "hashrate": r.hs if r else None,
                "hashrate_low": r.low if r else None,
                "hashrate_high": r.high if r else None,
                "hashrate_method": r.method if r else NOT_AVAILABLE,
                "hashrate_shares": r.shares if r else None,
                "hashrate_seconds": round(r.seconds, 3) if r else None,
                "kwh_day_low": round(e.kwh_day_low, 6) if e else None,
                "kwh_day_high": round(e.kwh_day_high, 6) if e else None,
                "hardware": e.hardware if e else None,
                "energy_source": e.source if e else None,
                "evidence": s.evidence,
                # "start/seconds/jobs/shares" per bucket, as EVE's mining_activity
                "activity": [f"{a:.0f}/{w:.0f}/{j}/{n}" for a, w, j, n in s.activity or []],
                "rules": [str(i) for i in s.rules],
                "rule_names": s.rule_names,
                "model_score": s.model_score,
                "score": s.score,
            }
        )
    return out


def headline(report: Report) -> str:
    """The summary in one line (the CLI prints it on stderr; no string from a packet)."""
    s = report.summary
    screened = f"{s.screened:,} screened" if s.screened is not None else "screened: n/a"
    return (
        f"{screened}, {ips(s.mining_ips)}, "
        + (f"{s.node_ips:,} crypto-node IPs (site policy), " if s.node_ips else "")
        + f"{s.entities:,} entities"
        + (f" (+{s.unknown_ips:,} in unknown address space)" if s.unknown_ips else "")
        + f", {len(s.coins):,} coins, {len(s.pools):,} pools, "
        + kwh_range(s.kwh_day_low, s.kwh_day_high)
    )
