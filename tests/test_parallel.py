"""A directory scanned by worker processes gives exactly the serial result."""

from __future__ import annotations

import pytest

from tests.conftest import CORPUS, PCAPS, assert_only_known_unread, run_cli


@pytest.mark.parametrize("command", [["scan", "-f", "jsonl", "-q"], ["scan", "-f", "csv", "-q"], ["flows"]])
def test_parallel_equals_serial(command: list[str]) -> None:
    paths = [str(PCAPS)] + ([str(CORPUS)] if CORPUS.is_dir() else [])
    serial = run_cli(*command, "-j", "1", *paths)
    parallel = run_cli(*command, "-j", "2", *paths)
    assert_only_known_unread(serial.rc, serial.err, CORPUS.is_dir())
    assert_only_known_unread(parallel.rc, parallel.err, CORPUS.is_dir())
    assert serial.err == parallel.err
    assert serial.out == parallel.out
    assert len(serial.out.splitlines()) > 30
