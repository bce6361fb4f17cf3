"""detector/startup.py: the cycle collector is off only while the CLI's imports run."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def _after_cli_import(before: str) -> str:
    code = f"import gc\n{before}\nimport detector.cli\nprint(gc.isenabled(), gc.get_freeze_count() > 0)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_collector_is_on_again_after_the_imports_and_what_they_made_is_frozen() -> None:
    assert _after_cli_import("") == "True True"


def test_a_collector_turned_off_before_stays_off() -> None:
    assert _after_cli_import("gc.disable()") == "False True"
