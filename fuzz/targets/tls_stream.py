"""TLS records (``dissect/tls/records.py``) and the TLS dissector (``flow.py``) on a
two-sided conversation (fuzz/common.py):

* each side's TLSStream with the compiled whole-record path (``tls_scan`` and the C hello
  readers) against the byte-wise Python path: the same events and stream state after
  every chunk;
* ``tls_first`` (the first-packet reader) against the byte-wise parser on each side's
  first packet, whenever it claims the packet;
* the Tls dissector as the inspector drives it, and the whole Inspector with its TLS
  first-packet path on and off: the same facts at the flow's end.

Crash: any exception from TLSStream (it never raises on input) or the inspector, or a
twin mismatch; the Tls dissector alone follows the dissector rule (fuzz/common.py).
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.compiled import fast
    from detector.dissect.inspector import Inspector
    from detector.dissect.tls import hello, records, x509
    from detector.dissect.tls.flow import Tls

CTX = common.dissector_context()


def _state(stream: records.TLSStream) -> tuple:
    return (stream.state, stream.failure, stream.encrypted, stream.offset, stream.records,
            stream.buffered_bytes)  # fmt: skip


def _trace(chunks: list[bytes]) -> list:
    stream = records.TLSStream()
    return [(stream.feed(chunk), _state(stream)) for chunk in chunks]


def _first_by_stream(data: bytes) -> tuple:
    with common.pure():
        stream = records.TLSStream()
        events = stream.feed(data)
    hellos = [e for e in events if isinstance(e, hello.ClientHello)]
    servers = [e for e in events if isinstance(e, hello.ServerHello)]
    certs = [e for e in events if isinstance(e, x509.Certificate)]
    apps = [e.length for e in events if isinstance(e, records.AppData)]
    return hellos, servers, certs, apps, stream.encrypted


def _check_first(data: bytes) -> None:
    read = fast.tls_first(data)
    if read is None:
        return
    hellos, servers, cert_bodies, apps, encrypted = read
    want = _first_by_stream(data)
    got_certs = [c for c in (x509.parse_certificate(b) for b in cert_bodies) if c is not None]
    # a client hello comes as (record version, key, sni, alpn, body): ch_key in csrc/tls.c
    fields = [fast.client_hello_fields(body) for _, _, _, _, body in hellos]
    built = [hello.ClientHello(h[0], *f) for h, f in zip(hellos, fields, strict=True)]
    assert built == want[0], "tls_first: hellos"
    for (_, key, sni, alpn, _), f in zip(hellos, fields, strict=True):
        assert (key, sni, alpn) == (hello.py_hello_key(f), f[8], f[7]), "tls_first: hello key"
    assert [hello.ServerHello(v, *f) for v, f in servers] == want[1], "tls_first: servers"
    assert got_certs == want[2], "tls_first: certificates"
    assert (list(apps), encrypted) == (want[3], want[4]), "tls_first: records"  # (none: ())


def _inspect(frames: list, ports: tuple[int, int], first_packets: bool) -> object:
    inspector = Inspector(ctx=CTX)
    inspector.first_packets = first_packets
    seq = [1000, 5_000_000]
    for i, (side, gap, chunk) in enumerate(frames):
        if gap:
            seq[side] += 7
        sport, dport = (ports[0], ports[1]) if side == 0 else (ports[1], ports[0])
        inspector.tcp_packet(1, side, seq[side], 1000 if side == 0 else 5_000_000, chunk,
                             len(chunk), 1_700_000_000.0 + i, sport, dport)  # fmt: skip
        seq[side] = (seq[side] + len(chunk)) % (1 << 32)
    return common.canon(inspector.finish(1))


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    ports, frames = common.conversation(data)
    compiled = common.compiled_available()
    for side in (0, 1):
        chunks = [chunk for s, _, chunk in frames if s == side]
        got = _trace(chunks)
        if compiled:
            with common.pure():
                want = _trace(chunks)
            assert got == want, "TLSStream paths differ"
            if chunks:
                _check_first(chunks[0])
    common.run_stream(Tls, data, CTX)
    with_path = _inspect(frames, ports, True)
    assert _inspect(frames, ports, False) == with_path, "first-packet path differs"


if __name__ == "__main__":
    common.main(TestOneInput)
