"""Streamed UDP conversations: both directions of a client-peer exchange as pcap records.

The datagram counterpart of :class:`detector.synth.tcp.Tcp` for DNS, QUIC and NTP flows of a
streamed capture: addresses, TTLs, link headers and the IP-ID counters are fixed once per
conversation, each datagram costs one header pack. Timestamps are integer microseconds.
"""

from __future__ import annotations

from random import Random

from detector.synth.links import GATEWAY_MAC, Link, mac_for
from detector.synth.pcap import record_us
from detector.synth.tcp import TAP, Side


class Udp:
    """Both directions of a UDP conversation between a LAN client and a peer.

    The IP-ID counters start from ``rng`` (client first), so a seeded generator gives the
    same conversation every time. UDP checksums are zero unless ``checksums``.
    """

    __slots__ = ("c", "s", "checksums")

    def __init__(
        self,
        rng: Random,
        client: str,
        cport: int,
        server: str,
        sport: int,
        *,
        client_ttl: int = 64,
        server_ttl: int = 56,
        server_mac: bytes = GATEWAY_MAC,
        link: Link = TAP,
        checksums: bool = False,
    ) -> None:
        cmac = mac_for(client)
        self.c = Side(
            client,
            server,
            cport,
            cmac,
            server_mac,
            client_ttl,
            0,
            0,
            rng.getrandbits(16),
            0,
            link=link,
        )
        self.s = Side(
            server,
            client,
            sport,
            server_mac,
            cmac,
            server_ttl,
            0,
            0,
            rng.getrandbits(16),
            0,
            link=link,
            outgoing=False,
        )
        self.c.peer = self.s
        self.s.peer = self.c
        self.checksums = checksums

    def _datagram(self, ts: int, side: Side, payload: bytes) -> bytes:
        ipid = side.ipid
        side.ipid = (ipid + 1) & 0xFFFF
        l3 = side.path.udp(ipid, side.port, side.peer.port, payload, checksum=self.checksums)
        frame = side.frame(l3)
        return record_us(ts, frame)

    def up(self, ts: int, payload: bytes) -> bytes:
        """Client -> server datagram."""
        return self._datagram(ts, self.c, payload)

    def down(self, ts: int, payload: bytes) -> bytes:
        """Server -> client datagram."""
        return self._datagram(ts, self.s, payload)
