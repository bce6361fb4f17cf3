"""chia's full node (``chia_full_node``) with signage points made up on a clock.

Why: signage points come to a full node from a timelord (chia/full_node/full_node.py
``signage_point_post_processing`` turns each timelord VDF into ``new_signage_point`` for
every connected farmer). A timelord needs chiavdf's ``vdf_client`` (not in the PyPI
wheel; built by chia's install-timelord.sh) and a whole core squaring for ever, and an
offline private network has none. So this runs the real full node service unchanged -
its TLS server on 8444, its farmer connections, its messages - and adds one task that
sends each connected farmer a ``farmer_protocol.NewSignagePoint`` every
SUB_SLOT_TIME_TARGET / NUM_SPS_SUB_SLOT seconds (600 / 64 = 9.375 s in
chia/consensus/default_constants.py), index 0..63 round a sub-slot, through the node's own
``server.send_to_all(..., NodeType.FARMER)``, as ``signage_point_post_processing`` does.
What is made up: the challenge and VDF output hashes (random) and the clock (a Gaussian
jitter of 0.15 s on each point, seeded). What follows from them on the wire is the real
programs': the farmer forwards each point to its harvesters (``new_signage_point_harvester``)
and each harvester looks its plots up and answers (``farming_info``).

Run with the chia venv's python, like ``chia_full_node`` (CHIA_ROOT names the root):

    python chia_paced_node.py [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

import chia.full_node.start_full_node as start_full_node
from chia.protocols.farmer_protocol import NewSignagePoint
from chia.protocols.outbound_message import NodeType, make_msg
from chia.protocols.protocol_message_types import ProtocolMessageTypes
from chia_rs.sized_bytes import bytes32
from chia_rs.sized_ints import uint8, uint32, uint64

JITTER = 0.15  # seconds, standard deviation of each point's delay
_TASKS: set[asyncio.Task[None]] = set()  # the running pacer (a task needs a reference)


async def pace(node, constants, seed: int) -> None:  # noqa: ANN001 - chia's FullNode
    rng = random.Random(seed)
    period = constants.SUB_SLOT_TIME_TARGET / constants.NUM_SPS_SUB_SLOT
    loop = asyncio.get_running_loop()
    start = loop.time() + period
    challenge = bytes32(rng.randbytes(32))
    k = 0
    while True:
        due = start + k * period + rng.gauss(0.0, JITTER)
        await asyncio.sleep(max(0.0, due - loop.time()))
        index = k % constants.NUM_SPS_SUB_SLOT
        if index == 0:  # a new sub-slot: a new challenge
            challenge = bytes32(rng.randbytes(32))
        point = NewSignagePoint(
            challenge,
            bytes32(rng.randbytes(32)) if index else challenge,
            bytes32(rng.randbytes(32)),
            uint64(constants.DIFFICULTY_STARTING),
            uint64(constants.SUB_SLOT_ITERS_STARTING),
            uint8(index),
            uint32(0),
            uint32(0),
        )
        if node._server is not None:
            msg = make_msg(ProtocolMessageTypes.new_signage_point, point)
            await node.server.send_to_all([msg], NodeType.FARMER)
            print(f"signage point {index} sent at {loop.time():.3f}", flush=True)
        k += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=13)
    args, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    create = start_full_node.create_full_node_service

    async def create_and_pace(root_path, config, constants, *a, **kw):  # noqa: ANN001, ANN002, ANN003
        service = await create(root_path, config, constants, *a, **kw)
        _TASKS.add(
            asyncio.get_running_loop().create_task(pace(service._node, constants, args.seed))
        )
        return service

    start_full_node.create_full_node_service = create_and_pace
    return start_full_node.main()


if __name__ == "__main__":
    sys.exit(main())
