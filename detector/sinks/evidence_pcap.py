"""Raw packets of suspect flows, kept as evidence in a size-bounded ring of pcap files.

An alert says what minewatch concluded; an incident responder wants the packets too (to
show the pool's jobs, to run another tool over them). ``minewatch live --pcap-out DIR``
keeps the packets of every flow a suspect was told of, from its alert on, in classic pcap
files of at most ``file_bytes`` each; when the ring holds ``max_files`` of them the oldest
is deleted, so the disk a sensor uses for evidence is bounded, as tcpdump's ``-C``/``-W``
bound theirs. A file holds one link type (a new one starts when it changes).

Names come from the sensor's own clock, its process id (workers share a directory) and
a counter (``minewatch-evidence-<UTC time>-<pid>-<n>.pcap``): nothing from a packet
reaches a path. Only files this ring wrote are ever
deleted.
"""

from __future__ import annotations

import contextlib
import os
import struct
import time
from pathlib import Path

from detector.errors import InputError

PCAP_HEADER = struct.Struct("<IHHiIII")
RECORD_HEADER = struct.Struct("<IIII")
PCAP_MAGIC_US = 0xA1B2C3D4
SNAPLEN = 262144


class PcapRing:
    """Classic pcap files in ``directory``: at most ``max_files`` of ``file_bytes``."""

    def __init__(self, directory: str, file_bytes: int, max_files: int) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{directory}: cannot make the directory ({exc.strerror})") from None
        if not os.access(self.directory, os.W_OK):
            raise InputError(f"{directory}: not writable")
        self.file_bytes = max(file_bytes, 64 * 1024)
        self.max_files = max(max_files, 2)
        self.files: list[Path] = []  # ours, oldest first
        self.out = None
        self.linktype: int | None = None
        self.written = 0  # bytes in the current file
        self.counter = 0
        self.packets = 0  # packets kept, over the ring's life

    def write(self, ts: float, data: bytes, wirelen: int, linktype: int) -> None:
        """Keep one packet (a new file when this one is full or the link type changes)."""
        size = RECORD_HEADER.size + len(data)
        if self.out is None or linktype != self.linktype or self.written + size > self.file_bytes:
            self._rotate(linktype)
        assert self.out is not None
        sec = int(ts)
        usec = min(int(round((ts - sec) * 1e6)), 999_999)
        self.out.write(RECORD_HEADER.pack(sec, usec, len(data), wirelen) + data)
        self.written += size
        self.packets += 1

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()

    def _rotate(self, linktype: int) -> None:
        self.close()
        self.counter += 1
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"minewatch-evidence-{stamp}-{os.getpid()}-{self.counter:06d}.pcap"
        path = self.directory / name
        try:
            self.out = open(path, "wb")  # noqa: SIM115 - closed at rotation or close()
        except OSError as exc:
            raise InputError(f"{path}: cannot write ({exc.strerror})") from None
        self.out.write(PCAP_HEADER.pack(PCAP_MAGIC_US, 2, 4, 0, 0, SNAPLEN, linktype))
        self.linktype, self.written = linktype, PCAP_HEADER.size
        self.files.append(path)
        while len(self.files) > self.max_files:
            oldest = self.files.pop(0)
            with contextlib.suppress(OSError):  # gone already (moved away): nothing to bound
                oldest.unlink()

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None
