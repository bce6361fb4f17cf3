"""TLS hello readers (``dissect/tls/hello.py``): a ClientHello or ServerHello body read by
the C reader (``client_hello_fields``/``server_hello_fields``) and by the Python reader -
identical results; the fingerprint cache key (``hello_key``) against ``py_hello_key``;
and JA3/JA3S/JA4 (all four forms) of what was read.

Input: first byte - bit 0 picks ServerHello, bit 1 the record version (0x0301/0x0303);
the rest is the handshake body. Crash: any exception, or a twin mismatch.
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.dissect.tls import fingerprint, hello


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    sel, body = data[0], data[1:]
    version = 0x0303 if sel & 2 else 0x0301
    compiled = common.compiled_available()
    if sel & 1:
        sh = hello.py_parse_server_hello(body, version)
        if compiled:
            assert hello.parse_server_hello(body, version) == sh, "ServerHello readers differ"
        if sh is not None:
            fingerprint.ja3s(sh)
        return
    ch = hello.py_parse_client_hello(body, version)
    if compiled:
        assert hello.parse_client_hello(body, version) == ch, "ClientHello readers differ"
    if ch is None:
        return
    fields = (ch.handshake_version, ch.ciphers, ch.extensions, ch.supported_versions,
              ch.supported_groups, ch.ec_point_formats, ch.signature_algorithms, ch.alpn,
              ch.sni, ch.session_id_len, ch.compression_methods)  # fmt: skip
    key = hello.py_hello_key(fields)
    if compiled:
        assert hello.hello_key(fields) == key, "hello_key differs"
    fingerprint.ja3(ch)
    for transport in ("t", "q"):
        fingerprint.ja4(ch, transport)
        fingerprint.ja4_r(ch, transport)
        fingerprint.ja4_o(ch, transport)
        fingerprint.ja4_ro(ch, transport)


if __name__ == "__main__":
    common.main(TestOneInput)
