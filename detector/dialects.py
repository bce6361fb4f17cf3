"""The names of the mining dialects: the one vocabulary of the dissector, the rules,
``verify`` and the traffic generator.

A dialect is a mining protocol as it appears on the wire (docs/ARCHITECTURE.md §3). The
Stratum/JSON-RPC dissector names the ones it reads from messages (and the WebSocket
dissector the CoinHive-family vocabulary, ``browser-ws``); rules name the ones only
behaviour and host names show (browser mining over TLS). Manifests label captures with them and
``verify`` compares them, so a name written anywhere else is checked against this list
(rule files at load time, manifests when read, fixtures when generated).
"""

from __future__ import annotations

STRATUM_V1 = "stratum-v1"
ETHEREUM_STRATUM = "ethereum-stratum"  # NiceHash EthereumStratum/1.0.0 and 2.0.0
ETH_PROXY = "eth-proxy"  # eth_submitLogin / eth_getWork over TCP
CRYPTONOTE = "cryptonote"  # XMRig-style login/job/submit
GETWORK_HTTP = "getwork-http"
GBT_HTTP = "gbt-http"  # getblocktemplate over HTTP
ETH_GETWORK_HTTP = "eth-getwork-http"
MONERO_DAEMON_HTTP = "monero-daemon-http"  # XMRig solo mining against monerod's /json_rpc
STRATUM_V2 = "stratum-v2"
GRIN_STRATUM = "grin-stratum"
BEAM_STRATUM = "beam-stratum"
BROWSER_WSS_TLS = "browser-wss-tls"  # in-page mining over a TLS WebSocket (rules only)
# In-page mining over a cleartext WebSocket: the CoinHive vocabulary read from the frames
# (dissect/webminer.py) whatever the host, or a listed service's name and a long session.
BROWSER_WS = "browser-ws"
# A session whose payload cannot be read (TLS, an unknown binary protocol) in which the
# flow model saw the mining rhythm: the dialect inside is unknown, so this says what is.
MINING_RHYTHM = "mining-rhythm"
# Filecoin storage mining: lotus-miner and its workers driving their own lotus daemon over
# cleartext JSON-RPC (``Filecoin.MinerGetBaseInfo``, ``Filecoin.SealingSchedDiag``...,
# dissect/filecoin.py). No pool and no shares: the farm mines on the site's power alone.
FILECOIN_RPC = "filecoin-rpc"
# Chia farming (chia.py, docs/ARCHITECTURE.md §3 "Chia"): a farmer and its harvesters, or
# a farmer and its full node, keeping the signage-point rhythm (a message every 9.375 s)
# inside their TLS, or a pool client's cleartext ``POST /partial``. No pool shares to
# read: the farm proves storage on the site's power.
CHIA_FARMING = "chia-farming"

# Every dialect name, in the order reports list them.
MINING_DIALECTS: tuple[str, ...] = (
    STRATUM_V1,
    ETHEREUM_STRATUM,
    ETH_PROXY,
    CRYPTONOTE,
    GETWORK_HTTP,
    GBT_HTTP,
    ETH_GETWORK_HTTP,
    MONERO_DAEMON_HTTP,
    STRATUM_V2,
    GRIN_STRATUM,
    BEAM_STRATUM,
    BROWSER_WSS_TLS,
    BROWSER_WS,
    MINING_RHYTHM,
    FILECOIN_RPC,
    CHIA_FARMING,
)
KNOWN = frozenset(MINING_DIALECTS)

# Dialects of long sessions whose shares the JSON or WebSocket dissector counts: their
# flows are read past the inspection budget, so that every share is counted
# (dissect/inspector.py, docs/ARCHITECTURE.md §13).
SHARE_DIALECTS = frozenset(
    {STRATUM_V1, ETHEREUM_STRATUM, ETH_PROXY, CRYPTONOTE, GRIN_STRATUM, BEAM_STRATUM, BROWSER_WS}
)

# Dialects that the Stratum dissector settles between as a session's messages arrive
# (a later message can move a flow from one to another).
STRATUM_FAMILY = (STRATUM_V1, ETHEREUM_STRATUM, ETH_PROXY, ETH_GETWORK_HTTP)

# The role of a suspect host, from the dialects its flows spoke (issue 20: every host gets a
# role, reported in EVE ``alert.metadata.mining_role``, the table, CSV, the store and the
# report). A storage farmer seals and proves storage for block rewards (Filecoin, Chia); a
# solo miner fetches work from its own node (getwork, getblocktemplate, monerod) - only
# when that is all it spoke and no pool list named the server, since pools served getwork
# too (BitMinter, in the corpus); everyone else mines for a pool. Crypto *nodes* are not
# miners: they are reported apart (nodehosts.py, the crypto-node category), unless the
# site's policy forbids running one (``--nodes-as-suspects``): then a node host is a
# suspect of role ``crypto-node`` (nodehosts.node_suspects). A host that mined too keeps
# its miner's role. A *wallet* (dissect/wallets.py: Electrum, Ethereum or Monero wallet
# calls in cleartext) is informational like a node sighting and never a suspect, even
# where the site's policy makes nodes suspects (nodehosts.NodeHost.role).
STORAGE_FARMER = "storage-farmer"
SOLO_MINER = "solo-miner"
POOL_MINER = "pool-miner"
CRYPTO_NODE = "crypto-node"
WALLET = "wallet"
ROLES = (POOL_MINER, SOLO_MINER, STORAGE_FARMER, CRYPTO_NODE, WALLET)
STORAGE_DIALECTS = frozenset({FILECOIN_RPC, CHIA_FARMING})
SOLO_DIALECTS = frozenset({GETWORK_HTTP, GBT_HTTP, ETH_GETWORK_HTTP, MONERO_DAEMON_HTTP})


def role_of(
    dialects: set[str] | frozenset[str], pool_known: bool = False, node_only: bool = False
) -> str:
    """A suspect host's role: storage farming outranks the rest (a farm's host that also
    spoke Stratum is still first a farm); ``pool_known``: a pool list named a server;
    ``node_only``: every flow of it was a crypto node's (a suspect by site policy)."""
    if node_only:
        return CRYPTO_NODE
    if dialects & STORAGE_DIALECTS:
        return STORAGE_FARMER
    if dialects and dialects <= SOLO_DIALECTS and not pool_known:
        return SOLO_MINER
    return POOL_MINER


def merged_role(one: str, other: str, dialects: set[str] | frozenset[str], pool_known: bool) -> str:
    """The role of two reports of one host together (two captures of a window, two
    windows of a report): a node stays a node only when both are; otherwise what their
    dialects and pool names together say (a miner outranks a node)."""
    return role_of(dialects, pool_known, one == CRYPTO_NODE and other == CRYPTO_NODE)
