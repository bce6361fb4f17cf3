"""Tests for the TLS parsers (detector/dissect/tls/): JA4 spec examples, tshark agreement
on the corpus, robustness.

The corpus tests reassemble each TCP direction themselves (dpkt, in order by sequence
number, retransmissions dropped) and feed it segment by segment to TLSStream, so they
exercise record and handshake reassembly as well as the fingerprints. tshark is the
reference for JA3/JA3S/SNI and for which certificate a Certificate message carries;
openssl is the reference for how a certificate's names read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import shutil
import socket
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dpkt
import pytest

from detector.dissect.tls.fingerprint import (
    ja3,
    ja3_string,
    ja3s,
    ja3s_string,
    ja4,
    ja4_o,
    ja4_r,
    ja4_ro,
)
from detector.dissect.tls.hello import ClientHello, ServerHello, is_grease, parse_client_hello
from detector.dissect.tls.records import (
    DEFAULT_MAX_HANDSHAKE,
    MAX_RECORD_LEN,
    Alert,
    AppData,
    StreamState,
    TLSEvent,
    TLSStream,
    client_hello_from_bytes,
    looks_like_tls,
)
from detector.dissect.tls.x509 import Certificate, parse_x509

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
CAPTURES = sorted(
    p for d in ("ndpi", "zeek") for p in (CORPUS / d).glob("*.pcap*") if p.suffix != ".out"
)
TSHARK = shutil.which("tshark")
OPENSSL = shutil.which("openssl")
GREASE = [0x0A0A + 0x1010 * i for i in range(16)]

# --- building handshake bytes -------------------------------------------------------------


def vec(len_bytes: int, body: bytes) -> bytes:
    return len(body).to_bytes(len_bytes, "big") + body


def u16s(values: list[int]) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


def ext(ext_type: int, body: bytes = b"") -> tuple[int, bytes]:
    return ext_type, body


def sni_ext(host: str) -> tuple[int, bytes]:
    return 0x0000, vec(2, b"\x00" + vec(2, host.encode()))


def alpn_ext(*names: bytes) -> tuple[int, bytes]:
    return 0x0010, vec(2, b"".join(vec(1, n) for n in names))


def sigalgs_ext(algs: list[int]) -> tuple[int, bytes]:
    return 0x000D, vec(2, u16s(algs))


def groups_ext(groups: list[int]) -> tuple[int, bytes]:
    return 0x000A, vec(2, u16s(groups))


def versions_ext(versions: list[int]) -> tuple[int, bytes]:
    return 0x002B, vec(1, u16s(versions))


def handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + vec(3, body)


def record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return bytes([content_type]) + version.to_bytes(2, "big") + vec(2, body)


def client_hello_body(
    ciphers: list[int],
    extensions: list[tuple[int, bytes]] | None,
    version: int = 0x0303,
    session_id: bytes = b"",
) -> bytes:
    body = version.to_bytes(2, "big") + bytes(range(32)) + vec(1, session_id)
    body += vec(2, u16s(ciphers)) + vec(1, b"\x00")
    if extensions is not None:
        body += vec(2, b"".join(t.to_bytes(2, "big") + vec(2, b) for t, b in extensions))
    return body


def client_hello_record(
    ciphers: list[int],
    extensions: list[tuple[int, bytes]] | None,
    version: int = 0x0303,
    record_version: int = 0x0301,
) -> bytes:
    return record(22, handshake(1, client_hello_body(ciphers, extensions, version)), record_version)


def server_hello_body(
    cipher: int, extensions: list[tuple[int, bytes]], random_: bytes = bytes(32)
) -> bytes:
    body = b"\x03\x03" + random_ + vec(1, bytes(32)) + cipher.to_bytes(2, "big") + b"\x00"
    return body + vec(2, b"".join(t.to_bytes(2, "big") + vec(2, b) for t, b in extensions))


def hello(data: bytes) -> ClientHello:
    ch = client_hello_from_bytes(data)
    assert ch is not None
    return ch


def feed_all(stream: TLSStream, chunks: list[bytes]) -> list[TLSEvent]:
    events: list[TLSEvent] = []
    for chunk in chunks:
        events += stream.feed(chunk)
    return events


# --- the JA4 specification's example (technical_details/JA4.md) -------------------------

SPEC_CIPHERS = [
    0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9,
    0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035,
]  # fmt: skip
SPEC_EXTENSION_ORDER = [
    0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D,
    0x0005, 0x0023, 0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015,
]  # fmt: skip
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def spec_extensions(sigalgs: list[int] | None = SPEC_SIGALGS) -> list[tuple[int, bytes]]:
    """The example's extensions in its wire order, with plausible bodies."""
    bodies = {
        0x0000: sni_ext("example.com")[1],
        0x0010: alpn_ext(b"h2", b"http/1.1")[1],
        0x000D: sigalgs_ext(sigalgs or [])[1],
        0x002B: versions_ext([0x0304, 0x0303])[1],
        0x000A: groups_ext([0x001D, 0x0017, 0x0018])[1],
        0x000B: vec(1, b"\x00"),
    }
    return [ext(t, bodies.get(t, b"")) for t in SPEC_EXTENSION_ORDER]


def test_ja4_spec_example_all_four_forms() -> None:
    ch = hello(client_hello_record(SPEC_CIPHERS, spec_extensions()))
    assert ch.sni == "example.com"
    assert ja4(ch) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert ja4_r(ch) == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,"
        "cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
        "0403,0804,0401,0503,0805,0501,0806,0601"
    )
    assert ja4_o(ch) == "t13d1516h2_acb858a92679_18f69afefd3d"
    assert ja4_ro(ch) == (
        "t13d1516h2_1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,"
        "0035_001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,"
        "0015_0403,0804,0401,0503,0805,0501,0806,0601"
    )


def test_ja4_spec_example_without_signature_algorithms() -> None:
    """Spec: no signature algorithms -> the string ends without '_' (= 6d807ffa2a79)."""
    ch = hello(client_hello_record(SPEC_CIPHERS, spec_extensions(sigalgs=None)))
    assert ja4(ch) == "t13d1516h2_8daaf6152771_6d807ffa2a79"
    assert ja4_r(ch).endswith(
        "_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01"
    )


@pytest.mark.parametrize(
    ("alpn", "expected"),
    [
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"a", "aa"),  # one character is both first and last
        (b"\xab", "ab"),  # the spec's hex examples, one per line of the spec
        (b"\x20", "20"),
        (b"\xab\xcd", "ad"),
        (b"\x20\x61", "21"),
        (b"\x30\xab", "3b"),
        (b"\x61\x20", "60"),
        (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
        (b"", "00"),  # empty first value
    ],
)
def test_ja4_alpn_characters(alpn: bytes, expected: str) -> None:
    ch = hello(client_hello_record([0x1301], [alpn_ext(alpn, b"h2")]))
    assert ja4(ch)[8:10] == expected


def test_ja4_no_alpn_and_no_sni() -> None:
    ch = hello(client_hello_record([0x1301], [groups_ext([29])]))
    assert ja4(ch).startswith("t12i0101") and ja4(ch)[8:10] == "00"


@pytest.mark.parametrize(
    ("versions", "legacy", "expected"),
    [
        ([0x0A0A, 0x0304, 0x0303], 0x0303, "13"),  # GREASE ignored, highest wins
        (None, 0x0303, "12"),  # no supported_versions: the ClientHello version
        (None, 0x0301, "10"),
        (None, 0x0300, "s3"),
        ([0x7F1C, 0x0303], 0x0303, "00"),  # TLS 1.3 draft is the highest: unknown
        ([0xFAFA], 0x0302, "11"),  # only GREASE: fall back to the ClientHello version
    ],
)
def test_ja4_version(versions: list[int] | None, legacy: int, expected: str) -> None:
    exts = [versions_ext(versions)] if versions is not None else []
    ch = hello(client_hello_record([0x002F], exts, version=legacy))
    assert ja4(ch)[1:3] == expected


def test_ja4_counts_cap_at_99_and_empty_lists_hash_to_zeros() -> None:
    many = hello(client_hello_record(list(range(1, 121)), [ext(0x4000 + i) for i in range(105)]))
    assert ja4(many)[4:8] == "9999"
    empty = hello(client_hello_record([], None))
    assert ja4(empty) == "t12i000000_000000000000_000000000000"
    only_sni_alpn = hello(client_hello_record([0x002F], [sni_ext("a.b"), alpn_ext(b"h2")]))
    assert ja4(only_sni_alpn).endswith("_000000000000")
    assert ja4(only_sni_alpn).startswith("t12d0102h2_")


def test_ja4_transport_and_bad_transport() -> None:
    ch = hello(client_hello_record(SPEC_CIPHERS, spec_extensions()))
    assert ja4(ch, "q").startswith("q13d")
    with pytest.raises(ValueError, match="transport"):
        ja4(ch, "x")


# --- GREASE ------------------------------------------------------------------------------


def test_is_grease() -> None:
    assert all(is_grease(g) for g in GREASE)
    assert sum(is_grease(v) for v in range(0x10000)) == 16


def test_grease_everywhere_changes_no_fingerprint() -> None:
    plain = hello(client_hello_record(SPEC_CIPHERS, spec_extensions()))
    exts = spec_extensions()
    exts[exts.index(sigalgs_ext(SPEC_SIGALGS))] = sigalgs_ext([0x1A1A, *SPEC_SIGALGS])
    exts[exts.index(versions_ext([0x0304, 0x0303]))] = versions_ext([0x2A2A, 0x0304, 0x0303])
    exts[exts.index(groups_ext([0x001D, 0x0017, 0x0018]))] = groups_ext([0x3A3A, 29, 23, 24])
    greasy_exts = [ext(0x4A4A), *exts, ext(0x5A5A, b"\x00")]
    greasy = hello(client_hello_record([0x6A6A, *SPEC_CIPHERS, 0x7A7A], greasy_exts))
    assert greasy.ciphers[0] == 0x6A6A and greasy.extensions[0] == 0x4A4A  # raw kept
    assert greasy.signature_algorithms[0] == 0x1A1A
    for fingerprint in (ja3_string, ja3, ja4, ja4_r, ja4_o, ja4_ro):
        assert fingerprint(greasy) == fingerprint(plain), fingerprint.__name__
    assert "2570" not in ja3_string(greasy)  # 0x0a0a


def test_ja3_string_layout() -> None:
    ch = hello(
        client_hello_record(
            [0x0A0A, 0xC02B, 0x002F],
            [
                ext(0x0A0A),
                sni_ext("x.y"),
                groups_ext([0x0A0A, 29, 23]),
                ext(11, vec(1, b"\x00\x01")),
            ],
        )
    )
    assert ja3_string(ch) == "771,49195-47,0-10-11,29-23,0-1"
    assert ja3(ch) == hashlib.md5(b"771,49195-47,0-10-11,29-23,0-1").hexdigest()
    bare = hello(client_hello_record([0x002F], None, version=0x0301))
    assert ja3_string(bare) == "769,47,,,"


def test_server_hello_fields_and_ja3s() -> None:
    body = server_hello_body(
        0x1301, [ext(0x002B, b"\x03\x04"), ext(0x0033, b"\x00\x1d"), alpn_ext(b"h2")]
    )
    events = TLSStream().feed(record(22, handshake(2, body)))
    assert len(events) == 1 and isinstance(events[0], ServerHello)
    sh = events[0]
    assert (sh.handshake_version, sh.selected_version, sh.version) == (0x0303, 0x0304, 0x0304)
    assert sh.cipher == 0x1301 and sh.alpn == b"h2" and not sh.hello_retry
    assert ja3s_string(sh) == "771,4865,43-51-16"
    assert ja3s(sh) == hashlib.md5(b"771,4865,43-51-16").hexdigest()


# --- stream behaviour ---------------------------------------------------------------------


def client_flight() -> bytes:
    """A ClientHello fragmented over three records, then CCS and two app-data records."""
    message = handshake(1, client_hello_body(SPEC_CIPHERS, spec_extensions()))
    cuts = [0, 3, 100, len(message)]
    fragments = b"".join(
        record(22, message[a:b], 0x0301) for a, b in zip(cuts, cuts[1:], strict=False)
    )
    return fragments + record(20, b"\x01") + record(23, bytes(53)) + record(23, bytes(1200))


def test_clienthello_split_byte_by_byte() -> None:
    data = client_flight()
    whole = TLSStream().feed(data)
    stream = TLSStream()
    byte_by_byte = feed_all(stream, [data[i : i + 1] for i in range(len(data))])
    assert whole == byte_by_byte
    assert [type(e) for e in whole] == [ClientHello, AppData, AppData]
    assert [e.length for e in whole if isinstance(e, AppData)] == [53, 1200]
    assert isinstance(whole[0], ClientHello)
    assert ja4(whole[0]) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert stream.state is StreamState.TLS and stream.encrypted
    assert stream.offset == len(data) and stream.buffered_bytes == 0


def test_random_chunking_gives_the_same_events() -> None:
    data = client_flight()
    expected = TLSStream().feed(data)
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 20)))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert feed_all(TLSStream(), chunks) == expected


def test_server_flight_in_one_record_and_alert() -> None:
    """ServerHello, Certificate and ServerHelloDone share a record (dpkt keeps only one)."""
    cert = make_certificate(subject=[[("2.5.4.3", 0x0C, "pool.example")]], issuer=None)
    messages = (
        handshake(2, server_hello_body(0xC02F, [ext(0xFF01, b"\x00")]))
        + handshake(11, vec(3, vec(3, cert)))
        + handshake(14, b"")
    )
    data = record(22, messages) + record(21, b"\x02\x28")
    events = TLSStream().feed(data)
    assert [type(e) for e in events] == [ServerHello, Certificate, Alert]
    leaf = events[1]
    assert isinstance(leaf, Certificate)
    assert leaf.subject == leaf.issuer == "CN=pool.example" and leaf.self_signed
    assert events[2] == Alert(2, 40)


def test_hello_retry_request_flow() -> None:
    """TLS 1.3 HRR in compatibility mode: the second hellos come after a CCS."""
    hrr_random = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    hrr = handshake(2, server_hello_body(0x1301, [ext(0x002B, b"\x03\x04")], hrr_random))
    sh = handshake(2, server_hello_body(0x1301, [ext(0x002B, b"\x03\x04")]))
    server = record(22, hrr) + record(20, b"\x01") + record(22, sh) + record(23, bytes(90))
    events = TLSStream().feed(server)
    hellos = [e for e in events if isinstance(e, ServerHello)]
    assert [h.hello_retry for h in hellos] == [True, False]
    ch = client_hello_record(SPEC_CIPHERS, spec_extensions())
    client = ch + record(20, b"\x01") + ch + record(23, bytes(80))
    assert [type(e) for e in TLSStream().feed(client)] == [ClientHello, ClientHello, AppData]


def test_encrypted_finished_is_not_parsed() -> None:
    rng = random.Random(3)
    stream = TLSStream()
    stream.feed(client_hello_record([0x002F], None) + record(20, b"\x01"))
    for _ in range(300):
        assert stream.feed(record(22, rng.randbytes(rng.choice([40, 64, 80])))) == []
    assert stream.feed(record(21, rng.randbytes(26))) == [Alert(None, None)]


def test_mid_session_start_counts_app_data() -> None:
    events = TLSStream().feed(record(23, bytes(100)) + record(23, bytes(30)))
    assert events == [AppData(100), AppData(30)]


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b'{"id":1,"method":"mining.subscribe","params":[]}\n',
        b"SSH-2.0-OpenSSH_9.2\r\n",
        b"\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10",  # SSLv2-compatible hello
        b"\x16\x03\x01\xff\xff",  # record longer than 2^14 + 2048
        b"\x16\x05\x01\x00\x10",  # version major 5
        b"\x00\x00\x00\x00\x00",
    ],
)
def test_garbage_is_not_tls(garbage: bytes) -> None:
    stream = TLSStream()
    assert not looks_like_tls(garbage)
    assert stream.feed(garbage) == []
    assert stream.state is StreamState.NOT_TLS and stream.failure
    assert stream.feed(client_hello_record([0x002F], None)) == []  # stays given up
    assert stream.buffered_bytes == 0


def test_random_garbage_never_raises() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        stream = TLSStream()
        data = rng.randbytes(rng.randint(0, 300))
        for i in range(0, len(data), 17):
            stream.feed(data[i : i + 17])
        assert stream.buffered_bytes <= DEFAULT_MAX_HANDSHAKE + 5


def test_pending_until_five_bytes() -> None:
    stream = TLSStream()
    assert stream.feed(b"\x16\x03") == [] and stream.state is StreamState.PENDING
    assert stream.feed(b"\x01") == [] and stream.state is StreamState.PENDING
    stream.feed(b"\x00\x05")
    assert stream.state is StreamState.TLS


def test_truncated_records_give_no_event_and_no_error() -> None:
    data = client_hello_record(SPEC_CIPHERS, spec_extensions())
    for cut in range(len(data)):
        stream = TLSStream()
        assert stream.feed(data[:cut]) == []
        assert stream.state is not StreamState.NOT_TLS


def test_inconsistent_lengths_inside_hello() -> None:
    body = bytearray(client_hello_body(SPEC_CIPHERS, spec_extensions()))
    body[35] = 0x40  # session id length 64: runs into the cipher list
    assert parse_client_hello(bytes(body)) is None
    assert parse_client_hello(b"") is None
    bad_ext = client_hello_body([0x002F], [ext(0x0000, b"\x00\x05\x00")])  # bad SNI body
    ch = parse_client_hello(bad_ext)
    assert ch is not None and ch.sni is None and ch.has_sni_extension


def test_sixteen_megabyte_claims_are_bounded() -> None:
    # A handshake message claiming 16 MB: skipped without buffering; records go on.
    stream = TLSStream()
    events = stream.feed(record(22, b"\x01\xff\xff\xff" + bytes(1000)))
    assert events == [] and stream.buffered_bytes == 0
    assert stream.feed(record(22, bytes(16000)) * 4) == [] and stream.buffered_bytes == 0
    assert stream.feed(record(23, bytes(10))) == [AppData(10)]
    # Messages we do not read (here a 15 KB ServerKeyExchange) are counted off, not held.
    stream = TLSStream()
    ske = handshake(12, bytes(15000)) + handshake(14, b"")
    assert stream.feed(record(22, ske[:9000])) == [] and stream.buffered_bytes == 0
    assert stream.feed(record(22, ske[9000:]) + record(21, b"\x01\x00")) == [Alert(1, 0)]
    # A record header claiming more than TLS allows ends parsing at once.
    stream = TLSStream()
    assert stream.feed(b"\x17\x03\x03" + (MAX_RECORD_LEN + 1).to_bytes(2, "big")) == []
    assert stream.state is StreamState.NOT_TLS


def test_oversized_message_is_skipped_and_the_next_one_parsed() -> None:
    big = handshake(11, bytes(DEFAULT_MAX_HANDSHAKE + 5000))
    chunks = [big[i : i + 16000] for i in range(0, len(big), 16000)]
    data = b"".join(record(22, c) for c in chunks)
    data += client_hello_record(SPEC_CIPHERS, spec_extensions())
    stream = TLSStream()
    peak = 0
    events: list[TLSEvent] = []
    for i in range(0, len(data), 999):
        events += stream.feed(data[i : i + 999])
        peak = max(peak, stream.buffered_bytes)
    assert [type(e) for e in events] == [ClientHello]
    assert peak <= DEFAULT_MAX_HANDSHAKE + 4


def test_gap_inside_app_data_is_survivable() -> None:
    stream = TLSStream()
    rec = record(23, bytes(500))
    assert stream.feed(rec[:100]) == [AppData(500)]
    stream.gap(300)
    assert stream.feed(rec[400:] + record(23, bytes(7))) == [AppData(7)]
    stream.gap(5)  # between records: the next header is unknowable
    assert stream.state is StreamState.NOT_TLS


def test_fuzzed_hellos_and_certificates_never_raise() -> None:
    rng = random.Random(5)
    cert = make_certificate(
        subject=[[("2.5.4.3", 0x0C, "a")], [("2.5.4.10", 0x13, "b")]], issuer=None
    )
    base = client_flight() + record(22, handshake(11, vec(3, vec(3, cert))))
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.6:
                data[pos] = rng.randrange(256)
            elif op < 0.8:
                del data[pos : pos + rng.randint(1, 40)]
            else:
                data[pos:pos] = rng.randbytes(rng.randint(1, 40))
        stream = TLSStream()
        for i in range(0, len(data), 61):
            for event in stream.feed(bytes(data[i : i + 61])):
                if isinstance(event, ClientHello):
                    assert len(ja3(event)) == 32 and ja4(event)[0] == "t" and ja4_ro(event)
        mutated = bytearray(cert)
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        parse_x509(bytes(mutated))
        parse_x509(bytes(mutated[: rng.randrange(len(mutated))]))


# --- X.509 names ---------------------------------------------------------------------------


def tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + value


def oid(dotted: str) -> bytes:
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


Rdn = list[tuple[str, int, str | bytes]]


def name(rdns: list[Rdn]) -> bytes:
    codecs = {0x0C: "utf-8", 0x13: "latin-1", 0x1E: "utf-16-be", 0x16: "latin-1"}
    sets = b""
    for rdn in rdns:
        attrs = b""
        for attr_oid, tag, value in rdn:
            raw = value if isinstance(value, bytes) else value.encode(codecs[tag])
            attrs += tlv(0x30, oid(attr_oid) + tlv(tag, raw))
        sets += tlv(0x31, attrs)
    return tlv(0x30, sets)


def make_certificate(subject: list[Rdn], issuer: list[Rdn] | None) -> bytes:
    """A structurally valid (unsigned) certificate; issuer None means self-issued."""
    validity = tlv(0x30, tlv(0x17, b"180101000000Z") + tlv(0x18, b"20500101120000Z"))
    tbs = (
        tlv(0xA0, tlv(0x02, b"\x02"))
        + tlv(0x02, b"\x01\x02")
        + tlv(0x30, oid("1.2.840.10045.4.3.2"))
        + name(issuer if issuer is not None else subject)
        + validity
        + name(subject)
        + tlv(0x30, b"")
    )
    return tlv(0x30, tlv(0x30, tbs) + tlv(0x30, oid("1.2.840.10045.4.3.2")) + tlv(0x03, b"\x00"))


def test_x509_names_escaping_and_types() -> None:
    subject: list[Rdn] = [
        [("2.5.4.6", 0x13, "US")],
        [("2.5.4.10", 0x0C, "Miner, Inc.")],
        [("2.5.4.11", 0x1E, "Zürich ops"), ("2.5.4.11", 0x0C, "#1 team ")],
        [("1.2.3.4", 0x0C, "x")],  # unknown attribute type
        [("2.5.4.3", 0x0C, 'pool+"x"<y>;\\z\x01')],
    ]
    issuer: list[Rdn] = [[("2.5.4.3", 0x13, "Some CA")], [("2.5.4.10", 0x13, "CA Org")]]
    cert = parse_x509(make_certificate(subject, issuer))
    assert cert is not None
    assert cert.subject == (
        'CN=pool\\+\\"x\\"\\<y\\>\\;\\\\z\\01,1.2.3.4=#0c0178,'
        "OU=\\#1 team\\ +OU=Zürich ops,O=Miner\\, Inc.,C=US"
    )
    assert cert.issuer == "O=CA Org,CN=Some CA"
    assert (cert.subject_o, cert.issuer_cn, cert.issuer_o) == ("Miner, Inc.", "Some CA", "CA Org")
    assert cert.subject_cn == 'pool+"x"<y>;\\z\x01'
    assert not cert.self_signed
    assert (cert.not_before, cert.not_after) == ("2018-01-01T00:00:00Z", "2050-01-01T12:00:00Z")


def test_x509_garbage() -> None:
    assert parse_x509(b"") is None
    assert parse_x509(b"\x30\x84\xff\xff\xff\xff") is None
    assert parse_x509(b"\x30\x80\x00\x00") is None  # indefinite length is not DER
    assert parse_x509(tlv(0x30, tlv(0x30, tlv(0x04, b"x")))) is None


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
def test_x509_matches_openssl_on_a_fresh_self_signed_cert(tmp_path: Path) -> None:
    key, crt = tmp_path / "k.pem", tmp_path / "c.der"
    subprocess.run(
        [OPENSSL or "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-multivalue-rdn", "-keyout", str(key),
         "-outform", "DER", "-out", str(crt), "-days", "3650", "-subj",
         "/C=NL/O=Pool, Ops\\+Co/OU=stratum+UID=42/CN=pool.example.org"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    der = crt.read_bytes()
    cert = parse_x509(der)
    assert cert is not None and cert.self_signed
    assert (cert.subject, cert.issuer) == openssl_names(der)
    assert cert.subject_o == "Pool, Ops+Co" and cert.subject_cn == "pool.example.org"


def openssl_names(der: bytes) -> tuple[str, str]:
    out = subprocess.run(
        [OPENSSL or "openssl", "x509", "-inform", "DER", "-noout", "-subject", "-issuer",
         "-nameopt", "RFC2253"],
        input=der, check=True, capture_output=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return fields["subject"], fields["issuer"]


def openssl_dates(der: bytes) -> tuple[str, str]:
    out = subprocess.run(
        [OPENSSL or "openssl", "x509", "-inform", "DER", "-noout", "-startdate", "-enddate"],
        input=der, check=True, capture_output=True, timeout=60,
    ).stdout.decode()  # fmt: skip
    fields = dict(line.split("=", 1) for line in out.splitlines())

    def iso(text: str) -> str:
        parsed = datetime.strptime(text, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
        return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")

    return iso(fields["notBefore"]), iso(fields["notAfter"])


# --- corpus: our parser vs tshark ---------------------------------------------------------

Key = tuple[str, int, str, int]  # src ip, src port, dst ip, dst port of one direction


@dataclass
class Direction:
    """Segments of one direction of one TCP connection."""

    syn_seq: int | None = None
    segments: list[tuple[int, bytes]] = field(default_factory=list)

    def payload(self) -> Iterator[bytes]:
        """In-order payload, one piece per segment; retransmitted bytes dropped; stop at a hole."""
        data = [(seq, p) for seq, p in self.segments if p]
        if not data:
            return
        ref = data[0][0] if self.syn_seq is None else (self.syn_seq + 1) & 0xFFFFFFFF

        def rel(seq: int) -> int:
            offset = (seq - ref) & 0xFFFFFFFF
            return offset - (1 << 32) if offset >= 1 << 31 else offset

        pieces = sorted(((rel(seq), p) for seq, p in data), key=lambda x: (x[0], -len(x[1])))
        cursor = 0 if self.syn_seq is not None else pieces[0][0]
        for offset, piece in pieces:
            if offset + len(piece) <= cursor:
                continue  # retransmission
            if offset > cursor:
                return  # hole: tshark cannot see past it either
            yield piece[cursor - offset :]
            cursor = offset + len(piece)


def tcp_directions(path: Path) -> list[tuple[Key, Direction]]:
    """Every TCP direction of a capture, a new one when a SYN reuses a 4-tuple."""
    current: dict[Key, Direction] = {}
    found: list[tuple[Key, Direction]] = []
    with path.open("rb") as fh:
        reader = dpkt.pcap.UniversalReader(fh)
        linktype = reader.datalink()
        for _, buf in reader:
            ip = link_payload(linktype, buf)
            if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6) or not isinstance(
                ip.data, dpkt.tcp.TCP
            ):
                continue
            tcp = ip.data
            family = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
            key = (
                socket.inet_ntop(family, ip.src), tcp.sport,
                socket.inet_ntop(family, ip.dst), tcp.dport,
            )  # fmt: skip
            direction = current.get(key)
            is_syn = bool(tcp.flags & dpkt.tcp.TH_SYN)
            if direction is None or (is_syn and direction.syn_seq not in (None, tcp.seq)):
                direction = current[key] = Direction()
                found.append((key, direction))
            if is_syn:
                direction.syn_seq = tcp.seq
            direction.segments.append((tcp.seq, bytes(tcp.data)))
    return found


def link_payload(linktype: int, buf: bytes) -> object:
    if linktype == 1:
        return dpkt.ethernet.Ethernet(buf).data
    if linktype == 113:
        return dpkt.sll.SLL(buf).data
    if linktype in (101, 12, 14):
        return dpkt.ip.IP(buf) if buf[:1] and buf[0] >> 4 == 4 else dpkt.ip6.IP6(buf)
    if linktype == 0:
        return dpkt.loopback.Loopback(buf).data
    raise AssertionError(f"linktype {linktype} not handled by the test")


@dataclass
class Seen:
    """What one side (ours or tshark's) found in one capture, per direction."""

    hellos: dict[Key, list[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(list))
    servers: dict[Key, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    certs: dict[Key, list[bytes]] = field(default_factory=lambda: defaultdict(list))


def ours(path: Path) -> tuple[Seen, dict[Key, list[Certificate]]]:
    seen = Seen()
    certs: dict[Key, list[Certificate]] = defaultdict(list)
    for key, direction in tcp_directions(path):
        stream = TLSStream()
        for piece in direction.payload():
            for event in stream.feed(piece):
                if isinstance(event, ClientHello):
                    seen.hellos[key].append((ja3_string(event), ja3(event), event.sni or ""))
                elif isinstance(event, ServerHello):
                    seen.servers[key].append((ja3s_string(event), ja3s(event)))
                elif isinstance(event, Certificate):
                    certs[key].append(event)
    return seen, certs


def tshark_rows(path: Path, display_filter: str, fields: list[str]) -> list[list[str]]:
    cmd = [TSHARK or "tshark", "-r", str(path), "-Y", display_filter, "-T", "fields"]
    cmd += ["-E", "aggregator=|", "-E", "separator=/t"]
    for name_ in ("ip.src", "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport"):
        cmd += ["-e", name_]
    for name_ in fields:
        cmd += ["-e", name_]
    out = subprocess.run(cmd, capture_output=True, check=True, timeout=300, text=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def theirs(path: Path) -> Seen:
    seen = Seen()
    hs = "tls.handshake"
    # Rows are matched to our directions by 4-tuple (a list per 4-tuple, in capture
    # order), which is what tshark's tcp.stream index stands for.
    ch_fields = [f"{hs}.ja3_full", f"{hs}.ja3", f"{hs}.extensions_server_name"]
    for row in tshark_rows(path, f"{hs}.type == 1", ch_fields):
        key = (row[0] or row[1], int(row[2]), row[3] or row[4], int(row[5]))
        fulls, md5s = row[6].split("|"), row[7].split("|")
        snis = row[8].split("|") if row[8] else [""] * len(fulls)
        seen.hellos[key] += list(zip(fulls, md5s, snis, strict=True))
    for row in tshark_rows(path, f"{hs}.type == 2", [f"{hs}.ja3s_full", f"{hs}.ja3s"]):
        key = (row[0] or row[1], int(row[2]), row[3] or row[4], int(row[5]))
        seen.servers[key] += list(zip(row[6].split("|"), row[7].split("|"), strict=True))
    for row in tshark_rows(path, f"{hs}.type == 11", [f"{hs}.certificate"]):
        if not row[6]:
            continue  # an empty Certificate message (client without one): no event by design
        key = (row[0] or row[1], int(row[2]), row[3] or row[4], int(row[5]))
        seen.certs[key].append(bytes.fromhex(row[6].split("|")[0].replace(":", "")))
    return seen


def test_corpus_is_present() -> None:
    assert len(CAPTURES) >= 20, f"expected the shared corpus under {CORPUS}"


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_corpus_matches_tshark(capture: Path) -> None:
    mine, my_certs = ours(capture)
    ref = theirs(capture)
    assert dict(mine.hellos) == dict(ref.hellos), "ClientHello JA3/SNI differ from tshark"
    assert dict(mine.servers) == dict(ref.servers), "ServerHello JA3S differ from tshark"
    assert set(my_certs) == set(ref.certs)
    for key, ders in ref.certs.items():
        got = my_certs[key]
        assert len(got) == len(ders)
        for cert, der in zip(got, ders, strict=True):
            assert parse_x509(der, chain_length=cert.chain_length) == cert
            if OPENSSL is not None:
                assert (cert.subject, cert.issuer) == openssl_names(der)
                assert (cert.not_before, cert.not_after) == openssl_dates(der)
    counts = (
        sum(map(len, ref.hellos.values())),
        sum(map(len, ref.servers.values())),
        sum(map(len, ref.certs.values())),
    )
    print(f"{capture.name}: compared {counts[0]} ClientHello, {counts[1]} ServerHello, "
          f"{counts[2]} Certificate")  # fmt: skip


GREASE = [0x0A0A + 0x1010 * k for k in range(16)]


def _regrease(ch: ClientHello, rng: random.Random) -> ClientHello:
    """The same hello with every GREASE value replaced by another, as a browser's next
    connection would send it."""

    def swap(values: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(rng.choice(GREASE) if is_grease(v) else v for v in values)

    return dataclasses.replace(
        ch,
        ciphers=swap(ch.ciphers),
        extensions=swap(ch.extensions),
        supported_versions=swap(ch.supported_versions),
        supported_groups=swap(ch.supported_groups),
        signature_algorithms=swap(ch.signature_algorithms),
    )


def test_fingerprint_cache_folds_grease_without_changing_fingerprints(monkeypatch) -> None:
    """Browsers pick new GREASE values per connection: the fingerprint cache keys them
    alike (one entry, not one per connection), and what it returns is what JA3/JA4
    computed afresh on that very hello give."""
    from detector.dissect.tls import flow

    exts = [(0x1A1A, b""), *spec_extensions(), (0x2A2A, b"\x00")]
    body = client_hello_body([0x3A3A, *SPEC_CIPHERS], exts)
    base = hello(record(22, handshake(1, body)))
    assert any(is_grease(v) for v in base.ciphers + base.extensions)
    monkeypatch.setattr(flow, "_FINGERPRINTS", {})
    rng = random.Random(5)
    for _ in range(40):
        variant = _regrease(base, rng)
        fresh = (ja3(variant), ja3_string(variant), ja4(variant))
        assert flow.fingerprints(variant)[:3] == fresh
    assert len(flow._FINGERPRINTS) == 1
    other = dataclasses.replace(base, ciphers=base.ciphers[:-1])
    assert flow.fingerprints(other)[0] == ja3(other) != ja3(base)
    assert len(flow._FINGERPRINTS) == 2


def test_certificate_readings_are_remembered_by_body_and_bounded() -> None:
    """A server sends every client the same chain: the second reading of a body is the
    first one's (equal to a fresh DER walk), and the memory of readings stays bounded."""
    from detector.dissect.tls import x509

    leaf = make_certificate(subject=[[("2.5.4.3", 0x0C, "pool.example")]], issuer=None)
    body = vec(3, vec(3, leaf))
    first = x509.parse_certificate(body)
    assert first is not None and first.subject == "CN=pool.example"
    assert x509.parse_certificate(bytes(body)) is first
    assert x509._read_certificate(body) == first
    assert x509.parse_certificate(body[:-1]) is None  # another body, read on its own
    for i in range(x509._CERTIFICATES_KEPT + 10):
        other = make_certificate(subject=[[("2.5.4.3", 0x0C, f"h{i}.example")]], issuer=None)
        assert x509.parse_certificate(vec(3, vec(3, other))).subject == f"CN=h{i}.example"
    assert len(x509._CERTIFICATES) <= x509._CERTIFICATES_KEPT
    assert x509._certificate_bytes == sum(len(b) for b, _ in x509._CERTIFICATES.values())


def test_certificate_readings_are_bounded_by_their_bytes(monkeypatch) -> None:
    """Readings are remembered by the body itself, so their memory is bounded by the
    bodies' bytes too: past the bound, the memory starts over (readings stay right)."""
    from detector.dissect.tls import x509

    monkeypatch.setattr(x509, "_CERTIFICATE_BYTES_KEPT", 5000)
    x509._CERTIFICATES.clear()
    monkeypatch.setattr(x509, "_certificate_bytes", 0)
    for i in range(40):
        padding = [[("2.5.4.10", 0x0C, "o" * 300)]]  # ~1 KB bodies
        leaf = make_certificate(
            subject=[[("2.5.4.3", 0x0C, f"b{i}.example")], *padding], issuer=None
        )
        body = vec(3, vec(3, leaf))
        assert x509.parse_certificate(bytearray(body)).subject.endswith(f"CN=b{i}.example")
        assert x509.parse_certificate(body) is x509.parse_certificate(memoryview(body))
        assert (
            x509._certificate_bytes == sum(len(b) for b, _ in x509._CERTIFICATES.values()) <= 5000
        )


def test_certificate_bodies_alike_in_their_first_bytes_keep_their_own_readings(
    monkeypatch,
) -> None:
    """Readings are found by a body's length and first bytes, then confirmed against the
    whole body: two chains of one length that differ only past those bytes (here the
    leaf's subject, after a long issuer name) each get their own reading, however they
    alternate, and the bytes kept stay counted right."""
    from detector.dissect.tls import x509

    issuer = [[("2.5.4.3", 0x0C, "issuing-ca-" + "x" * 80)]]
    bodies = [
        vec(
            3,
            vec(3, make_certificate(subject=[[("2.5.4.3", 0x0C, f"{c}.example")]], issuer=issuer)),
        )
        for c in "ab"
    ]
    x509._CERTIFICATES.clear()
    monkeypatch.setattr(x509, "_certificate_bytes", 0)
    n = x509._SHORT_KEY_BYTES
    assert len(bodies[0]) == len(bodies[1]) and bodies[0][:n] == bodies[1][:n]
    assert bodies[0] != bodies[1]
    for body, want in [(0, "a"), (1, "b"), (1, "b"), (0, "a"), (1, "b")]:
        cert = x509.parse_certificate(bytes(bodies[body]))
        assert cert is not None and cert.subject == f"CN={want}.example"
        assert x509._certificate_bytes == sum(len(b) for b, _ in x509._CERTIFICATES.values())


def test_grease_set_is_what_is_grease_says() -> None:
    """_no_grease drops the values of the _GREASE set: exactly those is_grease names."""
    from detector.dissect.tls.hello import _GREASE, _no_grease, is_grease

    assert {v for v in range(1 << 17) if is_grease(v)} == _GREASE
    values = list(range(0, 1 << 16, 7)) + sorted(_GREASE)
    assert _no_grease(values) == [v for v in values if not is_grease(v)]


def test_alpn_names_are_remembered_but_each_flow_gets_its_own_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ALPN fact's names are decoded once per distinct list; every flow's facts hold
    a list of their own, equal to decoding it there and then."""
    from detector.dissect.tls import flow
    from detector.facts import FlowFacts

    fingerprints = ("ja3", "ja3 text", "ja4", "TLSv1.2")
    monkeypatch.setitem(flow._FINGERPRINTS, b"key-alpn-test", fingerprints)
    alpn = (b"h2", b"http/1.1", b"\xffx" * 20)
    lists = []
    for _ in range(2):
        facts = FlowFacts()
        flow._client_hello_facts(facts, b"key-alpn-test", "a.example", alpn, (0x0303, ()))
        lists.append(facts.tls["alpn"])
    expected = [a.decode("ascii", "replace")[:32] for a in alpn]
    assert lists[0] == lists[1] == expected and lists[0] is not lists[1]
