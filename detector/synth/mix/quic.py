"""QUIC (HTTP/3) of the streamed mix, as Chrome makes it: 1250-byte Initial (zero-length
client connection id), coalesced server Initial+Handshake, then 1-RTT short-header packets
with the response and the client's ACK-only packets. Payloads are random (encrypted).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from random import Random

from detector.synth.mix.context import Context, Packet, lognormal, server_ttl
from detector.synth.mix.names import QUIC_NAMES, Name
from detector.synth.udp import Udp


def _varint2(n: int) -> bytes:
    return struct.pack(">H", 0x4000 | n)


class Quic:
    """An HTTP/3 connection as Chrome makes it: 1250-byte Initial (zero-length client
    connection id), coalesced server Initial+Handshake, then 1-RTT short-header packets
    with the response and the client's ACK-only packets."""

    def __init__(self, ctx: Context, rng: Random) -> None:
        self.ctx, self.rng = ctx, rng
        self.name: Name = rng.choice(QUIC_NAMES)
        self.server = rng.choice(self.name.v4)
        self.size = lognormal(rng, 25_000, 1.6, 300, 15_000_000)
        self.rate = lognormal(rng, 30e6, 0.9, 1e6, 300e6)
        self.close = rng.random() < 0.5
        nresp = self.size // 1232 + 1
        self.npkts = 1 + 2 + 1 + 1 + nresp + (nresp + 1) // 2 + (1 if self.close else 0)

    def run(self, start: int) -> Iterator[Packet]:
        ctx, rng = self.ctx, self.rng
        rb, rnd = rng.randbytes, rng.random
        udp = Udp(
            rng,
            ctx.host(rng),
            rng.randint(32768, 60999),
            self.server,
            443,
            server_ttl=server_ttl(rng),
        )
        rtt = rng.randint(3_000, 100_000)
        dcid, scid = rb(8), rb(8)
        t = start
        initial = (
            bytes([0xC0 | rng.getrandbits(4)])
            + b"\x00\x00\x00\x01\x08"
            + dcid
            + b"\x00\x00"
            + _varint2(1250 - 18)
            + rb(1250 - 18)
        )
        yield t, udp.up(t, initial), None
        t += rtt + rng.randint(200, 3_000)
        hs = (
            bytes([0xC0 | rng.getrandbits(4)])
            + b"\x00\x00\x00\x01\x00\x08"
            + scid
            + b"\x00"
            + _varint2(130)
            + rb(130)
            + bytes([0xE0 | rng.getrandbits(4)])
            + b"\x00\x00\x00\x01\x00\x08"
            + scid
            + _varint2(1200 - 166 - 17)
            + rb(1200 - 166 - 17)
        )
        yield t, udp.down(t, hs), None
        t += 40
        yield (
            t,
            udp.down(
                t,
                bytes([0xE0 | rng.getrandbits(4)])
                + b"\x00\x00\x00\x01\x00\x08"
                + scid
                + _varint2(900)
                + rb(900),
            ),
            None,
        )
        t += rng.randint(500, 4_000)
        fin = (
            bytes([0xC0 | rng.getrandbits(4)])
            + b"\x00\x00\x00\x01\x08"
            + scid
            + b"\x00\x00"
            + _varint2(1250 - 18)
            + rb(1250 - 18)
        )
        yield t, udp.up(t, fin), None
        t += 150
        yield (
            t,
            udp.up(t, bytes([0x40 | rng.getrandbits(6)]) + scid + rb(rng.randint(60, 420))),
            None,
        )
        t += rtt + rng.randint(500, 20_000)
        gap = (1252 + 42) * 8 * 1e6 / self.rate
        left = self.size
        i = 0
        while left > 0:
            n = min(left, 1232)
            left -= n
            yield t, udp.down(t, bytes([0x40 | rng.getrandbits(6)]) + rb(n + 19)), None
            i += 1
            if not i & 1 or left <= 0:
                yield (
                    t + 15,
                    udp.up(
                        t + 15, bytes([0x40 | rng.getrandbits(6)]) + scid + rb(rng.randint(22, 34))
                    ),
                    None,
                )
            t += int(gap * (0.75 + 0.5 * rnd())) + 20
        if self.close:
            t += rng.randint(1_000_000, 30_000_000)
            yield t, udp.up(t, bytes([0x40 | rng.getrandbits(6)]) + scid + rb(27)), None
