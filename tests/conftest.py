"""Shared test helpers: run the real CLI in a subprocess, find the shared corpus."""

from __future__ import annotations

import csv
import functools
import json
import os
import random
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from detector.sinks.common import CATEGORY, NODE_CATEGORY

# The tests scan with the rules alone unless a test names a model (--model) or the run sets
# MINEWATCH_MODEL: most of them check what a dissector or a rule says, and verifying the
# model file costs every command ~0.15 s (some 600 CLI runs). The model is exercised by
# tests/test_model*.py, and `make test` verifies pcaps/, pcaps/recorded/ and
# pcaps/realset/ with the shipped model on, outside pytest.
os.environ.setdefault("MINEWATCH_MODEL", "none")

REPO = Path(__file__).resolve().parent.parent
CORPUS = (REPO.parent / "shared" / "corpus").resolve()
PCAPS = REPO / "pcaps"
# Suricata's EVE schema (source in tests/data/README.md).
EVE_SCHEMA = REPO / "tests" / "data" / "suricata-eve-schema.json"


# Captures of ../shared/corpus that minewatch does not read to their end, with the error it
# gives. Tests that run the whole corpus compare what *was* read and check that these, and
# only these, stop with exactly this reason. When a reader learns one, its test fails here
# until the entry is removed: the list can only shrink.
#
# fuzz-2021-10-13.pcap is a version 2.0 pcap, whose record headers hold the wire length
# first: its one packet has 197 captured bytes (the "524501" once taken for a captured
# length is its wire length), and 2 bytes of a next record header end the file. minewatch
# reads the packet and stops at those 2 bytes, as tcpdump (libpcap 1.10) does: "truncated
# dump file; tried to read 16 header bytes, only got 2", exit 1 (tests/test_pcap_lengths.py).
KNOWN_UNREAD: dict[str, str] = {
    "ndpi-suite/fuzz-2021-10-13.pcap": "truncated record header",
}


def known_unread_present() -> dict[str, str]:
    """KNOWN_UNREAD entries whose file is in this checkout's corpus."""
    return {name: why for name, why in KNOWN_UNREAD.items() if (CORPUS / name).is_file()}


def assert_only_known_unread(rc: int, err: str, corpus_in_run: bool = True) -> None:
    """A run over the corpus succeeded except for the known unread captures: exit 0 when
    none is in the run, else exit 2 with one error line per known capture naming its reason,
    and no other error."""
    expected = known_unread_present() if corpus_in_run else {}
    errors = [line for line in err.splitlines() if line.startswith("minewatch: error:")]
    if not expected:
        assert rc == 0 and not errors, err
        return
    assert rc == 2, err
    for name, why in expected.items():
        hits = [line for line in errors if str(CORPUS / name) in line]
        assert len(hits) == 1 and why in hits[0], (name, err)
    assert len(errors) == len(expected), err


def is_known_unread(path: str | Path, message: str) -> bool:
    """True when ``path`` is a KNOWN_UNREAD capture and ``message`` gives its reason."""
    resolved = Path(path).resolve()
    for name, why in known_unread_present().items():
        if resolved == (CORPUS / name).resolve():
            return why in message
    return False


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    def events(self, kind: str = "mining") -> list[dict]:
        """EVE events: miners' alerts ("mining", the default), crypto-node alerts ("node")
        or every event ("all")."""
        events = [json.loads(line) for line in self.out.splitlines() if line.strip()]
        if kind == "all":
            return events
        category = {"mining": CATEGORY, "node": NODE_CATEGORY}[kind]
        return [e for e in events
                if e["event_type"] == "alert" and e["alert"]["category"] == category]


@functools.cache
def eve_validator():
    """A Draft 2020-12 validator of Suricata's EVE schema (checked as a schema first)."""
    from jsonschema import Draft202012Validator

    schema = json.loads(EVE_SCHEMA.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def eve_errors(event: dict) -> list:
    """Every way ``event`` breaks Suricata's EVE schema (jsonschema ValidationErrors)."""
    return list(eve_validator().iter_errors(event))


def meta(event: dict, key: str) -> list[str]:
    """One key of an alert's flat metadata (``mining_wallet``...); [] when absent."""
    return event["alert"]["metadata"].get(key, [])


def python_prints(code: str) -> str:
    """What a fresh interpreter prints running ``code`` in the repository: what a module
    imports, or what start-up leaves behind, is per process."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def run_cli(*args: str, stdin: bytes | None = None, timeout: float = 120) -> CliResult:
    """Run ``python -m detector ARGS`` exactly as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "detector", *args],
        input=stdin,
        capture_output=True,
        timeout=timeout,
        cwd=REPO,
    )
    return CliResult(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                     proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def cli():
    return run_cli


def corpus_labels() -> list[dict[str, str]]:
    with (CORPUS / "labels.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def needs_corpus() -> pytest.MarkDecorator:
    return pytest.mark.skipif(not (CORPUS / "labels.csv").is_file(), reason="../shared/corpus missing")


def needs_tool(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(shutil.which(name) is None, reason=f"{name} not installed")


def cut_and_mutated(
    data: bytes, rng: random.Random, mutations: int, max_flips: int = 1, step: int = 1
) -> list[bytes]:
    """What a twin test feeds both readers: ``data`` cut at every ``step``-th length (and
    whole), then ``mutations`` copies with 1..``max_flips`` bytes set to random values."""
    variants = [data[:n] for n in range(0, len(data), step)] + [data]
    for _ in range(mutations):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, max_flips) if max_flips > 1 else 1):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        variants.append(bytes(mutated))
    return variants


def pcap_records(capture: Path) -> tuple[bytes, list[tuple[float, bytes]]]:
    """A little-endian microsecond pcap's file header and its records (time, bytes): what
    a test writes into a pipe slice by slice, as a live source would hand them over."""
    data = capture.read_bytes()
    records, off = [], 24
    while off + 16 <= len(data):
        sec, usec, caplen = struct.unpack_from("<III", data, off)
        records.append((sec + usec / 1e6, data[off : off + 16 + caplen]))
        off += 16 + caplen
    return data[:24], records


@pytest.fixture(scope="session")
def pg_cluster():
    """A throw-away PostgreSQL server (tests/pgserver.py) for the whole run, started on
    first use, stopped and removed at the end, failed tests or not."""
    from tests import pgserver

    bindir = pgserver.find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries missing (/usr/lib/postgresql/N/bin/initdb): "
                    "`make sysdeps` installs Debian's postgresql package")
    cluster = pgserver.start(bindir)
    try:
        yield cluster
    finally:
        cluster.stop()


def wait_for(predicate, timeout: float, step: float = 0.1):  # type: ignore[no-untyped-def]
    """``predicate()``'s first true value within ``timeout`` seconds, polled every
    ``step`` (the live tests wait on a sensor's log, EVE file or journal)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(step)
    return predicate()
