"""The optional compiled helpers (detector/csrc/, detector/_capture.c), or None.

None when the extension was not built (no compiler at install time) or when
``MINEWATCH_PURE=1`` asks for the pure-Python twins - which tests use to check that both
paths give identical results.
"""

from __future__ import annotations

import os
from types import ModuleType

fast: ModuleType | None = None
capture: ModuleType | None = None  # the live capture's ring walk (Linux only)
if not os.environ.get("MINEWATCH_PURE"):
    try:
        from detector import _fast as fast  # type: ignore[attr-defined, no-redef]
    except ImportError:
        fast = None
    try:
        from detector import _capture as capture  # type: ignore[attr-defined, no-redef]
    except ImportError:
        capture = None
