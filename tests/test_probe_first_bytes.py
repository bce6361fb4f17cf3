"""The inspector asks only the dissectors a side's first byte allows (``first_bytes``,
inspector.PROBED_BY_FIRST_BYTE). That is only right if every probe says NO to every
other first byte, whatever follows it: checked here for each byte outside each set, with
tails that complete every protocol's opening (so a wrong set cannot hide behind random
bytes), and on random heads."""

from __future__ import annotations

import random

from detector.dissect.base import Probe
from detector.dissect.inspector import PROBED_BY_FIRST_BYTE, STREAM_DISSECTORS

# The openings the probes look for, minus their first byte: appended to a wrong first byte,
# each would complete some protocol's signature if the first byte did not matter.
OPENINGS = [
    b"\x16\x03\x01\x02\x00\x01",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"POST /json_rpc HTTP/1.1\r\n",
    b'{"id":1,"method":"login"}\n',
    b"[1,2]\n",
    b"220 mail.example ESMTP\r\n",
    b"EHLO x\r\n",
    b"STARTTLS\r\n",
    b"a1 STARTTLS\r\n",
    b"* OK IMAP4rev1\r\n",
    b"+OK POP3\r\n",
    b"AUTH TLS\r\n",
    b"<?xml version='1.0'?>",
    b"<stream:stream>",
    b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
    b"S\x16\x03\x01\x00\x05",
    b"\x05\x01\x00\x05\x00\x00",
    b"\x04\x01\x0d\x05\x7f\x00\x00\x01\x00",
    b"\xf9\xbe\xb4\xd9version\x00\x00\x00\x00\x00",
    b"\x01\x21\x01\x01\x01\x01\x01\x01",
]


def _tails(rng: random.Random) -> list[bytes]:
    tails = [b""] + [o[1:] for o in OPENINGS] + [o for o in OPENINGS]
    tails += [rng.randbytes(rng.randrange(1, 64)) for _ in range(40)]
    return tails


def test_no_probe_says_anything_but_no_to_a_first_byte_outside_its_set() -> None:
    rng = random.Random(7)
    tails = _tails(rng)
    checked = 0
    for cls in STREAM_DISSECTORS:
        if cls.first_bytes is None:
            continue
        for first in range(256):
            if first in cls.first_bytes:
                continue
            for tail in tails:
                head = bytes([first]) + tail
                assert cls.probe(head, (40000, 3333)) is Probe.NO, (cls.name, head)
                checked += 1
    assert checked > 50_000


def test_the_table_keeps_probing_order_and_drops_only_what_cannot_start() -> None:
    for first in range(256):
        allowed = PROBED_BY_FIRST_BYTE[first]
        assert list(allowed) == [c for c in STREAM_DISSECTORS if c in allowed]  # order kept
        for cls in STREAM_DISSECTORS:
            expected = cls.first_bytes is None or first in cls.first_bytes
            assert (cls in allowed) == expected
    # the sets are not vacuous: a TLS record, an HTTP request and a random byte differ
    assert len(PROBED_BY_FIRST_BYTE[0x16]) < len(STREAM_DISSECTORS)
    assert len(PROBED_BY_FIRST_BYTE[0x9C]) <= 3


def test_bitcoin_command_names_are_lowercase_letters_and_digits() -> None:
    """nodes._ascii_command (a Bitcoin message's command, NUL-padded): the name before the
    padding when it is all a-z and 0-9, else None - as a byte-by-byte test says, on
    random names of letters, digits, NULs and other bytes."""
    from detector.dissect.nodes import _ascii_command

    def bytewise(raw: bytes) -> str | None:
        name = raw.rstrip(b"\x00")
        ok = name and all(0x61 <= c <= 0x7A or 0x30 <= c <= 0x39 for c in name)
        return name.decode("ascii") if ok else None

    rng = random.Random(8333)
    for _ in range(20_000):
        raw = bytes(rng.choice(b"\x00\x00az09AZ.\xff") for _ in range(rng.randrange(13)))
        assert _ascii_command(raw) == bytewise(raw), raw
    assert _ascii_command(b"version\x00\x00\x00\x00\x00") == "version"


def test_could_open_is_word_by_word_prefix_test() -> None:
    """starttls._could_open (a prefix set and a tuple startswith) says what testing each
    opening word both ways says, on random short upper- and lower-case bytes."""
    from detector.dissect.starttls import _OPENING_WORDS, _could_open

    def word_by_word(data: bytes) -> bool:
        upper = data.upper()
        return any(w.startswith(upper) or upper.startswith(w) for w in _OPENING_WORDS)

    rng = random.Random(25)
    alphabet = b"2013 OK+*EHLOehlostarttlsSTLSCAPAAUTH<?xmlstream:\x00\xff"
    for _ in range(20_000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randrange(17)))
        assert _could_open(data) == word_by_word(data), data


def test_dns_tcp_is_asked_only_on_port_53() -> None:
    """Inspector._choose leaves DnsTcp out of the probes of a side whose ports are not
    53 (PROBED_OFF_DNS_PORT): its probe says NO to any bytes there, and the tables are
    the full ones without it, in the same order."""
    from detector.dissect.dns import DnsTcp
    from detector.dissect.inspector import PROBED_OFF_DNS_PORT, STREAM_DISSECTORS_OFF_DNS_PORT

    rng = random.Random(53)
    for _ in range(5_000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        ports = (rng.choice((80, 443, 5353, 54, rng.randrange(65536))), rng.randrange(65536))
        if 53 not in ports:
            assert DnsTcp.probe(data, ports) is Probe.NO
    without = tuple(c for c in STREAM_DISSECTORS if c is not DnsTcp)
    assert without == STREAM_DISSECTORS_OFF_DNS_PORT
    for first in range(256):
        assert PROBED_OFF_DNS_PORT[first] == tuple(
            c for c in PROBED_BY_FIRST_BYTE[first] if c is not DnsTcp
        )
