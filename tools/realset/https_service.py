"""Benign HTTPS for the validation set: a server and a keep-alive polling client.

server: HTTP/1.1 over TLS (Python's http.server and ssl) with a JSON status API
  (``/api/v1/status``, ``/api/v1/metrics``; answers of varying size) and, with --files,
  a few large random files under ``/files/NAME`` for curl to download.
poll:   python-requests with one Session (one keep-alive TLS connection) polling the API
  at jittered intervals, as dashboards and agents do.

    python https_service.py server PORT CERT KEY [--files DIR]
    python https_service.py poll URL CA_FILE MIN_S MAX_S
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    files: Path | None = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/files/") and self.files:
            path = self.files / Path(self.path).name
            if path.is_file():
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(path.stat().st_size))
                self.end_headers()
                with path.open("rb") as fh:
                    while chunk := fh.read(1 << 16):
                        self.wfile.write(chunk)
                return
        if self.path.startswith("/api/v1/"):
            items = [
                {
                    "id": i,
                    "name": f"svc-{i}",
                    "state": random.choice(["ok", "ok", "warn"]),
                    "latency_ms": round(random.uniform(1, 90), 1),
                }
                for i in range(random.randint(2, 30))
            ]
            body = json.dumps({"ts": time.time(), "path": self.path, "items": items}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_error(404)

    def log_message(self, fmt: str, *args) -> None:
        print(self.address_string(), fmt % args, flush=True)


def serve(args: argparse.Namespace) -> None:
    Handler.files = Path(args.files) if args.files else None
    httpd = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
    httpd.serve_forever()


def poll(args: argparse.Namespace) -> None:
    import requests  # the tools venv has it; the server side needs only the stdlib

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    session = requests.Session()
    session.headers["Authorization"] = "Bearer 3f1c0ffee0ddba11"
    paths = ["status", "status", "metrics"]
    while not stop.is_set():
        r = session.get(f"{args.url}/api/v1/{random.choice(paths)}", verify=args.ca, timeout=30)
        print(time.strftime("%H:%M:%S"), r.status_code, len(r.content), flush=True)
        stop.wait(random.uniform(args.min, args.max))
    session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("port", type=int)
    s.add_argument("cert")
    s.add_argument("key")
    s.add_argument("--files")
    p = sub.add_parser("poll")
    p.add_argument("url")
    p.add_argument("ca")
    p.add_argument("min", type=float)
    p.add_argument("max", type=float)
    args = parser.parse_args()
    serve(args) if args.mode == "server" else poll(args)


if __name__ == "__main__":
    main()
