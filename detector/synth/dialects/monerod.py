"""Monero daemon HTTP: XMRig solo mining against monerod (``--daemon``), with or without
monerod's ZMQ pub socket.

* XMRig 6.x (DaemonClient.cpp, HttpClient.cpp): ``POST /json_rpc`` getblocktemplate
  ``{wallet_address, extra_nonce}``, ``GET /getheight`` polls, submitblock; every request on
  its own connection with ``Connection: close`` and headers in ``std::map`` (alphabetical)
  order; with ``--daemon-zmq-port`` a ZMTP 3 SUB session to json-minimal-chain_main replaces
  the polls;
* monerod (epee): ``200 Ok``, ``Server: Epee-based``, JSON indented by two spaces with one
  member per line and no trailing newline.
"""

from __future__ import annotations

import json

from detector.synth.clock import unix
from detector.synth.dialects.cryptonote import XMRIG_AGENT
from detector.synth.http import http_date, http_req, http_resp
from detector.synth.lines import jc

#: ZMTP 3 greeting (64 bytes) and READY/SUBSCRIBE as XMRig's DaemonClient.cpp writes them.
ZMQ_GREETING = bytes([0xFF] + [0] * 8 + [0x7F, 3, 0]) + b"NULL".ljust(20, b"\x00") + bytes(32)
ZMQ_READY_SUB = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03SUB"
ZMQ_READY_PUB = b"\x04\x19\x05READY\x0bSocket-Type\x00\x00\x00\x03PUB"
ZMQ_SUBSCRIBE = b"\x00\x18\x01json-minimal-chain_main"


def epee_json(obj: dict[str, object], indent: int = 0) -> str:
    """monerod's epee serializer: two-space indent, one member per line, no trailing \\n."""
    pad = "  " * (indent + 1)
    items = []
    for k, v in obj.items():
        if isinstance(v, dict):
            items.append(f'{pad}"{k}": {epee_json(v, indent + 1)}')
        else:
            items.append(f'{pad}"{k}": {json.dumps(v)}')
    return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"


# --- XMRig's requests ----------------------------------------------------------------------


def xmrig_post(host: str, body: bytes) -> bytes:
    return http_req(
        "POST",
        "/json_rpc",
        [
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "application/json"),
            ("Host", host),
            ("User-Agent", XMRIG_AGENT),
        ],
        body,
    )


def xmrig_get(host: str, path: str) -> bytes:
    return http_req(
        "GET", path, [("Connection", "close"), ("Host", host), ("User-Agent", XMRIG_AGENT)]
    )


def getblocktemplate(seq: int, wallet: str, extra_nonce: str) -> bytes:
    return jc(
        {
            "id": seq,
            "jsonrpc": "2.0",
            "method": "getblocktemplate",
            "params": {"wallet_address": wallet, "extra_nonce": extra_nonce},
        }
    )[:-1]


def submitblock(seq: int, blob: str) -> bytes:
    return jc({"id": seq, "jsonrpc": "2.0", "method": "submitblock", "params": [blob]})[:-1]


# --- monerod's answers ---------------------------------------------------------------------


def response(body: str, ts_ns: int) -> bytes:
    out = body.encode()
    return http_resp(
        "200 Ok",
        [
            ("Server", "Epee-based"),
            ("Content-Length", str(len(out))),
            ("Content-Type", "application/json"),
            ("Last-Modified", http_date(unix(ts_ns))),
            ("Accept-Ranges", "bytes"),
        ],
        out,
    )


def template_result(
    seq: int, hashing_blob: str, template_blob: str, reward: int, height: int, prev: str, seed: str
) -> str:
    return epee_json(
        {
            "id": seq,
            "jsonrpc": "2.0",
            "result": {
                "blockhashing_blob": hashing_blob,
                "blocktemplate_blob": template_blob,
                "difficulty": 417_215_540_322,
                "difficulty_top64": 0,
                "expected_reward": reward,
                "height": height,
                "next_seed_hash": "",
                "prev_hash": prev,
                "reserved_offset": 130,
                "seed_hash": seed,
                "seed_height": 3_590_144,
                "status": "OK",
                "untrusted": False,
                "wide_difficulty": "0x6123e4c362",
            },
        }
    )


def getheight_result(height: int, top: str) -> str:
    return epee_json({"hash": top, "height": height, "status": "OK", "untrusted": False})


def submit_result(seq: int, block_id: str) -> str:
    return epee_json(
        {
            "id": seq,
            "jsonrpc": "2.0",
            "result": {"block_id": block_id, "status": "OK", "untrusted": False},
        }
    )


def zmq_chain_main(first_height: int, first_prev_id: str, ids: list[str]) -> bytes:
    """A json-minimal-chain_main notification as one short ZMTP message frame."""
    note = (
        b"json-minimal-chain_main:"
        + jc({"first_height": first_height, "first_prev_id": first_prev_id, "ids": ids})[:-1]
    )
    return bytes([0, len(note)]) + note
