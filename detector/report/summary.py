"""The report's numbers: owners applied to the suspects, the summary and the entity table.

Definitions (issue 18), so that anyone can recompute them from a scan's EVE lines:

* **screened**: distinct internal hosts seen in the traffic (owners.py says what is
  internal); only a scan of captures knows it;
* **mining IPs**: distinct suspect IPs (EVE: distinct ``src_ip`` of the miner alerts),
  but those whose role is ``crypto-node`` - node hosts that a site's policy made suspects
  (``--nodes-as-suspects``) mine nothing: they are counted apart (**node IPs**);
* **entities**: distinct owners (owners file ``entity``) of the mining IPs; mining IPs in
  no owners prefix are counted apart as unknown address space, never as an entity;
* **coins**: distinct coins of the suspects; **pools**: distinct pool endpoints
  (``ip:port``, EVE ``mining_pool_endpoint``), their list names beside;
* **kWh/day**: the sum of the suspects' energy ranges (low ends, high ends); miners
  whose hashrate or algorithm is unknown add nothing, and are counted as such.

Hashrates add up only within one algorithm (a RandomX hash is not a SHA-256 hash), so an
entity's hashrate is a sum per algorithm.
"""

from __future__ import annotations

import time

from detector.dialects import CRYPTO_NODE
from detector.owners import OwnerMap
from detector.report.data import (
    UNKNOWN_SPACE,
    Collected,
    EntityRow,
    RateSum,
    Report,
    ReportSuspect,
    Summary,
)


def build_report(
    collected: Collected, owners: OwnerMap, owners_name: str, now: float | None = None
) -> Report:
    """The whole report from what an input gave and the owners map."""
    suspects = collected.suspects
    for s in suspects:
        owner = owners.owner_of(s.ip)
        if owner is None:
            s.entity, s.department, s.contact = UNKNOWN_SPACE, "", ""
        else:
            s.entity, s.department, s.contact = owner.entity, owner.department, owner.contact
    entities = entity_rows(suspects)
    return Report(
        source=collected.source,
        owners=owners_name,
        generated=time.time() if now is None else now,
        summary=summarise(collected, entities),
        entities=entities,
        suspects=suspects,
        activity_available=collected.activity_available,
    )


def summarise(collected: Collected, entities: list[EntityRow]) -> Summary:
    suspects = collected.suspects
    miners = [s for s in suspects if s.role != CRYPTO_NODE]
    with_energy = [s.energy for s in suspects if s.energy is not None]
    return Summary(
        screened=collected.screened,
        screened_overflow=collected.screened_overflow,
        mining_ips=len({s.ip for s in miners}),
        node_ips=len({s.ip for s in suspects} - {s.ip for s in miners}),
        entities=sum(1 for e in entities if e.known),
        unknown_ips=len({s.ip for s in miners if s.entity == UNKNOWN_SPACE}),
        coins=sorted({c for s in suspects for c in s.coins}),
        pools=sorted({p for s in suspects for p in s.pool_endpoints}),
        pool_names=sorted({p for s in suspects for p in s.pool_names}),
        kwh_day_low=sum(e.kwh_day_low for e in with_energy),
        kwh_day_high=sum(e.kwh_day_high for e in with_energy),
        energy_unknown=sum(1 for s in miners if s.energy is None),
        first_seen=min((s.first_seen for s in suspects), default=None),
        last_seen=max((s.last_seen for s in suspects), default=None),
    )


def entity_rows(suspects: list[ReportSuspect]) -> list[EntityRow]:
    """One row per owner, the most miners first (then by name); the unknown address
    space last."""
    groups: dict[str, list[ReportSuspect]] = {}
    for s in suspects:
        groups.setdefault(s.entity, []).append(s)
    rows = [_entity(name, members) for name, members in groups.items()]
    rows.sort(key=lambda r: (not r.known, -len(r.ips), r.entity))
    return rows


def _entity(name: str, members: list[ReportSuspect]) -> EntityRow:
    energies = [s.energy for s in members if s.energy is not None]
    miners = [s for s in members if s.role != CRYPTO_NODE]
    return EntityRow(
        entity=name,
        departments=sorted({s.department for s in members if s.department}),
        contacts=sorted({s.contact for s in members if s.contact}),
        ips=[s.ip for s in members],
        coins=sorted({c for s in members for c in s.coins}),
        pools=sorted({p for s in members for p in pool_labels(s)}),
        rates=rate_sums(miners),  # a node host (by policy) has no hashrate to add
        kwh_day_low=sum(e.kwh_day_low for e in energies),
        kwh_day_high=sum(e.kwh_day_high for e in energies),
        energy_unknown=sum(1 for s in miners if s.energy is None),
        known=name != UNKNOWN_SPACE,
    )


def pool_labels(s: ReportSuspect) -> list[str]:
    """How a suspect's pools are best named: list names, else host names, else the
    endpoints it mined at."""
    return s.pool_names or s.pool_hosts or s.pool_endpoints


def rate_sums(members: list[ReportSuspect]) -> list[RateSum]:
    """Hashrate per algorithm: best estimates and interval ends added up."""
    sums: dict[str, RateSum] = {}
    for s in members:
        algo = s.algo
        entry = sums.setdefault(algo, RateSum(algo, 0.0, 0.0, 0.0, 0, 0))
        rate = s.hashrate
        if rate is None or rate.hs is None:
            entry.unknown += 1
            continue
        entry.known += 1
        entry.hs += rate.hs
        entry.low += rate.low if rate.low is not None else rate.hs
        entry.high += rate.high if rate.high is not None else rate.hs
    return sorted(sums.values(), key=lambda r: (r.known == 0, r.algo))
