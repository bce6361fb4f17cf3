"""Open a capture as a sequential byte stream (file, stdin or gzip) and fill buffers.

Readers pull fixed-size windows so memory stays flat whatever the capture size; a plain
file is memory-mapped window by window, anything else (stdin, gzip) is read sequentially,
so all inputs look the same to the readers. A pipe fed by a live source can be read by
time as well as by size (``max_wait``): a window then holds what arrived within that
time, so a slow source still yields batches and its session can sweep idle flows.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import select
import stat
import sys
import time
import zlib
from typing import BinaryIO

import numpy as np

from detector.errors import InputError
from detector.source.batch import PAD

GZIP_MAGIC = b"\x1f\x8b"
# Pages of a window are faulted in as the record walk first touches them (the kernel maps
# a few dozen around each fault). MAP_POPULATE, mapping them all up front, measured
# slower once the walk prefetched ahead (~10-20 ms on the 1M-packet bench); a WILLNEED
# hint still starts reading a capture that is not in the page cache ahead of the walk.
_WILLNEED = getattr(mmap, "MADV_WILLNEED", None)


class CaptureStream:
    """Sequential bytes of one capture; gzip is decompressed transparently.

    ``raw_pos()`` reports how far into the underlying (possibly compressed) file we are,
    which is what a progress bar needs; ``pos`` is the offset in the uncompressed stream,
    which is what an error message about a bad record needs.
    """

    def __init__(self, path: str, max_wait: float | None = None) -> None:
        self.path = path
        self.display = "<stdin>" if path == "-" else path
        self._raw: BinaryIO
        try:
            if path == "-":
                self._raw = sys.stdin.buffer
                self.size: int | None = None
            else:
                self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
                self.size = _file_size(self._raw)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{path}: is a directory") from None
        except PermissionError:
            raise InputError(f"{path}: permission denied") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from None
        self._buffered = self._raw if hasattr(self._raw, "peek") else io.BufferedReader(self._raw)
        self._stream: BinaryIO = self._buffered
        self.compressed = self._peek(2) == GZIP_MAGIC
        # What a damaged stream raises (EOFError, zlib.error; gzip's BadGzipFile, an
        # OSError, too once gzip reads): gzip is imported for a compressed capture only,
        # not with the module - it costs every start-up ~6 M instructions (callgrind).
        self._damage: tuple[type[Exception], ...] = (EOFError, zlib.error)
        if self.compressed:
            import gzip

            self._stream = gzip.GzipFile(fileobj=self._buffered, mode="rb")
            self._damage = (EOFError, gzip.BadGzipFile, zlib.error)
        self.pos = 0
        # Read by time (pipes, live): a window ends after max_wait seconds with what came.
        # Not for gzip, whose decompressor buffers what the pipe gave it.
        self.max_wait = None if self.compressed else max_wait
        self.timed_out = False  # the last window was cut short by max_wait
        self.damage: str | None = None  # why the stream broke (see fill)
        self.damage_pos = 0  # uncompressed offset where it broke
        self._ended = False  # the stream's end was reached
        self._mappable: bool | None = None  # decided at the first window
        self._last: tuple[np.ndarray, int, int] | None = None  # previous read window

    def _peek(self, n: int) -> bytes:
        try:
            return self._buffered.peek(n)[:n]
        except OSError as exc:
            raise InputError(f"{self.display}: cannot read ({exc})") from None

    def _peek_head(self) -> bytes:
        """First bytes of the (decompressed) stream without consuming them."""
        if self.compressed:
            try:
                return self._stream.peek(4)[:4]  # type: ignore[attr-defined]
            except (*self._damage, OSError) as exc:
                raise StreamDamage(f"compressed stream damaged ({exc})") from None
        return self._peek(4)

    def read_exact(self, n: int) -> bytes:
        """Read up to ``n`` bytes (fewer only at end of stream)."""
        parts: list[bytes] = []
        want = n
        while want > 0:
            try:
                piece = self._read(want)
            except StreamDamage as exc:
                raise InputError(f"{self.display}: {exc}") from None
            if not piece:
                break
            parts.append(piece)
            want -= len(piece)
        data = b"".join(parts)
        # what was read stays available to the next window (a reader may re-read it)
        self._last = (np.frombuffer(data, dtype=np.uint8), self.pos, len(data))
        self.pos += len(data)
        return data

    def _read(self, n: int) -> bytes:
        try:
            return self._stream.read(n)
        except self._damage as exc:
            raise StreamDamage(f"compressed stream damaged ({exc})") from None
        except OSError as exc:
            raise StreamDamage(f"read error ({exc})") from None

    def fill(self, view: memoryview) -> int:
        """Fill ``view`` as far as the stream allows (with ``max_wait``: as far as it
        allows within that time); return the number of bytes read. If the stream breaks
        (damaged gzip data, an I/O error), what came before is kept: the bytes read so far
        are returned, the stream ends there and ``damage`` says why and where, so the
        readers scan those bytes before they report the damage."""
        if self.max_wait is not None:
            return self._fill_by_time(view, self.max_wait)
        total = 0
        length = len(view)
        # gzip: one decompressed block per call, so a break loses at most that block
        read = self._stream.readinto1 if self.compressed else self._stream.readinto
        while total < length:
            try:
                got = read(view[total:])
            except self._damage as exc:
                self._break(total, f"compressed stream damaged ({exc})")
                break
            except OSError as exc:
                self._break(total, f"read error ({exc})")
                break
            if not got:
                self._ended = True
                break
            total += got
        self.pos += total
        return total

    def _break(self, got: int, reason: str) -> None:
        self.damage = reason
        self.damage_pos = self.pos + got
        self._ended = True

    def _fill_by_time(self, view: memoryview, max_wait: float) -> int:
        """Fill ``view`` with what arrives within ``max_wait`` seconds. The descriptor is
        non-blocking meanwhile, so the buffered reader hands over what it holds and never
        waits; ``select`` does the waiting."""
        deadline = time.monotonic() + max_wait
        total, length = 0, len(view)
        fd = self._raw.fileno()
        blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)
        self.timed_out = False
        try:
            while total < length:
                try:
                    got = self._buffered.readinto1(view[total:])
                except BlockingIOError:
                    got = None
                except OSError as exc:
                    self._break(total, f"read error ({exc})")
                    break
                if got:
                    total += got
                    continue
                if got == 0:  # None: nothing yet (it would block); 0: the writer is gone
                    self._ended = True
                    break
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    self.timed_out = True
                    break
        finally:
            os.set_blocking(fd, blocking)
        self.pos += total
        return total

    def window(self, start: int, size: int) -> tuple[np.ndarray, int, bool]:
        """The stream's bytes from offset ``start`` on, up to ``size`` of them: (buffer,
        bytes it holds, whether the stream ends there). ``start`` never goes back before
        the previous window's start.

        A plain file is memory-mapped, window by window, so its bytes reach the readers
        without a copy (pages of the page cache are mapped, not read into a buffer; the
        old window is unmapped when its batches are dropped, so memory stays flat).
        Anything else - stdin, gzip, pipes - is read into a fresh buffer, the previous
        window's bytes from ``start`` on carried over, with PAD zero bytes after them.
        (A file truncated while it is mapped would make the kernel stop the process, as
        for any reader of memory-mapped files; captures being written only grow.)"""
        if self._mappable is None:
            self._mappable = self._can_map()
            if self._mappable:
                try:  # the first window decides; the read path is still untouched here
                    return self._mapped_window(start, size)
                except StreamDamage:
                    self._mappable = False
        if self._mappable:
            return self._mapped_window(start, size)
        return self._read_window(start, size)

    def _can_map(self) -> bool:
        if self.compressed or self.size is None or self.path == "-":
            return False
        try:
            return stat.S_ISREG(os.fstat(self._raw.fileno()).st_mode)
        except (OSError, ValueError):
            return False

    def _mapped_window(self, start: int, size: int) -> tuple[np.ndarray, int, bool]:
        total = self.size or 0
        end = min(start + size, total)
        if end <= start:
            self.pos = max(self.pos, start)
            return np.zeros(0, dtype=np.uint8), 0, True
        if end >= total:
            # The decoders read a few bytes past a short packet and rely on PAD zero bytes
            # after the data, as read windows have; a mapping ends with the file. So the
            # last window (once per file) is read into a buffer with its padding: read,
            # not mapped and copied, so that its pages of the page cache are never mapped
            # into the process beside the copy (up to a window's size more peak RSS at
            # the end of a scan, as a file's size falls).
            padded = np.zeros(end - start + PAD, dtype=np.uint8)
            got = self._read_at(start, memoryview(padded)[: end - start])
            self.pos = start + got
            return padded, got, True
        aligned = start - start % mmap.ALLOCATIONGRANULARITY
        try:
            mapped = mmap.mmap(
                self._raw.fileno(),
                end - aligned,
                flags=mmap.MAP_SHARED,
                prot=mmap.PROT_READ,
                offset=aligned,
            )
        except (OSError, ValueError, TypeError) as exc:  # TypeError: no POSIX mmap
            raise StreamDamage(f"cannot map the file ({exc})") from None
        if _WILLNEED is not None:
            with contextlib.suppress(OSError):
                mapped.madvise(_WILLNEED)
        buf = np.frombuffer(mapped, dtype=np.uint8)[start - aligned :]
        self.pos = end
        return buf, end - start, False

    def _read_at(self, offset: int, view: memoryview) -> int:
        """Fill ``view`` with the file's bytes from ``offset`` on (pread: the buffered
        reader's position is not moved); the count read, fewer only if the file ended
        sooner (cut since it was opened). An I/O error is StreamDamage, as a failed
        mapping is."""
        fd, total = self._raw.fileno(), 0
        while total < len(view):
            try:
                got = os.preadv(fd, [view[total:]], offset + total)
            except OSError as exc:
                raise StreamDamage(f"read error ({exc})") from None
            if got == 0:
                break
            total += got
        return total

    def _read_window(self, start: int, size: int) -> tuple[np.ndarray, int, bool]:
        carry = b""
        if self._last is not None:
            last_buf, last_base, last_filled = self._last
            if last_base <= start < last_base + last_filled:
                carry = bytes(last_buf[start - last_base : last_filled])
        size = max(size, len(carry))
        buf = np.empty(size + PAD, dtype=np.uint8)
        view = memoryview(buf)
        view[: len(carry)] = carry
        got = self.fill(view[len(carry) : size])
        filled = len(carry) + got
        buf[filled : filled + PAD] = 0
        self._last = (buf, start, filled)
        return buf, filled, self._ended or (filled < size and not self.timed_out)

    def raw_pos(self) -> int:
        """Bytes consumed from the underlying file (for progress reporting)."""
        if self._mappable:
            return self.pos
        try:
            return self._raw.tell() if self.size is not None else self.pos
        except OSError:
            return self.pos

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()


class StreamDamage(Exception):
    """The byte stream itself broke (bad gzip data, I/O error) at ``CaptureStream.pos``."""


def _file_size(fh: BinaryIO) -> int | None:
    try:
        return os.fstat(fh.fileno()).st_size
    except OSError:
        return None
