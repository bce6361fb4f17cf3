"""The Stratum flavours of the post-Merge GPU coins, as their pools and miners write them.

One session writer per coin, each playing a whole connection into a
:class:`~detector.synth.conversation.Talk` from a seed (a :class:`HexStream` label: the
same seed gives the same bytes). Parameter shapes come from the software named in each
writer's docstring (detector/dissect/flavours.py reads the same sources); values are made
up. Member order and spacing of the pools' lines follow the pool's language (Go and Node
pools write compact JSON; miningcore - C#/Newtonsoft - too); where a source shows the
members but not their order, the order is modelled and the docstring says so.

Addresses have the coins' outward formats (prefix, alphabet, length) with valid
checksums where the format is simple to compute (base58check, Ergo's blake2b), random
characters after the ``kaspa:`` prefix: enough for the wallet patterns of
signatures/coins.yaml, not for a wallet.

``hostile`` writes sessions of the same coins with broken or malicious content - bad
JSON, numbers far beyond 64 bits, oversized and control-character worker names, wrong
hex lengths, types swapped - that a scan must survive (tests/test_gpucoins.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from detector.dialects import ETHEREUM_STRATUM, STRATUM_V1
from detector.synth.benign import dns
from detector.synth.chain import HexStream, base58, base58check, eth_address
from detector.synth.clock import at
from detector.synth.conversation import Conversation, Talk
from detector.synth.lines import jc, ln
from detector.synth.packets import Packet

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

# --- addresses ------------------------------------------------------------------------


def kaspa_address(h: HexStream) -> str:
    """``kaspa:q...`` (61 characters after the prefix, the P2PK length); random body."""
    return "kaspa:q" + "".join(_BECH32[b % 32] for b in h.bytes(60))


def ravencoin_address(h: HexStream) -> str:
    """A Ravencoin P2PKH address (``R...``, base58check version 60)."""
    return base58check(b"\x3c", h.bytes(20))


def ergo_address(h: HexStream) -> str:
    """An Ergo mainnet P2PK address: base58 of 0x01, a compressed public key and the
    first 4 bytes of its blake2b-256 (``9...``, 51 characters)."""
    body = b"\x01\x02" + h.bytes(32)
    return base58(body + hashlib.blake2b(body, digest_size=32).digest()[:4])


def t_address(h: HexStream) -> str:
    """A transparent ``t1...`` address (Zcash's version bytes; Flux uses the same)."""
    return base58check(b"\x1c\xb8", h.bytes(20))


def bitcoin_gold_address(h: HexStream) -> str:
    """A Bitcoin Gold P2PKH address (``G...``, base58check version 38)."""
    return base58check(b"\x26", h.bytes(20))


def alephium_address(h: HexStream) -> str:
    """An Alephium P2PKH address: base58 of 0x00 and a 32-byte key hash (``1...``)."""
    return base58(b"\x00" + h.bytes(32))


def bitcoin_p2sh(h: HexStream) -> str:
    """A ``3...`` Bitcoin address, as NiceHash logins are."""
    return base58check(b"\x05", h.bytes(20))


# --- lines ----------------------------------------------------------------------------


def request(ident: int | str | None, method: str, params: object, rpc: bool = False) -> bytes:
    """A miner's request, compact (``"jsonrpc":"2.0"`` first when ``rpc``)."""
    body: dict[str, object] = {"id": ident}
    if rpc:
        body["jsonrpc"] = "2.0"
    body.update(method=method, params=params)
    return jc(body)


def reply(ident: int | str | None, result: object, rpc: bool = False) -> bytes:
    body: dict[str, object] = {"id": ident}
    if rpc:
        body["jsonrpc"] = "2.0"
    body.update(result=result, error=None)
    return jc(body)


def push(method: str, params: object, ident: int | None = None, rpc: bool = False) -> bytes:
    body: dict[str, object] = {"id": ident}
    if rpc:
        body["jsonrpc"] = "2.0"
    body.update(method=method, params=params)
    return jc(body)


def share_target(h: HexStream, zero_digits: int) -> str:
    """A 256-bit share target as 64 hex digits with ``zero_digits`` leading zeros."""
    return "0" * zero_digits + h.hex(32)[zero_digits:]


# --- Kaspa (kHeavyHash) ---------------------------------------------------------------


def kaspa_bridge(
    talk: Talk, h: HexStream, *, agent: str = "lolMiner 1.88", jobs: int = 6, shares: int = 3
) -> None:
    """onemorebsmith/kaspa-stratum-bridge: subscribe answered ``[true,
    "EthereumStratum/1.0.0"]``, ``set_extranonce`` after authorize, ``mining.set_difficulty``
    once, then a ``mining.notify`` per block template whose own id is the job id and
    whose params are ``[job, [four 64-bit words], timestamp]`` - or, for an agent naming
    BzMiner, ``[job, 80 hex digits]`` (src/gostratum/default_client.go HandleSubscribe /
    HandleAuthorize / SendExtranonce; src/kaspastratum/client_handler.go NewBlockAvailable;
    hasher.go GenerateJobHeader / GenerateLargeJobParams). Submits ``[address.worker, job,
    0x nonce]`` (the bridge's share_handler.go). Kaspa makes ten blocks a second, so jobs
    follow each other within a second. The bridge's Go structs give the members; their
    order here (id, jsonrpc, method/result, params/error) is modelled."""
    user = kaspa_address(h) + ".rig" + str(h.uint(1, 9))
    big = "bzminer" in agent.lower()
    talk.c(request(1, "mining.subscribe", [agent, "EthereumStratum/1.0.0"], rpc=True))
    talk.s(reply(1, [True, "EthereumStratum/1.0.0"], rpc=True))
    talk.c(request(2, "mining.authorize", [user, "x"], rpc=True))
    talk.s(reply(2, True, rpc=True))
    talk.s(push("set_extranonce", [h.hex(2)], rpc=True), gap=0.01)  # its id: modelled null
    talk.s(push("mining.set_difficulty", [4.0], rpc=True), gap=0.01)
    job = h.uint(1, 5000)
    stamp = 1_767_600_000_000 + h.uint(0, 10**8)
    for i in range(jobs):
        job += 1
        stamp += 1000
        if big:
            params: list[object] = [str(job), h.hex(40)]
        else:
            words = [h.uint(0, (1 << 64) - 1) for _ in range(4)]
            params = [str(job), words, stamp]
        talk.s(push("mining.notify", params, ident=job, rpc=True), gap=0.9)
        if i % 2 == 1 and shares > 0:
            shares -= 1
            talk.c(request(100 + i, "mining.submit", [user, str(job), "0x" + h.hex(8)], rpc=True))
            talk.s(reply(100 + i, True, rpc=True), gap=0.05)


# --- KAWPOW (Ravencoin, Neoxa...) -----------------------------------------------------


def kawpow(
    talk: Talk,
    h: HexStream,
    *,
    agent: str = "GMiner/3.44",
    user: str | None = None,
    host: str = "rvn.pool.example",
    port: int = 6060,
    jobs: int = 4,
    shares: int = 3,
) -> None:
    """GMiner against a KAWPOW pool: subscribe ``[agent, null, host, port]`` answered
    ``[null, nonceprefix]`` (nicehash/Specifications KawPow_NiceHash_v1.0.txt;
    RavenCommunity/kawpow-stratum-pool lib/stratum.js handleSubscribe), authorize,
    ``mining.set_target [target]``, ``mining.notify [job, header hash, seed hash, share
    target, clean, height, bits]`` (lib/blockTemplate.js getJobParams, params[3] the
    miner's target), submits ``[worker, job, 0x nonce, 0x header hash, 0x mix hash]``
    (lib/stratum.js handleSubmit strips the three ``0x``)."""
    user = user or ravencoin_address(h) + ".rig1"
    talk.c(request(1, "mining.subscribe", [agent, None, host, str(port)]))
    talk.s(reply(1, [None, h.hex(3)]))
    talk.c(request(2, "mining.authorize", [user, "x"]))
    talk.s(reply(2, True))
    target = share_target(h, 8)
    talk.s(push("mining.set_target", [target]), gap=0.01)
    seed, height, job = h.hex(32), h.uint(3_500_000, 3_900_000), h.uint(0x100, 0xFFF)
    current = ""
    for i in range(jobs):
        job += 1
        height += i % 2
        current = f"{job:x}"
        header = h.hex(32)
        params = [current, header, seed, target, i % 2 == 0, height, "1b00f2a3"]
        talk.s(push("mining.notify", params), gap=25.0 if i else 0.01)
        if shares > 0 and i < jobs:
            shares -= 1
            submit = [user, current, "0x" + h.hex(8), "0x" + header, "0x" + h.hex(32)]
            talk.c(request(10 + i, "mining.submit", submit), gap=11.0)
            talk.s(reply(10 + i, True), gap=0.06)


# --- Ergo (Autolykos2) ----------------------------------------------------------------


def ergo(
    talk: Talk, h: HexStream, *, agent: str = "lolMiner 1.88", jobs: int = 4, shares: int = 3
) -> None:
    """lolMiner against a miningcore Ergo pool (oliverw/miningcore
    src/Miningcore/Blockchain/Ergo/ErgoPool.cs): subscribe answered
    ``[[["mining.set_difficulty", id], ["mining.notify", id]], extranonce1, extranonce2
    size]``, authorize ``true``, then per job ``mining.set_difficulty [1]`` and
    ``mining.notify [job, height, msg, "", "", version, share target (decimal text), "",
    clean]`` (SendJob; ErgoJob.cs Init). Submits ``[worker, job, extranonce2, "", nonce
    (extranonce1 + extranonce2)]`` (ErgoJob.ProcessShare's extraNonce2, nTime, nonce).
    Member order of miningcore's lines modelled (jsonrpc, method/result, params, id)."""
    user = ergo_address(h) + ".rig" + str(h.uint(1, 9))
    conn, en1 = h.hex(4), h.hex(2)
    talk.c(request(1, "mining.subscribe", [agent]))
    talk.s(
        jc(
            {
                "jsonrpc": "2.0",
                "result": [
                    [["mining.set_difficulty", conn], ["mining.notify", conn]],
                    en1,
                    6,
                ],
                "id": 1,
            }
        )
    )
    talk.c(request(2, "mining.authorize", [user, "x"]))
    talk.s(jc({"jsonrpc": "2.0", "result": True, "id": 2}))
    height, job = h.uint(1_400_000, 1_500_000), h.uint(1000, 9000)
    # miningcore: Diff1 x (1 / difficulty), Bitcoin's difficulty-1 target 0xffff x 2^208;
    # a difficulty of a few: a share every minute or so from a few hundred MH/s of GPUs
    target = str((0xFFFF << 208) // h.uint(2, 8))
    for i in range(jobs):
        job += 1
        height += 1
        current = f"{job:x}"
        params = [current, height, h.hex(32), "", "", 2, target, "", True]
        talk.s(
            jc({"jsonrpc": "2.0", "method": "mining.set_difficulty", "params": [1], "id": None})
            + jc({"jsonrpc": "2.0", "method": "mining.notify", "params": params, "id": None}),
            gap=40.0 if i else 0.01,
        )
        if shares > 0:
            shares -= 1
            en2 = h.hex(6)
            talk.c(request(3 + i, "mining.submit", [user, current, en2, "", en1 + en2]), gap=17.0)
            talk.s(jc({"jsonrpc": "2.0", "result": True, "id": 3 + i}), gap=0.07)


# --- Equihash: Flux (125,4), Bitcoin Gold (144,5) --------------------------------------


def equihash(
    talk: Talk,
    h: HexStream,
    *,
    n: int,
    k: int,
    user: str,
    agent: str = "GMiner/3.44",
    host: str = "pool.example",
    port: int = 3333,
    version: str = "04000000",
    extended: tuple[str, str] | None = None,
    jobs: int = 3,
    shares: int = 3,
) -> None:
    """Zcash's ZIP-301 Stratum as Equihash GPU pools speak it: subscribe ``[agent, null,
    host, port]`` answered ``[null, nonce1]``, authorize, ``mining.set_target``,
    ``mining.notify [job, version, prevhash, merkleroot, reserved, time, bits, clean]`` -
    with ``extended`` the two Zhash parameters after them, ``"144_5"`` and the
    personalisation (nicehash/Specifications Zhash_NiceHash_v1.0.txt;
    mit-dci/pooldetective stratum/cmd/server/main.go sends ``"144_5", "BgoldPoW"``) -
    and submits ``[worker, job, time, nonce2, solution]``, the solution with its
    compact-size length in front: 2^k x (n / (k + 1) + 1) / 8 bytes
    (RunOnFlux/fluxd src/crypto/equihash.h)."""
    size = (1 << k) * (n // (k + 1) + 1) // 8
    prefix = f"{size:02x}" if size < 0xFD else "fd" + size.to_bytes(2, "little").hex()
    nonce1 = h.hex(4)
    talk.c(request(1, "mining.subscribe", [agent, None, host, str(port)]))
    talk.s(reply(1, [None, nonce1]))
    talk.c(request(2, "mining.authorize", [user, "x"]))
    talk.s(reply(2, True))
    talk.s(push("mining.set_target", [share_target(h, 4)]), gap=0.01)
    stamp = 0x67A0_0000 + h.uint(0, 1 << 20)
    for i in range(jobs):
        stamp += 60
        ntime = stamp.to_bytes(4, "little").hex()
        current = h.hex(4)
        params: list[object] = [
            current, version, h.hex(32), h.hex(32), h.hex(32), ntime, "1d0fffff", True,
        ]  # fmt: skip
        if extended:
            params += list(extended)
        talk.s(push("mining.notify", params), gap=30.0 if i else 0.01)
        if shares > 0:
            shares -= 1
            solution = prefix + h.hex(size)
            talk.c(
                request(10 + i, "mining.submit", [user, current, ntime, h.hex(28), solution]),
                gap=12.0,
            )
            talk.s(reply(10 + i, True), gap=0.08)


def flux(talk: Talk, h: HexStream, **kw: object) -> None:
    """Flux (ZelHash = Equihash 125,4): GMiner ``--algo equihash125_4 --pers ZelProof``
    on a Flux pool (the pool sends no personalisation; the 52-byte solution names 125,4)."""
    user = t_address(h) + ".rig1"
    equihash(talk, h, n=125, k=4, user=user, host="eu-flux.fluxpools.net", port=7003, **kw)  # type: ignore[arg-type]


def bitcoin_gold(talk: Talk, h: HexStream, **kw: object) -> None:
    """Bitcoin Gold (Equihash 144,5, "Zhash"): lolMiner with ``--pers auto`` on a pool
    that appends ``"144_5", "BgoldPoW"`` to its jobs; 100-byte solutions."""
    user = bitcoin_gold_address(h) + ".rig1"
    equihash(
        talk, h, n=144, k=5, user=user, agent="lolMiner 1.88", host="btg.pool.example",
        port=4040, version="00000020", extended=("144_5", "BgoldPoW"), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


# --- Alephium (Blake3) ----------------------------------------------------------------


def alephium(talk: Talk, h: HexStream, *, jobs: int = 2, shares: int = 2) -> None:
    """alephium/mining-pool: the pool speaks first - ``mining.set_difficulty`` and one
    ``mining.notify`` whose params are the jobs of all 16 chains, ``{jobId, fromGroup,
    toGroup, headerBlob, txsBlob}`` (lib/stratum.js sendMiningJob; lib/blockTemplate.js
    getJobParams, an empty txsBlob); the miner submits an object ``{jobId, fromGroup,
    toGroup, nonce (24 bytes), worker}`` and the pool answers with a
    ``mining.submit_result`` message (lib/stratum.js handleSubmit; lib/jobManager.js
    processShare; lib/constants.js NonceLength 24). The header blob is 301 bytes: a
    block header without its nonce (version, 7 dependencies, two hashes, timestamp,
    target). The miner's own member order is modelled."""
    user = alephium_address(h) + ".rig" + str(h.uint(1, 9))
    counter = h.uint(1, 0x4000)
    talk.s(push("mining.set_difficulty", [1]))
    templates: list[dict[str, object]] = []
    for i in range(jobs):
        templates = []
        for chain in range(16):
            counter += 1
            templates.append(
                {
                    "jobId": f"{counter:x}",
                    "fromGroup": chain // 4,
                    "toGroup": chain % 4,
                    "headerBlob": h.hex(301),
                    "txsBlob": "",
                }
            )
        talk.s(push("mining.notify", templates), gap=16.0 if i else 0.01)
        for s in range(shares if i == jobs - 1 else 1):
            job = templates[(5 + 3 * s) % 16]
            submit = {
                "jobId": job["jobId"],
                "fromGroup": job["fromGroup"],
                "toGroup": job["toGroup"],
                "nonce": h.hex(24),
                "worker": user,
            }
            talk.c(request(20 + i * 4 + s, "mining.submit", submit), gap=4.0)
            talk.s(
                jc({"id": 20 + i * 4 + s, "method": "mining.submit_result", "result": True,
                    "error": None}),
                gap=0.05,
            )  # fmt: skip


# --- Conflux (Octopus), as NiceHash serves it -----------------------------------------


def octopus(talk: Talk, h: HexStream, *, jobs: int = 4, shares: int = 2) -> None:
    """Conflux's Octopus as NiceHash serves it, caught mid-session (the handshake is not
    specified there): ``mining.notify [job, height (decimal text), 0x PoW hash, 0x
    boundary]`` (nicehash/Specifications Octopus_NiceHash_v1.0.txt, its example with
    ``"id": 0``), submits ``[worker, job, 0x nonce, 0x hash]`` answered ``["true"]``
    (Conflux-Chain/conflux-doc docs/stratum.md mining.submit)."""
    user = bitcoin_p2sh(h) + ".rig1"
    height = h.uint(90_000_000, 99_000_000)
    boundary = "0x" + share_target(h, 7)[7:]
    for i in range(jobs):
        height += 2
        job, pow_hash = h.hex(4), "0x" + h.hex(32)
        talk.s(push("mining.notify", [job, str(height), pow_hash, boundary], ident=0),
               gap=8.0 if i else 0.01)  # fmt: skip
        if i < shares:
            talk.c(
                request(5 + i, "mining.submit", [user, job, "0x" + h.hex(32), pow_hash], rpc=True),
                gap=3.0,
            )
            talk.s(jc({"jsonrpc": "2.0", "result": ["true"], "id": 5 + i}), gap=0.05)


# --- Ethereum Classic: EthereumStratum/1.0.0 to an ETC pool ----------------------------


def etc_ethstratum(talk: Talk, h: HexStream, *, jobs: int = 3, shares: int = 2) -> None:
    """lolMiner with NiceHash's EthereumStratum/1.0.0 (nicehash/Specifications
    EthereumStratum_NiceHash_v1.0.0.txt) on an Ethereum Classic pool: what tells ETC from
    Ethereum is not in the messages (same jobs, same 0x addresses) but the pool's name
    (tests pair it with a DNS answer for a listed ETC pool)."""
    user = eth_address(h) + ".rig1"
    talk.c(request(1, "mining.subscribe", ["lolMiner 1.88", "EthereumStratum/1.0.0"], rpc=True))
    talk.s(reply(1, [["mining.notify", h.hex(8), "EthereumStratum/1.0.0"], h.hex(2)]))
    talk.c(request(2, "mining.authorize", [user, "x"], rpc=True))
    talk.s(reply(2, True))
    talk.s(push("mining.set_difficulty", [1.0]), gap=0.01)
    seed = h.hex(32)
    for i in range(jobs):
        job = h.hex(4)
        talk.s(push("mining.notify", [job, seed, h.hex(32), True]), gap=15.0 if i else 0.01)
        if i < shares:
            talk.c(request(4, "mining.submit", [user, job, h.hex(6)], rpc=True), gap=6.0)
            talk.s(reply(4, True), gap=0.05)


# --- the catalogue --------------------------------------------------------------------


@dataclass(frozen=True)
class Coin:
    """One coin's session: the ticker minewatch must name, the flavour its shapes show,
    the dialect its messages settle to, and the writer."""

    ticker: str
    flavour: str | None
    dialect: str
    play: Callable[..., None]


COINS: dict[str, Coin] = {
    "kas": Coin("KAS", "kaspa", ETHEREUM_STRATUM, kaspa_bridge),
    "rvn": Coin("RVN", "kawpow", STRATUM_V1, kawpow),
    "erg": Coin("ERG", "autolykos", STRATUM_V1, ergo),
    "flux": Coin("FLUX", "equihash-125-4", STRATUM_V1, flux),
    "btg": Coin("BTG", "equihash-144-5", STRATUM_V1, bitcoin_gold),
    "alph": Coin("ALPH", "alephium", STRATUM_V1, alephium),
    "cfx": Coin("CFX", "octopus", STRATUM_V1, octopus),
    "etc": Coin("ETC", None, ETHEREUM_STRATUM, etc_ethstratum),
}


def play(key: str, talk: Talk, seed: str, **kw: object) -> Coin:
    """Play coin ``key``'s session into ``talk`` from ``seed``; return its catalogue row."""
    coin = COINS[key]
    coin.play(talk, HexStream(f"gpucoins:{key}:{seed}"), **kw)
    return coin


def connection(
    client: tuple[str, int],
    server: tuple[str, int],
    start: int,
    script: Callable[[Talk], None],
    *,
    handshake: bool = True,
    resolve: tuple[str, str] | None = None,
) -> list[Packet]:
    """The packets of one scripted connection from ``start`` (ns), closed a second after
    its last message; with ``resolve`` = (resolver IP, name), the client first looks the
    server's address up under that name (the pool lists then know the server)."""
    out: list[Packet] = []
    begin = start
    if resolve is not None:
        resolver, name = resolve
        out += dns.exchange(client[0], resolver, client[1] + 1, client[1] & 0xFFFF, name,
                            [server[0]], start)  # fmt: skip
        begin = at(0.05, start)
    conv = Conversation(client, server, begin, handshake=handshake)
    talk = Talk(conv, begin)
    script(talk)
    conv.close(at(talk.t + 1.0, begin))
    out += conv.finish()
    out.sort(key=lambda p: (p.ts_ns, p.order))
    return out


# --- hostile and malformed variants ----------------------------------------------------

HOSTILE_WORKER = (
    "\x1b[2J\x1b[31mPWNED\x1b[0m<script>alert(1)</script>;rm -rf /;"
    "../../etc/passwd\u202e\u0000" + "A" * 3000
)
HOSTILE_KINDS = (
    "bad-json",
    "huge-numbers",
    "hostile-worker",
    "wrong-hex",
    "swapped-types",
    "deep-nesting",
)


def hostile(talk: Talk, seed: str, kind: str) -> None:
    """A session in the GPU coins' shapes, broken in one way (``HOSTILE_KINDS``)."""
    h = HexStream(f"gpucoins:hostile:{kind}:{seed}")
    if kind == "bad-json":
        talk.c(ln('{"id":1,"method":"mining.subscribe","params":["GMiner/3.44",null,'))
        talk.c(ln('{"id":2,"method":"mining.authorize","params":[' + '"x",' * 50))
        talk.s(ln('{"id":null,"method":"mining.notify","params":["1",{{{{]]]]}'))
        talk.s(b"\xff\xfe\x00garbage\x00" * 40 + b"\n")
        talk.s(ln('{"id":null,"method":"mining.notify","params":' + "[" * 20))
        talk.c(ln('{"id":3,"method":"mining.submit","params":{"fromGroup":1,"toGroup":'))
    elif kind == "huge-numbers":
        huge = int("9" * 4000)  # Python's json refuses more than 4300 digits per number
        talk.c(request(1, "mining.subscribe", ["GMiner/3.44", None, "h", "1"]))
        talk.s(push("mining.set_difficulty", [1e308]))
        talk.s(push("mining.set_difficulty", [huge]))
        talk.s(push("mining.notify", ["1", 10**30, h.hex(32), "", "", 2, str(huge), "", True]))
        talk.s(push("mining.notify", ["2", h.hex(32), h.hex(32), "0" * 64, True, huge, "1b00f2a3"]))
        talk.s(push("mining.notify", ["3", [huge, -1, 2**64, 1.5], huge]))
        talk.s(ln('{"id":null,"method":"mining.notify","params":["4",' + "9" * 5000 + "]}"))
        talk.c(request(2, "mining.submit", {"fromGroup": huge, "toGroup": -huge, "nonce": "00"}))
    elif kind == "hostile-worker":
        talk.c(request(1, "mining.subscribe", [HOSTILE_WORKER, None, HOSTILE_WORKER, "6060"]))
        talk.s(reply(1, [None, h.hex(3)]))
        talk.c(request(2, "mining.authorize", [HOSTILE_WORKER, HOSTILE_WORKER]))
        talk.s(reply(2, True))
        header = h.hex(32)
        talk.s(push("mining.notify", ["1a", header, h.hex(32), share_target(h, 8), True, 1,
                                      "1b00f2a3"]))  # fmt: skip
        talk.c(request(3, "mining.submit", [HOSTILE_WORKER, "1a", "0x" + h.hex(8),
                                            "0x" + header, "0x" + h.hex(32)]))  # fmt: skip
        talk.s(reply(3, True))
        talk.s(push("mining.notify", ["1b", h.hex(32), h.hex(32), share_target(h, 8), True, 2,
                                      "1b00f2a3"]), gap=20.0)  # fmt: skip
        submit = {"jobId": HOSTILE_WORKER, "fromGroup": 0, "toGroup": 1, "nonce": h.hex(24),
                  "worker": HOSTILE_WORKER}  # fmt: skip
        talk.c(request(4, "mining.submit", submit))
        notify = ["1", "00000020", h.hex(32), h.hex(32), h.hex(32), h.hex(4), "1d0fffff", True,
                  "144_5", "\x1b[31mPoW\x07"]  # fmt: skip
        talk.s(push("mining.notify", notify))
    elif kind == "wrong-hex":
        talk.c(request(1, "mining.subscribe", ["lolMiner 1.88", None, "h", "1"]))
        talk.s(push("mining.notify", ["1", "zz" * 32, h.hex(31), "0x", True, 1, "nothex!!"]))
        talk.s(push("mining.notify", ["2", h.hex(41)]))  # 82 digits, not the bridge's 80
        talk.s(push("mining.notify", ["3", "1", "0x" + h.hex(32), "0x" + "0" * 64]))  # zero
        zhash = ["4", "04000000", h.hex(32), h.hex(32), h.hex(32), h.hex(4), "1d0fffff", True]
        talk.s(push("mining.notify", [*zhash, "999_9", "toolongpers"]))
        for solution in ("34" + h.hex(51), "fd4005" + h.hex(1343), "ff" + h.hex(52), "3"):
            talk.c(request(2, "mining.submit", ["w", "1", h.hex(4), h.hex(28), solution]))
        talk.c(request(3, "mining.submit", {"fromGroup": 0, "toGroup": 0, "nonce": h.hex(23)}))
    elif kind == "swapped-types":
        talk.c(request(1, "mining.subscribe", {"agent": ["x"], "host": 5}))
        talk.c(request(2, "mining.authorize", [None, {"a": 1}]))
        talk.s(push("mining.notify", [True, "0" * 64, "0" * 64, "0" * 64, "yes", "1", 7]))
        talk.s(push("mining.notify", [None, [1, 2, 3, 4], "1767600000"]))
        talk.s(push("mining.notify", [{"fromGroup": "0", "toGroup": None, "headerBlob": 5}]))
        talk.s(push("mining.notify", ["1", "12", 3.5, 0, "", 2, [], "", "x"]))
        talk.s(push("mining.set_target", [12345]))
        talk.c(request(3, "mining.submit", "not a list"))
        talk.c(request(4, "mining.submit", [1, 2, 3, 4, 5]))
    elif kind == "deep-nesting":
        deep: object = "x"
        for _ in range(200):
            deep = [deep]
        talk.c(request(1, "mining.subscribe", [deep]))
        talk.s(push("mining.notify", [deep] * 4))
        talk.s(push("mining.notify", [{"fromGroup": 0, "toGroup": 0, "headerBlob": deep}]))
        talk.c(request(2, "mining.submit", {"fromGroup": deep, "toGroup": 0, "nonce": deep}))
    else:
        raise ValueError(f"unknown hostile kind {kind!r}")
