"""Error types that the CLI turns into one-line messages and exit codes.

Every stage raises these instead of letting library exceptions escape, so that the CLI
can print one line on stderr and exit 2 without a traceback (see README, "Bad input").
"""

from __future__ import annotations


class InputError(Exception):
    """Input that cannot be used at all (missing file, not a capture, bad rule file).

    The CLI prints ``minewatch: error: <message>`` and exits 2.
    """


class CorruptCapture(Exception):
    """A capture became unreadable part-way through.

    Raised by a reader *after* it has yielded every good record before the damage, so
    the pipeline can still report what it found. ``offset`` is the byte offset (in the
    uncompressed capture stream) of the first bad record or block.
    """

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: {reason} at byte offset {offset}")
        self.path = path
        self.offset = offset
        self.reason = reason
