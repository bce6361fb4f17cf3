"""decode: ``detector.decode.decode`` (C ``decode_batch`` when built) and its numpy twin
``py_decode`` give identical packet columns and statistics on every batch.

Input: records (see fuzz/common.py): link-type selector, length, packet bytes.
Crash: any exception (decode never raises on packet content), or a twin mismatch.
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    import numpy as np

    from detector.decode import decode, py_decode

COLUMNS = ("ts", "wirelen", "proto", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport",
           "flags", "seq", "payload_off", "payload_len", "payload_cap", "stream_off")  # fmt: skip


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    rb = common.record_batch(common.records(data))
    a, sa = py_decode(rb)
    if not common.compiled_available():
        return
    b, sb = decode(rb)
    assert sa == sb, (sa, sb)
    for name in COLUMNS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    end = rb.buf.shape[0]
    assert bool(((b.payload_off + b.payload_cap) <= end).all()), "payload past the buffer"


if __name__ == "__main__":
    common.main(TestOneInput)
