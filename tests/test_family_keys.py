"""The compiled family_keys (csrc/records.c) against its twin, fields.family_keys_python:
the same keys, item for item and type for type, for random records - facts or none, model
scores and alerts, behaviours, every fact family in random shapes (unknown app and
dialect names, node values of any type and case, a TLS SNI of None, facts held in
mappings that are not dicts) - and for every record of the fixture captures as a scan
enriches and scores them; the same error for a record without a field."""

from __future__ import annotations

import random
from collections import UserDict
from typing import Any

import pytest

from detector.compiled import fast
from detector.config import Detector, ScanConfig
from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.replay import scan_capture
from detector.rules import fields
from detector.rules.engine import RuleSet
from detector.rules.fields import _APP, _DIALECT, _prefixed, family_keys_python
from detector.source import expand_inputs
from tests.conftest import PCAPS

pytestmark = pytest.mark.skipif(fast is None, reason="compiled helpers not built")

PORTS = frozenset({3333, 4444, 8444})
APPS = ["tls", "http", "json", "stratum", "dns", "crypto-node", "quic", "brand-new-app"]
DIALECTS = ["stratum-v1", "cryptonote", "eth-proxy", "getwork-http", "a-new-dialect"]


def _compiled(records: list[Any]) -> list[tuple[Any, ...]]:
    assert fast is not None
    return fast.family_keys(records, PORTS, _APP, _DIALECT, _prefixed)  # type: ignore[no-any-return]


def _some(rng: random.Random, pool: list[str]) -> set[str]:
    return set(rng.sample(pool, rng.randint(0, 3)))


def _random_facts(rng: random.Random) -> FlowFacts:
    f = FlowFacts()
    f.app_protos = _some(rng, APPS)
    f.dialects = _some(rng, DIALECTS)
    if rng.random() < 0.2:  # (other collections than sets: the generic walk)
        f.app_protos = sorted(f.app_protos)  # type: ignore[assignment]
        f.dialects = frozenset(f.dialects) if rng.random() < 0.5 else tuple(f.dialects)  # type: ignore[assignment]
    values = [None, "Ethereum-DevP2P", "chia", 7, "", "MiXeD"]
    node: dict[str, Any] = {}
    for key in ("protocol", "name_network", "other"):
        if rng.random() < 0.4:
            node[key] = rng.choice(values)
    f.node = UserDict(node) if rng.random() < 0.2 else node  # type: ignore[assignment]
    f.pool = {"name": "p"} if rng.random() < 0.3 else {}
    f.http = {"host": "h"} if rng.random() < 0.3 else {}
    tls: dict[str, Any] = {}
    if rng.random() < 0.6:
        tls["version"] = "1.3"
        if rng.random() < 0.7:
            tls["sni"] = rng.choice(["a.example", None, ""])
    f.tls = UserDict(tls) if rng.random() < 0.1 else tls  # type: ignore[assignment]
    f.hosts = ["a.example"] if rng.random() < 0.5 else []
    f.agent = rng.choice([None, "", "xmrig/6"])
    return f


def _random_record(rng: random.Random) -> FlowRecord:
    return FlowRecord(
        1, "TCP", "10.0.0.1", 40000, "10.0.0.2", rng.choice([80, 443, 3333, 4444, 8444]),
        0.0, 1.0, 1, 1, 10, 10, 1, 1, "syn", "end",
        None if rng.random() < 0.15 else _random_facts(rng),
        behaviour=rng.choice([None, b"x"]),
        model_score=rng.choice([None, 0.0, 0.93]),
        model_alert=rng.random() < 0.3,
    )  # fmt: skip


def _same(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    assert a == b
    for ka, kb in zip(a, b, strict=True):
        assert [type(x) for x in ka] == [type(x) for x in kb]


def test_random_records_get_the_twin_s_keys() -> None:
    rng = random.Random(38)
    for _ in range(200):
        records = [_random_record(rng) for _ in range(rng.randint(0, 30))]
        _same(_compiled(records), family_keys_python(records, PORTS))


def test_names_not_seen_yet_are_made_by_prefixed_and_kept(monkeypatch) -> None:
    monkeypatch.setattr(fields, "_APP", {})
    monkeypatch.setattr(fields, "_DIALECT", {})
    f = FlowFacts()
    f.app_protos, f.dialects = {"zz-new"}, {"zz-dialect"}
    records = [FlowRecord(1, "TCP", "a", 1, "b", 2, 0.0, 1.0, 1, 1, 1, 1, 1, 1, "syn", "end", f)]
    assert fast is not None
    keys = fast.family_keys(records, PORTS, fields._APP, fields._DIALECT, _prefixed)
    assert keys == [("app:zz-new", "dialects", "dialect:zz-dialect")]
    assert fields._APP == {"zz-new": "app:zz-new"}
    assert fields._DIALECT == {"zz-dialect": "dialect:zz-dialect"}


class _Slotless:
    """A record-like object without ``facts``: both raise AttributeError."""

    model_score = None
    server_port = 1


def test_a_record_without_a_field_raises_as_the_twin_does() -> None:
    with pytest.raises(AttributeError):
        family_keys_python([_Slotless()], PORTS)  # type: ignore[list-item]
    with pytest.raises(AttributeError):
        _compiled([_Slotless()])


def test_the_fixture_captures_records_get_the_twin_s_keys(monkeypatch) -> None:
    """Every batch a scan of pcaps/ evaluates, as evaluate_all sees it (enriched and
    scored), with the ports the shipped rules name."""
    batches: list[tuple[list[FlowRecord], frozenset[int]]] = []
    evaluate_all = RuleSet.evaluate_all

    def spy(self: RuleSet, records: Any) -> list[list[Any]]:
        records = list(records)
        batches.append((records, self._ports))
        return evaluate_all(self, records)

    monkeypatch.setattr(RuleSet, "evaluate_all", spy)
    config = ScanConfig()
    detector = Detector.load(config)
    for capture in expand_inputs([str(PCAPS)]):
        scan_capture(capture, config, detector)
    assert sum(len(records) for records, _ in batches) > 100
    for records, ports in batches:
        assert fast is not None
        got = fast.family_keys(records, ports, _APP, _DIALECT, _prefixed)
        _same(got, family_keys_python(records, ports))
