"""DNS: answers feed the shared passive-DNS map, so later flows to those IPs carry the
names; questions that name a mining pool (an informational event) or a crypto network's own
infrastructure (Filecoin's bootstrap peers and drand, Chia's introducers and seeders:
netnames.py) are kept as flow facts.

UDP DNS never builds per-flow state: the vectorised triage (triage.py) sends only
responses with answers, straight to ``observe_response``. DNS over TCP (two-byte length
prefix, RFC 1035 §4.2.2) goes through the ``DnsTcp`` dissector and the same function.
"""

from __future__ import annotations

import struct
from typing import ClassVar

from detector.dissect.base import MAYBE, NO, YES, InspectContext, Probe, StreamDissector
from detector.dissect.dnsparse import DnsError, parse_response
from detector.facts import FlowFacts

MAX_QUERIES = 16


def observe_response(data: bytes, ts: float, ctx: InspectContext) -> tuple[list[str], list[str]]:
    """Record a response's answers in passive DNS; return (questions, answer IPs).

    Raises DnsError for a malformed message; returns ([], []) for a query."""
    parsed = parse_response(data)
    if parsed is None:
        return [], []
    ctx.pdns.add_response(parsed, ts)
    questions, _, ips = parsed
    return questions, ips


def note_pool_lookup(facts: FlowFacts, questions: list[str], ips: list[str], side: int) -> None:
    """Keep a DNS flow's questions as facts (enrichment matches them against pools)."""
    facts.app_protos.add("dns")
    queries = facts.dns.setdefault("queries", [])
    queries.extend(q for q in questions if q not in queries and len(queries) < MAX_QUERIES)
    answers = facts.dns.setdefault("answers", [])
    answers.extend(ip for ip in ips if len(answers) < MAX_QUERIES)
    facts.sides[1 - side].client_votes += 1


def worth_noting(questions: list[str], ctx: InspectContext) -> bool:
    """Does a question name a mining pool or a crypto network's own infrastructure
    (netnames.py: Filecoin's bootstrap peers and drand, Chia's introducers and seeders)?
    Then the DNS flow keeps its questions as facts: who asked is evidence (a pool lookup;
    a Filecoin node beside libp2p flows; a Chia node). Asked for every distinct answer
    of a batch."""
    pools = ctx.pools
    names = ctx.names if ctx.names else None  # one __bool__ call, not one per question
    if pools is None and names is None:
        return False
    for name in questions:  # a loop: no generator per answer on the hot path
        if pools is not None and pools.match(name):
            return True
        if names is not None and names.network_of(name) is not None:
            return True
    return False


class DnsTcp(StreamDissector):
    """DNS over TCP on port 53."""

    name: ClassVar[str] = "dns-tcp"

    def __init__(self, ctx: InspectContext) -> None:
        self.ctx = ctx
        self.bufs = [b"", b""]

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int]) -> Probe:
        if 53 not in ports:
            return NO
        if len(data) < 2:
            return MAYBE
        return YES if struct.unpack("!H", data[:2])[0] >= 12 else NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        buf = self.bufs[side] + data
        facts.app_protos.add("dns")
        while len(buf) >= 2:
            size = struct.unpack("!H", buf[:2])[0]
            if len(buf) < size + 2:
                break
            try:
                questions, ips = observe_response(buf[2 : size + 2], ts, self.ctx)
            except DnsError:
                return False
            if worth_noting(questions, self.ctx):
                note_pool_lookup(facts, questions, ips, side)
            buf = buf[size + 2 :]
        self.bufs[side] = buf[-65537:]
        return True
