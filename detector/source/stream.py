"""Open a capture as a sequential byte stream (file, stdin or gzip) and fill buffers.

Readers pull fixed-size chunks so memory stays flat whatever the capture size, and they
never seek, so stdin and gzip work the same as a plain file.
"""

from __future__ import annotations

import gzip
import io
import os
import sys
import zlib
from typing import BinaryIO

from detector.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


class CaptureStream:
    """Sequential bytes of one capture; gzip is decompressed transparently.

    ``raw_pos()`` reports how far into the underlying (possibly compressed) file we are,
    which is what a progress bar needs; ``pos`` is the offset in the uncompressed stream,
    which is what an error message about a bad record needs.
    """

    def __init__(self, path: str) -> None:
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
        if self.compressed:
            self._stream = gzip.GzipFile(fileobj=self._buffered, mode="rb")
        self.pos = 0

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
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
                raise StreamDamage(f"compressed stream damaged ({exc})") from None
        return self._peek(4)

    def read_exact(self, n: int) -> bytes:
        """Read up to ``n`` bytes (fewer only at end of stream)."""
        parts: list[bytes] = []
        want = n
        while want > 0:
            piece = self._read(want)
            if not piece:
                break
            parts.append(piece)
            want -= len(piece)
        data = b"".join(parts)
        self.pos += len(data)
        return data

    def _read(self, n: int) -> bytes:
        try:
            return self._stream.read(n)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise StreamDamage(f"compressed stream damaged ({exc})") from None
        except OSError as exc:
            raise StreamDamage(f"read error ({exc})") from None

    def fill(self, view: memoryview) -> int:
        """Fill ``view`` as far as the stream allows; return the number of bytes read."""
        total = 0
        length = len(view)
        while total < length:
            try:
                got = self._stream.readinto(view[total:])
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                self.pos += total
                raise StreamDamage(f"compressed stream damaged ({exc})") from None
            except OSError as exc:
                self.pos += total
                raise StreamDamage(f"read error ({exc})") from None
            if not got:
                break
            total += got
        self.pos += total
        return total

    def raw_pos(self) -> int:
        """Bytes consumed from the underlying file (for progress reporting)."""
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
