"""The report as one self-contained HTML file (``-o report.html``).

Self-contained: the CSS is inline, the plots are inline SVG (plots.py), there is no
script, no font, no image or link to fetch - the file opens on an air-gapped analyst's
laptop and shows the same thing. A Content-Security-Policy in the page says so to the
browser as well (``default-src 'none'``: nothing may load, no script may run), so even a
string that got past escaping could do nothing.

Every string from a packet, an EVE file, the store or the owners file is made printable
(textsafe.escape: control characters and terminal escapes shown as ``\\xNN``) and then
HTML-escaped with the standard library (``html.escape``, quotes included) before it is
written; numbers and the report's own words are the only text written as they are.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TextIO

from detector.report.data import NOT_AVAILABLE, Report
from detector.report.tables import (
    Table,
    energy_sources,
    entity_table,
    kwh,
    summary_table,
    suspect_table,
)
from detector.sinks.common import short_time
from detector.textsafe import escape

Write = Callable[[str], object]

CSP = "default-src 'none'; style-src 'unsafe-inline'"

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330;
       margin: 0 auto; max-width: 1500px; padding: 24px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #d8dce4; }
.meta { color: #5a6275; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid #d8dce4; border-radius: 6px; padding: 10px 14px; min-width: 120px;
        flex: 1 1 auto; background: #f6f8fb; }  /* a range is wider than a count */
.card .n { font-size: 22px; font-weight: 600; white-space: nowrap; }
.card .what { color: #5a6275; font-size: 12px; }
.na { color: #8a6d00; font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 12.5px; }
th, td { border: 1px solid #d8dce4; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eef1f6; position: sticky; top: 0; }
td { overflow-wrap: break-word; max-width: 28em; }
td.w { overflow-wrap: anywhere; min-width: 7em; }
.scroll { overflow-x: auto; }
td.ip { white-space: nowrap; }
tr:nth-child(even) td { background: #fafbfd; }
figure { margin: 8px 0 20px; }
figure svg { width: 100%; max-width: 1100px; height: auto; }
figcaption { color: #5a6275; font-size: 12px; }
.notes li { margin: 2px 0; }
"""


def h(value: str) -> str:
    """Untrusted text as HTML: printable first, then escaped (module docstring)."""
    return html.escape(escape(value, 1000), quote=True)


def write_html(report: Report, plots: dict[str, str], out: TextIO) -> None:
    """The whole page; ``plots`` from plots.all_plots (name -> SVG)."""
    w = out.write
    w('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n')
    w(f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n')
    w('<meta name="viewport" content="width=device-width, initial-scale=1">\n')
    w("<title>minewatch investigation report</title>\n")
    w(f"<style>{CSS}</style>\n</head>\n<body>\n")
    w("<h1>minewatch investigation report</h1>\n")
    w(f'<p class="meta">Generated {short_time(report.generated)} UTC from {h(report.source)}; '
      f"owners: {h(report.owners)}.</p>\n")  # fmt: skip
    _cards(report, w)
    _table(summary_table(report), "summary", w)
    w("<h2>Plots</h2>\n")
    captions = {
        "timeline": "Each miner's activity over time: jobs the pool pushed above its line, "
        "shares it sent below, per time bucket"
        + ("." if report.activity_available else f" (activity {NOT_AVAILABLE}: grey bars "
           "show when its evidence flows were open)."),
        "entities": "Mining IPs and energy (kWh per day, low to high) per entity.",
        "coins": "Mining IPs per coin and per pool.",
    }  # fmt: skip
    for name, svg in plots.items():
        w(f'<figure id="plot-{name}">\n{svg}\n<figcaption>{h(captions[name])}</figcaption>'
          "\n</figure>\n")  # fmt: skip
    _table(entity_table(report), "entities", w)
    _table(suspect_table(report), "suspects", w)
    _notes(report, w)
    w("</body>\n</html>\n")


def _cards(report: Report, write: Write) -> None:
    s = report.summary
    cards = [
        ("screened hosts", f"{s.screened:,}" if s.screened is not None else None),
        ("mining IPs", f"{s.mining_ips:,}"),
        *([("crypto-node IPs (site policy)", f"{s.node_ips:,}")] if s.node_ips else []),
        ("entities", f"{s.entities:,}"),
        ("in unknown space", f"{s.unknown_ips:,}"),
        ("coins", f"{len(s.coins):,}"),
        ("pool endpoints", f"{len(s.pools):,}"),
        ("kWh per day", f"{kwh(s.kwh_day_low)}–{kwh(s.kwh_day_high)}"),
    ]  # fmt: skip
    write('<div class="cards" id="cards">\n')
    for what, number in cards:
        shown = h(number) if number is not None else f'<span class="na">{NOT_AVAILABLE}</span>'
        write(f'<div class="card"><div class="n">{shown}</div>'
              f'<div class="what">{h(what)}</div></div>\n')  # fmt: skip
    write("</div>\n")


def _table(table: Table, ident: str, write: Write) -> None:
    write(f"<h2>{h(table.title)}</h2>\n")
    write(f'<div class="scroll"><table id="{ident}">\n')
    if any(table.headers):
        write("<thead><tr>" + "".join(f"<th>{h(c)}</th>" for c in table.headers)
              + "</tr></thead>\n")  # fmt: skip
    write("<tbody>\n")
    classes = [_CLASSES.get(name, "") for name in table.headers]
    for row in table.rows:
        cells = "".join(
            f'<td class="{"na" if c == NOT_AVAILABLE else kind}">{h(c)}</td>'
            if kind or c == NOT_AVAILABLE
            else f"<td>{h(c)}</td>"
            for c, kind in zip(row, classes, strict=True)
        )
        write(f"<tr>{cells}</tr>\n")
    if not table.rows:
        write(f'<tr><td colspan="{len(table.headers)}">none</td></tr>\n')
    write("</tbody>\n</table></div>\n")


# columns of long unbroken strings (wallets, endpoint lists) and of addresses
_CLASSES = {"IP": "ip", "Wallet / login": "w", "Agent": "w", "Pool": "w", "Pools": "w",
            "Mining IPs": "w", "Evidence": "w", "Rules / model": "w"}  # fmt: skip


def _notes(report: Report, write: Write) -> None:
    write('<h2>How the numbers were made</h2>\n<ul class="notes">\n')
    notes = [
        "Screened hosts: distinct internal hosts seen in the traffic (inside an owners "
        "prefix, else RFC 1918 or IPv6 ULA space). Mining IPs: distinct addresses that "
        "mined. Entities: owners of the mining IPs (an address in no owners prefix is "
        "counted as unknown address space, not as an entity).",
        "Hashrate: from the shares a miner sent and their difficulty, with a 95 % interval "
        "from the number of shares where the input carries one; 'unknown' where the "
        "difficulty cannot be seen (TLS) or the shares are too few - never a made-up "
        "number. Hashrates of different algorithms are never added.",
        "Energy: kWh per day from the hashrate range and a range of efficiency per "
        "algorithm and hardware class (signatures/efficiency.csv), so it is a range.",
    ]
    notes += [f"Energy source: {source}" for source in energy_sources(report)]
    for note in notes:
        write(f"<li>{h(note)}</li>\n")
    write("</ul>\n")
