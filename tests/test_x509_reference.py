"""The own X.509 reader (detector/dissect/tls/x509.py) against the well-kept library,
``cryptography.x509``: the same facts - subject, issuer, their CN and O, self-issued,
validity, chain length, size - of every certificate of every Certificate message a scan
of the corpus and the fixtures reads. (Why the own reader stays: README, "TLS
certificates"; the timing: ``python -m bench.x509_parsers``.)"""

from __future__ import annotations

import pytest

from bench.x509_parsers import corpus_certificates, crypto_x509
from detector.dissect.tls.x509 import parse_x509
from tests.conftest import CORPUS, PCAPS, needs_corpus


@needs_corpus()
def test_own_reader_and_cryptography_agree_on_every_corpus_certificate() -> None:
    certs = corpus_certificates([str(CORPUS), str(PCAPS)])
    assert len(certs) >= 100
    differ = [
        (der.hex()[:64], own, ref)
        for der, chain in certs
        if (own := parse_x509(der, chain)) != (ref := crypto_x509(der, chain))
    ]
    assert differ == []
    assert all(parse_x509(der, chain) is not None for der, chain in certs)
    print(f"{len(certs)} certificates read alike by both")


def test_the_reference_reads_a_crafted_certificate_like_the_own_reader() -> None:
    """Escaping, multi-valued RDNs, BMPString, an unknown attribute type: on a certificate
    that cryptography accepts (a real key and signature), the two renderings agree."""
    pytest.importorskip("cryptography")
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID, ObjectIdentifier

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COUNTRY_NAME, "NL")]),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Pool, Ops+Co")]
            ),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "stratum"),
                    x509.NameAttribute(NameOID.USER_ID, "42"),
                ]
            ),
            x509.RelativeDistinguishedName(
                [
                    x509.NameAttribute(
                        NameOID.ORGANIZATIONAL_UNIT_NAME, "Zürich", x509.name._ASN1Type.BMPString
                    )
                ]
            ),
            x509.RelativeDistinguishedName([x509.NameAttribute(ObjectIdentifier("1.2.3.4"), "x")]),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COMMON_NAME, ' #pool<"x">;\\ ')]
            ),
        ]
    )
    start = datetime.datetime(2018, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=20000))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    own = parse_x509(der)
    assert own is not None and own == crypto_x509(der)
    assert own.self_signed and own.subject_cn == ' #pool<"x">;\\ '
    assert (own.not_before, own.not_after) == ("2018-01-01T00:00:00Z", "2072-10-04T00:00:00Z")


def test_escaping_a_name_value_skips_only_what_needs_no_escape() -> None:
    """_escape_dn_value returns a value that needs nothing escaped as it is (a regex
    says so) and walks the others: both agree with the character walk on random text of
    specials, controls, spaces, "#" and non-ASCII."""
    import random

    from detector.dissect.tls.x509 import _escape_dn_value, _escape_walk

    rng = random.Random(4514)
    alphabet = ' #,+"\\<>;\n\x7f\x00\x1fabcXZ09.\u00e9\u00a0\u2028'
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(8)))
        assert _escape_dn_value(text) == _escape_walk(text), repr(text)
