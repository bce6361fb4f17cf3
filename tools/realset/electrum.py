"""Benign: the Electrum wallet protocol over TLS with aiorpcx (PyPI) - the classic hard
negative for a miner detector: newline-delimited JSON-RPC, a long-lived session, server
pushes (``blockchain.headers.subscribe`` on every new block, here every 30-120 s;
``blockchain.scripthash.subscribe`` when a watched address changes) and client pings.

    python electrum.py server PORT CERT KEY
    python electrum.py client HOST PORT CA_FILE
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import signal
import ssl
import sys

from aiorpcx import RPCSession, connect_rs, handler_invocation, serve_rs

HEIGHT = [2_870_000 + random.randrange(1000)]


def header() -> dict:
    return {"hex": os.urandom(80).hex(), "height": HEIGHT[0]}


def asynced(func):
    """aiorpcx awaits its handlers; ours are plain functions."""

    async def call(*args):
        return func(*args)

    return call


class ServerSession(RPCSession):
    """An ElectrumX-like server: answers the wallet's calls, pushes new headers."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.scripthashes: list[str] = []
        self.pusher = asyncio.get_running_loop().create_task(self.push())

    async def push(self) -> None:
        while True:
            await asyncio.sleep(random.uniform(30, 120))
            HEIGHT[0] += 1
            await self.send_notification("blockchain.headers.subscribe", [header()])
            if self.scripthashes and random.random() < 0.3:
                sh = random.choice(self.scripthashes)
                await self.send_notification(
                    "blockchain.scripthash.subscribe", [sh, os.urandom(32).hex()]
                )

    async def connection_lost(self) -> None:
        self.pusher.cancel()
        await super().connection_lost()

    async def handle_request(self, request):
        handlers = {
            "server.version": lambda client, proto: ["ElectrumX 1.16.0", "1.4"],
            "server.banner": lambda: "Welcome to a test ElectrumX server",
            "server.features": lambda: {
                "genesis_hash": "00" * 32,
                "protocol_max": "1.4",
                "protocol_min": "1.4",
                "hash_function": "sha256",
            },
            "server.ping": lambda: None,
            "blockchain.headers.subscribe": header,
            "blockchain.estimatefee": lambda n: round(random.uniform(0.00001, 0.0002), 8),
            "blockchain.relayfee": lambda: 0.00001,
            "blockchain.scripthash.subscribe": self.subscribe,
            "blockchain.scripthash.get_history": lambda sh: [
                {"tx_hash": os.urandom(32).hex(), "height": HEIGHT[0] - random.randrange(900)}
                for _ in range(random.randint(0, 4))
            ],
            "blockchain.scripthash.get_balance": lambda sh: {
                "confirmed": random.randrange(10**7),
                "unconfirmed": 0,
            },
        }
        handler = handlers.get(request.method)
        return await handler_invocation(handler and asynced(handler), request)()

    def subscribe(self, sh: str):
        self.scripthashes.append(sh)
        return os.urandom(32).hex() if random.random() < 0.7 else None


class ClientSession(RPCSession):
    async def handle_request(self, request):
        print("push", request.method, flush=True)  # notifications from the server


async def server(port: int, cert: str, key: str) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    listener = await serve_rs(ServerSession, "0.0.0.0", port, ssl=context)
    await stop.wait()
    listener.close()


async def client(host: str, port: int, ca: str) -> None:
    context = ssl.create_default_context(cafile=ca)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with connect_rs(host, port, ssl=context, session_factory=ClientSession) as s:
        print(await s.send_request("server.version", ["electrum-client 4.5.5", "1.4"]))
        await s.send_request("server.banner", [])
        await s.send_request("server.features", [])
        print(await s.send_request("blockchain.headers.subscribe", []))
        await s.send_request("blockchain.relayfee", [])
        # A wallet of 20 addresses: subscribe each, fetch histories of the used ones.
        for i in range(20):
            sh = hashlib.sha256(f"addr{i}".encode()).hexdigest()
            if await s.send_request("blockchain.scripthash.subscribe", [sh]):
                await s.send_request("blockchain.scripthash.get_history", [sh])
        while not stop.is_set():
            await s.send_request("blockchain.estimatefee", [random.choice([2, 6, 25])])
            try:
                await asyncio.wait_for(stop.wait(), random.uniform(50, 70))
            except TimeoutError:
                await s.send_request("server.ping", [])


def main() -> None:
    if sys.argv[1] == "server":
        asyncio.run(server(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    else:
        asyncio.run(client(sys.argv[2], int(sys.argv[3]), sys.argv[4]))


if __name__ == "__main__":
    main()
