"""enrich_all's shortcuts give the answers of the long way: it remembers per server
address whether the pool lists may hold it (Intel.asked) - a flow to a listed address is
matched "ip" however often the address comes back and whatever came between, one to an
unlisted address never, and the memory stays within its bound - and it matches an SNI
that is the one name of a flow without calling _match_pool, with _match_pool's answer."""

from __future__ import annotations

from detector import enrich as enrich_mod
from detector.enrich import Intel, _match_pool, enrich_all, load_coin_tables
from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.pdns import PassiveDns
from detector.pools import PoolEntry, PoolList
from tests.conftest import REPO

LISTED = "198.51.100.7"


def _intel() -> Intel:
    pools = PoolList(
        [
            PoolEntry(LISTED, 3333, "stratum+tcp", "p", "XMR", False, "t:1"),
            PoolEntry("pool.example", 443, "stratum+ssl", "q", "ETC", False, "t:2"),
            PoolEntry("pool.example", None, "stratum+tcp", "q", None, False, "t:3"),
            PoolEntry("wild.example", None, "wss", "w", None, True, "t:4"),
        ]
    )
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


def _tls_record(sni: object, port: int, **tls: object) -> FlowRecord:
    record = _record("203.0.113.9")
    record.server_port = port
    assert record.facts is not None
    record.facts.tls = {"sni": sni, **tls}
    record.facts.app_protos = {"tls"}
    return record


def test_an_sni_alone_is_matched_as_match_pool_matches_it() -> None:
    intel = _intel()
    shapes = [
        ("pool.example", 443, {}),  # endpoint
        ("pool.example", 3333, {}),  # host
        ("a.wild.example", 443, {}),  # suffix
        ("POOL.example.", 443, {}),
        ("nothing.example", 443, {}),
        ("pool.example", 80, {"tunnel_port": 443}),  # a tunnel's port: the long way
        ("pool.example", 80, {"tunnel_port": "443"}),
        ("pool.example:443", 80, {}),  # a port in the name: the long way
    ]
    for sni, port, extra in shapes:
        short = _tls_record(sni, port, **extra)
        enrich_all([short], intel)
        long = _tls_record(sni, port, **extra)
        assert long.facts is not None
        _match_pool(long, long.facts, intel.pools, ((sni, "tls.sni"),), False)
        assert short.facts is not None
        assert short.facts.pool == long.facts.pool, sni
    matched = _tls_record("pool.example", 443)
    enrich_all([matched], intel)
    assert matched.facts is not None
    assert matched.facts.pool == {"name": "q", "match": "endpoint", "host": "pool.example",
                                  "via": "tls.sni", "scheme": "stratum+ssl", "coin": "ETC"}  # fmt: skip


def test_the_chia_check_is_skipped_only_where_it_would_find_nothing(monkeypatch) -> None:
    """enrich_all calls chia_facts only for flows with DNS facts or TLS sessions it could
    find something in (certificate names seen, or bare - no SNI, no ALPN - with a DNS name
    or to a Chia port): a copy of chia_facts' own first tests, kept to save the call. On
    every combination of those pieces, a flow it skips is one chia_facts leaves as it is."""
    import itertools

    from detector import chia, plain
    from detector.netnames import load_network_names

    intel = _intel()
    intel.names = load_network_names(REPO / "signatures" / "lists")
    intel.pdns.add_answer(["203.0.113.20"], ["dns-introducer.chia.net"], 0.5)
    intel.pdns.add_answer(["203.0.113.21"], ["other.example"], 0.5)
    calls: list[FlowRecord] = []

    def spy(record: FlowRecord, names) -> None:
        calls.append(record)
        chia.chia_facts(record, names)

    monkeypatch.setattr(enrich_mod, "chia_facts", spy)
    # every flow to a Chia port sent a client certificate (read from the flow's packed
    # message sizes: tests/test_chia.py), so that piece of evidence is there to find
    monkeypatch.setattr(chia, "_client_certificate", lambda record: True)
    chia_dn = "OU=Organic Farming Division,O=Chia,CN=Chia"
    skipped = found = 0
    for subject, issuer, sni, alpn, server, port, dns, apps in itertools.product(
        (None, chia_dn, "CN=other"), (None, chia_dn), (None, "", "dns-introducer.chia.net",
        "example.com"), (None, "h2"), ("203.0.113.9", "203.0.113.20", "203.0.113.21"),
        (443, 8444), ({}, {"queries": ["dns-introducer.chia.net"]}), ({"tls"}, set()),
    ):  # fmt: skip
        tls = {k: v for k, v in (("sni", sni), ("alpn", alpn), ("subject", subject),
                                 ("issuer", issuer)) if v is not None}  # fmt: skip
        record = _record(server)
        record.server_port = port
        assert record.facts is not None
        record.facts.tls, record.facts.dns, record.facts.app_protos = tls, dict(dns), set(apps)
        calls.clear()
        enrich_all([record], intel)
        if calls:
            found += record.facts.node.get("protocol") == chia.NODE_PROTOCOL
            continue
        skipped += 1
        before = plain.to_plain(record.facts)
        chia.chia_facts(record, intel.names)
        assert plain.to_plain(record.facts) == before, (tls, server, port, dns, apps)
    assert skipped and found  # both ways taken
