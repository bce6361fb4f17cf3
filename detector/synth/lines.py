"""How the programs on the wire write one JSON message: the spacing is part of the shape.

A pool written in C or Go and a rapidjson client write compact JSON; Python writes ``", "``
and ``": "``; many C clients fill ``sprintf`` templates by hand, with spacing of their own.
Newline-delimited protocols end every message with ``\\n``. A detector that fingerprints
clients sees these differences, so every writer picks the one its program uses.
"""

from __future__ import annotations

import json


def jc(obj: object) -> bytes:
    """Compact JSON line, the way C/Go/Node pool servers and rapidjson clients write it."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def js(obj: object) -> bytes:
    """JSON line with Python's default ``", "`` / ``": "`` spacing."""
    return json.dumps(obj).encode() + b"\n"


def ln(text: str) -> bytes:
    """A hand-formatted line (C ``sprintf`` templates), newline-terminated."""
    return text.encode() + b"\n"


def jv(value: object) -> str:
    """One JSON value for a ``sprintf``-style template: ``1``, ``"auth"``, ``null``."""
    return json.dumps(value)


def members(order: str, **values: object) -> dict[str, object]:
    """A JSON object with its members in ``order`` ("id,result,error"): key order is how
    pool implementations differ, so writers name the order their pool uses."""
    return {key: values[key] for key in order.split(",")}
