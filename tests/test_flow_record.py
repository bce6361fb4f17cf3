"""FlowRecord.without_facts spells dataclasses.replace(record, facts=None) out: the two
must agree on every field, including any field added later."""

from __future__ import annotations

from dataclasses import fields, replace

from detector.facts import FlowFacts
from detector.flows import FlowRecord


def test_without_facts_is_replace_with_no_facts() -> None:
    record = FlowRecord(
        7, "TCP", "10.0.0.1", 40000, "10.0.0.2", 3333, 1.5, 61.0, 3, 4, 300, 400, 30, 40,
        "syn", "closed", FlowFacts(), 1, [{"type": "vlan"}], b"\x01", 0.9, True, ("a",),
    )  # fmt: skip
    # every field holds a value unlike its default, so a field left out shows
    for f in fields(FlowRecord):
        if f.name != "facts":
            assert getattr(record, f.name) not in (None, 0, False, (), "")
    copy = record.without_facts()
    assert copy == replace(record, facts=None)
    assert copy.facts is None and record.facts is not None
    assert [getattr(copy, f.name) for f in fields(FlowRecord)] == [
        getattr(replace(record, facts=None), f.name) for f in fields(FlowRecord)
    ]


def test_ip_text_writes_ipv4_as_ipaddress_does() -> None:
    import ipaddress
    import random

    from detector.flows import ip_text

    rng = random.Random(7)
    for a in [0, 1, 255, 256, 0x7F000001, 0x0A000001, 0xFFFFFFFF, 0xC0A80001] + [
        rng.getrandbits(32) for _ in range(2000)
    ]:
        assert ip_text(0, 0xFFFF_0000_0000 | a) == str(ipaddress.IPv4Address(a))
    for v in (1, 0x2001_0DB8 << 96, rng.getrandbits(128)):
        assert ip_text(v >> 64, v & (2**64 - 1)) == str(ipaddress.IPv6Address(v))
