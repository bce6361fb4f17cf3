"""facts.new_facts makes the facts FlowFacts() makes, field by field (it is written out
for speed: a field added to FlowFacts or SideFacts but not to it fails here)."""

from __future__ import annotations

from dataclasses import fields

from detector.facts import FlowFacts, SideFacts, new_facts


def _same(made: object, wanted: object) -> None:
    for f in fields(wanted):  # type: ignore[arg-type]
        value, default = getattr(made, f.name), getattr(wanted, f.name)
        assert type(value) is type(default) and value == default, f.name


def test_new_facts_equal_the_dataclass_defaults_field_by_field() -> None:
    made, wanted = new_facts(), FlowFacts()
    assert made == wanted
    _same(made, wanted)
    for side in (0, 1):
        assert type(made.sides[side]) is SideFacts
        _same(made.sides[side], wanted.sides[side])


def test_new_facts_share_no_container() -> None:
    a, b = new_facts(), new_facts()
    for f in fields(FlowFacts):
        value = getattr(a, f.name)
        if isinstance(value, (dict, list, set)):
            assert value is not getattr(b, f.name), f.name
    assert a.sides is not b.sides and a.sides[0] is not a.sides[1]
    assert a.sides[0].methods is not a.sides[1].methods
    a.tls["sni"] = "x"
    a.sides[0].methods["mining.submit"] = 1
    assert b == FlowFacts()
