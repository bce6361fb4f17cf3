"""libp2p's multistream-select opener (``dissect/libp2p.py``) on a TCP conversation: length
varints of any size, messages without their newline, ids with any bytes, holes.
Crash rule as for every dissector (see fuzz/targets/jsonlines.py).
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.dissect.libp2p import Multistream

CTX = common.dissector_context()


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    common.run_stream(Multistream, data, CTX)


if __name__ == "__main__":
    common.main(TestOneInput)
