"""Cryptocurrency wallets asking a server about their own coins, in cleartext.

A wallet mines nothing and runs no node: it asks a server (an Electrum server, an
Ethereum node's JSON-RPC, monerod's RPC) about the addresses it owns and hands it the
transactions it signed. The client of such a flow is a **wallet** - informational, like a
node sighting (nodehosts.py, role ``wallet``, never a suspect: issue 20). This module
reads the client's requests and marks the flow's node facts (``node.protocol`` one of
PROTOCOLS, ``host: client``, ``role: wallet``, the calls as commands); rules of kind
node under signatures/rules/wallets.yaml make the sighting, as nodes.yaml does for nodes.

What makes a wallet, by protocol (a request: a message with an ``id``; pushes from the
server - Electrum's notifications reuse the subscribe methods' names - are not):

* **Electrum** (newline-delimited JSON-RPC over TCP, cleartext on 50001 or any port;
  ElectrumX's protocol-methods.rst, electrum's ``electrum/interface.py``): calls about
  an address's script hash (``blockchain.scripthash.*``, the older
  ``blockchain.address.*``) or ``blockchain.transaction.broadcast``. ``server.version``
  and ``blockchain.headers.subscribe`` alone are not enough: Electrum servers peering
  with each other send them too (ElectrumX ``peers.py``), and never ask for an address.
* **Ethereum JSON-RPC** (HTTP POST, WebSocket, or raw TCP/IPC-style lines to a node's
  8545): the account calls of a wallet (``eth_getBalance``, ``eth_getTransactionCount``,
  ``eth_sendRawTransaction``, ``eth_sendTransaction``, ``eth_estimateGas``, ``eth_call``
  - MetaMask, web3 and ethers providers send them for every account and token balance).
  A flow that also speaks getwork (``eth_getWork``, ``eth_submitWork``...) is a miner's:
  the mining dialect makes its verdict, and a miner's flow is never a sighting.
* **Monero** (monerod's RPC over plain HTTP, 18081; monero's ``src/wallet/wallet2.cpp``
  and ``src/rpc/core_rpc_server.h``): the binary calls wallet2 refreshes and spends
  with (``/getblocks.bin``, ``/get_blocks.bin``, ``/get_o_indexes.bin``, ``/get_outs.bin``
  - the decoys of a ring), ``/sendrawtransaction``, and on ``/json_rpc``
  ``get_fee_estimate`` and ``get_output_distribution``. XMRig's solo mining speaks
  ``getblocktemplate`` there (a miner, mining.py).

Chia's wallet is not here: it speaks Chia's peer protocol inside TLS 1.3 on 8444 like a
full node (chia.py's node sighting; docs/ARCHITECTURE.md §3.w).
"""

from __future__ import annotations

from detector.facts import FlowFacts, intern

ROLE = "wallet"
ELECTRUM = "electrum"
ETHEREUM_RPC = "ethereum-rpc"
MONERO_RPC = "monero-rpc"
PROTOCOLS = (ELECTRUM, ETHEREUM_RPC, MONERO_RPC)
NETWORKS = {ETHEREUM_RPC: "ethereum", MONERO_RPC: "monero"}  # Electrum serves many coins
MAX_COMMANDS = 16

_ELECTRUM_PREFIXES = ("blockchain.scripthash.", "blockchain.address.")
_ELECTRUM_WALLET = frozenset({"blockchain.transaction.broadcast"})
ETHEREUM_WALLET = frozenset(
    {
        "eth_getBalance",
        "eth_getTransactionCount",
        "eth_sendRawTransaction",
        "eth_sendTransaction",
        "eth_estimateGas",
        "eth_call",
    }
)
MONERO_WALLET_METHODS = frozenset({"get_fee_estimate", "get_output_distribution"})
MONERO_WALLET_PATHS = frozenset(
    {
        "/getblocks.bin",
        "/get_blocks.bin",
        "/get_o_indexes.bin",
        "/get_outs.bin",
        "/sendrawtransaction",
        "/send_raw_transaction",
    }
)

# What every path above starts with: an HTTP request whose URI starts with none of these
# names none of them (record_path tests that first: nearly every request's URI).
MONERO_WALLET_PATH_STARTS = tuple(sorted({path[:4] for path in MONERO_WALLET_PATHS}))


def wallet_protocol(method: str, uri: str = "") -> str | None:
    """The wallet protocol a client request of ``method`` belongs to (None: no wallet's)."""
    if method.startswith(_ELECTRUM_PREFIXES) or method in _ELECTRUM_WALLET:
        return ELECTRUM
    if method in ETHEREUM_WALLET:
        return ETHEREUM_RPC
    if method in MONERO_WALLET_METHODS and uri.split("?", 1)[0].rstrip("/") == "/json_rpc":
        return MONERO_RPC
    return None


def record_request(method: str, msg: dict, side: int, facts: FlowFacts, uri: str = "") -> None:
    """A JSON-RPC message ``side`` sent: a wallet's request marks the flow (module
    docstring). Only requests count (an ``id``): Electrum servers push notifications under
    the subscribe methods' names."""
    if "id" not in msg or msg.get("id") is None:
        return
    protocol = wallet_protocol(method, uri)
    if protocol is not None:
        _mark(protocol, method, side, facts)


def record_path(uri: str, side: int, facts: FlowFacts) -> None:
    """An HTTP request line's path: monerod's binary wallet calls."""
    if not uri.startswith(MONERO_WALLET_PATH_STARTS):
        return  # (no split for the URIs that cannot be one)
    path = uri.split("?", 1)[0]
    if path in MONERO_WALLET_PATHS:
        _mark(MONERO_RPC, path, side, facts)


def _mark(protocol: str, command: str, side: int, facts: FlowFacts) -> None:
    node = facts.node
    if node.get("protocol") not in (None, protocol):
        return  # another node protocol named the flow first
    facts.sides[side].client_votes += 1  # only the wallet asks
    if not node.get("protocol"):
        node.update(protocol=protocol, host="client", role=ROLE)
        if protocol in NETWORKS:
            node["network"] = NETWORKS[protocol]
        facts.note(f"wallet call {command} ({protocol})")
    commands = node.setdefault("commands", [])
    if command not in commands and len(commands) < MAX_COMMANDS:
        commands.append(intern(command))
