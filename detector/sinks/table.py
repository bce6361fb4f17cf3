"""A terminal table of suspects (rich). Every packet-derived string is escaped first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.nodehosts import NodeHost
from detector.sinks.common import short_time, suspect_summary
from detector.suspects import Suspect
from detector.textsafe import escape


def _short(value: str, width: int) -> str:
    """Escape, then shorten long identifiers in the middle (wallets keep head and tail)."""
    text = escape(value, max_len=400)
    if len(text) <= width:
        return text
    head = (width - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def _first(values: list[str], width: int) -> str:
    if not values:
        return "-"
    more = f" +{len(values) - 1}" if len(values) > 1 else ""
    return _short(values[0], width - len(more)) + more


def _duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# Rows per printed table: rich lays a table out whole, so ten thousand suspects are
# printed as pages of this many (each its own table), never held all at once.
PAGE_ROWS = 1000
COLUMNS = (
    "Suspect IP",
    "Score",
    "Role",
    "Dialect",
    "Coin",
    "Pool",
    "Agent",
    "Wallet / login",
    "Flows",
    "First seen (UTC)",
    "For",
)


def write_table(
    suspects: Iterable[Suspect],
    count: int,
    out: TextIO,
    nodes: list[NodeHost] | None = None,
    partial: bool = False,
) -> None:
    """One line per suspect (``count`` of them, in report order); full details are in the
    JSON output. ``partial``: the scan was stopped before its end (the titles say so)."""
    console = Console(file=out, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 180
    if nodes:
        _node_table(console, nodes)
    if not count:
        found = "No mining suspects found" + (" (partial: scan interrupted)" if partial else "")
        console.print(found + ".", markup=False)
        return
    page: list[tuple[str, ...]] = []
    first = 1
    for s in suspects:
        page.append(_row(s))
        if len(page) == PAGE_ROWS:
            _print_page(console, page, first, count, partial)
            first += len(page)
            page = []
    if page:
        _print_page(console, page, first, count, partial)


def _row(s: Suspect) -> tuple[str, ...]:
    d = suspect_summary(s)
    pools = d["pool_names"] + d["pool_hosts"] + d["pools"]
    return (
        escape(d["ip"]),
        f"{d['score']:.2f}",
        d["role"],
        _first(d["dialects"] or d["nodes"], 16),  # a node host's protocol (by policy)
        _first(d["coins"], 4),
        _first(pools, 24),
        _first(d["agents"], 18),
        _first(d["wallets"] or d["logins"], 20),
        str(d["flows"]),
        short_time(d["first_seen"]),
        _duration(d["last_seen"] - d["first_seen"]),
    )


def _print_page(
    console: Console, rows: list[tuple[str, ...]], first: int, count: int, partial: bool
) -> None:
    title = f"Mining suspects ({count}{', partial: scan interrupted' if partial else ''})"
    if count > PAGE_ROWS:
        title += f", {first:,}-{first + len(rows) - 1:,}"
    table = Table(title=title, title_justify="left")
    for name in COLUMNS:
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for cells in rows:
        table.add_row(*(Text(c) for c in cells))  # Text: no rich markup from packets
    console.print(table)


def _node_table(console: Console, nodes: list[NodeHost]) -> None:
    table = Table(
        title=f"Cryptocurrency nodes and wallets, informational - not miners ({len(nodes)})",
        title_justify="left",
    )
    columns = (
        "Host", "Role", "Protocol", "Network", "Peers", "Flows", "Agent", "Evidence", "Seen (UTC)"
    )  # fmt: skip
    for name in columns:
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for n in nodes:
        cells = (
            escape(n.ip),
            n.role,
            escape(n.protocol),
            escape(n.network or "-"),
            str(len(n.peers)),
            str(n.flow_count),
            _first(sorted(n.user_agents), 24),
            # what made the sighting beyond its framing: the network's own names it used
            # (a Filecoin node), else the commands or protocol ids it sent (from packets:
            # escaped like the rest)
            _first(sorted(n.names) or sorted(n.commands), 36),
            f"{short_time(n.first_seen)} +{_duration(n.last_seen - n.first_seen)}",
        )
        table.add_row(*(Text(c) for c in cells))
    console.print(table)
