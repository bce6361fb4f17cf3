"""Benign peers for the live tests: an HTTP JSON-RPC service and its polling client.

A status API that speaks JSON-RPC over HTTP on a Stratum-like port, polled every second
with a method, an id and params: what a sensor must never mistake for a miner.

    python tests/live_peers.py server PORT
    python tests/live_peers.py client HOST PORT
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        request = json.loads(body)
        answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": {"status": "ok"}}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        pass


def main() -> None:
    if sys.argv[1] == "server":
        ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), Handler).serve_forever()
    host, port = sys.argv[2], int(sys.argv[3])
    for n in range(1, 1 << 30):
        request = {"jsonrpc": "2.0", "id": n, "method": "getStatus", "params": {"verbose": 1}}
        req = urllib.request.Request(
            f"http://{host}:{port}/rpc", data=json.dumps(request).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=10) as answer:  # noqa: S310 - a test peer
            answer.read()
        time.sleep(1.0)


if __name__ == "__main__":
    main()
