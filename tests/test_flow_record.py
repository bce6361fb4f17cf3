"""FlowRecord.without_facts spells dataclasses.replace(record, facts=None) out: the two
must agree on every field, including any field added later."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

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


def test_ip_text_writes_ipv6_as_ipaddress_does() -> None:
    """Outside ::/16 ip_text asks inet_ntop (when _v6_text_same found it writes as
    ipaddress does): the same text for addresses with zero groups anywhere - random groups
    each zero with probability 1/2, so runs of every length and ties between them - and
    inside ::/16, where ipaddress writes them itself (no embedded "::a.b.c.d")."""
    import ipaddress
    import random

    from detector.flows import _v6_text_same, ip_text

    assert _v6_text_same()  # (else every address takes ipaddress: nothing to compare)
    rng = random.Random(11)
    values = [rng.getrandbits(128) for _ in range(500)]
    for _ in range(5000):
        groups = [rng.getrandbits(16) if rng.random() < 0.5 else 0 for _ in range(8)]
        values.append(int.from_bytes(b"".join(g.to_bytes(2, "big") for g in groups), "big"))
    values += [1, 0, 0x0A00_0001, 0xFFFF_0000_0000 >> 16, 1 << 112, (1 << 112) | 1, 1 << 127]
    for v in values:
        ip_text.cache_clear()
        assert ip_text(v >> 64, v & (2**64 - 1)) == str(ipaddress.IPv6Address(v)), hex(v)


def test_the_duration_written_out_is_the_property() -> None:
    """The rules' ``duration`` field and the model's duration column spell
    FlowRecord.duration out (a call fewer per flow): the same value, a flow whose last
    packet time precedes its first and a NaN time included."""
    import math

    from detector.features import FEATURE_NAMES, features_matrix
    from detector.rules.fields import FIELDS

    column = FEATURE_NAMES.index("duration")
    times = [(1.5, 61.25), (10.0, 10.0), (5.0, 2.0), (0.1, 0.3), (1e9 + 0.123456, 1e9 + 7.5),
             (math.nan, 3.0), (2.0, math.nan)]  # fmt: skip
    counts = (3, 4, 300, 400, 30, 40, "syn", "closed", None)
    records = [FlowRecord(7, "TCP", "10.0.0.1", 40000, "10.0.0.2", 3333, first, last, *counts)
               for first, last in times]  # fmt: skip
    matrix = features_matrix(records)
    for record, row in zip(records, matrix, strict=True):
        assert FIELDS["duration"][0](record) == record.duration
        assert row[column] == np.float32(record.duration)
