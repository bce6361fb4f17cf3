"""tools/pick-python names the interpreter `make` builds the venv from: one that can."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the venv needs of its interpreter: Python >= 3.11, venv/ensurepip, the C headers.
_CAN_HOST_THE_VENV = (
    "import os, sys, sysconfig, ensurepip, venv;"
    "sys.exit(0 if sys.version_info >= (3, 11) and os.path.exists("
    "os.path.join(sysconfig.get_paths()['include'], 'Python.h')) else 1)"
)


def _picked() -> str:
    script = ROOT / "tools" / "pick-python"
    return subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, check=True
    ).stdout.strip()


def _can_host_the_venv(exe: str) -> bool:
    return subprocess.run([exe, "-c", _CAN_HOST_THE_VENV], capture_output=True).returncode == 0


def test_picked_python_is_new_enough_with_venv_and_headers() -> None:
    picked = _picked()
    assert picked and "\n" not in picked
    exe = picked if "/" in picked else shutil.which(picked)
    assert exe, picked
    assert _can_host_the_venv(exe)


def test_debian_python_is_preferred_when_it_qualifies() -> None:
    debian = "/usr/bin/python3"
    if not Path(debian).exists():
        return  # nothing to prefer: the fallback is the other test's business
    assert (_picked() == debian) == _can_host_the_venv(debian)
