"""HTTP (``dissect/http.py``): requests and responses on both sides, bodies by
Content-Length and chunked, decoded bodies, CONNECT tunnels, JSON-RPC bodies; also the
header parser alone. Crash rule as for every dissector (see fuzz/targets/jsonlines.py).
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.dissect.http import Http, parse_head, parse_headers

CTX = common.dissector_context()


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    common.run_stream(Http, data, CTX)
    common.contained(parse_headers, data)
    common.contained(parse_head, data)


if __name__ == "__main__":
    common.main(TestOneInput)
