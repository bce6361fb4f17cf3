"""A lotus daemon's JSON-RPC API and a lotus-miner's mining loop calling it, over real
sockets (standard library only: http.server, http.client).

Not lotus: a stub that answers the methods the way lotus's go-jsonrpc server does
(``POST /rpc/v0``, JSON-RPC 2.0, ``params`` always a list, ``Authorization: Bearer`` a
JWT), and a client that calls what lotus-miner's mining loop calls each epoch
(filecoin-project/lotus miner/miner.go: ``ChainHead``, ``MinerGetBaseInfo``, then for a
won round ``MinerCreateBlock`` and ``SyncSubmitBlock``), plus the wallet and state calls
any client makes (``WalletBalance``, ``StateMinerInfo``). The method names are lotus's
(api/api_full.go; detector/dissect/filecoin.py cites them).

    python lotus_rpc.py server HOST PORT
    python lotus_rpc.py client URL SECONDS EPOCH_SECONDS

The client ends by itself after SECONDS; the server answers until it is stopped.
"""

from __future__ import annotations

import http.client
import json
import random
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

TOKEN = (  # a made-up JWT of lotus's shape: {"Allow": ["read", "write"]}
    "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJBbGxvdyI6WyJyZWFkIiwid3JpdGUiXX0.c3R1Yi1sb3R1cw"
)
MINER = "f01000"
CID = "bafy2bzacebhbyqqdw3zqgkkscsiutbjrdnd3wq4ovn5h3tzjpk7dpcjlwvbkq"


def _result(method: str, params: list, height: int) -> object:
    name = method.removeprefix("Filecoin.")
    tipset = [{"/": CID}]
    if name == "ChainHead":
        return {"Cids": tipset, "Blocks": [{"Miner": "f01234", "Height": height}], "Height": height}
    if name == "MinerGetBaseInfo":
        return {"MinerPower": "34359738368", "NetworkPower": "23487234987234987",
                "Sectors": [], "WorkerKey": "f3stub", "SectorSize": 34359738368,
                "PrevBeaconEntry": {"Round": 3400000, "Data": "c3R1Yg=="},
                "BeaconEntries": [], "EligibleForMining": True}  # fmt: skip
    if name == "MinerCreateBlock":
        return {"Header": {"Miner": MINER, "Height": height + 1}, "BlsMessages": [],
                "SecpkMessages": []}  # fmt: skip
    if name == "SyncSubmitBlock":
        return None
    if name == "WalletBalance":
        return "1234000000000000000"
    if name == "StateMinerInfo":
        return {"Owner": "f0100", "Worker": "f0101", "SectorSize": 34359738368}
    raise KeyError(name)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as go's client and server do
    height = 3400000

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path not in ("/rpc/v0", "/rpc/v1") or self.headers.get("Authorization") != TOKEN:
            self._send(401, b"unauthorized\n")
            return
        request = json.loads(body)
        Handler.height += 1
        try:
            result = _result(request["method"], request["params"], Handler.height)
            answer = {"jsonrpc": "2.0", "result": result, "id": request["id"]}
        except KeyError:
            answer = {"jsonrpc": "2.0", "id": request["id"],
                      "error": {"code": -32601, "message": "method not found"}}  # fmt: skip
        self._send(200, json.dumps(answer, separators=(",", ":")).encode() + b"\n")

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        print(fmt % args, flush=True)


def client(url: str, seconds: float, epoch: float) -> None:
    """lotus-miner's mining loop: every epoch the head and the election base; a won
    round (one in three here) creates and submits a block."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    end = time.monotonic() + seconds
    n = 0

    def call(method: str, params: list) -> object:
        nonlocal n
        n += 1
        body = json.dumps({"jsonrpc": "2.0", "method": f"Filecoin.{method}", "params": params,
                           "id": n}, separators=(",", ":")).encode()  # fmt: skip
        conn.request("POST", parts.path, body, {"Authorization": TOKEN,
                                                "Content-Type": "application/json"})  # fmt: skip
        reply = json.loads(conn.getresponse().read())
        print(f"{method} -> {'ok' if 'result' in reply else reply.get('error')}", flush=True)
        return reply.get("result")

    call("WalletBalance", ["f3stub"])
    call("StateMinerInfo", [MINER, []])
    while time.monotonic() < end:
        head = call("ChainHead", [])
        base = call("MinerGetBaseInfo", [MINER, head["Height"] + 1, head["Cids"]])
        if base and base["EligibleForMining"] and random.random() < 1 / 3:
            block = call("MinerCreateBlock", [{"Miner": MINER, "Parents": head["Cids"],
                                               "Epoch": head["Height"] + 1}])  # fmt: skip
            call("SyncSubmitBlock", [block])
        time.sleep(min(epoch * random.uniform(0.8, 1.2), max(0.0, end - time.monotonic())))
    conn.close()


def main() -> None:
    mode = sys.argv[1]
    if mode == "server":
        server = ThreadingHTTPServer((sys.argv[2], int(sys.argv[3])), Handler)
        print(f"lotus-like API on {sys.argv[2]}:{sys.argv[3]}", flush=True)
        server.serve_forever()
    elif mode == "client":
        client(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
