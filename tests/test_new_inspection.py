"""inspector.new_inspection (the compiled fresh_copy of prototypes) makes the state
FlowInspection's __init__ makes - its pure twin - for every slot of it, its sides'
and their reassemblers', and shares no container with another flow's."""

from __future__ import annotations

import pytest

from detector.compiled import fast
from detector.dissect.inspector import (
    FlowInspection,
    InspectConfig,
    _copied_inspection,
    new_inspection,
)

pytestmark = pytest.mark.skipif(fast is None, reason="compiled helpers not built")


def _slots(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in type(obj).__slots__}


def test_copied_inspection_is_the_init_state() -> None:
    assert new_inspection is _copied_inspection
    config = InspectConfig(bytes_per_side=1234)
    made = _copied_inspection(config, True, (80, 51000), 7)
    wanted = FlowInspection(config, True, (80, 51000), 7)
    got, want = _slots(made), _slots(wanted)
    sides, wanted_sides = got.pop("sides"), want.pop("sides")
    assert got == want
    for side, wanted_side in zip(sides, wanted_sides, strict=True):  # type: ignore[call-overload]
        got_side, want_side = _slots(side), _slots(wanted_side)
        stream, wanted_stream = got_side.pop("stream"), want_side.pop("stream")
        assert got_side == want_side and got_side["budget"] == 1234
        assert _slots(stream) == _slots(wanted_stream)


def test_copied_inspections_share_no_container() -> None:
    config = InspectConfig()
    one, two = _copied_inspection(config, False, (1, 2)), _copied_inspection(config, False, (1, 2))
    assert one.dissectors is not two.dissectors and one.sides[0] is not one.sides[1]
    assert one.sides[0].stream is not one.sides[1].stream
    assert one.sides[0].stream.pending is not one.sides[1].stream.pending
    assert one.sides[0].stream.pending is not two.sides[0].stream.pending
    one.sides[0].stream.pending[5] = (b"x", 1)
    one.sides[0].done = True
    three = _copied_inspection(config, False, (1, 2))
    assert three.sides[0].stream.pending == {} and not three.sides[0].done


def test_copied_first_packets_are_the_init_state() -> None:
    """tls.flow.new_first_packets (fresh_copy of a prototype) makes what FirstPackets'
    __init__ makes, with lists and facts of its own."""
    from detector.dissect.tls.flow import FirstPackets, _copied_first_packets, new_first_packets

    assert new_first_packets is _copied_first_packets
    made, wanted = _copied_first_packets((443, 51000)), FirstPackets((443, 51000))
    got, want = _slots(made), _slots(wanted)
    assert repr(got.pop("facts")) == repr(want.pop("facts"))
    assert got == want
    other = _copied_first_packets((1, 2))
    for name in ("facts", "app_records", "hello", "taken"):
        assert getattr(made, name) is not getattr(other, name), name
    made.taken[0] = 5
    made.facts.app_protos.add("tls")
    assert _copied_first_packets((1, 2)).taken == [-1, -1]
    assert not _copied_first_packets((1, 2)).facts.app_protos
