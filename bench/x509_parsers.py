"""minewatch's own X.509 reader against the well-kept library, ``cryptography.x509``.

``crypto_x509`` gives the facts minewatch keeps of a certificate (detector/dissect/tls/
x509.py's ``Certificate``: subject and issuer in OpenSSL's RFC 2253 form, their CN and O,
self-issued, validity, chain length, size) read through ``cryptography`` instead of the own
DER walk; ``corpus_certificates`` collects every certificate of every Certificate message
minewatch reads in some captures. tests/test_x509_reference.py checks that the two readers
agree on every one of them; this script times both per certificate:

    .venv/bin/python -m bench.x509_parsers [CAPTURE_OR_DIR...]   (default ../shared/corpus)

``cryptography`` is a dev dependency, not a runtime one: the measurement (README, "TLS
certificates") kept the own reader.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

from detector.dissect.tls import x509 as own
from detector.dissect.tls.hello import _Reader

# ASN.1 string tags -> how the own reader decodes them (x509._STRING_CODECS); cryptography
# hands back str (UTF-8, or UTF-16/32 for BMP/Universal) or bytes (BIT STRING).
_WIDE = {0x1C: "utf-32-be", 0x1E: "utf-16-be"}


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _name(name) -> tuple[str, dict[str, str]]:  # noqa: ANN001 - cryptography.x509.Name
    """A Name as the own reader renders it (RFC 4514, most specific RDN first, members of
    a multi-valued RDN reversed, OpenSSL's short names, other types as ``OID=#hex``)."""
    rdns: list[str] = []
    first: dict[str, str] = {}
    for rdn in name.rdns:
        parts: list[str] = []
        for attr in rdn:
            oid = attr.oid.dotted_string
            short = own._OID_NAMES.get(oid)
            tag = attr._type.value
            value = attr.value
            raw = value if isinstance(value, bytes) else value.encode(_WIDE.get(tag, "utf-8"))
            codec = own._STRING_CODECS.get(tag)
            if short is None or codec is None:
                tlv = bytes([tag]) + _der_length(len(raw)) + raw
                parts.append(f"{short or oid}=#{tlv.hex()}")
                continue
            text = raw.decode(codec, "replace")
            first.setdefault(short, text)
            parts.append(f"{short}={own._escape_dn_value(text)}")
        rdns.append("+".join(reversed(parts)))
    return ",".join(reversed(rdns)), first


def crypto_x509(der: bytes, chain_length: int = 1) -> own.Certificate | None:
    """``x509.parse_x509``'s facts, read through ``cryptography.x509``."""
    from cryptography import x509

    try:
        with warnings.catch_warnings():
            # a non-positive serial number loads with a deprecation warning (one corpus
            # certificate has one; a later cryptography refuses it)
            warnings.simplefilter("ignore")
            cert = x509.load_der_x509_certificate(bytes(der))
        issuer, issuer_attrs = _name(cert.issuer)
        subject, subject_attrs = _name(cert.subject)
        not_before = cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        not_after = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return own.Certificate(
        subject=subject,
        issuer=issuer,
        subject_cn=subject_attrs.get("CN"),
        subject_o=subject_attrs.get("O"),
        issuer_cn=issuer_attrs.get("CN"),
        issuer_o=issuer_attrs.get("O"),
        self_signed=subject == issuer,
        not_before=not_before,
        not_after=not_after,
        chain_length=chain_length,
        leaf_der_len=len(der),
    )


def corpus_certificates(paths: list[str]) -> list[tuple[bytes, int]]:
    """(DER, chain length) of every certificate - leaf or not - of every Certificate
    message a scan of ``paths`` reads, each distinct DER once, in the order first seen."""
    from detector.config import ScanConfig
    from detector.pipeline import run_scan
    from detector.source import expand_inputs

    bodies: list[bytes] = []
    read = own._read_certificate

    def recording(body: bytes) -> own.Certificate | None:
        bodies.append(bytes(body))
        return read(body)

    own._CERTIFICATES.clear()
    own._read_certificate = recording  # type: ignore[assignment]
    try:
        run_scan(expand_inputs(paths), ScanConfig())
    finally:
        own._read_certificate = read  # type: ignore[assignment]
        own._CERTIFICATES.clear()
    found: dict[bytes, int] = {}
    for body in bodies:
        chain: list[bytes] = []
        certs = _Reader(body).vector(3)
        while certs.remaining():
            cert = certs.vector(3)
            chain.append(cert.take(cert.remaining()))
        for der in chain:
            found.setdefault(der, len(chain))
    return list(found.items())


def _per_certificate(
    readers: dict[str, object], certs: list[tuple[bytes, int]], rounds: int, reps: int
) -> dict[str, list[float]]:
    """Seconds per certificate of each reader, rounds interleaved (this VM's speed drifts)."""
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for name, read in readers.items():
            started = time.perf_counter()
            for _ in range(reps):
                for der, chain in certs:
                    read(der, chain)  # type: ignore[operator]
            times[name].append((time.perf_counter() - started) / (reps * len(certs)))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", default=["../shared/corpus"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args(argv)
    certs = corpus_certificates(args.paths)
    if not certs:
        print("no certificates found", file=sys.stderr)
        return 1
    started = time.perf_counter()
    import cryptography.x509  # noqa: F401 - what the first certificate of a scan would pay

    imported = time.perf_counter() - started
    same = sum(own.parse_x509(d, c) == crypto_x509(d, c) for d, c in certs)
    print(f"{len(certs)} certificates, {same} read alike; import cryptography.x509: "
          f"{imported * 1e3:.0f} ms")
    readers = {"own DER walk": own.parse_x509, "cryptography.x509": crypto_x509}
    for name, times in _per_certificate(readers, certs, args.rounds, args.reps).items():
        print(f"{name}: {min(times) * 1e6:.1f} us per certificate (fastest of {args.rounds} "
              f"interleaved rounds), median {statistics.median(times) * 1e6:.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
