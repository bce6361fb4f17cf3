"""What every fuzz target shares: the sanitizer build of the C helpers, the pure-twin
switch, input formats (records, conversations) and the rule for what counts as a crash.

Import this module before anything under ``detector`` (the targets do, then import the
code under test inside ``instrumented()``), so that:

* ``MINEWATCH_FAST_SO=/path/_fast....so`` replaces ``detector._fast`` with that file - the
  AddressSanitizer + UBSan build made by ``fuzz/build_asan.sh`` - before any stage binds it;
* atheris instruments the ``detector`` package only (not numpy, yaml, scapy) for coverage.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import os
import struct
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _load_sanitized_fast() -> None:
    path = os.environ.get("MINEWATCH_FAST_SO")
    if not path or os.environ.get("MINEWATCH_PURE"):
        return
    import detector  # the package only (its __init__ imports nothing of ours)

    loader = importlib.machinery.ExtensionFileLoader("detector._fast", path)
    spec = importlib.util.spec_from_file_location("detector._fast", path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules["detector._fast"] = module
    detector._fast = module  # type: ignore[attr-defined]


_load_sanitized_fast()


def instrumented() -> contextlib.AbstractContextManager[object]:
    """Instrument ``detector`` modules imported in this block, when fuzzing with atheris."""
    if os.environ.get("MINEWATCH_FUZZING") != "1":
        return contextlib.nullcontext()
    import atheris

    return atheris.instrument_imports(include=["detector"])


def main(test_one_input) -> None:  # noqa: ANN001
    """Run a target under atheris (libFuzzer flags come from the command line)."""
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


# ---------------------------------------------------------------------------------------
# Temporary files: on tmpfs where there is one (the readers need a path; a file there
# is a memory path - no disk I/O - and plain files are still memory-mapped as in a scan).

_TMPDIR = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def temp_file(data: bytes, suffix: str = ".pcap") -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="mwfuzz-", suffix=suffix, dir=_TMPDIR)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


# ---------------------------------------------------------------------------------------
# The pure twins: every compiled helper swapped for its Python/numpy twin, as
# MINEWATCH_PURE=1 would have bound them at import time.


@contextlib.contextmanager
def pure() -> Iterator[None]:
    from detector import decode, flows, flowtable, pdns
    from detector.dissect import dns, dnsparse, feeder, quic
    from detector.dissect.tls import flow, hello, records
    from detector.source import pcap, pcapng, walk

    swaps = [
        (pcap, "fast", None),
        (pcap, "walk_pcap", walk.py_walk_pcap),
        (pcapng, "walk_pcapng_epb", walk.py_walk_pcapng_epb),
        (decode, "fast", None),
        (flows, "fast", None),
        (flowtable, "fast", None),  # zero_rows, index_drop, index_merge
        (feeder, "fast", None),  # inspect_triage, inspect_cols, round_pick, feed_packets...
        (pdns, "fast", None),
        (dnsparse, "fast", None),
        (dns, "parse_response", dnsparse.py_parse_response),
        (records, "fast", None),
        (records, "parse_client_hello", hello.py_parse_client_hello),
        (records, "parse_server_hello", hello.py_parse_server_hello),
        (flow, "fast", None),
        (flow, "_tls_first", None),  # FirstPackets.take: the first-packet path off
        (flow, "_round6", flow._py_round6),  # record times: round(ts, 6)
        (hello, "fast", None),
        (quic, "fast", None),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in swaps]
    try:
        for module, name, value in swaps:
            setattr(module, name, value)
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def compiled_available() -> bool:
    from detector.compiled import fast

    return fast is not None


# ---------------------------------------------------------------------------------------
# Input formats.
#
# Records (decode, flows): a sequence of packets, each
#   u8 selector | u16 big-endian length | that many bytes of the packet.
# Selector: bits 0-3 the link type (LINKTYPES, modulo), bit 5 the clock jumps 40 s
# before this packet (past the close timeout, within the idle ones), bit 6 a batch ends
# before it, bit 7 the clock jumps 700 s before it (past the TCP idle timeout). The last
# packet takes what is left if its length runs past the end.

LINKTYPES = (1, 0, 101, 113, 276, 228, 229, 12, 14, 108, 147, 192)
JUMP, SPLIT, CLOSE_JUMP = 0x80, 0x40, 0x20


def records(data: bytes) -> list[tuple[int, bytes]]:
    return [(linktype, raw) for linktype, raw, _ in records_with_flags(data)]


def records_with_flags(data: bytes) -> list[tuple[int, bytes, int]]:
    out = []
    pos = 0
    while pos + 3 <= len(data) and len(out) < 4096:
        sel, length = data[pos], int.from_bytes(data[pos + 1 : pos + 3], "big")
        pos += 3
        out.append((LINKTYPES[(sel & 0x0F) % len(LINKTYPES)], data[pos : pos + length], sel))
        pos += length
    return out


def encode_records(packets: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for linktype, raw in packets:
        sel = LINKTYPES.index(linktype) if linktype in LINKTYPES else 0
        out += bytes([sel]) + struct.pack(">H", min(len(raw), 0xFFFF)) + raw[:0xFFFF]
    return bytes(out)


def record_batch(packets: list[tuple[int, bytes]], ts=None):  # noqa: ANN001, ANN201
    """A RecordBatch as a reader would build it (payload followed by PAD zero bytes)."""
    import numpy as np

    if ts is None:
        ts = 1_700_000_000.0 + np.arange(len(packets), dtype=np.float64) * 0.25

    from detector.source.batch import PAD, RecordBatch

    blob = b"".join(raw for _, raw in packets)
    buf = np.zeros(len(blob) + PAD, dtype=np.uint8)
    buf[: len(blob)] = np.frombuffer(blob, dtype=np.uint8)
    lens = np.array([len(raw) for _, raw in packets], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if packets else lens
    return RecordBatch(
        buf=buf,
        data_off=offs,
        caplen=lens.copy(),
        wirelen=lens + (lens % 7),  # some packets cut short by the snap length
        ts=np.asarray(ts, dtype=np.float64),
        linktype=np.array([lt for lt, _ in packets], dtype=np.int32),
        stream_off=offs + 24,
    )


# Conversations (stream and datagram dissectors): one control byte, then frames
#   u8 flags (bit 0: side, bit 1: a gap precedes this frame) | u16 BE length | bytes.
# The control byte picks the ports (which some probes look at).

PORTS = ((40000, 3333), (40000, 80), (40000, 443), (40000, 53), (40000, 8333),
         (40000, 18080), (40000, 30303), (40000, 4444), (40000, 8080), (40000, 7075))  # fmt: skip


def conversation(data: bytes) -> tuple[tuple[int, int], list[tuple[int, bool, bytes]]]:
    if not data:
        return PORTS[0], []
    ports = PORTS[data[0] % len(PORTS)]
    frames = []
    pos = 1
    while pos + 3 <= len(data) and len(frames) < 2048:
        flags, length = data[pos], int.from_bytes(data[pos + 1 : pos + 3], "big")
        pos += 3
        frames.append((flags & 1, bool(flags & 2), data[pos : pos + length]))
        pos += length
    return ports, frames


def encode_conversation(port_index: int, frames: list[tuple[int, bytes]]) -> bytes:
    out = bytearray([port_index % len(PORTS)])
    for side, raw in frames:
        raw = raw[:0xFFFF]
        out += bytes([side & 1]) + struct.pack(">H", len(raw)) + raw
    return bytes(out)


# ---------------------------------------------------------------------------------------
# Crashes. The inspector catches any exception a dissector raises on hostile payload
# (Inspector._dissector_failed: that flow's parsing stops, the scan goes on), so for a
# dissector target an ordinary exception is a finding the scan survives, not a crash.
# These never are ordinary: they mean runaway recursion, memory or an interpreter bug,
# and a scan that meets them on every flow of an attacker is in trouble.
FATAL = (RecursionError, MemoryError, SystemError)


def contained(fn, *args):  # noqa: ANN001, ANN201
    """Call a dissector hook the way the inspector does: ordinary exceptions are caught
    (and returned), the fatal ones go on (the fuzzer reports them)."""
    try:
        return fn(*args), None
    except FATAL:
        raise
    except Exception as exc:  # noqa: BLE001 - what Inspector._deliver catches
        if os.environ.get("FUZZ_STRICT") == "1":
            raise
        return None, exc


def canon(value: object) -> object:
    """Plain data for comparing results (plain.to_plain, with sets sorted: two equal sets
    built in different orders iterate differently)."""
    import dataclasses
    import math

    if value is None or isinstance(value, (bool, int, str, bytes)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canon(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return [(canon(k), canon(v)) for k, v in value.items()]
    if isinstance(value, (set, frozenset)):
        return sorted((canon(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [canon(v) for v in value]
    if hasattr(value, "__slots__"):
        names = [n for c in type(value).__mro__ for n in getattr(c, "__slots__", ())]
        return {n: canon(getattr(value, n, None)) for n in names}
    if hasattr(value, "__dict__"):
        return {k: canon(v) for k, v in vars(value).items()}
    return repr(value)


# ---------------------------------------------------------------------------------------
# Stream and datagram dissectors, driven as the inspector drives them.


def dissector_context():  # noqa: ANN201
    """An InspectContext with the project's real pool list (DNS pool lookups, hosts)."""
    from detector.dissect.base import InspectContext
    from detector.pdns import PassiveDns
    from detector.pools import load_pools

    return InspectContext(pdns=PassiveDns(), pools=load_pools(REPO / "signatures" / "pools"))


def run_stream(cls, data: bytes, ctx) -> object:  # noqa: ANN001
    """Feed a conversation to one stream dissector: probe each frame (probes see any
    bytes), deliver frames and gaps to their side until it says it is done or fails,
    expire; then the facts must survive stow/unstow and become plain data (they are
    written to EVE JSON and cross processes)."""
    from detector.facts import FlowFacts
    from detector.plain import dumps

    ports, frames = conversation(data)
    dissector = cls(ctx)
    facts = FlowFacts()
    done = [False, False]
    ts = 1_700_000_000.0
    for side, gap, chunk in frames:
        ts += 1.5
        contained(cls.probe, chunk, (ports[side], ports[1 - side]))
        if done[side]:
            continue
        if gap:
            _, err = contained(dissector.on_gap, side, facts)
            if err is not None:
                done[side] = True
                continue
        more, err = contained(dissector.on_data, side, chunk, ts, facts)
        if err is not None or not more:
            done[side] = True
    contained(dissector.on_expire, facts)
    facts.stow()
    facts.unstow()
    dumps(facts)
    return facts
