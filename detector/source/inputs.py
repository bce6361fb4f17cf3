"""Find captures among the user's paths and open each with the right reader.

Paths may be files, ``-`` (stdin), pipes or directories (searched recursively). Files
inside a directory are recognised by their magic bytes, not their names, so ``capture.1``
from ``tcpdump -C`` rotation is found too, and they are read in the order of their first
packet's timestamp, which is what a forensic timeline needs.

One bad input never costs the others: a path that cannot be read (missing, unreadable,
not a capture, an unlistable directory) becomes a CaptureInput carrying its ``problem``,
which the scan reports as that input's error (exit 2) while every other input is scanned.
Entries of a directory that are not regular files (pipes, sockets, devices) are skipped
with a warning, never opened: a FIFO would block the scan for ever.
"""

from __future__ import annotations

import os
import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from detector.errors import InputError
from detector.source.batch import RecordBatch
from detector.source.pcap import MAGICS as PCAP_MAGICS
from detector.source.pcap import read_pcap
from detector.source.stream import GZIP_MAGIC, CaptureStream, StreamDamage

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
DEFAULT_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True, eq=False, repr=False)  # see startup.py
class CaptureInput:
    """One capture to read: a path (or ``-``) and its format ("pcap", "pcapng", or "?" for
    a stream sniffed when it is opened), or why it cannot be read (``problem``: an error
    when ``fatal``, else a warning that it was skipped)."""

    path: str
    fmt: str
    compressed: bool
    first_ts: float
    problem: str | None = None
    fatal: bool = True

    @property
    def display(self) -> str:
        return "<stdin>" if self.path == "-" else self.path


def _unusable(path: str, problem: str, fatal: bool = True) -> CaptureInput:
    return CaptureInput(path, "", False, float("inf"), f"{path}: {problem}", fatal)


def sniff_format(head: bytes) -> str | None:
    """Return "pcap" or "pcapng" for a capture's first bytes, else None."""
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    return None


def _describe_magic(head: bytes) -> str:
    if not head:
        return "empty file"
    return "unknown magic 0x" + head[:4].hex()


def probe_file(path: str) -> CaptureInput | None:
    """Identify a file as a capture without reading it all; None if it is not one. A
    damaged gzip file still shows the magic of what it holds (what the first 64 KB
    decompress to, checksums unchecked)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return None
    compressed = head[:2] == GZIP_MAGIC
    if compressed:
        try:
            # the first 4 KB only: stop before the trailer, whose checksum may be broken
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
        except zlib.error:
            return None
    fmt = sniff_format(head)
    if fmt is None:
        return None
    return CaptureInput(path, fmt, compressed, _first_timestamp(head, fmt))


def _first_timestamp(head: bytes, fmt: str) -> float:
    """Best-effort timestamp of the first packet, for ordering files in a directory."""
    try:
        if fmt == "pcap":
            little, unit = PCAP_MAGICS[head[:4]]
            sec, frac = struct.unpack_from("<II" if little else ">II", head, 24)
            return sec + frac * unit
    except struct.error:
        pass
    return float("inf")


def expand_inputs(paths: list[str]) -> list[CaptureInput]:
    """Resolve the command line's paths to captures; an input that cannot be used is kept
    with its ``problem`` (see the module docstring)."""
    found: list[CaptureInput] = []
    for path in paths:
        if path == "-":
            found.append(CaptureInput("-", "?", False, float("inf")))
            continue
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            found.append(_unusable(path, "no such file or directory"))
            continue
        except OSError as exc:
            found.append(_unusable(path, f"cannot open ({exc.strerror or exc})"))
            continue
        if stat.S_ISDIR(mode):
            found.extend(_scan_directory(Path(path)))
        elif not stat.S_ISREG(mode):
            # a pipe or a device named on the command line: read it as a stream, like stdin
            found.append(CaptureInput(path, "?", False, float("inf")))
        elif not os.access(path, os.R_OK):
            found.append(_unusable(path, "permission denied"))
        else:
            cap = probe_file(path)
            if cap is None:
                reason = _head_reason(path)
                found.append(_unusable(path, f"not a pcap or pcapng capture ({reason})"))
            else:
                found.append(cap)
    return found


def _head_reason(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        return str(exc.strerror or exc)
    if head[:2] == GZIP_MAGIC:
        return "gzip data that is not a capture"
    return _describe_magic(head)


def _scan_directory(root: Path) -> list[CaptureInput]:
    caps: list[CaptureInput] = []
    problems: list[CaptureInput] = []

    def unlistable(exc: OSError) -> None:
        name = exc.filename or str(root)
        problems.append(_unusable(name, f"cannot list directory ({exc.strerror or exc})"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            try:
                mode = os.stat(path).st_mode
            except OSError as exc:
                problems.append(_unusable(path, f"skipped ({exc.strerror or exc})", False))
                continue
            if not stat.S_ISREG(mode):
                problems.append(_unusable(path, "not a regular file: skipped", False))
            elif not os.access(path, os.R_OK):
                problems.append(_unusable(path, "permission denied"))
            else:
                cap = probe_file(path)
                if cap is not None:
                    caps.append(cap)
    if not caps and not any(problem.fatal for problem in problems):
        problems.append(_unusable(str(root), "directory holds no pcap or pcapng captures"))
    caps.sort(key=lambda c: (c.first_ts, c.path))
    return caps + problems


def read_capture(
    cap: CaptureInput, chunk_size: int = DEFAULT_CHUNK, max_wait: float | None = None
) -> tuple[CaptureStream, Iterator[RecordBatch]]:
    """Open one capture; return its stream (for progress) and its record batches.

    Raises InputError if the capture cannot be used at all; the iterator raises
    CorruptCapture after the last good batch if the file is damaged part-way. With
    ``max_wait`` (pipes, live sources), a batch comes at least that often, empty if no
    whole record arrived.
    """
    stream = CaptureStream(cap.path, max_wait)
    try:
        head = stream._peek_head()
    except StreamDamage as exc:
        stream.close()
        raise InputError(f"{stream.display}: {exc}") from None
    fmt = sniff_format(head)
    if fmt is None:
        stream.close()
        what = "gzip data that is not a capture" if stream.compressed else _describe_magic(head)
        raise InputError(f"{stream.display}: not a pcap or pcapng capture ({what})")
    if fmt == "pcap":
        reader = read_pcap
    else:  # its module on the first pcapng capture only (a start-up saving, callgrind)
        from detector.source.pcapng import read_pcapng as reader
    return stream, reader(stream, chunk_size)
