"""enrich_all remembers per server address whether the pool lists may hold it
(Intel.asked): a flow to a listed address is matched "ip" however often the address
comes back and whatever came between, one to an unlisted address never, and the memory
stays within its bound."""

from __future__ import annotations

from detector import enrich as enrich_mod
from detector.enrich import Intel, enrich_all, load_coin_tables
from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.pdns import PassiveDns
from detector.pools import PoolEntry, PoolList
from tests.conftest import REPO

LISTED = "198.51.100.7"


def _intel() -> Intel:
    pools = PoolList([PoolEntry(LISTED, 3333, "stratum+tcp", "p", "XMR", False, "t:1")])
    return Intel(
        coins=load_coin_tables(REPO / "signatures" / "coins.yaml"), pools=pools, pdns=PassiveDns()
    )


def _record(server_ip: str) -> FlowRecord:
    return FlowRecord(1, "TCP", "10.0.0.1", 40000, server_ip, 3333, 0.0, 1.0, 1, 1, 100, 100,
                      10, 10, "syn", "end", FlowFacts())  # fmt: skip


def _via(record: FlowRecord) -> str | None:
    assert record.facts is not None
    return record.facts.pool.get("via")


def test_a_listed_address_is_matched_each_time_an_unlisted_one_never() -> None:
    intel = _intel()
    for _ in range(3):  # first asked, then remembered (in one batch and across batches)
        batch = [_record(ip) for ip in (LISTED, "203.0.113.1", LISTED, "", "2001:db8::1")]
        enrich_all(batch, intel)
        assert [_via(r) for r in batch] == ["ip", None, "ip", None, None]
    assert intel.asked[LISTED] is True and intel.asked["203.0.113.1"] is False


def test_the_memory_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(enrich_mod, "_ASKED_MEMO", 8)
    intel = _intel()
    for i in range(50):
        batch = [_record(f"203.0.113.{i}"), _record(LISTED)]
        enrich_all(batch, intel)
        assert len(intel.asked) <= 8
        assert [_via(r) for r in batch] == [None, "ip"]
