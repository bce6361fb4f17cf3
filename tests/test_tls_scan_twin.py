"""TLSStream's compiled whole-record path (``_fast.tls_scan``) against the byte-wise
Python path: the same events and the same stream state after every chunk, on recorded
real handshakes (detector/synth/data/tls, the corpus), on random chunkings, truncations and mutations."""

from __future__ import annotations

import dataclasses
import json
import random

import pytest

from detector.compiled import fast
from detector.dissect.tls import hello, records, x509
from detector.synth.benign.tls import TLS_DIR, read_hex
from tests.conftest import CORPUS, cut_and_mutated
from tests.test_tls import (
    SPEC_CIPHERS,
    client_flight,
    client_hello_record,
    ext,
    handshake,
    record,
    server_hello_body,
    spec_extensions,
)

pytestmark = pytest.mark.skipif(fast is None, reason="compiled helpers not built")


def _flights() -> list[bytes]:
    flights = [read_hex(p) for p in sorted(TLS_DIR.glob("*.hex"))]
    flights.append(client_flight())
    hrr_random = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
    flights.append(
        record(22, handshake(2, server_hello_body(0x1301, [ext(0x002B, b"\x03\x04")], hrr_random)))
        + record(20, b"\x01")
        + record(22, handshake(2, server_hello_body(0x1301, [ext(0x002B, b"\x03\x04"), ext(16, b"\x00\x03\x02h2")])))
        + record(23, bytes(90))
        + record(21, b"\x02\x28")
    )
    flights.append(record(21, b"\x02\x28") + record(21, b"\x01") + record(24, b"\x01\x00") + record(23, b""))
    flights.append(client_hello_record(SPEC_CIPHERS, spec_extensions()) * 2 + record(22, b""))
    for path in (CORPUS / "zeek" / "coinhive.pcap", CORPUS / "ndpi" / "443-firefox.pcap"):
        if path.exists():  # every run of bytes that starts like a handshake record
            data = path.read_bytes()
            pos = data.find(b"\x16\x03")
            while pos != -1 and len(flights) < 80:
                flights.append(data[pos : pos + 3000])
                pos = data.find(b"\x16\x03", pos + 400)
    return flights


def _state(stream: records.TLSStream) -> tuple:
    return (stream.state, stream.failure, stream.encrypted, stream.offset, stream.records,
            stream.buffered_bytes)


def _run(chunks: list[bytes], compiled: bool, monkeypatch) -> list:
    trace = []
    with monkeypatch.context() as m:
        if not compiled:
            m.setattr(records, "fast", None)  # the stream's whole-record path
            m.setattr(hello, "fast", None)  # the hello readers the stream calls
        stream = records.TLSStream()
        for chunk in chunks:
            trace.append((stream.feed(chunk), _state(stream)))
    return trace


def _chunkings(data: bytes, rng: random.Random) -> list[list[bytes]]:
    out = [[data], [data[i : i + 1] for i in range(min(len(data), 600))]]
    for _ in range(6):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 8))))
        out.append([data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)])
    return out


def test_whole_record_path_matches_bytewise_path(monkeypatch) -> None:
    rng = random.Random(5)
    cases = 0
    for data in _flights():
        variants = [data, data[: len(data) // 2], data[: rng.randint(1, len(data))]]
        for _ in range(8):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            variants.append(bytes(mutated))
        for variant in variants:
            if not variant:
                continue
            for chunks in _chunkings(variant, rng):
                assert _run(chunks, True, monkeypatch) == _run(chunks, False, monkeypatch)
                cases += 1
    assert cases > 2000


def test_whole_record_path_is_taken(monkeypatch) -> None:
    """The C path really runs on ordinary flights (a test of the test above)."""
    calls = []
    real = fast.tls_scan
    monkeypatch.setattr(fast, "tls_scan", lambda *a: calls.append(a) or real(*a))
    events = records.TLSStream().feed(read_hex(TLS_DIR / "02-openssl-s_client-tls12.server.hex"))
    assert calls and [type(e).__name__ for e in events][:2] == ["ServerHello", "Certificate"]


def _hello_bodies(msg_type: bytes) -> list[bytes]:
    """The bodies of the flights' first handshake messages of ``msg_type`` (b"\\x01":
    ClientHello, b"\\x02": ServerHello)."""
    bodies = []
    for data in _flights():
        if data[5:6] == msg_type:  # a record that starts with such a hello
            length = int.from_bytes(data[6:9], "big")
            bodies.append(data[9 : 9 + length])
    return bodies


def _server_hello_bodies() -> list[bytes]:
    bodies = _hello_bodies(b"\x02")
    bodies.append(server_hello_body(0x1301, [ext(16, b"\x00\x00"), ext(16, b"\x00\x03\x02h2"), ext(43, b"\x03")]))
    return bodies


def test_server_hello_readers_agree_on_truncations_and_mutations() -> None:
    rng = random.Random(9)
    bodies = _server_hello_bodies()
    assert len(bodies) >= 8
    cases = 0
    for body in bodies:
        for v in cut_and_mutated(body, rng, 300):
            assert hello.parse_server_hello(v, 0x0303) == hello.py_parse_server_hello(v, 0x0303)
            cases += 1
    assert cases > 3000


def test_first_packet_path_leaves_the_same_facts(monkeypatch, tmp_path) -> None:
    """Every flow of every fixture and corpus capture (and a slice of the benchmark's
    traffic mix) gets the same facts and verdict with the TLS first-packet path on and
    off; and the path really carries most TLS flows there."""
    from bench.make_capture import generate
    from detector.config import ScanConfig
    from detector.dissect import inspector
    from detector.pipeline import run_scan
    from detector.sinks.flowlog import flow_entry
    from detector.source import expand_inputs
    from tests.conftest import PCAPS

    def flows(first_packets: bool, paths: list[str]) -> list:
        monkeypatch.setattr(inspector.Inspector, "first_packets", first_packets)
        taken = []
        real_take = inspector.FirstPackets.take
        monkeypatch.setattr(inspector.FirstPackets, "take",
                            lambda self, *a: taken.append(real_take(self, *a)) or taken[-1])
        result = run_scan(expand_inputs(paths), ScanConfig(keep_all_flows=True))
        # The flow log line too: it lists facts in the order they were set.
        rows = sorted((v.record.flow_id, v.record.client_ip, v.record.facts, v.score,
                       list(v.rules), json.dumps(flow_entry(v), default=str))
                      for v in result.verdicts)
        return rows, taken

    mix = tmp_path / "mix.pcap"
    generate(mix, packets=30_000, seed=3)
    paths = [str(PCAPS), str(mix)] + ([str(CORPUS)] if CORPUS.is_dir() else [])
    with_path, taken = flows(True, paths)
    without, untouched = flows(False, paths)
    assert with_path == without and len(with_path) > 500
    assert not untouched and sum(taken) > 300 and not all(taken)


def _first_by_stream(data: bytes, monkeypatch) -> tuple:
    """What the byte-wise Python TLSStream reads from ``data`` as a side's first bytes,
    sorted by kind the way ``_fast.tls_first`` returns it."""
    with monkeypatch.context() as m:
        m.setattr(records, "fast", None)
        # The names TLSStream calls the hello readers by (records imports them from hello).
        m.setattr(records, "parse_client_hello", hello.py_parse_client_hello)
        m.setattr(records, "parse_server_hello", hello.py_parse_server_hello)
        stream = records.TLSStream()
        events = stream.feed(data)
    hellos = [e for e in events if isinstance(e, hello.ClientHello)]
    servers = [e for e in events if isinstance(e, hello.ServerHello)]
    certs = [e for e in events if isinstance(e, x509.Certificate)]
    apps = [e.length for e in events if isinstance(e, records.AppData)]
    rank = {hello.ClientHello: 0, hello.ServerHello: 1, x509.Certificate: 2, records.AppData: 3}
    kinds = [rank[type(e)] for e in events if type(e) in rank]
    return hellos, servers, certs, apps, stream.encrypted, kinds


def test_first_packet_reader_matches_the_stream_parser(monkeypatch) -> None:
    """Whenever ``tls_first`` claims a packet, the byte-wise parser fed the same bytes
    finds the same hellos, certificates and record lengths, and the same encryption
    state; it claims whole flights and declines packets that start inside a record."""
    cases = claimed = 0
    rng = random.Random(7)
    for flight in _flights():
        for data in cut_and_mutated(flight, rng, 20, step=37):
            cases += 1
            read = fast.tls_first(data)
            if read is None:
                continue
            claimed += 1
            hellos, servers, cert_bodies, apps, encrypted = read
            want_hellos, want_servers, want_certs, want_apps, want_encrypted, kinds = (
                _first_by_stream(data, monkeypatch)
            )
            assert kinds == sorted(kinds), "claimed a packet out of flight order"
            # a client hello comes as (record version, key, sni, alpn, body): ch_key in csrc/tls.c
            fields = [fast.client_hello_fields(body) for _, _, _, _, body in hellos]
            built = [hello.ClientHello(h[0], *f) for h, f in zip(hellos, fields, strict=True)]
            assert built == want_hellos
            for (_, key, sni, alpn, _), f in zip(hellos, fields, strict=True):
                assert (key, sni, alpn) == (hello.py_hello_key(f), f[8], f[7])
            assert [hello.ServerHello(v, *f) for v, f in servers] == want_servers
            got_certs = [x509.parse_certificate(b) for b in cert_bodies]
            assert [c for c in got_certs if c is not None] == want_certs
            assert list(apps) == want_apps and encrypted == want_encrypted  # (none: ())
    assert cases > 2000 and claimed > 500
    assert fast.tls_first(b"\x17\x03") is None and fast.tls_first(b"GET / HTTP/1.1") is None
    # Out of flight order (a server hello before a client hello): left to the general path.
    server_hello = record(22, handshake(2, server_hello_body(0x1301, [ext(0x002B, b"\x03\x04")])))
    client_hello = client_hello_record(SPEC_CIPHERS, spec_extensions())
    assert fast.tls_first(client_hello + server_hello) is not None
    assert fast.tls_first(server_hello + client_hello) is None
    assert fast.tls_first(record(23, bytes(40)) + server_hello) is None


def test_hello_key_matches_its_python_twin() -> None:
    """``_fast.hello_key`` against ``hello.py_hello_key`` on every hello of the recorded
    flights and the corpus, with GREASE swapped in and out and ALPN lists varied."""
    rng = random.Random(11)
    hellos = [e for f in _flights() for e in records.TLSStream().feed(f)
              if isinstance(e, hello.ClientHello)]
    assert len(hellos) > 20
    grease = [0x0A0A + 0x1010 * k for k in range(16)]
    cases = 0
    for ch in hellos:
        fields = (ch.handshake_version, ch.ciphers, ch.extensions, ch.supported_versions,
                  ch.supported_groups, ch.ec_point_formats, ch.signature_algorithms, ch.alpn)
        for _ in range(6):
            ciphers = tuple(rng.choice(grease) if rng.random() < 0.2 else c for c in fields[1])
            alpn = rng.choice([(), (b"h2",), (b"h2", b"http/1.1"), fields[7]])
            variant = (fields[0], ciphers, *fields[2:7], alpn, "sni", 32, (0,))
            assert fast.hello_key(variant) == hello.py_hello_key(variant)
            cases += 1
    assert cases > 100
    with pytest.raises(TypeError):
        fast.hello_key((0x0303,))


def test_held_flights_leave_the_same_facts(monkeypatch) -> None:
    """A side's first bytes cut into packets (a certificate over a few segments, hellos
    split anywhere, random cuts and mutations, the other side's packet in between): the
    first-packet path, holding what does not settle yet, answers every packet as the
    general path does and leaves the same facts - and it does hold and take some."""
    from detector.dissect import inspector
    from detector.dissect.tls import flow

    client = client_hello_record(SPEC_CIPHERS, spec_extensions())
    rng = random.Random(11)

    def run(first_packets: bool, packets: list[tuple[int, bytes]]) -> tuple:
        monkeypatch.setattr(inspector.Inspector, "first_packets", first_packets)
        insp = inspector.Inspector()
        isn = (1000, 50000)
        seqs, answers, wanted = list(isn), [], 3
        for side, data in packets:
            if wanted & (1 << side):  # as the feeder: only sides that still want payload
                wanted = insp.tcp_packet(7, side, seqs[side], isn[side], data, len(data),
                                         1.5 + len(answers), 443, 50000)
                answers.append(wanted)
            seqs[side] += len(data)
        facts = insp.finish(7)
        return answers, None if facts is None else repr(dataclasses.asdict(facts))

    held = []
    real_hold = flow.FirstPackets._hold
    monkeypatch.setattr(flow.FirstPackets, "_hold",
                        lambda self, *a: held.append(1) or real_hold(self, *a))
    cases = 0
    # and sides that never say hello: application data, after a handshake message or not
    resumed = record(22, handshake(2, server_hello_body(0xC02F, []))) + record(20, b"\x01")
    odd = [record(22, handshake(12, bytes(100))) + record(23, bytes(50)) * 6,
           record(23, bytes(200)) * 6, record(22, handshake(11, bytes(3000))),
           resumed + record(22, bytes(40)) + record(23, bytes(300)),  # its Finished, encrypted
           resumed + record(22, b"\x02" + bytes(39)) + record(23, bytes(30)) * 3]
    for flight in _flights() + odd:
        for server in [flight, *cut_and_mutated(flight, rng, 4, step=211)]:
            for size in (90, 700, 1448):
                pieces = [(1, server[i : i + size]) for i in range(0, len(server), size)]
                if len(pieces) > 2 and rng.random() < 0.2:
                    pieces.insert(2, (0, record(23, bytes(30))))  # the other side, between
                packets = [(0, client), *pieces]
                assert run(True, packets) == run(False, packets)
                cases += 1
    assert cases > 500 and len(held) > 50


def test_sides_picked_up_mid_session_leave_the_same_facts(monkeypatch) -> None:
    """Both sides after their handshake (application data, alerts, a change-cipher-spec, a
    late handshake record, junk), cut anywhere, interleaved, now and then a segment
    repeated or one skipped: the first-packet path, reading such sides packet by packet,
    answers every packet as the general path does and leaves the same facts."""
    from detector.dissect import inspector
    from detector.dissect.tls import flow

    rng = random.Random(23)

    def stream() -> bytes:
        parts = [record(rng.choice((23, 23, 23, 21, 20, 24, 22)),
                        bytes(rng.randrange(0, 900))) for _ in range(rng.randint(1, 7))]
        if rng.random() < 0.2:  # a late handshake record that may hold hellos
            late = rng.choice((handshake(2, server_hello_body(0x1301, [])), b"\x01" + bytes(9),
                               bytes((20,)) + bytes(rng.randrange(3, 60))))
            parts.insert(rng.randrange(len(parts)), record(22, late))
        if rng.random() < 0.1:
            parts.insert(rng.randrange(len(parts)), bytes(rng.randrange(1, 9)))  # junk
        return record(23, bytes(rng.randrange(0, 300))) + b"".join(parts)

    def run(first_packets: bool, packets: list[tuple[int, int, bytes]]) -> tuple:
        monkeypatch.setattr(inspector.Inspector, "first_packets", first_packets)
        insp = inspector.Inspector()
        answers, wanted = [], 3
        for side, seq, data in packets:
            if wanted & (1 << side):
                wanted = insp.tcp_packet(9, side, seq, None, data, len(data),
                                         2.25 + len(answers), 50123, 443)
                answers.append(wanted)
        facts = insp.finish(9)
        return answers, None if facts is None else repr(dataclasses.asdict(facts))

    going = []
    real_go = flow.FirstPackets._go
    monkeypatch.setattr(flow.FirstPackets, "_go",
                        lambda self, *a: going.append(real_go(self, *a)) or going[-1])
    for _ in range(400):
        sides = []
        for side in (0, 1):
            data, pos, seq = stream(), 0, rng.randrange(1 << 32)
            pieces = []
            while pos < len(data):
                size = rng.choice((40, 200, 700, 1448, rng.randrange(1, 2000)))
                pieces.append((side, (seq + pos) & 0xFFFFFFFF, data[pos : pos + size]))
                pos += size
            if len(pieces) > 2 and rng.random() < 0.15:
                pieces.insert(2, pieces[1])  # a retransmission
            if len(pieces) > 3 and rng.random() < 0.1:
                del pieces[2]  # a lost segment
            sides.append(pieces)
        packets = []
        while sides[0] or sides[1]:
            side = rng.choice([s for s in (0, 1) if sides[s]])
            packets.append(sides[side].pop(0))
        assert run(True, packets) == run(False, packets)
    assert sum(going) > 100


def test_cut_point_twins_agree() -> None:
    """``_fast.tls_cut_point`` and ``flow.py_cut_point`` (where a held flight's cut-short
    last handshake record starts, and its whole messages end): the same answer on every
    flight, every truncation of it and random mutations - lengths included."""
    from detector.dissect.tls.flow import py_cut_point

    rng = random.Random(11)
    answered = 0
    for flight in _flights():
        for data in cut_and_mutated(flight[:2500], rng, 30, max_flips=3, step=7):
            want = py_cut_point(data)
            assert fast.tls_cut_point(data) == want, data[:16].hex()
            answered += want is not None
    assert answered > 500  # the cut-short case, not only None


def test_whole_messages_twins_agree() -> None:
    """``_fast.tls_whole_messages`` and ``flow.py_whole_messages`` (a held flight cut back
    to its whole messages, at _cut_point's answer): the same bytes on every flight, every
    truncation of it and random mutations that leave a cut point; a point that is none
    is refused."""
    from detector.dissect.tls.flow import py_cut_point, py_whole_messages

    rng = random.Random(15)
    cut = 0
    for flight in _flights():
        for data in cut_and_mutated(flight[:2500], rng, 30, max_flips=3, step=7):
            at = py_cut_point(data)
            if at is not None:
                cut += 1
                want = py_whole_messages(data, at)
                assert fast.tls_whole_messages(data, at) == want, data[:16].hex()
    assert cut > 500
    for bad in [(-1, 10), (10, 14), (0, 10_000)]:
        with pytest.raises(ValueError):
            fast.tls_whole_messages(bytes(100), bad)


def test_walk_encrypted_twins_agree() -> None:
    """``_fast.tls_walk_encrypted`` and ``flow.py_walk_encrypted`` (a side's records after
    encryption began, read packet by packet): the same answer on every flight, every
    truncation of it and random mutations, from its start and from offsets inside it (the
    rest of a cut record), records, lengths, cut versions and declines alike."""
    from detector.dissect.tls.flow import py_walk_encrypted

    rng = random.Random(16)
    encrypted = [record(23, bytes(rng.randrange(0, 300))) for _ in range(6)]
    extra = [b"".join(encrypted), record(21, b"\x01\x00") + b"".join(encrypted[:3])]
    answered = declined = 0
    for flight in [*_flights(), *extra]:
        for data in cut_and_mutated(flight[:2500], rng, 30, max_flips=3, step=7):
            for pos in (0, 0, rng.randrange(0, 40), rng.randrange(0, len(data) + 20)):
                version = rng.choice((0, 0x0303, 0x0301))
                want = py_walk_encrypted(data, pos, version)
                assert fast.tls_walk_encrypted(data, pos, version) == want, (data[:16].hex(), pos)
                answered += want is not None and want[0] > 0
                declined += want is None
    assert answered > 300 and declined > 300


def test_tls_first_declines_what_ends_in_a_cut_handshake_record() -> None:
    """FirstPackets.take asks ``_cut_point`` before ``_fast.tls_first`` and skips reading
    the whole packet when its last record is a handshake record cut short: that is only
    the same as reading it first if tls_first then always says None - checked on every
    flight, every truncation of it and random mutations."""
    rng = random.Random(12)
    cut = 0
    for flight in _flights():
        for data in cut_and_mutated(flight[:2500], rng, 30, max_flips=3, step=7):
            if fast.tls_cut_point(data) is not None:
                cut += 1
                assert fast.tls_first(data) is None, data[:16].hex()
    assert cut > 500


def test_client_hello_key_is_the_key_of_its_fields() -> None:
    """``_fast.client_hello_key`` (ch_key: what tls_first hands over for a ClientHello)
    declines exactly what ``client_hello_fields`` declines, and otherwise gives hello_key
    of those fields (GREASE folded), their SNI and their ALPN - on every hello of the
    recorded flights, cut short and mutated, and with GREASE swapped into its lists."""
    rng = random.Random(13)
    bodies = _hello_bodies(b"\x01")
    assert len(bodies) >= 8
    grease = [bytes((0x0A + 0x10 * k, 0x0A + 0x10 * k)) for k in range(16)]
    cases = read = 0
    for body in bodies:
        greased = bytearray(body)
        for _ in range(8):  # GREASE over aligned u16 values somewhere past the random
            at = rng.randrange(40, max(41, len(body) - 2))
            greased[at : at + 2] = rng.choice(grease)
        for v in [body, bytes(greased), *cut_and_mutated(body, rng, 200)]:
            fields = fast.client_hello_fields(v)
            got = fast.client_hello_key(v)
            if fields is None:
                assert got is None, v.hex()
            else:
                assert got == (hello.py_hello_key(fields), fields[8], fields[7]), v.hex()
                read += 1
            cases += 1
    assert cases > 1500 and read > cases // 5


def test_round6_is_round_to_six_places() -> None:
    """``_fast.round6`` (the first-packet path's record times) against its twin
    ``round(x, 6)``: the same value, type and sign on exact ties (half to even), on the
    doubles either side of a microsecond's half, on capture-like times, on the range's
    edges and beyond them (zeros, tiny, huge, inf, nan, ints), and on random bit patterns."""
    import math
    import struct

    from detector.dissect.tls.flow import _py_round6

    rng = random.Random(14)
    cases: list[float] = [0.0, -0.0, 4e-7, -4e-7, 5e-7, 2.5e-6, 1e-280, 1e-300, 4e9, 3.999999e9]
    cases += [1e300, math.inf, -math.inf, math.nan, 5, -3, True]
    for k in range(1, 400):  # x * 1e6 exactly n + 1/2: (2n + 1) / 2e6 with 5**6 dividing 2n + 1
        for scale in (1.0, 2.0**-3, 2.0**10, 2.0**20):
            cases += [k * 15625 / 2e6 * scale, -k * 15625 / 2e6 * scale]
    for _ in range(20000):
        t = rng.randrange(10**9, 2 * 10**9) + rng.randrange(10**7) / 1e7  # some .5 µs
        cases += [t, math.nextafter(t, 0.0), math.nextafter(t, 1e10), rng.uniform(-5e9, 5e9)]
        cases.append(rng.random() * 10 ** rng.uniform(-12, 11))
        cases.append(struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0])
    ties = 0
    for x in cases:
        want, got = _py_round6(x), fast.round6(x)
        assert type(got) is type(want), repr(x)
        assert got == want or (want != want and got != got), repr(x)
        assert math.copysign(1, got) == math.copysign(1, want), repr(x)
        ties += isinstance(x, float) and 0 < abs(x) < 4e9 and (abs(x) * 1e6) % 1 == 0.5
    assert ties > 1000  # the half-even case is exercised, not only the easy one
