"""StreamDissector.switches / flushes say whether a class has an ``upgraded`` / an
``on_expire`` of its own: the inspector calls neither where the class has the base's
(which does nothing), so a class that has its own must say so - its switch or its flush
would otherwise be lost."""

from __future__ import annotations

from detector.dissect.base import StreamDissector, Upgrade
from detector.dissect.http import Http
from detector.dissect.inspector import STREAM_DISSECTORS
from detector.dissect.jsonlines import JsonLines
from detector.dissect.nodes import CryptoNode
from detector.dissect.starttls import StartTls
from detector.dissect.tunnel import Socks
from detector.dissect.websocket import WebSocket
from detector.facts import FlowFacts


def test_the_flags_follow_the_methods_of_every_dissector() -> None:
    for cls in (*STREAM_DISSECTORS, WebSocket):
        assert cls.switches is (cls.upgraded is not StreamDissector.upgraded), cls
        assert cls.flushes is (cls.on_expire is not StreamDissector.on_expire), cls
    assert Http.switches and StartTls.switches and Socks.switches
    assert not JsonLines.switches and not CryptoNode.switches
    assert Http.flushes and JsonLines.flushes and not CryptoNode.flushes


def test_a_subclass_gets_its_own_flags() -> None:
    class Switching(CryptoNode):
        def upgraded(self, side: int) -> Upgrade | None:
            return Upgrade("test", b"")

    class Flushing(Switching):
        def on_expire(self, facts: FlowFacts) -> None:
            facts.gaps += 1

    assert Switching.switches and not Switching.flushes
    assert Flushing.switches and Flushing.flushes
    assert not CryptoNode.switches  # the parent's stay as they were


def test_the_base_methods_skipped_do_nothing() -> None:
    facts = FlowFacts()
    before = repr(facts)
    base = StreamDissector.__new__(StreamDissector)
    assert base.upgraded(0) is None and base.upgraded(1) is None
    base.on_expire(facts)
    assert repr(facts) == before
