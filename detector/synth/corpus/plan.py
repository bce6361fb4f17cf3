"""Scenarios, and the flow plan of one capture.

A capture is 45 minutes of one network's uplink in one scenario:

* ``office`` - a /20 of workstations (Windows mostly): cryptojacked desktops (XMRig,
  xmr-stak, browser miners), a few hobby rigs, and an office's traffic;
* ``farm-nat`` - the capture point beyond a mining farm's NAT: a handful of public
  addresses carry ASICs (Stratum v1 and V2), GPU rigs (EthereumStratum, eth-proxy),
  proxies and HTTP miners, beside VPNs, SSH, monitoring and nodes;
* ``cloud`` - a cloud VPC (Linux): compromised containers running XMRig (often to
  private proxies on 443), solo miners against a node, services talking gRPC, MQTT,
  JSON-RPC and polling APIs, chain nodes;
* ``home-isp`` - an ISP's subscriber link: households behind their routers, browser
  mining on pages, gaming PCs mining on the side, streaming, browsing, chat.

Each capture gets its share of ``--flows``: half miner flows, half hard negatives (DNS
lookups come on top). Every capture first gets one session of each entry of
:data:`COVERAGE` (every dialect in cleartext and in TLS, both Stratum V2 forms, browser
mining both ways) and one of each hard-negative kind, as far as its budget allows; the rest
is drawn by the scenario's weights. So even a small corpus (the tests' 400 flows) holds
every class a model must learn, and a large one is shaped by the scenarios.

Sessions start uniformly over the capture; a fifth began before it (opened mid-session).
Miner sessions run on a pool of miner hosts (about one per 2.5
sessions, so a host carries several miners' flows over time) or, where the scenario has
them, behind NAT addresses carrying dozens of miners at once.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from random import Random

from detector.synth.benign.tls import Template
from detector.synth.clock import T0_US
from detector.synth.corpus import miners
from detector.synth.corpus.flow import Env, Flow, S
from detector.synth.corpus.negatives import PLANS
from detector.synth.corpus.net import Host, lan_hosts, resolver_of

WINDOW = 45 * 60 * S  # one capture
FLOWS_PER_CAPTURE = 2500  # labelled miner + hard-negative flows per capture
PRE = 0.2  # sessions may begin this share of the window before the capture

#: hard negatives present in every scenario, with a base weight
BENIGN = {
    "web-browsing": 10,
    "download": 3,
    "quic": 4,
    "mqtt-telemetry": 5,
    "mqtt-subscriber": 3,
    "push-websocket": 5,
    "ticker-websocket": 4,
    "chat-websocket": 3,
    "https-longpoll": 5,
    "https-poll": 5,
    "http-poll": 3,
    "jsonrpc-poll": 4,
    "grpc-stream": 5,
    "ssh-interactive": 3,
    "ssh-idle": 4,
    "electrum-wallet": 4,
    "openvpn-tcp": 2,
    "openvpn-udp": 2,
    "wireguard": 3,
    "video-stream": 0.4,
    "music-stream": 1.0,
    "tls-idle-keepalive": 7,
    "btc-node": 2.5,
    "eth-node": 2,
    "xmr-node": 2.5,
}
#: miner shapes present in every scenario, with a base weight (sessions, not flows)
MINERS = {
    "xmrig": 12,
    "xmrig-win": 10,
    "xmr-stak": 5,
    "xmrig-proxy": 4,
    "cgminer": 7,
    "cpuminer-opt": 5,
    "bitaxe": 3,
    "lolminer": 3,
    "nbminer": 3,
    "t-rex": 3,
    "teamredminer": 2,
    "gminer-equihash": 4,
    "claymore": 4,
    "phoenix": 4,
    "cpuminer-getwork": 4,
    "bfgminer-gbt": 3,
    "cpuminer-gbt-solo": 2,
    "sv2-device": 6,
    "sv2-device-lan": 1.5,
    "sv2-proxy": 2.5,
    "coinhive-js": 8,
    "webminer-proxy-js": 5,
}


#: (miner shape, TLS) every capture holds a session of first: each dialect minewatch reads in
#: cleartext and inside TLS, Stratum V2 Noise-encrypted and plaintext (a LAN device), and
#: browser mining over TLS and over plain WebSocket
COVERAGE = (
    ("xmrig", False),
    ("xmrig", True),
    ("cgminer", False),
    ("cgminer", True),
    ("nbminer", False),
    ("nbminer", True),
    ("phoenix", False),
    ("phoenix", True),
    ("gminer-equihash", False),
    ("gminer-equihash", True),
    ("cpuminer-getwork", False),
    ("cpuminer-getwork", True),
    ("bfgminer-gbt", False),
    ("bfgminer-gbt", True),
    ("sv2-device", False),
    ("sv2-device-lan", False),
    ("coinhive-js", True),
    ("coinhive-js", False),
)


@dataclass(frozen=True)
class Scenario:
    name: str
    prefix: str
    hosts: int
    os: dict[str, float]
    nat_hosts: int = 0  # public addresses with many miners behind them
    nat_share: float = 0.0  # share of miner sessions behind them
    miners: dict[str, float] = field(default_factory=dict)  # multipliers of MINERS
    benign: dict[str, float] = field(default_factory=dict)  # multipliers of BENIGN

    def miner_weights(self) -> dict[str, float]:
        return {k: w * self.miners.get(k, 1.0) for k, w in MINERS.items()}

    def benign_weights(self) -> dict[str, float]:
        return {k: w * self.benign.get(k, 1.0) for k, w in BENIGN.items()}


SCENARIOS = (
    Scenario(
        "office",
        "10.20.0.0/20",
        900,
        {"windows": 0.6, "linux": 0.2, "macos": 0.2},
        miners={
            "xmrig-win": 2.5,
            "xmr-stak": 1.5,
            "coinhive-js": 1.5,
            "webminer-proxy-js": 1.5,
            "cgminer": 0.3,
            "sv2-proxy": 0.3,
            "sv2-device": 0.5,
            "xmrig-proxy": 0.3,
        },
        benign={
            "web-browsing": 1.5,
            "push-websocket": 1.5,
            "chat-websocket": 1.5,
            "tls-idle-keepalive": 1.5,
            "btc-node": 0.5,
            "eth-node": 0.5,
        },
    ),
    Scenario(
        "farm-nat",
        "100.70.0.0/24",
        40,
        {"linux": 0.7, "embedded": 0.2, "windows": 0.1},
        nat_hosts=6,
        nat_share=0.75,
        miners={
            "cgminer": 3,
            "bitaxe": 2,
            "sv2-device": 2.5,
            "sv2-device-lan": 2,
            "sv2-proxy": 2.5,
            "lolminer": 2,
            "nbminer": 2,
            "t-rex": 2,
            "teamredminer": 2,
            "claymore": 1.5,
            "phoenix": 1.5,
            "xmrig-win": 0.2,
            "coinhive-js": 0.1,
            "webminer-proxy-js": 0.1,
            "bfgminer-gbt": 1.5,
        },
        benign={
            "ssh-idle": 2,
            "ssh-interactive": 1.5,
            "openvpn-tcp": 2,
            "wireguard": 2,
            "https-poll": 1.5,
            "mqtt-telemetry": 1.5,
            "video-stream": 0.3,
            "web-browsing": 0.5,
        },
    ),
    Scenario(
        "cloud",
        "172.31.0.0/16",
        600,
        {"linux": 0.95, "windows": 0.05},
        miners={
            "xmrig": 3,
            "xmrig-proxy": 2,
            "cpuminer-gbt-solo": 2,
            "cpuminer-getwork": 1.5,
            "xmrig-win": 0.2,
            "coinhive-js": 0.1,
            "webminer-proxy-js": 0.1,
            "bitaxe": 0.1,
            "claymore": 0.3,
            "phoenix": 0.5,
        },
        benign={
            "grpc-stream": 2.5,
            "https-poll": 2,
            "https-longpoll": 1.5,
            "jsonrpc-poll": 2,
            "mqtt-subscriber": 2,
            "btc-node": 2,
            "eth-node": 2,
            "xmr-node": 2,
            "ssh-idle": 1.5,
            "web-browsing": 0.4,
            "video-stream": 0.1,
            "music-stream": 0.1,
            "chat-websocket": 0.3,
        },
    ),
    Scenario(
        "home-isp",
        "100.64.0.0/16",
        1500,
        {"nat": 0.7, "windows": 0.15, "macos": 0.1, "linux": 0.05},
        miners={
            "coinhive-js": 2.5,
            "webminer-proxy-js": 2.5,
            "xmrig-win": 1.5,
            "nbminer": 1.5,
            "lolminer": 1.5,
            "phoenix": 1.5,
            "bitaxe": 1.5,
            "xmrig-proxy": 0.3,
            "sv2-proxy": 0.3,
            "cpuminer-gbt-solo": 0.5,
        },
        benign={
            "video-stream": 2,
            "music-stream": 2,
            "quic": 2,
            "web-browsing": 1.5,
            "chat-websocket": 1.5,
            "ticker-websocket": 1.5,
            "grpc-stream": 0.5,
        },
    ),
)


@dataclass
class CapturePlan:
    index: int
    scenario: Scenario
    miner_flows: int
    benign_flows: int

    @property
    def name(self) -> str:
        return f"c{self.index:03d}-{self.scenario.name}.pcap"


def captures(total: int) -> list[CapturePlan]:
    """How ``total`` labelled flows are cut into captures (scenarios in turn): at most
    :data:`FLOWS_PER_CAPTURE` per capture, which bounds the memory a capture needs however
    big the corpus, and at least one capture per scenario."""
    n = max(1, min(total // 2, max(len(SCENARIOS), math.ceil(total / FLOWS_PER_CAPTURE))))
    miners_total, benign_total = total // 2, total - total // 2
    out = []
    for i in range(n):
        m = miners_total // n + (1 if i < miners_total % n else 0)
        b = benign_total // n + (1 if i < benign_total % n else 0)
        out.append(CapturePlan(i, SCENARIOS[i % len(SCENARIOS)], m, b))
    return out


def _pick(rng: Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def plan_capture(
    cp: CapturePlan, seed: int, templates: list[Template]
) -> tuple[Env, list[Flow], list[Host]]:
    """Every flow of one capture, planned (not yet played)."""
    sc = cp.scenario
    rng = Random(f"corpus:{seed}:capture:{cp.index}")
    t0 = T0_US + cp.index * 86_400 * S + rng.randint(0, 10 * 3600) * S
    env = Env(
        cp.name, t0, t0 + WINDOW, f"corpus:{seed}:{cp.index}", templates, resolver_of(sc.prefix)
    )
    hosts = lan_hosts(rng, sc.prefix, sc.hosts, sc.os)
    nat: list[Host] = []
    if sc.nat_hosts:
        base = ipaddress.ip_address("198.51.100.0") + 16 * (cp.index % 8)
        nat = [Host(str(base + 1 + k), "nat", 20.0) for k in range(sc.nat_hosts)]
    flows: list[Flow] = []

    # miners
    weights = sc.miner_weights()
    sessions_guess = max(4, cp.miner_flows // 2)
    pool = rng.sample(hosts, min(len(hosts), max(3, int(sessions_guess / 2.5))))
    made = 0
    forced: list[tuple[str, bool | None]] = list(COVERAGE)
    retries = 0
    while made < cp.miner_flows:
        kind, tls = forced.pop(0) if forced else (_pick(rng, weights), None)
        shape = miners.SHAPES[kind]
        behind = bool(nat) and rng.random() < sc.nat_share and kind != "sv2-device-lan"
        fits = [h for h in pool if h.os in shape.os] or pool  # xmrig-win on Windows...
        host = rng.choice(nat) if behind else rng.choice(fits)
        start = t0 + int(rng.uniform(-PRE, 0.97) * WINDOW)
        got = miners.session(
            env,
            host,
            Random(rng.getrandbits(64)),
            shape,
            start,
            nat=host.os == "nat",
            budget=cp.miner_flows - made,
            tls=tls,
        )
        mined = sum(f.miner for f in got)
        if tls is not None and not mined and retries < 8:  # a covered shape must show up
            forced.insert(0, (kind, tls))
            retries += 1
        made += mined
        flows += got

    # hard negatives
    weights = sc.benign_weights()
    everyone = hosts + nat
    cum, total = [], 0.0
    for h in everyone:
        total += h.weight
        cum.append(total)
    made = 0
    forced = list(BENIGN)
    while made < cp.benign_flows:
        kind = forced.pop(0) if forced else _pick(rng, weights)
        host = rng.choices(everyone, cum_weights=cum)[0]
        short = kind in ("web-browsing", "download", "quic", "video-stream", "music-stream")
        start = t0 + int(rng.uniform(0.0 if short else -PRE, 0.97) * WINDOW)
        got = PLANS[kind](kind, env, host, Random(rng.getrandbits(64)), start, host.os == "nat")
        made += sum(f.kind not in ("dns", "dns-pool") for f in got)
        flows += got
    return env, flows, everyone
