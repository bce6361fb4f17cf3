"""Newline-delimited JSON and the mining dialects (Stratum v1, EthereumStratum, eth-proxy,
CryptoNote/XMRig, ...): ``dissect/jsonlines.py`` and ``dissect/mining.py``, fed a
two-sided conversation (fuzz/common.py) with gaps; also ``parse_json_body``.

A dissector exception is caught by the inspector (the flow's parsing stops, the scan goes
on), so it is not a crash here; a hang, runaway memory, RecursionError/MemoryError, facts
that are not plain data, or any exception from the probe path's caller is.
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.dissect.jsonlines import JsonLines, parse_json_body

CTX = common.dissector_context()


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    common.run_stream(JsonLines, data, CTX)
    parse_json_body(data)


if __name__ == "__main__":
    common.main(TestOneInput)
