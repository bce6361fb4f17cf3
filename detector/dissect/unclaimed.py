"""Sides that no stream dissector would take, told from their first packet without Python.

A TCP flow's first payload packet goes to the Inspector, which builds the flow's
inspection state (five objects), offers the bytes to every probe of
``inspector.PROBED_OFF_DNS_PORT`` and, when each says NO, marks the side done: a side
of a protocol nobody here reads (binary game, VoIP, database or proprietary traffic)
costs some 30,000 instructions for that answer, and its flow a ``retire`` and a
``finish`` more (~2,000 such sides in the real-traffic bench input). The feeder asks
``no_taker`` first (the compiled twin: in ``_fast.inspect_triage``, the test
tests/test_unclaimed.py) and, for such a side of a flow that no packet of reached
Python yet, clears the side's inspect bit itself: the Inspector never hears of it, and
what it would have concluded - nothing learned, side done - is what follows anyway.

``no_taker`` may answer False where every probe says NO (the packet then goes the
general way, as before); it must never answer True where one says YES or MAYBE. It is
only asked about bytes a side's first probe would see whole: in order at the start of
the side's stream, not cut by the capture, and off port 53 (DnsTcp probes those).
"""

from __future__ import annotations

import functools

import numpy as np

from detector.dissect.inspector import PROBED_OFF_DNS_PORT
from detector.dissect.jsonlines import PROBE_WINDOW, JsonLines
from detector.dissect.libp2p import HEADER, Multistream
from detector.dissect.nodes import BITCOIN_MAGICS, LEVIN_SIGNATURE, CryptoNode
from detector.dissect.starttls import _LONGEST_OPENING, StartTls

# The two probes that read every first byte (first_bytes None, DnsTcp aside): the table
# leaves out the first bytes on which their quick NO below does not hold.
_EVERY_BYTE = frozenset({CryptoNode, JsonLines})
_NOT_QUIET = frozenset(
    b" \t\n\r\x0b\x0c{["  # JsonLines: a JSON value after white space
    b"\x00\x04\x05"  # JsonLines: a SOCKS handshake first
    b"\x52\x04"  # CryptoNode: Nano, RLPx
    + bytes(magic[0] for magic in BITCOIN_MAGICS)  # CryptoNode: a Bitcoin-family magic
)
# First bytes whose one more probe says NO to anything but a prefix of its signature (the
# dissector, the signature): libp2p's multistream header, Monero's Levin signature - a
# thousand first packets of the real-traffic bench input start with 0x13 or 0x01 and
# are neither.
_SIGNED: dict[int, tuple[type, bytes]] = {
    HEADER[0]: (Multistream, HEADER),
    LEVIN_SIGNATURE[0]: (CryptoNode, LEVIN_SIGNATURE),
}
SIGNATURE_WIDTH = 32  # a row of signature_table: its length, then its bytes
# First bytes on which StartTls's probe is the one more that looks (a letter or '.': what
# a client's opening or an IMAP tag starts with; its other first bytes - digits, '*', '+',
# '<', NUL - start a server greeting, XMPP or PostgreSQL, left out). Such a side is
# quiet (entry 2 of quiet_first_bytes) when its first bytes cannot be an opening:
# _no_opening. Some 1,400 flows of the real-traffic bench input (binary protocols that
# start with a letter, SSH banners) had both sides' first packets probed in Python.
_OPENING_LETTERS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.")
_SPACE = b" \t\n\r\x0b\x0c"  # what bytes.rstrip() strips


@functools.cache
def quiet_first_bytes() -> np.ndarray:
    """Per first byte (256 entries, uint8): 1 if only CryptoNode's and JsonLines' probes
    look at a side starting with it - the others' ``first_bytes`` leave it out - and
    neither can answer anything but NO at that byte, given ``no_taker``'s other tests;
    2 if StartTls's probe looks too, at a letter (``_OPENING_LETTERS``), and ``no_taker``
    then also asks ``_no_opening``. A dissector added without ``first_bytes`` makes every
    entry 0 (never a wrong NO)."""
    table = np.zeros(256, dtype=np.uint8)
    for b, probed in enumerate(PROBED_OFF_DNS_PORT):
        if b in _NOT_QUIET:
            continue
        signed = {_SIGNED[b][0]} if b in _SIGNED else set()
        if set(probed) <= _EVERY_BYTE | signed:
            table[b] = 1
        elif set(probed) <= _EVERY_BYTE | {StartTls} and b in _OPENING_LETTERS:
            table[b] = 2
    return table


@functools.cache
def signature_table() -> np.ndarray:
    """Per first byte, a row of SIGNATURE_WIDTH bytes (uint8): the length of the
    signature a side starting with that byte must not start like (0: none), then its
    bytes (``_SIGNED``; what ``_fast.inspect_triage`` reads)."""
    table = np.zeros((256, SIGNATURE_WIDTH), dtype=np.uint8)
    for b, (_, signature) in _SIGNED.items():
        table[b, 0] = len(signature)
        table[b, 1 : 1 + len(signature)] = np.frombuffer(signature, dtype=np.uint8)
    return table


def no_taker(data: bytes, budget: int) -> bool:
    """True only if every stream dissector's probe says NO to ``data`` as a side's first
    bytes (cut to the side's byte ``budget``, as Inspector._deliver cuts them), off port
    53: a quiet first byte (``quiet_first_bytes``) not followed like its signature, if
    it has one (``_SIGNED``: as far as either goes), no RLPx size prefix (a third byte
    0x04: CryptoNode), at least 4 bytes (fewer: CryptoNode's MAYBE), and no way for
    JsonLines to see JSON - no newline in its probe window and no quote in it (or a
    window filled), or a first line that does not end a JSON value; at a first byte
    StartTls looks at (quiet entry 2), ``_no_opening`` too."""
    data = data[:budget]
    n = len(data)
    if n < 4 or data[2] == 4:
        return False
    quiet = quiet_first_bytes()[data[0]]
    if not quiet or (quiet == 2 and not _no_opening(data)):
        return False
    signed = _SIGNED.get(data[0])
    if signed is not None and signed[1].startswith(data[: len(signed[1])]):
        return False
    window = data[:PROBE_WINDOW]
    nl = window.find(b"\n")
    if nl < 0:
        return window.find(b'"') < 0 or n >= PROBE_WINDOW
    return not window[:nl].rstrip(_SPACE).endswith((b"}", b"]"))


def _no_opening(data: bytes) -> bool:
    """True only if StartTls's probe says NO to ``data``, a side's first bytes (cut to its
    budget) starting with a letter or '.' (``_OPENING_LETTERS``): at least
    _LONGEST_OPENING bytes (fewer may be a MAYBE), no space in the first 17 - every
    opening that such a byte can start has one within them (EHLO/HELO/LHLO and AUTH at
    4, an IMAP tag of up to 16 before its command) but these three - no newline in the
    first 10 (STARTTLS, STLS, CAPA, each ending its line) - and no PostgreSQL 'S' before
    a TLS record (a second byte 0x16). ``ct_no_opening`` in csrc/feed.c is its twin."""
    return (
        len(data) >= _LONGEST_OPENING
        and data.find(b" ", 0, 17) < 0
        and data.find(b"\n", 0, 10) < 0
        and data[1] != 0x16
    )
