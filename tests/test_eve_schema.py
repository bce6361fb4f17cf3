"""minewatch's EVE is what Suricata's own schema accepts: every line of a scan over the
fixtures and the whole corpus validates against ``etc/schema.json`` (tests/data, Draft
2020-12); ``--eve-extended`` writes the same events plus the full record, which breaks the
schema for that one documented reason and no other; the flat form in ``alert.metadata``
says what the full record says."""

from __future__ import annotations

import json

import pytest

from detector.sinks.common import CATEGORY, NODE_CATEGORY
from tests.conftest import (
    CORPUS,
    PCAPS,
    assert_only_known_unread,
    eve_errors,
    eve_validator,
    meta,
    run_cli,
)

INPUTS = [str(PCAPS)] + ([str(CORPUS)] if CORPUS.is_dir() else [])


def _scan(*options: str, inputs: list[str] = INPUTS) -> list[dict]:
    result = run_cli("scan", "-f", "jsonl", "-q", "-j", "2", *options, *inputs, timeout=600)
    assert_only_known_unread(result.rc, result.err, CORPUS.is_dir() and inputs == INPUTS)
    return [json.loads(line) for line in result.out.splitlines()]


@pytest.fixture(scope="module")
def plain() -> list[dict]:
    return _scan()


@pytest.fixture(scope="module")
def extended() -> list[dict]:
    return _scan("--eve-extended")


def _failures(events: list[dict]) -> list[tuple[int, list[str]]]:
    return [(i, [e.message for e in errors]) for i, event in enumerate(events)
            if (errors := eve_errors(event))]


def test_the_schema_is_suricatas_and_closes_the_top_level() -> None:
    schema = eve_validator().schema
    assert schema["additionalProperties"] is False and schema["required"] == ["event_type", "timestamp"]
    tls = schema["properties"]["tls"]["properties"]
    assert tls["ja3"]["properties"].keys() == {"hash", "string"}
    # A top-level object of our own is what the schema refuses...
    assert eve_errors({"event_type": "alert", "timestamp": "2017-01-17T12:17:01.797845+0000",
                       "mining": {}})
    # ... and a JA3 as a bare string (minewatch's shape before).
    assert eve_errors({"event_type": "alert", "timestamp": "2017-01-17T12:17:01.797845+0000",
                       "tls": {"ja3": "0" * 32}})


def test_every_eve_line_of_the_fixtures_and_the_corpus_validates(plain: list[dict]) -> None:
    assert _failures(plain) == []
    categories = [e["alert"]["category"] for e in plain if e["event_type"] == "alert"]
    assert len(categories) == len(plain)  # alerts only: miners and crypto nodes
    mining, nodes = categories.count(CATEGORY), categories.count(NODE_CATEGORY)
    assert mining >= 40 and mining + nodes == len(plain)
    if CORPUS.is_dir():
        assert nodes >= 5
        # the shapes that moved are exercised: JA3/JA3S objects, a crypto node's metadata
        tls = [e["tls"] for e in plain if "tls" in e]
        assert any(set(t.get("ja3", {})) == {"hash", "string"} for t in tls)
        assert any(meta(e, "node_protocol") for e in plain)
    print(f"validated {len(plain)} EVE lines ({mining} mining alerts, {nodes} crypto-node "
          "alerts): 0 failures")


def test_extended_lines_are_a_superset_that_fails_only_for_the_record(
    plain: list[dict], extended: list[dict]
) -> None:
    assert len(extended) == len(plain)
    for short, long in zip(plain, extended, strict=True):
        field = "mining" if short["alert"]["category"] == CATEGORY else "node"
        assert set(long) - set(short) == {field}
        assert {k: v for k, v in long.items() if k != field} == short
        (error,) = eve_errors(long)
        assert error.validator == "additionalProperties" and list(error.path) == []
        assert repr(field) in error.message


def test_as_found_lines_validate() -> None:
    events = _scan("--as-found", inputs=[str(PCAPS)])
    assert len(events) >= 30 and _failures(events) == []


def test_the_flat_form_says_what_the_record_says(extended: list[dict]) -> None:
    for event in extended:
        if "mining" in event:
            m = event["mining"]
            assert meta(event, "mining_dialect")[:1] == ([m["dialect"]] if m["dialect"] else [])
            assert sorted(meta(event, "mining_dialect")) == m["dialects"]
            for key in ("coin", "pool", "agent", "login", "wallet", "worker"):
                assert meta(event, f"mining_{key}")[:1] == ([m[key]] if m[key] else []), key
            assert meta(event, "mining_algo") == m["algo"]
            assert meta(event, "mining_pool_host") == m["pool_hosts"]
            assert meta(event, "mining_pool_endpoint") == m["pools"]
            for key in ("jobs", "submits", "accepted", "flow_count"):
                assert meta(event, f"mining_{key}") == [str(m[key])], key
            for key in ("hashrate_reported", "hashrate_estimate", "hashrate_low",
                        "hashrate_high", "hashrate_seconds", "score"):
                value = meta(event, f"mining_{key}")
                assert (float(value[0]) if value else None) == m[key], key
            assert meta(event, "mining_hashrate_method") == [m["hashrate_method"]]
            assert meta(event, "mining_hashrate_shares") == [str(m["hashrate_shares"])]
            assert meta(event, "mining_activity") == [
                f"{start:.0f}/{width:.0f}/{jobs}/{shares}" for start, width, jobs, shares in
                m["activity"]]
            assert sum(b[2] for b in m["activity"]) == m["jobs"]
            assert sum(b[3] for b in m["activity"]) == m["submits"]
            assert meta(event, "mining_first_seen") == [m["first_seen"]]
            assert meta(event, "mining_last_seen") == [m["last_seen"]]
            assert meta(event, "mining_evidence") == m["evidence"]
            assert meta(event, "mining_flow_id") == [str(f["flow_id"]) for f in m["flows"]]
            assert meta(event, "mining_community_id") == [f["community_id"] for f in m["flows"]]
        else:
            n = event["node"]
            assert event["alert"]["signature_id"] == n["signature_id"]
            assert event["alert"]["signature"] == n["signature"]
            assert meta(event, "node_protocol") == [n["protocol"]]
            assert meta(event, "node_network") == ([n["network"]] if n["network"] else [])
            assert meta(event, "node_peer") == n["peers"]
            assert meta(event, "node_port") == [str(p) for p in n["ports"]]
            assert meta(event, "node_peer_count") == [str(n["peer_count"])]
            assert meta(event, "node_flow_count") == [str(n["flow_count"])]
            assert meta(event, "node_user_agent") == n["user_agents"]
            assert meta(event, "node_command") == n["commands"]
        for values in event["alert"]["metadata"].values():
            assert values and all(isinstance(v, str) for v in values)
