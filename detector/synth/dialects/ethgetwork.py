"""Ethereum getwork over HTTP: a miner polling a node's JSON-RPC port (8545) directly.

* ethminer 0.19 ``-P http://`` (EthGetworkClient.cpp): one TCP connection per request,
  ``POST / HTTP/1.0``, Host without port, ``Connection: close``, body without newline
  written by jsoncpp (sorted keys): eth_getWork id 1, eth_submitHashrate id 9,
  eth_submitWork id 40;
* PhoenixMiner 6.2 (closed source, modelled): one keep-alive HTTP/1.1 connection, the same
  compact JSON with a ``"worker"`` member that it sends to an eth-proxy pool
  (:mod:`.ethproxy`), without the newline.

The node (core-geth) answers HTTP with ``Vary: Origin`` and compact JSON-RPC.
"""

from __future__ import annotations

from detector.synth.clock import unix
from detector.synth.dialects.ethproxy import phoenix_getwork, phoenix_hashrate, phoenix_submit
from detector.synth.http import http_date, http_req, http_resp
from detector.synth.lines import jc

ETHMINER_GETWORK = b'{"id":1,"jsonrpc":"2.0","method":"eth_getWork","params":[]}'


def ethminer_post(host: str, body: bytes) -> bytes:
    """ethminer's request: HTTP/1.0, Host without port, Connection: close."""
    return http_req(
        "POST",
        "/",
        [
            ("Host", host),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ],
        body,
        version="HTTP/1.0",
    )


def ethminer_hashrate(rate: str, rid: str) -> bytes:
    return (
        f'{{"id":9,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["{rate}","{rid}"]}}'
    ).encode()


def ethminer_submit(nonce: str, header: str, mix: str) -> bytes:
    return (
        f'{{"id":40,"jsonrpc":"2.0","method":"eth_submitWork","params":'
        f'["{nonce}","{header}","{mix}"]}}'
    ).encode()


def phoenix_post(host: str, body: bytes) -> bytes:
    """PhoenixMiner's keep-alive request (Host with port)."""
    return http_req(
        "POST",
        "/",
        [
            ("Host", host),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "keep-alive"),
        ],
        body,
    )


def phoenix_getwork_body(worker: str) -> bytes:
    """PhoenixMiner's eth_getWork over HTTP: its eth-proxy line, id 3, no newline."""
    return phoenix_getwork(worker, ident=3)[:-1]


def phoenix_hashrate_body(rate: str, rid: str, worker: str) -> bytes:
    return phoenix_hashrate(rate, rid, worker)[:-1]


def phoenix_submit_body(nonce: str, header: str, mix: str, worker: str) -> bytes:
    return phoenix_submit(nonce, header, mix, worker)[:-1]


def node_response(ident: object, result: object, ts_ns: int, version: str = "HTTP/1.1") -> bytes:
    """core-geth's answer: compact JSON-RPC (jsonrpc, id, result) behind Vary: Origin."""
    out = jc({"jsonrpc": "2.0", "id": ident, "result": result})
    return http_resp(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Vary", "Origin"),
            ("Date", http_date(unix(ts_ns))),
            ("Content-Length", str(len(out))),
        ],
        out,
        version=version,
    )
