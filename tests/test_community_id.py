"""Our Community ID v1 against the reference implementation (the communityid package) on
random IPv4/IPv6 TCP/UDP tuples, both directions, equal addresses and a seed; the spec's
published example; and every flow of the fixtures and the corpus, packet by packet (other
protocols' tuples: tests/test_tunnels.py)."""

from __future__ import annotations

import ipaddress
import random

import communityid
import numpy as np
import pytest

from detector.sinks.common import community_id_v1
from tests.conftest import CORPUS, PCAPS, needs_corpus


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


def _reference_ids(pb, placement, keys, want: dict, cache: dict) -> None:  # noqa: ANN001
    """Each packet's Community ID by the reference package, from its own header fields (an
    ICMP message's type and code read from its bytes), added to its flow's set (by the
    flow table's key: an active timeout's continuation is the same flow)."""
    from detector.flows import ip_text

    ok = np.flatnonzero(placement.slots >= 0)
    cols = (pb.proto[ok], pb.src_hi[ok], pb.src_lo[ok], pb.dst_hi[ok], pb.dst_lo[ok],
            pb.sport[ok], pb.dport[ok], pb.payload_off[ok])  # fmt: skip
    for flow, proto, shi, slo, dhi, dlo, sport, dport, off in zip(
        keys.tolist(), *(c.tolist() for c in cols), strict=True
    ):
        if proto in (1, 58):  # the ICMP header is the 8 bytes before the payload
            sport, dport = int(pb.buf[off - 8]), int(pb.buf[off - 7])
        key = (proto, shi, slo, dhi, dlo, sport, dport)
        cid = cache.get(key)
        if cid is None:
            s, d = ip_text(shi, slo), ip_text(dhi, dlo)
            if proto in (1, 6, 17, 58, 132):
                tpl = communityid.FlowTuple(proto, s, d, sport, dport)
            else:
                tpl = communityid.FlowTuple.make_ip(s, d, proto)
            cid = cache[key] = str(communityid.CommunityID().calc(tpl))
        want.setdefault(flow, set()).add(cid)


def community_id_report(paths: list[str]) -> tuple[dict[str, int], list[tuple]]:
    """Every flow ``minewatch flows --all`` reports for ``paths`` (tunneled flows
    included): its Community ID against the reference package's for each of its packets.
    Returns flows checked per protocol and the mismatches."""
    from collections import Counter

    from detector.decode import decode
    from detector.dissect.feeder import PayloadFeeder
    from detector.dissect.inspector import Inspector
    from detector.errors import CorruptCapture
    from detector.flows import FlowConfig, FlowTracker
    from detector.sinks.common import community_id
    from detector.source import expand_inputs, read_capture
    from tests.conftest import is_known_unread

    class Tracker(FlowTracker):
        """Notes the flow-table key of each record's flow."""

        def _records(self, slots, facts, reason):  # noqa: ANN001, ANN202
            records = super()._records(slots, facts, reason)
            keys = self.table["key"][np.array(slots, dtype=np.int64)]
            for r, key in zip(records, keys.tolist(), strict=True):
                key_of[r.flow_id] = key
            return records

    counts: Counter[str] = Counter()
    mismatches: list[tuple] = []
    cache: dict = {}
    for cap in expand_inputs(paths):
        inspector = Inspector()
        tracker = Tracker(FlowConfig(), inspector, keep_empty=True)
        feeder = PayloadFeeder(inspector, tracker.table)
        want: dict[int, set[str]] = {}
        key_of: dict[int, int] = {}
        records = []
        _, it = read_capture(cap)
        try:
            for rb in it:
                pb, _ = decode(rb)
                if len(pb) == 0:
                    continue
                placement = tracker.place(pb)
                feeder.feed(pb, placement)
                keys = tracker.table["key"][placement.slots[placement.slots >= 0]]
                _reference_ids(pb, placement, keys, want, cache)
                tracker.advance(float(pb.ts.max()))
                records += tracker.take_records()
        except CorruptCapture as exc:
            assert is_known_unread(cap.path, str(exc)), exc
        while tracker.flush(1000):
            records += tracker.take_records()
        records += tracker.take_records()
        for r in records:
            counts[r.proto] += 1
            counts["inside a tunnel"] += r.tunnel is not None
            expected = want.get(key_of[r.flow_id])
            if expected != {community_id(r)}:
                mismatches.append((cap.path, r.proto, r.client_ip, r.server_ip, expected,
                                   community_id(r)))  # fmt: skip
    return dict(counts), mismatches


@needs_corpus()
def test_every_flow_has_the_reference_community_id() -> None:
    """All of pcaps/ (the recorded tunnel captures included) and ../shared/corpus: every
    flow minewatch reports - TCP, UDP, ICMP, ICMPv6, tunnel carriers, flows inside tunnels -
    has the Community ID the reference package gives each of its packets."""
    counts, mismatches = community_id_report([str(PCAPS), str(CORPUS)])
    assert not mismatches, mismatches[:5]
    assert counts.get("ICMP", 0) > 10 and counts.get("IPv6-ICMP", 0) > 10, counts
    assert counts["TCP"] > 1000 and counts["UDP"] > 1000, counts
