"""The compiled helpers keep a few of CPython's freed 16 KB frame-stack chunks for reuse
(detector/csrc/arena.c, installed when the package is imported): a call depth that goes
back and forth across a chunk's edge must stop mapping and unmapping fresh zeroed pages -
seen here as the process's minor page faults - and nothing else may change."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from detector.compiled import fast

pytestmark = pytest.mark.skipif(fast is None, reason="the compiled helpers are not built")

# Recursion 300 frames deep crosses at least one 16 KB chunk edge on the way down and
# back; 2,000 round trips map and unmap that chunk 2,000 times without the kept blocks
# (each time faulting its four fresh pages).
_PROBE = """
import resource, sys
def deep(n, a=0, b=0, c=0, d=0, e=0, f=0, g=0, h=0):
    return 0 if n == 0 else deep(n - 1, a, b, c, d, e, f, g, h) + 1
if sys.argv[1] == "package":
    import detector
deep(300)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(2000):
    assert deep(300) == 300
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MINEWATCH_PURE"}
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], env=env, capture_output=True,
                          text=True, check=True, timeout=60)  # fmt: skip
    return int(done.stdout)


def test_importing_the_package_keeps_freed_stack_chunks() -> None:
    without, kept = _faults("plain"), _faults("package")
    assert without >= 4000, without  # the interpreter alone: a chunk mapped each trip
    assert kept < without // 10, (kept, without)


def test_installing_again_changes_nothing() -> None:
    fast.keep_stack_chunks()
    fast.keep_stack_chunks()
    assert fast.keep_stack_chunks() is None
