"""The report's tables as CSV (``--format csv``): one file per table in a directory.

Layout (``-o DIR``): ``DIR/summary.csv`` (columns key,value: screened, mining_ips,
entities, unknown_space_ips, coins, pools, ... one per row), ``DIR/entities.csv`` (one row
per owner) and ``DIR/suspects.csv`` (one row per miner IP); lists are joined with ";",
times in Suricata's format, numbers unformatted, an unknown number empty. Strings from
packets or the owners file go through textsafe.escape_cell (control characters shown,
spreadsheet formulas neutralised), as the scan's own CSV does.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from detector.errors import InputError
from detector.report.data import Report
from detector.report.tables import entity_records, summary_records, suspect_records
from detector.textsafe import escape_cell

FILES = ("summary.csv", "entities.csv", "suspects.csv")


def write_csv_dir(report: Report, directory: Path) -> list[Path]:
    """Write the three files; the paths written."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"{directory}: cannot make the directory ({exc.strerror or exc})"
        ) from None
    written = []
    for name, records in zip(
        FILES,
        (summary_records(report), entity_records(report), suspect_records(report)),
        strict=True,
    ):
        path = directory / name
        try:
            with path.open("w", encoding="utf-8", newline="") as fh:
                _write(records, fh)
        except OSError as exc:
            raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
        written.append(path)
    return written


def _write(records: list[dict[str, Any]], fh: Any) -> None:
    if not records:
        return
    writer = csv.writer(fh, lineterminator="\n")
    names = list(records[0])
    writer.writerow(names)
    for record in records:
        writer.writerow([_cell(record[name]) for name in names])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, list):
        return ";".join(escape_cell(v) if isinstance(v, str) else str(v) for v in value)
    return escape_cell(value)
