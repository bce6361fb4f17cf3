"""Browser mining: a web page's JavaScript/WebAssembly miner on a WebSocket to its service.

The CoinHive protocol, which its clones (AuthedMine, CoinIMP, WebMinePool, Crypto-Loot, the
self-hosted proxies) kept: JSON text frames ``{"type": ..., "params": {...}}`` - the page
sends ``auth`` (site key, anonymous user) and ``submit`` (job id, nonce, result); the
service answers ``authed``, pushes ``job`` (hashing blob, job id, target) and acknowledges
each share with ``hash_accepted`` (running count of hashes). Shapes as
cazala/coin-hive-stratum (src/Miner.ts, src/types.ts) sends and reads them; the page's
frames are masked (RFC 6455 §5.3), the service's are not.

The page is a browser tab: a few tens of hashes per second per thread, and the service's
share target is a fixed low difficulty (``ffffff00``: 256 hashes), so submits come every
few seconds, each answered - a faster and more regular upload rhythm than a pool's.
"""

from __future__ import annotations

import json
from random import Random

from detector.dialects import BROWSER_WSS_TLS
from detector.synth.benign.websocket import frame
from detector.synth.chain import uuid_text
from detector.synth.dialects.base import Session


def _text(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()  # JSON.stringify


def upgrade_request(host: str, path: str, origin: str, key: str, agent: str) -> bytes:
    """The page's WebSocket upgrade (a browser's header order)."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nPragma: no-cache\r\n"
        f"Cache-Control: no-cache\r\nUser-Agent: {agent}\r\nUpgrade: websocket\r\n"
        f"Origin: {origin}\r\nSec-WebSocket-Version: 13\r\n"
        "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    ).encode()


def upgrade_response(accept: str, server: str) -> bytes:
    return (
        f"HTTP/1.1 101 Switching Protocols\r\nServer: {server}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    ).encode()


BROWSERS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
)


class BrowserMinerSession(Session):
    """One page's miner socket: auth, jobs, submits, acknowledgements."""

    dialect = BROWSER_WSS_TLS

    def __init__(
        self, rng: Random, site_key: str, host: str, path: str, origin: str, diff: int = 256
    ) -> None:
        super().__init__(rng, site_key)
        self.host, self.path, self.origin = host, path, origin
        self.hashes = 0
        self.job_id = ""
        self.diff = diff
        self.target = (0xFFFFFFFF // diff).to_bytes(4, "little").hex()  # 256 -> "ffffff00"

    def _mask(self) -> bytes:
        return self.rng.randbytes(4)

    def _job(self) -> bytes:
        self.job_id = str(self.rng.randint(10**14, 10**15 - 1))
        params = {
            "blob": self.hex(76),
            "job_id": self.job_id,
            "target": self.target,
            "id": uuid_text(self.hex(16)),
        }
        return frame(_text({"type": "job", "params": params}), None)

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        rng = self.rng
        key = rng.randbytes(16).hex()[:22] + "=="
        auth = {
            "type": "auth",
            "params": {"site_key": self.wallet, "type": "anonymous", "user": None, "goal": 0},
        }
        return [
            ("c", upgrade_request(self.host, self.path, self.origin, key, rng.choice(BROWSERS))),
            (
                "s",
                upgrade_response(
                    rng.randbytes(20).hex()[:27] + "=", rng.choice(("nginx", "cloudflare"))
                ),
            ),
            ("c", frame(_text(auth), self._mask())),
            (
                "s",
                frame(_text({"type": "authed", "params": {"token": "", "hashes": 0}}), None)
                + self._job(),
            ),
        ]

    def job(self, ts: int) -> bytes:
        return self._job()

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        params = {
            "job_id": self.job_id or str(self.rng.randint(10**14, 10**15 - 1)),
            "nonce": self.hex(4),
            "result": self.hex(32),
        }
        self.hashes += self.diff
        up = frame(_text({"type": "submit", "params": params}), self._mask())
        down = frame(_text({"type": "hash_accepted", "params": {"hashes": self.hashes}}), None)
        return up, down
