"""Filecoin's cleartext JSON-RPC: lotus daemon, lotus-miner and lotus-worker talking to
each other in a split setup.

Filecoin has no pools: a storage provider runs its own lotus daemon (API on port 1234), a
lotus-miner (port 2345) and sealing workers, and when they sit on separate
hosts they talk JSON-RPC 2.0 over plain HTTP (``POST /rpc/v0``, ``/rpc/v1``) or a WebSocket
on the same paths, every method named ``Filecoin.<Method>``. The libp2p traffic to the
network is encrypted (Noise/TLS); this API traffic is the one cleartext and unmistakable
sign of the farm (issue 20).

Miner or node? The method names decide, because they belong to different interfaces:

* **storage-miner evidence -> a miner verdict** (dialect ``filecoin-rpc``, role
  ``storage-farmer``): the two full-node methods only a block producer calls
  (``MinerGetBaseInfo``, ``MinerCreateBlock``: lotus-miner's mining loop asks its daemon
  for the election base and hands it the won block), the StorageMiner API (``SealingSchedDiag``,
  ``SectorsStatus``, ``WorkerConnect``, the ``Return*`` calls workers answer with...) and
  the Worker API (``SealPreCommit1``, ``GenerateWindowPoSt``, ``TaskTypes``...). Only a
  farm speaks them, and a farm mines on the site's power: it is a suspect, like a pool
  miner (the client of the flow is the suspect: lotus-miner calling its daemon, a worker
  calling its miner, or the miner driving its worker - all hosts of the farm).
* **everything else -> a crypto-node sighting** (``node.protocol`` ``filecoin-rpc``):
  ``ChainHead``, ``WalletBalance``, ``StateMinerInfo``... are the full node's API, which
  wallets, explorers and monitoring scripts call as much as miners do. The daemon is a
  Filecoin node (the server end of the flow, nodehosts.py), informational like any node.
  ``StateMinerInfo`` stays here although the miner calls it too: so does every explorer.

Method names verified in lotus (github.com/filecoin-project/lotus), read with the search
tool: ``api/api_storage.go`` (StorageMiner interface, commit 01b9ab6) and
``api/api_worker.go`` (Worker interface, commit 046a9f8, an older tree: the Worker's info
call is ``Info`` - ``WorkerInfo`` is its result type, not a method); the full node's
methods (``MinerGetBaseInfo``/``MinerCreateBlock`` in the Miner group, ``ChainHead``...)
from the generated ``documentation/en/api-methods-v0-deprecated.md`` and
``api-methods-v1-stable.md`` that ``make gen`` writes from ``api/api_full.go``. Ports:
the miner API's default ``ListenAddress`` ``/ip4/127.0.0.1/tcp/2345/http``
(``documentation/en/mining-lotus-worker.md``); 1234 is the daemon's (the same form in
lotus configs); the detection never depends on a port. Methods common to every lotus API
(``Version``, ``Session``, ``AuthVerify``...) prove nothing and count as the node's.
"""

from __future__ import annotations

import re

from detector.dialects import FILECOIN_RPC
from detector.facts import FlowFacts, intern

PREFIX = "Filecoin."
# A Filecoin method as go-jsonrpc names it: the namespace and an exported Go method name.
_METHOD = re.compile(r"Filecoin\.[A-Z][A-Za-z0-9]{1,63}")
NODE_PROTOCOL = "filecoin-rpc"
NETWORK = "filecoin"
MAX_COMMANDS = 16

# FullNode methods only a block producer (lotus-miner's mining loop) calls (api_full.go).
BLOCK_PRODUCER = frozenset({"MinerGetBaseInfo", "MinerCreateBlock"})
# StorageMiner API (api_storage.go): sealing, sectors, storage paths and workers.
STORAGE_MINER = frozenset(
    {
        "ActorAddress",
        "ActorSectorSize",
        "ActorAddressConfig",
        "MiningBase",
        "ComputeWindowPoSt",
        "PledgeSector",
        "SectorsStatus",
        "SectorsList",
        "SectorsSummary",
        "SectorsListInStates",
        "SectorsRefs",
        "SectorStartSealing",
        "SectorPreCommitFlush",
        "SectorPreCommitPending",
        "SectorCommitFlush",
        "SectorCommitPending",
        "WorkerConnect",
        "WorkerStats",
        "WorkerJobs",
        "ReturnDataCid",
        "ReturnAddPiece",
        "ReturnSealPreCommit1",
        "ReturnSealPreCommit2",
        "ReturnSealCommit1",
        "ReturnSealCommit2",
        "ReturnFinalizeSector",
        "ReturnReplicaUpdate",
        "ReturnProveReplicaUpdate1",
        "ReturnProveReplicaUpdate2",
        "ReturnMoveStorage",
        "ReturnUnsealPiece",
        "ReturnFetch",
        "SealingSchedDiag",
        "SealingAbort",
        "SealingRemoveRequest",
        "StorageAttach",
        "StorageDeclareSector",
        "StorageDropSector",
        "StorageFindSector",
        "StorageBestAlloc",
        "StorageReportHealth",
        "StorageLock",
        "StorageTryLock",
    }
)
# Worker API (api_worker.go): the sealing and proving calls lotus-miner hands a worker.
WORKER = frozenset(
    {
        "TaskTypes",
        "Paths",
        "Info",
        "AddPiece",
        "SealPreCommit1",
        "SealPreCommit2",
        "SealCommit1",
        "SealCommit2",
        "FinalizeSector",
        "ReplicaUpdate",
        "ProveReplicaUpdate1",
        "ProveReplicaUpdate2",
        "GenerateSectorKeyFromData",
        "GenerateWinningPoSt",
        "GenerateWindowPoSt",
        "TaskDisable",
        "TaskEnable",
        "ProcessSession",
    }
)
MINER_METHODS = BLOCK_PRODUCER | STORAGE_MINER | WORKER


def is_filecoin(method: str) -> bool:
    """A request method in lotus's namespace (``Filecoin.ChainHead``)."""
    return method.startswith(PREFIX) and _METHOD.fullmatch(method) is not None


def record(method: str, params: object, side: int, facts: FlowFacts) -> None:
    """Facts of one ``Filecoin.*`` request sent by ``side``: the storage-miner dialect
    for a farm's methods, the node protocol (and the method as a node command) always.

    go-jsonrpc always sends ``params`` as a list; anything else is not lotus's client."""
    if not isinstance(params, list):
        return
    name = method[len(PREFIX) :]
    facts.sides[side].client_votes += 1  # only a client sends requests
    if name in MINER_METHODS:
        facts.dialects.add(FILECOIN_RPC)
        facts.set_once("coin", "FIL")
        facts.note(f"Filecoin storage-miner call {method}")
    node = facts.node
    if not node:
        node.update(protocol=NODE_PROTOCOL, network=NETWORK, confidence="high", commands=[])
    elif node.get("protocol") != NODE_PROTOCOL:
        return  # another dissector's node facts: keep them
    commands = node["commands"]
    if name not in commands and len(commands) < MAX_COMMANDS:
        commands.append(intern(name))
