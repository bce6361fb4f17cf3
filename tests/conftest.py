"""Shared test helpers: run the real CLI in a subprocess, find the shared corpus."""

from __future__ import annotations

import csv
import json
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = (REPO.parent / "shared" / "corpus").resolve()
PCAPS = REPO / "pcaps"


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    def events(self, kind: str = "alert") -> list[dict]:
        """EVE events of one event_type (default: mining alerts)."""
        events = [json.loads(line) for line in self.out.splitlines() if line.strip()]
        return [e for e in events if e["event_type"] == kind]


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
