"""``minewatch suspects``: rows of the suspect store (store.py's ``query``) as a terminal
table, JSON lines or CSV. Wallets, agents, logins and hosts come from packets: the table
escapes them (textsafe.escape), CSV neutralises them as the scan's CSV does (escape_cell),
JSON lines carry them as they are (``json.dumps`` escapes control characters)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from detector.sinks.common import eve_time, short_time
from detector.sinks.table import COLUMNS, _duration, _first, _short
from detector.textsafe import escape, escape_cell

CSV_COLUMNS = (
    "ip",
    "window_start",
    "first_seen",
    "last_seen",
    "flow_count",
    "score",
    "role",
    "top_rule",
    "rules",
    "dialects",
    "nodes",
    "coins",
    "algos",
    "pools",
    "pool_names",
    "pool_hosts",
    "wallets",
    "logins",
    "workers",
    "agents",
    "jobs",
    "submits",
    "accepted",
    "reported_hashrate",
    "hashrate_estimate",
    "hashrate_low",
    "hashrate_high",
    "hashrate_method",
    "sensor",
    "updated_at",
)
_TIMES = ("window_start", "first_seen", "last_seen", "updated_at")
# Values minewatch names itself (dissector names, rule ids, addresses, numbers); every
# other string column came from a packet or from whoever named the sensor.
_OWN = frozenset(("ip", "role", "dialects", "nodes", "rules", "pools", "top_rule", "score",
                  "flow_count", "jobs", "submits", "accepted", "reported_hashrate",
                  "hashrate_estimate", "hashrate_low", "hashrate_high"))  # fmt: skip


def write_jsonl(rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    """One JSON object per suspect and window, its evidence flows included (times in
    epoch seconds, as stored)."""
    for row in rows:
        out.write(json.dumps(row, separators=(",", ":")) + "\n")


def write_csv(rows: Iterable[dict[str, Any]], out: TextIO) -> None:
    """One row per suspect and window, lists joined with ";", times in Suricata's format."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = []
        for name in CSV_COLUMNS:
            value = row[name]
            if value is None:
                cells.append("")
            elif name in _TIMES:
                cells.append(eve_time(value))
            elif isinstance(value, list):
                cells.append(";".join(str(v) if name in _OWN else escape_cell(v) for v in value))
            elif name == "score":
                cells.append(f"{value:.4f}")
            else:
                cells.append(str(value) if name in _OWN else escape_cell(value))
        writer.writerow(cells)


TABLE_COLUMNS = (*COLUMNS, "Sensor")  # scan's table, and who stored the row


def write_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    """One line per suspect and window; everything from a packet escaped."""
    console = Console(file=out, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 180
    if not rows:
        console.print("No stored suspects match.", markup=False)
        return
    table = Table(title=f"Stored suspects ({len(rows)})", title_justify="left")
    for name in TABLE_COLUMNS:
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for r in rows:
        cells = (
            escape(r["ip"]),
            f"{r['score']:.2f}",
            r["role"],
            _first(r["dialects"] or r["nodes"], 16),
            _first(r["coins"], 4),
            _first(r["pool_names"] + r["pool_hosts"] + r["pools"], 24),
            _first(r["agents"], 18),
            _first(r["wallets"] or r["logins"], 20),
            str(r["flow_count"]),
            short_time(r["first_seen"]),
            _duration(r["last_seen"] - r["first_seen"]),
            _short(r["sensor"], 16) if r["sensor"] else "-",
        )
        table.add_row(*(Text(c) for c in cells))  # Text: no rich markup from packets
    console.print(table)
