"""Packed results kept in an anonymous temporary file instead of the process's memory.

Why: a scan keeps the suspects and node pairs of every window that is over for its report
at the end, packed (suspects.SuspectTable.settle, nodehosts.NodeTable.settle). Those
blobs are the one part of a scan's memory that grows with the time its capture covers
(~3 MB at 10 M packets of the bench's real traffic), and each is a malloc'd block that
lives to the end of the scan, made in the middle of a window's short-lived objects: they
pin glibc's heap and keep the space freed around them from going back. Written to a file
they cost the process a few dozen bytes each (``Spilled``); the file's pages are the
kernel's page cache, not the process's resident memory - how Zeek and Suricata keep their
logs out of theirs. A blob is read back (one pread) when its window is unpacked again or
at the end of the scan.

One file per process, made on the first blob (a scan that packs nothing makes none) and
made again in a forked child (parallel.py's workers: a file shared with the parent would
have two writers at the same offsets). Space is given back when every blob is freed (a
live sensor retires all of its packed windows as they end, live.py): the file is
truncated. A ``Spilled`` crosses processes as its bytes - pickle between our own
processes (``__reduce__``) and the plain codec (``__plain__``: the same base64 text as the
bytes it stands for) - and lands in the receiving process's own file.
"""

from __future__ import annotations

import base64
import os
import threading
from typing import Any


class _File:
    """The process's spill file: blobs appended, read back by offset."""

    __slots__ = ("fd", "pid", "end", "live")

    def __init__(self) -> None:
        self.fd = -1
        self.pid = -1
        self.end = 0  # bytes written
        self.live = 0  # blobs not freed

    def _open(self) -> None:
        import tempfile  # here: it imports random and hashlib's sha512, a scan's start-up need not

        # unlinked at once: the file goes with the process (its own descriptor, kept open)
        with tempfile.TemporaryFile() as handle:
            self.fd = os.dup(handle.fileno())
        self.pid = os.getpid()
        self.end = 0
        self.live = 0

    def write(self, blob: bytes) -> int:
        with _LOCK:  # the place is taken first: another thread writes past it meanwhile
            if self.pid != os.getpid():
                self._open()
            offset = self.end
            self.end += len(blob)
            self.live += 1
        view = memoryview(blob)
        while view:
            view = view[os.pwrite(self.fd, view, offset + len(blob) - len(view)) :]
        return offset

    def read(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise OSError(f"spill file: short read at {offset} ({len(data)} of {length} bytes)")
        return data

    def free(self) -> None:
        with _LOCK:  # a blob being written counts as live: never truncated under it
            self.live -= 1
            if self.live == 0:
                os.ftruncate(self.fd, 0)
                self.end = 0


_FILE = _File()
# Why a lock: a cluster worker (cluster.py) may scan captures in threads of one process.
_LOCK = threading.Lock()


def _new_lock() -> None:
    """A forked child's lock starts free (a thread of the parent may have held it)."""
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_lock)


class Spilled:
    """A blob written to the spill file: its place there. Read it with ``read``; ``free``
    it when dropping it for good (not needed for correctness: it lets the file be
    truncated once nothing in it is kept)."""

    __slots__ = ("offset", "length", "pid")

    def __init__(self, offset: int, length: int, pid: int) -> None:
        self.offset = offset
        self.length = length
        self.pid = pid

    def read(self) -> bytes:
        if self.pid != _FILE.pid:
            raise RuntimeError("a spilled blob of another process")
        return _FILE.read(self.offset, self.length)

    def free(self) -> None:
        if self.pid == _FILE.pid:
            _FILE.free()

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return spill, (self.read(),)

    def __plain__(self) -> bytes:
        return self.read()

    @classmethod
    def __from_plain__(cls, data: str) -> Spilled:
        return spill(base64.b64decode(data))


def spill(blob: bytes) -> Spilled:
    """``blob`` written to the process's spill file."""
    offset = _FILE.write(blob)
    return Spilled(offset, len(blob), _FILE.pid)
