"""Addresses of a corpus capture: the LAN's hosts, NAT gateways, ports, and servers' addresses.

* **Servers** get addresses derived from their name (SHA-256) inside the real announced
  prefixes of the provider that hosts them (OVH, Hetzner, DigitalOcean, AWS, GCP, Azure,
  Alibaba, Cloudflare, Linode, Vultr). Pools, MQTT brokers, VPN endpoints and API servers
  share these providers, so the address range says nothing about the class.
* **Hosts** of a capture are LAN addresses (or, where the capture point is beyond a NAT, a
  few public addresses carrying many hosts' flows). Each has an operating system, which
  sets its TTL at the tap (64 Linux/macOS/ESP-IDF, 128 Windows, 63 behind a NAT router) and
  how it picks ephemeral ports: Linux draws from 32768-60999, Windows, macOS and lwIP from
  49152-65535, a NAT gateway from 1024-65535.
* **Ports** never repeat for one host within a capture, so a flow's 5-tuple names it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from random import Random

PROVIDERS: dict[str, tuple[str, ...]] = {
    "ovh": (
        "51.68.0.0/16",
        "51.75.0.0/16",
        "51.89.0.0/16",
        "141.94.0.0/16",
        "145.239.0.0/16",
        "54.37.0.0/16",
        "178.32.0.0/15",
    ),
    "hetzner": (
        "88.99.0.0/16",
        "95.216.0.0/16",
        "95.217.0.0/16",
        "135.181.0.0/16",
        "65.21.0.0/16",
        "65.108.0.0/16",
        "168.119.0.0/16",
        "116.202.0.0/16",
    ),
    "digitalocean": (
        "167.99.0.0/16",
        "159.89.0.0/16",
        "138.68.0.0/16",
        "104.248.0.0/16",
        "178.62.0.0/16",
    ),
    "aws": (
        "3.120.0.0/14",
        "18.184.0.0/15",
        "52.28.0.0/16",
        "35.156.0.0/14",
        "54.93.0.0/16",
        "34.192.0.0/12",
        "52.0.0.0/11",
    ),
    "gcp": ("34.64.0.0/11", "35.184.0.0/13", "35.224.0.0/12"),
    "azure": ("20.50.0.0/16", "40.112.0.0/13", "52.136.0.0/13", "13.64.0.0/11"),
    "alibaba": ("47.254.0.0/16", "47.88.0.0/14", "8.208.0.0/16"),
    "cloudflare": ("104.16.0.0/13", "172.64.0.0/13"),
    "linode": ("172.104.0.0/15", "139.162.0.0/16", "45.79.0.0/16"),
    "vultr": ("45.32.0.0/16", "149.28.0.0/16", "207.148.0.0/16"),
}
_NETS = {k: tuple(ipaddress.ip_network(p) for p in v) for k, v in PROVIDERS.items()}


def server_ip(label: str, provider: str) -> str:
    """A stable address for ``label`` in one of ``provider``'s prefixes."""
    h = int.from_bytes(hashlib.sha256(f"server:{label}".encode()).digest()[:8], "big")
    nets = _NETS[provider]
    net = nets[h % len(nets)]
    host = 1 + (h >> 8) % (net.num_addresses - 2)
    if host & 0xFF in (0, 255):
        host ^= 1 if host & 0xFF == 0 else 3
    return str(net.network_address + host)


def any_server(rng: Random, providers: tuple[str, ...] = tuple(PROVIDERS)) -> str:
    """A fresh server address of a random provider (a flow's own peer)."""
    return server_ip(f"anon:{rng.getrandbits(48)}", rng.choice(providers))


#: ephemeral port ranges: (low, high)
EPHEMERAL = {
    "linux": (32768, 60999),
    "windows": (49152, 65535),
    "nat": (1024, 65535),
    "macos": (49152, 65535),
    "embedded": (49152, 65535),  # lwIP's local port range
}
TTL = {"linux": 64, "windows": 128, "nat": 63, "macos": 64, "embedded": 64}
WINDOW = {"linux": 502, "windows": 1026, "nat": 502, "macos": 2052, "embedded": 5744}


class Host:
    """One client address of a capture and what it did there (for hosts.csv)."""

    __slots__ = ("ip", "os", "used", "miner_flows", "benign_flows", "weight")

    def __init__(self, ip: str, os: str, weight: float = 1.0) -> None:
        self.ip = ip
        self.os = os
        self.used: set[int] = set()
        self.miner_flows = 0
        self.benign_flows = 0
        self.weight = weight

    @property
    def ttl(self) -> int:
        return TTL[self.os]

    @property
    def win(self) -> int:
        return WINDOW[self.os]

    def port(self, rng: Random) -> int:
        """An ephemeral port this host has not used in the capture."""
        lo, hi = EPHEMERAL[self.os]
        while True:
            p = rng.randint(lo, hi)
            if p not in self.used:
                self.used.add(p)
                return p

    def count(self, miner: bool) -> None:
        if miner:
            self.miner_flows += 1
        else:
            self.benign_flows += 1


def lan_hosts(rng: Random, prefix: str, n: int, os_weights: dict[str, float]) -> list[Host]:
    """``n`` distinct hosts of ``prefix`` (gateway .1 and the resolver excluded)."""
    net = ipaddress.ip_network(prefix)
    size = net.num_addresses
    chosen: set[int] = set()
    out = []
    oses, weights = list(os_weights), list(os_weights.values())
    while len(out) < n:
        k = rng.randint(2, size - 2)
        if k in chosen or k & 0xFF in (0, 1, 53, 255):
            continue
        chosen.add(k)
        activity = min(rng.paretovariate(1.3), 40.0)  # a few hosts make most of the traffic
        out.append(Host(str(net.network_address + k), rng.choices(oses, weights)[0], activity))
    out.sort(key=lambda h: ipaddress.ip_address(h.ip))
    return out


def resolver_of(prefix: str) -> str:
    """The LAN's resolver: .53 of the prefix's first /24."""
    return str(ipaddress.ip_network(prefix).network_address + 53)
