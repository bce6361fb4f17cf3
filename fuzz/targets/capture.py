"""Capture readers (pcap, pcapng) on a plain file, driven as detector/replay.py drives
them: ``read_capture`` on a path, every batch taken, the stream closed.

Crash: any exception but InputError (unusable input) and CorruptCapture (damage after the
last good batch). Twin: the compiled record walks (the classic one writing each record's
header fields) against their Python/numpy twins - the same batches (offsets, lengths,
timestamps, link types, packet bytes) and the same error. Input: the capture file; its
first byte picks the chunk size (small chunks exercise windows that end inside a record
and are widened).
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.errors import CorruptCapture, InputError
    from detector.source.inputs import CaptureInput, read_capture

CHUNKS = (1000, 4096, 65536, 16 * 1024 * 1024)


def read_all(path: str, chunk: int) -> list[tuple]:
    """What a reader yields for ``path``: one summary per batch, then the error if any."""
    cap = CaptureInput(path, "?", False, float("inf"))
    try:
        stream, batches = read_capture(cap, chunk)
    except InputError as exc:
        return [("input-error", str(exc))]
    out: list[tuple] = []
    try:
        for rb in batches:
            spans = zip(rb.data_off.tolist(), rb.caplen.tolist(), strict=True)
            packets = tuple(bytes(rb.buf[o : o + c]) for o, c in spans)
            out.append(
                (
                    len(rb),
                    rb.caplen.tobytes(),
                    rb.wirelen.tobytes(),
                    rb.ts.tobytes(),
                    rb.linktype.tobytes(),
                    rb.stream_off.tobytes(),
                    packets,
                )
            )
            assert rb.buf.shape[0] >= int((rb.data_off + rb.caplen).max(initial=0)), "past buf"
    except CorruptCapture as exc:
        out.append(("corrupt", exc.offset, exc.reason))
    except InputError as exc:  # the readers read the file header lazily, at the first batch
        out.append(("input-error", str(exc)))
    finally:
        stream.close()
    return out


def check(file_bytes: bytes, chunk: int) -> None:
    with common.temp_file(file_bytes) as path:
        got = read_all(path, chunk)
        if common.compiled_available():
            with common.pure():
                want = read_all(path, chunk)
            assert got == want, "compiled and pure readers differ"


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    check(data[1:], CHUNKS[data[0] % len(CHUNKS)])


if __name__ == "__main__":
    common.main(TestOneInput)
