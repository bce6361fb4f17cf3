"""Helpers shared by the sinks: timestamps, community id, one summary dict per suspect."""

from __future__ import annotations

import base64
import functools
import struct
from datetime import UTC, datetime
from typing import Any

from detector.decode import ENCAP_ID_NAMES, ENCAP_NAMES, ICMP4_PAIRED, ICMP6_PAIRED, PROTO_NAMES
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
    """Community ID v1 of a flow, so alerts join with Zeek/Suricata logs of the same flow.
    An ICMP flow's ports are its client's type and paired type or code (decode.py), which
    give the spec's values again; a one-way ICMP flow's client is the sender."""
    return community_id_v1(
        PROTO_NUMBERS[r.proto], r.client_ip, r.server_ip, r.client_port, r.server_port
    )


PROTO_NUMBERS = {name: number for number, name in PROTO_NAMES.items()}
# The IP protocols the spec hashes with ports (ICMP's type and code standing for them).
PORT_PROTOS = frozenset({1, 6, 17, 58, 132})
_ICMP_PAIRED = {
    proto: {kind: int(p) for kind, p in enumerate(table.tolist()) if p >= 0}
    for proto, table in ((1, ICMP4_PAIRED), (58, ICMP6_PAIRED))
}


@functools.lru_cache(maxsize=4096)
def _packed(ip: str) -> bytes:
    """An address's network-order bytes (``socket.inet_pton``: a flow's addresses are
    already canonical text, so no ipaddress object is needed; the same bytes), from
    ``_socket``, socket's C core, which spares loading socket.py and its enum classes
    (~9 M instructions; owners._parse_ip says more). Imported on first use, not with the
    module: a scan without alerts never needs it. (ipaddress, imported at start-up
    already, costs 1.5-3.6 us more a miss: ``flows --all`` on the real-traffic bench
    input has 29,000 distinct addresses.)"""
    import _socket

    return _socket.inet_pton(_socket.AF_INET6 if ":" in ip else _socket.AF_INET, ip)


@functools.cache
def _sha1() -> Any:
    """SHA-1, from CPython's own implementation (``_sha1``, built in; what hashlib falls
    back to): hashlib's is OpenSSL's, and loading libcrypto cost a scan with alerts ~11 M
    instructions (callgrind) - a rules-only scan (``--model none``, which checks no model's
    sha256) needs nothing else of it. The same digests (tested); hashlib's where CPython
    was built without it."""
    try:
        from _sha1 import sha1
    except ImportError:  # pragma: no cover - CPython builds it in
        from hashlib import sha1
    return sha1


def community_id_v1(
    proto: int, saddr: str, daddr: str, sport: int, dport: int, seed: int = 0
) -> str:
    """Community ID v1 (https://github.com/corelight/community-id-spec) of a flow tuple:
    base64 of SHA-1 over seed, the ordered addresses, protocol, a zero pad byte and the
    ports, the smaller (address, port) first. TCP, UDP and SCTP hash their ports; ICMP and
    ICMPv6 (``sport``, ``dport``: the message type and code) the spec's port equivalents -
    a request or reply type and its paired type (two-way), or the type and code of any
    other message, one-way: never reordered; other protocols no ports. The reference
    package (``communityid``) gives the same values (tested) but imports dpkt and builds
    objects per call, which made it a tenth of an EVE run's start-up."""
    src, dst = _packed(saddr), _packed(daddr)
    one_way = False
    if proto in _ICMP_PAIRED:
        paired = _ICMP_PAIRED[proto].get(sport)
        if paired is None:
            one_way = True
        else:
            dport = paired
    if proto not in PORT_PROTOS:
        if not src < dst:
            src, dst = dst, src
        tail = struct.pack("!BB", proto, 0)
    else:
        if not (one_way or src < dst or (src == dst and sport < dport)):
            src, dst, sport, dport = dst, src, dport, sport
        tail = struct.pack("!BBHH", proto, 0, sport, dport)
    digest = _sha1()(struct.pack("!H", seed) + src + dst + tail, usedforsecurity=False)
    return "1:" + base64.b64encode(digest.digest()).decode("ascii")


_ID_NAMES = {ENCAP_NAMES[code]: name for code, name in ENCAP_ID_NAMES.items()}


def tunnel_json(r: FlowRecord) -> dict[str, Any] | None:
    """The tunnel a flow came in, as Suricata's alert ``tunnel`` object (the outermost
    packet's src_ip, src_port, dest_ip, dest_port, proto and the nesting depth), with the
    encapsulation and its identifier (``vni``, ``session_id``, ``teid``, ``key``,
    ``call_id``); ``layers`` lists every level, outermost first, when tunnels nest. None
    for a flow in no tunnel."""
    if not r.tunnel:
        return None

    def layer(t: dict[str, Any]) -> dict[str, Any]:
        out = {key: t[key] for key in ("src_ip", "src_port", "dest_ip", "dest_port", "proto")}
        out["encapsulation"] = t["encap"]
        if t["ident"] is not None:
            out[_ID_NAMES.get(t["encap"], "id")] = t["ident"]
        return out

    top = layer(r.tunnel[0]) | {"depth": len(r.tunnel)}
    if len(r.tunnel) > 1:
        top["layers"] = [layer(t) for t in r.tunnel]
    return top


_EVE_TUNNEL_KEYS = ("src_ip", "src_port", "dest_ip", "dest_port", "proto", "depth")


def tunnel_eve(r: FlowRecord) -> tuple[dict[str, Any], dict[str, list[str]]] | None:
    """The tunnel of an EVE alert, split the way Suricata's schema wants it: the ``tunnel``
    object keeps only the keys the schema allows (outer endpoints, proto, depth; it closes
    the object), and what Suricata has no place for - the encapsulation and its identifier
    per level, outermost first - goes to ``alert.metadata`` as ``tunnel_encapsulation`` and
    ``tunnel_<id name>`` string lists. None for a flow in no tunnel."""
    full = tunnel_json(r)
    if full is None:
        return None
    layers = full.get("layers", [full])
    metadata: dict[str, list[str]] = {
        "tunnel_encapsulation": [layer["encapsulation"] for layer in layers]
    }
    for layer in layers:
        for key, value in layer.items():
            if key not in _EVE_TUNNEL_KEYS and key not in ("encapsulation", "layers"):
                metadata.setdefault(f"tunnel_{key}", []).append(str(value))
    return {key: full[key] for key in _EVE_TUNNEL_KEYS if key in full}, metadata


def app_proto(r: FlowRecord) -> str:
    f = r.facts
    if f is None:
        return "failed"
    for proto in ("stratum", "http-mining", "tls", "websocket", "http", "json"):
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
        "role": s.role,  # dialects.role_of: pool/solo miner, storage farmer, crypto node
        "dialects": sorted(s.dialects),
        "nodes": sorted(s.nodes),  # node protocols of a node host made a suspect by policy
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
