"""StartTls.on_data counts plain lines at once (starttls._plain_lines): the dissector's
state and answers must be those of reading them line by line, whatever the lines hold."""

from __future__ import annotations

import random

from detector.dissect import starttls
from detector.dissect.starttls import StartTls
from detector.facts import new_facts

_LINES = (
    b"+OK POP3 ready\r\n", b"* OK IMAP4 ready\r\n", b"220 mail ESMTP\r\n", b"200 news\r\n",
    b"1 1200\r\n", b"2 3400\r\n", b".\r\n", b"CAPA\r\n", b"USER bob\r\n", b"+OK\r\n",
    b"EHLO me\r\n", b"helo x\r\n", b"STLS\r\n", b"STARTTLS\r\n", b"a1 starttls\r\n",
    b"AUTH TLS\r\n", b"250-SIZE 1000\r\n", b"<stream:stream>", b"<starttls/>", b"x" * 3000,
    b"\x16\x03\x01\x00\x05hello", b"\x00\x00\x00\x08\x04\xd2\x16\x2f", b"S", b"N",
    b"LIST ssl\r\n", b"partial line",
)  # fmt: skip


def _session(rng: random.Random) -> list[tuple[int, bytes]]:
    out = []
    for _ in range(rng.randrange(1, 40)):
        data = b"".join(rng.choice(_LINES) for _ in range(rng.randrange(1, 6)))
        cut = rng.randrange(0, len(data) + 1)
        side = rng.randrange(2)
        out += [(side, data[:cut]), (side, data[cut:])]
    return [(s, d) for s, d in out if d]


def _run(session: list[tuple[int, bytes]], shortcut: bool) -> list:
    saved = starttls._plain_lines
    if not shortcut:
        starttls._plain_lines = lambda buf, smtp: False
    try:
        d, facts, log = StartTls(), new_facts(), []
        done = [False, False]
        for side, data in session:
            if done[side]:
                continue
            more = d.on_data(side, data, 0.0, facts)
            done[side] = not more
            log.append((more, d.upgraded(side) if not more else None))
        state = (d.tails, d.read, d.greeting, d.smtp, d.via, d.sides_asked, d.rest)
        return [log, repr(state), repr(facts)]
    finally:
        starttls._plain_lines = saved


def test_plain_lines_counted_at_once_as_one_by_one() -> None:
    rng = random.Random(5)
    taken = 0
    for _ in range(3000):
        session = _session(rng)
        assert _run(session, True) == _run(session, False), session
        taken += starttls._plain_lines(b"1 1200\r\n", False)
    assert taken  # (the shortcut is taken on plain lines)
    assert not starttls._plain_lines(b"a STARTTLS\r\n", True)
    assert not starttls._plain_lines(b"EHLO x\r\n", False) and starttls._plain_lines(
        b"EHLO x\r\n", True
    )


def test_one_opening_match_is_the_three_tries() -> None:
    """StartTls.probe's one match (starttls._OPENING) says YES exactly where a server
    greeting, a client's opening or XMPP's XML opening matched at the start, tried in
    turn - on the lines above, their prefixes, case changes and random mutations."""
    rng = random.Random(4)
    alphabet = b" \r\n\t.-*+<?:0129ACEHLOPSTalpst\x00\xff"
    heads = [b"".join(rng.choice(_LINES) for _ in range(3)) for _ in range(200)]
    heads += [line[:k] for line in _LINES for k in range(len(line) + 1)]
    heads += [h.lower() for h in heads[:400]] + [h.swapcase() for h in heads[:400]]
    for _ in range(3000):
        heads.append(bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 24))))
    matched = 0
    for head in heads:
        tried = bool(
            starttls._SERVER_GREETING.match(head)
            or starttls._CLIENT_OPENING.match(head)
            or head.startswith(starttls._XML_OPENING)
        )
        assert bool(starttls._OPENING.match(head)) is tried, head
        matched += tried
    assert 200 < matched < len(heads) - 1000
