"""Our Community ID v1 against the reference implementation (the communityid package) on
random IPv4/IPv6 TCP/UDP tuples, both directions, equal addresses and a seed; and the
spec's published example."""

from __future__ import annotations

import ipaddress
import random

import communityid
import pytest

from detector.sinks.common import community_id_v1


def _reference(proto: int, saddr: str, daddr: str, sport: int, dport: int, seed: int = 0) -> str:
    make = communityid.FlowTuple.make_tcp if proto == 6 else communityid.FlowTuple.make_udp
    return str(communityid.CommunityID(seed).calc(make(saddr, daddr, sport, dport)))


def test_matches_the_reference_implementation() -> None:
    rng = random.Random(4)
    for i in range(2000):
        if i % 2:
            a = str(ipaddress.IPv6Address(rng.getrandbits(128)))
            b = a if i % 10 == 1 else str(ipaddress.IPv6Address(rng.getrandbits(128)))
        else:
            a = str(ipaddress.IPv4Address(rng.getrandbits(32)))
            b = a if i % 10 == 0 else str(ipaddress.IPv4Address(rng.getrandbits(32)))
        proto = rng.choice((6, 17))
        sport, dport = rng.randrange(65536), rng.choice((53, 443, 3333, rng.randrange(65536)))
        seed = rng.choice((0, 0, 1, 65535))
        want = _reference(proto, a, b, sport, dport, seed)
        assert community_id_v1(proto, a, b, sport, dport, seed) == want
        assert community_id_v1(proto, b, a, dport, sport, seed) == want  # either direction


@pytest.mark.parametrize(
    ("args", "expected"),
    [  # community-id-spec README / baseline: TCP 128.232.110.120:34855 -> 66.35.250.204:80
        ((6, "128.232.110.120", "66.35.250.204", 34855, 80), "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    ],
)
def test_spec_example(args, expected) -> None:
    assert community_id_v1(*args) == expected


def test_eve_time_is_suricatas_format() -> None:
    """The field-by-field formatter gives what strftime gives, over the whole range."""
    import random
    from datetime import UTC, datetime

    from detector.sinks.common import eve_time

    rng = random.Random(3)
    stamps = [0.0, 1.5, 59.999999, 1767607200.001783, 253402300799.0]
    stamps += [rng.uniform(0, 4e9) for _ in range(20_000)]
    for ts in stamps:
        want = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
        assert eve_time(ts) == want
