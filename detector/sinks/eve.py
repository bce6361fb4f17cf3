"""Suricata-EVE-compatible JSON lines: one ``alert`` event per suspect and window.

Field names follow Suricata's eve.json (timestamp, flow_id, event_type, src/dest,
proto, app_proto, community_id, alert{...}, flow{...}, tls{...}) so existing SIEM
pipelines ingest minewatch unchanged; minewatch's own details sit in ``mining``.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from typing import Any, TextIO

from detector.hashrate import hashrate_estimate
from detector.nodehosts import NodeHost
from detector.rules import RuleSet
from detector.sinks.common import CATEGORY, app_proto, community_id, eve_time, tunnel_json
from detector.suspects import Suspect


def suspect_event(s: Suspect, rules: RuleSet, partial: bool = False) -> dict[str, Any]:
    """The ``alert`` event of one suspect (rule names and severities from ``rules``, the
    set that scored its flows; ``partial``: the scan was stopped before its end, which
    ``alert.metadata.partial`` says)."""
    top = s.top
    r, f = top.record, top.record.facts
    assert top.top_rule is not None
    rule = rules.rule(top.top_rule)
    event: dict[str, Any] = {
        "timestamp": eve_time(s.first_seen),
        "flow_id": r.flow_id,
        "event_type": "alert",
        "src_ip": r.client_ip,
        "src_port": r.client_port,
        "dest_ip": r.server_ip,
        "dest_port": r.server_port,
        "proto": r.proto,
        "app_proto": app_proto(r),
        "community_id": community_id(r),
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": rule.id,
            "rev": rule.rev,
            "signature": f"MINEWATCH {rule.name}",
            "category": CATEGORY,
            "severity": min(rules.rule(i).severity for i in s.rule_hits),
            "metadata": {
                "rules": [str(i) for i in s.rules],
                "dialect": sorted(s.dialects),
                "coin": sorted(s.coins),
                **({"partial": ["interrupted"]} if partial else {}),
            },
        },
        "flow": {
            "pkts_toserver": r.pkts_toserver,
            "pkts_toclient": r.pkts_toclient,
            "bytes_toserver": r.bytes_toserver,
            "bytes_toclient": r.bytes_toclient,
            "start": eve_time(r.first_ts),
            "end": eve_time(r.last_ts),
        },
    }
    if (tunnel := tunnel_json(r)) is not None:  # Suricata's alert "tunnel" object
        event["tunnel"] = tunnel
    if f is not None and f.tls:
        event["tls"] = {k: f.tls[k] for k in ("sni", "ja3", "ja3s", "ja4", "version") if k in f.tls}
    event["mining"] = {
        "dialect": sorted(top.dialects)[0] if top.dialects else None,
        "dialects": sorted(s.dialects),
        "coin": sorted(s.coins)[0] if s.coins else None,
        "algo": sorted(s.algos),
        "pool": sorted(s.pool_names)[0] if s.pool_names else None,
        "pool_hosts": sorted(s.pool_hosts),
        "pools": [p for p, _ in s.pools.most_common(16)],
        "agent": sorted(s.agents)[0] if s.agents else None,
        "login": sorted(s.logins)[0] if s.logins else None,
        "wallet": sorted(s.wallets)[0] if s.wallets else None,
        "worker": sorted(s.workers)[0] if s.workers else None,
        "jobs": s.jobs,
        "submits": s.submits,
        "accepted": s.accepted,
        "hashrate_reported": s.reported_hashrate,
        "hashrate_estimate": hashrate_estimate(s),
        "score": s.score,
        "first_seen": eve_time(s.first_seen),
        "last_seen": eve_time(s.last_seen),
        "flow_count": s.flow_count,
        "evidence": list(f.evidence) if f is not None else [],
        "flows": [_flow(v) for v in s.flows],
    }
    return event


def _flow(v: Any) -> dict[str, Any]:
    r, f = v.record, v.record.facts
    return {
        "flow_id": r.flow_id,
        "community_id": community_id(r),
        "src_port": r.client_port,
        "dest_ip": r.server_ip,
        "dest_port": r.server_port,
        "proto": r.proto,
        "start": eve_time(r.first_ts),
        "end": eve_time(r.last_ts),
        "dialects": sorted(v.dialects),
        "score": v.score,
        "rules": list(v.rules),
        "jobs": f.jobs if f is not None else 0,
        "submits": f.submits if f is not None else 0,
    }


def node_event(n: NodeHost, rules: RuleSet) -> dict[str, Any]:
    """An informational ``crypto-node`` event: a host speaking a node P2P protocol."""
    top = n.flows[0]
    rule = rules.rule(min(n.rules))
    local_is_client = top.client_ip == n.ip
    return {
        "timestamp": eve_time(n.first_seen),
        "flow_id": top.flow_id,
        "event_type": "crypto-node",
        "src_ip": n.ip,
        "src_port": top.client_port if local_is_client else top.server_port,
        "dest_ip": top.server_ip if local_is_client else top.client_ip,
        "dest_port": top.server_port if local_is_client else top.client_port,
        "proto": top.proto,
        "community_id": community_id(top),
        "node": {
            "protocol": n.protocol,
            "network": n.network,
            "signature_id": rule.id,
            "signature": f"MINEWATCH {rule.name}",
            "first_seen": eve_time(n.first_seen),
            "last_seen": eve_time(n.last_seen),
            "flow_count": n.flow_count,
            "peers": [p for p, _ in n.peers.most_common(16)],
            "peer_count": len(n.peers),
            "ports": sorted(n.ports)[:16],
            "user_agents": sorted(n.user_agents),
            "commands": sorted(n.commands),
        },
    }


def eve_order(first_seen: float, ip: str) -> tuple[str, str]:
    """The order ``write_eve`` needs its suspects in (``SuspectTable.stream``'s key)."""
    return (eve_time(first_seen), ip)


def write_eve(
    suspects: Iterable[Suspect],
    out: TextIO,
    rules: RuleSet,
    nodes: list[NodeHost] | None = None,
    partial: bool = False,
) -> None:
    """All events in time order (``scan``'s default), each written as it is made:
    ``suspects`` come in ``eve_order`` (a table's stream unpacks one at a time), node
    events, a bounded few, are sorted here and merged in."""
    node_events = sorted((node_event(n, rules) for n in nodes or []), key=_event_order)
    alerts = (suspect_event(s, rules, partial) for s in suspects)
    for event in heapq.merge(alerts, node_events, key=_event_order):
        write_event(event, out)


def _event_order(event: dict[str, Any]) -> tuple[str, str, str]:
    return (event["timestamp"], event["src_ip"], event["event_type"])


def write_event(event: dict[str, Any], out: TextIO, flush: bool = False) -> None:
    """One EVE line; ``flush`` for events written as they happen (a ``tail -f`` or a SIEM
    shipper sees each at once)."""
    out.write(json.dumps(event, ensure_ascii=True, separators=(",", ":")) + "\n")
    if flush:
        out.flush()
