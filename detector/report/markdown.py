"""The report's tables as Markdown (``--format md``).

Cells may hold hostile strings, and Markdown is usually rendered to HTML: a cell is made
printable (textsafe.escape: control characters and terminal escapes shown as ``\\xNN``),
the punctuation that acts inside a table cell is backslash-escaped (``|`` would end the
cell, ``[`` ``]`` make links, `` ` `` ``*`` ``_`` ``~`` format), and then it is
HTML-escaped (``html.escape``: no tag or autolink survives; ``&`` shows as itself).
"""

from __future__ import annotations

import html
import re
from typing import TextIO

from detector.report.data import Report
from detector.report.tables import (
    Table,
    energy_sources,
    entity_table,
    summary_table,
    suspect_table,
)
from detector.sinks.common import short_time
from detector.textsafe import escape

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_cell(value: str) -> str:
    """One cell's text, inert in Markdown and in the HTML it may become."""
    text = escape(value, 400)  # backslashes doubled, controls shown
    text = _MD_SPECIAL.sub(r"\\\1", text.replace("\\\\", "\\"))
    return html.escape(text, quote=True)


def write_markdown(report: Report, out: TextIO) -> None:
    out.write("# minewatch investigation report\n\n")
    out.write(f"Generated {short_time(report.generated)} UTC.\n\n")
    for table in (summary_table(report), entity_table(report), suspect_table(report)):
        _table(table, out)
    sources = energy_sources(report)
    if sources:
        out.write("Energy estimates rest on:\n\n")
        for source in sources:
            out.write(f"- {md_cell(source)}\n")
        out.write("\n")


def _table(table: Table, out: TextIO) -> None:
    out.write(f"## {table.title}\n\n")
    headers = table.headers if any(table.headers) else ["What", "Value"]
    out.write("| " + " | ".join(md_cell(h) for h in headers) + " |\n")
    out.write("|" + "---|" * len(headers) + "\n")
    for row in table.rows:
        out.write("| " + " | ".join(md_cell(c) for c in row) + " |\n")
    if not table.rows:
        out.write("| " + " | ".join(["-"] * len(headers)) + " |\n")
    out.write("\n")
