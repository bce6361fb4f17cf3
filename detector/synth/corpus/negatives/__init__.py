"""Hard negatives: benign programs whose traffic is shaped like mining, one module per family.

Every module documents the assumptions its sizes and timings rest on and offers
``plan(kind, env, host, rng, start, nat)``, which returns the flows of one session of that
kind (with the DNS lookup before it when the program connects by name). :data:`PLANS` maps
each kind - the ``kind`` column of flows.csv - to its module's ``plan``.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random

from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.negatives import (
    electrum,
    grpc,
    idle,
    iot,
    nodes,
    polling,
    ssh,
    streaming,
    vpn,
    web,
    websocket,
)
from detector.synth.corpus.net import Host

Plan = Callable[[str, Env, Host, Random, int, bool], list[Flow]]

PLANS: dict[str, Plan] = {
    "web-browsing": web.plan,
    "download": web.plan,
    "quic": web.plan,
    "mqtt-telemetry": iot.plan,
    "mqtt-subscriber": iot.plan,
    "push-websocket": websocket.plan,
    "ticker-websocket": websocket.plan,
    "chat-websocket": websocket.plan,
    "https-longpoll": polling.plan,
    "https-poll": polling.plan,
    "http-poll": polling.plan,
    "jsonrpc-poll": polling.plan,
    "grpc-stream": grpc.plan,
    "ssh-interactive": ssh.plan,
    "ssh-idle": ssh.plan,
    "electrum-wallet": electrum.plan,
    "openvpn-tcp": vpn.plan,
    "openvpn-udp": vpn.plan,
    "wireguard": vpn.plan,
    "video-stream": streaming.plan,
    "music-stream": streaming.plan,
    "tls-idle-keepalive": idle.plan,
    "btc-node": nodes.plan,
    "eth-node": nodes.plan,
    "xmr-node": nodes.plan,
}
