"""Make the seed corpora of every target from the fixtures (pcaps/) and the shared corpus
(../shared/corpus), split per target: whole captures (cut to a size the fuzzer handles)
for the readers and the session, packet records for decode and the flow stage, TCP
conversations sorted by which dissector claims them, DNS messages, hello bodies,
certificate messages, the rule files.

    python -m fuzz.seeds [OUT]   (default fuzz/build/seeds; a few MB, not committed)
"""

from __future__ import annotations

import gzip
import hashlib
import random
import struct
import sys
from collections import defaultdict
from pathlib import Path

from fuzz import common
from fuzz.targets import TARGETS

REPO = common.REPO
CORPUS = (REPO.parent / "shared" / "corpus").resolve()
CAPTURE_MAX = 48 * 1024  # bytes of a capture kept as a reader/session seed
SESSION_MAX = 24 * 1024
PER_TARGET = 400  # seeds at most per target


def captures() -> list[Path]:
    from detector.source.inputs import probe_file

    paths = sorted(p for p in (REPO / "pcaps").iterdir() if p.is_file())
    if CORPUS.is_dir():
        paths += sorted(p for p in CORPUS.rglob("*") if p.is_file())
    return [p for p in paths if probe_file(str(p)) is not None]


def packets(path: Path, limit: int = 3000) -> list[tuple[int, float, bytes]]:
    """(link type, time, frame) of a capture's first packets, read by our own reader."""
    from detector.errors import CorruptCapture, InputError
    from detector.source.inputs import CaptureInput, read_capture

    out: list[tuple[int, float, bytes]] = []
    try:
        stream, batches = read_capture(CaptureInput(str(path), "?", False, 0.0), 1 << 20)
    except InputError:
        return out
    try:
        for rb in batches:
            columns = (
                rb.data_off.tolist(),
                rb.caplen.tolist(),
                rb.linktype.tolist(),
                rb.ts.tolist(),
            )
            for off, cap, lt, ts in zip(*columns, strict=True):
                out.append((lt, ts, bytes(rb.buf[off : off + cap])))
            if len(out) >= limit:
                break
    except CorruptCapture:
        pass
    finally:
        stream.close()
    return out[:limit]


def conversations(pkts: list[tuple[int, float, bytes]]) -> tuple[list, list]:
    """TCP conversations (port index, [(side, payload)]) and UDP flows of decoded packets."""
    import numpy as np

    from detector.decode import decode

    if not pkts:
        return [], []
    rb = common.record_batch([(lt, raw) for lt, _, raw in pkts], [ts for _, ts, _ in pkts])
    pb, _ = decode(rb)
    tcp: dict[tuple, list] = defaultdict(list)
    udp: dict[tuple, list] = defaultdict(list)
    for i in range(len(pb)):
        n = int(pb.payload_cap[i])
        if n <= 0:
            continue
        off = int(pb.payload_off[i])
        payload = bytes(pb.buf[off : off + n])
        a = (int(pb.src_hi[i]), int(pb.src_lo[i]), int(pb.sport[i]))
        b = (int(pb.dst_hi[i]), int(pb.dst_lo[i]), int(pb.dport[i]))
        key = (int(pb.proto[i]), *sorted((a, b)))
        flows = tcp if int(pb.proto[i]) == 6 else udp
        flows[key].append((a, b, payload))
    del np
    return list(tcp.values()), list(udp.values())


def _port_index(port: int) -> int:
    for i, (_, p) in enumerate(common.PORTS):
        if p == port:
            return i
    return 0


def conversation_bytes(segments: list) -> tuple[bytes, bytes, bytes]:
    """A TCP flow as a conversation (side 0 = first sender), with its two first payloads."""
    first = segments[0][0]
    frames = [(0 if a == first else 1, payload) for a, _, payload in segments]
    server_port = segments[0][1][2]
    data = common.encode_conversation(_port_index(server_port), frames[:64])
    heads = [b"".join(p for s, p in frames if s == side)[:4096] for side in (0, 1)]
    return data[: 32 * 1024], heads[0], heads[1]


def make(out: Path) -> dict[str, int]:
    from detector.dissect.base import Probe
    from detector.dissect.dns import DnsTcp
    from detector.dissect.http import Http
    from detector.dissect.jsonlines import JsonLines
    from detector.dissect.libp2p import Multistream
    from detector.dissect.nodes import CryptoNode, CryptoNodeUdp
    from detector.dissect.tls.flow import Tls

    seeds: dict[str, dict[str, bytes]] = defaultdict(dict)

    def add(target: str, data: bytes) -> None:
        if len(seeds[target]) < PER_TARGET * 4:
            seeds[target][hashlib.sha1(data).hexdigest()[:16]] = data

    classes = {"tls_stream": Tls, "http": Http, "dns": DnsTcp, "nodes": CryptoNode,
               "jsonlines": JsonLines, "libp2p": Multistream}  # fmt: skip
    for path in captures():
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        add("capture", bytes([5]) + raw[:CAPTURE_MAX])
        add("capture", bytes([1]) + raw[:4096])
        add("capture_gzip", bytes([5]) + raw[: CAPTURE_MAX // 2])
        add("session", bytes([2]) + raw[:SESSION_MAX])
        pkts = packets(path)
        records = [(lt, frame) for lt, _, frame in pkts]
        for start in range(0, min(len(records), 600), 60):
            add("decode", common.encode_records(records[start : start + 60]))
            add("flows", common.encode_records(records[start : start + 60]))
        frames = [frame for lt, _, frame in pkts if lt == 1][:40]
        if frames:
            from fuzz.targets.afpacket_block import block_of

            for flags in (0, 1, 2, 3, 4):
                add("afpacket_block", bytes([flags]) + block_of(frames[flags * 6 :]))
        tcp, udp = conversations(pkts)
        for segments in tcp:
            data, head0, head1 = conversation_bytes(segments)
            ports = (segments[0][0][2], segments[0][1][2])
            for target, cls in classes.items():
                for head, pp in ((head0, ports), (head1, ports[::-1])):
                    if head and cls.probe(head, pp) is Probe.YES:
                        add(target, data)
                        break
            if b"upgrade: websocket" in head0[:4096].lower():  # the HTTP handshake and frames
                add("websocket", data)
            for head in (head0, head1):
                _hello_and_certificate_seeds(head, add)
        for segments in udp:
            for a, b, payload in segments[:8]:
                if 53 in (a[2], b[2]):
                    add("dns", payload)
                if CryptoNodeUdp.probe(payload, (a[2], b[2])):
                    frames = [(0, p) for _, _, p in segments[:16]]
                    add("nodes", common.encode_conversation(_port_index(b[2]), frames))
    for hexfile in sorted((REPO / "bench" / "tls").glob("*.hex")):
        from bench.tlsdata import read_hex

        flight = read_hex(hexfile)
        add("tls_stream", common.encode_conversation(2, [(0, flight[:8000])]))
        _hello_and_certificate_seeds(flight, add)
    # QUIC: recorded ClientHellos (the dissector's CRYPTO payload), a DCID of 8 bytes, v1
    # and v2, sealed as is and with a bit flipped (see fuzz/targets/quic.py)
    from detector.synth.benign.tls import TLS_DIR
    from detector.synth.benign.tls import read_hex as read_recorded

    for hexfile in sorted(TLS_DIR.glob("*.client.hex"))[:12]:
        record = read_recorded(hexfile)
        body = record[9 : 5 + int.from_bytes(record[3:5], "big")]
        for flags in (0, 1, 2):
            add("quic", bytes([(8 << 2) | flags]) + bytes(range(8)) + body)
    for rule_file in sorted((REPO / "signatures" / "rules").glob("*.yaml")):
        add("rules", rule_file.read_bytes())
    rng = random.Random(1)
    for _ in range(40):
        segs = bytearray(rng.randbytes(4))
        for _ in range(rng.randrange(1, 30)):
            length = rng.randrange(0, 60)
            segs += struct.pack(">hBBB", rng.choice([0, 20, 40, -20, 1000]), length,
                                rng.choice([0, 0, 5]), rng.choice([0, 0, 1, 4]))  # fmt: skip
            segs += rng.randbytes(length)
        add("reassembly", bytes(segs))

    # libp2p openers: none in the captures above; the real ones are in pcaps/realset
    header = b"\x13/multistream/1.0.0\n"
    for proposal in (b"\x07/noise\n", b"\x0b/tls/1.0.0\n", b"\x0d/yamux/1.0.0\n", b"\x03na\n"):
        add("libp2p", common.encode_conversation(1, [
            (0, header[:1]), (0, header[1:] + proposal), (1, header + proposal),
            (0, b"\x00\x20" + rng.randbytes(32)), (1, rng.randbytes(80))]))  # fmt: skip
    for path in sorted((REPO / "pcaps" / "realset").glob("libp2p-*.pcap")):
        tcp, _ = conversations(packets(path, 400))
        for segments in tcp[:2]:
            add("libp2p", conversation_bytes(segments)[0])

    counts = {}
    rng = random.Random(7)
    for target in TARGETS:
        items = sorted(seeds.get(target, {}).items())
        if len(items) > PER_TARGET:
            items = rng.sample(items, PER_TARGET)
        directory = out / target
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():
            old.unlink()
        for name, data in items:
            (directory / name).write_bytes(data)
        counts[target] = len(items)
    return counts


def _hello_and_certificate_seeds(stream: bytes, add) -> None:  # noqa: ANN001
    """Handshake bodies that start a record: hellos and Certificate messages."""
    pos = stream.find(b"\x16\x03")
    while pos != -1 and pos + 9 <= len(stream):
        mtype = stream[pos + 5]
        length = int.from_bytes(stream[pos + 6 : pos + 9], "big")
        body = stream[pos + 9 : pos + 9 + length]
        if mtype == 1:
            add("tls_hello", b"\x02" + body)
        elif mtype == 2:
            add("tls_hello", b"\x03" + body)
        elif mtype == 11 and body:
            add("x509", b"\x00" + body)
            if len(body) > 6:
                first = int.from_bytes(body[3:6], "big")
                add("x509", b"\x01" + body[6 : 6 + first])
        pos = stream.find(b"\x16\x03", pos + 1)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "fuzz" / "build" / "seeds"
    counts = make(out)
    for target, n in counts.items():
        print(f"{target:14} {n:4} seeds")


if __name__ == "__main__":
    main()
