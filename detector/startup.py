"""The command line's start-up: the cycle collector is held off while its imports run.

Importing numpy, typer, PyYAML and the pipeline makes a few hundred thousand objects
(modules, classes, functions, the dataclasses' generated methods) that live as long as the
process, and at the default threshold (700 allocations) the collector walks them again and
again while they are being made: ~24 M instructions, 3 % of a small capture's scan
(callgrind; issue 19). So detector.cli imports this module before anything else, which
turns the collector off, and calls ``done`` after its own imports: what they made is frozen
out of collection (``gc.freeze``, as pipeline._calm_collector does before every scan) and
the collector is on again if it was. The modules a command runs on are imported when one
runs (cli._stages), under the same hold (``importing``).

The dataclasses made at start-up cost more than the collector did: the dataclasses module
writes each generated method (``__init__``, ``__repr__``, ``__eq__``, a frozen class's
``__setattr__``, ``__delattr__`` and ``__hash__``) as source text and compiles it with
``exec``, ~0.5 M instructions a method, ~120 M for the ~210 methods of a scan's start
(callgrind). So a class that nothing compares and nothing prints - a record of work or
configuration, not a value - is declared ``eq=False, repr=False`` (its decorator points
here): ``==`` on one is identity and ``repr`` is ``object``'s.
A value class that code or tests compare (``FlowRecord``, ``PoolMatch``, the TLS hellos...)
keeps both, so a failing comparison still shows what differs.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_WAS_ENABLED = gc.isenabled()
gc.disable()


def done() -> None:
    """The CLI's imports are in: freeze what they made, the collector back as it was."""
    gc.freeze()
    if _WAS_ENABLED:
        gc.enable()


@contextmanager
def importing() -> Iterator[None]:
    """The same for imports made later (cli._stages: what a command runs on, which the
    CLI no longer imports with itself): the collector off while they run, what they made
    frozen, the collector back as it was."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
