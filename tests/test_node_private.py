"""nodehosts._is_private: its IPv4 integer test against is_private's own networks
(_V4_PRIVATE) gives ipaddress' answer, on every network's edges, random addresses, IPv6
and text that is no address."""

from __future__ import annotations

import ipaddress
import random

from detector import nodehosts


def _reference(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False


def test_the_integer_test_is_in_use_here() -> None:
    assert nodehosts._V4_PRIVATE is not None  # else the tests below test the fallback only


def test_is_private_agrees_with_ipaddress() -> None:
    assert nodehosts._V4_PRIVATE is not None
    networks, exceptions = nodehosts._V4_PRIVATE
    texts = []
    for network, mask in networks + exceptions:
        last = network | (~mask & 0xFFFFFFFF)
        for value in (network - 1, network, network + 1, last - 1, last, last + 1):
            if 0 <= value <= 0xFFFFFFFF:
                texts.append(str(ipaddress.IPv4Address(value)))
    rng = random.Random(7)
    texts += [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(3000)]
    texts += ["100.64.0.1", "192.0.0.9", "192.0.0.10", "192.0.0.8", "::1", "fd00::1",
              "2001:db8::1", "2a00:1450::1", "::ffff:10.0.0.1", "01.2.3.4", "1.2.3",
              "256.1.1.1", "1.2.3.4 ", "", "host.example", "[::1]"]  # fmt: skip
    for text in texts:
        nodehosts._is_private.cache_clear()
        assert nodehosts._is_private(text) == _reference(text), text


def test_the_ipv4_text_parse_agrees_with_ipv4address() -> None:
    """nodehosts._v4_value takes exactly the text IPv4Address takes, to the same value
    (None for what it refuses)."""
    rng = random.Random(11)
    texts = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(2000)]
    texts += ["0.0.0.0", "255.255.255.255", "01.2.3.4", "1.02.3.4", "1.2.3.004", "1.2.3",
              "1.2.3.4.5", "256.1.1.1", "1.2.3.4 ", " 1.2.3.4", "1.2.3.", ".1.2.3", "",
              "1..2.3", "+1.2.3.4", "1.2.3.-4", "1.2.3.\u0664", "1.2.3.\u00b2", "0x1.2.3.4",
              "1.2.3.4/32", "::1", "::ffff:1.2.3.4", "1_0.2.3.4", "1.2.3.1000", "00.1.2.3"]  # fmt: skip
    for text in texts:
        try:
            expected: int | None = int(ipaddress.IPv4Address(text))
        except ValueError:
            expected = None
        assert nodehosts._v4_value(text) == expected, text
