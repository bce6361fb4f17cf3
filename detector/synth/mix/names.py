"""Host names, CNAME chains and operator address ranges for the benchmark's traffic.

Names and chains are of the kind a corporate LAN resolves all day (they mirror what public
resolvers return for these names, simplified); addresses are drawn deterministically from
each operator's real announced prefixes, so a DNS answer and the HTTPS/QUIC flow that
follows agree, and the pairs look plausible to anyone reading the capture.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass

#: operator -> (IPv4 prefixes, IPv6 prefix or None)
OPERATORS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "google": (("142.250.0.0/15", "172.217.0.0/16", "216.58.192.0/19"), "2a00:1450:4001::/48"),
    "akamai": (("23.32.0.0/11", "104.64.0.0/10"), "2a02:26f0::/29"),
    "fastly": (("151.101.0.0/16", "199.232.0.0/16"), "2a04:4e42::/32"),
    "cloudflare": (("104.16.0.0/13", "172.64.0.0/13"), "2606:4700::/32"),
    "github": (("140.82.112.0/20", "185.199.108.0/22"), None),
    "microsoft": (("13.107.0.0/16", "20.190.128.0/18", "40.126.0.0/18"), "2620:1ec::/36"),
    "aws": (("52.216.0.0/15", "54.231.0.0/16", "3.5.0.0/19"), "2600:1f18::/32"),
    "cloudfront": (("13.224.0.0/14", "18.64.0.0/14"), "2600:9000::/28"),
    "wikimedia": (("185.15.58.0/24", "208.80.154.0/23"), "2a02:ec80:300::/48"),
    "meta": (("157.240.0.0/17", "31.13.64.0/18"), "2a03:2880::/32"),
    "canonical": (("185.125.188.0/22", "91.189.91.0/24"), "2620:2d:4000::/44"),
    "debian": (("151.101.2.132/32", "151.101.66.132/32"), "2a04:4e42:400::644/128"),
    "docker": (("44.205.64.0/20", "54.196.0.0/15"), None),
    "slack": (("3.120.0.0/14",), None),
    "zoom": (("170.114.0.0/16", "144.195.0.0/16"), None),
}

#: (name, CNAME chain, operator, weight): the target of the last CNAME holds the addresses.
_NAMES: list[tuple[str, tuple[str, ...], str, int]] = [
    ("www.google.com", (), "google", 40),
    ("clients4.google.com", ("clients.l.google.com",), "google", 20),
    ("mtalk.google.com", ("mobile-gtalk.l.google.com",), "google", 8),
    ("accounts.google.com", (), "google", 10),
    ("mail.google.com", ("googlemail.l.google.com",), "google", 12),
    ("www.gstatic.com", (), "google", 18),
    ("fonts.googleapis.com", ("googleapis.l.google.com",), "google", 14),
    ("safebrowsing.googleapis.com", (), "google", 9),
    ("update.googleapis.com", (), "google", 6),
    ("www.youtube.com", ("youtube-ui.l.google.com",), "google", 15),
    ("i.ytimg.com", (), "google", 10),
    ("dl.google.com", (), "google", 4),
    (
        "www.microsoft.com",
        (
            "www.microsoft.com-c-3.edgekey.net",
            "www.microsoft.com-c-3.edgekey.net.globalredir.akadns.net",
            "e13678.dscb.akamaiedge.net",
        ),
        "akamai",
        6,
    ),
    (
        "login.microsoftonline.com",
        (
            "login.mso.msidentity.com",
            "ak.privatelink.msidentity.com",
            "www.tm.ak.prd.aadg.akadns.net",
        ),
        "microsoft",
        14,
    ),
    (
        "outlook.office365.com",
        ("outlook.ha.office365.com", "outlook.ms-acdc.office.com"),
        "microsoft",
        16,
    ),
    ("teams.microsoft.com", ("teams.office.com", "tmc-g2.tm-4.office.com"), "microsoft", 12),
    ("www.office.com", ("www.office.com.b-0004.b-msedge.net",), "microsoft", 6),
    ("edge.microsoft.com", ("edge.microsoft.com.dual-a-0036.a-msedge.net",), "microsoft", 6),
    (
        "www.bing.com",
        (
            "www-www.bing.com.trafficmanager.net",
            "www.bing.com.edgekey.net",
            "e86303.dscx.akamaiedge.net",
        ),
        "akamai",
        5,
    ),
    (
        "download.windowsupdate.com",
        (
            "wu-bg-shim.trafficmanager.net",
            "download.windowsupdate.com.edgesuite.net",
            "a767.dspw65.akamai.net",
        ),
        "akamai",
        4,
    ),
    ("github.com", (), "github", 12),
    ("api.github.com", (), "github", 10),
    ("objects.githubusercontent.com", (), "github", 6),
    ("codeload.github.com", (), "github", 3),
    ("www.wikipedia.org", ("dyna.wikimedia.org",), "wikimedia", 5),
    ("en.wikipedia.org", ("dyna.wikimedia.org",), "wikimedia", 5),
    ("upload.wikimedia.org", ("upload.wikimedia.org",), "wikimedia", 3),
    ("pypi.org", (), "fastly", 5),
    ("files.pythonhosted.org", ("dualstack.python.map.fastly.net",), "fastly", 6),
    ("www.reddit.com", ("reddit.map.fastly.net",), "fastly", 6),
    ("cdn.jsdelivr.net", ("cdn.jsdelivr.net.cdn.cloudflare.net",), "cloudflare", 5),
    ("registry.npmjs.org", (), "cloudflare", 6),
    ("repo.maven.apache.org", ("repo.maven.apache.org.cdn.cloudflare.net",), "cloudflare", 3),
    ("discord.com", (), "cloudflare", 4),
    ("www.cloudflare.com", (), "cloudflare", 2),
    ("time.cloudflare.com", (), "cloudflare", 2),
    (
        "www.amazon.com",
        ("tp.47cf2c8c9-frontier.amazon.com", "d3ag4hukkh62yn.cloudfront.net"),
        "cloudfront",
        5,
    ),
    ("s3.amazonaws.com", ("s3-1-w.amazonaws.com", "s3-w.us-east-1.amazonaws.com"), "aws", 4),
    ("sqs.eu-central-1.amazonaws.com", (), "aws", 3),
    ("www.facebook.com", ("star-mini.c10r.facebook.com",), "meta", 6),
    ("static.xx.fbcdn.net", ("scontent.xx.fbcdn.net",), "meta", 5),
    ("www.instagram.com", ("z-p42-instagram.c10r.instagram.com",), "meta", 3),
    ("deb.debian.org", ("debian.map.fastlydns.net",), "debian", 5),
    ("security.debian.org", ("debian.map.fastlydns.net",), "debian", 3),
    ("archive.ubuntu.com", (), "canonical", 4),
    ("security.ubuntu.com", (), "canonical", 3),
    ("connectivity-check.ubuntu.com", (), "canonical", 4),
    ("api.snapcraft.io", (), "canonical", 3),
    ("ntp.ubuntu.com", (), "canonical", 2),
    ("registry-1.docker.io", (), "docker", 3),
    ("auth.docker.io", (), "docker", 2),
    ("production.cloudflare.docker.com", (), "cloudflare", 3),
    ("slack.com", (), "slack", 5),
    ("wss-primary.slack.com", (), "slack", 4),
    ("zoom.us", (), "zoom", 3),
    ("us05web.zoom.us", (), "zoom", 2),
]


@dataclass(frozen=True)
class Name:
    name: str
    chain: tuple[str, ...]
    operator: str
    v4: tuple[str, ...]
    v6: tuple[str, ...]
    ttl: int


def _addresses(name: str, prefixes: tuple[str, ...], count: int) -> tuple[str, ...]:
    out = []
    for i in range(count):
        h = int.from_bytes(hashlib.sha256(f"{name}#{i}".encode()).digest()[:8], "big")
        net = ipaddress.ip_network(prefixes[h % len(prefixes)])
        host = (h >> 8) % net.num_addresses
        if net.num_addresses > 2:
            host = max(1, min(host, net.num_addresses - 2))
        out.append(str(net.network_address + host))
    return tuple(dict.fromkeys(out))


def _build() -> tuple[list[Name], list[int]]:
    names, weights = [], []
    for name, chain, op, weight in _NAMES:
        v4p, v6p = OPERATORS[op]
        h = hashlib.sha256(name.encode()).digest()
        n4 = 1 + h[0] % 4
        v4 = _addresses(name, v4p, n4)
        v6 = _addresses(name + "/6", (v6p,), 1 + h[1] % 2) if v6p else ()
        ttl = (60, 300, 300, 3600, 120, 20)[h[2] % 6]
        names.append(Name(name, chain, op, v4, v6, ttl))
        weights.append(weight)
    return names, weights


NAMES, WEIGHTS = _build()
BY_NAME = {n.name: n for n in NAMES}

#: (host, path) of downloads big enough for the bulk HTTP (port 80) flows.
DOWNLOADS: list[tuple[str, str]] = [
    (
        "deb.debian.org",
        "/debian/pool/main/l/linux-signed-amd64/linux-image-6.1.0-28-amd64_6.1.119-1_amd64.deb",
    ),
    ("deb.debian.org", "/debian/dists/bookworm/main/binary-amd64/Packages.xz"),
    (
        "deb.debian.org",
        "/debian/pool/main/f/firefox-esr/firefox-esr_128.5.1esr-1~deb12u1_amd64.deb",
    ),
    (
        "security.debian.org",
        "/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz",
    ),
    (
        "security.debian.org",
        "/debian-security/pool/updates/main/o/openssl/libssl3_3.0.15-1~deb12u1_amd64.deb",
    ),
    ("archive.ubuntu.com", "/ubuntu/dists/noble-updates/main/binary-amd64/Packages.xz"),
    (
        "archive.ubuntu.com",
        "/ubuntu/pool/main/l/linux-firmware/linux-firmware_20240318.git3b128b60-0ubuntu2.6_all.deb",
    ),
    ("security.ubuntu.com", "/ubuntu/dists/noble-security/InRelease"),
    ("security.ubuntu.com", "/ubuntu/pool/main/c/curl/libcurl4t64_8.5.0-2ubuntu10.5_amd64.deb"),
    (
        "download.windowsupdate.com",
        "/c/msdownload/update/software/secu/2025/12/windows11.0-kb5048685-x64_0a2d.cab",
    ),
    (
        "download.windowsupdate.com",
        "/d/msdownload/update/software/defu/2026/01/am_delta_patch_1.421.1433.0_2c41.exe",
    ),
    ("dl.google.com", "/linux/direct/google-chrome-stable_current_amd64.deb"),
    ("dl.google.com", "/chrome/install/ChromeStandaloneSetup64.exe"),
    ("upload.wikimedia.org", "/wikipedia/commons/4/47/PNG_transparency_demonstration_1.png"),
]

USER_AGENTS_HTTP = (
    "Debian APT-HTTP/1.3 (2.6.1)",
    "Debian APT-HTTP/1.3 (2.6.1) non-interactive",
    "Microsoft-Delivery-Optimization/10.0",
    "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.71",
    "curl/7.88.1",
    "Wget/1.21.3",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
)

#: Names QUIC (HTTP/3) is commonly used with.
QUIC_NAMES = tuple(n for n in NAMES if n.operator in ("google", "cloudflare", "meta"))

#: Public resolvers some hosts use instead of the LAN resolver.
PUBLIC_RESOLVERS = ("1.1.1.1", "8.8.8.8", "9.9.9.9", "8.8.4.4")
NTP_SERVERS = (
    "162.159.200.1",
    "162.159.200.123",
    "185.125.190.56",
    "185.125.190.57",
    "216.239.35.0",
    "216.239.35.4",
    "129.6.15.28",
    "194.58.202.20",
)

#: Mining pool host names and their (hosting-provider) addresses.
POOL_NAMES: tuple[tuple[str, str], ...] = (
    ("pool.supportxmr.com", "141.94.96.144"),
    ("xmr-eu1.nanopool.org", "51.15.65.182"),
    ("gulf.moneroocean.stream", "144.76.115.231"),
    ("xmr.2miners.com", "162.19.139.184"),
    ("etc.2miners.com", "162.19.139.186"),
    ("etc-eu1.nanopool.org", "51.15.69.136"),
    ("rvn.2miners.com", "51.89.96.151"),
    ("stratum.braiins.com", "185.231.74.70"),
    ("btc.viabtc.io", "47.254.129.47"),
    ("ltc.viabtc.io", "47.254.129.48"),
    ("stratum.ravenminer.com", "95.216.17.86"),
    ("eu.ezil.me", "94.130.12.21"),
)

#: Hosting-provider addresses of pools mined by IP (no DNS lookup in the capture).
POOL_IPS: tuple[str, ...] = (
    "5.9.117.12",
    "46.4.105.11",
    "51.68.190.29",
    "51.83.149.104",
    "54.37.7.208",
    "65.21.133.42",
    "78.46.79.217",
    "88.99.142.163",
    "95.217.177.165",
    "135.181.82.38",
    "141.95.72.59",
    "148.251.193.233",
    "157.90.158.15",
    "162.55.33.209",
    "176.9.2.144",
    "178.63.100.197",
    "188.165.254.85",
    "193.70.12.9",
)
