"""Make strings from packets safe to show on a terminal or in a CSV cell.

Agents, wallets and hostnames come from the wire and may carry terminal escape
sequences (ESC [ ...), carriage returns that overwrite earlier output, or spreadsheet
formulas. Everything from a packet passes through here before it reaches a table or CSV.
JSON output needs no help: ``json.dumps`` escapes control characters itself.
"""

from __future__ import annotations

_MAX_LEN = 200


def escape(value: object, max_len: int = _MAX_LEN) -> str:
    """Return ``value`` as printable text: control and non-printable characters become
    ``\\xNN``/``\\uNNNN`` escapes, backslashes are doubled, and long strings are cut."""
    text = value if isinstance(value, str) else str(value)
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    result = "".join(out)
    if len(result) > max_len:
        result = result[: max_len - 1] + "…"
    return result


def escape_cell(value: object) -> str:
    """Escape for CSV: like :func:`escape`, and neutralise spreadsheet formulas."""
    text = escape(value, max_len=1000)
    if text[:1] in ("=", "+", "-", "@"):
        text = "'" + text
    return text
