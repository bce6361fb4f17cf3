"""Capture readers on gzip input: the read path (windows read into buffers, carried
over between windows) instead of the memory map, behind the gzip decompressor.

Input: first byte picks the chunk size; bit 7 of it set means the rest is used as the
file as it is (damaged gzip streams: the decompressor's errors must become InputError or
CorruptCapture), else the rest is gzip-compressed first (so the fuzzer mutates the
capture inside). Same crash rule and twin check as ``capture``.
"""

from __future__ import annotations

import gzip

from fuzz import common
from fuzz.targets.capture import CHUNKS, check


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    sel, rest = data[0], data[1:]
    body = rest if sel & 0x80 else gzip.compress(rest, compresslevel=1, mtime=0)
    check(body, CHUNKS[(sel & 0x7F) % (len(CHUNKS) - 1)])  # 16 MB buffers: no news, slow


if __name__ == "__main__":
    common.main(TestOneInput)
