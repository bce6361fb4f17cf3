"""Beam stratum (BeamHash): flat JSON-RPC messages without ``params``.

beam's pow/stratum.cpp serialises with nlohmann::json, whose objects keep their keys
sorted: login ``{api_key}``, result ``{code, description, [forkheight, nonceprefix]}``, job
``{difficulty, height, id, input, [nonceprefix]}`` (NiceHash's Beam v1.0 sends a nonce
prefix with every job), solution ``{id, nonce, output}``.
"""

from __future__ import annotations

from detector.synth.lines import jc


def message(method: str, ident: str, **members: object) -> bytes:
    """One message, its members in nlohmann's sorted order."""
    return jc(dict(sorted({"id": ident, "jsonrpc": "2.0", "method": method, **members}.items())))


def login(api_key: str) -> bytes:
    return message("login", "login", api_key=api_key)


def result(ident: str, code: int, description: str, **members: object) -> bytes:
    return message("result", ident, code=code, description=description, **members)


def job(
    ident: str, difficulty: int, height: int, input_hash: str, nonceprefix: str | None = None
) -> bytes:
    extra = {"nonceprefix": nonceprefix} if nonceprefix is not None else {}
    return message("job", ident, difficulty=difficulty, height=height, input=input_hash, **extra)


def solution(ident: str, nonce: str, output: str) -> bytes:
    return message("solution", ident, nonce=nonce, output=output)
