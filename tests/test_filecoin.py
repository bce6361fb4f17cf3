"""Filecoin split setups found from their cleartext JSON-RPC, end to end through the CLI
(detector/dissect/filecoin.py says why storage-miner methods make a miner and the rest of
lotus's API only a node).

One capture written here holds: lotus-miner calling its daemon over HTTP POST /rpc/v0
(MinerGetBaseInfo, MinerCreateBlock: a miner), a lotus-worker returning sealing results
to its miner over a WebSocket on /rpc/v0 (a miner), a wallet asking a daemon for the chain
head and a balance (a Filecoin node, informational), a benign JSON-RPC service on port 1234
and an Ethereum node's eth_* API (neither is Filecoin, neither alerts as one).
"""

from __future__ import annotations

import json

import pytest

from detector.dialects import POOL_MINER, SOLO_MINER, STORAGE_FARMER, role_of
from detector.sinks.common import CATEGORY, NODE_CATEGORY
from detector.synth.benign.websocket import accept_key, frame
from detector.synth.clock import at
from detector.synth.conversation import Conversation, Talk
from detector.synth.http import http_req, http_resp
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import eve_errors, meta, run_cli

MASK = b"\x3c\x71\x0e\x9d"
TOKEN = "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"  # a made-up JWT, as lotus wants one
TIPSET = [{"/": "bafy2bzacecnamqgqmifpluoeldx7zzglxcljo6oja4vew3wp7hzcvvyx7opgm"}]


def rpc(method: str, params: list, n: int) -> bytes:
    """A request as go-jsonrpc writes it."""
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": n}).encode()


def answer(result: object, n: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "result": result, "id": n}).encode()


def post(t: Talk, host: str, path: str, calls: list[tuple[str, list, object]]) -> None:
    """JSON-RPC over HTTP/1.1 POSTs on one keep-alive connection."""
    for n, (method, params, result) in enumerate(calls, 1):
        body = rpc(method, params, n)
        t.c(http_req("POST", path, [("Host", host), ("User-Agent", "Go-http-client/1.1"),
                                    ("Content-Length", str(len(body))),
                                    ("Authorization", TOKEN),
                                    ("Content-Type", "application/json")], body))  # fmt: skip
        reply = answer(result, n)
        t.s(http_resp("200 OK", [("Content-Type", "application/json"),
                                 ("Content-Length", str(len(reply)))], reply))  # fmt: skip


def lotus_miner_http(t: Talk) -> None:
    """lotus-miner's mining loop against its daemon (port 1234)."""
    post(t, "10.70.0.10:1234", "/rpc/v0", [
        ("Filecoin.ChainHead", [], {"Cids": TIPSET, "Height": 3400000}),
        ("Filecoin.MinerGetBaseInfo", ["f01234", 3400001, TIPSET], {"EligibleForMining": True}),
        ("Filecoin.MinerCreateBlock", [{"Miner": "f01234", "Epoch": 3400001}], {"Header": {}}),
    ])  # fmt: skip


def lotus_worker_ws(t: Talk) -> None:
    """lotus-worker on a WebSocket to its miner (port 2345), returning sealing results."""
    key = "bG90dXMtd29ya2VyMQ=="
    t.c(http_req("GET", "/rpc/v0", [("Host", "10.70.0.11:2345"), ("Upgrade", "websocket"),
                                    ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
                                    ("Sec-WebSocket-Version", "13"),
                                    ("Authorization", TOKEN)]))  # fmt: skip
    t.s(http_resp("101 Switching Protocols", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                              ("Sec-WebSocket-Accept", accept_key(key))]))  # fmt: skip
    call = {"Sector": {"Miner": 1234, "Number": 7}, "ID": "5f2c"}
    for n, (method, params) in enumerate([
        ("Filecoin.WorkerConnect", ["http://10.70.0.3:3456/rpc/v0"]),
        ("Filecoin.StorageReportHealth", ["2a1c", {"Stat": {}, "Err": ""}]),
        ("Filecoin.ReturnSealPreCommit1", [call, "eyJfbG9jayI6ZmFsc2V9", None]),
    ], 1):  # fmt: skip
        t.c(frame(rpc(method, params, n), MASK))
        t.s(frame(answer(None, n), None))


def wallet_http(t: Talk) -> None:
    """A wallet script asking a daemon for the head and a balance: a node, not a miner."""
    post(t, "10.70.0.14:1234", "/rpc/v1", [
        ("Filecoin.ChainHead", [], {"Cids": TIPSET, "Height": 3400000}),
        ("Filecoin.WalletBalance", ["f1abjxfbp274xpdqcpuaykwkfb43omjotacm2p3za"], "1000"),
        ("Filecoin.StateMinerInfo", ["f01234", []], {"Owner": "f0100"}),
    ])  # fmt: skip


def benign_rpc(t: Talk) -> None:
    """Some other JSON-RPC service that happens to listen on 1234."""
    post(t, "10.70.0.12:1234", "/rpc", [
        ("system.listMethods", [], ["getStatus", "setLevel"]),
        ("getStatus", [], {"ok": True}),
        ("ChainHead", [], {"height": 4}),  # a lotus-like name, outside the namespace
    ])  # fmt: skip


def ethereum_node(t: Talk) -> None:
    """An Ethereum node's JSON-RPC API: eth_*, never Filecoin."""
    post(t, "10.70.0.13:8545", "/", [
        ("eth_blockNumber", [], "0x1312d00"),
        ("eth_getBalance", ["0x00000000219ab540356cbb839cbe05303d7705fa", "latest"], "0x0"),
        ("eth_chainId", [], "0x1"),
    ])  # fmt: skip


# (client, server, server port, script)
SESSIONS = [
    ("10.70.0.2", "10.70.0.10", 1234, lotus_miner_http),
    ("10.70.0.3", "10.70.0.11", 2345, lotus_worker_ws),
    ("10.70.0.6", "10.70.0.14", 1234, wallet_http),
    ("10.70.0.4", "10.70.0.12", 1234, benign_rpc),
    ("10.70.0.5", "10.70.0.13", 8545, ethereum_node),
]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], str]:
    """(EVE lines of ``scan -f jsonl``, the table of ``scan``) for the capture."""
    packets = []
    for n, (client, server, port, script) in enumerate(SESSIONS):
        base = at(n * 100.0)
        conv = Conversation((client, 41000 + n), (server, port), base, rtt=0.001)
        talk = Talk(conv, base, reply_gap=0.05)
        script(talk)
        conv.close(at(talk.t + 1, base))
        packets += conv.finish()
    path = tmp_path_factory.mktemp("filecoin") / "filecoin.pcap"
    path.write_bytes(pcap_bytes(frames(packets, Ethernet()), Ethernet.linktype))
    scan = run_cli("scan", "-f", "jsonl", "-q", str(path))
    assert scan.rc == 0 and "Traceback" not in scan.err, scan.err
    table = run_cli("scan", "-q", str(path))
    assert table.rc == 0 and "Traceback" not in table.err, table.err
    return [json.loads(line) for line in scan.out.splitlines()], table.out


def test_every_line_validates(scanned) -> None:
    events, _ = scanned
    assert events
    for event in events:
        assert eve_errors(event) == [], event


def test_lotus_miner_over_http_is_a_storage_farmer(scanned) -> None:
    events, _ = scanned
    (alert,) = [e for e in events if e["src_ip"] == "10.70.0.2"]
    assert alert["alert"]["category"] == CATEGORY
    assert alert["alert"]["signature_id"] == 3010001
    assert alert["dest_ip"] == "10.70.0.10" and alert["dest_port"] == 1234
    assert meta(alert, "mining_role") == ["storage-farmer"]
    assert meta(alert, "mining_dialect") == ["filecoin-rpc"]
    assert meta(alert, "mining_coin") == ["FIL"]
    assert "Filecoin storage-miner call Filecoin.MinerGetBaseInfo" in meta(alert, "mining_evidence")


def test_lotus_worker_over_a_websocket_is_a_storage_farmer(scanned) -> None:
    events, _ = scanned
    (alert,) = [e for e in events if e["src_ip"] == "10.70.0.3"]
    assert alert["app_proto"] == "websocket" and alert["dest_port"] == 2345
    assert meta(alert, "mining_role") == ["storage-farmer"]
    assert meta(alert, "mining_dialect") == ["filecoin-rpc"]
    assert "3010001" in meta(alert, "rules")


def test_full_node_calls_are_a_node_sighting_of_the_daemon(scanned) -> None:
    events, _ = scanned
    node = [e for e in events if "Filecoin node" in e["alert"]["signature"]]
    assert [e["src_ip"] for e in node] == ["10.70.0.14"]  # the daemon, not the wallet
    (event,) = node
    assert event["alert"]["signature_id"] == 3950006
    assert event["alert"]["category"] == NODE_CATEGORY
    assert meta(event, "node_protocol") == ["filecoin-rpc"]
    assert meta(event, "node_network") == ["filecoin"]
    assert meta(event, "node_command") == ["ChainHead", "StateMinerInfo", "WalletBalance"]
    assert not [e for e in events if e["src_ip"] == "10.70.0.6"]  # the wallet: nothing
    # a miner's daemon is a node too, but the miner flow reports the farm, not a node
    assert not [e for e in events if e["src_ip"] == "10.70.0.10"]


def test_other_json_rpc_is_not_filecoin(scanned) -> None:
    events, _ = scanned
    for ip in ("10.70.0.4", "10.70.0.12"):
        assert not [e for e in events if ip in (e["src_ip"], e["dest_ip"])], ip
    # the eth_getBalance caller is an Ethereum wallet (tests/test_wallets.py), no more;
    assert not [e for e in events if e["src_ip"] == "10.70.0.13"]  # its node: nothing
    (wallet,) = [e for e in events if "10.70.0.5" in (e["src_ip"], e["dest_ip"])]
    assert meta(wallet, "node_role") == ["wallet"]
    assert meta(wallet, "node_protocol") == ["ethereum-rpc"]
    assert "filecoin" not in json.dumps(
        [e for e in events if e["src_ip"] not in ("10.70.0.2", "10.70.0.3", "10.70.0.14")]
    ).lower()


def test_the_table_shows_the_role(scanned) -> None:
    _, table = scanned
    rows = [line for line in table.splitlines() if "10.70.0." in line]
    farm = [row for row in rows if "10.70.0.2 " in row or "10.70.0.3 " in row]
    assert len(farm) == 2 and all("storage-farmer" in row for row in farm), table
    assert any("10.70.0.14" in row and "filecoin" in row for row in rows), table


def test_roles_from_dialects() -> None:
    assert role_of({"filecoin-rpc", "stratum-v1"}) == STORAGE_FARMER
    assert role_of({"gbt-http"}) == SOLO_MINER
    assert role_of({"gbt-http"}, pool_known=True) == POOL_MINER  # a pool serving getwork
    assert role_of({"stratum-v1", "getwork-http"}) == POOL_MINER
    assert role_of(set()) == POOL_MINER
