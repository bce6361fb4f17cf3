"""Every input the fuzzers ever found (fuzz/regressions/<target>/) replayed through its
target: each once crashed, hung or broke a twin check, and must not again. Also checks
that every target module imports and takes an empty and a small input (fast: seconds).
The fuzz runs themselves are ``make fuzz`` (long) and the smoke run in ``make test``."""

from __future__ import annotations

import importlib
import signal
from pathlib import Path

import pytest

from fuzz.targets import TARGETS

REGRESSIONS = Path(__file__).resolve().parent.parent / "fuzz" / "regressions"
CASES = sorted(
    (target.name, path)
    for target in REGRESSIONS.iterdir()
    if target.is_dir()
    for path in sorted(target.iterdir())
    if path.is_file() and not path.name.startswith(".")
)


def test_regression_directories_name_targets() -> None:
    for target in REGRESSIONS.iterdir():
        if target.is_dir():
            assert target.name in TARGETS, target


@pytest.mark.parametrize("target", TARGETS)
def test_target_takes_trivial_inputs(target: str) -> None:
    module = importlib.import_module(f"fuzz.targets.{target}")
    for data in (b"", b"\x00", b"\x01" * 64):
        module.TestOneInput(data)


def _on_alarm(signum, frame):  # noqa: ANN001, ARG001
    raise TimeoutError("regression input took more than 5 s (the fuzzers' hang limit)")


@pytest.mark.parametrize(("target", "path"), CASES, ids=[f"{t}/{p.name}" for t, p in CASES])
def test_regression_input_passes(target: str, path: Path) -> None:
    module = importlib.import_module(f"fuzz.targets.{target}")
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(5)
    try:
        module.TestOneInput(path.read_bytes())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
