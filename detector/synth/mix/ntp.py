"""NTP of the streamed mix: an SNTP/NTP client poll (mode 3) and the server's reply (mode 4)."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from random import Random

from detector.synth.mix.context import Context, Packet
from detector.synth.mix.names import NTP_SERVERS
from detector.synth.udp import Udp

_NTP_EPOCH = 2_208_988_800


def _ntp_ts(ts_us: int) -> bytes:
    sec, us = divmod(ts_us, 1_000_000)
    return struct.pack(">II", sec + _NTP_EPOCH, (us << 32) // 1_000_000)


class Ntp:
    """An SNTP/NTP client poll (mode 3) and the server's reply (mode 4)."""

    def __init__(self, ctx: Context, rng: Random) -> None:
        self.ctx, self.rng = ctx, rng
        self.npkts = 2

    def run(self, start: int) -> Iterator[Packet]:
        ctx, rng = self.ctx, self.rng
        server = rng.choice(NTP_SERVERS)
        cport = 123 if rng.random() < 0.3 else rng.randint(32768, 60999)
        udp = Udp(rng, ctx.host(rng), cport, server, 123, server_ttl=rng.choice((54, 56, 57)))
        xmit = rng.randbytes(8)
        req = b"\x23" + b"\x00" * 39 + xmit
        yield start, udp.up(start, req), None
        rtt = rng.randint(2_000, 60_000)
        recv = start + rtt // 2
        resp = (
            b"\x24"
            + bytes([rng.choice((1, 2, 2, 3)), 3, 0xE9])
            + struct.pack(">II", rng.randint(0, 4000), rng.randint(10, 900))
            + rng.randbytes(4)
            + _ntp_ts(start - rng.randint(1, 900) * 1_000_000)
            + xmit
            + _ntp_ts(recv)
            + _ntp_ts(recv + rng.randint(5, 60))
        )
        yield start + rtt, udp.down(start + rtt, resp), None
