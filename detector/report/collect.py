"""Suspects for the report from any of its three inputs, as ``ReportSuspect`` rows.

* a scan of captures: the ``Suspect``s the engine aggregated (the CLI runs the scan with
  ``ScanConfig.screen`` set, as ``scan`` runs it, and hands them here with the screened
  hosts);
* a scan's EVE lines (``minewatch scan -f jsonl``): the flat ``alert.metadata`` of each
  miner alert (sinks/eve.py writes it; the README's EVE section lists the keys);
* the suspect store (``--db``): the rows ``SuspectStore.query`` returns.

Every input is per (IP, reporting window); the report is per IP, because a hashrate and
an energy per day are rates of a miner, not of an hour of it. Captures merge windows
exactly (``Suspect.merge``) before estimating; EVE lines and store rows carry an estimate
per window, which are combined as total hashes over total time (each window's rate times
its span, added up); their activity timelines merge exactly (activity.py). Neither carries
the hosts that were screened: that stays ``None`` (data.py). A store written before schema
3 keeps no activity nor a hashrate's interval: those stay ``None`` too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from detector import activity
from detector.dialects import ROLES, merged_role, role_of
from detector.energy import EfficiencyTable, energy_of
from detector.errors import InputError
from detector.hashrate import HashrateEstimate, estimate
from detector.report.data import NOT_AVAILABLE, ReportSuspect
from detector.rules import RuleSet
from detector.sinks.common import CATEGORY
from detector.suspects import Suspect, bracketed
from detector.textsafe import escape

MAX_ENDPOINTS = 256  # pool endpoints listed per miner (Suspect's own cap)
MODEL_TAG = "model"  # the tag of the flow model's rules (signatures/rules/behaviour.yaml)


# ---- captures -------------------------------------------------------------------------


def from_suspects(
    suspects: Iterable[Suspect], rules: RuleSet, efficiency: EfficiencyTable | None
) -> list[ReportSuspect]:
    """A scan's suspects, one row per IP (windows merged exactly), with their estimates."""
    by_ip: dict[str, Suspect] = {}
    windows: dict[str, int] = {}
    for s in suspects:
        mine = by_ip.get(s.ip)
        if mine is None:
            by_ip[s.ip] = s
        else:
            mine.merge(s)
        windows[s.ip] = windows.get(s.ip, 0) + 1
    rows = [_from_suspect(s, windows[ip], rules) for ip, s in by_ip.items()]
    return _finished(rows, efficiency)


def _from_suspect(s: Suspect, windows: int, rules: RuleSet) -> ReportSuspect:
    top = s.top
    r, f = top.record, top.record.facts
    primary = sorted(top.dialects)[0] if top.dialects else None
    nodes = sorted(s.nodes)
    return ReportSuspect(
        ip=s.ip,
        first_seen=s.first_seen,
        last_seen=s.last_seen,
        windows=windows,
        role=s.role,
        nodes=nodes,
        flows=s.flow_count,
        score=s.score,
        dialects=_primary_first(primary, sorted(s.dialects)),
        coins=sorted(s.coins),
        algos=sorted(s.algos),
        pool_names=sorted(s.pool_names),
        pool_hosts=sorted(s.pool_hosts),
        pool_endpoints=[p for p, _ in s.pools.most_common(MAX_ENDPOINTS)],
        agents=sorted(s.agents),
        wallets=sorted(s.wallets),
        logins=sorted(s.logins),
        workers=sorted(s.workers),
        jobs=s.jobs,
        submits=s.submits,
        accepted=s.accepted,
        reported_hashrate=s.reported_hashrate,
        hashrate=estimate(s),
        evidence=[
            flow_note(
                r.client_ip,
                r.client_port,
                r.server_ip,
                r.server_port,
                r.proto,
                primary or _first(nodes),
                top.score,
            ),
            *(f.evidence or [] if f is not None else []),
        ],
        rules=s.rules,
        rule_names=rule_names(s.rules, rules),
        model_score=top.record.model_score,
        model_fired=_model_fired(s.rules, rules),
        activity=list(s.activity) or None,
        spans=sorted((v.record.first_ts, v.record.last_ts) for v in s.flows),
    )


# ---- EVE lines ---------------------------------------------------------------------------


def is_eve_file(path: str) -> bool:
    """A file whose first non-blank byte opens a JSON object: EVE lines, not a capture (a
    pcap or pcapng file starts with its magic number, never with "{")."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False  # the capture reader reports it, with its reason
    return head.lstrip()[:1] == b"{"


def from_eve(
    paths: list[Path], rules: RuleSet, efficiency: EfficiencyTable | None
) -> list[ReportSuspect]:
    """The miner alerts of EVE files (other events - crypto nodes, flows, stats - are
    skipped). A line that is not JSON, or a miner alert without what every minewatch alert
    carries, is bad input: ``InputError`` naming file and line."""
    rows = [
        _from_alert(event, rules, f"{path}:{number}")
        for path in paths
        for number, event in _events(path)
    ]
    return _finished(_merged_by_ip(rows), efficiency)


def _events(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        fh = path.open(encoding="utf-8", errors="strict")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        number = 0
        try:
            for number, line in enumerate(fh, 1):  # noqa: B007 - named in the error
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                if _is_mining_alert(event):
                    yield number, event
        except UnicodeDecodeError:
            raise InputError(f"{path}:{number + 1}: not UTF-8 text") from None


def _is_mining_alert(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("event_type") != "alert":
        return False
    alert = event.get("alert")
    return isinstance(alert, dict) and alert.get("category") == CATEGORY


def _from_alert(event: dict[str, Any], rules: RuleSet, where: str) -> ReportSuspect:
    """One miner alert's flat metadata (sinks/eve.py ``_mining_flat``) as a row."""
    meta = event["alert"].get("metadata")
    ip = event.get("src_ip")
    if not isinstance(meta, dict) or not isinstance(ip, str):
        raise InputError(f"{where}: a mining alert without src_ip or alert.metadata")

    def values(key: str) -> list[str]:
        got = meta.get(key, [])
        if not isinstance(got, list) or not all(isinstance(v, str) for v in got):
            raise InputError(f"{where}: alert.metadata.{key} is not a list of strings")
        return got

    def number(key: str) -> float | None:
        got = values(key)
        try:
            value = float(got[0]) if got else None
        except ValueError:
            raise InputError(f"{where}: alert.metadata.{key} is not a number") from None
        return value if value is None or math.isfinite(value) else None

    def when(key: str) -> float:
        got = values(key)
        if not got:
            raise InputError(f"{where}: alert.metadata.{key} is missing")
        return _eve_epoch(got[0], where, key)

    first, last = when("mining_first_seen"), when("mining_last_seen")
    ids = _rule_ids(values("rules"), where)
    flow = event.get("flow")
    spans = []
    if isinstance(flow, dict) and isinstance(flow.get("start"), str):
        start = _eve_epoch(flow["start"], where, "flow.start")
        end = (
            _eve_epoch(flow["end"], where, "flow.end")
            if isinstance(flow.get("end"), str)
            else start
        )
        spans.append((start, end))
    accepted = int(number("mining_accepted") or 0)
    nodes = values("mining_node_protocol")
    return ReportSuspect(
        ip=ip,
        first_seen=first,
        last_seen=last,
        role=_eve_role(
            values("mining_role"), values("mining_dialect"), values("mining_pool"), where
        ),  # fmt: skip
        nodes=nodes,
        flows=int(number("mining_flow_count") or 0),
        score=number("mining_score") or 0.0,
        dialects=values("mining_dialect"),
        coins=values("mining_coin"),
        algos=values("mining_algo"),
        pool_names=values("mining_pool"),
        pool_hosts=values("mining_pool_host"),
        pool_endpoints=values("mining_pool_endpoint"),
        agents=values("mining_agent"),
        wallets=values("mining_wallet"),
        logins=values("mining_login"),
        workers=values("mining_worker"),
        jobs=int(number("mining_jobs") or 0),
        submits=int(number("mining_submits") or 0),
        accepted=accepted,
        reported_hashrate=number("mining_hashrate_reported"),
        hashrate=_stated_rate(
            number("mining_hashrate_estimate"),
            number("mining_hashrate_low"),
            number("mining_hashrate_high"),
            (values("mining_hashrate_method") or [None])[0],
            int(_given(number("mining_hashrate_shares"), accepted)),
            _given(number("mining_hashrate_seconds"), last - first),
            "EVE",
        ),
        evidence=[
            flow_note(
                ip,
                event.get("src_port"),
                event.get("dest_ip"),
                event.get("dest_port"),
                event.get("proto"),
                (values("mining_dialect") or nodes or [None])[0],
                number("mining_score") or 0.0,
            ),
            *values("mining_evidence"),
        ],
        rules=ids,
        rule_names=rule_names(ids, rules),
        model_score=number("mining_model_score"),
        model_fired=_model_fired(ids, rules),
        activity=_activity(values("mining_activity"), where),
        spans=spans,
    )


def _eve_role(roles: list[str], dialects: list[str], pools: list[str], where: str) -> str:
    """``mining_role``: one of dialects.ROLES; an alert of a minewatch from before roles
    has none, and gets what role_of makes of its dialects and pool names."""
    if not roles:
        return role_of(frozenset(dialects), bool(pools))
    if roles[0] not in ROLES:
        raise InputError(f"{where}: mining_role {escape(roles[0], 60)!r} is not a role "
                         f"({', '.join(ROLES)})")  # fmt: skip
    return roles[0]


def _activity(texts: list[str], where: str) -> list[tuple[float, float, int, int]] | None:
    """``mining_activity``: "start/seconds/jobs/shares" buckets (sinks/eve.py); None when
    the alert has none (an older minewatch, or a miner whose jobs and shares nobody
    could read)."""
    buckets = []
    for text in texts:
        parts = text.split("/")
        try:
            start, width, jobs, shares = (
                float(parts[0]),
                float(parts[1]),
                int(parts[2]),
                int(parts[3]),
            )
        except (ValueError, IndexError):
            raise InputError(f"{where}: mining_activity {escape(text, 60)!r} is not "
                             "start/seconds/jobs/shares") from None  # fmt: skip
        if len(parts) != 4 or not (math.isfinite(start) and math.isfinite(width) and width > 0):
            raise InputError(f"{where}: mining_activity {escape(text, 60)!r} is not "
                             "start/seconds/jobs/shares")  # fmt: skip
        buckets.append((start, width, jobs, shares))
    return sorted(buckets) or None


def _given(value: float | None, otherwise: float) -> float:
    return otherwise if value is None else value


def _eve_epoch(text: str, where: str, key: str) -> float:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
    except ValueError:
        raise InputError(f"{where}: {key} {escape(text, 60)!r} is not an EVE timestamp") from None


def _rule_ids(texts: list[str], where: str) -> list[int]:
    try:
        return sorted({int(t) for t in texts})
    except ValueError:
        raise InputError(f"{where}: alert.metadata.rules holds a non-number") from None


# ---- the suspect store ------------------------------------------------------------------


def from_store(
    rows: Iterable[dict[str, Any]], rules: RuleSet, efficiency: EfficiencyTable | None
) -> list[ReportSuspect]:
    """Rows of ``SuspectStore.query`` (one per IP and window, each with its evidence flows)."""
    return _finished(_merged_by_ip([_from_row(row, rules) for row in rows]), efficiency)


def _from_row(row: dict[str, Any], rules: RuleSet) -> ReportSuspect:
    evidence = row.get("evidence") or []
    top = evidence[0] if evidence else None
    ids = sorted(int(i) for i in row["rules"])
    primary = top["dialect"] if top is not None else None
    nodes = list(row["nodes"])
    return ReportSuspect(
        ip=row["ip"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        role=row["role"],
        nodes=nodes,
        flows=row["flow_count"],
        score=row["score"],
        dialects=_primary_first(primary, list(row["dialects"])),
        coins=sorted(row["coins"]),
        algos=sorted(row["algos"]),
        pool_names=sorted(row["pool_names"]),
        pool_hosts=sorted(row["pool_hosts"]),
        pool_endpoints=list(row["pools"]),
        agents=sorted(row["agents"]),
        wallets=sorted(row["wallets"]),
        logins=sorted(row["logins"]),
        workers=sorted(row["workers"]),
        jobs=row["jobs"],
        submits=row["submits"],
        accepted=row["accepted"],
        reported_hashrate=row["reported_hashrate"],
        hashrate=_stated_rate(
            row.get("hashrate_estimate"),
            row.get("hashrate_low"),
            row.get("hashrate_high"),
            row.get("hashrate_method"),
            row["accepted"],
            row["last_seen"] - row["first_seen"],
            "the store",
        ),
        # the store keeps evidence flows, not their notes: name the strongest
        evidence=[
            flow_note(
                e["src_ip"],
                e["src_port"],
                e["dst_ip"],
                e["dst_port"],
                e["proto"],
                e["dialect"] or _first(nodes),
                e["score"],
            )
            for e in evidence[:1]
        ],
        rules=ids,
        rule_names=rule_names(ids, rules),
        model_score=None,
        model_fired=_model_fired(ids, rules),
        activity=[
            (float(b[0]), float(b[1]), int(b[2]), int(b[3])) for b in row.get("activity") or []
        ]
        or None,  # schema 3 on (a store written before keeps none)
        spans=sorted((e["flow_start"], e["flow_end"]) for e in evidence),
    )


def flow_note(
    src: Any, sport: Any, dst: Any, dport: Any, proto: Any, dialect: str | None, score: float
) -> str:
    """The strongest evidence flow in words (every input names it the same way)."""
    return (
        f"strongest flow {bracketed(str(src))}:{sport} -> {bracketed(str(dst))}:{dport} "
        f"{proto} ({dialect or 'miner'}, score {score:.2f})"
    )


# ---- shared -----------------------------------------------------------------------------


def rule_names(ids: list[int], rules: RuleSet) -> list[str]:
    """Each rule as "id name", from the rules loaded now (an alert written with other
    rules may name an id they lack: said so, not guessed)."""
    out = []
    for rule_id in ids:
        rule = rules.by_id(rule_id)
        out.append(f"{rule_id} {rule.name}" if rule else f"{rule_id} (not in the loaded rules)")
    return out


def _model_fired(ids: list[int], rules: RuleSet) -> bool:
    return any(MODEL_TAG in rule.tags for i in ids if (rule := rules.by_id(i)) is not None)


def _primary_first(primary: str | None, values: list[str]) -> list[str]:
    return [primary, *(v for v in values if v != primary)] if primary in values else values


def _stated_rate(
    hs: float | None,
    low: float | None,
    high: float | None,
    method: str | None,
    shares: int,
    seconds: float,
    where: str,
) -> HashrateEstimate:
    """A hashrate an input states (EVE metadata, a store row) as an estimate; the method
    says where it came from and that no interval came with it."""
    if hs is None:
        why = method or f"unknown: {where} holds no estimate for it"
        return HashrateEstimate(None, None, None, why, shares, max(seconds, 0.0))
    if method is None:
        method = "the scan's estimate from accepted shares"
    if low is None or high is None:
        method += f" (95 % interval {NOT_AVAILABLE}: {where})"
    return HashrateEstimate(hs, low, high, method, shares, max(seconds, 0.0))


def _merged_by_ip(rows: list[ReportSuspect]) -> list[ReportSuspect]:
    """Windows of one IP as one row (first seen order kept)."""
    by_ip: dict[str, ReportSuspect] = {}
    for row in sorted(rows, key=lambda r: (r.first_seen, r.ip)):
        mine = by_ip.get(row.ip)
        if mine is None:
            by_ip[row.ip] = row
        else:
            _merge_rows(mine, row)
    return list(by_ip.values())


def _merge_rows(a: ReportSuspect, b: ReportSuspect) -> None:
    """Fold a later window's row of the same IP into ``a``."""
    a.hashrate = _combined_rate(a, b)
    a.first_seen = min(a.first_seen, b.first_seen)
    a.last_seen = max(a.last_seen, b.last_seen)
    a.windows += b.windows
    a.flows += b.flows
    if b.score > a.score:
        a.score, a.evidence, a.model_score = b.score, b.evidence, b.model_score
        a.dialects = _union(b.dialects, a.dialects)
    else:
        a.dialects = _union(a.dialects, b.dialects)
    for name in ("coins", "algos", "pool_names", "pool_hosts", "agents", "wallets", "logins",
                 "workers", "nodes"):  # fmt: skip
        setattr(a, name, sorted(set(getattr(a, name)) | set(getattr(b, name))))
    a.role = merged_role(a.role, b.role, frozenset(a.dialects), bool(a.pool_names))
    a.pool_endpoints = _union(a.pool_endpoints, b.pool_endpoints)[:MAX_ENDPOINTS]
    a.jobs += b.jobs
    a.submits += b.submits
    a.accepted += b.accepted
    if b.reported_hashrate is not None:
        a.reported_hashrate = max(a.reported_hashrate or 0.0, b.reported_hashrate)
    names = dict(zip(a.rules, a.rule_names, strict=True))
    names.update(zip(b.rules, b.rule_names, strict=True))
    a.rules = sorted(names)
    a.rule_names = [names[i] for i in a.rules]
    a.model_fired = a.model_fired or b.model_fired
    a.spans = sorted(a.spans + b.spans)
    if a.activity is not None or b.activity is not None:  # exact (activity.py)
        a.activity = activity.merge(a.activity, b.activity, activity.SUSPECT_CAP)


def _combined_rate(a: ReportSuspect, b: ReportSuspect) -> HashrateEstimate | None:
    """Two windows' rates as one: hashes (rate x span) over the spans added up."""
    ra, rb = a.hashrate, b.hashrate
    if (ra is None or ra.hs is None) and (rb is None or rb.hs is None):
        if ra is None or rb is None or ra.method == rb.method:
            return ra or rb
        return HashrateEstimate(None, None, None, f"{ra.method}; {rb.method}",
                                ra.shares + rb.shares, ra.seconds + rb.seconds)  # fmt: skip
    if ra is None or ra.hs is None:
        return rb
    if rb is None or rb.hs is None:
        return ra
    seconds = ra.seconds + rb.seconds
    if seconds <= 0:
        return ra

    def mean(x: float | None, y: float | None) -> float | None:
        if x is None or y is None:
            return None
        return (x * ra.seconds + y * rb.seconds) / seconds

    method = ra.method if ra.method == rb.method else f"{ra.method}; {rb.method}"
    return HashrateEstimate(
        mean(ra.hs, rb.hs), mean(ra.low, rb.low), mean(ra.high, rb.high),
        method + " (windows combined)" if "combined" not in method else method,
        ra.shares + rb.shares, seconds,
    )  # fmt: skip


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def _union(first: list[str], second: list[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


def _finished(rows: list[ReportSuspect], efficiency: EfficiencyTable | None) -> list[ReportSuspect]:
    """Energy per miner (from its merged rate), rows in first-seen order."""
    for row in rows:
        if efficiency is not None and row.hashrate is not None:
            row.energy = energy_of(
                row.hashrate,
                row.algos[0] if row.algos else None,
                row.coins[0] if row.coins else None,
                row.agents[0] if row.agents else None,
                efficiency,
                row.first_seen,
            )
    return sorted(rows, key=lambda r: (r.first_seen, r.ip))


def input_kind(paths: list[str]) -> str:
    """Which input this is: "eve" when every input is a file of EVE lines, "captures"
    when none is; a mix is refused (one report reads one kind of input)."""
    eve = [p for p in paths if p != "-" and Path(p).is_file() and is_eve_file(p)]
    if not eve:
        return "captures"
    if len(eve) != len(paths):
        others = [p for p in paths if p not in eve]
        raise InputError(
            f"{escape(others[0])}: not EVE lines, and {escape(eve[0])} is: one report reads "
            "captures or EVE files, not both"
        )
    return "eve"
