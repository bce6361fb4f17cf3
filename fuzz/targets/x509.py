"""X.509 (``dissect/tls/x509.py``): a TLS Certificate message body (the chain) or one DER
certificate. Crash: any exception (both readers return None on what they cannot read).

Input: first byte - bit 0 picks a bare DER certificate, else a Certificate message body.
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.dissect.tls import x509


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    if not data:
        return
    if data[0] & 1:
        x509.parse_x509(data[1:], 1 + (data[0] >> 1) % 3)
    else:
        x509._read_certificate(data[1:])  # parse_certificate without its cache


if __name__ == "__main__":
    common.main(TestOneInput)
