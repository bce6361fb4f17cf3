"""In-page mining over a WebSocket: the CoinHive vocabulary, as the page's miner and a
self-hosted proxy write it (dialect ``browser-ws``).

Message shapes, each a WebSocket text message of compact JSON (``JSON.stringify``):

* the page (CoinHive's miner, and every clone served by these proxies): ``auth``
  {site_key, type, user, goal} once, ``submit`` {job_id, nonce, result} per share -
  as cazala/coin-hive-stratum ``src/Miner.ts`` ``handleMessage`` reads them and
  deepwn/deepMiner ``server.js`` ``ws2pool`` forwards them;
* the proxy (coin-hive-stratum 1.4 ``src/Miner.ts``): ``authed`` {token: "", hashes: 0}
  after the pool's login result, ``job`` with the pool's job object passed through as it
  came (blob, job_id, target, id, and what else the pool sent), ``hash_accepted``
  {hashes: n} with the running count of accepted shares.

Jobs and shares come from :class:`~detector.synth.dialects.cryptonote.MoneroJobs`: the
proxy relays a CryptoNote pool's jobs unchanged.
"""

from __future__ import annotations

from detector.synth.lines import jc


def _text(obj: object) -> bytes:
    """One message's text: compact JSON, no newline (a WebSocket message is framed)."""
    return jc(obj)[:-1]


def auth(site_key: str, user: str | None = None, kind: str = "anonymous", goal: int = 0) -> bytes:
    return _text({"type": "auth", "params": {"site_key": site_key, "type": kind, "user": user,
                                             "goal": goal}})  # fmt: skip


def submit(job_id: str, nonce: str, result: str) -> bytes:
    return _text({"type": "submit", "params": {"job_id": job_id, "nonce": nonce, "result": result}})


def authed(hashes: int = 0, token: str = "") -> bytes:
    return _text({"type": "authed", "params": {"token": token, "hashes": hashes}})


def job(params: dict[str, object]) -> bytes:
    return _text({"type": "job", "params": params})


def hash_accepted(hashes: int) -> bytes:
    return _text({"type": "hash_accepted", "params": {"hashes": hashes}})
