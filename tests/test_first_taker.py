"""inspector._probe_head, without a flow, probes a new flow's first bytes before the flow's
inspection state is made (Inspector.tcp_packet), and _choose then takes what it found: it
must be what _choose, probing those bytes itself, would conclude - the dissector that takes the
side, nobody (the side done, no state kept), or undecided - and a probe that raises must
still be noted in the flow's facts, as _choose notes it."""

from __future__ import annotations

import random

import pytest

from detector.dissect.base import Probe
from detector.dissect.inspector import (
    PROBE_LIMIT,
    FlowInspection,
    InspectConfig,
    Inspector,
    _probe_head,
)
from detector.dissect.nodes import CryptoNode
from tests.test_probe_first_bytes import OPENINGS

PORTS = ((40000, 3333), (3333, 40000), (53, 40000), (40000, 53))


def _heads() -> list[bytes]:
    rng = random.Random(11)
    heads = list(OPENINGS) + [o[:k] for o in OPENINGS for k in (1, 2, 3, 5)]
    heads += [b"NOTHING here\r\n", b"SSH-2.0-OpenSSH_9.6\r\n", b"\x00\x00\x00\x10abcdefgh"]
    heads += [b"x" * (PROBE_LIMIT + 10), b"GE", b'{"', b"\x00\x1c\x01\x00\x00\x01"]
    heads += [rng.randbytes(rng.randrange(1, 80)) for _ in range(200)]
    return heads


def _chosen(head: bytes, ports: tuple[int, int]) -> object:
    """What _choose concludes on ``head`` as side 0's first bytes: the taker's class,
    NO (decided, nobody) or MAYBE (undecided)."""
    inspector = Inspector()
    fi = FlowInspection(inspector.config, False, ports)
    fi.sides[0].head = head
    inspector._choose(fi, 0)
    sd = fi.sides[0]
    if not sd.decided:
        return Probe.MAYBE
    return Probe.NO if sd.dissector is None else type(sd.dissector)


@pytest.mark.parametrize("ports", PORTS)
def test_a_probe_before_the_state_is_what_choose_concludes(ports: tuple[int, int]) -> None:
    kinds = set()
    for head in _heads():
        found = _probe_head(head, ports, None)
        assert found == _chosen(head, ports), (head, ports)
        kinds.add(found if isinstance(found, Probe) else "class")
    assert kinds == {Probe.NO, Probe.MAYBE, "class"}  # every answer was checked


def test_a_side_nobody_takes_keeps_no_state_and_the_other_side_is_read() -> None:
    inspector = Inspector()
    inspector.first_packets = False
    junk = b"SSH-2.0-OpenSSH_9.6\r\n"
    assert inspector.tcp_packet(5, 0, 100, 100, junk, len(junk), 1.0, 40000, 80) == 2
    assert 5 not in inspector.flows
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    assert inspector.tcp_packet(5, 1, 900, 900, answer, len(answer), 2.0, 80, 40000) & 2
    assert inspector.flows[5].sides[1].dissector is not None
    facts = inspector.finish(5)
    assert facts is not None and "http" in facts.app_protos


def test_a_probe_that_raises_is_noted_on_a_new_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        raise ValueError("hostile bytes")

    monkeypatch.setattr(CryptoNode, "probe", staticmethod(broken))
    inspector = Inspector(InspectConfig())
    inspector.first_packets = False
    data = b'{"id":1,"method":"login","params":{}}\n'
    inspector.tcp_packet(3, 0, 10, 10, data, len(data), 1.0, 40000, 3333)
    facts = inspector.flows[3].facts
    assert facts is not None and facts.dissector_errors == 1
    assert any("crypto-node dissector stopped" in note for note in facts.evidence)
