"""A terminal table of suspects (rich). Every packet-derived string is escaped first."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.sinks.common import short_time, suspect_summary
from detector.suspects import NodeHost, Suspect
from detector.textsafe import escape


def _cell(values: list[str], limit: int = 2, width: int = 48) -> str:
    shown = [escape(v, max_len=width) for v in values[:limit]]
    if len(values) > limit:
        shown.append(f"+{len(values) - limit} more")
    return "\n".join(shown) if shown else "-"


def write_table(suspects: list[Suspect], out: TextIO, nodes: list[NodeHost] | None = None) -> None:
    console = Console(file=out, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 150
    if nodes:
        _node_table(console, nodes)
    if not suspects:
        console.print("No mining suspects found.", markup=False)
        return
    table = Table(title=f"Mining suspects ({len(suspects)})", title_justify="left", show_lines=True)
    for name, ratio in (
        ("Suspect IP", 2),
        ("Score", 1),
        ("Dialect", 2),
        ("Coin", 1),
        ("Pool", 3),
        ("Agent", 2),
        ("Wallet / login", 4),
        ("Flows", 1),
        ("Seen (UTC)", 3),
    ):
        table.add_column(name, overflow="fold", ratio=ratio)
    for s in suspects:
        d = suspect_summary(s)
        pools = d["pool_names"] + d["pools"]
        cells = (
            escape(d["ip"]),
            f"{d['score']:.2f}",
            "\n".join(d["dialects"]),
            ", ".join(d["coins"]) or "-",
            _cell(pools, 3),
            _cell(d["agents"], 1),
            _cell(d["wallets"] or d["logins"], 1, width=120),
            str(d["flows"]),
            f"{short_time(d['first_seen'])}\n{short_time(d['last_seen'])}",
        )
        table.add_row(*(Text(c) for c in cells))  # Text: no rich markup from packets
    console.print(table)


def _node_table(console: Console, nodes: list[NodeHost]) -> None:
    table = Table(
        title=f"Cryptocurrency nodes, informational - not miners ({len(nodes)})",
        title_justify="left",
    )
    for name in ("Host", "Protocol", "Network", "Peers", "Flows", "Agent", "Seen (UTC)"):
        table.add_column(name, overflow="fold")
    for n in nodes:
        cells = (
            escape(n.ip),
            n.protocol,
            n.network or "-",
            str(len(n.peers)),
            str(n.flow_count),
            _cell(sorted(n.user_agents), 1),
            f"{short_time(n.first_seen)} - {short_time(n.last_seen)}",
        )
        table.add_row(*(Text(c) for c in cells))
    console.print(table)
