"""Grin stratum (Cuckatoo): JSON-RPC 2.0 lines with string ids where every response repeats
the request's ``method``.

* grin's stratumserver.rs and grin-miner: login ``{login, pass, agent}``, getjobtemplate
  answered with a job ``{height, job_id, difficulty, pre_pow}``, the same jobs pushed with
  id "Stratum", submit ``{edge_bits, height, job_id, nonce, pow: [42 numbers]}``,
  keepalive;
* NiceHash's Grin v1.0 pushes jobs with a numeric id and a ``cleanjob`` flag.
"""

from __future__ import annotations

from detector.synth.lines import jc


def request(ident: str, method: str, params: object) -> bytes:
    return jc({"id": ident, "jsonrpc": "2.0", "method": method, "params": params})


def login(ident: str, user: str, password: str, agent: str) -> bytes:
    return request(ident, "login", {"login": user, "pass": password, "agent": agent})


def response(ident: str, method: str, result: object) -> bytes:
    """The server's answer: it repeats the request's method."""
    return jc({"id": ident, "jsonrpc": "2.0", "method": method, "result": result, "error": None})


def job(height: int, job_id: int, difficulty: int, pre_pow: str) -> dict[str, object]:
    return {"height": height, "job_id": job_id, "difficulty": difficulty, "pre_pow": pre_pow}


def push(job_params: dict[str, object], ident: str | int = "Stratum") -> bytes:
    """A job push: id "Stratum" from grin's server, a number from NiceHash."""
    return jc({"id": ident, "jsonrpc": "2.0", "method": "job", "params": job_params})


def submit(
    ident: str, edge_bits: int, height: int, job_id: int, nonce: int, proof: list[int]
) -> bytes:
    return request(
        ident,
        "submit",
        {"edge_bits": edge_bits, "height": height, "job_id": job_id, "nonce": nonce, "pow": proof},
    )


def nicehash_job(
    difficulty: int, height: int, job_id: int, pre_pow: str, cleanjob: bool
) -> dict[str, object]:
    """NiceHash Grin v1.0's job members (difficulty first, a ``cleanjob`` flag)."""
    return {
        "difficulty": difficulty,
        "height": height,
        "job_id": job_id,
        "pre_pow": pre_pow,
        "cleanjob": cleanjob,
    }
