"""network_of remembers its answers (the same few names are asked about for every DNS
answer and flow), bounded however many names a hostile capture asks about."""

from __future__ import annotations

import pytest

from detector import netnames
from detector.config import Detector, ScanConfig


def test_network_of_memo_answers_as_the_lookup_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = Detector.load(ScanConfig()).names
    names.memo.clear()
    monkeypatch.setattr(netnames, "MAX_MEMO", 50)
    known = sorted(names.index)[:20]
    asked = [*known, *(f"sub.{n}" for n in known), *(f"h{i}.example.com" for i in range(200))]
    asked += [n.upper() + "." for n in known]  # as a DNS answer may spell them
    for _ in range(2):
        for host in asked:
            assert names.network_of(host) == names._lookup(host), host
            assert len(names.memo) <= 50
    assert any(names.network_of(n) for n in known)  # the lists do name some of them
