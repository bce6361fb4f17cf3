"""Helpers shared by the sinks: timestamps, community id, one summary dict per suspect."""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import struct
from datetime import UTC, datetime
from typing import Any

from detector.flows import FlowRecord
from detector.suspects import Suspect

CATEGORY = "Crypto Currency Mining Activity Detected"  # Suricata's classification "coin-mining"
# Crypto-node sightings are informational alerts of their own category (no Suricata
# classification names them; see sinks/eve.py).
NODE_CATEGORY = "Crypto Currency Node Activity Detected"


def eve_time(ts: float) -> str:
    """Suricata's timestamp format: 2026-01-05T10:00:00.000000+0000. (Formatted field by
    field: ``strftime`` costs several times more, and every event carries a few.)"""
    d = datetime.fromtimestamp(ts, UTC)
    return (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        f".{d.microsecond:06d}+0000"
    )


def short_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def community_id(r: FlowRecord) -> str:
    """Community ID v1 of a flow, so alerts join with Zeek/Suricata logs of the same flow."""
    return community_id_v1(
        PROTO_NUMBERS[r.proto], r.client_ip, r.server_ip, r.client_port, r.server_port
    )


PROTO_NUMBERS = {"TCP": 6, "UDP": 17}


@functools.lru_cache(maxsize=4096)
def _packed(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def community_id_v1(
    proto: int, saddr: str, daddr: str, sport: int, dport: int, seed: int = 0
) -> str:
    """Community ID v1 (https://github.com/corelight/community-id-spec) of a TCP/UDP
    5-tuple: base64 of SHA-1 over seed, the ordered addresses, protocol, a zero pad byte
    and the ports, the smaller (address, port) first. The reference package
    (``communityid``) gives the same values (tested) but imports dpkt and builds objects
    per call, which made it a tenth of an EVE run's start-up."""
    src, dst = _packed(saddr), _packed(daddr)
    if not (src < dst or (src == dst and sport < dport)):
        src, dst, sport, dport = dst, src, dport, sport
    digest = hashlib.sha1(
        struct.pack("!H", seed) + src + dst + struct.pack("!BBHH", proto, 0, sport, dport),
        usedforsecurity=False,
    ).digest()
    return "1:" + base64.b64encode(digest).decode("ascii")


def app_proto(r: FlowRecord) -> str:
    f = r.facts
    if f is None:
        return "failed"
    for proto in ("stratum", "http-mining", "tls", "http", "json"):
        if proto in f.app_protos:
            return {"http-mining": "http", "json": "json-rpc"}.get(proto, proto)
    return "failed"


def suspect_summary(s: Suspect) -> dict[str, Any]:
    """Everything a sink prints about one suspect (strings still raw, not escaped)."""
    return {
        "ip": s.ip,
        "score": s.score,
        "first_seen": s.first_seen,
        "last_seen": s.last_seen,
        "flows": s.flow_count,
        "dialects": sorted(s.dialects),
        "coins": sorted(s.coins),
        "pools": [p for p, _ in s.pools.most_common(8)],
        "pool_names": sorted(s.pool_names)[:8],
        "pool_hosts": sorted(s.pool_hosts)[:8],
        "agents": sorted(s.agents)[:4],
        "wallets": sorted(s.wallets)[:4],
        "logins": sorted(s.logins)[:4],
        "workers": sorted(s.workers)[:4],
        "rules": [f"{rid}" for rid in s.rules],
    }
