"""VPN tunnels: OpenVPN over TCP and UDP, WireGuard.

Assumptions:

* **OpenVPN** (2.5/2.6, no tls-auth, AES-256-GCM data channel; packet formats of
  OpenVPN's protocol description): the client's P_CONTROL_HARD_RESET_CLIENT_V2, the
  server's reset, P_ACK_V1, the TLS handshake - a recorded OpenSSL hello without SNI and
  the recorded server flight - in P_CONTROL_V1 packets of at most 1,250 bytes (tls-mtu),
  then P_DATA_V2 packets of tunnelled traffic (opcode/key id, 3-byte peer id, 4-byte packet
  id, 16-byte tag: +24 bytes; over TCP each packet has a 2-byte length before it).
  ``keepalive 10 60`` (the common server push): each side sends its 16-byte ping after 10 s
  without sending. Over TCP on 443 or 1194 (``openvpn-tcp``), UDP 1194 (``openvpn-udp``).
* **WireGuard** (``wireguard``, UDP 51820, message formats of the WireGuard paper §5.4):
  handshake initiation (148 bytes) and response (92), transport data (16-byte header,
  the tunnelled packet padded to 16, a 16-byte tag), a keep-alive (an empty data message,
  32 bytes) after 25 s of silence (``PersistentKeepalive = 25``), a new handshake every
  120 s while traffic flows (REKEY_AFTER_TIME).
* Tunnelled traffic comes in bursts (Poisson, mean 10-120 s): a request or two up (60-700
  bytes) and 1-20 packets down (a page, an API call, a sync).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from random import Random

from detector.synth.benign.tls import build_client_hello
from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow, S, draw_rtt, long_duration
from detector.synth.corpus.negatives.base import LongLived, flows_for, periodic, poisson
from detector.synth.corpus.net import Host, any_server
from detector.synth.corpus.tlsrec import Tls, without_sni
from detector.synth.corpus.wire import Record

P_CONTROL_V1, P_ACK_V1, RESET_CLIENT, RESET_SERVER, P_DATA_V2 = 4, 5, 7, 8, 9
TLS_MTU = 1250


def _burst(rng: Random) -> tuple[list[int], list[int]]:
    up = [rng.randint(60, 700) for _ in range(rng.randint(1, 3))]
    down = [
        1400 if rng.random() < 0.6 else rng.randint(60, 1400) for _ in range(rng.randint(1, 20))
    ]
    return up, down


class OpenVpnSide:
    """One end's OpenVPN packets: control (with its session and packet ids) and data."""

    def __init__(self, rng: Random, noise: object) -> None:
        self.sid = rng.randbytes(8)
        self.pid = 0
        self.data_pid = 1
        self.peer_id = rng.getrandbits(24) if rng.random() < 0.5 else 0
        self.noise = noise

    def control(self, opcode: int, payload: bytes, ack: tuple[int, bytes] | None) -> bytes:
        out = bytes([opcode << 3]) + self.sid
        out += b"\x00" if ack is None else b"\x01" + struct.pack(">I", ack[0]) + ack[1]
        if opcode != P_ACK_V1:
            out += struct.pack(">I", self.pid)
            self.pid += 1
        return out + payload

    def data(self, n: int) -> bytes:
        head = (
            bytes([P_DATA_V2 << 3])
            + self.peer_id.to_bytes(3, "big")
            + struct.pack(">I", self.data_pid)
        )
        self.data_pid += 1
        return head + self.noise(16 + n)  # type: ignore[operator]


def openvpn_handshake(
    rng: Random, c: OpenVpnSide, s: OpenVpnSide, tls: Tls
) -> list[tuple[str, bytes]]:
    """Resets, ACK, and the control channel's TLS handshake (split at the tls-mtu)."""
    rb = rng.randbytes
    sid = rb(len(tls.tpl.hello.session_id))
    hello = build_client_hello(without_sni(tls.tpl.hello), rb, None, sid)
    flight = tls.tpl.server_flight(rb, sid)
    fin = b"\x14\x03\x03\x00\x01\x01" + tls.records(52) if tls.tls13 else tls.records(200)
    out = [
        ("c", c.control(RESET_CLIENT, b"", None)),
        ("s", s.control(RESET_SERVER, b"", (0, c.sid))),
        ("c", c.control(P_ACK_V1, b"", (0, s.sid))),
    ]
    for who, side, other, blob in (("c", c, s, hello), ("s", s, c, flight), ("c", c, s, fin)):
        for off in range(0, len(blob), TLS_MTU):
            out.append(
                (
                    who,
                    side.control(
                        P_CONTROL_V1, blob[off : off + TLS_MTU], (other.pid - 1, other.sid)
                    ),
                )
            )
    out.append(
        ("s", s.control(P_CONTROL_V1, tls.records(rng.randint(200, 600)), (c.pid - 1, c.sid)))
    )
    return out


class OpenVpnTcp(LongLived):
    kind = "openvpn-tcp"
    close_weights = (0.6, 0.2, 0.2)

    def prepare(self, rng: Random) -> None:
        self.keepalive = 10.0
        noise = self.env.noise(rng)
        self.c, self.s = OpenVpnSide(rng, noise), OpenVpnSide(rng, noise)
        self.s.peer_id = self.c.peer_id
        self.inner = Tls(
            self.env.template("openssl-s_client-tls1" + rng.choice("23")), None, rng, noise
        )

    @staticmethod
    def _framed(packet: bytes) -> bytes:
        return struct.pack(">H", len(packet)) + packet

    def hello(self, rng: Random, t: int) -> Script:
        return [
            (who, self._framed(p)) for who, p in openvpn_handshake(rng, self.c, self.s, self.inner)
        ]

    def streams(self, rng: Random) -> list[Stream]:
        def burst(ts: int) -> Script:
            up, down = _burst(rng)
            return [
                ("c", tuple(self._framed(self.c.data(n)) for n in up)),
                ("s", b"".join(self._framed(self.s.data(n)) for n in down)),
            ]

        return [
            Stream(poisson(rng, rng.uniform(10, 120)), burst),
            Stream(
                periodic(rng, 10.0, 0.01),
                lambda ts: [("c", self._framed(self.c.data(16)))],
                quiet=True,
            ),
            Stream(
                periodic(rng, 10.0, 0.01),
                lambda ts: [("s", self._framed(self.s.data(16)))],
                first=rng.uniform(0, 10),
            ),
        ]


class Tunnel(Flow):
    """A datagram tunnel: handshake, bursts, keep-alives."""

    proto = "udp"
    every = 10.0  # keep-alive after this many seconds of silence
    server_pings = True  # the server keeps its side alive too

    def __init__(
        self,
        env: Env,
        host: Host,
        seed: int,
        start: int,
        end: int,
        server: str,
        sport: int,
        *,
        nat: bool = False,
    ) -> None:
        super().__init__(env, host, seed, start, end, server, sport, nat=nat)
        self.ended = ""

    def setup(self, rng: Random) -> None:
        """Per-flow state, drawn before anything is sent."""

    def handshake(self, rng: Random) -> list[tuple[str, bytes]]:
        raise NotImplementedError

    def data(self, rng: Random, who: str, n: int) -> bytes:
        raise NotImplementedError

    def ping(self, rng: Random, who: str) -> bytes | None:
        raise NotImplementedError

    def body(self, rng: Random) -> Iterator[Record]:
        udp = self.udp(rng, draw_rtt(rng))
        self.noise = self.env.noise(rng)
        self.setup(rng)
        rtt = self.rtt
        self.keepalive = self.every
        t = self.first_ts(rng)

        def send(ts: int, who: str, payload: bytes) -> Record:
            return ts, (udp.up(ts, payload) if who == "c" else udp.down(ts, payload))

        if not self.mid:
            for who, p in self.handshake(rng):
                yield send(t, who, p)
                t += rtt if who == "c" else rng.randint(200, 3_000)
        burst_mean = rng.uniform(10, 120)
        nxt_burst = t + int(rng.expovariate(1 / burst_mean) * S)
        last_c = last_s = t
        rekey = t + 120 * S
        never = 1 << 62
        while True:
            ka_c = last_c + int(self.every * S)
            ka_s = last_s + int(self.every * S) if self.server_pings else never
            due = min(nxt_burst, ka_c, ka_s)
            if due >= self.stop:
                break
            if due < t:  # the tap sees a flow's datagrams in order
                nxt_burst, ka_c, ka_s = max(nxt_burst, t), max(ka_c, t), max(ka_s, t)
                due = max(due, t)
            if due == nxt_burst:
                up, down = _burst(rng)
                t = due
                for n in up:
                    yield send(t, "c", self.data(rng, "c", n))
                    t += rng.randint(50, 2_000)
                last_c = t
                t += rtt + rng.randint(500, 30_000)
                for n in down:
                    yield send(t, "s", self.data(rng, "s", n))
                    t += rng.randint(30, 400)
                last_s = t
                if self.kind == "wireguard" and t >= rekey:
                    t += rng.randint(1_000, 50_000)
                    for who, p in self.handshake(rng):
                        yield send(t, who, p)
                        t += rtt if who == "c" else rng.randint(200, 3_000)
                    rekey = t + 120 * S
                nxt_burst = t + int(rng.expovariate(1 / burst_mean) * S)
            elif due == ka_c:
                yield send(due, "c", self.ping(rng, "c") or b"")
                last_c = t = due
            else:
                yield send(due, "s", self.ping(rng, "s") or b"")
                last_s = t = due


class OpenVpnUdp(Tunnel):
    kind = "openvpn-udp"

    def setup(self, rng: Random) -> None:
        self.c, self.s = OpenVpnSide(rng, self.noise), OpenVpnSide(rng, self.noise)
        self.s.peer_id = self.c.peer_id
        self.inner = Tls(
            self.env.template("openssl-s_client-tls1" + rng.choice("23")), None, rng, self.noise
        )

    def handshake(self, rng: Random) -> list[tuple[str, bytes]]:
        return openvpn_handshake(rng, self.c, self.s, self.inner)

    def data(self, rng: Random, who: str, n: int) -> bytes:
        return (self.c if who == "c" else self.s).data(n)

    def ping(self, rng: Random, who: str) -> bytes | None:
        return self.data(rng, who, 16)


class WireGuard(Tunnel):
    kind = "wireguard"
    every = 25.0
    server_pings = False

    def setup(self, rng: Random) -> None:
        self.idx_c, self.idx_s = rng.getrandbits(32), rng.getrandbits(32)
        self.ctr = {"c": 0, "s": 0}

    def handshake(self, rng: Random) -> list[tuple[str, bytes]]:
        self.idx_c, self.idx_s = rng.getrandbits(32), rng.getrandbits(32)
        self.ctr = {"c": 0, "s": 0}
        init = (
            b"\x01\x00\x00\x00"
            + struct.pack("<I", self.idx_c)
            + self.noise(32 + 48 + 28 + 16)
            + b"\x00" * 16
        )
        resp = (
            b"\x02\x00\x00\x00"
            + struct.pack("<II", self.idx_s, self.idx_c)
            + self.noise(32 + 16 + 16)
            + b"\x00" * 16
        )
        return [("c", init), ("s", resp), ("c", self.data(rng, "c", 0))]

    def data(self, rng: Random, who: str, n: int) -> bytes:
        receiver = self.idx_s if who == "c" else self.idx_c
        head = b"\x04\x00\x00\x00" + struct.pack("<IQ", receiver, self.ctr[who])
        self.ctr[who] += 1
        return head + self.noise(n + (-n % 16) + 16)

    def ping(self, rng: Random, who: str) -> bytes | None:
        return self.data(rng, who, 0) if who == "c" else None


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    server = any_server(rng, ("ovh", "hetzner", "digitalocean", "vultr", "linode", "aws"))
    if kind == "openvpn-tcp":
        return flows_for(
            OpenVpnTcp,
            env,
            host,
            rng,
            start,
            server=server,
            port=rng.choice((443, 1194)),
            tls=False,
            nat=nat,
        )
    cls = WireGuard if kind == "wireguard" else OpenVpnUdp
    port = 51820 if kind == "wireguard" else 1194
    dur = long_duration(rng)
    if start + dur < env.t0 + 120 * S:
        dur = env.t0 - start + int(rng.uniform(120, 900) * S)
    flow = cls(env, host, rng.getrandbits(63), start, start + dur, server, port, nat=nat)
    flow.cport = host.port(rng)
    return [flow]
