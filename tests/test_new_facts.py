"""facts.new_facts (the compiled fresh_copy of a prototype) and its pure twin
py_new_facts make the facts FlowFacts() makes (py_new_facts is written out field by
field for speed: a field added to FlowFacts or SideFacts but not to it fails here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import pytest

from detector.compiled import fast
from detector.facts import FlowFacts, SideFacts, new_facts, py_new_facts

MAKERS = pytest.mark.parametrize("make", [new_facts, py_new_facts], ids=["new", "pure"])


def _same(made: object, wanted: object) -> None:
    for f in fields(wanted):  # type: ignore[arg-type]
        value, default = getattr(made, f.name), getattr(wanted, f.name)
        assert type(value) is type(default) and value == default, f.name


@MAKERS
def test_new_facts_equal_the_dataclass_defaults_field_by_field(
    make: Callable[[], FlowFacts],
) -> None:
    made, wanted = make(), FlowFacts()
    assert made == wanted
    _same(made, wanted)
    for side in (0, 1):
        assert type(made.sides[side]) is SideFacts
        _same(made.sides[side], wanted.sides[side])


@MAKERS
def test_new_facts_share_no_container(make: Callable[[], FlowFacts]) -> None:
    a, b = make(), make()
    for f in fields(FlowFacts):
        value = getattr(a, f.name)
        if isinstance(value, (dict, list, set)):
            assert value is not getattr(b, f.name), f.name
    assert a.sides is not b.sides and a.sides[0] is not a.sides[1]
    assert a.sides[0].methods is not a.sides[1].methods
    a.tls["sni"] = "x"
    a.app_protos.add("tls")
    a.sides[0].methods["mining.submit"] = 1
    assert b == FlowFacts() and make() == FlowFacts()


@dataclass(slots=True)
class _Slotted:
    empty: dict[str, int]
    full: list[int]
    name: str | None
    unset: int = 0


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
def test_fresh_copy_copies_slots_with_new_empty_containers() -> None:
    proto = _Slotted({}, [1], "x")
    del proto.unset
    made = fast.fresh_copy(proto)
    assert type(made) is _Slotted and made.empty == {} and made.empty is not proto.empty
    assert made.full is proto.full and made.name == "x"  # only empty ones are new
    with pytest.raises(AttributeError):
        _ = made.unset  # unset in the prototype: unset in the copy
    for wrong in (FlowFacts, object(), {"a": 1}):  # a class, no slots, a built-in type
        with pytest.raises(TypeError):
            fast.fresh_copy(wrong)
