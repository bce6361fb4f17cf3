"""Give the heap's free pages back to the system once a window of the capture is over.

Why: a scan's flows, records and verdicts are made and freed window after window, amid
the objects that live on (open flows, the current windows' suspects, memos). glibc can
only shrink its heap from the top, so the pages freed in the middle stay resident, and
peak RSS creeps up with the length of a capture rather than with what it holds: on the
bench's real traffic with ever-new hosts (bench-scale), 10 M packets peaked at 98.2 MB
against 88.6 MB at 1 M. ``malloc_trim(0)`` returns every whole free page inside the heap
too (madvise), which glibc's automatic trim never does: with it, once per window the
scan's clock enters (session.Settler), 95.6 MB against 88.2 MB (``/usr/bin/time -f %M``,
two runs each). Trimming only after a settle that packed something did not help (11 of
the 222 windows pack; 98.2 MB): the space is the windows' own churn, not the packing's.
A page the heap reuses is faulted in again, and that is the cost: on the bench's 1 M
packets of real traffic (22 windows) 19.5 k -> 27.2 k minor faults and 52 -> 68 ms of system
time (mean of 6 alternated runs each, `/usr/bin/time`, user time within the VM's noise), ~1.3
% of the scan; at 10 M, 70 k -> 168 k faults. Stop 37 measured ~6 % of wall for the same
trim and left it out; these alternated runs, which separate system from user time, do not
show that. Trimming less often loses the gain: every 8th window 97.1 MB, only when the
resident size reached a new high 98.7 MB - the peak falls in the middle of a window, and
what lowers it is that most of the time the freed pages are not resident.

Only where glibc's ``malloc_trim`` exists (Linux with glibc); elsewhere a no-op. ctypes is
imported on the first call: a capture within one window never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_looked = False


def give_back() -> None:
    """Return the heap's free pages to the system (glibc); nothing elsewhere."""
    global _trim, _looked
    if not _looked:
        _looked = True
        import ctypes  # here: a scan that never gets past its first window need not

        try:
            _trim = ctypes.CDLL(None).malloc_trim
        except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
            _trim = None
    if _trim is not None:
        _trim(0)
