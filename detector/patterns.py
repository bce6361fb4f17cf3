"""Regular expressions from data files, matched in linear time.

Rule files and coin tables are data anyone may hand us, and what they match against comes
off the wire: with a backtracking engine one pattern such as ``^(a+)+$`` lets a 35-byte
agent hang the scan. RE2 matches in time linear in the subject and refuses, with an error
at load, what it cannot match that way (backreferences, lookaround).
"""

from __future__ import annotations

from typing import Any

import re2

PatternError = re2.error

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are the caller's to report, with file and line


def compile_linear(pattern: str) -> Any:
    """The compiled pattern (``search``/``match`` like ``re``); PatternError if RE2
    cannot take it."""
    return re2.compile(pattern, _OPTIONS)


def pattern_error(exc: Exception) -> str:
    """One line on why a pattern was refused."""
    reason = exc.args[0] if exc.args else exc
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    return f"{reason} (patterns use RE2 syntax: no backreferences or lookaround)"
