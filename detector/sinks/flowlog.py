"""JSON lines of every flow with its facts, model features and verdict - a conn log for
analysts and for checking the dissectors (JA3/JA4, methods, orientation) and the
behaviour features against other tools."""

from __future__ import annotations

import json
import math
from typing import Any, TextIO

from detector.features import FEATURE_NAMES, flow_features
from detector.score import Verdict
from detector.sinks.common import community_id, eve_time, tunnel_json


def flow_entry(v: Verdict) -> dict[str, Any]:
    r, f = v.record, v.record.facts
    entry: dict[str, Any] = {
        "timestamp": eve_time(r.first_ts),
        "event_type": "flow",
        "flow_id": r.flow_id,
        "community_id": community_id(r),
        "src_ip": r.client_ip,
        "src_port": r.client_port,
        "dest_ip": r.server_ip,
        "dest_port": r.server_port,
        "proto": r.proto,
        "orientation": r.orientation,
        "end_reason": r.end_reason,
        "flow": {
            "pkts_toserver": r.pkts_toserver,
            "pkts_toclient": r.pkts_toclient,
            "bytes_toserver": r.bytes_toserver,
            "bytes_toclient": r.bytes_toclient,
            "start": eve_time(r.first_ts),
            "end": eve_time(r.last_ts),
        },
        "verdict": {
            "miner": v.is_miner,
            "score": v.score,
            "rules": list(v.rules),
            "info_rules": list(v.info_rules),
        },
    }
    if r.model_score is not None:
        entry["verdict"]["model"] = {
            "score": r.model_score,
            "alert": r.model_alert,
            "features": list(r.model_why),
        }
    if (tunnel := tunnel_json(r)) is not None:
        entry["tunnel"] = tunnel
    if f is not None:
        client, server = f.sides[r.client_side], f.sides[1 - r.client_side]
        entry["facts"] = {
            "app_protos": sorted(f.app_protos),
            "dialects": sorted(f.dialects),
            "client_methods": dict(client.methods),
            "server_methods": dict(server.methods),
            "agent": f.agent,
            "login": f.login,
            "wallet": f.wallet,
            "worker": f.worker,
            "coin": f.coin,
            "algo": f.algo,
            "algos_offered": f.algos,
            "flavour": f.flavour,
            "pers": f.pers,
            "pool_host": f.pool_host,
            "difficulty": f.difficulty,
            "jobs": f.jobs,
            "submits": f.submits,
            "accepted": f.accepted,
            "rejected": f.rejected,
            "http": f.http,
            "tls": f.tls,
            "websocket": f.websocket,
            "dns": f.dns,
            "dns_names": f.dns_names,
            "node": f.node,
            "pool": f.pool,
            "gaps": f.gaps,
            "dissector_errors": f.dissector_errors,
        }
    entry["features"] = feature_json(v)
    return entry


def feature_json(v: Verdict) -> dict[str, int | float | None]:
    """The flow's model features (features.FEATURE_NAMES) by name: null where a feature
    does not apply (NaN), whole numbers as integers, others to 7 significant digits (what
    a float32 holds)."""
    values = flow_features(v.record).tolist()
    return {name: _number(x) for name, x in zip(FEATURE_NAMES, values, strict=True)}


def _number(x: float) -> int | float | None:
    if not math.isfinite(x):
        return None
    if x.is_integer() and abs(x) < 2**53:
        return int(x)
    return float(f"{x:.7g}")


def write_flow_log(verdicts: list[Verdict], out: TextIO, with_empty: bool = False) -> None:
    for v in sorted(verdicts, key=lambda v: (v.record.first_ts, v.record.flow_id)):
        if v.record.facts is None and not with_empty:
            continue
        out.write(json.dumps(flow_entry(v), ensure_ascii=True, default=str) + "\n")
