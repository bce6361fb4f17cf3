"""Wallets found from their cleartext calls, end to end through the CLI
(detector/dissect/wallets.py says what makes a wallet; signatures/rules/wallets.yaml).

One capture written here holds: an Electrum wallet on 50001 (address subscriptions, a
broadcast, the server's header pushes), two Electrum servers peering (version, features,
peers, headers: no wallet), an Ethereum wallet's account calls to a node's 8545, a getwork
miner on the same API (a miner, no wallet), monero-wallet's refresh and spend calls to
monerod's 18081 (binary and JSON), and XMRig solo mining against monerod (a miner).
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from detector.sinks.common import CATEGORY, NODE_CATEGORY
from detector.synth.clock import at
from detector.synth.conversation import Conversation, Talk
from detector.synth.http import http_req, http_resp
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import eve_errors, meta, run_cli

SCRIPTHASH = "8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"
XMR = "4" + "A" * 94  # a made-up Monero address (its shape is what counts)


def line(obj: dict) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def electrum(t: Talk, calls: list[tuple[str, list, object]], pushes: int = 0) -> None:
    """Newline-delimited JSON-RPC as Electrum clients and servers write it."""
    for n, (method, params, result) in enumerate(calls):
        t.c(line({"jsonrpc": "2.0", "method": method, "params": params, "id": n}))
        t.s(line({"jsonrpc": "2.0", "result": result, "id": n}))
    for _ in range(pushes):  # the server's notifications: no id
        t.s(line({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe",
                  "params": [{"hex": "00" * 80, "height": 870001}]}))  # fmt: skip


def electrum_wallet(t: Talk) -> None:
    electrum(t, [
        ("server.version", ["electrum/4.5.8", "1.4"], ["ElectrumX 1.16.0", "1.4"]),
        ("blockchain.headers.subscribe", [], {"hex": "00" * 80, "height": 870000}),
        ("blockchain.scripthash.subscribe", [SCRIPTHASH], None),
        ("blockchain.scripthash.get_history", [SCRIPTHASH], []),
        ("blockchain.transaction.broadcast", ["0200000001" + "ab" * 60], "cd" * 32),
    ], pushes=2)  # fmt: skip


def electrum_peers(t: Talk) -> None:
    """ElectrumX checking a peer: no address asked."""
    electrum(t, [
        ("server.version", ["ElectrumX 1.16.0", ["1.4", "1.4.2"]], ["ElectrumX 1.16.0", "1.4"]),
        ("server.features", [], {"genesis_hash": "00" * 32, "hosts": {}}),
        ("server.peers.subscribe", [], []),
        ("blockchain.headers.subscribe", [], {"hex": "00" * 80, "height": 870000}),
    ])  # fmt: skip


def post(t: Talk, host: str, path: str, body: bytes, reply: bytes, ctype: str) -> None:
    t.c(http_req("POST", path, [("Host", host), ("Content-Type", ctype),
                                ("Content-Length", str(len(body)))], body))  # fmt: skip
    t.s(http_resp("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(reply)))],
                  reply))  # fmt: skip


def rpc(t: Talk, host: str, path: str, calls: list[tuple[str, object, object]]) -> None:
    for n, (method, params, result) in enumerate(calls, 1):
        body = json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params})
        reply = json.dumps({"jsonrpc": "2.0", "id": n, "result": result})
        post(t, host, path, body.encode(), reply.encode(), "application/json")


def ethereum_wallet(t: Talk) -> None:
    account = "0x00000000219ab540356cbb839cbe05303d7705fa"
    rpc(t, "10.71.0.13:8545", "/", [
        ("eth_chainId", [], "0x1"),
        ("eth_getBalance", [account, "latest"], "0x1bc16d674ec80000"),
        ("eth_getTransactionCount", [account, "pending"], "0x4"),
        ("eth_estimateGas", [{"from": account, "to": account, "value": "0x1"}], "0x5208"),
        ("eth_sendRawTransaction", ["0x02f8" + "ab" * 100], "0x" + "cd" * 32),
    ])  # fmt: skip


def ethereum_getwork(t: Talk) -> None:
    """A solo GPU miner's getwork loop against the same kind of node."""
    work = ["0x" + "11" * 32, "0x" + "22" * 32, "0x" + "00" * 4 + "ff" * 28]
    rpc(t, "10.71.0.14:8545", "/", [
        ("eth_getWork", [], work),
        ("eth_getBalance", ["0x00000000219ab540356cbb839cbe05303d7705fa", "latest"], "0x0"),
        ("eth_submitWork", ["0x00000000deadbeef", "0x" + "11" * 32, "0x" + "33" * 32], True),
        ("eth_getWork", [], work),
    ])  # fmt: skip


def monero_wallet(t: Talk) -> None:
    """wallet2 refreshing (binary epee bodies) and spending against monerod."""
    epee = b"\x01\x11\x01\x01\x01\x01\x02\x01\x01" + b"\x00" * 40
    host = "10.71.0.15:18081"
    post(t, host, "/getblocks.bin", epee, epee * 4, "application/octet-stream")
    post(t, host, "/get_o_indexes.bin", epee, epee, "application/octet-stream")
    rpc(t, host, "/json_rpc", [("get_fee_estimate", {"grace_blocks": 10}, {"fee": 20000})])
    post(t, host, "/get_outs.bin", epee, epee * 2, "application/octet-stream")
    post(t, host, "/sendrawtransaction", b'{"tx_as_hex": "' + b"ab" * 50 + b'"}',
         b'{"status": "OK"}', "application/json")  # fmt: skip


def xmrig_solo(t: Talk) -> None:
    rpc(t, "10.71.0.16:18081", "/json_rpc", [
        ("get_info", None, {"height": 3200000}),
        ("getblocktemplate", {"wallet_address": XMR, "reserve_size": 60},
         {"blocktemplate_blob": "0e0e" + "00" * 70, "difficulty": 300000000000, "height": 3200000}),
    ])  # fmt: skip


# (client, server, server port, script)
SESSIONS = [
    ("10.71.0.2", "10.71.0.10", 50001, electrum_wallet),
    ("10.71.0.3", "10.71.0.11", 50001, electrum_peers),
    ("10.71.0.5", "10.71.0.13", 8545, ethereum_wallet),
    ("10.71.0.6", "10.71.0.14", 8545, ethereum_getwork),
    ("10.71.0.7", "10.71.0.15", 18081, monero_wallet),
    ("10.71.0.8", "10.71.0.16", 18081, xmrig_solo),
]
WALLETS = {"10.71.0.2": "electrum", "10.71.0.5": "ethereum-rpc", "10.71.0.7": "monero-rpc"}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> str:
    packets = []
    for n, (client, server, port, script) in enumerate(SESSIONS):
        base = at(n * 100.0)
        conv = Conversation((client, 42000 + n), (server, port), base, rtt=0.001)
        talk = Talk(conv, base, reply_gap=0.05)
        script(talk)
        conv.close(at(talk.t + 1, base))
        packets += conv.finish()
    path = tmp_path_factory.mktemp("wallets") / "wallets.pcap"
    path.write_bytes(pcap_bytes(frames(packets, Ethernet()), Ethernet.linktype))
    return str(path)


@pytest.fixture(scope="module")
def events(capture: str) -> list[dict]:
    scan = run_cli("scan", "-f", "jsonl", "-q", capture)
    assert scan.rc == 0 and "Traceback" not in scan.err, scan.err
    return [json.loads(line) for line in scan.out.splitlines()]


def test_every_line_validates(events) -> None:
    assert events
    for event in events:
        assert eve_errors(event) == [], event


def test_wallet_clients_are_wallet_sightings(events) -> None:
    sightings = {e["src_ip"]: e for e in events if meta(e, "node_role") == ["wallet"]}
    assert set(sightings) == set(WALLETS)  # the clients, never the servers
    for ip, protocol in WALLETS.items():
        event = sightings[ip]
        assert event["alert"]["category"] == NODE_CATEGORY  # informational, no suspect
        assert meta(event, "node_protocol") == [protocol]
    assert sightings["10.71.0.2"]["alert"]["signature_id"] == 3950300
    assert "blockchain.transaction.broadcast" in meta(sightings["10.71.0.2"], "node_command")
    assert sightings["10.71.0.5"]["alert"]["signature_id"] == 3950301
    assert meta(sightings["10.71.0.5"], "node_network") == ["ethereum"]
    assert sightings["10.71.0.7"]["alert"]["signature_id"] == 3950302
    assert {"/get_outs.bin", "get_fee_estimate"} <= set(
        meta(sightings["10.71.0.7"], "node_command")
    )


def test_no_wallet_where_none_is(events) -> None:
    for ip in ("10.71.0.3", "10.71.0.11", "10.71.0.10", "10.71.0.13", "10.71.0.15"):
        assert not [e for e in events if e["src_ip"] == ip], ip  # peering servers, servers
    miners = {e["src_ip"]: e for e in events if e["alert"]["category"] == CATEGORY}
    assert set(miners) == {"10.71.0.6", "10.71.0.8"}  # the getwork and XMRig solo miners
    assert all(meta(m, "mining_role") == ["solo-miner"] for m in miners.values())
    assert not [e for e in events if e["src_ip"] in miners and meta(e, "node_role")]


def test_csv_and_table_say_wallet_and_policy_keeps_them_sightings(capture: str) -> None:
    # the site's policy makes node hosts suspects: wallets stay sightings all the same
    out = run_cli("scan", "-f", "csv", "-q", "--nodes-as-suspects", capture)
    assert out.rc == 0, out.err
    rows = list(csv.DictReader(io.StringIO(out.out)))
    wallets = {r["src_ip"]: r for r in rows if r["role"] == "wallet"}
    assert set(wallets) == set(WALLETS)
    assert all(r["event"] == "wallet" and r["score"] == "" for r in wallets.values())
    assert {r["dialects"] for r in wallets.values()} == set(WALLETS.values())
    alerts = {r["src_ip"] for r in rows if r["event"] == "alert"}
    assert alerts == {"10.71.0.6", "10.71.0.8"}  # a wallet is never a suspect
    table = run_cli("scan", "-q", capture)
    assert table.rc == 0, table.err
    rows = [r for r in table.out.splitlines() if "10.71.0.2 " in r]
    assert rows and "wallet" in rows[0] and "electrum" in rows[0], table.out


def test_methods_classify_does_not_ask_about_are_no_wallet_calls() -> None:
    """mining.NOT_WALLET - the methods classify does not hand to wallets.record_request -
    holds the miners' common requests and no method a wallet call can be, whatever the
    URI it is sent to."""
    from detector.dissect import mining, wallets

    assert {"mining.submit", "mining.subscribe", "login", "submit", "eth_submitWork"} <= (
        mining.NOT_WALLET
    )
    known = (
        *wallets.MONERO_WALLET_METHODS,
        *wallets.ETHEREUM_WALLET,
        "blockchain.scripthash.subscribe",
        "blockchain.transaction.broadcast",
    )
    assert not mining.NOT_WALLET & set(known)
    for method in mining.NOT_WALLET:
        for uri in ("", "/", "/json_rpc", "/json_rpc/", "/json_rpc?x=1", "/api"):
            assert wallets.wallet_protocol(method, uri) is None, (method, uri)


def test_record_path_marks_every_wallet_path_past_its_prefix_test() -> None:
    """record_path looks a URI up only if it starts like one of monerod's wallet paths
    (MONERO_WALLET_PATH_STARTS): every path still marks the flow, with or without a
    query, and a URI that only shares a prefix does not."""
    from detector.dissect import wallets
    from detector.facts import new_facts

    for path in wallets.MONERO_WALLET_PATHS:
        for uri in (path, path + "?x=1"):
            facts = new_facts()
            wallets.record_path(uri, 0, facts)
            assert facts.node.get("protocol") == wallets.MONERO_RPC, uri
            assert path in facts.node["commands"], uri
    for uri in ("/", "/index.html", next(iter(wallets.MONERO_WALLET_PATHS)) + "x"):
        facts = new_facts()
        wallets.record_path(uri, 0, facts)
        assert not facts.node, uri
