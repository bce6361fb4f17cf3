"""SSH sessions: interactive shells and idle sessions kept open by keep-alives (RFC 4253).

Assumptions (OpenSSH 8.9-9.6 on both ends, chacha20-poly1305@openssh.com):

* Opening in the clear: both banners, both KEXINITs (real name-lists), the key exchange -
  curve25519-sha256 (32-byte keys) or sntrup761x25519-sha512 (1,190-byte client share) -
  and NEWKEYS; then, encrypted, service request, public-key authentication, the session
  channel, pty and shell requests, the MOTD.
* Encrypted packet on the wire: 4 (length) + padded(1 + payload + >=4 padding, to 8) + 16
  (MAC); one keystroke is 36 bytes each way (the echo).
* **Interactive** (``ssh-interactive``): typing bursts (Poisson, mean 30-240 s apart) of
  3-25 keys 80-300 ms apart, each echoed, then the command's output (log-normal, median
  600 bytes).
* **Idle** (``ssh-idle``): a forgotten terminal or a tunnel: ServerAliveInterval 15, 30,
  60 or 120 s from the client (``keepalive@openssh.com``, answered by the server) or
  ClientAliveInterval from the server, and little else.
* Port 22 (some on 2222 or 2200), servers by address or name.
"""

from __future__ import annotations

import struct
from random import Random

from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.negatives.base import LongLived, flows_for, periodic, poisson, size
from detector.synth.corpus.net import Host, any_server

CLIENTS = (
    "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5",
    "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    "SSH-2.0-OpenSSH_9.8",
    "SSH-2.0-PuTTY_Release_0.81",
    "SSH-2.0-OpenSSH_for_Windows_9.5",
)
SERVERS = (
    "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
    "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5",
    "SSH-2.0-OpenSSH_8.7",
)
KEX = (
    "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
    "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,"
    "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,"
    "ext-info-c,kex-strict-c-v00@openssh.com"
)
HOSTKEYS = (
    "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,ssh-ed25519,"
    "ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256"
)
CIPHERS = (
    "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
    "aes256-gcm@openssh.com"
)
MACS = (
    "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
    "hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,"
    "umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1"
)


def _string(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(b)) + b


def packet(rng: Random, payload: bytes) -> bytes:
    """A cleartext binary packet (before NEWKEYS): length, padding length, payload, padding."""
    pad = 8 - (5 + len(payload)) % 8
    pad = pad + 8 if pad < 4 else pad
    return struct.pack(">IB", 1 + len(payload) + pad, pad) + payload + rng.randbytes(pad)


def sealed(payload: int) -> int:
    """Wire size of an encrypted packet with a ``payload``-byte payload (chacha20-poly1305)."""
    body = 1 + payload + 4
    body += -body % 8
    return 4 + body + 16


def kexinit(rng: Random, server: bool) -> bytes:
    kex = KEX.replace("ext-info-c", "ext-info-s").replace("-c-v00", "-s-v00") if server else KEX
    hk = "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519" if server else HOSTKEYS
    lists = [
        kex,
        hk,
        CIPHERS,
        CIPHERS,
        MACS,
        MACS,
        "none,zlib@openssh.com",
        "none,zlib@openssh.com",
        "",
        "",
    ]
    return (
        b"\x14" + rng.randbytes(16) + b"".join(_string(x) for x in lists) + b"\x00\x00\x00\x00\x00"
    )


KEY = sealed(1)  # keystroke (channel data, one byte): 36 on the wire


class Ssh(LongLived):
    kind = "ssh-interactive"
    close_weights = (0.8, 0.15, 0.05)

    def prepare(self, rng: Random) -> None:
        self.pq = rng.random() < 0.6
        self.alive = float(rng.choice((15, 30, 60, 120)))
        self.keepalive = self.alive if self.kind == "ssh-idle" or rng.random() < 0.4 else 0.0
        self.from_server = rng.random() < 0.3

    def hello(self, rng: Random, t: int) -> Script:
        ci, si = kexinit(rng, False), kexinit(rng, True)
        hostkey = _string("ssh-ed25519") + _string(rng.randbytes(32))
        share = 1190 if self.pq else 32  # sntrup761 ciphertext + x25519 key, or x25519 alone
        answer = 1071 if self.pq else 32
        init = b"\x1e" + _string(rng.randbytes(share))
        reply = (
            b"\x1f"
            + _string(hostkey)
            + _string(rng.randbytes(answer))
            + _string(_string("ssh-ed25519") + _string(rng.randbytes(64)))
        )
        motd = size(rng, 900, 0.6, 60, 4000)
        return [
            ("c", (rng.choice(CLIENTS) + "\r\n").encode()),
            ("s", (rng.choice(SERVERS) + "\r\n").encode()),
            ("c", packet(rng, ci)),
            ("s", packet(rng, si)),
            ("c", packet(rng, init)),
            ("s", packet(rng, reply) + packet(rng, b"\x15")),
            ("c", packet(rng, b"\x15") + rng.randbytes(sealed(17))),  # NEWKEYS, service request
            ("s", rng.randbytes(sealed(rng.randint(80, 260)) + sealed(17))),
            ("c", rng.randbytes(sealed(rng.randint(380, 620)))),  # publickey + signature
            ("s", rng.randbytes(sealed(1) + sealed(rng.randint(300, 700)))),  # success, hostkeys
            (
                "c",
                rng.randbytes(
                    sealed(24)
                    + sealed(rng.randint(60, 120))
                    + sealed(rng.randint(30, 90))
                    + sealed(18)
                ),
            ),
            ("s", rng.randbytes(sealed(16) + sealed(5) + sealed(5) + sealed(motd))),
        ]

    def _typing(self, rng: Random) -> Script:
        out: Script = []
        for _ in range(rng.randint(3, 25)):
            out += [("c", KEY), ("s", KEY), ("=", rng.randint(80_000, 300_000))]
        out.append(("c", KEY))  # Enter
        out.append(("s", sealed(size(rng, 600, 1.5, 20, 200_000))))
        return out

    def streams(self, rng: Random) -> list[Stream]:
        out: list[Stream] = []
        if self.kind == "ssh-interactive":
            out.append(Stream(poisson(rng, rng.uniform(30, 240)), lambda ts: self._typing(rng)))
        else:
            out.append(Stream(poisson(rng, rng.uniform(400, 1500)), lambda ts: self._typing(rng)))
        if self.keepalive:
            req, ans = sealed(27), sealed(1)
            if self.from_server:
                out.append(
                    Stream(periodic(rng, self.alive, 0.005), lambda ts: [("s", req), ("c", ans)])
                )
            else:
                out.append(
                    Stream(
                        periodic(rng, self.alive, 0.005),
                        lambda ts: [("c", req), ("s", ans)],
                        quiet=True,
                    )
                )
        return out


class SshIdle(Ssh):
    kind = "ssh-idle"


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    port = 22 if rng.random() < 0.85 else rng.choice((2222, 2200))
    server: tuple[str, str] | str = any_server(rng)
    if rng.random() < 0.3:
        role = rng.choice(("bastion", "dev", "build", "git", "db"))
        server = (
            f"{role}{rng.randint(1, 9)}.corp.example",
            rng.choice(("aws", "hetzner", "azure")),
        )
    return flows_for(
        SshIdle if kind == "ssh-idle" else Ssh,
        env,
        host,
        rng,
        start,
        server=server,
        port=port,
        tls=False,
        nat=nat,
    )
