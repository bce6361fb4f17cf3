"""Find captures among the user's paths and open each with the right reader.

Paths may be files, ``-`` (stdin) or directories (searched recursively). Files inside a
directory are recognised by their magic bytes, not their names, so ``capture.1`` from
``tcpdump -C`` rotation is found too, and they are read in the order of their first
packet's timestamp, which is what a forensic timeline needs.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from detector.errors import InputError
from detector.source.batch import RecordBatch
from detector.source.pcap import MAGICS as PCAP_MAGICS
from detector.source.pcap import read_pcap
from detector.source.pcapng import read_pcapng
from detector.source.stream import GZIP_MAGIC, CaptureStream, StreamDamage

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
DEFAULT_CHUNK = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CaptureInput:
    """One capture to read: a path (or ``-``) and its format."""

    path: str
    fmt: str  # "pcap" or "pcapng"
    compressed: bool
    first_ts: float

    @property
    def display(self) -> str:
        return "<stdin>" if self.path == "-" else self.path


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
    """Identify a file as a capture without reading it all; None if it is not one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
            compressed = head[:2] == GZIP_MAGIC
            if compressed:
                fh.seek(0)
                try:
                    with gzip.GzipFile(fileobj=fh) as gz:
                        head = gz.read(64 * 1024)
                except (OSError, EOFError):
                    return None
            else:
                head += fh.read(64 * 1024 - len(head))
    except OSError:
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
    """Resolve the command line's paths to captures, or raise InputError."""
    found: list[CaptureInput] = []
    for path in paths:
        if path == "-":
            found.append(CaptureInput("-", "?", False, float("inf")))
            continue
        p = Path(path)
        if p.is_dir():
            found.extend(_scan_directory(p))
        elif p.exists():
            if not os.access(p, os.R_OK):
                raise InputError(f"{path}: permission denied")
            cap = probe_file(path)
            if cap is None:
                raise InputError(f"{path}: not a pcap or pcapng capture ({_head_reason(path)})")
            found.append(cap)
        else:
            raise InputError(f"{path}: no such file or directory")
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
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            cap = probe_file(os.path.join(dirpath, name))
            if cap is not None:
                caps.append(cap)
    if not caps:
        raise InputError(f"{root}: directory holds no pcap or pcapng captures")
    caps.sort(key=lambda c: (c.first_ts, c.path))
    return caps


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
    reader = read_pcap if fmt == "pcap" else read_pcapng
    return stream, reader(stream, chunk_size)
