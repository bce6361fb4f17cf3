"""Generate minewatch's labelled test captures: ``python -m tools.make_fixtures [OUTDIR]``.

Why crafted captures at all: public miner captures are few, old and all on the obvious
ports; the detector must be tested on every dialect, every real client's byte-level
habits (spacing, key order, id types, agents, wallet formats), every capture format and
link layer it claims to read, TCP's ugly cases (split, coalesced, retransmitted and
reordered segments, sessions caught mid-way), and on hard negatives that look like mining
to a naive rule (newline JSON-RPC, a method called ``login``, JSON on :3333, node P2P).

This file holds the fixture definitions - who talks to whom, when, on which link, with
which values; every message, conversation and file format is written by
:mod:`detector.synth`, whose dialect modules (:mod:`detector.synth.dialects`) write each
client's and pool's messages as the real programs send them and name the source each
format was read from (where a client is closed source the format is modelled on its
published logs, and the fixture's notes say so). Every capture is a pure function of this
file and that package: running it twice gives identical bytes, and
``tests/test_fixtures_deterministic.py`` checks the committed ``pcaps/`` against a fresh run.

Each fixture is registered with :func:`fixture`; ``OUTDIR/manifest.toml`` gets one
``[[capture]]`` table per file: ``file``, ``suspects`` (client IPs that must become
suspects; empty for negatives), ``dialects`` (names from :mod:`detector.dialects`),
``coins`` where the fixture pins the coin down (the post-Merge GPU coins) and ``notes``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from detector.dialects import (
    BROWSER_WS,
    CRYPTONOTE,
    ETH_GETWORK_HTTP,
    ETH_PROXY,
    ETHEREUM_STRATUM,
    GBT_HTTP,
    GETWORK_HTTP,
    MONERO_DAEMON_HTTP,
    STRATUM_V1,
)
from detector.dialects import KNOWN as DIALECTS  # the manifest's dialect names
from detector.synth import tunnels, upgrades
from detector.synth.benign import bitcoin_p2p, devp2p, dns, levin, mqtt, websocket
from detector.synth.benign.tls import load_templates
from detector.synth.chain import (
    HexStream,
    eth_address,
    le32hex,
    monero_address,
    raptoreum_address,
    segwit_address,
    uuid_text,
    varint,
    zcash_t_address,
)
from detector.synth.clock import at, unix
from detector.synth.conversation import Conversation, Script, Talk
from detector.synth.dialects import (
    cryptonote,
    ethgetwork,
    ethproxy,
    ethstratum,
    getwork,
    gpucoins,
    monerod,
    stratum,
    webminer,
)
from detector.synth.dialects.cryptonote import (
    XMRIG_AGENT,
    XMRIG_EXTENSIONS,
    MoneroJobs,
    xmrig_algos,
    xmrig_login,
)
from detector.synth.dialects.ethash import EthJobs
from detector.synth.dialects.ethstratum import (
    ETHMINER,
    LOLMINER,
    NBMINER,
    TREX,
    ethminer_hashrate,
)
from detector.synth.dialects.stratum import (
    BITMINTER,
    BITMINTER_PUSH,
    CKPOOL,
    CKPOOL_PUSH,
    ID_FIRST,
    PUBLIC_POOL,
    BitcoinJobs,
)
from detector.synth.http import basic_auth, http_date, http_req, http_resp
from detector.synth.lines import jc, js
from detector.synth.links import (
    GATEWAY_MAC,
    PPI,
    PPP,
    CiscoHDLC,
    Dot11,
    Ethernet,
    Link,
    LinuxSLL,
    LinuxSLL2,
    Null,
    Radiotap,
    RawIP,
    cdp_announcement,
    dot11_ack,
    dot11_beacon,
    dot11_null,
    dot11_protected,
    frames,
    lcp_echo,
    mac_for,
    merge_records,
    slarp_keepalive,
)
from detector.synth.packets import Packet, tcp_raw, udp
from detector.synth.pcap import gzip_bytes, pcap_bytes
from detector.synth.pcapng import Interface, pcapng_bytes


@dataclass(frozen=True)
class Fixture:
    """One capture file and its label."""

    file: str
    suspects: tuple[str, ...]
    dialects: tuple[str, ...]
    notes: str
    build: Callable[[], bytes]
    coins: tuple[str, ...] = ()  # the coins the suspects mine, where the capture says


FIXTURES: list[Fixture] = []


def fixture(file: str, suspects: Sequence[str], dialects: Sequence[str], notes: str,
            coins: Sequence[str] = ()) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    """Register a builder that returns the capture's bytes."""

    def deco(fn: Callable[[], bytes]) -> Callable[[], bytes]:
        unknown = set(dialects) - set(DIALECTS)
        if unknown:
            raise ValueError(f"{file}: unknown dialects {sorted(unknown)}")
        if any(f.file == file for f in FIXTURES):
            raise ValueError(f"duplicate fixture {file}")
        FIXTURES.append(Fixture(file, tuple(suspects), tuple(dialects), notes, fn, tuple(coins)))
        return fn

    return deco


# --- small helpers ------------------------------------------------------------------------

def base(minutes: float) -> int:
    """Start time of a fixture: minutes after T0, so captures do not all overlap."""
    return at(minutes * 60.0)


def t(b: int, seconds: float) -> int:
    """``seconds`` after the fixture base ``b``."""
    return at(seconds, b)


def pcap(packets: Sequence[Packet], link: Link | None = None, *, big_endian: bool = False,
         nanosecond: bool = False) -> bytes:
    """Frame and write packets as a classic pcap (Ethernet unless told otherwise)."""
    lk = link if link is not None else Ethernet()
    order = ">" if big_endian else "<"
    return pcap_bytes(frames(packets, lk, order), lk.linktype, big_endian=big_endian,
                      nanosecond=nanosecond)


# =====================================================================================
# Stratum v1 (Bitcoin / Litecoin / Zcash / GhostRider)
# =====================================================================================

@fixture("stratum-v1-cgminer-btc.pcap", ["10.1.0.5"], [STRATUM_V1],
         "cgminer 4.12 BTC on :3333: subscribe/authorize, set_difficulty, mining.notify every "
         "~30 s (one new block), four submits; formats from cgminer util.c/cgminer.c sprintf "
         "templates (spaced JSON, integer ids from swork_id, params before id in submit)")
def stratum_cgminer_btc() -> bytes:
    b = base(0)
    cli, pool = ("10.1.0.5", 51234), ("198.51.100.10", 3333)
    user = "satoshi_r.rig01"
    jobs = BitcoinJobs("cgminer-btc", 930_112, "1701f303", en1=4, en2=8,
                       job_id=lambda n: f"{0x695b8b00 + n:08x}{n:08x}")
    c = Conversation(cli, pool, t(b, -0.2), rtt=0.032)
    c.client_send(stratum.subscribe(0, "cgminer/4.12.1"), t(b, 0.05))
    c.server_send(stratum.reply(0, [[["mining.notify", "7c1c43b1"]], "7c1c43b1", 8], CKPOOL),
                  t(b, 0.083))
    c.client_send(stratum.authorize(1, user, "x"), t(b, 0.085))
    first = jobs.notify(t(b, 0.12), clean=True)
    c.server_send(stratum.reply(1, True, CKPOOL)
                  + stratum.set_difficulty(65536, CKPOOL_PUSH) + stratum.notify(first),
                  t(b, 0.12))
    sid = 2
    current = first
    events = [(31.4, "n"), (18.7, "s"), (62.8, "n"), (77.3, "s"), (95.2, "n"),
              (137.9, "b"), (160.2, "s"), (171.3, "n"), (199.9, "s"), (214.0, "n")]
    for when, kind in sorted(events):
        if kind in "nb":
            current = jobs.notify(t(b, when), clean=kind == "b")
            c.server_send(stratum.notify(current), t(b, when))
        else:
            job, en2, ntime, nonce, _ = jobs.share(current)
            c.client_send(stratum.submit_cgminer(sid, user, job, en2, ntime, nonce), t(b, when))
            c.server_send(stratum.reply(sid, True, CKPOOL), t(b, when + 0.034))
            sid += 1
    c.close(t(b, 230.0))
    return pcap(c.finish())


@fixture("stratum-v1-bfgminer-port80.pcap", ["10.1.0.17"], [STRATUM_V1],
         "bfgminer 5.5 Stratum on port 80 (firewall evasion): string ids (\"auth\", "
         "\"txlist<job>\"), mining.get_transactions after every notify, set_difficulty with "
         "a non-null id as BitMinter sends it")
def stratum_bfgminer_port80() -> bytes:
    b = base(10)
    cli, pool = ("10.1.0.17", 40912), ("203.0.113.45", 80)
    user = "broker_7.worker1"
    jobs = BitcoinJobs("bfgminer-80", 930_140, "1701f303", en1=4, en2=4, branches=10,
                       tag=b"\x09BitMinter", job_id=lambda n: f"{0x2e41 + n // 3:x}-{n % 7:x}",
                       witness=True)
    c = Conversation(cli, pool, t(b, -0.2), rtt=0.041)
    c.client_send(stratum.subscribe(0, "bfgminer/5.5.0"), t(b, 0.02))
    first = jobs.notify(t(b, 0.065), clean=True)
    c.server_send(stratum.reply(0, [[["mining.notify", "1"], ["mining.set_difficulty", "2"]],
                                    "00b61a3f", 4], BITMINTER)
                  + stratum.set_difficulty(4096, BITMINTER_PUSH, ident=1)
                  + stratum.notify(first, BITMINTER_PUSH, ident=1), t(b, 0.065))
    c.client_send(stratum.authorize("auth", user, "x"), t(b, 0.066))
    c.server_send(stratum.reply("auth", True, BITMINTER), t(b, 0.11))
    h = HexStream("bfgminer-80-tx")

    def gettx(params: list[object], when: float) -> None:
        job = params[0]
        c.client_send(stratum.get_transactions(str(job)), t(b, when))
        txs = ["02000000000101" + h.hex(120) for _ in range(3)]
        c.server_send(stratum.reply(f"txlist{job}", txs, BITMINTER), t(b, when + 0.043))

    gettx(first, 0.111)
    sid = 2
    current = first
    for when, kind in [(24.6, "n"), (41.0, "s"), (58.1, "n"), (96.7, "b"), (121.3, "s"),
                       (139.5, "n"), (170.2, "n"), (188.8, "s")]:
        if kind in "nb":
            current = jobs.notify(t(b, when), clean=kind == "b")
            c.server_send(stratum.notify(current, BITMINTER_PUSH, ident=1), t(b, when))
            gettx(current, when + 0.0004)
        else:
            job, en2, ntime, nonce, _ = jobs.share(current)
            c.client_send(stratum.submit_cgminer(sid, user, job, en2, ntime, nonce), t(b, when))
            c.server_send(stratum.reply(sid, True, BITMINTER), t(b, when + 0.044))
            sid += 1
    c.close(t(b, 200.0), by="server")
    return pcap(c.finish())


@fixture("stratum-v1-cpuminer-ltc-8080.pcap", ["192.168.10.23"], [STRATUM_V1],
         "pooler cpuminer 2.5.1 scrypt (Litecoin) on :8080, address-as-username with "
         "\"c=LTC\" password (zpool style), fractional difficulty, cpuminer's submit template "
         "with id last and no space (\"id\":4)")
def stratum_cpuminer_ltc() -> bytes:
    b = base(20)
    cli, pool = ("192.168.10.23", 38114), ("198.51.100.77", 8080)
    addr = segwit_address("ltc", HexStream("ltc-wallet").bytes(20))
    jobs = BitcoinJobs("cpuminer-ltc", 3_041_877, "1924c1b6", en1=4, en2=4, branches=6,
                       tag=b"/zpool/", reward=625_000_000, job_id=lambda n: f"{0x1f3a + n:x}")
    c = Conversation(cli, pool, t(b, -0.2), rtt=0.058)
    c.client_send(stratum.subscribe(1, "cpuminer/2.5.1"), t(b, 0.01))
    c.server_send(stratum.reply(1, [[["mining.set_difficulty", "deadbeefcafebabe9a1c0000"],
                                     ["mining.notify", "deadbeefcafebabe9a1c0000"]],
                                    "9a1c0000", 4]), t(b, 0.07))
    c.client_send(stratum.authorize(2, addr, "c=LTC"), t(b, 0.071))
    first = jobs.notify(t(b, 0.13), clean=True)
    c.server_send(stratum.reply(2, True) + stratum.set_difficulty(0.0625)
                  + stratum.notify(first, ID_FIRST), t(b, 0.13))
    current = first
    for when, kind in [(44.2, "n"), (71.9, "s"), (101.5, "b"), (139.0, "n"), (166.4, "s"),
                       (183.7, "n"), (226.1, "s"), (238.8, "b")]:
        if kind in "nb":
            current = jobs.notify(t(b, when), clean=kind == "b")
            c.server_send(stratum.notify(current, ID_FIRST), t(b, when))
        else:
            job, en2, ntime, nonce, _ = jobs.share(current)
            c.client_send(stratum.submit_cpuminer(addr, job, en2, ntime, nonce), t(b, when))
            c.server_send(stratum.reply(4, True), t(b, when + 0.06))
    c.close(t(b, 250.0))
    return pcap(c.finish())


@fixture("stratum-v1-zcash-equihash-443.pcap", ["192.168.10.41"], [STRATUM_V1],
         "Zcash Equihash (ZIP-301) in cleartext on :443: 4-element subscribe [agent, null, "
         "host, port], mining.set_target, extranonce.subscribe, 8-param notify, 1347-byte "
         "solutions so every submit spans two TCP segments; format as EWBF sends it")
def stratum_zcash() -> bytes:
    b = base(30)
    cli, pool = ("192.168.10.41", 50522), ("203.0.113.9", 443)
    h = HexStream("zcash")
    worker = zcash_t_address(h) + ".rig4"
    nonce1 = "5b0c9e31"
    c = Conversation(cli, pool, t(b, -0.2), rtt=0.081, client_ttl=128)
    c.client_send(stratum.zcash_subscribe("EWBF 0.6", "zec.pool.example.net", "443"),
                  t(b, 0.01))
    c.server_send(stratum.zcash_subscribe_result(nonce1), t(b, 0.092))
    c.client_send(stratum.zcash_authorize(worker), t(b, 0.0922))
    target = "0004189374bc6a7ef9db22d0e5604189374bc6a7ef9db22d0e5604189374bc6a"
    c.server_send(stratum.zcash_authorize_result() + stratum.zcash_set_target(target),
                  t(b, 0.174))
    c.client_send(stratum.zcash_extranonce_subscribe(), t(b, 0.1742))
    jobn = 0x8c6f2d4c6d2c7014FB26

    def job_id() -> str:
        nonlocal jobn
        jobn += 0x1D3A5
        return f"{jobn:020x}"

    current = stratum.zcash_notify(h, job_id(), t(b, 1.2), True)
    c.server_send(stratum.notify(current, ID_FIRST), t(b, 1.2))
    sid = 100
    for when, kind in [(38.4, "n"), (51.9, "s"), (75.0, "s"), (76.3, "n"), (112.8, "n"),
                       (130.1, "s"), (151.6, "n"), (170.4, "s")]:
        if kind == "n":
            current = stratum.zcash_notify(h, job_id(), t(b, when), True)
            c.server_send(stratum.notify(current, ID_FIRST), t(b, when))
        else:
            nonce2 = h.hex(27) + "00"
            solution = "fd4005" + h.hex(1344)
            msg = stratum.zcash_submit(sid, worker, str(current[0]), str(current[5]), nonce2,
                                       solution)
            c.client_send(msg, t(b, when))
            c.server_send(stratum.zcash_submit_result(sid), t(b, when + 0.082))
            sid += 1
    c.close(t(b, 180.0))
    return pcap(c.finish())


@fixture("stratum-v1-bitaxe-version-rolling-vlan.pcap", ["10.20.0.31"], [STRATUM_V1],
         "Bitaxe (ESP-Miner) on 802.1Q VLAN 20 to a solo pool: mining.configure "
         "version-rolling + subscribe + authorize in one segment, suggest_difficulty, "
         "set_version_mask, 6-param submits with version bits; templates from ESP-Miner "
         "stratum_api.c; bech32 payout address as username")
def stratum_bitaxe() -> bytes:
    b = base(40)
    cli, pool = ("10.20.0.31", 61820), ("198.51.100.23", 3333)
    user = segwit_address("bc", HexStream("bitaxe-wallet").bytes(20)) + ".bitaxe-gamma-1"
    mask = 0x1FFFE000
    jobs = BitcoinJobs("bitaxe", 930_201, "1701f303", en1=4, en2=4, branches=12,
                       tag=b"/public-pool.io/", job_id=lambda n: f"{0x4e3a1 + n * 7:x}")
    c = Conversation(cli, pool, t(b, -0.2), rtt=0.024, mss=1436)
    c.client_send(stratum.configure_version_rolling(1, "1fffe000")
                  + stratum.subscribe(2, "bitaxe/BM1370/v2.6.2")
                  + stratum.authorize(3, user, "x"), t(b, 0.004))
    c.client_send(stratum.suggest_difficulty(4, 1000), t(b, 0.009))
    c.server_send(stratum.reply(1, {"version-rolling": True, "version-rolling.mask": "1fffe000"},
                                PUBLIC_POOL)
                  + stratum.reply(2, [[["mining.notify", "a3f1c2"]], "a3f1c20e", 4], PUBLIC_POOL)
                  + stratum.reply(3, True, PUBLIC_POOL), t(b, 0.031))
    first = jobs.notify(t(b, 0.06), clean=True)
    c.server_send(stratum.reply(4, True, PUBLIC_POOL)
                  + stratum.push("mining.set_version_mask", ["1fffe000"])
                  + stratum.set_difficulty(1000) + stratum.notify(first, ID_FIRST), t(b, 0.06))
    sid = 5
    current = first
    sched = [(w, "s") for w in (4.1, 11.7, 16.0, 29.3, 41.8, 47.2, 63.5, 70.9, 88.0, 97.4,
                                109.1, 126.6, 133.0, 151.8)]
    sched += [(35.0, "n"), (65.2, "n"), (95.1, "n"), (118.4, "b"), (148.6, "n")]
    for when, kind in sorted(sched):
        if kind in "nb":
            current = jobs.notify(t(b, when), clean=kind == "b")
            c.server_send(stratum.notify(current, ID_FIRST), t(b, when))
        else:
            job, en2, ntime, nonce, vb = jobs.share(current, mask)
            c.client_send(stratum.submit_esp_miner(sid, user, job, en2, ntime, nonce, str(vb)),
                          t(b, when))
            c.server_send(stratum.reply(sid, True, PUBLIC_POOL), t(b, when + 0.025))
            sid += 1
    c.close(t(b, 160.0))
    return pcap(c.finish(), Ethernet(vlan=20))


@fixture("stratum-v1-ghostrider-cpuminer-gr-sll2.pcap", ["10.44.0.12"], [STRATUM_V1],
         "cpuminer-gr 1.2.4.1 (GhostRider, Raptoreum) on :5222, Linux cooked v2 (any): "
         "cpuminer-opt USER_AGENT \"cpuminer-gr-1.2.4.1-x64L\", R... address username, "
         "difficulty 0.5, cpuminer-opt submit template")
def stratum_ghostrider() -> bytes:
    b = base(50)
    cli, pool = ("10.44.0.12", 43562), ("203.0.113.120", 5222)
    user = raptoreum_address(HexStream("rtm-wallet")) + ".vps-07"
    jobs = BitcoinJobs("ghostrider", 1_312_044, "1b0a3e92", en1=4, en2=4, branches=3,
                       tag=b"/flockpool/", version="20000000", reward=375_000_000_000,
                       job_id=lambda n: f"{0x6f10 + n:x}", witness=False)
    c = Conversation(cli, pool, t(b, -0.2), rtt=0.112)
    c.client_send(stratum.subscribe(1, "cpuminer-gr-1.2.4.1-x64L"), t(b, 0.02))
    c.server_send(stratum.reply(1, [[["mining.set_difficulty", "1"], ["mining.notify", "1"]],
                                    "2f000a41", 4]), t(b, 0.133))
    c.client_send(stratum.authorize(2, user, "x"), t(b, 0.134))
    first = jobs.notify(t(b, 0.25), clean=True)
    c.server_send(stratum.reply(2, True) + stratum.set_difficulty(0.5)
                  + stratum.notify(first, ID_FIRST), t(b, 0.25))
    current = first
    for when, kind in [(22.5, "n"), (49.8, "s"), (59.7, "n"), (96.2, "b"), (120.9, "n"),
                       (133.3, "s"), (155.0, "n"), (204.6, "s"), (211.1, "b")]:
        if kind in "nb":
            current = jobs.notify(t(b, when), clean=kind == "b")
            c.server_send(stratum.notify(current, ID_FIRST), t(b, when))
        else:
            job, en2, ntime, nonce, _ = jobs.share(current)
            c.client_send(stratum.submit_cpuminer(user, job, en2, ntime, nonce), t(b, when))
            c.server_send(stratum.reply(4, True), t(b, when + 0.113))
    c.close(t(b, 220.0))
    return pcap(c.finish(), LinuxSLL2(ifindex=3))


@fixture("stratum-v1-midsession-notify-only-sll.pcap", ["10.1.7.20"], [STRATUM_V1],
         "push-only: capture starts mid-session (no SYN, no subscribe) on Linux cooked v1; "
         "only the pool's mining.notify pushes every 20-60 s and one set_difficulty reach "
         "the miner, which sends nothing but ACKs")
def stratum_midsession_notify_only() -> bytes:
    b = base(60)
    cli, pool = ("10.1.7.20", 55810), ("198.51.100.61", 3333)
    jobs = BitcoinJobs("midsession-notify", 930_307, "1701f303", en1=8, en2=8,
                       job_id=lambda n: f"{0x695bcd00 + 3 * n:08x}{n:08x}")
    c = Conversation(cli, pool, t(b, 0), handshake=False, rtt=0.036)
    for i, (when, clean) in enumerate([(3.2, False), (33.9, False), (61.0, True), (88.4, False),
                                       (131.7, False), (152.2, True), (190.6, False),
                                       (222.9, False)]):
        params = jobs.notify(t(b, when), clean=clean)
        msg = stratum.notify(params)
        if i == 2:
            msg = stratum.set_difficulty(131072, CKPOOL_PUSH) + msg
        c.server_send(msg, t(b, when))
    return pcap(c.finish(t(b, 240.0)), LinuxSLL())


@fixture("stratum-v1-segmentation.pcap", ["10.1.0.66"], [STRATUM_V1],
         "TCP edge cases on one cgminer-style session: subscribe split mid-token over three "
         "segments 150 ms apart, handshake replies coalesced in one segment, a notify "
         "delivered out of order, a retransmitted submit, two submits in one segment, a "
         "notify split across segments with no PSH until the end")
def stratum_segmentation() -> bytes:
    b = base(70)
    cli, pool = ("10.1.0.66", 47001), ("203.0.113.77", 3333)
    user = "acme_ops.s9-rack3"
    jobs = BitcoinJobs("segmentation", 930_330, "1701f303", en1=4, en2=8, branches=12,
                       job_id=lambda n: f"{0x3a9e0 + n:x}")
    c = Conversation(cli, pool, t(b, -0.2), rtt=0.045)
    sub = stratum.subscribe(0, "cgminer/4.11.1")
    cut1 = sub.index(b"subscr") + 6
    cut2 = sub.index(b"4.11") + 2
    c.client_send(sub, t(b, 0.05), segments=[cut1, cut2 - cut1, len(sub) - cut2], gap=0.15)
    first = jobs.notify(t(b, 0.45), clean=True)
    c.server_send(stratum.reply(0, [[["mining.notify", "e1f0"]], "e1f00a9d", 8], CKPOOL),
                  t(b, 0.40))
    c.client_send(stratum.authorize(1, user, "x"), t(b, 0.401))
    c.server_send(stratum.reply(1, True, CKPOOL) + stratum.set_difficulty(16384, CKPOOL_PUSH)
                  + stratum.notify(first), t(b, 0.45))
    current = first
    # a notify whose two segments arrive swapped
    current = jobs.notify(t(b, 30.0))
    msg = stratum.notify(current)
    c.server_send(msg, t(b, 30.0), segments=[700, len(msg) - 700], order=[1, 0], gap=0.003)
    # a submit that is retransmitted
    job, en2, ntime, nonce, _ = jobs.share(current)
    c.client_send(stratum.submit_cgminer(2, user, job, en2, ntime, nonce), t(b, 41.5),
                  retransmit=0)
    c.server_send(stratum.reply(2, True, CKPOOL), t(b, 41.8))
    # two submits written back to back end up in one segment
    shares = [jobs.share(current) for _ in range(2)]
    two = b"".join(stratum.submit_cgminer(3 + i, user, j, e, n, x)
                   for i, (j, e, n, x, _) in enumerate(shares))
    c.client_send(two, t(b, 57.25))
    c.server_send(stratum.reply(3, True, CKPOOL) + stratum.reply(4, True, CKPOOL), t(b, 57.30))
    # a notify cut in three without PSH on the first two (a slow pool writer)
    current = jobs.notify(t(b, 61.0), clean=True)
    msg = stratum.notify(current)
    third = len(msg) // 3
    c.server_send(msg, t(b, 61.0), segments=[third, third, len(msg) - 2 * third], gap=0.02)
    current = jobs.notify(t(b, 95.5))
    c.server_send(stratum.notify(current), t(b, 95.5))
    job, en2, ntime, nonce, _ = jobs.share(current)
    c.client_send(stratum.submit_cgminer(5, user, job, en2, ntime, nonce), t(b, 118.2))
    c.server_send(stratum.reply(5, True, CKPOOL), t(b, 118.25))
    c.close(t(b, 125.0))
    return pcap(c.finish())


# =====================================================================================
# EthereumStratum/1.0.0 (NiceHash) and ETH-proxy (Claymore/PhoenixMiner) - Ethash/ETCHash
# =====================================================================================

_ETC_SCHEDULE = [(13.1, "n"), (19.5, "s"), (27.9, "n"), (30.0, "h"), (39.6, "n"),
                 (55.2, "n"), (60.0, "h"), (61.7, "s"), (70.3, "n"), (84.8, "n"),
                 (90.0, "h"), (97.2, "n"), (108.4, "s"), (111.9, "n"), (120.0, "h"),
                 (126.3, "n")]


@fixture("ethstratum-nbminer-14444.pcap", ["192.168.30.14"], [ETHEREUM_STRATUM],
         "NBMiner 42.3 EthereumStratum/1.0.0 (ETCHash) on :14444: compact JSON, subscribe "
         "[agent, \"EthereumStratum/1.0.0\"], 2-byte extranonce, notify [job, seed, header, "
         "clean], 6-byte miner nonce submits (format modelled on NBMiner's logged lines)")
def ethstratum_nbminer() -> bytes:
    b = base(80)
    c = Conversation(("192.168.30.14", 52011), ("198.51.100.140", 14444), t(b, -0.2), rtt=0.047,
                     client_ttl=128)
    jobs = EthJobs("nbminer")
    user = eth_address(HexStream("nbminer-wallet")) + ".rig3"
    ethstratum.play(
        c, b, jobs,
        subscribe=NBMINER.subscribe(), authorize=NBMINER.authorize(2, user), extranonce_sub=None,
        submit=lambda i, job, n: NBMINER.submit(i, user, job, n),
        hashrate=None, user=user, extranonce="c4e1", diff=4.0,
        schedule=[x for x in _ETC_SCHEDULE if x[1] != "h"], end=135.0)
    return pcap(c.finish())


@fixture("ethstratum-lolminer-ipv6.pcap", ["2001:db8:10:20::35"], [ETHEREUM_STRATUM],
         "lolMiner 1.88 EthereumStratum/1.0.0 over IPv6 (:4444): jsonrpc 2.0 member, "
         "extranonce.subscribe and authorize in one segment, eth_submitHashrate every 30 s "
         "(modelled: lolMiner is closed source)")
def ethstratum_lolminer() -> bytes:
    b = base(90)
    c = Conversation(("2001:db8:10:20::35", 40322), ("2001:db8:ffff:3::14", 4444), t(b, -0.2),
                     rtt=0.061)
    jobs = EthJobs("lolminer")
    user = eth_address(HexStream("lolminer-wallet")) + ".lol-6x3070"
    rate = HexStream("lolminer-rate")
    rid = "0x" + rate.hex(32)
    ethstratum.play(
        c, b, jobs,
        subscribe=LOLMINER.subscribe(), authorize=LOLMINER.authorize(3, user),
        extranonce_sub=LOLMINER.extranonce_subscribe(),
        submit=lambda i, job, n: LOLMINER.submit(i, user, job, n),
        hashrate=lambda i: LOLMINER.hashrate(i, f"0x{rate.uint(150_000_000, 160_000_000):x}",
                                             rid),
        user=user, extranonce="a2ee", diff=2.0, schedule=_ETC_SCHEDULE, end=140.0)
    return pcap(c.finish())


@fixture("ethstratum-trex-qinq.pcap", ["10.50.3.9"], [ETHEREUM_STRATUM],
         "T-Rex 0.26.8 EthereumStratum/1.0.0 behind QinQ (S-tag 100 / C-tag 200) on :4444: "
         "3-byte extranonce, 5-byte miner nonce, eth_submitHashrate carrying a \"worker\" "
         "member (modelled: T-Rex is closed source)")
def ethstratum_trex() -> bytes:
    b = base(100)
    c = Conversation(("10.50.3.9", 33190), ("203.0.113.200", 4444), t(b, -0.2), rtt=0.039)
    jobs = EthJobs("trex")
    user = eth_address(HexStream("trex-wallet"))
    rate = HexStream("trex-rate")
    ethstratum.play(
        c, b, jobs,
        subscribe=TREX.subscribe(), authorize=TREX.authorize(3, f"{user}.farm2"),
        extranonce_sub=TREX.extranonce_subscribe(),
        submit=lambda i, job, n: TREX.submit(i, f"{user}.farm2", job, n),
        hashrate=lambda i: TREX.hashrate(i, f"0x{rate.uint(400_000_000, 420_000_000):x}",
                                         f"0x{rate.hex(32)}", worker="farm2"),
        user=user, extranonce="4f1a0c", diff=8.0, schedule=_ETC_SCHEDULE, end=131.0)
    return pcap(c.finish(), Ethernet(vlan=200, outer_vlan=100))


@fixture("ethstratum-ethminer.pcap.gz", ["192.168.30.77"], [ETHEREUM_STRATUM],
         "gzip-compressed pcap: ethminer 0.13 -P stratum2 (NiceHash) exactly as its "
         "EthStratumClient.cpp writes it: spaced keys but no space inside params arrays, "
         "extranonce.subscribe (id 2) and authorize (id 3) in one write, fixed ids 4 "
         "(submit) and 6 (eth_submitHashrate with \"jsonrpc\":\"2.0\")")
def ethstratum_ethminer() -> bytes:
    b = base(110)
    c = Conversation(("192.168.30.77", 44870), ("198.51.100.31", 3353), t(b, -0.2), rtt=0.052)
    jobs = EthJobs("ethminer")
    user = eth_address(HexStream("ethminer-wallet"), checksum=False) + ".ethminer1"
    rid = HexStream("ethminer-rid").hex(32)
    rate = HexStream("ethminer-rate")
    ethstratum.play(
        c, b, jobs,
        subscribe=ETHMINER.subscribe(), authorize=ETHMINER.authorize(3, user),
        extranonce_sub=ETHMINER.extranonce_subscribe(),
        submit=lambda i, job, n: ETHMINER.submit(4, user, job, n),
        hashrate=lambda i: ethminer_hashrate(f"0x{rate.uint(29_000_000, 31_000_000):016x}",
                                             f"0x{rid}"),
        user=user, extranonce="7d2c", diff=1.0, schedule=_ETC_SCHEDULE, end=129.0)
    return gzip_bytes(pcap(c.finish()))


_BLOCKS = [7.9, 21.4, 33.0, 46.6, 58.2, 73.5, 85.1, 99.9, 112.4]


@fixture("ethproxy-claymore-port25.pcap", ["192.168.40.8"], [ETH_PROXY],
         "Claymore 15.0 eth-proxy on :25 (SMTP port): eth_submitLogin with a \"worker\" key "
         "first and Python-style spacing, eth_getWork polled every 10 s, pool pushes new work "
         "with id 0, eth_submitHashrate every 20 s, eth_submitWork [nonce, header, mix] "
         "(format as seen in real Claymore captures)")
def ethproxy_claymore() -> bytes:
    b = base(120)
    c = Conversation(("192.168.40.8", 49873), ("203.0.113.61", 25), t(b, -0.2), rtt=0.038,
                     client_ttl=128)
    jobs = EthJobs("claymore")
    wallet = eth_address(HexStream("claymore-wallet"))
    rate = HexStream("claymore-rate")
    rid = "0x" + rate.hex(32)
    ethproxy.play(
        c, b, jobs,
        login=ethproxy.claymore_login(f"{wallet}.rig7"), getwork=ethproxy.claymore_getwork(),
        submit=ethproxy.claymore_submit,
        hashrate=lambda: ethproxy.submit_hashrate(f"0x{rate.uint(0x1d00000, 0x1dfffff):x}", rid),
        poll=10.0, end=125.0, blocks=_BLOCKS, shares=[36.2, 91.7])
    return pcap(c.finish())


@fixture("ethproxy-phoenixminer-rawip.pcap", ["10.60.0.4"], [ETH_PROXY],
         "PhoenixMiner 6.2c eth-proxy on :8008, raw-IP link type (DLT 101, a tun device): "
         "compact JSON with a \"worker\" member, eth_getWork every 5 s, submitHashrate every "
         "30 s (modelled: PhoenixMiner is closed source)")
def ethproxy_phoenix() -> bytes:
    b = base(130)
    c = Conversation(("10.60.0.4", 38211), ("198.51.100.88", 8008), t(b, -0.2), rtt=0.027,
                     client_ttl=128)
    jobs = EthJobs("phoenix")
    wallet = eth_address(HexStream("phoenix-wallet"))
    rate = HexStream("phoenix-rate")
    ethproxy.play(
        c, b, jobs,
        login=ethproxy.phoenix_login(wallet, "rig2"), getwork=ethproxy.phoenix_getwork("rig2"),
        submit=lambda n, h, m: ethproxy.phoenix_submit(n, h, m, "rig2"),
        hashrate=lambda: ethproxy.phoenix_hashrate(f"0x{rate.uint(0x8000000, 0x8ffffff):x}",
                                                   f"0x{rate.hex(32)}", "rig2"),
        poll=5.0, end=95.0, blocks=_BLOCKS[:7], shares=[52.3], hashrate_every=30.0,
        answer_id=5)
    return pcap(c.finish(), RawIP())


@fixture("ethproxy-midsession-getwork-null.pcap", ["10.8.0.6"], [ETH_PROXY],
         "mid-session eth_getWork polling only (no login, no handshake) from a macOS host "
         "through a utun VPN: BSD NULL link type (DLT 0, AF_INET in host order), Claymore-"
         "style polls every 10 s answered with id 0, pool pushes on new blocks")
def ethproxy_midsession() -> bytes:
    b = base(140)
    c = Conversation(("10.8.0.6", 58114), ("203.0.113.66", 4444), t(b, 0), handshake=False,
                     rtt=0.071)
    jobs = EthJobs("midsession-ethproxy")
    ethproxy.play(
        c, b, jobs, login=None,
        getwork=ethproxy.claymore_getwork(), submit=lambda n, h, m: b"", hashrate=None,
        poll=10.0, end=121.0, blocks=_BLOCKS, shares=[], start=1.3)
    return pcap(c.finish(), Null())


# =====================================================================================
# CryptoNote stratum (XMRig, xmr-stak, proxies) - RandomX
# =====================================================================================

_XMR_SCHEDULE = [(38.2, "j"), (61.5, "s"), (96.4, "b"), (131.0, "s"), (151.7, "j"),
                 (188.3, "s"), (214.9, "b"), (240.2, "s"), (262.0, "j")]


@fixture("cryptonote-xmrig.pcap", ["10.1.3.14"], [CRYPTONOTE],
         "XMRig 6.22.2 to a RandomX pool on :3333: login with agent string and 30-entry algo "
         "list (rx/0 swapped first), result with extensions [algo,nicehash,connect,tls,"
         "keepalive], job pushes every 20-60 s with height and seed_hash, submits with "
         "\"algo\":\"rx/0\"; member order from XMRig Client.cpp/JsonRequest.cpp")
def cryptonote_xmrig() -> bytes:
    b = base(150)
    c = Conversation(("10.1.3.14", 41288), ("198.51.100.200", 3333), t(b, -0.2), rtt=0.048)
    jobs = MoneroJobs("xmrig")
    wallet = monero_address(HexStream("xmrig-wallet"))
    cryptonote.play_xmrig(c, b, jobs, xmrig_login(wallet, XMRIG_AGENT, xmrig_algos()),
                   _XMR_SCHEDULE, 275.0, XMRIG_EXTENSIONS)
    return pcap(c.finish())


@fixture("cryptonote-xmrstak-7777.pcap", ["192.168.50.19"], [CRYPTONOTE],
         "xmr-stak-rx 1.0.5 on :7777: jpsock.cpp sprintf templates - method first, \"id\":1 "
         "on every request (login and all submits), empty rigid, submits with backend and "
         "hashcount extensions the pool advertised")
def cryptonote_xmrstak() -> bytes:
    b = base(160)
    c = Conversation(("192.168.50.19", 59022), ("203.0.113.150", 7777), t(b, -0.2), rtt=0.066,
                     client_ttl=128)
    jobs = MoneroJobs("xmrstak", job_style="numeric", algo="rx/0", diff=120_000)
    wallet = monero_address(HexStream("xmrstak-wallet"))
    agent = "xmr-stak-rx/1.0.5-rx/65ade74/master/win/cpu/monero/0"
    rtt = c.rtt / 1e9
    c.client_send(cryptonote.xmrstak_login(wallet, agent), t(b, 0.01))
    first = jobs.job(t(b, 0.08), with_id=True)
    c.server_send(cryptonote.login_result(jobs.rpc_id, first, ["backend", "hashcount"]),
                  t(b, 0.08))
    job_id = str(first["job_id"])
    hashes = 0
    for when, kind in _XMR_SCHEDULE:
        if kind in "jb":
            msg = cryptonote.job_push(jobs.job(t(b, when), kind == "b", True))
            job_id = json.loads(msg)["params"]["job_id"]
            c.server_send(msg, t(b, when))
        else:
            nonce, result = jobs.share()
            hashes += jobs.h.uint(90_000, 130_000)
            c.client_send(cryptonote.xmrstak_submit(jobs.rpc_id, job_id, nonce, result, hashes),
                          t(b, when))
            c.server_send(cryptonote.ok(1), t(b, when + rtt + 0.002))
    c.close(t(b, 270.0))
    return pcap(c.finish())


@fixture("cryptonote-proxy-noagent-45700.pcap", ["10.1.9.30"], [CRYPTONOTE],
         "a stratum proxy's upstream connection on :45700: login with only login/pass (no "
         "\"jsonrpc\", no \"agent\", no algo), submits likewise bare; job ids base64, rpc id "
         "a UUID")
def cryptonote_proxy_noagent() -> bytes:
    b = base(170)
    c = Conversation(("10.1.9.30", 36402), ("203.0.113.201", 45700), t(b, -0.2), rtt=0.093)
    jobs = MoneroJobs("proxy-noagent", job_style="b64", algo=None, diff=480_000)
    wallet = monero_address(HexStream("proxy-wallet"))
    rtt = c.rtt / 1e9
    c.client_send(cryptonote.proxy_login(wallet), t(b, 0.01))
    first = jobs.job(t(b, 0.11), with_id=True)
    c.server_send(cryptonote.login_result(jobs.rpc_id, first, None), t(b, 0.11))
    job_id = str(first["job_id"])
    seq = 2
    for when, kind in _XMR_SCHEDULE:
        if kind in "jb":
            msg = cryptonote.job_push(jobs.job(t(b, when), kind == "b", True))
            job_id = json.loads(msg)["params"]["job_id"]
            c.server_send(msg, t(b, when))
        else:
            nonce, result = jobs.share()
            c.client_send(cryptonote.submit(seq, jobs.rpc_id, job_id, nonce, result, algo=None,
                                            jsonrpc=False), t(b, when))
            c.server_send(cryptonote.ok(seq), t(b, when + rtt + 0.002))
            seq += 1
    c.close(t(b, 268.0), by="server")
    return pcap(c.finish())


@fixture("cryptonote-forged-browser-ua-port80.pcap", ["192.168.60.101"], [CRYPTONOTE],
         "XMRig-based malware on a Windows host (TTL 128) to :80 with a forged Chrome "
         "user-agent in the login \"agent\" field; otherwise XMRig's login/job/submit")
def cryptonote_forged_ua() -> bytes:
    b = base(180)
    c = Conversation(("192.168.60.101", 50133), ("198.51.100.93", 80), t(b, -0.2), rtt=0.029,
                     client_ttl=128)
    jobs = MoneroJobs("forged-ua", job_style="b64", diff=60_000)
    wallet = monero_address(HexStream("forged-wallet"))
    agent = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/131.0.0.0 Safari/537.36")
    login = xmrig_login(wallet, agent, xmrig_algos(), password="win10-x7")
    cryptonote.play_xmrig(c, b, jobs, login, _XMR_SCHEDULE[:6], 200.0, ["algo", "nicehash"])
    return pcap(c.finish())


@fixture("cryptonote-keepalived-ns.pcap", ["10.1.3.88"], [CRYPTONOTE],
         "nanosecond-resolution pcap: XMRig with keepalive against a pool that pushes jobs "
         "only every 2-3 minutes, so the miner sends keepalived 60 s after the last line it "
         "received (format from XMRig Client::ping) and the pool answers KEEPALIVED")
def cryptonote_keepalived() -> bytes:
    b = base(190) + 123_457
    c = Conversation(("10.1.3.88", 45210), ("203.0.113.33", 10128), b - 200_000_000,
                     rtt=0.0513)
    jobs = MoneroJobs("keepalived", diff=35_000)
    wallet = monero_address(HexStream("keepalived-wallet"))
    login = xmrig_login(wallet, XMRIG_AGENT, xmrig_algos(), rigid="nas-01")
    cryptonote.play_xmrig(c, b, jobs, login, [(147.3, "b"), (203.9, "s"), (331.6, "b")], 400.0,
                          ["algo", "nicehash", "connect", "keepalive"], keepalive=60.0)
    return pcap(c.finish(), nanosecond=True)


@fixture("cryptonote-midsession-bigendian.pcap", ["192.168.70.5"], [CRYPTONOTE],
         "big-endian pcap (magic a1b2c3d4 as written by a big-endian host), capture starts "
         "mid-session: only XMRig job pushes and the miner's submits (ids 37+), no login")
def cryptonote_midsession() -> bytes:
    b = base(200)
    c = Conversation(("192.168.70.5", 42071), ("198.51.100.201", 3333), t(b, 0),
                     handshake=False, rtt=0.044)
    jobs = MoneroJobs("midsession-xmr", diff=150_000)
    rtt = c.rtt / 1e9
    job_id = jobs.job_id()
    seq = 37
    for when, kind in [(4.1, "s"), (22.8, "j"), (49.0, "s"), (73.5, "b"), (88.1, "s"),
                       (119.9, "j"), (141.4, "s"), (166.0, "j")]:
        if kind in "jb":
            msg = cryptonote.job_push(jobs.job(t(b, when), kind == "b", True))
            job_id = json.loads(msg)["params"]["job_id"]
            c.server_send(msg, t(b, when))
        else:
            nonce, result = jobs.share()
            c.client_send(cryptonote.submit(seq, jobs.rpc_id, job_id, nonce, result), t(b, when))
            c.server_send(cryptonote.ok(seq), t(b, when + rtt + 0.002))
            seq += 1
    return pcap(c.finish(t(b, 180.0)), big_endian=True)


# =====================================================================================
# HTTP mining: getwork, getblocktemplate, Ethereum getwork, XMRig solo against monerod
# =====================================================================================

@fixture("getwork-http-cpuminer-8332.pcap", ["192.168.80.12"], [GETWORK_HTTP],
         "pooler cpuminer 2.5.1 legacy getwork over HTTP POST on :8332 with long polling: "
         "the getwork request with cpuminer's spacing ('\"params\": [], \"id\":0') + CRLF, "
         "X-Mining-Extensions: midstate, User-Agent cpuminer/2.5.1, a /LP connection held "
         "open until the next block, one share submitted as getwork [data]")
def getwork_cpuminer() -> bytes:
    b = base(210)
    cli, pool = ("192.168.80.12", 36620), ("198.51.100.5", 8332)
    host = f"{pool[0]}:{pool[1]}"
    auth = basic_auth("miner1", "x")
    agent = "cpuminer/2.5.1"
    ext = [("X-Mining-Extensions", "midstate")]
    h = HexStream("getwork")
    prev = h.bytes(28) + b"\x00" * 4
    req = getwork.CPUMINER_GETWORK

    main = Conversation(cli, pool, t(b, -0.2), rtt=0.021)
    lp = Conversation((cli[0], cli[1] + 1), pool, t(b, 0.12), rtt=0.021)

    def ask(conv: Conversation, when: float, path: str = "/") -> None:
        head, body = getwork.curl_post(host, path, auth, req, agent, ext)
        conv.client_send(head + body, t(b, when), segments=[len(head), len(body)], gap=0.00004)

    def answer(conv: Conversation, when: float, result: object, ident: int = 0) -> None:
        body = getwork.rpc_result(result, ident, spaced=True)
        conv.server_send(getwork.eloipool_response(body, t(b, when)), t(b, when))

    ask(main, 0.02)
    answer(main, 0.045, getwork.work_unit(h, t(b, 0.045), prev))
    ask(lp, 0.15, "/LP")
    # a share found on the first unit
    share_data = getwork.work_unit(h, t(b, 33.0), prev)["data"]
    head, body = getwork.curl_post(host, "/", auth,
                                   getwork.cpuminer_getwork_submit(str(share_data)), agent, ext)
    main.client_send(head + body, t(b, 33.1), segments=[len(head), len(body)], gap=0.00004)
    answer(main, 33.125, True, 1)
    ask(main, 60.05)
    answer(main, 60.075, getwork.work_unit(h, t(b, 60.075), prev))
    # new block: the long poll returns, cpuminer immediately re-arms it
    prev = h.bytes(28) + b"\x00" * 4
    answer(lp, 71.8, getwork.work_unit(h, t(b, 71.8), prev))
    ask(lp, 71.83, "/LP")
    ask(main, 131.83)
    answer(main, 131.855, getwork.work_unit(h, t(b, 131.855), prev))
    main.close(t(b, 150.0))
    lp.close(t(b, 150.0))
    return pcap(main.finish() + lp.finish())


@fixture("gbt-http-bfgminer-9332.pcap", ["10.1.11.9"], [GBT_HTTP],
         "bfgminer 5.5 getblocktemplate over HTTP on :9332: its capabilities list and "
         "maxversion, headers as bfgminer/libcurl send them (Content-type, X-Mining-"
         "Extensions: longpoll midstate rollntime submitold, User-Agent last), a long-poll "
         "connection with longpollid, and a submitblock with workid")
def gbt_bfgminer() -> bytes:
    b = base(220)
    cli, pool = ("10.1.11.9", 51720), ("203.0.113.19", 9332)
    host = f"pool.example.org:{pool[1]}"
    auth = basic_auth("bfg_user.1", "123")
    h = HexStream("gbt-bfgminer")
    prev = "00000000000000000001" + h.hex(22)

    def req(body: bytes) -> tuple[bytes, bytes]:
        return getwork.bfgminer_post(host, auth, body)

    resp = getwork.longpoll_response

    main = Conversation(cli, pool, t(b, -0.2), rtt=0.074)
    lp = Conversation((cli[0], cli[1] + 2), pool, t(b, 0.3), rtt=0.074)
    gbt = getwork.bfgminer_gbt()
    head, body = req(gbt)
    main.client_send(head + body, t(b, 0.02), segments=[len(head), len(body)], gap=0.0001)
    tpl = getwork.block_template(h, t(b, 0.1), 930_412, prev)
    tpl["workid"] = "1"
    main.server_send(resp(getwork.rpc_result(tpl), t(b, 0.1)), t(b, 0.1))
    lpid = str(tpl["longpollid"])
    lpreq = getwork.bfgminer_gbt(lpid)
    head, body = req(lpreq)
    lp.client_send(head + body, t(b, 0.38), segments=[len(head), len(body)], gap=0.0001)
    # a share that is a block candidate at this pool's target (pool-side work check)
    block = ("00000020" + h.hex(32) + h.hex(32) + le32hex(unix(t(b, 41.0))) + "03f30117"
             + h.hex(4) + "04" + "02000000000101" + h.hex(180))
    head, body = req(getwork.bfgminer_submitblock(block, "1"))
    main.client_send(head + body, t(b, 41.2), segments=[len(head), len(body)], gap=0.0001)
    main.server_send(resp(getwork.rpc_result(None), t(b, 41.3)), t(b, 41.3))
    # new block arrives through the long poll; bfgminer asks for a fresh template
    prev = "00000000000000000000" + h.hex(22)
    tpl2 = getwork.block_template(h, t(b, 88.4), 930_413, prev, ntx=2)
    tpl2["workid"] = "2"
    lp.server_send(resp(getwork.rpc_result(tpl2), t(b, 88.4)), t(b, 88.4))
    lp.close(t(b, 88.5))
    head, body = req(gbt)
    main.client_send(head + body, t(b, 88.45), segments=[len(head), len(body)], gap=0.0001)
    tpl3 = getwork.block_template(h, t(b, 88.53), 930_413, prev, ntx=3)
    tpl3["workid"] = "3"
    main.server_send(resp(getwork.rpc_result(tpl3), t(b, 88.53)), t(b, 88.53))
    main.close(t(b, 120.0))
    return pcap(main.finish() + lp.finish())


@fixture("gbt-http-cpuminer-solo.pcap", ["192.168.1.50"], [GBT_HTTP],
         "cpuminer 2.5.1 solo mining against a LAN bitcoind (:8332) with getblocktemplate "
         "(capabilities coinbasetxn/coinbasevalue/longpoll/workid, rules [segwit]), a long-"
         "poll request carrying longpollid, and submitblock")
def gbt_cpuminer_solo() -> bytes:
    b = base(230)
    cli, node = ("192.168.1.50", 44102), ("192.168.1.10", 8332)
    host = f"{node[0]}:{node[1]}"
    auth = basic_auth("rpcminer", "Kx9vQ2mT7pL4")
    h = HexStream("gbt-cpuminer")
    prev = "00000000000000000002" + h.hex(22)
    ext = [("X-Mining-Extensions", "midstate")]

    resp = getwork.bitcoind_response

    main = Conversation(cli, node, t(b, -0.2), rtt=0.0004, server_local=True, server_ttl=64)
    lp = Conversation((cli[0], cli[1] + 1), node, t(b, 0.2), rtt=0.0004, server_local=True,
                      server_ttl=64)
    gbt = getwork.cpuminer_gbt()
    head, body = getwork.curl_post(host, "/", auth, gbt, "cpuminer/2.5.1", ext)
    main.client_send(head + body, t(b, 0.01), segments=[len(head), len(body)], gap=0.00003)
    tpl = getwork.block_template(h, t(b, 0.03), 930_500, prev, ntx=4)
    main.server_send(resp(getwork.rpc_result(tpl), t(b, 0.03)), t(b, 0.03))
    lpreq = getwork.cpuminer_gbt(str(tpl["longpollid"]))
    head, body = getwork.curl_post(host, "/", auth, lpreq, "cpuminer/2.5.1", ext)
    lp.client_send(head + body, t(b, 0.21), segments=[len(head), len(body)], gap=0.00003)
    for when in (60.0, 120.0):
        head, body = getwork.curl_post(host, "/", auth, gbt, "cpuminer/2.5.1", ext)
        main.client_send(head + body, t(b, when), segments=[len(head), len(body)], gap=0.00003)
        tpl = getwork.block_template(h, t(b, when + 0.02), 930_500, prev, ntx=4)
        main.server_send(resp(getwork.rpc_result(tpl), t(b, when + 0.02)),
                         t(b, when + 0.02))
    block = ("00000020" + prev + h.hex(32) + le32hex(unix(t(b, 141.0))) + "03f30117"
             + h.hex(4) + "05" + "02000000000101" + h.hex(160))
    head, body = getwork.curl_post(host, "/", auth, getwork.cpuminer_submitblock(block),
                                   "cpuminer/2.5.1", ext)
    main.client_send(head + body, t(b, 141.3), segments=[len(head), len(body)], gap=0.00003)
    main.server_send(resp(getwork.rpc_result("inconclusive", 1), t(b, 141.36)),
                     t(b, 141.36))
    prev = "00000000000000000000" + h.hex(22)
    tpl = getwork.block_template(h, t(b, 141.5), 930_501, prev, ntx=1)
    lp.server_send(resp(getwork.rpc_result(tpl), t(b, 141.5)), t(b, 141.5))
    lp.close(t(b, 150.0))
    main.close(t(b, 150.0))
    return pcap(main.finish() + lp.finish())


@fixture("eth-getwork-http-ethminer-8545.pcap", ["10.1.12.40"], [ETH_GETWORK_HTTP],
         "ethminer 0.19 -P http:// against a core-geth ETC node on :8545, as "
         "EthGetworkClient.cpp does it: one TCP connection per request, \"POST / HTTP/1.0\", "
         "Host without port, Connection: close, body without newline (jsoncpp, sorted "
         "keys), eth_getWork id 1, eth_submitHashrate id 9, eth_submitWork id 40")
def eth_getwork_http() -> bytes:
    b = base(240)
    cli, node = ("10.1.12.40", 50100), ("10.1.12.2", 8545)
    jobs = EthJobs("eth-getwork-http")
    packets: list[Packet] = []
    rid = "0x" + HexStream("ethminer-http-rid").hex(32)

    def exchange(k: int, when: float, body: bytes, result: object) -> None:
        c = Conversation((cli[0], cli[1] + k * 3), node, t(b, when), rtt=0.0006,
                         server_local=True, server_ttl=64)
        c.client_send(ethgetwork.ethminer_post(node[0], body), t(b, when + 0.0007))
        c.server_send(ethgetwork.node_response(json.loads(body)["id"], result, t(b, when),
                                               version="HTTP/1.0"), t(b, when + 0.0021))
        c.close(t(b, when + 0.0023), by="server")
        packets.extend(c.finish())

    getwork = ethgetwork.ETHMINER_GETWORK

    def work() -> list[str]:
        return ["0x" + jobs.header, "0x" + jobs.seed, jobs.target(), hex(jobs.block)]

    exchange(0, 0.0, getwork, work())
    exchange(1, 2.0, getwork, work())
    exchange(2, 4.0, ethgetwork.ethminer_hashrate("0x1c9c380", rid), True)
    jobs.next()
    exchange(3, 4.01, getwork, work())
    nonce = "0x" + jobs.nonce()
    exchange(4, 5.37, ethgetwork.ethminer_submit(nonce, f"0x{jobs.header}", f"0x{jobs.h.hex(32)}"),
             True)
    exchange(5, 6.01, getwork, work())
    return pcap(packets)


@fixture("monero-daemon-http-xmrig-18081.pcap", ["192.168.1.77"], [MONERO_DAEMON_HTTP],
         "XMRig 6.22.2 solo mining (daemon mode) against monerod on :18081, per "
         "DaemonClient.cpp/HttpClient.cpp: POST /json_rpc getblocktemplate {wallet_address, "
         "extra_nonce}, GET /getheight polls, submitblock; every request on its own "
         "connection with Connection: close and headers in std::map (alphabetical) order; "
         "monerod's epee replies (\"200 Ok\", Server: Epee-based, indented JSON)")
def monero_daemon_http() -> bytes:
    b = base(250)
    cli, node = ("192.168.1.77", 39800), ("192.168.1.20", 18081)
    h = HexStream("monerod")
    wallet = monero_address(HexStream("solo-wallet"))
    height = 3_591_377
    prev = h.hex(32)
    seed = h.hex(32)
    packets: list[Packet] = []

    def exchange(k: int, when: float, req: bytes, body: str) -> None:
        c = Conversation((cli[0], cli[1] + k), node, t(b, when), rtt=0.0005, server_local=True,
                         server_ttl=64)
        c.client_send(req, t(b, when + 0.0006))
        c.server_send(monerod.response(body, t(b, when)), t(b, when + 0.0042))
        c.close(t(b, when + 0.0045), by="server")
        packets.extend(c.finish())

    def post(body: bytes) -> bytes:
        return monerod.xmrig_post(node[0], body)

    def get(path: str) -> bytes:
        return monerod.xmrig_get(node[0], path)

    def gbt(seq: int) -> bytes:
        return monerod.getblocktemplate(seq, wallet, h.hex(8))

    def template(seq: int, when: float) -> tuple[str, str, int]:
        ts = varint(unix(t(b, when))).hex()
        hashing = "1010" + ts + prev + "00000000" + h.hex(32) + "29"
        miner_tx = ("02" + "3c" + "01ff" + varint(height + 60).hex() + "01" + h.hex(8) + "03"
                    + h.hex(32) + "2b01" + h.hex(32) + "0211" + "00" * 17)
        blob = "1010" + ts + prev + "00000000" + miner_tx + "00" + "29" + h.hex(32 * 6)
        reward = 600_000_000_000 + h.uint(1_000_000, 90_000_000)
        body = monerod.template_result(seq, hashing, blob, reward, height, prev, seed)
        return body, blob, 4 + len(ts) + 64  # hex offset of the nonce

    def getheight() -> str:
        return monerod.getheight_result(height, prev)

    body, _, _ = template(1, 0.0)
    exchange(0, 0.0, post(gbt(1)), body)
    exchange(1, 1.0, get("/getheight"), getheight())
    exchange(2, 2.0, get("/getheight"), getheight())
    height += 1
    prev = h.hex(32)
    exchange(3, 3.0, get("/getheight"), getheight())
    body, blob, off = template(2, 3.01)
    exchange(4, 3.01, post(gbt(2)), body)
    solved = blob[:off] + h.hex(4) + blob[off + 8 :]
    exchange(5, 3.72, post(monerod.submitblock(3, solved)), monerod.submit_result(3, h.hex(32)))
    return pcap(packets)


@fixture("getwork-http-bfgminer-xstratum-80.pcap", ["10.1.11.30"], [GETWORK_HTTP, STRATUM_V1],
         "bfgminer 5.5 starts with getwork over HTTP on :80 (its header order, getwork_req "
         "ending in \\n, rollntime), the pool answers with X-Stratum and X-Long-Polling "
         "headers, and bfgminer switches to Stratum on :3333 (subscribe with session id)")
def getwork_bfgminer_xstratum() -> bytes:
    b = base(244)
    cli, pool = ("10.1.11.30", 49990), ("198.51.100.66", 80)
    auth = basic_auth("farm_b.unit12", "x")
    h = HexStream("getwork-bfg")
    prev = h.bytes(28) + b"\x00" * 4
    head, body = getwork.bfgminer_post("btc.pool.example.com", auth, getwork.BFGMINER_GETWORK)
    c = Conversation(cli, pool, t(b, -0.2), rtt=0.036)
    c.client_send(head + body, t(b, 0.01), segments=[len(head), len(body)], gap=0.0001)
    out = getwork.rpc_result(getwork.work_unit(h, t(b, 0.05), prev), spaced=True)
    c.server_send(getwork.xstratum_response(out, t(b, 0.05),
                                            "stratum+tcp://btc.pool.example.com:3333"), t(b, 0.05))
    c.close(t(b, 0.06), by="client")
    s = Conversation((cli[0], cli[1] + 4), (pool[0], 3333), t(b, 0.07), rtt=0.036)
    s.client_send(stratum.subscribe(0, "bfgminer/5.5.0", "a3f1c2e0"), t(b, 0.12))
    jobs = BitcoinJobs("getwork-bfg-stratum", 930_455, "1701f303", en1=4, en2=4, branches=11,
                       job_id=lambda n: f"{0x51c0 + n:x}")
    first = jobs.notify(t(b, 0.16), clean=True)
    s.server_send(stratum.reply(0, [[["mining.notify", "a3f1c2e0"]], "a3f1c2e0", 4], BITMINTER),
                  t(b, 0.157))
    s.client_send(stratum.authorize("auth", "farm_b.unit12", "x"), t(b, 0.158))
    s.server_send(stratum.reply("auth", True, BITMINTER)
                  + stratum.set_difficulty(8192, BITMINTER_PUSH)
                  + stratum.notify(first, BITMINTER_PUSH), t(b, 0.195))
    cur = first
    sid = 1
    for when, kind in [(27.0, "n"), (39.3, "s"), (61.8, "b"), (90.4, "n"), (104.9, "s")]:
        if kind in "nb":
            cur = jobs.notify(t(b, when), clean=kind == "b")
            s.server_send(stratum.notify(cur, BITMINTER_PUSH), t(b, when))
        else:
            job, en2, ntime, nonce, _ = jobs.share(cur)
            s.client_send(stratum.submit_cgminer(sid, "farm_b.unit12", job, en2, ntime, nonce),
                          t(b, when))
            s.server_send(stratum.reply(sid, True, BITMINTER), t(b, when + 0.037))
            sid += 1
    s.close(t(b, 115.0))
    return pcap(c.finish() + s.finish())


@fixture("eth-getwork-http-phoenix-keepalive-8545.pcap", ["192.168.5.31"], [ETH_GETWORK_HTTP],
         "PhoenixMiner 6.2c solo mining against a LAN ETC node over one keep-alive HTTP/1.1 "
         "connection on :8545: eth_getWork every second, eth_submitHashrate every 30 s, one "
         "eth_submitWork; compact JSON with a \"worker\" member (modelled: closed source)")
def eth_getwork_phoenix() -> bytes:
    b = base(246)
    cli, node = ("192.168.5.31", 50712), ("192.168.5.2", 8545)
    jobs = EthJobs("phoenix-http")
    rate = HexStream("phoenix-http-rate")
    c = Conversation(cli, node, t(b, -0.01), rtt=0.0006, server_local=True, server_ttl=64,
                     client_ttl=128)
    sc = Script()

    def post(when: float, body: bytes, result: object) -> None:
        sc.client(t(b, when), ethgetwork.phoenix_post(f"{node[0]}:{node[1]}", body))
        sc.server(t(b, when + 0.0014),
                  ethgetwork.node_response(json.loads(body)["id"], result, t(b, when)))

    getwork = ethgetwork.phoenix_getwork_body("eth1.0")
    for k in range(75):
        if k in (13, 27, 41, 55, 68):
            jobs.next()
        post(0.01 + k, getwork, ["0x" + jobs.header, "0x" + jobs.seed, jobs.target(),
                                 hex(jobs.block)])
        if k % 30 == 5:
            body = ethgetwork.phoenix_hashrate_body(f"0x{rate.uint(0x6000000, 0x6ffffff):x}",
                                                    f"0x{rate.hex(32)}", "eth1.0")
            post(0.31 + k, body, True)
        if k == 48:
            body = ethgetwork.phoenix_submit_body(f"0x{jobs.nonce()}", f"0x{jobs.header}",
                                                  f"0x{jobs.h.hex(32)}", "eth1.0")
            post(0.62 + k, body, True)
    sc.play(c)
    c.close(t(b, 76.0))
    return pcap(c.finish())


@fixture("monero-daemon-http-xmrig-zmq.pcap", ["192.168.1.78"], [MONERO_DAEMON_HTTP],
         "XMRig solo against monerod with --daemon-zmq-port: a ZMTP 3 session to :18083 "
         "(greeting sent in two parts, READY Socket-Type SUB, subscribe to "
         "json-minimal-chain_main) replaces /getheight polling; each chain_main notification "
         "triggers POST /json_rpc getblocktemplate on :18081")
def monero_daemon_zmq() -> bytes:
    b = base(255)
    cli, node = ("192.168.1.78", 41500), ("192.168.1.20", 18081)
    zmq_port = 18083
    h = HexStream("monerod-zmq")
    wallet = monero_address(HexStream("solo-zmq-wallet"))
    height = 3_591_410
    prev = h.hex(32)
    seed = h.hex(32)
    packets: list[Packet] = []
    z = Conversation((cli[0], cli[1]), (node[0], zmq_port), t(b, -0.01), rtt=0.0005,
                     server_local=True, server_ttl=64)
    z.client_send(monerod.ZMQ_GREETING[:11], t(b, 0.0001))
    z.server_send(monerod.ZMQ_GREETING[:11], t(b, 0.0006))
    z.client_send(monerod.ZMQ_GREETING[11:], t(b, 0.0007))
    z.server_send(monerod.ZMQ_GREETING[11:], t(b, 0.0011))
    z.client_send(monerod.ZMQ_READY_SUB, t(b, 0.0012))
    z.server_send(monerod.ZMQ_READY_PUB, t(b, 0.0016))
    z.client_send(monerod.ZMQ_SUBSCRIBE, t(b, 0.0017))

    def gbt(k: int, when: float, seq: int) -> None:
        body = monerod.getblocktemplate(seq, wallet, h.hex(8))
        c = Conversation((cli[0], cli[1] + 1 + k), node, t(b, when), rtt=0.0005,
                         server_local=True, server_ttl=64)
        c.client_send(monerod.xmrig_post(node[0], body), t(b, when + 0.0006))
        ts = varint(unix(t(b, when))).hex()
        hashing = "1010" + ts + prev + "00000000" + h.hex(32) + "1f"
        template = "1010" + ts + prev + "00000000" + "023c01ff" + h.hex(160)
        reward = 600_000_000_000 + h.uint(1_000_000, 90_000_000)
        out = monerod.template_result(seq, hashing, template, reward, height, prev, seed)
        c.server_send(monerod.response(out, t(b, when)), t(b, when + 0.0041))
        c.close(t(b, when + 0.0044), by="server")
        packets.extend(c.finish())

    gbt(0, 0.002, 1)
    for k, when in enumerate((97.31, 212.05, 301.77), start=1):
        height += 1
        prev = h.hex(32)
        z.server_send(monerod.zmq_chain_main(height, h.hex(32), [prev]), t(b, when))
        gbt(k, when + 0.0003, k + 1)
    z.close(t(b, 320.0))
    return pcap(z.finish() + packets)


# =====================================================================================
# Capture formats and mixtures
# =====================================================================================

@fixture("multi-interface.pcapng", ["10.3.0.21", "10.99.0.2"], [CRYPTONOTE, STRATUM_V1],
         "pcapng with three IDBs of different link types: eth0 Ethernet (Simple Packet "
         "Blocks, no timestamps: benign DNS), any Linux cooked v2 with if_tsresol=9 (XMRig "
         "on :3333), tun0 raw IP with explicit if_tsresol=6 (cpuminer Litecoin stratum)")
def multi_interface() -> bytes:
    b = base(260)
    eth0 = Interface(Ethernet(), "eth0", description="LAN")
    anyi = Interface(LinuxSLL2(ifindex=0), "any", tsresol=9)
    tun0 = Interface(RawIP(), "tun0", tsresol=6)
    # interface 1: an XMRig container seen on "any"
    x = Conversation(("10.3.0.21", 48810), ("198.51.100.210", 3333), t(b, 0.3), rtt=0.051)
    jobs = MoneroJobs("pcapng-xmrig")
    cryptonote.play_xmrig(x, b + 500_000_000, jobs,
                   xmrig_login(monero_address(HexStream("pcapng-wallet")), XMRIG_AGENT,
                                xmrig_algos()),
                   [(31.0, "j"), (44.4, "s"), (79.9, "b"), (101.3, "s")], 115.0,
                   XMRIG_EXTENSIONS)
    # interface 2: cpuminer over a VPN tunnel
    s = Conversation(("10.99.0.2", 39010), ("203.0.113.44", 3333), t(b, 0.9), rtt=0.088)
    ltc = BitcoinJobs("pcapng-ltc", 3_041_902, "1924c1b6", en1=4, en2=4, branches=5,
                      tag=b"/litecoinpool.org/", reward=625_000_000)
    s.client_send(stratum.subscribe(1, "cpuminer/2.5.1"), t(b, 1.1))
    s.server_send(stratum.reply(1, [[["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"]],
                                    "08000002", 4]), t(b, 1.19))
    s.client_send(stratum.authorize(2, "kelp.cpu1", "1"), t(b, 1.191))
    cur = ltc.notify(t(b, 1.28), clean=True)
    s.server_send(stratum.reply(2, True) + stratum.set_difficulty(0.03125)
                  + stratum.notify(cur, ID_FIRST), t(b, 1.28))
    for when, kind in [(29.6, "n"), (50.2, "s"), (66.0, "b"), (97.1, "n"), (108.8, "s")]:
        if kind in "nb":
            cur = ltc.notify(t(b, when), clean=kind == "b")
            s.server_send(stratum.notify(cur, ID_FIRST), t(b, when))
        else:
            job, en2, ntime, nonce, _ = ltc.share(cur)
            s.client_send(stratum.submit_cpuminer("kelp.cpu1", job, en2, ntime, nonce), t(b, when))
            s.server_send(stratum.reply(4, True), t(b, when + 0.089))
    s.close(t(b, 118.0))
    # interface 0: the LAN's DNS, written as SPBs
    lookups = (dns.exchange("10.3.0.5", "10.3.0.1", 53211, 0x1c2d, "updates.example.com",
                            ["203.0.113.8"], t(b, 0.2))
               + dns.exchange("10.3.0.5", "10.3.0.1", 53212, 0x7e01, "time.example.net",
                              ["198.51.100.123"], t(b, 64.0)))
    tagged = ([(0, p) for p in lookups] + [(1, p) for p in x.finish()]
              + [(2, p) for p in s.finish()])
    tagged.sort(key=lambda ip: (ip[1].ts_ns, ip[1].order))
    links: list[Link] = [eth0.link, anyi.link, tun0.link]
    records = [(i, p.ts_ns, links[i].frame(p)) for i, p in tagged]
    return pcapng_bytes([eth0, anyi, tun0], records, simple_on_0=True)


@fixture("mixed-two-miners-benign.pcap", ["192.168.20.31", "192.168.20.32"],
         [CRYPTONOTE, ETHEREUM_STRATUM],
         "one LAN: an XMRig miner, an NBMiner ETC miner and a benign host (DNS lookups and "
         "a JSON status API polled every 30 s) - only the two miners may become suspects")
def mixed_two_miners() -> bytes:
    b = base(270)
    a = Conversation(("192.168.20.31", 40400), ("198.51.100.220", 3333), t(b, 0.1), rtt=0.043)
    cryptonote.play_xmrig(a, b + 300_000_000, MoneroJobs("mixed-xmr"),
                   xmrig_login(monero_address(HexStream("mixed-xmr-wallet")), XMRIG_AGENT,
                                xmrig_algos()),
                   [(35.1, "j"), (57.0, "s"), (88.8, "b"), (120.5, "j"), (133.3, "s")], 150.0,
                   XMRIG_EXTENSIONS)
    e = Conversation(("192.168.20.32", 52210), ("203.0.113.240", 4444), t(b, 1.8), rtt=0.057,
                     client_ttl=128)
    user = eth_address(HexStream("mixed-eth-wallet")) + ".gpu2"
    ethstratum.play(
        e, b + 2_000_000_000, EthJobs("mixed-eth"),
        subscribe=NBMINER.subscribe(), authorize=NBMINER.authorize(2, user), extranonce_sub=None,
        submit=lambda i, job, n: NBMINER.submit(i, user, job, n),
        hashrate=None, user=user, extranonce="09be", diff=4.0,
        schedule=[x for x in _ETC_SCHEDULE if x[1] != "h"], end=140.0)
    benign = "192.168.20.40"
    pkts = dns.exchange(benign, "192.168.20.1", 41001, 0x4a11, "status.example.com",
                        ["203.0.113.80"], t(b, 0.1))
    api = Conversation((benign, 60211), ("203.0.113.80", 80), t(b, 0.12), rtt=0.034)
    for k, when in enumerate((0.2, 30.2, 60.2, 90.2, 120.2)):
        api.client_send(http_req("GET", "/v1/status", [
            ("Host", "status.example.com"), ("User-Agent", "python-requests/2.32.3"),
            ("Accept-Encoding", "gzip, deflate"), ("Accept", "*/*"),
            ("Connection", "keep-alive")]), t(b, when))
        body = jc({"status": "ok", "version": "3.4.1", "uptime": 86400 + int(when),
                   "queue": {"pending": k * 3 % 7, "failed": 0}})
        api.server_send(http_resp("200 OK", [("Server", "nginx"),
                                             ("Date", http_date(unix(t(b, when)))),
                                             ("Content-Type", "application/json"),
                                             ("Content-Length", str(len(body))),
                                             ("Connection", "keep-alive")], body),
                        t(b, when + 0.036))
    api.close(t(b, 135.0))
    pkts += dns.exchange(benign, "192.168.20.1", 41002, 0x4a12, "cdn.example.net",
                         ["198.51.100.44"], t(b, 70.0))
    return pcap(a.finish() + e.finish() + api.finish() + pkts)


# =====================================================================================
# Hard negatives: nothing here may become a suspect
# =====================================================================================

@fixture("neg-eth-wallet-rpc-ipv6.pcap", [], [],
         "a Node.js wallet backend (ethers 6) polling a LAN Ethereum node over IPv6 on :8545 "
         "every 4 s: batched JSON-RPC arrays of eth_blockNumber, eth_getBalance, eth_call, "
         "net_version, eth_chainId over one keep-alive HTTP connection - periodic JSON-RPC "
         "that is not mining")
def neg_eth_wallet() -> bytes:
    b = base(300)
    cli, node = ("2001:db8:10:30::21", 51544), ("2001:db8:10:30::2", 8545)
    h = HexStream("eth-wallet-rpc")
    acct = eth_address(h)
    token = eth_address(h, checksum=False)
    c = Conversation(cli, node, t(b, -0.01), rtt=0.0008, server_local=True, server_ttl=64)
    block = 21_688_012
    ident = 1

    def call(when: float, methods: list[tuple[str, list[object]]]) -> None:
        nonlocal ident, block
        batch = []
        for m, p in methods:
            batch.append({"method": m, "params": p, "id": ident, "jsonrpc": "2.0"})
            ident += 1
        body = json.dumps(batch, separators=(",", ":")).encode()
        c.client_send(http_req("POST", "/", [
            ("user-agent", "ethers/6.13.4 (node; v20.18.0)"), ("accept-encoding", "gzip"),
            ("content-type", "application/json"), ("content-length", str(len(body))),
            ("Host", f"[{node[0]}]:{node[1]}"), ("Connection", "keep-alive")], body), t(b, when))
        results: list[object] = []
        for req in batch:
            m = req["method"]
            if m == "eth_blockNumber":
                res: object = hex(block)
            elif m == "eth_chainId":
                res = "0x1"
            elif m == "net_version":
                res = "1"
            elif m == "eth_getBalance":
                res = hex(h.uint(10**17, 10**19))
            else:
                res = "0x" + h.hex(32)
            results.append({"jsonrpc": "2.0", "id": req["id"], "result": res})
        out = json.dumps(results, separators=(",", ":")).encode() + b"\n"
        c.server_send(http_resp("200 OK", [("Content-Type", "application/json"),
                                           ("Vary", "Origin"),
                                           ("Date", http_date(unix(t(b, when)))),
                                           ("Content-Length", str(len(out)))], out),
                      t(b, when + 0.0019))

    call(0.0, [("eth_chainId", []), ("net_version", [])])
    for k in range(30):
        when = 0.5 + 4.0 * k
        if k % 3 == 0:
            block += 1
        methods: list[tuple[str, list[object]]] = [("eth_blockNumber", [])]
        if k % 3 == 1:
            methods += [("eth_getBalance", [acct, "latest"]),
                        ("eth_call", [{"to": token, "data": "0x70a08231" + "0" * 24
                                       + acct[2:].lower()}, "latest"])]
        call(when, methods)
    c.close(t(b, 122.0))
    return pcap(c.finish())


@fixture("neg-bitcoind-rpc-8332.pcap", [], [],
         "bitcoin-cli style monitoring of a LAN bitcoind on :8332 (one connection per call, "
         "Connection: close, libevent header order): getblockchaininfo, getbalance, "
         "getmininginfo, getnetworkinfo - node/wallet RPC, including a mining-named method, "
         "that is not mining")
def neg_bitcoind() -> bytes:
    b = base(310)
    cli, node = ("192.168.1.60", 50310), ("192.168.1.10", 8332)
    h = HexStream("bitcoind-rpc")
    auth = basic_auth("__cookie__", h.hex(32))
    packets: list[Packet] = []
    best = "00000000000000000001" + h.hex(22)
    results: dict[str, object] = {
        "getblockchaininfo": {"chain": "main", "blocks": 930_617, "headers": 930_617,
                              "bestblockhash": best, "difficulty": 148_195_306_640_637.1,
                              "time": unix(b) - 311, "mediantime": unix(b) - 2100,
                              "verificationprogress": 0.9999987, "initialblockdownload": False,
                              "chainwork": "00" * 20 + "b1f0" + h.hex(10),
                              "size_on_disk": 731_822_190_432, "pruned": False, "warnings": []},
        "getbalance": 0.48213377,
        "getmininginfo": {"blocks": 930_617, "difficulty": 148_195_306_640_637.1,
                          "networkhashps": 1.061e21, "pooledtx": 5123, "chain": "main",
                          "warnings": []},
        "getnetworkinfo": {"version": 270100, "subversion": "/Satoshi:27.1.0/",
                           "protocolversion": 70016, "localservices": "0000000000000c09",
                           "localrelay": True, "timeoffset": 0, "networkactive": True,
                           "connections": 10, "connections_in": 0, "connections_out": 10,
                           "relayfee": 0.00001, "incrementalfee": 0.00001, "warnings": []},
    }
    for k, (when, method) in enumerate([(0.0, "getblockchaininfo"), (0.31, "getbalance"),
                                        (60.0, "getmininginfo"), (60.28, "getnetworkinfo"),
                                        (120.0, "getblockchaininfo")]):
        c = Conversation((cli[0], cli[1] + 2 * k), node, t(b, when), rtt=0.0004,
                         server_local=True, server_ttl=64)
        body = jc({"method": method, "params": [], "id": 1})
        c.client_send(http_req("POST", "/", [("Host", node[0]), ("Connection", "close"),
                                             ("Authorization", auth),
                                             ("Content-Length", str(len(body)))], body),
                      t(b, when + 0.0005))
        out = getwork.rpc_result(results[method], 1)
        c.server_send(getwork.bitcoind_response(out, t(b, when)), t(b, when + 0.0031))
        c.close(t(b, when + 0.0034), by="server")
        packets.extend(c.finish())
    return pcap(packets)


@fixture("neg-jsonrpc-echo-tcp.pcap", [], [],
         "a newline-delimited JSON-RPC 2.0 service over raw TCP on :4000 (Python client, "
         "spaced JSON, string UUID ids): echo and system.listMethods calls, a ping every "
         "30 s and server status.update notifications every 30 s - periodic pushes that are "
         "not jobs")
def neg_jsonrpc_echo() -> bytes:
    b = base(320)
    c = Conversation(("10.5.0.14", 46880), ("10.5.0.2", 4000), t(b, -0.01), rtt=0.0006,
                     server_local=True, server_ttl=64)
    h = HexStream("jsonrpc-echo")

    def uid() -> str:
        return uuid_text(h.hex(16))

    def request(when: float, method: str, params: list[object], result: object) -> None:
        rid = uid()
        c.client_send(js({"jsonrpc": "2.0", "method": method, "params": params, "id": rid}),
                      t(b, when))
        c.server_send(js({"jsonrpc": "2.0", "result": result, "id": rid}), t(b, when + 0.0011))

    request(0.01, "system.listMethods", [], ["echo", "ping", "system.listMethods",
                                             "status.get"])
    request(0.2, "echo", ["Testing!"], "Testing!")
    for k, when in enumerate(range(30, 181, 30)):
        c.server_send(js({"jsonrpc": "2.0", "method": "status.update",
                          "params": {"load": round(0.2 + 0.05 * (k % 5), 2),
                                     "uptime": 3600 + when, "workers": 4}}), t(b, when - 0.5))
        request(float(when), "ping", [], "pong")
        if k == 2:
            request(when + 3.1, "echo", [{"msg": "hello", "seq": 17}],
                    {"msg": "hello", "seq": 17})
    c.close(t(b, 185.0))
    return pcap(c.finish())


@fixture("neg-electrum-50001.pcap", [], [],
         "Electrum 4.5.5 wallet talking to an ElectrumX server on :50001 (aiorpcx JSON, "
         "\"params\" omitted when empty): server.version, blockchain.headers.subscribe, "
         "blockchain.scripthash.subscribe for five addresses, estimatefee, server.ping every "
         "60 s, and the server's header and scripthash notifications after a new block")
def neg_electrum() -> bytes:
    b = base(330)
    c = Conversation(("192.168.1.88", 58002), ("203.0.113.50", 50001), t(b, -0.2), rtt=0.062)
    h = HexStream("electrum")
    height = 930_640

    def header() -> dict[str, object]:
        return {"hex": "00e0ff3f" + h.hex(32) + h.hex(32) + le32hex(unix(b)) + "03f30117"
                       + h.hex(4), "height": height}

    c.client_send(js({"jsonrpc": "2.0", "method": "server.version", "id": 0,
                      "params": ["electrum/4.5.5", "1.4"]}), t(b, 0.01))
    c.server_send(js({"jsonrpc": "2.0", "result": ["ElectrumX 1.16.0", "1.4"], "id": 0}),
                  t(b, 0.075))
    c.client_send(js({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe", "id": 1}),
                  t(b, 0.076))
    c.server_send(js({"jsonrpc": "2.0", "result": header(), "id": 1}), t(b, 0.14))
    hashes = [h.hex(32) for _ in range(5)]
    statuses: list[object] = [h.hex(32), None, h.hex(32), None, None]
    msgs = b"".join(js({"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe",
                        "id": 2 + i, "params": [sh]}) for i, sh in enumerate(hashes))
    c.client_send(msgs, t(b, 0.15))
    c.server_send(b"".join(js({"jsonrpc": "2.0", "result": st, "id": 2 + i})
                           for i, st in enumerate(statuses)), t(b, 0.216))
    c.client_send(js({"jsonrpc": "2.0", "method": "blockchain.estimatefee", "id": 7,
                      "params": [2]}), t(b, 0.3))
    c.server_send(js({"jsonrpc": "2.0", "result": 0.00011937, "id": 7}), t(b, 0.366))
    sc = Script()
    rid = 8
    for when in (60.3, 120.3, 180.3, 240.3):
        sc.client(t(b, when), js({"jsonrpc": "2.0", "method": "server.ping", "id": rid}))
        sc.server(t(b, when + 0.065), js({"jsonrpc": "2.0", "result": None, "id": rid}))
        rid += 1
    height += 1
    sc.server(t(b, 211.7), js({"jsonrpc": "2.0", "method": "blockchain.headers.subscribe",
                               "params": [header()]}))
    sc.server(t(b, 212.9), js({"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe",
                               "params": [hashes[1], h.hex(32)]}))
    sc.client(t(b, 213.0), js({"jsonrpc": "2.0", "method": "blockchain.scripthash.get_history",
                               "id": rid, "params": [hashes[1]]}))
    sc.server(t(b, 213.07), js({"jsonrpc": "2.0", "result": [{"tx_hash": h.hex(32),
                                                              "height": height}], "id": rid}))
    sc.play(c)
    c.close(t(b, 250.0))
    return pcap(c.finish())


@fixture("neg-telemetry-ndjson-gelf.pcap", [], [],
         "log shipping: Fluent Bit json_lines (newline-delimited JSON) to Logstash :5170 every "
         "10 s and GELF over TCP (NUL-terminated JSON) to Graylog :12201 every 15 s - "
         "periodic JSON over long-lived TCP that is not mining")
def neg_telemetry() -> bytes:
    b = base(340)
    host = "10.6.0.11"
    h = HexStream("telemetry")
    nd = Conversation((host, 41220), ("10.6.0.50", 5170), t(b, -0.2), rtt=0.0009,
                      server_local=True, server_ttl=64)
    gelf = Conversation((host, 41226), ("10.6.0.51", 12201), t(b, -0.1), rtt=0.0011,
                        server_local=True, server_ttl=64)
    paths = ["/healthz", "/api/v2/items", "/api/v2/cart", "/static/app.js", "/login"]
    events: list[tuple[float, str]] = [(0.5 + 10 * k, "nd") for k in range(18)]
    events += [(0.8 + 15 * k, "gelf") for k in range(12)]
    for when, kind in sorted(events):
        ts = unix(t(b, when)) + round(when % 1, 3)
        if kind == "nd":
            recs = []
            for _ in range(h.uint(1, 3)):
                path = paths[h.uint(0, len(paths) - 1)]
                recs.append(jc({"date": ts, "log": f"GET {path} 200 {h.uint(1, 40)}ms",
                                "host": "web-01", "service": "shop-api",
                                "stream": "stdout"}))
            nd.client_send(b"".join(recs), t(b, when))
        else:
            msg = json.dumps({"version": "1.1", "host": "web-01",
                              "short_message": f"cache hit ratio {h.uint(80, 99)}%",
                              "timestamp": ts, "level": 6, "_container": "shop-api",
                              "_env": "prod"}, separators=(",", ":")).encode() + b"\x00"
            gelf.client_send(msg, t(b, when))
    nd.close(t(b, 179.0))
    gelf.close(t(b, 179.5))
    return pcap(nd.finish() + gelf.finish())


@fixture("neg-mqtt-json-1883.pcap", [], [],
         "an IoT sensor on MQTT 3.1.1 (:1883): CONNECT with user/password, SUBSCRIBE to its "
         "command topic, JSON telemetry PUBLISH every 30 s, PINGREQ/PINGRESP keepalive, one "
         "JSON command pushed by the broker")
def neg_mqtt() -> bytes:
    b = base(350)
    c = Conversation(("10.7.0.33", 50021), ("10.7.0.2", 1883), t(b, -0.2), rtt=0.003,
                     server_local=True, server_ttl=64)
    h = HexStream("mqtt")
    connect = (mqtt.string("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 60)
               + mqtt.string("sensor-7f3a21") + mqtt.string("sensor") + mqtt.string("t3mp!2026"))
    c.client_send(mqtt.packet(0x10, connect), t(b, 0.01))
    c.server_send(b"\x20\x02\x00\x00", t(b, 0.014))
    c.client_send(mqtt.packet(0x82, struct.pack(">H", 1) + mqtt.string("devices/sensor-7f3a21/cmd")
                        + b"\x01"), t(b, 0.015))
    c.server_send(b"\x90\x03\x00\x01\x01", t(b, 0.019))
    topic = mqtt.string("devices/sensor-7f3a21/telemetry")
    sc = Script()
    for k in range(8):
        when = 1.0 + 30.0 * k
        payload = jc({"ts": unix(t(b, when)), "temp": round(21.0 + (h.uint(0, 40) / 10), 1),
                      "hum": h.uint(35, 60), "batt": 3.71, "rssi": -h.uint(55, 75)})[:-1]
        sc.client(t(b, when), mqtt.packet(0x30, topic + payload))
        if k % 2 == 1:
            sc.client(t(b, when + 29.0), b"\xc0\x00")
            sc.server(t(b, when + 29.003), b"\xd0\x00")
        if k == 4:
            cmd = jc({"cmd": "set_interval", "seconds": 30, "req": h.hex(4)})[:-1]
            sc.server(t(b, when + 7.4),
                      mqtt.packet(0x30, mqtt.string("devices/sensor-7f3a21/cmd") + cmd))
    sc.client(t(b, 245.0), b"\xe0\x00")
    sc.play(c)
    c.close(t(b, 245.01))
    return pcap(c.finish())


@fixture("neg-websocket-chat.pcap", [], [],
         "a browser chat over WebSocket (cleartext :80): HTTP Upgrade with a valid "
         "Sec-WebSocket-Accept, masked client text frames and server frames carrying JSON "
         "(join, message, typing, presence), server JSON pings every 25 s")
def neg_websocket() -> bytes:
    b = base(360)
    c = Conversation(("192.168.2.44", 61002), ("203.0.113.90", 80), t(b, -0.2), rtt=0.028,
                     client_ttl=128)
    h = HexStream("websocket")
    key = base64.b64encode(h.bytes(16)).decode()
    accept = base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    c.client_send(http_req("GET", "/chat/socket?room=general", [
        ("Host", "chat.example.com"), ("Connection", "Upgrade"), ("Pragma", "no-cache"),
        ("Cache-Control", "no-cache"),
        ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                       "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
        ("Upgrade", "websocket"), ("Origin", "http://chat.example.com"),
        ("Sec-WebSocket-Version", "13"), ("Accept-Encoding", "gzip, deflate"),
        ("Accept-Language", "en-US,en;q=0.9"), ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]),
        t(b, 0.01))
    c.server_send(http_resp("101 Switching Protocols", [("Upgrade", "websocket"),
                                                        ("Connection", "Upgrade"),
                                                        ("Sec-WebSocket-Accept", accept)]),
                  t(b, 0.04))

    sc = Script()

    def cs(obj: object, when: float) -> None:
        sc.client(t(b, when), websocket.frame(jc(obj)[:-1], h.bytes(4)))

    def ss(obj: object, when: float) -> None:
        sc.server(t(b, when), websocket.frame(jc(obj)[:-1], None))

    cs({"type": "join", "room": "general", "nick": "mara"}, 0.05)
    ss({"type": "presence", "room": "general", "users": ["mara", "tomek", "ines"]}, 0.08)
    lines = ["hi all", "anyone tried the new build?", "yes, works for me", "brb lunch"]
    who = ["tomek", "mara", "ines", "mara"]
    for k, when in enumerate((12.4, 31.9, 47.3, 88.0)):
        if who[k] == "mara":
            cs({"type": "typing", "room": "general"}, when - 2.1)
            cs({"type": "message", "room": "general", "text": lines[k], "cid": h.hex(6)}, when)
        ss({"type": "message", "room": "general", "from": who[k], "text": lines[k],
            "ts": unix(t(b, when)) * 1000 + h.uint(0, 999), "id": h.hex(8)}, when + 0.03)
    for when in (25.0, 50.0, 75.0, 100.0):
        ss({"type": "ping", "t": unix(t(b, when))}, when)
        cs({"type": "pong", "t": unix(t(b, when))}, when + 0.032)
    sc.play(c)
    c.client_send(websocket.frame(struct.pack(">H", 1001), h.bytes(4), opcode=8), t(b, 110.0))
    c.server_send(websocket.frame(struct.pack(">H", 1001), None, opcode=8), t(b, 110.03))
    c.close(t(b, 110.04), by="server")
    return pcap(c.finish())


@fixture("neg-bitcoin-p2p-8333.pcap", [], [],
         "a Bitcoin Core 27.1 node's outbound peer connection on :8333: version/verack, "
         "sendaddrv2, wtxidrelay, sendheaders, sendcmpct, feefilter, ping/pong and inv of new "
         "transactions (valid magic f9beb4d9, lengths and checksums) - node traffic, not mining")
def neg_bitcoin_p2p() -> bytes:
    b = base(370)
    me, peer = ("10.9.0.5", 48222), ("198.51.100.150", 8333)
    h = HexStream("btc-p2p")
    btc = bitcoin_p2p.message
    c = Conversation(me, peer, t(b, -0.2), rtt=0.097)
    c.client_send(btc("version", bitcoin_p2p.version(unix(b), ("0.0.0.0", 0), peer, h.bytes(8),
                                                     "/Satoshi:27.1.0/", 930_652)), t(b, 0.001))
    c.server_send(btc("version", bitcoin_p2p.version(unix(b), ("0.0.0.0", 0), me, h.bytes(8),
                                                     "/Satoshi:28.0.0/", 930_652)), t(b, 0.099))
    c.client_send(btc("wtxidrelay", b"") + btc("sendaddrv2", b"")
                  + btc("verack", b""), t(b, 0.1))
    c.server_send(btc("wtxidrelay", b"") + btc("sendaddrv2", b"")
                  + btc("verack", b""), t(b, 0.101))
    c.client_send(btc("sendheaders", b"")
                  + btc("sendcmpct", b"\x00" + struct.pack("<Q", 2))
                  + btc("ping", h.bytes(8))
                  + btc("feefilter", struct.pack("<Q", 1000)), t(b, 0.2))
    c.server_send(btc("sendheaders", b"")
                  + btc("sendcmpct", b"\x00" + struct.pack("<Q", 2))
                  + btc("pong", h.bytes(8))
                  + btc("feefilter", struct.pack("<Q", 2345)), t(b, 0.3))
    sc = Script()
    for k in range(10):
        when = 3.0 + 11.7 * k
        n = h.uint(1, 6)
        inv = bytes([n]) + b"".join(struct.pack("<I", 5) + h.bytes(32) for _ in range(n))
        if k % 2:
            sc.client(t(b, when), btc("inv", inv))
        else:
            sc.server(t(b, when), btc("inv", inv))
    for when in (61.2, 121.2):
        nonce = h.bytes(8)
        sc.client(t(b, when), btc("ping", nonce))
        sc.server(t(b, when + 0.098), btc("pong", nonce))
    sc.play(c)
    c.close(t(b, 130.0))
    return pcap(c.finish())


@fixture("neg-ethereum-devp2p-30303.pcap", [], [],
         "geth node: discv4 UDP ping/pong and findnode/neighbors on :30303 (keccak hash, "
         "signature, RLP), then an RLPx TCP session on :30303 - EIP-8 auth/ack and "
         "encrypted frames, random-looking bytes - node traffic, not mining")
def neg_ethereum_devp2p() -> bytes:
    b = base(380)
    me, peer = ("10.9.0.6", 30303), ("203.0.113.70", 30303)
    h = HexStream("devp2p")
    ip4 = lambda a: bytes(int(x) for x in a.split("."))  # noqa: E731
    exp = unix(b) + 20
    pkts = [
        udp(me, peer, devp2p.discv4(h, 1, [4, [ip4(me[0]), me[1], me[1]],
                                           [ip4(peer[0]), peer[1], 0], exp, 1_714_000_123]),
            t(b, 0.0), ip_id=1),
        udp(peer, me, devp2p.discv4(h, 2, [[ip4(me[0]), me[1], me[1]], h.bytes(32), exp,
                                     1_731_990_077]), t(b, 0.102), outgoing=False, ttl=51),
        udp(me, peer, devp2p.discv4(h, 3, [h.bytes(64), exp + 1]), t(b, 0.2), ip_id=2),
    ]
    nodes = [[ip4(f"198.51.100.{30 + i}"), 30303, 30303, h.bytes(64)] for i in range(4)]
    pkts.append(udp(peer, me, devp2p.discv4(h, 4, [nodes, exp + 1]), t(b, 0.305), outgoing=False,
                    ttl=51))
    c = Conversation((me[0], 41566), peer, t(b, 0.4), rtt=0.101)
    c.client_send(struct.pack(">H", 410) + bytes([4]) + h.bytes(409), t(b, 0.502))
    c.server_send(struct.pack(">H", 302) + bytes([4]) + h.bytes(301), t(b, 0.604))
    c.client_send(h.bytes(32 + 160 + 16), t(b, 0.605))  # Hello frame
    c.server_send(h.bytes(32 + 176 + 16), t(b, 0.707))
    c.client_send(h.bytes(32 + 112 + 16), t(b, 0.708))  # eth Status
    c.server_send(h.bytes(32 + 112 + 16), t(b, 0.81))
    sc = Script()
    for k in range(8):
        when = 3.0 + 7.3 * k
        sc.server(t(b, when), h.bytes(32 + 16 * h.uint(3, 40) + 16))
        if k % 3 == 0:
            sc.client(t(b, when + 0.4), h.bytes(32 + 16 * h.uint(2, 12) + 16))
    sc.client(t(b, 15.0), h.bytes(32 + 16 + 16))  # p2p ping
    sc.server(t(b, 15.102), h.bytes(32 + 16 + 16))  # pong
    sc.play(c)
    c.close(t(b, 70.0))
    return pcap(pkts + c.finish())


@fixture("neg-monero-levin-18080.pcap", [], [],
         "a monerod node's P2P link on :18080 (Levin: signature 0x0101010101012101, epee "
         "portable-storage payloads): handshake 1001, support flags 1007, timed sync 1002 "
         "every 60 s, transaction broadcasts 2002 - node traffic, not mining")
def neg_monero_levin() -> bytes:
    b = base(390)
    me, peer = ("10.9.0.7", 52880), ("198.51.100.160", 18080)
    h = HexStream("levin")
    frame, ps, ps_varint = levin.frame, levin.ps, levin.ps_varint
    node_data, sync_data = levin.node_data, levin.sync_data
    height = 3_591_420
    c = Conversation(me, peer, t(b, -0.2), rtt=0.118)
    hs = ps([("node_data", 12, node_data(h, 0)), ("payload_data", 12, sync_data(h, height))])
    c.client_send(frame(1001, hs, True, True), t(b, 0.001))
    peers = b"".join(h.bytes(24) for _ in range(20))
    hs_resp = ps([("local_peerlist_new", 10, ps_varint(len(peers)) + peers),
                   ("node_data", 12, node_data(h, 18080)),
                   ("payload_data", 12, sync_data(h, height + 1))])
    c.server_send(frame(1007, ps([]), True, True), t(b, 0.12))
    c.client_send(frame(1007, ps([("support_flags", 6, struct.pack("<I", 1))]), False, False),
                  t(b, 0.121))
    c.server_send(frame(1001, hs_resp, False, False), t(b, 0.125))
    sc = Script()
    for k in range(4):
        when = 60.0 * (k + 1)
        sc.client(t(b, when), frame(1002, ps([("payload_data", 12,
                                                 sync_data(h, height + k))]), True, True))
        sc.server(t(b, when + 0.119),
                  frame(1002, ps([("local_peerlist_new", 10, ps_varint(48) + h.bytes(48)),
                                    ("payload_data", 12, sync_data(h, height + k + 1))]),
                         False, False))
    for when in (17.4, 44.0, 97.6, 151.2, 203.9):
        txs = h.bytes(h.uint(1200, 2600))
        sc.server(t(b, when), frame(2002, ps([("txs", 10, ps_varint(len(txs)) + txs)]),
                                     True, False))
    sc.play(c)
    c.close(t(b, 250.0))
    return pcap(c.finish())


@fixture("neg-portscan-syn.pcap", [], [],
         "a SYN scan from 10.66.0.9 of two hosts on the mining-typical ports 3333, 4444, "
         "5555, 7777, 9999, 14444 and 8333: RST/ACK from closed ports, silence from filtered "
         "ones, one open port answered SYN/ACK and reset by the scanner")
def neg_portscan() -> bytes:
    b = base(400)
    scanner = "10.66.0.9"
    ports = [3333, 4444, 5555, 7777, 9999, 14444, 8333]
    targets = ["198.51.100.170", "198.51.100.171"]
    pkts: list[Packet] = []
    when = 0.0
    k = 0
    for dst in targets:
        for port in ports:
            sport = 45000 + (k * 7919) % 20000
            seq = int.from_bytes(hashlib.sha256(f"scan{k}".encode()).digest()[:4], "big")
            pkts.append(tcp_raw((scanner, sport), (dst, port), "S", t(b, when), seq=seq,
                                window=1024, options=[("MSS", 1460)], ttl=64,
                                ip_id=(31337 + k * 17) & 0xFFFF))
            if dst == targets[1] and port == 8333:
                pkts.append(tcp_raw((dst, port), (scanner, sport), "SA", t(b, when + 0.0371),
                                    seq=0x5A17C0DE, ack=seq + 1, window=64240,
                                    options=[("MSS", 1460)], ttl=52, outgoing=False))
                pkts.append(tcp_raw((scanner, sport), (dst, port), "R", t(b, when + 0.0372),
                                    seq=seq + 1, window=0, ttl=64, ip_id=0))
            elif port not in (7777, 14444):
                pkts.append(tcp_raw((dst, port), (scanner, sport), "RA", t(b, when + 0.0365),
                                    seq=0, ack=seq + 1, window=0, ttl=52, outgoing=False))
            when += 0.0008
            k += 1
    # nmap retries the unanswered (filtered) ports once
    for dst in targets:
        for port in (7777, 14444):
            sport = 45000 + (k * 7919) % 20000
            pkts.append(tcp_raw((scanner, sport), (dst, port), "S", t(b, when + 1.0),
                                seq=k * 1_000_003, window=1024, options=[("MSS", 1460)],
                                ip_id=(31337 + k * 17) & 0xFFFF))
            when += 0.0008
            k += 1
    return pcap(pkts)


@fixture("neg-http-api-3333.pcap", [], [],
         "a Node/Express REST API on :3333 (a common dev port): login with email/password, "
         "JSON lists and a health endpoint polled every 15 s - JSON on a mining port that "
         "is not mining")
def neg_http_api_3333() -> bytes:
    b = base(410)
    c = Conversation(("192.168.3.15", 55102), ("192.168.3.5", 3333), t(b, -0.01), rtt=0.0007,
                     server_local=True, server_ttl=64)
    h = HexStream("http-api")
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

    def exchange(when: float, method: str, path: str, req_obj: object | None,
                 resp_obj: object, status: str = "200 OK") -> None:
        body = jc(req_obj)[:-1] if req_obj is not None else b""
        headers = [("Host", "192.168.3.5:3333"), ("User-Agent", ua),
                   ("Accept", "application/json, text/plain, */*"),
                   ("Accept-Language", "en-US,en;q=0.5"), ("Accept-Encoding", "gzip, deflate")]
        if body:
            headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        headers += [("Origin", "http://192.168.3.5:5173"), ("Connection", "keep-alive")]
        c.client_send(http_req(method, path, headers, body), t(b, when))
        out = jc(resp_obj)[:-1]
        etag = 'W/"' + f"{len(out):x}-" + h.hex(9) + '"'
        c.server_send(http_resp(status, [("X-Powered-By", "Express"),
                                         ("Access-Control-Allow-Origin", "*"),
                                         ("Content-Type", "application/json; charset=utf-8"),
                                         ("Content-Length", str(len(out))), ("ETag", etag),
                                         ("Date", http_date(unix(t(b, when)))),
                                         ("Connection", "keep-alive"),
                                         ("Keep-Alive", "timeout=5")], out),
                      t(b, when + 0.0043))

    exchange(0.0, "POST", "/api/login", {"email": "dev@example.com", "password": "hunter22"},
             {"token": h.hex(24), "user": {"id": 7, "name": "Dev"}})
    exchange(0.4, "GET", "/api/orders?limit=3", None,
             {"items": [{"id": 1000 + i, "total": 19.9 + i, "status": "shipped"}
                        for i in range(3)], "next": None})
    for k in range(9):
        exchange(15.0 * (k + 1), "GET", "/api/health", None,
                 {"status": "ok", "db": "up", "uptime": 5400 + 15 * k})
    c.close(t(b, 140.0))
    return pcap(c.finish())


@fixture("neg-jsonrpc-login-webapp-8080.pcap", [], [],
         "a single-page web app calling a JSON-RPC 2.0 endpoint over HTTP (:8080) whose "
         "first method is named \"login\" with username/password params, then getProfile and "
         "listInvoices - not a wallet, not newline stratum")
def neg_jsonrpc_login() -> bytes:
    b = base(420)
    c = Conversation(("192.168.3.16", 60440), ("203.0.113.100", 8080), t(b, -0.2), rtt=0.019,
                     client_ttl=128)
    h = HexStream("webapp-login")
    session = h.hex(16)
    ua = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0")

    def rpc(when: float, ident: int, method: str, params: object, result: object,
            cookie: bool) -> None:
        body = jc({"jsonrpc": "2.0", "method": method, "params": params, "id": ident})[:-1]
        headers = [("Host", "billing.example.com:8080"), ("Connection", "keep-alive"),
                   ("Content-Length", str(len(body))), ("User-Agent", ua),
                   ("Content-Type", "application/json"), ("Accept", "*/*"),
                   ("Origin", "http://billing.example.com:8080"),
                   ("Referer", "http://billing.example.com:8080/app/"),
                   ("Accept-Encoding", "gzip, deflate"), ("Accept-Language", "en-GB,en;q=0.9")]
        if cookie:
            headers.append(("Cookie", f"sid={session}"))
        c.client_send(http_req("POST", "/api/jsonrpc", headers, body), t(b, when))
        out = jc({"jsonrpc": "2.0", "result": result, "id": ident})[:-1]
        extra = [("Set-Cookie", f"sid={session}; Path=/; HttpOnly")] if not cookie else []
        c.server_send(http_resp("200 OK", [("Date", http_date(unix(t(b, when)))),
                                           ("Content-Type", "application/json"),
                                           ("Content-Length", str(len(out))), *extra,
                                           ("Server", "Jetty(12.0.15)")], out),
                      t(b, when + 0.024))

    rpc(0.0, 1, "login", {"username": "alice", "password": "S3cure!pass"},
        {"session": session, "expires": 3600, "roles": ["billing"]}, False)
    rpc(0.6, 2, "getProfile", {}, {"name": "Alice Moreau", "email": "alice@example.com"}, True)
    rpc(1.1, 3, "listInvoices", {"page": 1, "size": 5},
        [{"no": f"INV-2026-{k:04d}", "amount": 120 + 15 * k, "paid": k % 2 == 0}
         for k in range(5)], True)
    rpc(64.0, 4, "listInvoices", {"page": 2, "size": 5}, [], True)
    c.close(t(b, 70.0))
    return pcap(c.finish())


@fixture("neg-binary-garbage-3333.pcap", [], [],
         "a proprietary length-prefixed binary protocol on :3333 (a game server): random "
         "payloads both ways and binary heartbeats every 20 s - no JSON at all on a mining "
         "port")
def neg_binary_3333() -> bytes:
    b = base(430)
    c = Conversation(("10.10.0.8", 49001), ("198.51.100.180", 3333), t(b, -0.2), rtt=0.044,
                     client_ttl=128)
    h = HexStream("binary-3333")

    def frame(n: int) -> bytes:
        body = h.bytes(n)
        return struct.pack("<H", n) + body

    c.client_send(b"\x7fGS\x02" + frame(60), t(b, 0.01))
    c.server_send(frame(130), t(b, 0.055))
    for k in range(9):
        when = 20.0 * (k + 1)
        c.client_send(b"\x00\x04\xfe\xed" + struct.pack("<I", k), t(b, when))
        c.server_send(b"\x00\x04\xfe\xef" + struct.pack("<I", k), t(b, when + 0.045))
        if k % 2 == 0:
            c.client_send(frame(h.uint(40, 400)), t(b, when + 3.3))
            c.server_send(frame(h.uint(200, 1300)), t(b, when + 3.35))
    c.close(t(b, 190.0))
    return pcap(c.finish())


# =====================================================================================
# Serial WAN links (PPP, Cisco HDLC) and Wi-Fi monitor captures (radiotap, PPI)
# =====================================================================================

def linked(packets: Sequence[Packet], link: Link, extra: Sequence[tuple[int, bytes]] = ()
           ) -> bytes:
    """Frame packets on ``link`` and merge in ``extra`` (ts_ns, frame) records that carry
    no IP packet (keepalives, beacons, acknowledgements); a classic pcap."""
    return pcap_bytes(merge_records(frames(packets, link), extra), link.linktype)


def _lcp_keepalives(link: PPP, b: int, every: float, until: float, magic: tuple[int, int]
                    ) -> list[tuple[int, bytes]]:
    """pppd's LCP echo requests from us every ``every`` s and the peer's replies."""
    out = []
    for k, when in enumerate(range(int(every), int(until), int(every))):
        out.append((t(b, when + 0.5), link.control(0xC021, lcp_echo(k, magic[0], False), True)))
        out.append((t(b, when + 0.5213),
                    link.control(0xC021, lcp_echo(k, magic[1], True), False)))
    return out


@fixture("stratum-v1-cpuminer-ppp.pcap", ["100.66.14.2"], [STRATUM_V1],
         "pooler cpuminer 2.5.1 (sha256d) on :3333 behind a PPP dial-up/serial link (DLT_PPP, "
         "9): our frames FF 03 00 21, the peer's with Address/Control and Protocol field "
         "compressed (a bare 21 before the IP header), LCP echo request/reply every 30 s")
def stratum_cpuminer_ppp() -> bytes:
    b = base(440)
    cli, pool = ("100.66.14.2", 49822), ("198.51.100.33", 3333)
    user = "dialup.cpu0"
    jobs = BitcoinJobs("cpuminer-ppp", 930_402, "1701f303", en1=4, en2=4, branches=8,
                       tag=b"/slush/", job_id=lambda n: f"{0x5e20 + n:x}")
    c = Conversation(cli, pool, t(b, -0.3), rtt=0.142)
    c.client_send(stratum.subscribe(1, "cpuminer/2.5.1"), t(b, 0.01))
    c.server_send(stratum.reply(1, [[["mining.set_difficulty", "1"], ["mining.notify", "1"]],
                                    "3b0c4f11", 4]), t(b, 0.152))
    c.client_send(stratum.authorize(2, user, "x"), t(b, 0.153))
    cur = jobs.notify(t(b, 0.296), clean=True)
    c.server_send(stratum.reply(2, True) + stratum.set_difficulty(1)
                  + stratum.notify(cur, ID_FIRST), t(b, 0.296))
    for when, kind in [(27.4, "n"), (52.9, "s"), (66.1, "n"), (98.0, "b"), (131.6, "s"),
                       (147.2, "n"), (178.5, "s")]:
        if kind in "nb":
            cur = jobs.notify(t(b, when), clean=kind == "b")
            c.server_send(stratum.notify(cur, ID_FIRST), t(b, when))
        else:
            job, en2, ntime, nonce, _ = jobs.share(cur)
            c.client_send(stratum.submit_cpuminer(user, job, en2, ntime, nonce), t(b, when))
            c.server_send(stratum.reply(4, True), t(b, when + 0.143))
    c.close(t(b, 190.0))
    link = PPP(9, acfc=(False, True), pfc=(False, True))
    return linked(c.finish(), link, _lcp_keepalives(link, b, 30.0, 190.0,
                                                    (0x5A3C0F12, 0x1E22D7A9)))


@fixture("cryptonote-xmrig-ppp-serial.pcap", ["172.31.4.10"], [CRYPTONOTE],
         "XMRig 6.22.2 on a RandomX pool (:5555) over a synchronous serial PPP link "
         "(DLT_PPP_SERIAL, 50: every frame FF 03 00 21), LCP echo keepalives every 20 s")
def cryptonote_xmrig_ppp_serial() -> bytes:
    b = base(450)
    c = Conversation(("172.31.4.10", 40122), ("203.0.113.150", 5555), t(b, -0.2), rtt=0.061)
    cryptonote.play_xmrig(c, b, MoneroJobs("xmrig-ppp"),
                          xmrig_login(monero_address(HexStream("xmrig-ppp-wallet")), XMRIG_AGENT,
                                      xmrig_algos()),
                          [(33.0, "j"), (58.2, "s"), (91.4, "b"), (124.9, "s"), (140.3, "j")],
                          150.0, XMRIG_EXTENSIONS)
    link = PPP(50)
    return linked(c.finish(), link, _lcp_keepalives(link, b, 20.0, 150.0,
                                                    (0x0BADF00D, 0x6E7F0A21)))


@fixture("ethstratum-nbminer-chdlc.pcap", ["10.66.1.20"], [ETHEREUM_STRATUM],
         "NBMiner 42.3 EthereumStratum/1.0.0 (ETCHash, :4444) across a Cisco serial WAN link "
         "(Cisco HDLC, DLT_C_HDLC 104: 0F 00 and the ethertype), with the routers' SLARP "
         "keepalives every 10 s and CDP announcements every 60 s")
def ethstratum_nbminer_chdlc() -> bytes:
    b = base(460)
    c = Conversation(("10.66.1.20", 50433), ("203.0.113.77", 4444), t(b, -0.2), rtt=0.038,
                     client_ttl=127)
    user = eth_address(HexStream("nbminer-chdlc-wallet")) + ".branch2"
    ethstratum.play(
        c, b, EthJobs("nbminer-chdlc"),
        subscribe=NBMINER.subscribe(), authorize=NBMINER.authorize(2, user), extranonce_sub=None,
        submit=lambda i, job, n: NBMINER.submit(i, user, job, n),
        hashrate=None, user=user, extranonce="7a02", diff=4.0,
        schedule=[x for x in _ETC_SCHEDULE if x[1] != "h"], end=130.0)
    extra = []
    for k in range(13):
        extra.append((t(b, 10.0 * k + 3.1), slarp_keepalive(9000 + k, 4100 + k)))
        extra.append((t(b, 10.0 * k + 3.6), slarp_keepalive(4101 + k, 9000 + k)))
    for k, when in enumerate((5.0, 65.0, 125.0)):
        extra.append((t(b, when), cdp_announcement("wan-edge-1", "Serial0/0/0")))
        extra.append((t(b, when + 0.8), cdp_announcement("isp-pe-17", f"Serial2/{k}")))
    return linked(c.finish(), CiscoHDLC(), extra)


def _wifi_extras(link: Radiotap | PPI, b: int, station: bytes, until: float,
                 ssid: str) -> list[tuple[int, bytes]]:
    """What a monitor interface sees besides the station's IP traffic: the AP's beacons
    (one every 5 s kept), ACKs, the station's power-save Null frames, and another
    station's WPA2-encrypted frames."""
    h = HexStream("wifi-" + ssid)
    other = bytes.fromhex("0242a0bb0042")
    extra = []
    for k in range(int(until // 5.0)):
        extra.append((t(b, 5.0 * k + 0.0123), link.wrap(t(b, 5.0 * k + 0.0123),
                                                        dot11_beacon(t(b, 5.0 * k), ssid))))
    for k in range(6):
        when = t(b, 17.3 * k + 2.2)
        extra.append((when, link.wrap(when, dot11_null(station, power_save=k % 2 == 0))))
        ack_at = t(b, 17.3 * k + 2.20005)
        extra.append((ack_at, link.wrap(ack_at, dot11_ack(station))))
        enc_at = t(b, 17.3 * k + 9.7)
        up = k % 2 == 0
        extra.append((enc_at, link.wrap(enc_at, dot11_protected(
            other if up else GATEWAY_MAC, GATEWAY_MAC if up else other, up,
            h.bytes(90 + 40 * k), 311 + k))))
    return extra


@fixture("cryptonote-xmrig-wifi-radiotap.pcap", ["192.168.88.23"], [CRYPTONOTE],
         "XMRig 6.22.2 on a laptop on Wi-Fi, captured by a monitor interface (radiotap, DLT "
         "127: TSFT, Flags with FCS at the end, rate, channel, signal; 802.11 QoS data frames "
         "with LLC/SNAP): DNS lookup of the pool, then the stratum session on :443; beacons, "
         "ACKs, power-save Null frames, another station's encrypted frames, an EAPOL frame and "
         "one frame with a bad FCS (a corrupted copy of a data frame) - none of them IP")
def cryptonote_xmrig_wifi() -> bytes:
    b = base(470)
    station = "192.168.88.23"
    link = Radiotap(Dot11(qos=True))
    pkts = dns.exchange(station, "192.168.88.1", 51870, 0x2b7e, "pool.example-xmr.net",
                        ["198.51.100.91"], t(b, -0.5))
    c = Conversation((station, 43310), ("198.51.100.91", 443), t(b, -0.2), rtt=0.054)
    cryptonote.play_xmrig(c, b, MoneroJobs("xmrig-wifi"),
                          xmrig_login(monero_address(HexStream("xmrig-wifi-wallet")),
                                      XMRIG_AGENT, xmrig_algos()),
                          [(29.5, "j"), (47.1, "s"), (82.0, "b"), (103.9, "s"), (121.4, "j")],
                          130.0, XMRIG_EXTENSIONS)
    pkts += c.finish()
    smac = mac_for(station)
    extra = _wifi_extras(link, b, smac, 130.0, "HomeNet-5G")
    eapol_at = t(b, -1.2)  # a group-key update from the AP (EAPOL-Key, ethertype 888E)
    eapol = struct.pack(">BBH", 2, 3, 95) + bytes([2, 0x13, 0x82, 0, 16]) + bytes(90)
    extra.append((eapol_at, link.wrap(eapol_at, link.dot11.data_frame(
        eapol_at, GATEWAY_MAC, smac, False, eapol, 0x888E))))
    victim = next(p for p in pkts if p.outgoing and len(p.l3) > 200)
    bad = bytearray(link.dot11.frame(victim))
    bad[-len(victim.l3) + 13] ^= 0x40  # the source address's second byte, mangled in the air
    bad_at = victim.ts_ns + 180_000
    extra.append((bad_at, link.wrap(bad_at, bytes(bad), bad_fcs=True)))
    return linked(pkts, link, extra)


@fixture("stratum-v1-bfgminer-wifi-ppi.pcap", ["10.42.7.51"], [STRATUM_V1],
         "bfgminer 5.5 on Wi-Fi captured by an AirPcap-style adapter: PPI header (DLT 192) "
         "with an 802.11-Common field (FCS present), 802.11 data frames (non-QoS) with LLC/SNAP "
         "and FCS; beacons, ACKs, Null frames, encrypted frames of another station and one "
         "frame flagged FCS-invalid")
def stratum_bfgminer_wifi_ppi() -> bytes:
    b = base(480)
    cli = "10.42.7.51"
    link = PPI(Dot11(qos=False))
    user = "wifi_rig.bfg"
    jobs = BitcoinJobs("bfgminer-ppi", 930_451, "1701f303", en1=4, en2=4, branches=9,
                       tag=b"/ViaBTC/", job_id=lambda n: f"{0x7c00 + n:x}")
    c = Conversation((cli, 36016), ("203.0.113.66", 3333), t(b, -0.2), rtt=0.029)
    c.client_send(stratum.subscribe(0, "bfgminer/5.5.0"), t(b, 0.02))
    c.server_send(stratum.reply(0, [[["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"]],
                                    "08000002", 4], CKPOOL), t(b, 0.05))
    c.client_send(stratum.authorize(1, user, "x"), t(b, 0.051))
    cur = jobs.notify(t(b, 0.08), clean=True)
    c.server_send(stratum.reply(1, True, CKPOOL) + stratum.set_difficulty(8192, CKPOOL_PUSH)
                  + stratum.notify(cur), t(b, 0.08))
    sid = 2
    for when, kind in [(21.9, "n"), (34.4, "s"), (60.5, "n"), (77.7, "s"), (88.1, "b"),
                       (112.6, "s"), (119.3, "n")]:
        if kind in "nb":
            cur = jobs.notify(t(b, when), clean=kind == "b")
            c.server_send(stratum.notify(cur), t(b, when))
        else:
            job, en2, ntime, nonce, _ = jobs.share(cur)
            c.client_send(stratum.submit_cgminer(sid, user, job, en2, ntime, nonce), t(b, when))
            c.server_send(stratum.reply(sid, True, CKPOOL), t(b, when + 0.03))
            sid += 1
    c.close(t(b, 125.0))
    pkts = c.finish()
    extra = _wifi_extras(link, b, mac_for(cli), 125.0, "Lab-AirPcap")
    victim = next(p for p in pkts if not p.outgoing and len(p.l3) > 300)
    bad = bytearray(link.inner.frame(victim))
    bad[-len(victim.l3) + 17] ^= 0x08
    bad_at = victim.ts_ns + 90_000
    extra.append((bad_at, link.wrap(bad_at, bytes(bad), bad_fcs=True)))
    return linked(pkts, link, extra)


@fixture("neg-kodi-jsonrpc-wifi-wds.pcapng", [], [],
         "home automation on Wi-Fi, three interfaces of three link types: a radiotap monitor "
         "interface (two presence words, no TSFT, Atheros DATAPAD padding after the 26-byte "
         "QoS header, FCS) carrying Home Assistant's raw-TCP JSON-RPC session with Kodi "
         "(:9090: JSONRPC.Ping, Player.GetActivePlayers every 10 s, Player.OnPlay/OnPause "
         "notifications pushed by Kodi); a bare 802.11 interface (DLT 105) on a 4-address WDS "
         "bridge (QoS + HT Control) with Home Assistant's DNS; a PPI interface over Ethernet "
         "with SOME/IP-SD multicast offers - periodic JSON-RPC pushes that are not mining")
def neg_kodi_wifi() -> bytes:
    b = base(490)
    ha, kodi = "192.168.50.10", "192.168.50.31"
    c = Conversation((ha, 53218), (kodi, 9090), t(b, -0.01), rtt=0.0031, server_local=True,
                     server_ttl=64)
    c.client_send(js({"jsonrpc": "2.0", "method": "JSONRPC.Ping", "id": 1})[:-1], t(b, 0.01))
    c.server_send(js({"id": 1, "jsonrpc": "2.0", "result": "pong"})[:-1], t(b, 0.0142))
    ident = 2
    for k in range(12):
        when = 10.0 * (k + 1)
        c.client_send(js({"jsonrpc": "2.0", "method": "Player.GetActivePlayers",
                          "id": ident})[:-1], t(b, when))
        players = [{"playerid": 1, "playertype": "internal", "type": "video"}] if k > 2 else []
        c.server_send(js({"id": ident, "jsonrpc": "2.0", "result": players})[:-1],
                      t(b, when + 0.0037))
        ident += 1
        if k in (2, 6, 8):
            method = "Player.OnPlay" if k != 6 else "Player.OnPause"
            c.server_send(js({"jsonrpc": "2.0", "method": method, "params": {
                "data": {"item": {"id": 40 + k, "type": "movie"},
                         "player": {"playerid": 1, "speed": 0 if k == 6 else 1}},
                "sender": "xbmc"}})[:-1], t(b, when + 4.2))
    c.close(t(b, 125.0))
    radio = Radiotap(Dot11(qos=True, datapad=True), multi_antenna=True)
    bare = Dot11(qos=True, htc=True, wds=True)
    ppi = PPI(Ethernet())
    lookups = (dns.exchange(ha, "192.168.50.1", 40001, 0x6a01, "kodi.lan", [kodi], t(b, -0.4))
               + dns.exchange(ha, "192.168.50.1", 40002, 0x6a02, "time.example.net",
                              ["198.51.100.123"], t(b, 61.0)))
    offers = []
    for k in range(4):  # SOME/IP-SD OfferService from an in-car head unit on the bench LAN
        sd = (struct.pack(">HHIHHBBBB", 0xFFFF, 0x8100, 36, 0, k + 1, 1, 1, 2, 0)
              + struct.pack(">BBBBI", 0xC0, 0, 0, 0, 16)
              + struct.pack(">BBBBHHBBHI", 1, 0, 0, 0, 0x1234, 1, 1, 0, 3, 0)
              + struct.pack(">I", 0))
        offers.append(udp(("192.168.50.77", 30490), ("239.192.255.251", 30490), sd,
                          t(b, 30.0 * k + 1.0), dst_mac=bytes.fromhex("01005e40fffb")))
    records = ([(0, p.ts_ns, radio.frame(p)) for p in c.finish()]
               + [(1, p.ts_ns, bare.frame(p)) for p in lookups]
               + [(2, p.ts_ns, ppi.frame(p)) for p in offers])
    records.sort(key=lambda r: (r[1], r[0]))
    interfaces = [Interface(radio, "wlan0mon", tsresol=9), Interface(bare, "wds0"),
                  Interface(ppi, "eth0-ppi")]
    return pcapng_bytes(interfaces, records)


# =====================================================================================
# TLS after an upgrade: stratum+ssl behind a SOCKS5 proxy and an HTTP CONNECT proxy;
# a mail client's STARTTLS sessions (hard negative)
# =====================================================================================

_TLS_TEMPLATES = {tpl.label: tpl for tpl in load_templates()}


def _play(c: Conversation, b: int, steps: upgrades.Steps, start: float) -> float:
    """Send a cleartext dialogue (upgrades.Steps), each step one RTT after the last;
    returns the time after it."""
    now = start
    rtt = c.rtt / 1e9
    for side, data in steps:
        now += rtt + 0.002
        (c.client_send if side == "c" else c.server_send)(data, t(b, now))
    return now


def _tls_handshake(c: Conversation, b: int, now: float, label: str, sni: str | None,
                   rb: upgrades.RandBytes) -> float:
    """A recorded TLS 1.3 handshake (benign/tls.py): the client's hello, the server's
    flight, the client's change_cipher_spec and encrypted Finished."""
    tpl = _TLS_TEMPLATES[label]
    rtt = c.rtt / 1e9
    hello, sid = tpl.client_hello(rb, sni)
    c.client_send(hello, t(b, now + 0.001))
    c.server_send(tpl.server_flight(rb, sid), t(b, now + 0.001 + rtt + 0.004))
    now += 0.001 + 2 * rtt + 0.006
    c.client_send(b"\x14\x03\x03\x00\x01\x01" + upgrades.app_record(53, rb), t(b, now))
    return now


def _tls_stratum(c: Conversation, b: int, now: float, rb: upgrades.RandBytes, end: float,
                 pushes: Sequence[float], login: int, job: int) -> None:
    """stratum+ssl after the handshake: the login and its reply with the first job, then
    job pushes of near-constant size at ``pushes`` (seconds from the fixture base), a
    submit now and then (sizes are the plaintext's plus TLS 1.3's 17 bytes)."""
    rtt = c.rtt / 1e9
    c.client_send(upgrades.app_record(login + 17, rb), t(b, now + 0.002))
    c.server_send(upgrades.app_record(job + 60 + 17, rb), t(b, now + 0.002 + rtt + 0.003))
    for i, when in enumerate(pushes):
        c.server_send(upgrades.app_record(job + 17 + (i * 7) % 5, rb), t(b, when))
        if i % 3 == 1:
            c.client_send(upgrades.app_record(190 + 17, rb), t(b, when + 9.5))
            c.server_send(upgrades.app_record(58 + 17, rb), t(b, when + 9.5 + rtt + 0.001))
    c.close(t(b, end))


_PUSHES = (31.0, 74.5, 103.2, 151.8, 180.4, 226.9, 259.3, 301.7, 338.0)


@fixture("tls-xmrig-socks5-stratum-ssl.pcap", ["10.1.9.21"], [],
         "XMRig 6.22 (kawpow) with a socks5:// proxy and tls: SOCKS5 greeting, CONNECT by name "
         "to rvn.2miners.com:16060 (a listed stratum+ssl endpoint), then a TLS 1.3 session "
         "(OpenSSL ClientHello with SNI) whose pool pushes near-constant records for 6 min; "
         "found by the SNI + tunnel port endpoint match and the long-lived session (rules "
         "3600001, 3600004), no plaintext Stratum seen")
def tls_socks5_stratum() -> bytes:
    b = base(500)
    rb = HexStream("tls-socks5-xmrig").bytes
    c = Conversation(("10.1.9.21", 50122), ("10.1.9.1", 1080), t(b, -0.2), rtt=0.061,
                     server_local=True, server_ttl=64)
    steps = [("c", tunnels.SOCKS5_GREETING), ("s", tunnels.SOCKS5_NO_AUTH),
             ("c", tunnels.socks5_connect("rvn.2miners.com", 16060)),
             ("s", tunnels.socks5_reply("10.1.9.1", 40112))]
    now = _play(c, b, steps, 0.0)
    now = _tls_handshake(c, b, now, "01-openssl-s_client-tls13", "rvn.2miners.com", rb)
    _tls_stratum(c, b, now, rb, 360.0, _PUSHES, login=212, job=356)
    return pcap(c.finish())


@fixture("tls-nbminer-http-connect-stratum-ssl.pcap", ["10.2.14.7"], [],
         "NBMiner through a corporate HTTP proxy on :3128: CONNECT etcssl.f2pool.com:8180 (a "
         "listed stratum+ssl endpoint), 200 Connection established, then a TLS 1.3 session "
         "with SNI whose pool pushes a job every 30-50 s for 6 min; found by the SNI + "
         "CONNECT port endpoint match and the long-lived session (rules 3600001, 3600004)")
def tls_http_connect_stratum() -> bytes:
    b = base(510)
    rb = HexStream("tls-connect-nbminer").bytes
    c = Conversation(("10.2.14.7", 61544), ("10.2.0.3", 3128), t(b, -0.2), rtt=0.044,
                     server_local=True, server_ttl=64, client_ttl=128)
    steps = [("c", tunnels.http_connect("etcssl.f2pool.com", 8180,
                                        [("User-Agent", "NBMiner/42.3")])),
             ("s", tunnels.HTTP_CONNECT_OK)]
    now = _play(c, b, steps, 0.0)
    now = _tls_handshake(c, b, now, "01-openssl-s_client-tls13", "etcssl.f2pool.com", rb)
    _tls_stratum(c, b, now, rb, 362.0, _PUSHES, login=188, job=301)
    return pcap(c.finish())


@fixture("neg-mail-starttls.pcap", [], [],
         "a mail client's STARTTLS sessions: SMTP submission on :587 (Postfix banner, EHLO, "
         "STARTTLS, 220, TLS 1.3 to mail.example.net, a message of ~6 KB, QUIT) and an IMAP "
         "STARTTLS session on :143 held open in IDLE for 8 min (the server's updates every "
         "~90 s: long-lived, periodic TLS records to a mail server) - the TLS is read after "
         "the upgrade and must stay clean")
def neg_mail_starttls() -> bytes:
    b = base(520)
    rb = HexStream("neg-mail-starttls").bytes
    client = "10.3.1.40"
    smtp = Conversation((client, 51320), ("192.0.2.25", 587), t(b, -0.2), rtt=0.022)
    now = _play(smtp, b, upgrades.smtp("mail.example.net", "laptop.lan"), 0.0)
    now = _tls_handshake(smtp, b, now, "06-python-ssl", "mail.example.net", rb)
    for size in (64, 41, 52, 38, 6120, 33):  # EHLO, AUTH, MAIL, RCPT, DATA + message, QUIT
        smtp.client_send(upgrades.app_record(size + 17, rb), t(b, now + 0.01))
        smtp.server_send(upgrades.app_record(44 + 17, rb), t(b, now + 0.01 + 0.022 + 0.004))
        now += 0.06
    smtp.close(t(b, now + 0.1))
    imap = Conversation((client, 51334), ("192.0.2.25", 143), t(b, 1.0), rtt=0.022)
    now = _play(imap, b, upgrades.imap("mail.example.net"), 1.2)
    now = _tls_handshake(imap, b, now, "06-python-ssl", "mail.example.net", rb)
    for size in (48, 30, 36, 12):  # LOGIN, SELECT, FETCH, IDLE
        imap.client_send(upgrades.app_record(size + 17, rb), t(b, now + 0.01))
        imap.server_send(upgrades.app_record(420 + 17, rb), t(b, now + 0.01 + 0.022 + 0.004))
        now += 0.08
    for when in (91.0, 183.5, 270.2, 362.9, 455.0):
        imap.server_send(upgrades.app_record(56 + 17, rb), t(b, when))
    imap.client_send(upgrades.app_record(9 + 17, rb), t(b, 480.0))  # DONE
    imap.close(t(b, 481.0))
    return pcap(smtp.finish() + imap.finish())


# =====================================================================================
# Browser mining over a cleartext WebSocket, and a WebSocket that only looks like it
# =====================================================================================

@fixture("browser-ws-coinhive-proxy-80.pcap", ["192.168.7.23"], [BROWSER_WS],
         "an in-page CoinHive-style miner (Chrome 131 on Windows) over a cleartext WebSocket "
         "to a self-hosted coin-hive-stratum-style proxy on :80 (/proxy) under a name on no "
         "list: Upgrade with permessage-deflate accepted; the page's auth and submits "
         "compressed with a shared window, the proxy's authed/job/hash_accepted plain (ws "
         "compresses only messages over 1 KB), heartbeat pings every 30 s answered by masked "
         "pongs; messages as coin-hive-stratum 1.4 src/Miner.ts writes them")
def browser_ws_coinhive_proxy() -> bytes:
    b = base(530)
    c = Conversation(("192.168.7.23", 52611), ("198.51.100.77", 80), t(b, -0.2), rtt=0.021,
                     client_ttl=128)
    h = HexStream("browser-ws-coinhive")
    jobs = MoneroJobs("browser-ws-coinhive", height=3_602_417, diff=5000, job_style="numeric",
                      algo="rx/0")
    key = base64.b64encode(h.bytes(16)).decode()
    c.client_send(http_req("GET", "/proxy", [
        ("Host", "static.blogcdn-assets.example"), ("Connection", "Upgrade"),
        ("Pragma", "no-cache"), ("Cache-Control", "no-cache"),
        ("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                       "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
        ("Upgrade", "websocket"), ("Origin", "http://recipes-daily.example"),
        ("Sec-WebSocket-Version", "13"), ("Accept-Encoding", "gzip, deflate"),
        ("Accept-Language", "en-US,en;q=0.9"), ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]),
        t(b, 0.01))
    c.server_send(http_resp("101 Switching Protocols", [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", websocket.accept_key(key)),
        ("Sec-WebSocket-Extensions", "permessage-deflate")]), t(b, 0.032))
    page = websocket.Deflater()  # Chrome compresses every message, one window per direction
    wallet = monero_address(HexStream("browser-ws-wallet"))
    events: list[tuple[float, str, bytes]] = [(0.41, "c", webminer.auth(wallet))]
    current = jobs.job(t(b, 0.47), with_id=True)
    events.append((0.47, "s", webminer.authed()))
    events.append((0.471, "s", webminer.job(current)))
    accepted = 0
    schedule = sorted([(41.3, "j"), (98.8, "j"), (151.0, "j"), (212.6, "j"), (266.1, "j"),
                       (27.9, "s"), (63.2, "s"), (88.4, "s"), (130.7, "s"), (177.5, "s"),
                       (201.2, "s"), (249.9, "s"), (281.3, "s")]
                      + [(30.0 * k, "p") for k in range(1, 10)])
    for when, kind in schedule:
        if kind == "j":
            current = jobs.job(t(b, when), new_block=when > 150, with_id=True)
            events.append((when, "s", webminer.job(current)))
        elif kind == "s":
            nonce, result = jobs.share()
            events.append((when, "c", webminer.submit(str(current["job_id"]), nonce, result)))
            accepted += 1
            events.append((when + 0.052, "s", webminer.hash_accepted(accepted)))
        else:
            ping = h.bytes(4)
            events.append((when, "sp", ping))
            events.append((when + 0.022, "cp", ping))
    sc = Script()
    for when, who, data in sorted(events, key=lambda e: e[0]):
        if who == "c":
            sc.client(t(b, when), websocket.frame(page.message(data), h.bytes(4), rsv1=True))
        elif who == "s":
            sc.server(t(b, when), websocket.frame(data, None))
        elif who == "sp":
            sc.server(t(b, when), websocket.frame(data, None, opcode=9))
        else:
            sc.client(t(b, when), websocket.frame(data, h.bytes(4), opcode=10))
    sc.play(c)
    c.client_send(websocket.frame(struct.pack(">H", 1001), h.bytes(4), opcode=8), t(b, 295.0))
    c.server_send(websocket.frame(struct.pack(">H", 1001), None, opcode=8), t(b, 295.021))
    c.close(t(b, 295.03), by="server")
    return pcap(c.finish())


@fixture("neg-websocket-ci-events.pcap", [], [],
         "a CI dashboard over a cleartext WebSocket (:8080) whose messages use the web "
         "miners' words: {type: auth} with a token, authed, job events carrying a git blob "
         "id, a job id and a target branch, submit of a retry form, error; permessage-deflate "
         "both ways, log chunks over 4 KB fragmented with a ping between the fragments, "
         "binary artifact frames")
def neg_websocket_ci_events() -> bytes:
    b = base(540)
    c = Conversation(("10.20.3.41", 50977), ("10.20.0.12", 8080), t(b, -0.2), rtt=0.002,
                     server_local=True)
    h = HexStream("ws-ci-events")
    key = base64.b64encode(h.bytes(16)).decode()
    c.client_send(http_req("GET", "/-/cable", [
        ("Host", "ci.corp.example:8080"), ("Connection", "Upgrade"),
        ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 "
                       "Firefox/133.0"),
        ("Sec-WebSocket-Version", "13"), ("Origin", "http://ci.corp.example:8080"),
        ("Sec-WebSocket-Extensions", "permessage-deflate"), ("Sec-WebSocket-Key", key),
        ("Upgrade", "websocket")]), t(b, 0.01))
    c.server_send(http_resp("101 Switching Protocols", [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", websocket.accept_key(key)),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_no_context_takeover")]),
        t(b, 0.013))
    to_client = websocket.Deflater()  # the client's resets per message (no_context_takeover)
    events: list[tuple[float, str, bytes]] = [
        (0.02, "c", jc({"type": "auth", "params": {"token": "glpat-" + h.hex(10)}})[:-1]),
        (0.025, "s", jc({"type": "authed", "params": {"user": "mara", "token": h.hex(16)}})[:-1]),
        (0.03, "c", jc({"type": "subscribe", "params": {"channel": "pipelines",
                                                        "project": 412}})[:-1]),
    ]
    job_id = 88_120
    for k, when in enumerate((4.2, 19.8, 47.5, 71.0, 102.3, 133.9)):
        job_id += 1
        events.append((when, "s", jc({"type": "job", "params": {
            "job_id": job_id, "name": ["build", "test:unit", "test:e2e", "deploy"][k % 4],
            "status": "running", "blob": h.hex(20), "target": "main",
            "runner": f"docker-{h.uint(1, 9)}"}})[:-1]))
        log = "".join(f"[{i:04d}] step {i}: ok {h.hex(12)}\n" for i in range(60 + 40 * k))
        events.append((when + 9.0, "slog", jc({"type": "log", "params": {
            "job_id": job_id, "chunk": log}})[:-1]))
        if k == 2:
            events.append((when + 10.0, "c", jc({"type": "submit", "params": {
                "form": "retry", "job_id": job_id, "reason": "flaky"}})[:-1]))
            events.append((when + 10.01, "s", jc({"type": "error", "params": {
                "error": f"job {job_id} is still running"}})[:-1]))
        if k % 2 == 1:
            events.append((when + 12.0, "sbin", h.bytes(700)))
    sc = Script()
    for when, who, data in sorted(events, key=lambda e: e[0]):
        if who == "c":
            sc.client(t(b, when), websocket.frame(websocket.Deflater().message(data), h.bytes(4),
                                                  rsv1=True))
        elif who == "s":
            sc.server(t(b, when), websocket.frame(data, None))
        elif who == "sbin":
            sc.server(t(b, when), websocket.frame(data, None, opcode=2))
        else:  # a log chunk: compressed, fragmented, a ping between its fragments
            packed = to_client.message(data)
            cut = [packed[i : i + 1400] for i in range(0, len(packed), 1400)]
            frames = []
            for i, part in enumerate(cut):
                frames.append(websocket.frame(part, None, 1 if i == 0 else 0,
                                              fin=i == len(cut) - 1, rsv1=i == 0))
                if i == 0:
                    frames.append(websocket.frame(h.bytes(4), None, opcode=9))
            sc.server(t(b, when), b"".join(frames))
    sc.play(c)
    c.close(t(b, 180.0))
    return pcap(c.finish())


# =====================================================================================
# Post-Merge GPU coins (docs/ARCHITECTURE.md §3.z): one capture per Stratum flavour,
# written by detector.synth.dialects.gpucoins (each writer names its sources)
# =====================================================================================

def _gpu_coin(key: str, client: tuple[str, int], server: tuple[str, int], minutes: float,
              *, handshake: bool = True, resolve: tuple[str, str] | None = None,
              **kw: object) -> bytes:
    def script(talk: Talk) -> None:
        gpucoins.play(key, talk, "fixture", **kw)

    return pcap(gpucoins.connection(client, server, base(minutes), script,
                                    handshake=handshake, resolve=resolve))


@fixture("gpu-kaspa-bridge-lolminer.pcap", ["10.61.0.11"], [ETHEREUM_STRATUM],
         "Kaspa (kHeavyHash) through onemorebsmith/kaspa-stratum-bridge: subscribe answered "
         "[true, \"EthereumStratum/1.0.0\"], set_extranonce, set_difficulty, a job a second "
         "as [job, four 64-bit words, timestamp], submits [kaspa:address.worker, job, 0x nonce]",
         coins=["KAS"])
def gpu_kaspa() -> bytes:
    return _gpu_coin("kas", ("10.61.0.11", 50311), ("198.51.100.61", 5555), 560)


@fixture("gpu-ravencoin-kawpow-gminer.pcap", ["10.61.0.12"], [STRATUM_V1],
         "Ravencoin (KAWPOW), GMiner against a kawpow-stratum-pool: subscribe [agent, null, "
         "host, port], set_target, 7-param notify [job, header, seed, share target, clean, "
         "height, bits], submits [worker, job, 0x nonce, 0x header, 0x mix]",
         coins=["RVN"])
def gpu_ravencoin() -> bytes:
    return _gpu_coin("rvn", ("10.61.0.12", 50312), ("198.51.100.62", 6060), 565)


@fixture("gpu-ergo-autolykos-miningcore.pcap", ["10.61.0.13"], [STRATUM_V1],
         "Ergo (Autolykos2), lolMiner against a miningcore pool: set_difficulty [1] before "
         "each 9-param notify [job, height, msg, '', '', version, share target (decimal), '', "
         "clean], submits [worker, job, extranonce2, '', nonce]",
         coins=["ERG"])
def gpu_ergo() -> bytes:
    return _gpu_coin("erg", ("10.61.0.13", 50313), ("198.51.100.63", 8888), 570)


@fixture("gpu-flux-zelhash-gminer.pcap", ["10.61.0.14"], [STRATUM_V1],
         "Flux (ZelHash = Equihash 125,4), GMiner --pers ZelProof: ZIP-301 8-param notify, "
         "set_target, submits with 52-byte solutions (compact-size 0x34 in front)",
         coins=["FLUX"])
def gpu_flux() -> bytes:
    return _gpu_coin("flux", ("10.61.0.14", 50314), ("198.51.100.64", 7003), 575)


@fixture("gpu-bitcoin-gold-zhash-lolminer.pcap", ["10.61.0.15"], [STRATUM_V1],
         "Bitcoin Gold (Equihash 144,5), lolMiner --pers auto: the pool appends \"144_5\", "
         "\"BgoldPoW\" to the ZIP-301 notify (NiceHash Zhash spec), 100-byte solutions",
         coins=["BTG"])
def gpu_bitcoin_gold() -> bytes:
    return _gpu_coin("btg", ("10.61.0.15", 50315), ("198.51.100.65", 4040), 580)


@fixture("gpu-alephium-blake3-pool.pcap", ["10.61.0.16"], [STRATUM_V1],
         "Alephium (Blake3) on alephium/mining-pool: the pool speaks first, one notify with "
         "the jobs of all 16 chains {jobId, fromGroup, toGroup, headerBlob, txsBlob}, submits "
         "an object {jobId, fromGroup, toGroup, nonce, worker}, mining.submit_result answers",
         coins=["ALPH"])
def gpu_alephium() -> bytes:
    return _gpu_coin("alph", ("10.61.0.16", 50316), ("198.51.100.66", 20032), 585, jobs=1,
                     shares=2)


@fixture("gpu-conflux-octopus-nicehash-midsession.pcap", ["10.61.0.17"], [STRATUM_V1],
         "Conflux (Octopus) as NiceHash serves it, caught mid-session: notify [job, height, "
         "0x hash, 0x boundary], submits [worker, job, 0x nonce, 0x hash]",
         coins=["CFX"])
def gpu_conflux() -> bytes:
    return _gpu_coin("cfx", ("10.61.0.17", 50317), ("198.51.100.67", 3386), 590,
                     handshake=False)


@fixture("gpu-etc-ethstratum-2miners.pcap", ["10.61.0.18"], [ETHEREUM_STRATUM],
         "Ethereum Classic: lolMiner EthereumStratum/1.0.0 after a DNS answer for "
         "etc.2miners.com (listed as ETC): the 0x address is Ethereum's format, the pool "
         "list names the chain",
         coins=["ETC"])
def gpu_etc() -> bytes:
    return _gpu_coin("etc", ("10.61.0.18", 50318), ("198.51.100.68", 1010), 595,
                     resolve=("10.61.0.1", "etc.2miners.com"))


# =====================================================================================
# Output
# =====================================================================================

def _toml_str(s: str) -> str:
    """A TOML basic string (JSON string escaping is a subset TOML accepts)."""
    return json.dumps(s, ensure_ascii=False)


def manifest_text(fixtures: Sequence[Fixture]) -> str:
    """The manifest: one ``[[capture]]`` table per file, in registration order."""
    out = ["# minewatch test captures - generated by `python -m tools.make_fixtures`; do not edit.",
           "# suspects: client IPs that must become suspects ([] = hard negative).",
           "# dialects: mining dialects present among the suspects' flows.",
           "# coins (where given): the coins the suspects must be named with.",
           ""]
    for f in fixtures:
        out.append("[[capture]]")
        out.append(f"file = {_toml_str(f.file)}")
        out.append("suspects = [" + ", ".join(_toml_str(x) for x in f.suspects) + "]")
        out.append("dialects = [" + ", ".join(_toml_str(x) for x in f.dialects) + "]")
        if f.coins:
            out.append("coins = [" + ", ".join(_toml_str(x) for x in f.coins) + "]")
        out.append(f"notes = {_toml_str(f.notes)}")
        out.append("")
    return "\n".join(out)


def build_all() -> dict[str, bytes]:
    """Every fixture's bytes, keyed by file name, plus ``manifest.toml``."""
    files = {f.file: f.build() for f in FIXTURES}
    files["manifest.toml"] = manifest_text(FIXTURES).encode()
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Write all captures and the manifest into OUTDIR (default ``pcaps/``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0].startswith("-")):
        print("usage: python -m tools.make_fixtures [OUTDIR]", file=sys.stderr)
        return 2
    outdir = Path(args[0]) if args else Path("pcaps")
    outdir.mkdir(parents=True, exist_ok=True)
    files = build_all()
    for name, data in files.items():
        (outdir / name).write_bytes(data)
    stray = sorted(p.name for p in outdir.iterdir()
                   if p.is_file() and p.name not in files and not p.name.startswith("."))
    total = sum(len(d) for d in files.values())
    print(f"wrote {len(files) - 1} captures + manifest.toml to {outdir} ({total} bytes)")
    if stray:
        print(f"warning: files not produced by this generator: {', '.join(stray)}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
