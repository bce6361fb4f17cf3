"""A small Stratum v1 (Zcash/Equihash) miner client - ours, not a real miner program.

cpuminer and the Equihash miners are not in the package registries this project can use,
so the miner behind aiostratum-proxy in the validation set is this script: it subscribes
(``mining.subscribe [agent, null, host, port]`` as Zcash miners do), authorizes a
``t1...`` address with a worker name, follows ``mining.set_target`` and ``mining.notify``
and submits shares of real Equihash size (1344-byte solutions with their ``fd4005``
length prefix) at the times a slow CPU miner would find them (Poisson, mean --mean s).
It hashes nothing; the stub pool accepts every share. ``--tls``: the same session inside
TLS (Python's ``ssl``, the pool's certificate not checked, as miners pointed at a
``stratum+ssl://`` proxy with a self-signed certificate run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import ssl
import struct
import time

AGENT = "realset-equihash-client/1.0"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--user", default="t1UwpZLRvQa53Y2CySxZkvfnBhLhQMcUDWE.rig2")
    parser.add_argument("--mean", type=float, default=45.0)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(args.host, args.port, ssl=context)
    ids = iter(range(1, 1 << 30))
    job: list = []

    def send(method: str, params: list) -> None:
        msg = {"id": next(ids), "method": method, "params": params}
        writer.write((json.dumps(msg) + "\n").encode())

    send("mining.subscribe", [AGENT, None, args.host, str(args.port)])
    send("mining.authorize", [args.user, "x"])

    async def shares() -> None:
        while True:
            await asyncio.sleep(random.expovariate(1 / args.mean))
            if job:
                nonce2 = os.urandom(27).hex()  # nonce1 (4 + proxy tail 1) + 27 = 32 bytes
                solution = "fd4005" + os.urandom(1344).hex()
                ntime = struct.pack("<I", int(time.time())).hex()
                send("mining.submit", [args.user, job[0], ntime, nonce2, solution])
                await writer.drain()

    task = asyncio.create_task(shares())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    reading = asyncio.create_task(reader.readline())
    stopping = asyncio.create_task(stop.wait())
    while True:
        done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping in done:
            break
        line = reading.result()
        if not line:
            break
        msg = json.loads(line)
        print(time.strftime("%H:%M:%S"), line.decode().strip()[:160], flush=True)
        if msg.get("method") == "mining.notify":
            job = msg["params"]
        reading = asyncio.create_task(reader.readline())
    task.cancel()
    writer.close()


if __name__ == "__main__":
    asyncio.run(main())
