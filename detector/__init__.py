"""minewatch: find cryptocurrency miners from the wire.

The package is a one-way pipeline (see README, "Architecture"):
source -> decode -> flows -> dissect -> facts -> score -> suspects -> sinks.
"""

import os

# Nothing here does linear algebra, yet numpy's OpenBLAS starts a worker thread per core
# when numpy is imported (~7-25 ms of start-up measured unpinned on this 2-core VM, and an
# idle thread for the whole run). One, unless the user asked otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# CPython 3.11 maps and unmaps a 16 KB chunk of its frame stack each time the call depth
# crosses a chunk's edge, ~1,200 times while the CLI's modules import (~11 ms of a scan's
# start-up): the compiled helpers keep a few freed chunks for reuse (csrc/arena.c). First
# thing, so that those imports find it in place.
from detector.compiled import fast as _fast  # noqa: E402 - after the environment above

if _fast is not None:
    _fast.keep_stack_chunks()

__version__ = "0.1.0"
