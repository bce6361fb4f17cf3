"""detector/pools.py parse_pool_file: what each row makes, and the one-line refusal of a
bad one (file and line), kept as they were when the parser was made cheaper."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import InputError
from detector.pools import MATCH_MEMO, PoolEntry, PoolList, parse_pool_file


def _parse(tmp_path: Path, text: str) -> list[PoolEntry]:
    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8")
    return parse_pool_file(path)


def test_rows_header_comments_blank_lines_and_padding(tmp_path: Path) -> None:
    text = (
        "# a comment\n\n   \n"
        "host,port,scheme,pool,coin,confidence\n"
        "  H.Example.ORG. , 80 , STRATUM+SSL ,  Pool A , xmr ,high,extra\n"
        "\t# indented comment\n"
        "*.b.example\n"
        "c.example,,,,bitcoin\n"
        '"d.example","3333",,"",btc\n'
    )
    assert _parse(tmp_path, text) == [
        PoolEntry("h.example.org", 80, "stratum+ssl", "Pool A", "XMR", False, "list.csv:5"),
        PoolEntry("b.example", None, "stratum+tcp", "b.example", None, True, "list.csv:7"),
        PoolEntry("c.example", None, "stratum+tcp", "c.example", None, False, "list.csv:8"),
        PoolEntry("d.example", 3333, "stratum+tcp", "d.example", "BTC", False, "list.csv:9"),
    ]


def test_a_file_without_header_starts_with_its_first_row(tmp_path: Path) -> None:
    assert _parse(tmp_path, "x.example,1\n") == [
        PoolEntry("x.example", 1, "stratum+tcp", "x.example", None, False, "list.csv:1")
    ]


def test_a_quoted_cell_over_two_lines_joins_them(tmp_path: Path) -> None:
    """As it always did: the lines are joined without their break, and the rows after
    take the line numbers in order (b.example, on line 3, is "line 2")."""
    entries = _parse(tmp_path, 'a.example,1,"x\ny",p\nb.example,2\n')
    assert [(e.host, e.scheme, e.source) for e in entries] == [
        ("a.example", "xy", "list.csv:1"),
        ("b.example", "stratum+tcp", "list.csv:2"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("h,1\n  ,3333\n", "list.csv:2: missing host"),
        ("h,1\n,\n", "list.csv:2: missing host"),
        ("h,1\n.,1\n", "list.csv:2: bad host ''"),
        ("h,1\n*.a b\n", "list.csv:2: bad host 'a b'"),
        ("h,1\na b,1\n", "list.csv:2: bad host 'a b'"),
        ("h,1\na/b\n", "list.csv:2: bad host 'a/b'"),
        ("h,1\nh,0\n", "list.csv:2: bad port '0'"),
        ("h,1\nh,65536\n", "list.csv:2: bad port '65536'"),
        ("h,1\nh,-1\n", "list.csv:2: bad port '-1'"),
        ("h,1\nh, 8x \n", "list.csv:2: bad port '8x'"),
    ],
)
def test_a_bad_row_is_refused_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError) as info:
        _parse(tmp_path, text)
    assert str(info.value).endswith(message)


def _entry(host: str, port: int | None = None, wildcard: bool = False) -> PoolEntry:
    return PoolEntry(host, port, "stratum+tcp", host, None, wildcard, "t.csv:1")


@pytest.mark.parametrize(
    "entries",
    [
        [_entry("198.51.100.7", 3333), _entry("pool.example"), _entry("eu.pool.example"),
         _entry("us.pool.example"), _entry("w.example", wildcard=True)],
        # a numeric wildcard: no shortcut, match itself answers
        [_entry("198.51.100.7"), _entry("51.100.7", wildcard=True), _entry("2001:db8::7", 80)],
    ],
)  # fmt: skip
def test_match_address_answers_as_match(entries: list[PoolEntry]) -> None:
    """PoolList.match_address (a flow's server address) gives match's answer: listed
    addresses, unlisted ones, IPv6, and texts the shortcut must leave to match."""
    pools = PoolList(entries)
    for ip in ("198.51.100.7", "198.51.100.8", "203.0.113.1", "2001:db8::1", "1.100.7",
               "198.51.100.7.", "Pool.Example", "pool.example", "x.w.example", "12",
               "2001:DB8::7", "[2001:db8::7]", "2001:db8::7 ", "::", "a:b", "2001:db8::7"):  # fmt: skip
        for port in (None, 3333, 80):
            assert pools.match_address(ip, port) == PoolList(entries).match(ip, port), ip
            if pools.unlisted_address(ip):
                assert PoolList(entries).match(ip, port) is None, ip


def test_the_match_memo_stays_within_its_bound_and_answers_as_the_lookup() -> None:
    """More distinct (address, port) keys than MATCH_MEMO (a capture with many hosts):
    the memo never holds more than its bound, and every answer, remembered or not, is
    the lookup's own."""
    entries = [PoolEntry("10.0.0.7", 3333, "stratum+tcp", "p", "xmr", False, "t:1"),
               PoolEntry("pool.example", None, "stratum+tcp", "q", "xmr", True, "t:2")]  # fmt: skip
    pools, plain = PoolList(entries), PoolList(entries)
    keys = [(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 3333) for i in range(3 * MATCH_MEMO)]
    keys += [("10.0.0.7", 3333), ("a.pool.example", 80)] * 3
    for host, port in keys + keys[::7]:
        assert pools.match(host, port) == plain._match(host, port), host
        assert len(pools._cache) <= MATCH_MEMO
    assert pools.match("10.0.0.7", 3333) is not None
