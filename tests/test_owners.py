"""The owners file (detector/owners.py): longest prefix wins over overlaps, IPv4 and IPv6,
internal space, and every bad row refused with its file, line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import InputError
from detector.owners import MAX_SCREENED, OwnerMap, ScreenedHosts

GOOD = """\
# owners of the investigated networks
cidr,entity,department,contact
10.0.0.0/8,Provincial Grid,,noc@grid.example
10.20.0.0/16,Provincial Grid,Billing,billing@grid.example
10.20.30.0/24,"Water Board, North",Pumps,
10.20.30.7/32,Water Board,Server room,ops@water.example

198.51.100.0/24,Tech Park,,
2001:db8::/32,Tech Park,,v6@park.example
2001:db8:aa::/48,Tech Park,Lab 6,
2001:db8:aa:1::/64,Tech Park,Lab 6 rack 1,
2001:db8:aa:1::80/125,Tech Park,Lab 6 rack 1 GPUs,
"""


def _load(tmp_path: Path, text: str | bytes) -> OwnerMap:
    path = tmp_path / "owners.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return OwnerMap.load(path)


def test_the_longest_prefix_that_holds_an_address_wins(tmp_path: Path) -> None:
    owners = _load(tmp_path, GOOD)
    who = lambda ip: (o.entity, o.department) if (o := owners.owner_of(ip)) else None  # noqa: E731
    assert who("10.1.2.3") == ("Provincial Grid", "")
    assert who("10.20.1.1") == ("Provincial Grid", "Billing")
    assert who("10.20.30.1") == ("Water Board, North", "Pumps")  # quoted comma kept
    assert who("10.20.30.7") == ("Water Board", "Server room")
    assert who("10.20.30.8") == ("Water Board, North", "Pumps")
    assert who("198.51.100.200") == ("Tech Park", "")
    assert who("198.51.101.1") is None  # unknown space
    assert who("8.8.8.8") is None
    # IPv6, four nested prefixes, the /125 beyond the 64-bit half
    assert who("2001:db8::1") == ("Tech Park", "")
    assert who("2001:db8:aa:2::1") == ("Tech Park", "Lab 6")
    assert who("2001:db8:aa:1::1") == ("Tech Park", "Lab 6 rack 1")
    assert who("2001:db8:aa:1::87") == ("Tech Park", "Lab 6 rack 1 GPUs")
    assert who("2001:db8:aa:1::88") == ("Tech Park", "Lab 6 rack 1")
    assert who("2001:db9::1") is None
    # IPv4-mapped IPv6 is the IPv4 address; text that is no address has no owner
    assert who("::ffff:10.20.30.7") == ("Water Board", "Server room")
    assert who("not-an-ip") is None and who("") is None and who("10.0.0.256") is None
    assert owners.owner_of("10.20.30.7").contact == "ops@water.example"  # type: ignore[union-attr]
    assert owners.prefixes()[:2] == ["10.0.0.0/8", "10.20.0.0/16"]
    assert len(owners.prefixes()) == 9


def test_internal_is_an_owners_prefix_else_rfc1918_or_ula(tmp_path: Path) -> None:
    owners = _load(tmp_path, GOOD)
    empty = OwnerMap.empty()
    for ip in ("10.9.9.9", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fd12::1", "fc00::1"):
        assert owners.is_internal(ip) and empty.is_internal(ip), ip
    for ip in ("172.32.0.1", "100.64.0.1", "8.8.8.8", "fe80::1", "2001:db9::1", "127.0.0.1"):
        assert not owners.is_internal(ip) and not empty.is_internal(ip), ip
    # public space an owner declared is internal only with that owners file
    assert owners.is_internal("198.51.100.7") and not empty.is_internal("198.51.100.7")
    assert owners.is_internal("2001:db8:1::1") and not empty.is_internal("2001:db8:1::1")
    assert empty.owner_of("10.0.0.1") is None and empty.prefixes() == []


BAD_ROWS = [
    ("10.0.0.0/8,A,,\n192.168.1.5/24,B,,\n", 3, "192.168.1.5/24: host bits set"),
    ("10.0.0.0/8,A,,\n10.0.0.0/33,B,,\n", 3, "10.0.0.0/33: not a CIDR prefix"),
    ("10.0.0.0/8,A,,\nexample.org,B,,\n", 3, "example.org: not a CIDR prefix"),
    ("2001:db8::1/32,A,,\n", 2, "2001:db8::1/32: host bits set"),
    ("10.0.0.0/8,A,,\n10.0.0.0/8,B,,\n", 3, "10.0.0.0/8: the same prefix twice (first for 'A')"),
    ("10.0.0.0/8,A,,\n2001:DB8::/32,B,,\n2001:db8:0::/32,C,,\n", 4, "the same prefix twice"),
    ("10.0.0.0/8,,,\n", 2, "missing entity"),
    ("10.0.0.0/8,  ,Dept,\n", 2, "missing entity"),
    (",A,,\n", 2, "missing cidr"),
    ("10.0.0.0/8,A,\n", 2, "expected 4 columns (cidr,entity,department,contact), got 3"),
    ("10.0.0.0/8,A,,,extra\n", 2, "expected 4 columns"),
    ("\n# note\n10.0.0.0/8,A,,\n\n172.16.0.0/12,B\n", 6, "expected 4 columns"),
]


@pytest.mark.parametrize(("rows", "line", "reason"), BAD_ROWS)
def test_a_bad_row_names_its_file_line_and_reason(
    tmp_path: Path, rows: str, line: int, reason: str
) -> None:
    with pytest.raises(InputError) as caught:
        _load(tmp_path, "cidr,entity,department,contact\n" + rows)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'owners.csv'}:{line}: "), message
    assert reason in message and "\n" not in message


def test_a_bad_file_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "owners.csv"
    cases: list[tuple[bytes, str]] = [
        (b"", f"{path}:1: empty file (expected the header cidr,entity,department,contact)"),
        (b"# only a comment\n\n", f"{path}:1: empty file"),
        (b"10.0.0.0/8,A,,\n", f"{path}:1: expected the header cidr,entity,department,contact"),
        (b"cidr,entity\n10.0.0.0/8,A\n", f"{path}:1: expected the header"),
        (b"cidr,entity,department,contact\n10.0.0.0/8,A,,\n10.1.0.0/16,B\xe9,,\n",
         f"{path}:3: not UTF-8 text"),
    ]  # fmt: skip
    for content, expected in cases:
        path.write_bytes(content)
        with pytest.raises(InputError) as caught:
            OwnerMap.load(path)
        assert str(caught.value).startswith(expected), (content, str(caught.value))
    with pytest.raises(InputError, match="cannot read"):
        OwnerMap.load(tmp_path / "missing.csv")
    # a byte-order mark and upper-case header words are fine
    path.write_bytes("\ufeffCIDR,Entity,Department,Contact\n10.0.0.0/8,A,,\n".encode())
    assert OwnerMap.load(path).owner_of("10.1.1.1") is not None


def test_lookups_are_fast_enough_for_millions(tmp_path: Path) -> None:
    """Many prefixes and lengths: a lookup is a dict probe per distinct length."""
    import time

    lines = ["cidr,entity,department,contact"]
    lines += [f"10.{a}.{b}.0/24,E{a},D{b}," for a in range(40) for b in range(250)]
    lines += [f"10.{a}.0.0/16,E{a},," for a in range(200)]
    lines += [f"2001:db8:{a:x}::/48,V{a},," for a in range(500)]
    owners = _load(tmp_path, "\n".join(lines) + "\n")
    assert len(owners) == 10_700
    ips = [f"10.{i % 250}.{i % 253}.{i % 251}" for i in range(100_000)]
    started = time.perf_counter()
    found = sum(owners.owner_of(ip) is not None for ip in ips)
    per_lookup = (time.perf_counter() - started) / len(ips)
    assert found == sum(1 for i in range(100_000) if i % 250 < 200)
    assert per_lookup < 5e-6, f"{per_lookup * 1e6:.2f} us per lookup"  # ~0.6 us measured


def test_screened_hosts_merge_is_a_bounded_union(monkeypatch: pytest.MonkeyPatch) -> None:
    a = ScreenedHosts(3, ["10.0.0.2", "10.0.0.10", "fd00::1"], 0)
    b = ScreenedHosts(3, ["10.0.0.9", "10.0.0.10", "192.168.0.1"], 0)
    a.merge(b)
    assert a.ips == ["10.0.0.2", "10.0.0.9", "10.0.0.10", "192.168.0.1", "fd00::1"]
    assert (a.count, a.overflow) == (5, 0)
    empty = ScreenedHosts()
    empty.merge(a)
    assert empty == a and empty.ips is not a.ips
    monkeypatch.setattr("detector.owners.MAX_SCREENED", 4)
    c = ScreenedHosts(2, ["10.0.0.1", "10.0.0.3"], 1)
    c.merge(a)  # 7 distinct, 4 kept (the smallest), 3 left out + the 1 left out before
    assert c.ips == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"]
    assert (c.count, c.overflow) == (8, 4)
    assert MAX_SCREENED == 1_000_000
