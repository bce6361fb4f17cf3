"""Data tables kept as CSV (owners of address space, hardware efficiency): their rows with
line numbers, after the checks every such table needs.

Why one reader: a table a person edits by hand must fail on its first bad line, named
``FILE:LINE: reason`` (the CLI's one line and exit 2), the same way for every table: an
unreadable file, text that is not UTF-8 (a byte-order mark is allowed: spreadsheets write
one), a missing or wrong header, a row of the wrong width. Blank lines and ``#`` comments
are skipped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from detector.errors import InputError


def table_rows(path: Path, header: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells stripped) of every data row of the CSV at ``path``, whose first
    row must be ``header`` (case and spaces aside); raises InputError naming the line."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    expected = ",".join(header)
    seen_header = False
    for row in reader:
        lineno = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()) or row[0].lstrip().startswith("#"):
            continue  # blank line or comment
        if not seen_header:
            if tuple(cell.strip().lower() for cell in row) != header:
                raise InputError(f"{path}:{lineno}: expected the header {expected}")
            seen_header = True
            continue
        if len(row) != len(header):
            raise InputError(
                f"{path}:{lineno}: expected {len(header)} columns ({expected}), got {len(row)}"
            )
        yield lineno, [cell.strip() for cell in row]
    if not seen_header:
        raise InputError(f"{path}:1: empty file (expected the header {expected})")
