"""Crypto-node protocols (``dissect/nodes.py``): Bitcoin P2P, Monero Levin, RLPx, Nano on
a TCP conversation; the same frames as UDP datagrams (discv4 and friends).
Crash rule as for every dissector (see fuzz/targets/jsonlines.py).
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    from detector.dissect.nodes import CryptoNode, CryptoNodeUdp
    from detector.facts import FlowFacts
    from detector.plain import dumps

CTX = common.dissector_context()


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    common.run_stream(CryptoNode, data, CTX)
    ports, frames = common.conversation(data)
    udp = CryptoNodeUdp(CTX)
    facts = FlowFacts()
    for side, _, chunk in frames[:16]:  # the inspector's datagrams_per_flow
        common.contained(CryptoNodeUdp.probe, chunk, ports)
        more, err = common.contained(udp.on_datagram, side, chunk, 1.0, facts)
        if err is not None or not more:
            break
    dumps(facts)


if __name__ == "__main__":
    common.main(TestOneInput)
