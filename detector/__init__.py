"""minewatch: find cryptocurrency miners from the wire.

The package is a one-way pipeline (see README, "Architecture"):
source -> decode -> flows -> dissect -> facts -> score -> suspects -> sinks.
"""

import os

# Nothing here does linear algebra, yet numpy's OpenBLAS starts a worker thread per core
# when numpy is imported (~7-25 ms of start-up measured unpinned on this 2-core VM, and an
# idle thread for the whole run). One, unless the user asked otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
