"""Suricata EVE JSON lines: one ``alert`` event per suspect and window, one per crypto node.

Every event validates against Suricata's own EVE schema (``etc/schema.json``; a copy and
its source are in ``tests/data/``, and a test validates every line of a scan over the
fixtures and the corpus), so a SIEM pipeline built for Suricata ingests minewatch
unchanged. The schema closes the top level and most objects (``additionalProperties:
false``); the one place it leaves open for a rule's own facts is ``alert.metadata``, whose
values Suricata writes as lists of strings. So minewatch's facts go there in a flat form
(``mining_*`` and ``node_*`` keys, documented in the README's EVE section), and:

* a miner is an ``alert`` of category "Crypto Currency Mining Activity Detected"
  (Suricata's ``coin-mining`` classification), its rule's id and severity;
* a cryptocurrency node is an informational ``alert`` (``action`` allowed, its node
  rule's id and severity 3) of category "Crypto Currency Node Activity Detected": how
  Suricata itself reports a sighting that is not an attack (an INFO/POLICY rule), and an
  event type every Suricata consumer already reads. (The schema would take any
  ``event_type`` string, but no object of our own beside it, and consumers route unknown
  event types nowhere useful.)
* ``tls.ja3`` and ``tls.ja3s`` are ``{"hash", "string"}`` objects, as Suricata writes them.

``extended=True`` (``scan --eve-extended``) adds the full record as it was before this
shape - a top-level ``mining`` object on miner alerts, ``node`` on node alerts - which
the schema rejects for that one reason (an additional top-level property) and nothing
else.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable
from typing import Any, TextIO

from detector.facts import FlowFacts
from detector.nodehosts import NodeHost
from detector.rules import RuleSet
from detector.sinks.common import (
    CATEGORY,
    NODE_CATEGORY,
    app_proto,
    community_id,
    eve_time,
    tunnel_eve,
)
from detector.suspects import Suspect

# The top-level objects ``extended`` adds (the only fields the schema rejects).
EXTENDED_FIELDS = ("mining", "node")


def suspect_event(
    s: Suspect, rules: RuleSet, partial: bool = False, extended: bool = False
) -> dict[str, Any]:
    """The ``alert`` event of one suspect (rule names and severities from ``rules``, the
    set that scored its flows; ``partial``: the scan was stopped before its end, which
    ``alert.metadata.partial`` says; ``extended``: with the full ``mining`` record)."""
    top = s.top
    r, f = top.record, top.record.facts
    assert top.top_rule is not None
    rule = rules.rule(top.top_rule)
    record = _mining_record(s, extended)
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
                **_mining_flat(s, record),
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
    if (tunnel := tunnel_eve(r)) is not None:  # Suricata's alert "tunnel" object
        event["tunnel"], tunnel_metadata = tunnel
        event["alert"]["metadata"].update(tunnel_metadata)
    if f is not None and f.tls:
        event["tls"] = _tls(f)
    if extended:
        event["mining"] = record
    return event


def _tls(f: FlowFacts) -> dict[str, Any]:
    """The TLS facts Suricata's ``tls`` object has a place for, in its shapes."""
    tls = f.tls
    out: dict[str, Any] = {}
    if "sni" in tls:
        out["sni"] = tls["sni"]
    for key in ("ja3", "ja3s"):
        if key in tls:
            out[key] = {"hash": tls[key]}
            if f"{key}_string" in tls:
                out[key]["string"] = tls[f"{key}_string"]
    for key in ("ja4", "version"):
        if key in tls:
            out[key] = tls[key]
    return out


def _mining_record(s: Suspect, full: bool = True) -> dict[str, Any]:
    """The full record of a suspect (``--eve-extended``'s ``mining`` object). Not
    ``full``: its ``flows`` hold only what the flat form reads of them (``flow_id`` and
    ``community_id``): their other values are written only with the record, and up to
    MAX_EVIDENCE_FLOWS flows an alert took most of an EVE run's event building (two
    timestamps each)."""
    top = s.top
    f = top.record.facts
    from detector.hashrate import estimate  # on the first alert: not with the module

    rate = estimate(s)
    return {
        # what the host is (dialects.role_of): pool miner, solo miner, storage farmer, or
        # crypto node (a node host made a suspect by the site's policy)
        "role": s.role,
        "dialect": sorted(top.dialects)[0] if top.dialects else None,
        "dialects": sorted(s.dialects),
        "node_protocols": sorted(s.nodes),  # that node host's protocols
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
        # hashrate.py: best estimate (H/s; None: unknown), its 95 % interval, how it was
        # made or why it is unknown, and the shares and seconds it rests on
        "hashrate_estimate": rate.hs,
        "hashrate_low": rate.low,
        "hashrate_high": rate.high,
        "hashrate_method": rate.method,
        "hashrate_shares": rate.shares,
        "hashrate_seconds": rate.seconds,
        # jobs and shares over time (activity.py): [bucket start, epoch s; width, s; jobs;
        # shares], bounded
        "activity": [list(bucket) for bucket in s.activity],
        "score": s.score,
        # the flow model on the strongest flow: its score and the features it leaned on
        "model_score": top.record.model_score,
        "model_features": list(top.record.model_why),
        "first_seen": eve_time(s.first_seen),
        "last_seen": eve_time(s.last_seen),
        "flow_count": s.flow_count,
        "evidence": list(f.evidence) if f is not None else [],
        "flows": [_flow(v) if full else _flow_ids(v) for v in s.flows],
    }


def _flow_ids(v: Any) -> dict[str, Any]:
    """The ids of an evidence flow: the part of ``_flow`` the flat form reads."""
    r = v.record
    return {"flow_id": r.flow_id, "community_id": community_id(r)}


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


def _mining_flat(s: Suspect, record: dict[str, Any]) -> dict[str, list[str]]:
    """The flat form of a suspect's record, ``mining_*`` keys of ``alert.metadata``.

    Every value is a list of strings, as Suricata writes rule metadata; a key with no
    value is left out. A count, time or score is a one-value list; a key the record holds
    one value of (dialect, coin, pool, agent, login, wallet, worker) lists every value
    the suspect has, the record's one first."""
    dialect = record["dialect"]
    return _flat(
        "mining",
        {
            "role": [record["role"]],
            "dialect": [dialect, *(d for d in record["dialects"] if d != dialect)]
            if dialect
            else record["dialects"],
            "node_protocol": record["node_protocols"],
            "coin": sorted(s.coins),
            "algo": record["algo"],
            "pool": sorted(s.pool_names),
            "pool_host": record["pool_hosts"],
            "pool_endpoint": record["pools"],
            "agent": sorted(s.agents),
            "login": sorted(s.logins),
            "wallet": sorted(s.wallets),
            "worker": sorted(s.workers),
            "jobs": [record["jobs"]],
            "submits": [record["submits"]],
            "accepted": [record["accepted"]],
            "hashrate_reported": [record["hashrate_reported"]],
            "hashrate_estimate": [record["hashrate_estimate"]],
            "hashrate_low": [record["hashrate_low"]],
            "hashrate_high": [record["hashrate_high"]],
            "hashrate_method": [record["hashrate_method"]],
            "hashrate_shares": [record["hashrate_shares"]],
            "hashrate_seconds": [record["hashrate_seconds"]],
            "activity": [_bucket(b) for b in record["activity"]],
            "score": [record["score"]],
            "model_score": [record["model_score"]],
            "model_feature": record["model_features"],
            "first_seen": [record["first_seen"]],
            "last_seen": [record["last_seen"]],
            "flow_count": [record["flow_count"]],
            "evidence": record["evidence"],
            "flow_id": [flow["flow_id"] for flow in record["flows"]],
            "community_id": [flow["community_id"] for flow in record["flows"]],
        },
    )


def _bucket(bucket: list[Any]) -> str:
    """An activity bucket as one metadata string: "start/seconds/jobs/shares"."""
    start, width, jobs, shares = bucket
    return f"{start:.0f}/{width:.0f}/{jobs}/{shares}"


def _node_flat(record: dict[str, Any]) -> dict[str, list[str]]:
    """The flat form of a node host's record, ``node_*`` keys of ``alert.metadata``."""
    return _flat(
        "node",
        {
            "protocol": [record["protocol"]],
            "role": [record["role"]],
            "network": [record["network"]],
            "first_seen": [record["first_seen"]],
            "last_seen": [record["last_seen"]],
            "flow_count": [record["flow_count"]],
            "peer": record["peers"],
            "peer_count": [record["peer_count"]],
            "port": record["ports"],
            "user_agent": record["user_agents"],
            "command": record["commands"],
            "name": record["names"],
        },
    )


def _flat(prefix: str, values: dict[str, list[Any]]) -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for key, items in values.items():
        strings = [str(v) for v in items if v is not None]
        if strings:
            flat[f"{prefix}_{key}"] = strings
    return flat


def node_event(n: NodeHost, rules: RuleSet, extended: bool = False) -> dict[str, Any]:
    """An informational alert (category NODE_CATEGORY): a host speaking a node P2P
    protocol, or a wallet's (``node_role`` says which); ``extended``: with the full
    ``node`` record."""
    top = n.flows[0]
    rule = rules.rule(min(n.rules))
    local_is_client = top.client_ip == n.ip
    record = {
        "protocol": n.protocol,
        # what the host is: crypto-node, or wallet (a wallet protocol's client); both
        # informational (nodehosts.NodeHost.role)
        "role": n.role,
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
        "names": sorted(n.names),
    }
    event: dict[str, Any] = {
        "timestamp": eve_time(n.first_seen),
        "flow_id": top.flow_id,
        "event_type": "alert",
        "src_ip": n.ip,
        "src_port": top.client_port if local_is_client else top.server_port,
        "dest_ip": top.server_ip if local_is_client else top.client_ip,
        "dest_port": top.server_port if local_is_client else top.client_port,
        "proto": top.proto,
        "community_id": community_id(top),
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": rule.id,
            "rev": rule.rev,
            "signature": record["signature"],
            "category": NODE_CATEGORY,
            "severity": min(rules.rule(i).severity for i in n.rules),
            "metadata": {
                "rules": [str(i) for i in sorted(n.rules)],
                **_node_flat(record),
            },
        },
    }
    if extended:
        event["node"] = record
    return event


def is_mining_alert(event: dict[str, Any]) -> bool:
    """True for a miner's alert, False for a crypto-node alert or any other event."""
    return event.get("event_type") == "alert" and event["alert"].get("category") == CATEGORY


def eve_order(first_seen: float, ip: str) -> tuple[str, str]:
    """The order ``write_eve`` needs its suspects in (``SuspectTable.stream``'s key)."""
    return (eve_time(first_seen), ip)


def write_eve(
    suspects: Iterable[Suspect],
    out: TextIO,
    rules: RuleSet,
    nodes: Iterable[NodeHost] | None = None,
    partial: bool = False,
    extended: bool = False,
) -> None:
    """All events in time order (``scan``'s default), each written as it is made:
    ``suspects`` come in ``eve_order`` (a table's stream unpacks one at a time), node
    events, a bounded few, are sorted here and merged in (after a miner's alert of the
    same time and address)."""
    node_events = sorted((node_event(n, rules, extended) for n in nodes or []), key=_event_order)
    alerts = (suspect_event(s, rules, partial, extended) for s in suspects)
    for event in heapq.merge(alerts, node_events, key=_event_order):
        write_event(event, out)


def _event_order(event: dict[str, Any]) -> tuple[str, str]:
    return (event["timestamp"], event["src_ip"])


def write_event(event: dict[str, Any], out: TextIO, flush: bool = False) -> None:
    """One EVE line; ``flush`` for events written as they happen (a ``tail -f`` or a SIEM
    shipper sees each at once)."""
    out.write(json.dumps(event, ensure_ascii=True, separators=(",", ":")) + "\n")
    if flush:
        out.flush()
