"""A stub mining pool for the real-program validation set (tools/realset/).

It speaks just enough of a pool's side for a real miner to log in, take jobs and submit
shares; it checks no hash (every share is accepted). Two dialects:

* ``cryptonote`` - XMRig's protocol (docs/ARCHITECTURE.md §3): ``login`` answered with a
  job and the extensions XMRig asks for (algo, keepalive, ...), ``job`` pushed, ``submit``
  and ``keepalived`` answered. Job params carry the worker ``id`` as real pools do (the
  coin-hive-stratum proxy routes pushed jobs by it).
* ``equihash`` - Stratum v1 as Zcash pools speak it: ``mining.subscribe`` ->
  ``[session, extranonce1]``, ``mining.authorize``, ``mining.set_target``, 8-parameter
  ``mining.notify`` (version ``04000000``), ``mining.submit``.

A new job is pushed on every connection after a jittered interval (``--job-min`` ..
``--job-max`` seconds); the share target follows ``--difficulty``. With ``--tls`` the
listener wraps connections with Python's ``ssl`` and the given throwaway cert. Counts
(connections, jobs pushed, submits) go to ``--stats`` as JSON when the process ends.

    python stubpool.py --dialect cryptonote --port 3333 --algo rx/0 --difficulty 4000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import ssl
import struct
import time

STATS = {"connections": 0, "logins": 0, "jobs_pushed": 0, "submits": 0, "keepalived": 0}


def cryptonote_target(difficulty: int) -> str:
    """XMRig's 4-byte little-endian target: a hash passes when its top word <= it."""
    return struct.pack("<I", max(1, (2**32 - 1) // max(1, difficulty))).hex()


def equihash_target(difficulty: float) -> str:
    """A Zcash pool's 256-bit target (big-endian hex) for a share difficulty."""
    base = 0x0007FFFF << (8 * 29)  # difficulty 1
    return f"{int(base / max(difficulty, 1e-9)):064x}"


class Pool:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.height = 3_100_000 + random.randrange(10_000)
        self.seed = os.urandom(32).hex()
        self.job_seq = 0

    # --- jobs -----------------------------------------------------------------------

    def cryptonote_job(self, worker: str) -> dict:
        self.job_seq += 1
        # A Monero hashing blob: major/minor version, varint timestamp (5 bytes), previous
        # block id (32), nonce (4, offset 39), merkle root (32), transaction count.
        stamp = int(time.time())
        varint = bytes([(stamp >> (7 * i) & 0x7F) | (0x80 if i < 4 else 0) for i in range(5)])
        blob = bytes([16, 16]) + varint + os.urandom(32) + bytes(4) + os.urandom(32) + b"\x05"
        job = {
            "blob": blob.hex(),
            "job_id": f"{random.getrandbits(48):012x}",
            "target": cryptonote_target(self.args.difficulty),
            "algo": self.args.algo,
            "height": self.height,
            "id": worker,
        }
        if self.args.algo.startswith("rx/"):
            job["seed_hash"] = self.seed
        return job

    def equihash_job(self, clean: bool) -> list:
        self.job_seq += 1
        return [
            f"{self.job_seq:x}",
            "04000000",
            os.urandom(32).hex(),
            os.urandom(32).hex(),
            "00" * 32,
            struct.pack("<I", int(time.time())).hex(),
            "1d0a0c4f",
            clean,
        ]

    # --- connections ----------------------------------------------------------------

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        STATS["connections"] += 1
        state = {"worker": f"{random.getrandbits(64):016x}", "ready": False}
        lock = asyncio.Lock()

        async def send(msg: dict) -> None:
            async with lock:
                writer.write((json.dumps(msg, separators=(",", ":")) + "\n").encode())
                await writer.drain()

        pusher = asyncio.create_task(self.push_jobs(send, state))
        try:
            while line := await reader.readline():
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if self.args.dialect == "cryptonote":
                    await self.on_cryptonote(msg, send, state)
                else:
                    await self.on_stratum(msg, send, state)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            pusher.cancel()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def push_jobs(self, send, state: dict) -> None:
        while True:
            await asyncio.sleep(random.uniform(self.args.job_min, self.args.job_max))
            if not state["ready"]:
                continue
            self.height += random.random() < 0.5  # a new block now and then
            if self.args.dialect == "cryptonote":
                job = self.cryptonote_job(state["worker"])
                await send({"jsonrpc": "2.0", "method": "job", "params": job})
            else:
                await send(
                    {"id": None, "method": "mining.notify", "params": self.equihash_job(True)}
                )
            STATS["jobs_pushed"] += 1

    async def on_cryptonote(self, msg: dict, send, state: dict) -> None:
        method, mid = msg.get("method"), msg.get("id")
        if method == "login":
            STATS["logins"] += 1
            state["ready"] = True
            result = {
                "id": state["worker"],
                "job": self.cryptonote_job(state["worker"]),
                "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"],
                "status": "OK",
            }
            await send({"id": mid, "jsonrpc": "2.0", "error": None, "result": result})
        elif method == "submit":
            STATS["submits"] += 1
            await send({"id": mid, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
        elif method == "keepalived":
            STATS["keepalived"] += 1
            await send(
                {"id": mid, "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}}
            )

    async def on_stratum(self, msg: dict, send, state: dict) -> None:
        method, mid = msg.get("method"), msg.get("id")
        if method == "mining.subscribe":
            await send(
                {"id": mid, "result": [None, f"{random.getrandbits(32):08x}"], "error": None}
            )
        elif method == "mining.extranonce.subscribe":
            await send({"id": mid, "result": True, "error": None})
        elif method == "mining.authorize":
            STATS["logins"] += 1
            await send({"id": mid, "result": True, "error": None})
            await send(
                {
                    "id": None,
                    "method": "mining.set_target",
                    "params": [equihash_target(self.args.difficulty)],
                }
            )
            await send({"id": None, "method": "mining.notify", "params": self.equihash_job(True)})
            state["ready"] = True
        elif method == "mining.submit":
            STATS["submits"] += 1
            await send({"id": mid, "result": True, "error": None})
        elif mid is not None:
            await send({"id": mid, "result": None, "error": [20, "Unsupported method", None]})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialect", choices=["cryptonote", "equihash"], required=True)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--algo", default="rx/0")
    parser.add_argument("--difficulty", type=float, default=5000)
    parser.add_argument("--job-min", type=float, default=30)
    parser.add_argument("--job-max", type=float, default=120)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--stats")
    args = parser.parse_args()
    if args.dialect == "cryptonote":
        args.difficulty = int(args.difficulty)
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
    pool = Pool(args)
    server = await asyncio.start_server(pool.serve, args.host, args.port, ssl=context)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    if args.stats:
        with open(args.stats, "w") as fh:
            json.dump(STATS, fh)


if __name__ == "__main__":
    asyncio.run(main())
