"""A stub Chia pool: the pool protocol's HTTPS endpoints, enough for chia's farmer to
register and keep sending partials (for tools/realset/chia_lab.py's pool capture).

The endpoints and bodies are those of Chia's pool protocol as chia-blockchain 2.7.5 speaks
it (chia/protocols/pool_protocol.py; chia/farmer/farmer.py ``make_pool_protocol_request``,
``update_pool_state``; chia/farmer/farmer_api.py ``new_proof_of_space``; the pool
reference's SPECIFICATION.md):

* ``GET /pool_info`` - name, minimum difficulty, relative lock height, fee, the pool's
  target puzzle hash, the authentication token timeout (the wallet reads it when a plot NFT
  joins the pool, the farmer every hour);
* ``GET /farmer`` - ``FARMER_NOT_KNOWN`` (error 10) until the farmer has ``POST /farmer``-ed
  its authentication key and payout instructions, then what it posted (every 300 s);
* ``POST /farmer``, ``PUT /farmer`` - stored, acknowledged;
* ``POST /partial`` - ``{"new_difficulty": D}``: counted, never verified (a stub: no chain).

Nothing is checked (signatures, proofs, singleton state): the point is the farmer's own
traffic. TLS with the lab CA's certificate (the farmer verifies pool certificates against
its CA bundle: chia_pool_farmer.py adds the lab CA to it). Counts go to ``--stats``.

    python chia_pool_stub.py --listen IP --port 443 --cert C --key K --stats FILE
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import time
from pathlib import Path

from aiohttp import web

# The target puzzle hash the pool's rewards go to (any 32 bytes: the lab's chain never
# pays out); fixed so that the pool's answers are the same run after run.
TARGET = "0x" + "5e" * 32


class Pool:
    def __init__(self, difficulty: int, stats: Path) -> None:
        self.difficulty = difficulty
        self.stats_path = stats
        self.farmers: dict[str, dict] = {}
        self.counts: dict[str, int] = {}

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        self.stats_path.write_text(json.dumps(self.counts, sort_keys=True))
        print(f"{time.time():.3f} {what}", flush=True)

    async def pool_info(self, request: web.Request) -> web.Response:
        self.count("GET /pool_info")
        return web.json_response(
            {
                "name": "Lab pool",
                "logo_url": "https://pool.lab.invalid/logo.png",
                "minimum_difficulty": self.difficulty,
                "relative_lock_height": 10,
                "protocol_version": 1,
                "fee": "0.01",
                "description": "minewatch's stub pool (tools/realset/chia_pool_stub.py)",
                "target_puzzle_hash": TARGET,
                "authentication_token_timeout": 5,
            }
        )

    async def get_farmer(self, request: web.Request) -> web.Response:
        self.count("GET /farmer")
        farmer = self.farmers.get(request.query.get("launcher_id", ""))
        if farmer is None:
            return web.json_response({"error_code": 10, "error_message": "Farmer not known"})
        return web.json_response(
            {
                "authentication_public_key": farmer["authentication_public_key"],
                "payout_instructions": farmer["payout_instructions"],
                "current_difficulty": self.difficulty,
                "current_points": farmer["points"],
            }
        )

    async def post_farmer(self, request: web.Request) -> web.Response:
        self.count("POST /farmer")
        payload = (await request.json())["payload"]
        launcher = payload["launcher_id"]
        self.farmers[launcher] = {
            "authentication_public_key": payload["authentication_public_key"],
            "payout_instructions": payload["payout_instructions"],
            "points": 0,
        }
        # GET /farmer carries the launcher id without 0x
        self.farmers[launcher.removeprefix("0x")] = self.farmers[launcher]
        return web.json_response({"welcome_message": "Welcome to the lab pool"})

    async def put_farmer(self, request: web.Request) -> web.Response:
        self.count("PUT /farmer")
        return web.json_response(
            {
                "authentication_public_key": True,
                "payout_instructions": True,
                "suggested_difficulty": True,
            }
        )

    async def partial(self, request: web.Request) -> web.Response:
        self.count("POST /partial")
        payload = (await request.json())["payload"]
        farmer = self.farmers.get(payload["launcher_id"])
        if farmer is not None:
            farmer["points"] += self.difficulty
        return web.json_response({"new_difficulty": self.difficulty})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=443)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--difficulty", type=int, default=1)
    parser.add_argument("--stats", type=Path, default=Path(os.devnull))
    args = parser.parse_args()
    pool = Pool(args.difficulty, args.stats)
    app = web.Application()
    app.router.add_get("/pool_info", pool.pool_info)
    app.router.add_get("/farmer", pool.get_farmer)
    app.router.add_post("/farmer", pool.post_farmer)
    app.router.add_put("/farmer", pool.put_farmer)
    app.router.add_post("/partial", pool.partial)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    web.run_app(app, host=args.listen, port=args.port, ssl_context=context, print=None)


if __name__ == "__main__":
    main()
