"""CoinTables.wallet_coin remembers its answers by token: asked again, or after other
tokens, it answers as the walk over every wallet pattern does; the memory is bounded and
no part of the tables' value (repr, equality)."""

from __future__ import annotations

from detector.enrich import load_coin_tables, split_login
from tests.conftest import REPO

TOKENS = [
    "4" + "A" * 94,  # XMR
    "0x" + "ab" * 20,  # ETH
    "0x" + "ab" * 20 + ".rig1",
    "R" + "a" * 33,  # RVN and RTM share a shape: the first listed wins
    "worker1",
    "",
    "kaspa:" + "q" * 61,
    "bc1" + "q" * 39,
    "4" + "A" * 94 + "+50000",
]


def tables():
    return load_coin_tables(REPO / "signatures" / "coins.yaml")


def test_remembered_answers_are_the_walk_s():
    t = tables()
    for _ in range(3):  # first asked, then remembered
        for token in TOKENS:
            assert t.wallet_coin(token) == t._wallet_coin(token)
            assert split_login(token, t) == split_login(token, tables())


def test_memory_is_bounded_and_outside_the_value():
    t, fresh = tables(), tables()
    for i in range(5000):
        t.wallet_coin(f"user{i}")
    assert len(t._coin_of) <= 4096
    assert t.wallet_coin("4" + "A" * 94) == "XMR"
    assert t == fresh and repr(t) == repr(fresh)
