"""HTTP (``dissect/http.py``): requests and responses on both sides, bodies by
Content-Length and chunked, decoded bodies, CONNECT tunnels, JSON-RPC bodies; also the
header parser alone, and the compiled head reader (``_fast.http_head``) against its twin
``py_parse_head``: the same start line and fields, or both refusing. Crash rule as for
every dissector (see fuzz/targets/jsonlines.py), or a twin mismatch.
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.dissect.http import Http, parse_head, parse_headers, py_parse_head

CTX = common.dissector_context()


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    common.run_stream(Http, data, CTX)
    common.contained(parse_headers, data)
    common.contained(parse_head, data)
    if common.compiled_available():
        got, want = parse_head(data), py_parse_head(data)
        assert (got is None) == (want is None), "http_head refuses apart from its twin"
        if got is not None and want is not None:
            assert (got.method, got.uri, got.status) == (want.method, want.uri, want.status)
            assert list(got.headers.items()) == list(want.headers.items()), "http_head fields"


if __name__ == "__main__":
    common.main(TestOneInput)
