"""Give the heap's free pages back to the system once a window of the capture is over.

Why: a scan's flows, records and verdicts are made and freed window after window, amid
the objects that live on (open flows, the current windows' suspects, memos). glibc can
only shrink its heap from the top, so the pages freed in the middle stay resident, and
peak RSS creeps up with the length of a capture rather than with what it holds: on the
bench's real traffic with ever-new hosts (bench-scale), 10 M packets peaked at 98,576 kB
against 89,820 kB at 1 M. ``malloc_trim(0)`` returns every whole free page inside the heap
too (madvise), which glibc's automatic trim never does: with it, once per window the
scan's clock enters (session.Settler), 95,800 against 88,052 kB (``/usr/bin/time -f %M``
of ``scan FILE -f jsonl -o /dev/null -j 1`` pinned to core 0, medians of 3 alternated
pairs). Trimming only after a settle that packed something did not help (11 of the 222
windows pack; ~98,200 kB): the space is the windows' own churn, not the packing's.
A page the heap reuses is faulted in again, and that is the cost: on the bench's 1 M
packets of real traffic (22 windows) 19.5 k -> 27.2 k minor faults (``perf stat``, 8
alternated pairs) and 52 -> 68 ms of system time (``/usr/bin/time``, means of 6 alternated
pairs; user time within the VM's noise), ~1.3 % of the scan; at 10 M, 70 k -> 168 k
faults. Stop 37 measured ~6 % of wall for the same trim and left it out; these alternated
runs, which separate system from user time, do not show that. Trimming less often loses
the gain: every 8th window 97,080 kB, only when the resident size reached a new high 98,664
kB (one run each) - the peak falls mid-window, and what lowers it is that most of the time
the freed pages are not resident.

Only where glibc's ``malloc_trim`` exists (Linux with glibc); elsewhere a no-op. ctypes is
imported on the first call: a capture within one window never pays for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None without glibc; looked up once."""
    import ctypes  # here: a scan that never gets past its first window need not

    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None


def give_back() -> None:
    """Return the heap's free pages to the system (glibc); nothing elsewhere."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
