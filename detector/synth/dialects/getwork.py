"""Bitcoin mining over HTTP JSON-RPC: legacy ``getwork`` and ``getblocktemplate`` (BIP 22/23).

Client requests, per client:

* pooler cpuminer 2.5 (cpu-miner.c ``getwork_req``/``gbt_req``, util.c ``json_rpc_call``):
  libcurl's own headers, then cpuminer's list, then Content-Length (CURLOPT_POSTFIELDS),
  header and body in two writes; bodies with ``"params": [], "id":0`` spacing and CRLF;
* bfgminer 5.5 (util.c ``json_rpc_call``, miner.c ``prepare_rpc_req``): its header order
  (``Content-type``, ``X-Mining-Extensions`` before Content-Length, User-Agent last), its
  capabilities list and ``maxversion``, bodies ending in ``\\n`` or nothing.

Servers: Eloipool-style pools (X-Long-Polling, X-Roll-NTime, X-Stratum) and bitcoind's
libevent HTTP server (Content-Type, Date, Content-Length).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from detector.synth.chain import HexStream
from detector.synth.clock import unix
from detector.synth.http import http_date, http_req, http_resp
from detector.synth.lines import jc, js

_HASH1 = (
    "00000000000000000000000000000000000000000000000000000000000000000000008000000000"
    "000000000000000000000000000000000000000000010000"
)

#: cpuminer's getwork request body.
CPUMINER_GETWORK = b'{"method": "getwork", "params": [], "id":0}\r\n'
#: bfgminer's getwork request body.
BFGMINER_GETWORK = b'{"method": "getwork", "params": [], "id":0}\n'
#: cpuminer's getblocktemplate capabilities.
CPUMINER_CAPS = '["coinbasetxn", "coinbasevalue", "longpoll", "workid"]'
#: bfgminer's getblocktemplate capabilities.
BFGMINER_CAPS = (
    '["coinbasetxn", "workid", "longpoll", "coinbase/append", "time/increment", '
    '"version/force", "version/reduce", "submit/coinbase", "submit/truncate"]'
)


# --- client requests -----------------------------------------------------------------------


def curl_post(
    host: str, path: str, auth: str, body: bytes, agent: str, extra: Sequence[tuple[str, str]] = ()
) -> tuple[bytes, bytes]:
    """libcurl request as cpuminer builds it: curl's own headers, then the custom list,
    then Content-Length (CURLOPT_POSTFIELDS). Returned as (head, body) because curl
    writes them separately (two segments)."""
    head = http_req(
        "POST",
        path,
        [
            ("Host", host),
            ("Authorization", auth),
            ("Accept", "*/*"),
            ("Accept-Encoding", "deflate, gzip"),
            ("Content-Type", "application/json"),
            ("User-Agent", agent),
            *extra,
            ("Content-Length", str(len(body))),
        ],
    )
    return head, body


def bfgminer_post(host: str, auth: str, body: bytes) -> tuple[bytes, bytes]:
    """bfgminer's request (head, body): its header order and mining extensions."""
    head = http_req(
        "POST",
        "/",
        [
            ("Host", host),
            ("Authorization", auth),
            ("Accept", "*/*"),
            ("Accept-Encoding", "deflate, gzip"),
            ("Content-type", "application/json"),
            ("X-Mining-Extensions", "longpoll midstate rollntime submitold"),
            ("Content-Length", str(len(body))),
            ("User-Agent", "bfgminer/5.5.0"),
        ],
    )
    return head, body


def cpuminer_getwork_submit(data: str) -> bytes:
    """cpuminer's share submission: getwork with the solved data as the one param."""
    return f'{{"method": "getwork", "params": [ "{data}" ], "id":1}}\r\n'.encode()


def cpuminer_gbt(longpollid: str | None = None) -> bytes:
    lp = f', "longpollid": "{longpollid}"' if longpollid is not None else ""
    return (
        f'{{"method": "getblocktemplate", "params": [{{"capabilities": {CPUMINER_CAPS}, '
        f'"rules": ["segwit"]{lp}}}], "id":0}}\r\n'
    ).encode()


def cpuminer_submitblock(block: str) -> bytes:
    return f'{{"method": "submitblock", "params": ["{block}"], "id":1}}\r\n'.encode()


def bfgminer_gbt(longpollid: str | None = None) -> bytes:
    lp = f', "longpollid": "{longpollid}"' if longpollid is not None else ""
    return (
        f'{{"id": 0, "method": "getblocktemplate", "params": [{{"capabilities": '
        f'{BFGMINER_CAPS}{lp}, "maxversion": 4}}]}}'
    ).encode()


def bfgminer_submitblock(block: str, workid: str) -> bytes:
    return (
        f'{{"id": 0, "method": "submitblock", "params": ["{block}", {{"workid": "{workid}"}}]}}'
    ).encode()


# --- server responses ----------------------------------------------------------------------


def rpc_result(result: object, ident: int = 0, *, spaced: bool = False) -> bytes:
    """A JSON-RPC 1.0 answer (result, error, id): compact from bitcoind and C pools,
    Python-spaced from Eloipool."""
    obj = {"result": result, "error": None, "id": ident}
    return js(obj) if spaced else jc(obj)


def eloipool_response(body: bytes, ts_ns: int) -> bytes:
    """An Eloipool getwork answer: long polling at /LP, ntime rolling for 120 s."""
    return http_resp(
        "200 OK",
        [
            ("Server", "Eloipool"),
            ("Date", http_date(unix(ts_ns))),
            ("Content-Type", "application/json"),
            ("X-Long-Polling", "/LP"),
            ("X-Roll-NTime", "expire=120"),
            ("Content-Length", str(len(body))),
        ],
        body,
    )


def xstratum_response(body: bytes, ts_ns: int, stratum_url: str) -> bytes:
    """A getwork answer that points the miner to the pool's Stratum port (X-Stratum)."""
    return http_resp(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Date", http_date(unix(ts_ns))),
            ("X-Long-Polling", "/LP"),
            ("X-Roll-NTime", "Y"),
            ("X-Stratum", stratum_url),
            ("Content-Length", str(len(body))),
        ],
        body,
    )


def longpoll_response(body: bytes, ts_ns: int) -> bytes:
    """A pool's getblocktemplate answer advertising long polling."""
    return http_resp(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("X-Long-Polling", "/LP"),
            ("Date", http_date(unix(ts_ns))),
            ("Content-Length", str(len(body))),
        ],
        body,
    )


def bitcoind_response(body: bytes, ts_ns: int) -> bytes:
    """bitcoind's JSON-RPC answer (libevent: Content-Type, Date, Content-Length)."""
    return http_resp(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("Date", http_date(unix(ts_ns))),
            ("Content-Length", str(len(body))),
        ],
        body,
    )


# --- work ----------------------------------------------------------------------------------


def work_unit(h: HexStream, ts_ns: int, prev: bytes) -> dict[str, object]:
    """Legacy getwork work unit: 128-byte data (header + SHA-256 padding) in BE words."""
    header = (
        bytes.fromhex("20000000")
        + prev
        + h.bytes(32)
        + struct.pack(">I", unix(ts_ns))
        + bytes.fromhex("1701f303")
        + b"\x00" * 4
    )
    data = header.hex() + "00000080" + "00" * 40 + "80020000"  # 80 + 48 = 128 bytes
    return {
        "midstate": h.hex(32),
        "data": data,
        "hash1": _HASH1,
        "target": "ffffffffffffffffffffffffffffffffffffffffffffffffffffffff00000000",
    }


def block_template(
    h: HexStream, ts_ns: int, height: int, prev: str, ntx: int = 3
) -> dict[str, object]:
    """bitcoind getblocktemplate result (BIP 22/23 + segwit rules), a few transactions."""
    txs = []
    for _ in range(ntx):
        data = "02000000000101" + h.hex(86) + "0247304402" + h.hex(70)
        txs.append(
            {
                "data": data,
                "txid": h.hex(32),
                "hash": h.hex(32),
                "depends": [],
                "fee": h.uint(800, 9000),
                "sigops": 1,
                "weight": len(data) * 2 - 200,
            }
        )
    return {
        "capabilities": ["proposal"],
        "version": 536870912,
        "rules": ["csv", "!segwit", "taproot"],
        "vbavailable": {},
        "vbrequired": 0,
        "previousblockhash": prev,
        "transactions": txs,
        "coinbaseaux": {},
        "coinbasevalue": 312_500_000 + h.uint(100_000, 5_000_000),
        "longpollid": prev + str(h.uint(1000, 90000)),
        "target": "0000000000000000000" + "2f3010000000000000000000000000000000000000000000",
        "mintime": unix(ts_ns) - 3000,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "sigoplimit": 80000,
        "sizelimit": 4000000,
        "weightlimit": 4000000,
        "curtime": unix(ts_ns),
        "bits": "1701f303",
        "height": height,
        "default_witness_commitment": "6a24aa21a9ed" + h.hex(32),
    }
