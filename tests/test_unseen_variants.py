"""Real mining clients' message variants that no shipped fixture shows, end to end.

Each case below is one TCP connection written as its real client and server write it:
message names, parameter shapes, id types, key order and spacing were read from the
software's own source (named in each case's ``source``), the values are made up. The
cases cover dialects the fixtures do not (EthereumStratum/2.0.0, Kaspa, Kadena, Ergo, Iron
Fish, Alephium, Grin, Beam, XMRig self-select and DERO daemon mode), real shapes inside
known dialects (ethminer's three Ethereum modes, kawpow, bfgminer's capabilities, eth-proxy
boundaries without leading zeros), captures that start mid-session or see one direction
only, and miners behind SOCKS5 and HTTP CONNECT proxies. Hard negatives are real
non-mining JSON-RPC software that looks alike on the wire (Electrum, the Ethereum Engine
API, filter polling, WebSocket subscriptions, LSP, Kodi, XRPL, Monero and Grin wallets,
the Beam wallet API).

Every capture is written with :mod:`detector.synth` into a temporary directory and the whole
directory is scanned by one ``minewatch scan -f jsonl`` run, as a user would; each case
then checks that its client is a suspect with the expected dialect, or is not a suspect.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from detector.dissect.base import Probe
from detector.dissect.jsonlines import JsonLines
from detector.facts import FlowFacts
from detector.synth import tunnels
from detector.synth.chain import HexStream, eth_address, monero_address, raptoreum_address
from detector.synth.clock import at
from detector.synth.conversation import Conversation
from detector.synth.dialects import beam, grin
from detector.synth.http import http_req, http_resp
from detector.synth.lines import jc, js, ln
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import meta, run_cli

# --- a small scripting layer over detector.synth ---------------------------------------


class Talk:
    """One scripted TCP connection: every send advances a clock, so replies always come
    well after the request they answer (the Conversation's ACK model needs at least one RTT)."""

    def __init__(self, conv: Conversation, base: int) -> None:
        self.conv = conv
        self.base = base
        self.t = 0.05

    def c(self, data: bytes, gap: float = 0.2, **kw: Any) -> None:
        self.t += gap
        self.conv.client_send(data, at(self.t, self.base), **kw)

    def s(self, data: bytes, gap: float = 0.2, **kw: Any) -> None:
        self.t += gap
        self.conv.server_send(data, at(self.t, self.base), **kw)

    def wait(self, seconds: float) -> None:
        self.t += seconds


@dataclass(frozen=True)
class Case:
    """One connection. ``dialect`` None means a hard negative: no suspect allowed."""

    name: str
    client: str
    server: tuple[str, int]
    dialect: str | None
    source: str  # repository and file the message format was read from
    script: Callable[[Talk], None]
    handshake: bool = True  # False: the capture starts in the middle of the session
    one_way: bool = False  # only the client's packets were captured (asymmetric routing)
    coin: str | None = None  # checked when the variant pins the coin down


class _Bytes:
    """Reproducible random bytes, restarted for every case so that each capture depends
    only on its own script (and building a case twice gives the same bytes)."""

    def __init__(self) -> None:
        self.stream = HexStream("unseen-variants")

    def restart(self, label: str) -> None:
        self.stream = HexStream("unseen-variants:" + label)

    def bytes(self, n: int) -> bytes:
        return self.stream.bytes(n)

    def hex(self, n: int) -> str:
        return self.stream.hex(n)


H = _Bytes()
XMR = monero_address(HexStream("unseen-xmr-wallet"))
XMR_POOL = monero_address(HexStream("unseen-xmr-pool-wallet"))
ETH = eth_address(HexStream("unseen-eth-wallet"))
RVN = raptoreum_address(HexStream("unseen-rvn-wallet"))  # version byte 60: also 'R...'
KAS = "kaspa:qr" + "".join("qpzry9x8gf2tvdw0s3jn54khce6mua7l"[b % 32] for b in H.bytes(59))
DERO = "dero1qy" + "".join("qpzry9x8gf2tvdw0s3jn54khce6mua7l"[b % 32] for b in H.bytes(59))
XMRIG_AGENT = "XMRig/6.22.2 (Linux x86_64) libuv/1.48.0 gcc/13.2.1"


def hx(n: int) -> str:
    """``n`` reproducible random bytes as hex."""
    return H.hex(n)


def target_hex(zero_bytes: int) -> str:
    """A 32-byte share target with ``zero_bytes`` leading zero bytes."""
    return "00" * zero_bytes + hx(32 - zero_bytes)


def tail_of(line: bytes, keep: int = 40) -> bytes:
    """The end of a message, as a capture that starts inside it sees it."""
    return line[-keep:]


# --- CryptoNote: XMRig self-select, XMRig daemon mode (DERO), SOCKS5 -------------------


def xmrig_self_select(t: Talk) -> None:
    # login gets "mode": "self-select" (SelfSelectClient::onLogin); the pool's jobs carry
    # extra_nonce + pool_wallet instead of a blob (Client::parseJob, MODE_SELF_SELECT); the
    # miner fetches a template from its own daemon and reports it with "block_template".
    t.c(jc({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
        "login": XMR, "pass": "x", "agent": XMRIG_AGENT, "rigid": "ss-1",
        "algo": ["rx/0", "cn/r", "cn/2", "rx/wow", "argon2/chukwav2"], "mode": "self-select"}}))
    t.s(jc({"id": 1, "jsonrpc": "2.0", "error": None, "result": {
        "id": "8c7aa1d1", "job": {"job_id": "530117", "target": "e4a63d00", "extra_nonce": "1f02a9e3",
                                  "pool_wallet": XMR_POOL, "height": 3311040, "algo": "rx/0"},
        "extensions": ["algo", "keepalive"], "status": "OK"}}))
    t.c(jc({"id": 2, "jsonrpc": "2.0", "method": "block_template", "params": {
        "id": "8c7aa1d1", "job_id": "530117", "blob": "1010" + hx(70), "height": 3311040,
        "difficulty": 362812540419, "prev_hash": hx(32), "seed_hash": hx(32), "next_seed_hash": ""}}))
    t.s(jc({"id": 2, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}))
    t.wait(61)
    t.s(jc({"jsonrpc": "2.0", "method": "job", "params": {
        "job_id": "530118", "target": "e4a63d00", "extra_nonce": "1f02a9e4", "pool_wallet": XMR_POOL,
        "height": 3311041, "algo": "rx/0"}}))
    t.c(jc({"id": 3, "jsonrpc": "2.0", "method": "block_template", "params": {
        "id": "8c7aa1d1", "job_id": "530118", "blob": "1010" + hx(70), "height": 3311041,
        "difficulty": 362901771233, "prev_hash": hx(32), "seed_hash": hx(32), "next_seed_hash": ""}}))
    t.s(jc({"id": 3, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}))


def xmrig_self_select_midsession(t: Talk) -> None:
    # The pool's self-select job pushes alone (no login seen), each followed by the miner's
    # block_template report.
    push = jc({"jsonrpc": "2.0", "method": "job", "params": {
        "job_id": "771203", "target": "b88d0600", "extra_nonce": "0c6e11a0", "pool_wallet": XMR_POOL,
        "height": 3311102, "algo": "rx/0"}})
    t.s(tail_of(push))
    for i in range(3):
        t.wait(75)
        t.s(jc({"jsonrpc": "2.0", "method": "job", "params": {
            "job_id": str(771204 + i), "target": "b88d0600", "extra_nonce": hx(4),
            "pool_wallet": XMR_POOL, "height": 3311103 + i, "algo": "rx/0"}}))
        t.c(jc({"id": 40 + i, "jsonrpc": "2.0", "method": "block_template", "params": {
            "id": "0d1e2f30", "job_id": str(771204 + i), "blob": "1010" + hx(70),
            "height": 3311103 + i, "difficulty": 363000000000 + i, "prev_hash": hx(32),
            "seed_hash": hx(32), "next_seed_hash": ""}}))


def dero_daemon_http(t: Talk) -> None:
    # DaemonClient::getBlockTemplate with API_DERO: {wallet_address, reserve_size}; the
    # answer carries blocktemplate_blob + blockhashing_blob + reserved_offset; a found block
    # goes back as submitblock [blocktemplate, blockhashing_blob].
    host = [("Host", "10.20.0.9:10102"), ("Content-Type", "application/json")]
    body = json.dumps({"id": 1, "jsonrpc": "2.0", "method": "getblocktemplate",
                       "params": {"wallet_address": DERO, "reserve_size": 8}},
                      separators=(",", ":")).encode()
    t.c(http_req("POST", "/json_rpc", [*host, ("Content-Length", str(len(body)))], body))
    result = json.dumps({"id": 1, "jsonrpc": "2.0", "result": {
        "blockhashing_blob": hx(76), "blocktemplate_blob": hx(180), "difficulty": 231874,
        "height": 3102201, "prev_hash": hx(32), "reserved_offset": 36, "epoch": 1700000000,
        "status": "OK"}}).encode()
    t.s(http_resp("200 OK", [("Content-Type", "application/json"),
                             ("Content-Length", str(len(result)))], result))
    t.wait(9)
    body = json.dumps({"id": 2, "jsonrpc": "2.0", "method": "submitblock",
                       "params": [hx(180), hx(76)]}, separators=(",", ":")).encode()
    t.c(http_req("POST", "/json_rpc", [*host, ("Content-Length", str(len(body)))], body))
    result = json.dumps({"id": 2, "jsonrpc": "2.0", "result": {
        "blid": hx(32), "status": "OK"}}).encode()
    t.s(http_resp("200 OK", [("Content-Type", "application/json"),
                             ("Content-Length", str(len(result)))], result))


def xmrig_socks5(t: Talk) -> None:
    # Client::Socks5: greeting 05 01 00, method choice 05 00, CONNECT by domain (atyp 3),
    # a 10-byte reply, then the ordinary XMRig login on the same connection.
    t.c(tunnels.SOCKS5_GREETING)
    t.s(tunnels.SOCKS5_NO_AUTH)
    t.c(tunnels.socks5_connect("pool.hashvault.example", 3333))
    t.s(tunnels.socks5_reply("10.9.8.7", 3333))
    t.c(jc({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
        "login": XMR, "pass": "x", "agent": XMRIG_AGENT, "algo": ["rx/0", "cn/r", "rx/wow"]}}))
    t.s(jc({"id": 1, "jsonrpc": "2.0", "error": None, "result": {
        "id": "5f3e2d1c", "job": {"blob": "1010" + hx(72), "job_id": "99131", "target": "b88d0600",
                                  "algo": "rx/0", "height": 3311200, "seed_hash": hx(32)},
        "extensions": ["algo", "keepalive"], "status": "OK"}}))
    t.wait(70)
    t.c(jc({"id": 2, "jsonrpc": "2.0", "method": "submit", "params": {
        "id": "5f3e2d1c", "job_id": "99131", "nonce": hx(4), "result": hx(32), "algo": "rx/0"}}))
    t.s(jc({"id": 2, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}))


# --- Stratum v1 family: kawpow, bfgminer, cgminer via proxy, Zcash, Ergo, Kadena -------


def xmrig_kawpow(t: Talk) -> None:
    # EthStratumClient: subscribe [agent], authorize [user, pass]; notify for kawpow is
    # [job, header, seed, target, clean, height (a number), bits]; submit is
    # [user, job, 0x-nonce(16), 0x-header, 0x-mix].
    t.c(jc({"id": 1, "jsonrpc": "2.0", "method": "mining.subscribe", "params": [XMRIG_AGENT]}))
    t.c(jc({"id": 2, "jsonrpc": "2.0", "method": "mining.authorize", "params": [RVN + ".rig2", "x"]}),
        gap=0.001)
    t.s(jc({"id": 1, "jsonrpc": "2.0", "result": [None, "6f3e"], "error": None}))
    t.s(jc({"id": 2, "jsonrpc": "2.0", "result": True, "error": None}), gap=0.01)
    t.s(jc({"id": None, "method": "mining.set_target", "params": [target_hex(4)]}), gap=0.01)
    header, seed = hx(32), hx(32)
    t.s(jc({"id": None, "method": "mining.notify",
            "params": ["1c2f", header, seed, target_hex(4), True, 3400123, "1b01c2f3"]}), gap=0.01)
    t.wait(40)
    t.c(jc({"id": 3, "jsonrpc": "2.0", "method": "mining.submit",
            "params": [RVN + ".rig2", "1c2f", "0x" + hx(8), "0x" + header, "0x" + hx(32)]}))
    t.s(jc({"id": 3, "jsonrpc": "2.0", "result": True, "error": None}))


def kawpow_midsession(t: Talk) -> None:
    # The pool side of the same protocol, caught mid-way: target and job pushes only.
    first = jc({"id": None, "method": "mining.notify",
                "params": ["1c30", hx(32), hx(32), target_hex(4), True, 3400124, "1b01c2f3"]})
    t.s(tail_of(first))
    for i in range(3):
        t.wait(30)
        t.s(jc({"id": None, "method": "mining.set_target", "params": [target_hex(4)]}) +
            jc({"id": None, "method": "mining.notify",
                "params": [f"1c3{i + 1}", hx(32), hx(32), target_hex(4), i == 0, 3400125 + i,
                           "1b01c2f3"]}))


def bfgminer_capabilities(t: Talk) -> None:
    # initiate_stratum: mining.capabilities with "id": null before subscribing, a resuming
    # subscribe [agent, session id], authorize with the string id "auth" and the
    # extranonce subscription with id "xnsub"; the pool pushes client.show_message.
    t.c(ln('{"id":null,"method":"mining.capabilities","params":[{"notify":[],"set_difficulty":{},"set_goal":[],"malgo":{"SHA256d":{}}}]}'))
    t.c(ln('{"id": 0, "method": "mining.subscribe", "params": ["bfgminer/5.5.0", "0d0e4c1a"]}'), gap=0.01)
    t.s(jc({"id": 0, "result": [[["mining.notify", "0d0e4c1a"]], "0d0e4c1a", 4], "error": None}))
    t.c(ln('{"id": "xnsub", "method": "mining.extranonce.subscribe", "params": []}'))
    t.c(ln('{"id": "auth", "method": "mining.authorize", "params": ["acme.s19-07", "x"]}'), gap=0.01)
    t.s(jc({"id": "xnsub", "result": True, "error": None}))
    t.s(jc({"id": None, "method": "client.show_message", "params": ["Welcome to the pool"]}), gap=0.01)
    t.s(jc({"id": None, "method": "mining.set_difficulty", "params": [8192]}), gap=0.01)
    t.s(jc({"id": "auth", "result": True, "error": None}), gap=0.01)


def cgminer_http_connect(t: Talk) -> None:
    # util.c http_negotiate: "CONNECT host:port HTTP/1.1" + Host, the proxy's "HTTP/1.1
    # 200", then Stratum v1 through the tunnel.
    t.c(tunnels.http_connect("stratum.slushpool.example", 3333))
    t.s(tunnels.HTTP_CONNECT_OK)
    t.c(ln('{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.12.1"]}'))
    t.s(jc({"id": 1, "result": [[["mining.set_difficulty", "1"], ["mining.notify", "a7c3"]],
                                "a7c30001", 4], "error": None}))
    t.c(ln('{"id": 2, "method": "mining.authorize", "params": ["acme.worker9", "x"]}'))
    t.s(jc({"id": 2, "result": True, "error": None}))
    t.s(jc({"id": None, "method": "mining.set_difficulty", "params": [65536]}), gap=0.01)
    t.s(jc({"params": ["4f1", hx(32), "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2003", "0a2f736c7573682f0000000001", [hx(32), hx(32)], "20000000", "1703a30c", "65a1b2c3", True],
            "id": None, "method": "mining.notify"}), gap=0.01)
    t.wait(45)
    t.c(ln('{"params": ["acme.worker9", "4f1", "00000001", "65a1b2e0", "9e11a05b"], "id": 4, "method": "mining.submit"}'))
    t.s(jc({"id": 4, "result": True, "error": None}))


def cgminer_socks4a(t: Talk) -> None:
    # util.c socks4_negotiate: 04 01 port, IP 0.0.0.1 and the user id "CGMINER" (SOCKS4a),
    # then the pool's name; the proxy grants with 00 5a; Stratum follows.
    t.c(tunnels.socks4a_connect("stratum.antpool.example", 3333, "CGMINER"))
    t.s(tunnels.socks4_granted(3333))
    t.c(ln('{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.12.1"]}'))
    t.s(jc({"id": 1, "result": [[["mining.notify", "b91e"]], "b91e0002", 4], "error": None}))
    t.c(ln('{"id": 2, "method": "mining.authorize", "params": ["acme.worker10", "x"]}'))
    t.s(jc({"id": 2, "result": True, "error": None}))
    t.s(jc({"id": None, "method": "mining.set_difficulty", "params": [32768]}), gap=0.01)


def zcash_midsession(t: Talk) -> None:
    # ZIP 301: mining.set_target, an 8-parameter notify and a submit carrying the
    # 1344-byte Equihash solution (with its compact-size prefix) - longer than one segment.
    first = jc({"id": None, "method": "mining.notify",
                "params": ["a1f", "04000000", hx(32), hx(32), hx(32), "65a1b2c3", "1c0a1b2c", True]})
    t.s(tail_of(first))
    t.wait(20)
    t.s(jc({"id": None, "method": "mining.set_target", "params": [target_hex(3)]}))
    t.s(jc({"id": None, "method": "mining.notify",
            "params": ["a20", "04000000", hx(32), hx(32), hx(32), "65a1b2d0", "1c0a1b2c", True]}))
    t.wait(50)
    t.c(jc({"id": 7, "method": "mining.submit",
            "params": ["t1Kd8xeA4TvvE1Zaq3xfLxFrcxFjTHoXvDn.z1", "a20", "65a1b2d0", hx(28),
                       "fd4005" + hx(1344)]}))
    t.s(jc({"id": 7, "result": True, "error": None}))


def ergo_midsession(t: Talk) -> None:
    # ErgoJob.GetJobParams: [job, height (number), msg, "", "", version (number), b (the
    # block target, a JSON integer far beyond 64 bits), "", clean].
    b = 28948022309329048855892746252171976963317496166410141009864396001978282409984
    first = jc({"id": None, "method": "mining.notify",
                "params": ["3b1", 1212001, hx(32), "", "", 2, b, "", True]})
    t.s(tail_of(first))
    t.wait(30)
    t.s(jc({"id": None, "method": "mining.set_difficulty", "params": [12]}))
    for i in range(2):
        t.wait(40)
        t.s(jc({"id": None, "method": "mining.notify",
                "params": [f"3b{2 + i}", 1212002 + i, hx(32), "", "", 2, b, "", False]}))
    t.c(jc({"id": 9, "method": "mining.submit",
            "params": ["9fRusAarL1KkrWQVsxSRVYnvWxaAT2A96cKtNn9tvPh5XUyCisr.rig", "3b3", "0a1b2c3d", "", "7c1e0a1b0a1b2c3d"]}))


def kadena_full(t: Talk) -> None:
    # chainweb-mining-client Worker/Stratum/Protocol.hs: subscribe result [null, nonce1,
    # nonce2 size], set_target [target], notify [job, 286-byte header, clean], submit
    # [user.worker, job, nonce2].
    t.c(jc({"id": 1, "method": "mining.subscribe", "params": ["bzminer/v21.0"]}))
    t.s(jc({"id": 1, "result": [None, "a331", 6], "error": None}))
    user = hx(32) + ".rig1"
    t.c(jc({"id": 2, "method": "mining.authorize", "params": [user, "x"]}))
    t.s(jc({"id": 2, "result": True, "error": None}))
    t.s(jc({"id": None, "method": "mining.set_target", "params": [target_hex(5)]}), gap=0.01)
    t.s(jc({"id": None, "method": "mining.notify", "params": ["41", hx(286), True]}), gap=0.01)
    for i in range(3):
        t.wait(1.5)
        t.s(jc({"id": None, "method": "mining.notify", "params": [str(42 + i), hx(286), False]}))
    t.c(jc({"id": 102, "method": "mining.submit", "params": [user, "44", "6789abcdef0a"]}))
    t.s(jc({"id": 102, "result": True, "error": None}))


def kadena_midsession(t: Talk) -> None:
    first = jc({"id": None, "method": "mining.notify", "params": ["77", hx(286), True]})
    t.s(tail_of(first))
    t.s(jc({"id": None, "method": "mining.set_target", "params": [target_hex(5)]}))
    for i in range(4):
        t.wait(1.2)
        t.s(jc({"id": None, "method": "mining.notify", "params": [str(78 + i), hx(286), i == 2]}))


# --- Kaspa (kHeavyHash) ---------------------------------------------------------------


def kaspa_bridge_bzminer(t: Talk) -> None:
    # kaspa-stratum-bridge: subscribe answered [true, "EthereumStratum/1.0.0"], the
    # extranonce as "set_extranonce", and - for BzMiner - the "big job" notify [job id,
    # 80 hex digits]; the notify's own id is the job number. Submit [addr.worker, job, 0x-nonce].
    t.c(jc({"id": 1, "jsonrpc": "2.0", "method": "mining.subscribe",
            "params": ["BzMiner-v21.0.3", "EthereumStratum/1.0.0"]}))
    t.s(jc({"id": 1, "jsonrpc": "2.0", "result": [True, "EthereumStratum/1.0.0"], "error": None}))
    t.c(jc({"id": 2, "jsonrpc": "2.0", "method": "mining.authorize", "params": [KAS + ".ks0", "x"]}))
    t.s(jc({"id": 2, "jsonrpc": "2.0", "result": True, "error": None}))
    t.s(jc({"jsonrpc": "2.0", "method": "set_extranonce", "params": ["0f3a"], "id": None}), gap=0.01)
    t.s(jc({"jsonrpc": "2.0", "method": "mining.set_difficulty", "params": [4096.0], "id": None}), gap=0.01)
    for i in range(3):
        t.s(jc({"jsonrpc": "2.0", "method": "mining.notify", "id": 31 + i,
                "params": [str(31 + i), hx(40)]}), gap=1.0)
    t.c(jc({"id": 3, "jsonrpc": "2.0", "method": "mining.submit",
            "params": [KAS + ".ks0", "33", "0x" + hx(8)]}))
    t.s(jc({"id": 3, "jsonrpc": "2.0", "result": True, "error": None}))


def kaspa_nicehash_lolminer(t: Talk) -> None:
    # NiceHash kHeavyHash: the subscribe is answered by a "set_extranonce" message that
    # reuses the subscribe's id; the bridge's normal notify carries the header as four
    # 64-bit integers and the timestamp as a number.
    t.c(jc({"id": 1, "method": "mining.subscribe", "params": ["lolMiner 1.76"]}))
    t.s(jc({"id": 1, "method": "set_extranonce", "params": ["0029", 6]}))
    t.c(jc({"id": 2, "method": "mining.authorize", "params": ["3Hq1Ds2Dj8VMS1L5mRkHvGJ3xbt5N6FQyD.r9", "x"]}))
    t.s(jc({"id": 2, "result": True, "error": None}))
    t.s(jc({"id": None, "method": "mining.set_difficulty", "params": [2048]}), gap=0.01)
    for i in range(3):
        words = [int.from_bytes(H.bytes(8), "little") for _ in range(4)]
        t.s(jc({"id": 90 + i, "method": "mining.notify",
                "params": [str(90 + i), words, 1767607200123 + i * 1000]}), gap=1.0)
    t.c(jc({"id": 3, "method": "mining.submit",
            "params": ["3Hq1Ds2Dj8VMS1L5mRkHvGJ3xbt5N6FQyD.r9", "92", "0x0029" + hx(6)]}))
    t.s(jc({"id": 3, "result": True, "error": None}))


def kaspa_midsession(t: Talk) -> None:
    first = jc({"id": 500, "jsonrpc": "2.0", "method": "mining.notify",
                "params": ["500", [1, 2, 3, 4], 1767607200000]})
    t.s(tail_of(first))
    for i in range(4):
        words = [int.from_bytes(H.bytes(8), "little") for _ in range(4)]
        t.s(jc({"id": 501 + i, "jsonrpc": "2.0", "method": "mining.notify",
                "params": [str(501 + i), words, 1767607201000 + i * 1000]}), gap=1.0)


def kaspa_bigjob_midsession(t: Talk) -> None:
    first = jc({"id": 700, "jsonrpc": "2.0", "method": "mining.notify", "params": ["700", hx(40)]})
    t.s(tail_of(first))
    for i in range(4):
        t.s(jc({"id": 701 + i, "jsonrpc": "2.0", "method": "mining.notify",
                "params": [str(701 + i), hx(40)]}), gap=1.0)


# --- Ethereum: ethminer's modes, eth-proxy pushes, NiceHash mid-session -----------------


def ethminer_stratum(t: Talk) -> None:
    # ethminer STRATUM mode (stratum+tcp://): subscribe [] with "jsonrpc", notify
    # [job, header, seed, target], submit [user, job, 0x-nonce, 0x-header, 0x-mix] with a
    # "worker" key, hashrate through eth_submitHashrate.
    t.c(ln('{"id":1,"jsonrpc":"2.0","method":"mining.subscribe","params":[]}'))
    t.s(jc({"id": 1, "jsonrpc": "2.0", "result": True}))
    t.c(jc({"id": 3, "jsonrpc": "2.0", "method": "mining.authorize", "params": [ETH + ".rig3", "x"]}))
    t.s(jc({"id": 3, "jsonrpc": "2.0", "result": True}))
    header = "0x" + hx(32)
    t.s(jc({"id": 0, "jsonrpc": "2.0", "method": "mining.notify",
            "params": ["0x" + hx(32), header, "0x" + hx(32), "0x" + target_hex(4)]}), gap=0.01)
    t.wait(30)
    t.c(jc({"id": 40, "jsonrpc": "2.0", "method": "mining.submit", "worker": "rig3",
            "params": [ETH, "0x" + hx(32), "0x" + hx(8), header, "0x" + hx(32)]}))
    t.s(jc({"id": 40, "jsonrpc": "2.0", "result": True}))
    t.c(jc({"id": 9, "jsonrpc": "2.0", "method": "eth_submitHashrate", "worker": "rig3",
            "params": ["0x" + "0" * 24 + "0000000004c4b400", "0x" + hx(32)]}))


def ethminer_ethereumstratum2(t: Talk) -> None:
    # ethminer ETHEREUMSTRATUM2 (EthereumStratum/2.0.0): mining.hello {agent, host, port,
    # proto}, string session and worker ids, mining.set {epoch, target, algo, extranonce},
    # notify [job, block height (hex), header, "0"], submit [job, nonce, worker id], and
    # mining.hashrate [rate (hex), worker id].
    t.c(jc({"id": 1, "method": "mining.hello", "params": {
        "agent": "ethminer-0.19.0", "host": "eth.pool.example", "port": "d05", "proto": "EthereumStratum/2.0.0"}}))
    t.s(jc({"id": 1, "result": {"proto": "EthereumStratum/2.0.0", "encoding": "plain", "resume": "1",
                                "timeout": "b4", "maxerrors": "5", "node": "Geth/v1.10.x"}}))
    t.c(jc({"id": 2, "method": "mining.subscribe", "params": []}))
    t.s(jc({"id": 2, "result": "s-12345"}))
    t.c(jc({"id": 3, "method": "mining.authorize", "params": [ETH + ".rig4", "x"]}))
    t.s(jc({"id": 3, "result": "w-123"}))
    t.s(jc({"method": "mining.set", "params": {"epoch": "dc", "target": target_hex(4)[:58],
                                                "algo": "ethash", "extranonce": "af4c"}}), gap=0.01)
    t.s(jc({"method": "mining.notify", "params": ["bf0488aa", "6526d5", hx(32), "0"]}), gap=0.01)
    t.wait(30)
    t.c(jc({"id": 40, "method": "mining.submit", "params": ["bf0488aa", hx(6), "w-123"]}))
    t.s(jc({"id": 40, "result": True}))
    t.c(jc({"id": 9, "method": "mining.hashrate", "params": ["4c4b400", "w-123"]}))


def ethminer_ethproxy_nanopool(t: Talk) -> None:
    # ethminer ETHPROXY against a pool that pushes work as "mining.notify" params
    # (EthStratumClient.cpp: "Workaround for Nanopool wrong implementation").
    t.c(ln('{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","params":["' + ETH + '","x"],"worker":"rig5"}'))
    t.s(jc({"id": 1, "jsonrpc": "2.0", "result": True}))
    t.c(ln('{"id":5,"jsonrpc":"2.0","method":"eth_getWork","params":[]}'))
    t.s(jc({"id": 5, "jsonrpc": "2.0", "result": ["0x" + hx(32), "0x" + hx(32), "0x" + target_hex(4)]}))
    for _ in range(3):
        t.wait(14)
        t.s(jc({"id": 0, "jsonrpc": "2.0", "method": "mining.notify",
                "params": ["0x" + hx(4), "0x" + hx(32), "0x" + hx(32), "0x" + target_hex(4)]}))
    t.c(ln('{"id":40,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x' + hx(8) + '","0x' + hx(32) + '","0x' + hx(32) + '"],"worker":"rig5"}'))
    t.s(jc({"id": 40, "jsonrpc": "2.0", "result": True}))


def ethproxy_short_boundary_midsession(t: Talk) -> None:
    # eth-proxy work pushes whose share boundary lost its leading zeros (ethminer pads it
    # back: "coinmine.pl fix"), caught mid-session; the 4th item is the block number.
    first = jc({"id": 0, "jsonrpc": "2.0", "result": ["0x" + hx(32), "0x" + hx(32), "0x112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba"]})
    t.s(tail_of(first))
    for i in range(3):
        t.wait(12)
        t.s(jc({"id": 0, "jsonrpc": "2.0",
                "result": ["0x" + hx(32), "0x" + hx(32), "0x112e0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba", hex(19800000 + i)]}))


def nicehash_es1_midsession(t: Talk) -> None:
    # EthereumStratum/1.0.0 spec: extranonce change, difficulty, notify [job, seed,
    # header, clean] and a submit [user, job, miner nonce] - no handshake in the capture.
    first = jc({"id": None, "method": "mining.notify", "params": ["bf0488a9", hx(32), hx(32), True]})
    t.s(tail_of(first))
    t.s(jc({"id": None, "method": "mining.set_extranonce", "params": ["af4c"]}))
    t.s(jc({"id": None, "method": "mining.set_difficulty", "params": [0.5]}), gap=0.01)
    seed = hx(32)
    for i in range(2):
        t.wait(20)
        t.s(jc({"id": None, "method": "mining.notify", "params": [f"bf0488b{i}", seed, hx(32), True]}))
    t.c(jc({"id": 244, "method": "mining.submit", "params": ["acme.rig7", "bf0488b1", "6a909d9bbc0f"]}))
    t.s(jc({"id": 244, "result": True, "error": None}))


# --- Iron Fish, Alephium --------------------------------------------------------------


def ironfish_lolminer(t: Talk) -> None:
    # Iron Fish stratum (messages.ts; NiceHash FishHash spec): parameters travel in "body",
    # not "params"; subscribe {version, agent, publicAddress}, server mining.subscribed,
    # set_target {target}, notify {miningRequestId, header}, submit {miningRequestId, randomness}.
    address = hx(32)
    t.c(jc({"id": 0, "method": "mining.subscribe", "body": {
        "version": 3, "agent": "lolMiner/1.85beta", "publicAddress": address + ".rig6", "extend": ["mining.submitted"]}}))
    t.s(jc({"id": 0, "method": "mining.subscribed", "body": {"clientId": 7, "xn": "64da"}}))
    t.s(jc({"id": 1, "method": "mining.set_target", "body": {"target": target_hex(4)}}), gap=0.01)
    t.s(jc({"id": 2, "method": "mining.notify", "body": {"miningRequestId": 1201, "header": hx(180)}}), gap=0.01)
    t.wait(25)
    t.c(jc({"id": 1, "method": "mining.submit", "body": {"miningRequestId": 1201, "randomness": hx(8)}}))
    t.s(jc({"id": 3, "method": "mining.submitted", "body": {"id": 1, "result": True}}))


def ironfish_midsession(t: Talk) -> None:
    first = jc({"id": 9, "method": "mining.notify", "body": {"miningRequestId": 1300, "header": hx(180)}})
    t.s(tail_of(first))
    t.s(jc({"id": 10, "method": "mining.set_target", "body": {"target": target_hex(4)}}))
    for i in range(3):
        t.wait(20)
        t.s(jc({"id": 11 + i, "method": "mining.notify",
                "body": {"miningRequestId": 1301 + i, "header": hx(180)}}))


def alephium_pool(t: Talk) -> None:
    # alephium/mining-pool lib/stratum.js: the pool speaks first (difficulty, then one
    # notify whose params are the block templates of all 16 chains); submit params are an
    # object; the answer is a "mining.submit_result" message carrying the result.
    t.s(jc({"id": None, "method": "mining.set_difficulty", "params": [1.0]}))
    templates = [{"jobId": hx(4), "fromGroup": i // 4, "toGroup": i % 4, "headerBlob": hx(160),
                  "txsBlob": hx(40), "targetBlob": target_hex(3)} for i in range(16)]
    t.s(jc({"id": None, "method": "mining.notify", "params": templates}), gap=0.01)
    t.wait(8)
    t.c(jc({"id": None, "method": "mining.submit", "params": {
        "jobId": templates[5]["jobId"], "fromGroup": 1, "toGroup": 1, "nonce": hx(24), "worker": "1AujpupFP4KWeZvqA7itsHY9cLJmx4qTzojVZrg8W9y9n.iceriver1"}}))
    t.s(jc({"id": None, "method": "mining.submit_result", "result": True, "error": None}))


# --- Grin (Cuckatoo) and Beam ---------------------------------------------------------


def grin_miner(t: Talk) -> None:
    # grin stratumserver.rs: JSON-RPC 2.0 with string ids; every response repeats the
    # request's "method"; login {login, pass, agent}; getjobtemplate answered with a job
    # {height, job_id, difficulty, pre_pow}; the same job pushed with id "Stratum";
    # submit {height, job_id, nonce, edge_bits, pow: [42 numbers]}; keepalive.
    t.c(grin.login("0", "grin1qzjr3u9m2arkhm2dcqkf8xqj0g9ewdqdts8g5wk.rig1", "x", "grin-miner"))
    t.s(grin.response("0", "login", "ok"))
    t.c(grin.request("1", "getjobtemplate", None))
    t.s(grin.response("1", "getjobtemplate", grin.job(2712345, 0, 1, hx(238))))
    t.wait(30)
    t.s(grin.push(grin.job(2712346, 1, 1, hx(238))))
    t.wait(12)
    t.c(grin.submit("2", 32, 2712346, 1, 8834321450003451123,
                    [int.from_bytes(H.bytes(4), "big") for _ in range(42)]))
    t.s(grin.response("2", "submit", "ok"))
    t.c(grin.request("3", "keepalive", None))
    t.s(grin.response("3", "keepalive", "ok"))


def grin_nicehash_midsession(t: Talk) -> None:
    # NiceHash Grin v1.0: jobs pushed with a numeric id and a "cleanjob" flag.
    first = grin.push(grin.nicehash_job(1, 16374, 4, hx(240), True), 122)
    t.s(tail_of(first))
    for i in range(3):
        t.wait(30)
        t.s(grin.push(grin.nicehash_job(1, 16375 + i, 5 + i, hx(240), False), 123 + i))


def beam_miner(t: Talk) -> None:
    # beam pow/stratum.cpp: flat messages, no "params" (nlohmann's sorted keys): login
    # {api_key}, result {code, description, nonceprefix, forkheight}, job {difficulty,
    # height, id, input}, solution {id, nonce, output}.
    t.c(beam.login(hx(32)))
    t.s(beam.result("login", 0, "Login successful", forkheight=321321, nonceprefix="ab4e3a"))
    t.s(beam.job("212", 3441671469, 2811001, hx(32)), gap=0.01)
    t.wait(40)
    t.c(beam.solution("212", hx(8), hx(104)))
    t.s(beam.result("212", 0, "accepted"))


def beam_midsession(t: Talk) -> None:
    # Jobs alone, with NiceHash's per-job "nonceprefix" (Beam_NiceHash_v1.0).
    first = beam.job("219", 3441671469, 2811010, hx(32), nonceprefix="ab4e3a")
    t.s(tail_of(first))
    for i in range(3):
        t.wait(60)
        t.s(beam.job(str(220 + i), 3441671469, 2811011 + i, hx(32), nonceprefix="ab4e3a"))


# --- a one-way tap ----------------------------------------------------------------------


def cpuminer_one_way(t: Talk) -> None:
    # cpuminer-opt shares as std_le_build_stratum_request writes them, seen from a tap that only
    # gets the miner's direction; the capture starts inside a submit.
    submit = '{"method": "mining.submit", "params": ["acme.cpu4", "%s", "%s", "%s", "%s"], "id":4}'
    t.c(tail_of(ln(submit % ("1f2", "00000000", "65a1b2c3", "0a1b2c3d"))))
    for i in range(3):
        t.wait(90)
        t.c(ln(submit % (f"1f{3 + i}", f"{i:08x}", "65a1b3" + f"{i:02x}", hx(4))))


# --- hard negatives: real non-mining JSON-RPC ----------------------------------------


def electrumx_wallet(t: Talk) -> None:
    # ElectrumX protocol-methods.rst: server.features, block headers, history, fee
    # histogram, a verbose transaction and scripthash status notifications.
    t.c(js({"jsonrpc": "2.0", "method": "server.version", "params": ["Sparrow", ["1.4", "1.4.2"]], "id": 1}))
    t.s(js({"jsonrpc": "2.0", "result": ["Fulcrum 1.10.0", "1.4"], "id": 1}))
    t.c(js({"jsonrpc": "2.0", "method": "server.features", "params": [], "id": 2}))
    t.s(js({"jsonrpc": "2.0", "result": {"genesis_hash": "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
                                         "hash_function": "sha256", "protocol_max": "1.4.2", "protocol_min": "1.4",
                                         "pruning": None, "server_version": "Fulcrum 1.10.0", "hosts": {}}, "id": 2}))
    t.c(js({"jsonrpc": "2.0", "method": "blockchain.block.headers", "params": [840000, 3], "id": 3}))
    t.s(js({"jsonrpc": "2.0", "result": {"count": 3, "hex": hx(240), "max": 2016}, "id": 3}))
    t.c(js({"jsonrpc": "2.0", "method": "blockchain.scripthash.get_history", "params": [hx(32)], "id": 4}))
    t.s(js({"jsonrpc": "2.0", "result": [{"height": 839990, "tx_hash": hx(32)}, {"height": 839995, "tx_hash": hx(32)},
                                         {"height": 0, "tx_hash": hx(32), "fee": 141}], "id": 4}))
    t.c(js({"jsonrpc": "2.0", "method": "mempool.get_fee_histogram", "params": [], "id": 5}))
    t.s(js({"jsonrpc": "2.0", "result": [[12, 128812], [4, 92524], [2, 6478638]], "id": 5}))
    t.c(js({"jsonrpc": "2.0", "method": "blockchain.transaction.get", "params": [hx(32), True], "id": 6}))
    t.s(js({"jsonrpc": "2.0", "result": {"txid": hx(32), "hash": hx(32), "version": 2, "locktime": 839994,
                                         "blockhash": "00000000000000000001" + hx(22), "confirmations": 7,
                                         "hex": hx(120)}, "id": 6}))
    for _ in range(2):
        t.wait(60)
        t.s(js({"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe", "params": [hx(32), hx(32)]}))
        t.c(js({"jsonrpc": "2.0", "method": "server.ping", "params": [], "id": 7}))
        t.s(js({"jsonrpc": "2.0", "result": None, "id": 7}))


def electrum_via_tor(t: Talk) -> None:
    # Electrum routes its server connections through Tor's SOCKS5 port when a proxy is
    # set (domain CONNECT, no authentication); the Electrum protocol follows.
    onion = "explorerzydxu5ecjrkwceayqybizmpjjznk5izmitf2modhcusuqlid.onion"
    t.c(tunnels.SOCKS5_GREETING)
    t.s(tunnels.SOCKS5_NO_AUTH)
    t.c(tunnels.socks5_connect(onion, 50001))
    t.s(tunnels.socks5_reply(), gap=1.5)
    t.c(js({"jsonrpc": "2.0", "method": "server.version", "params": ["electrum/4.5.5", "1.4"], "id": 0}))
    t.s(js({"jsonrpc": "2.0", "result": ["ElectrumX 1.16.0", "1.4"], "id": 0}))
    t.c(js({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe", "params": [], "id": 1}))
    t.s(js({"jsonrpc": "2.0", "result": {"hex": hx(80), "height": 840001}, "id": 1}))
    t.wait(60)
    t.s(js({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe", "params": [{"hex": hx(80), "height": 840002}]}))


def https_via_proxy(t: Talk) -> None:
    # A browser behind a corporate proxy (RFC 9110 CONNECT): the tunnel carries TLS.
    t.c(tunnels.http_connect("api.github.com", 443, [
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
        ("Proxy-Connection", "keep-alive")]))
    t.s(tunnels.HTTP_CONNECT_OK)
    hello = b"\x01\x00\x01\xfc\x03\x03" + H.bytes(32) + b"\x20" + H.bytes(32) + b"\x00\x02\x13\x01\x01\x00" + \
        b"\x01\xd1" + b"\x00\x00\x00\x13\x00\x11\x00\x00\x0eapi.github.com" + b"\x00\x15\x01\xb6" + b"\x00" * 0x1b6
    t.c(b"\x16\x03\x01" + struct.pack(">H", len(hello)) + hello)
    t.s(b"\x16\x03\x03\x00\x7a\x02" + H.bytes(121))
    for _ in range(3):
        t.c(b"\x17\x03\x03\x01\x00" + H.bytes(256))
        t.s(b"\x17\x03\x03\x05\xb4" + H.bytes(1460))


def _post(t: Talk, host: str, path: str, obj: object, extra: list[tuple[str, str]] | None = None) -> None:
    body = json.dumps(obj, separators=(",", ":")).encode()
    headers = [("Host", host), ("Content-Type", "application/json"), *(extra or []),
               ("Content-Length", str(len(body)))]
    t.c(http_req("POST", path, headers, body))


def _reply(t: Talk, obj: object) -> None:
    body = json.dumps(obj, separators=(",", ":")).encode()
    t.s(http_resp("200 OK", [("Content-Type", "application/json"),
                             ("Content-Length", str(len(body)))], body))


def engine_api(t: Talk) -> None:
    # Ethereum Engine API (execution-apis src/engine/cancun.md): a consensus client asks
    # its execution client to build a block - forkchoiceUpdatedV3 with payload
    # attributes, then getPayloadV3. Block production, but proof of stake, not mining.
    auth = [("Authorization", "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + hx(24))]
    _post(t, "127.0.0.1:8551", "/", {"jsonrpc": "2.0", "method": "engine_forkchoiceUpdatedV3", "params": [
        {"headBlockHash": "0x" + hx(32), "safeBlockHash": "0x" + hx(32), "finalizedBlockHash": "0x" + hx(32)},
        {"timestamp": "0x6790a1b3", "prevRandao": "0x" + hx(32), "suggestedFeeRecipient": "0x" + hx(20),
         "withdrawals": [], "parentBeaconBlockRoot": "0x" + hx(32)}], "id": 31}, auth)
    _reply(t, {"jsonrpc": "2.0", "id": 31, "result": {"payloadStatus": {
        "status": "VALID", "latestValidHash": "0x" + hx(32), "validationError": None}, "payloadId": "0x" + hx(8)}})
    t.wait(4)
    _post(t, "127.0.0.1:8551", "/", {"jsonrpc": "2.0", "method": "engine_getPayloadV3",
                                     "params": ["0x" + hx(8)], "id": 32}, auth)
    _reply(t, {"jsonrpc": "2.0", "id": 32, "result": {"executionPayload": {
        "parentHash": "0x" + hx(32), "feeRecipient": "0x" + hx(20), "stateRoot": "0x" + hx(32),
        "receiptsRoot": "0x" + hx(32), "logsBloom": "0x" + "00" * 256, "prevRandao": "0x" + hx(32),
        "blockNumber": "0x14a3c21", "gasLimit": "0x1c9c380", "gasUsed": "0x0", "timestamp": "0x6790a1b3",
        "extraData": "0x", "baseFeePerGas": "0x7", "blockHash": "0x" + hx(32), "transactions": [],
        "withdrawals": [], "blobGasUsed": "0x0", "excessBlobGas": "0x0"},
        "blockValue": "0x0", "blobsBundle": {"commitments": [], "proofs": [], "blobs": []},
        "shouldOverrideBuilder": False}})


def web3_filter_polling(t: Talk) -> None:
    # web3.py's w3.eth.filter("pending") / filter("latest") over HTTP: eth_newPendingTransactionFilter,
    # then eth_getFilterChanges (execution-apis src/eth/filter.yaml) returning lists of
    # 32-byte transaction and block hashes - the same shape as a getWork package.
    host = "10.0.3.2:8545"
    _post(t, host, "/", {"jsonrpc": "2.0", "method": "eth_newPendingTransactionFilter", "params": [], "id": 0})
    _reply(t, {"jsonrpc": "2.0", "id": 0, "result": "0x1c4f3e"})
    _post(t, host, "/", {"jsonrpc": "2.0", "method": "eth_newBlockFilter", "params": [], "id": 1})
    _reply(t, {"jsonrpc": "2.0", "id": 1, "result": "0x1c4f3f"})
    for i in range(4):
        t.wait(2)
        _post(t, host, "/", {"jsonrpc": "2.0", "method": "eth_getFilterChanges", "params": ["0x1c4f3e"], "id": 2 + 2 * i})
        _reply(t, {"jsonrpc": "2.0", "id": 2 + 2 * i, "result": ["0x" + hx(32) for _ in range(3 + i % 2)]})
        _post(t, host, "/", {"jsonrpc": "2.0", "method": "eth_getFilterChanges", "params": ["0x1c4f3f"], "id": 3 + 2 * i})
        _reply(t, {"jsonrpc": "2.0", "id": 3 + 2 * i, "result": ["0x" + hx(32)] if i % 2 else []})


def _ws_client(payload: bytes, mask: bytes) -> bytes:
    """A masked client text frame (RFC 6455), short or 16-bit length."""
    n = len(payload)
    head = b"\x81" + (bytes([0x80 | n]) if n < 126 else b"\xfe" + struct.pack(">H", n))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _ws_server(payload: bytes) -> bytes:
    n = len(payload)
    return b"\x81" + (bytes([n]) if n < 126 else b"\x7e" + struct.pack(">H", n)) + payload


def geth_ws_newheads(t: Talk) -> None:
    # eth_subscribe("newHeads") over geth's WebSocket (execution-apis src/eth/subscribe.yaml):
    # every new block header is pushed as an eth_subscription notification.
    t.c(http_req("GET", "/", [("Host", "10.0.3.2:8546"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                              ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]))
    t.s(http_resp("101 Switching Protocols", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                              ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")]))
    sub = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}).encode()
    t.c(_ws_client(sub, bytes.fromhex("37fa213d")))
    t.s(_ws_server(json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0x9cef478923ff08bf67fde6c64013158d"}).encode()))
    for i in range(3):
        t.wait(12)
        head = {"parentHash": "0x" + hx(32), "sha3Uncles": "0x" + hx(32), "miner": "0x" + hx(20),
                "stateRoot": "0x" + hx(32), "number": hex(21000000 + i), "gasLimit": "0x1c9c380",
                "timestamp": hex(1767607200 + 12 * i), "difficulty": "0x0", "nonce": "0x0000000000000000",
                "mixHash": "0x" + hx(32), "baseFeePerGas": "0x3b9aca07", "hash": "0x" + hx(32)}
        t.s(_ws_server(json.dumps({"jsonrpc": "2.0", "method": "eth_subscription", "params": {
            "subscription": "0x9cef478923ff08bf67fde6c64013158d", "result": head}}).encode()))


def _lsp(obj: object) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    return b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def godot_lsp(t: Talk) -> None:
    # An editor talking to Godot's GDScript language server over TCP (port 6005): LSP's
    # Content-Length framing, JSON-RPC 2.0 initialize / didOpen / publishDiagnostics.
    t.c(_lsp({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": 41210, "rootUri": "file:///home/dev/game", "capabilities": {"textDocument": {}}}}))
    t.s(_lsp({"jsonrpc": "2.0", "id": 1, "result": {"capabilities": {"textDocumentSync": 2, "hoverProvider": True}}}))
    t.c(_lsp({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    t.c(_lsp({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": "file:///home/dev/game/player.gd", "languageId": "gdscript", "version": 1,
        "text": "extends CharacterBody2D\n\nfunc _ready():\n\tpass\n"}}}))
    t.s(_lsp({"jsonrpc": "2.0", "method": "textDocument/publishDiagnostics", "params": {
        "uri": "file:///home/dev/game/player.gd", "diagnostics": []}}))


def kodi_tcp(t: Talk) -> None:
    # Kodi's JSON-RPC over raw TCP (port 9090): requests, and notifications written back
    # to back without a delimiter.
    t.c(b'{"jsonrpc":"2.0","method":"JSONRPC.Ping","id":1}')
    t.s(b'{"id":1,"jsonrpc":"2.0","result":"pong"}')
    t.c(b'{"jsonrpc":"2.0","method":"Player.GetActivePlayers","id":2}')
    t.s(b'{"id":2,"jsonrpc":"2.0","result":[{"playerid":1,"playertype":"internal","type":"video"}]}')
    t.wait(30)
    t.s(b'{"jsonrpc":"2.0","method":"Player.OnPlay","params":{"data":{"item":{"id":42,"type":"movie"},"player":{"playerid":1,"speed":1}},"sender":"xbmc"}}'
        b'{"jsonrpc":"2.0","method":"Player.OnAVStart","params":{"data":{"item":{"id":42,"type":"movie"},"player":{"playerid":1,"speed":1}},"sender":"xbmc"}}')


def xrpl_submit(t: Talk) -> None:
    # rippled's JSON-RPC (xrpl.org "submit method"): a signed transaction blob is
    # "submit"ted and the server answers with the engine result.
    host = "s1.ripple.example:51234"
    _post(t, host, "/", {"method": "server_info", "params": [{}]})
    _reply(t, {"result": {"info": {"build_version": "2.3.0", "complete_ledgers": "32570-93200000",
                                   "server_state": "full"}, "status": "success"}})
    _post(t, host, "/", {"method": "submit", "params": [{"tx_blob": hx(160).upper()}]})
    _reply(t, {"result": {"engine_result": "tesSUCCESS", "engine_result_code": 0, "tx_blob": hx(160).upper(),
                          "tx_json": {"Account": "rf1BiGeXwwQoi8Z2ueFYTEXSwuJYfV2Jpn", "Fee": "12",
                                      "TransactionType": "Payment", "hash": hx(32).upper()},
                          "status": "success", "accepted": True}})


def monero_wallet_node(t: Talk) -> None:
    # A wallet (monero-wallet-rpc, Feather) using a remote monerod: /json_rpc get_info,
    # get_last_block_header and get_fee_estimate (core_rpc_server_commands_defs.h).
    host = "node.xmr.example:18089"
    _post(t, host, "/json_rpc", {"jsonrpc": "2.0", "id": "0", "method": "get_info"})
    _reply(t, {"id": "0", "jsonrpc": "2.0", "result": {"height": 3311300, "difficulty": 362812540419,
                                                        "top_block_hash": hx(32), "status": "OK", "untrusted": False}})
    _post(t, host, "/json_rpc", {"jsonrpc": "2.0", "id": "0", "method": "get_last_block_header"})
    _reply(t, {"id": "0", "jsonrpc": "2.0", "result": {"block_header": {
        "hash": hx(32), "height": 3311299, "difficulty": 362812540419, "nonce": 1885434721,
        "prev_hash": hx(32), "reward": 600000000000, "timestamp": 1767607100}, "status": "OK"}})
    _post(t, host, "/json_rpc", {"jsonrpc": "2.0", "id": "0", "method": "get_fee_estimate"})
    _reply(t, {"id": "0", "jsonrpc": "2.0", "result": {"fee": 20000, "quantization_mask": 10000, "status": "OK"}})


def grin_wallet_node(t: Talk) -> None:
    # grin-wallet using a node's Foreign API v2 (api/src/foreign_rpc.rs): get_tip and
    # get_kernel; results wrapped in {"Ok": ...}.
    host = "127.0.0.1:3413"
    _post(t, host, "/v2/foreign", {"jsonrpc": "2.0", "method": "get_tip", "params": [], "id": 1},
          [("Authorization", "Basic Z3JpbjpzZWNyZXQ=")])
    _reply(t, {"id": 1, "jsonrpc": "2.0", "result": {"Ok": {
        "height": 2712400, "last_block_pushed": hx(32), "prev_block_to_last": hx(32), "total_difficulty": 1859270928181}}})
    _post(t, host, "/v2/foreign", {"jsonrpc": "2.0", "method": "get_kernel",
                                   "params": ["09" + hx(32), None, None], "id": 2},
          [("Authorization", "Basic Z3JpbjpzZWNyZXQ=")])
    _reply(t, {"id": 2, "jsonrpc": "2.0", "result": {"Ok": {"height": 2712001, "mmr_index": 4523101, "tx_kernel": {
        "excess": "09" + hx(32), "excess_sig": hx(64), "features": {"Plain": {"fee": 7000000}}}}}})


def beam_wallet_api(t: Talk) -> None:
    # The Beam wallet API over TCP (newline JSON-RPC 2.0, Beam wallet protocol API):
    # wallet_status - whose result carries height and difficulty - tx_list, create_address.
    t.c(jc({"jsonrpc": "2.0", "id": 1, "method": "wallet_status"}))
    t.s(jc({"jsonrpc": "2.0", "id": 1, "result": {"current_height": 2811020, "current_state_hash": hx(32),
                                                  "prev_state_hash": hx(32), "available": 301000000, "receiving": 0,
                                                  "sending": 0, "maturing": 0, "difficulty": 3441671.5}}))
    t.c(jc({"jsonrpc": "2.0", "id": 2, "method": "tx_list", "params": {"count": 10, "skip": 0}}))
    t.s(jc({"jsonrpc": "2.0", "id": 2, "result": [{"txId": hx(16), "status": 3, "value": 1000000, "height": 2810999}]}))
    t.c(jc({"jsonrpc": "2.0", "id": 3, "method": "create_address", "params": {"type": "regular", "expiration": "24h"}}))
    t.s(jc({"jsonrpc": "2.0", "id": 3, "result": hx(33)}))


# --- the cases ------------------------------------------------------------------------

CASES: tuple[Case, ...] = (
    Case("xmrig-self-select", "10.70.0.1", ("203.0.113.11", 17011), "cryptonote",
         "xmrig/xmrig src/base/net/stratum/SelfSelectClient.cpp, Client.cpp", xmrig_self_select),
    Case("xmrig-self-select-midsession", "10.70.0.2", ("203.0.113.12", 17012), "cryptonote",
         "xmrig/xmrig src/base/net/stratum/SelfSelectClient.cpp, Client.cpp (parseJob)",
         xmrig_self_select_midsession, handshake=False),
    Case("xmrig-daemon-dero", "10.70.0.3", ("10.20.0.9", 10102), "monero-daemon-http",
         "xmrig/xmrig src/base/net/stratum/DaemonClient.cpp (API_DERO)", dero_daemon_http, coin="DERO"),
    Case("xmrig-socks5", "10.70.0.4", ("198.51.100.14", 1080), "cryptonote",
         "xmrig/xmrig src/base/net/stratum/Socks5.cpp, Client.cpp", xmrig_socks5),
    Case("xmrig-kawpow", "10.70.0.5", ("203.0.113.15", 17015), "stratum-v1",
         "xmrig/xmrig src/base/net/stratum/EthStratumClient.cpp", xmrig_kawpow, coin="RVN"),
    Case("kawpow-midsession", "10.70.0.6", ("203.0.113.16", 17016), "stratum-v1",
         "xmrig/xmrig src/base/net/stratum/EthStratumClient.cpp (parseNotification)",
         kawpow_midsession, handshake=False, coin="RVN"),
    Case("bfgminer-capabilities", "10.70.0.7", ("203.0.113.17", 17017), "stratum-v1",
         "luke-jr/bfgminer util.c (initiate_stratum, auth_stratum, parse_method)", bfgminer_capabilities),
    Case("cgminer-http-connect", "10.70.0.8", ("198.51.100.18", 3128), "stratum-v1",
         "ckolivas/cgminer util.c (http_negotiate)", cgminer_http_connect),
    Case("cgminer-socks4a", "10.70.0.30", ("198.51.100.40", 1080), "stratum-v1",
         "ckolivas/cgminer util.c (socks4_negotiate)", cgminer_socks4a),
    Case("zcash-midsession", "10.70.0.9", ("203.0.113.19", 17019), "stratum-v1",
         "zcash/zips zips/zip-0301.rst", zcash_midsession, handshake=False, coin="ZEC"),
    Case("ergo-midsession", "10.70.0.10", ("203.0.113.20", 17020), "stratum-v1",
         "oliverw/miningcore src/Miningcore/Blockchain/Ergo/ErgoJob.cs", ergo_midsession, handshake=False,
         coin="ERG"),
    Case("kadena", "10.70.0.11", ("203.0.113.21", 17021), "stratum-v1",
         "kadena-io/chainweb-mining-client src/Worker/Stratum/Protocol.hs", kadena_full),
    Case("kadena-midsession", "10.70.0.12", ("203.0.113.22", 17022), "stratum-v1",
         "kadena-io/chainweb-mining-client src/Worker/Stratum/Protocol.hs", kadena_midsession,
         handshake=False),
    Case("kaspa-bridge-bzminer", "10.70.0.13", ("203.0.113.23", 17023), "ethereum-stratum",
         "onemorebsmith/kaspa-stratum-bridge src/kaspastratum/client_handler.go, src/gostratum/default_client.go",
         kaspa_bridge_bzminer),
    Case("kaspa-nicehash-lolminer", "10.70.0.14", ("203.0.113.24", 17024), "stratum-v1",
         "nicehash/Specifications KHeavyHash_NiceHash_v1.0.txt; kaspa-stratum-bridge hasher.go (GenerateJobHeader)",
         kaspa_nicehash_lolminer, coin="KAS"),  # a Bitcoin login: NiceHash pays in BTC
    Case("kaspa-midsession", "10.70.0.15", ("203.0.113.25", 17025), "stratum-v1",
         "onemorebsmith/kaspa-stratum-bridge src/kaspastratum/client_handler.go", kaspa_midsession,
         handshake=False, coin="KAS"),
    Case("kaspa-bigjob-midsession", "10.70.0.16", ("203.0.113.26", 17026), "stratum-v1",
         "onemorebsmith/kaspa-stratum-bridge hasher.go (GenerateLargeJobParams)", kaspa_bigjob_midsession,
         handshake=False, coin="KAS"),
    Case("ethminer-stratum", "10.70.0.17", ("203.0.113.27", 17027), "ethereum-stratum",
         "ethereum-mining/ethminer libpoolprotocols/stratum/EthStratumClient.cpp (STRATUM)", ethminer_stratum),
    Case("ethminer-ethereumstratum2", "10.70.0.18", ("203.0.113.28", 17028), "ethereum-stratum",
         "ethereum-mining/ethminer libpoolprotocols/stratum/EthStratumClient.cpp (ETHEREUMSTRATUM2)",
         ethminer_ethereumstratum2),
    Case("ethminer-ethproxy-nanopool", "10.70.0.19", ("203.0.113.29", 17029), "eth-proxy",
         "ethereum-mining/ethminer libpoolprotocols/stratum/EthStratumClient.cpp (ETHPROXY, issue 1348)",
         ethminer_ethproxy_nanopool),
    Case("ethproxy-short-boundary-midsession", "10.70.0.20", ("203.0.113.30", 17030), "eth-proxy",
         "ethereum-mining/ethminer libpoolprotocols/stratum/EthStratumClient.cpp (coinmine.pl fix)",
         ethproxy_short_boundary_midsession, handshake=False),
    Case("nicehash-es1-midsession", "10.70.0.21", ("203.0.113.31", 17031), "ethereum-stratum",
         "nicehash/Specifications EthereumStratum_NiceHash_v1.0.0.txt", nicehash_es1_midsession,
         handshake=False),
    Case("ironfish-lolminer", "10.70.0.22", ("203.0.113.32", 17032), "stratum-v1",
         "iron-fish/ironfish ironfish/src/mining/stratum/messages.ts; nicehash/Specifications FishHash_v1.0.txt",
         ironfish_lolminer),
    Case("ironfish-midsession", "10.70.0.23", ("203.0.113.33", 17033), "stratum-v1",
         "iron-fish/ironfish ironfish/src/mining/stratum/messages.ts", ironfish_midsession, handshake=False),
    Case("alephium", "10.70.0.24", ("203.0.113.34", 17034), "stratum-v1",
         "alephium/mining-pool lib/stratum.js, lib/blockTemplate.js", alephium_pool, coin="ALPH"),
    Case("grin-miner", "10.70.0.25", ("203.0.113.35", 17035), "grin-stratum",
         "mimblewimble/grin servers/src/mining/stratumserver.rs", grin_miner, coin="GRIN"),
    Case("grin-nicehash-midsession", "10.70.0.26", ("203.0.113.36", 17036), "grin-stratum",
         "nicehash/Specifications Grin_NiceHash_v1.0.txt", grin_nicehash_midsession, handshake=False),
    Case("beam-miner", "10.70.0.27", ("203.0.113.37", 17037), "beam-stratum",
         "BeamMW/beam pow/stratum.cpp", beam_miner, coin="BEAM"),
    Case("beam-midsession", "10.70.0.28", ("203.0.113.38", 17038), "beam-stratum",
         "BeamMW/beam pow/stratum.cpp; nicehash/Specifications Beam_NiceHash_v1.0.txt", beam_midsession,
         handshake=False),
    Case("cpuminer-opt-one-way", "10.70.0.29", ("203.0.113.39", 17039), "stratum-v1",
         "JayDDee/cpuminer-opt algo-gate-api.c (std_le_build_stratum_request)", cpuminer_one_way, handshake=False,
         one_way=True),
    # hard negatives
    Case("neg-electrumx", "10.80.0.1", ("198.51.100.41", 50001), None,
         "spesmilo/electrumx docs/protocol-methods.rst", electrumx_wallet),
    Case("neg-electrum-via-tor", "10.80.0.11", ("10.80.0.111", 9050), None,
         "spesmilo/electrum electrum/network.py (proxy); RFC 1928", electrum_via_tor),
    Case("neg-https-via-proxy", "10.80.0.12", ("10.80.0.112", 3128), None,
         "RFC 9110 section 9.3.6 (CONNECT)", https_via_proxy),
    Case("neg-engine-api", "10.80.0.2", ("10.80.0.102", 8551), None,
         "ethereum/execution-apis src/engine/cancun.md", engine_api),
    Case("neg-web3-filter-polling", "10.80.0.3", ("10.80.0.103", 8545), None,
         "ethereum/execution-apis src/eth/filter.yaml; ethereum/web3.py filters", web3_filter_polling),
    Case("neg-geth-ws-newheads", "10.80.0.4", ("10.80.0.104", 8546), None,
         "ethereum/execution-apis src/eth/subscribe.yaml", geth_ws_newheads),
    Case("neg-godot-lsp", "10.80.0.5", ("10.80.0.105", 6005), None,
         "godotengine/godot modules/gdscript/language_server/gdscript_language_protocol.cpp", godot_lsp),
    Case("neg-kodi-tcp", "10.80.0.6", ("10.80.0.106", 9090), None,
         "xbmc/xbmc xbmc/network/TCPServer.cpp (JSON-RPC over TCP)", kodi_tcp),
    Case("neg-xrpl-submit", "10.80.0.7", ("198.51.100.47", 51234), None,
         "xrpl.org docs: public API methods, submit", xrpl_submit),
    Case("neg-monero-wallet-node", "10.80.0.8", ("198.51.100.48", 18089), None,
         "monero-project/monero src/rpc/core_rpc_server_commands_defs.h", monero_wallet_node),
    Case("neg-grin-wallet-node", "10.80.0.9", ("10.80.0.109", 3413), None,
         "mimblewimble/grin api/src/foreign_rpc.rs", grin_wallet_node),
    Case("neg-beam-wallet-api", "10.80.0.10", ("10.80.0.110", 10000), None,
         "BeamMW/beam wiki Beam-wallet-protocol-API", beam_wallet_api),
)


def build(case: Case, index: int) -> bytes:
    """The case's capture: its connection, closed, as a classic Ethernet pcap."""
    H.restart(case.name)
    base = at(index * 300.0)
    conv = Conversation((case.client, 40000 + index), case.server, base, handshake=case.handshake)
    talk = Talk(conv, base)
    case.script(talk)
    talk.wait(1)
    conv.close(at(talk.t, base))
    packets = [p for p in conv.finish() if p.outgoing or not case.one_way]
    return pcap_bytes(frames(packets, Ethernet()), Ethernet.linktype)


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Scan every case's capture in one CLI run; the alerts by suspect IP."""
    directory: Path = tmp_path_factory.mktemp("unseen-variants")
    for index, case in enumerate(CASES):
        (directory / f"{index:02d}-{case.name}.pcap").write_bytes(build(case, index))
    result = run_cli("scan", str(directory), "-f", "jsonl", "-q")
    assert result.rc == 0, result.err
    by_ip: dict[str, dict[str, Any]] = {}
    for event in result.events():
        by_ip[event["src_ip"]] = event
    return by_ip


def test_cases_are_distinct() -> None:
    assert len({c.name for c in CASES}) == len(CASES)
    assert len({c.client for c in CASES}) == len(CASES)


def test_captures_are_deterministic() -> None:
    assert build(CASES[0], 0) == build(CASES[0], 0)


@pytest.mark.parametrize("case", [c for c in CASES if c.dialect], ids=lambda c: c.name)
def test_miner_variant_is_a_suspect(case: Case, alerts: dict[str, dict[str, Any]]) -> None:
    assert case.client in alerts, f"{case.name} ({case.source}) was not detected"
    alert = alerts[case.client]
    dialects = meta(alert, "mining_dialect")
    assert dialects == [case.dialect], f"{case.name}: {dialects}"
    assert alert["dest_ip"] == case.server[0]
    if case.coin:
        assert meta(alert, "mining_coin")[:1] == [case.coin]


@pytest.mark.parametrize("case", [c for c in CASES if not c.dialect], ids=lambda c: c.name)
def test_benign_lookalike_is_not_a_suspect(case: Case, alerts: dict[str, dict[str, Any]]) -> None:
    assert case.client not in alerts, f"{case.name} ({case.source}): {alerts.get(case.client)}"


def test_kaspa_login_names_the_coin(alerts: dict[str, dict[str, Any]]) -> None:
    kaspa = next(c for c in CASES if c.name == "kaspa-bridge-bzminer")
    assert meta(alerts[kaspa.client], "mining_coin") == ["KAS"]


def test_proxied_miners_name_the_pool_host(alerts: dict[str, dict[str, Any]]) -> None:
    """The SOCKS request and the CONNECT line name the pool: they become its host."""
    hosts = {c.name: meta(alerts[c.client], "mining_pool_host") for c in CASES
             if c.name in ("xmrig-socks5", "cgminer-socks4a", "cgminer-http-connect")}
    assert hosts == {"xmrig-socks5": ["pool.hashvault.example"],
                     "cgminer-socks4a": ["stratum.antpool.example"],
                     "cgminer-http-connect": ["stratum.slushpool.example:3333"]}


def test_no_suspect_outside_the_cases(alerts: dict[str, dict[str, Any]]) -> None:
    assert set(alerts) <= {c.client for c in CASES if c.dialect}


# --- message-level checks of the shape rules the cases rely on ------------------------

def _feed(messages: list[tuple[int, bytes]]) -> FlowFacts:
    """(side, bytes) through the real newline-JSON dissector; side 0 is the client."""
    dissector = JsonLines()
    facts = FlowFacts()
    for side, data in messages:
        dissector.on_data(side, data, 0.0, facts)
    dissector.on_expire(facts)
    return facts


def test_hash_lists_are_work_only_when_they_answer_a_work_request() -> None:
    hashes = ["0x" + hx(32) for _ in range(3)]
    filter_poll = _feed([
        (0, jc({"jsonrpc": "2.0", "method": "eth_getFilterChanges", "params": ["0x1c"], "id": 7})),
        (1, jc({"jsonrpc": "2.0", "id": 7, "result": hashes}))])
    assert filter_poll.jobs == 0 and not filter_poll.dialects
    short_boundary = ["0x" + hx(32), "0x" + hx(32), "0x112e0be826d694b2e62d01511f12a6061fbaec"]
    polled = _feed([(0, jc({"jsonrpc": "2.0", "method": "eth_getWork", "params": [], "id": 5})),
                    (1, jc({"jsonrpc": "2.0", "id": 5, "result": short_boundary}))])
    assert polled.jobs == 1 and polled.dialects == {"eth-proxy"}
    pushed = _feed([(1, jc({"jsonrpc": "2.0", "id": 0, "result": short_boundary}))])
    assert pushed.jobs == 1
    unsolicited_hashes = _feed([(1, jc({"jsonrpc": "2.0", "id": 0, "result": ["0x" + "f" + hx(32)[1:]] * 3}))])
    assert unsolicited_hashes.jobs == 0


def test_ethereum_submit_shape_yields_to_contrary_jobs() -> None:
    submit = jc({"id": 4, "method": "mining.submit", "params": ["u.w", "1a", "6789abcdef"]})
    alone = _feed([(0, submit)])
    assert alone.dialects == {"ethereum-stratum"}  # EthereumStratum/1.0.0's submit shape
    kadena = _feed([(1, jc({"id": None, "method": "mining.notify", "params": ["1a", hx(286), True]})),
                    (0, submit)])
    assert kadena.dialects == {"stratum-v1"} and kadena.jobs == 1
    announced = _feed([(0, jc({"id": 1, "method": "mining.subscribe", "params": ["x/1", "EthereumStratum/1.0.0"]})),
                       (1, jc({"id": None, "method": "mining.notify", "params": ["1a", hx(286), True]})),
                       (0, submit)])
    assert announced.dialects == {"ethereum-stratum"}


def test_a_response_that_repeats_its_method_is_a_response() -> None:
    facts = _feed([(0, jc({"id": "0", "jsonrpc": "2.0", "method": "login",
                            "params": {"login": "w", "pass": "x", "agent": "grin-miner"}})),
                   (1, jc({"id": "0", "jsonrpc": "2.0", "method": "login", "result": "ok", "error": None}))])
    assert facts.pool_replies == 1
    assert facts.sides[1].methods == {} and facts.sides[0].methods == {"login": 1}


@pytest.mark.parametrize("data,expected", [
    (b"\x05", Probe.MAYBE), (b"\x05\x01\x00", Probe.MAYBE), (b"\x05\x00", Probe.MAYBE),
    (b"\x05\x01\x00\x05\x01\x00\x01\x0a\x00\x00\x01\x0d\x05", Probe.MAYBE),
    (b"\x05\x01\x00\x05\x01\x00\x01\x0a\x00\x00\x01\x0d\x05" + b'{"id":1}\n', Probe.YES),
    (b"\x05\x00\x05\x00\x00\x01\x0a\x00\x00\x01\x0d\x05" + b'{"id":1}\n', Probe.YES),
    (b"\x05\x01\x00\x05\x01\x00\x01\x0a\x00\x00\x01\x01\xbb\x16\x03\x01\x02\x00", Probe.NO),
    (b"\x04\x01\x0d\x05\x00\x00\x00\x01CGMINER\x00pool.example\x00" + b'{"id": 1}\n', Probe.YES),
    (b"\x05\x09\xff\x13", Probe.NO), (b"\x05\x00\x07", Probe.NO), (b"\x00\x01\x02\x03", Probe.NO),
    (b"\x04\x02\x00\x50", Probe.NO),
])
def test_socks_handshakes_are_told_apart_from_binary(data: bytes, expected: Probe) -> None:
    assert JsonLines.probe(data) is expected
