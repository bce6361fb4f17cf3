"""Generate the benchmark captures: big, realistic, deterministic, fast.

    python -m bench.make_capture OUT.pcap [--packets N [--steady] | --size-mb M] [--seed S]
                                          [--variant mixed|synscan|synscan-1flow|concurrent]
                                          [--pairs P] [--flows F]

Variants
  mixed (default)  ~1,000,000 packets over ~10 minutes of a /20 office LAN's uplink: bulk
                   HTTP downloads, HTTPS flows that open with real recorded TLS handshakes
                   (detector/synth/data/tls/), DNS (A/AAAA/CNAME chains, NODATA,
                   NXDOMAIN), QUIC, NTP, and a few hundred Stratum mining flows in several
                   dialects. The miners' IPs and flow counts go to OUT.truth.json.
  synscan          a SYN scan of P (default 200,000) distinct (dst ip, port) pairs, each
                   answered by a RST: P flows, for flow-state memory measurement.
  synscan-1flow    the same packets, sizes and timing with every probe to one (dst, port):
                   the one-flow baseline that synscan's memory is compared against.

--size-mb M writes about M megabytes (10^6 bytes) instead of a packet count. The packet
rate stays that of the default capture (1,000,000 packets per 10 minutes), so a bigger
file covers a longer time: flow state is then bounded by the timeouts, as in a real long
capture, and memory comparisons between sizes are meaningful. --steady does the same for
--packets N: N packets at that rate (N/1,000,000 x 10 minutes) instead of N packets squeezed
into 10 minutes, with at most the miners of 1,000,000 packets (the same hosts mining for
longer); for N = 1,000,000 the two are the same file. bench/scale.py compares
0.1 M, 1 M and 10 M packets this way, so that a bigger capture is a longer one, not a
denser one.

Same arguments, same bytes: every random choice comes from ``random.Random`` objects
seeded from --seed and fixed labels, timestamps are integers, nothing reads the clock.
The flows, dialects and packets come from :mod:`detector.synth` (the mix in
:mod:`detector.synth.mix`, headers packed with ``struct``); this file composes the variants
and writes the records as they are made (time-ordered merge of per-flow generators), so
memory stays flat whatever the size.
"""

from __future__ import annotations

import argparse
import heapq
import ipaddress
import json
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

from detector.synth.benign.tls import load_templates
from detector.synth.clock import T0_US
from detector.synth.ip import PA, RA, SYN, Direction, packed
from detector.synth.links import GATEWAY_MAC, mac_for
from detector.synth.mix.context import POOL_SIZE, Context
from detector.synth.mix.lookups import Dns
from detector.synth.mix.miners import Miner
from detector.synth.mix.ntp import Ntp
from detector.synth.mix.quic import Quic
from detector.synth.mix.schedule import PCAP_HEADER, merge_write, spawner
from detector.synth.mix.web import HttpDownload, Https
from detector.synth.tcp import TAP, Tcp, bare

S = 1_000_000
T0 = T0_US  # 2026-01-05 10:00:00 UTC, the fixtures' epoch
DEFAULT_PACKETS = 1_000_000
DURATION = 600  # seconds covered by a --packets capture
AVG_BYTES = 800  # planning figure for --size-mb (measured: 780-820 per record)
MINING_FLOWS_PER_MILLION = 300
MAX_MINERS = 240  # of the LAN's 1,200 hosts
MINING_SHARE = 0.015  # of all packets, roughly; the background fills the rest
LAN = ipaddress.ip_network("10.20.0.0/20")
RESERVED_HOSTS = {"10.20.0.1", "10.20.0.53"}  # gateway, resolver

#: flow class -> share of the background packets (mixed variant)
BACKGROUND: tuple[tuple[type, float], ...] = (
    (HttpDownload, 0.36),
    (Https, 0.41),
    (Quic, 0.12),
    (Dns, 0.10),
    (Ntp, 0.01),
)

#: Relative weight of each recorded TLS client (file label prefix) among HTTPS flows.
TEMPLATE_WEIGHTS = {"curl": 3.0, "python": 2.0, "node": 2.0, "java": 1.5, "openssl": 0.6,
                    "wget": 0.8}

#: Top 100 TCP ports (nmap's frequency list order), the synscan's port set.
TOP_PORTS = (
    80, 23, 443, 21, 22, 25, 3389, 110, 445, 139, 143, 53, 135, 3306, 8080, 1723, 111, 995,
    993, 5900, 1025, 587, 8888, 199, 1720, 465, 548, 113, 81, 6001, 10000, 514, 5060, 179,
    1026, 2000, 8443, 8000, 32768, 554, 26, 1433, 49152, 2001, 515, 8008, 49154, 1027, 5666,
    646, 5000, 5631, 631, 49153, 8081, 2049, 88, 79, 5800, 106, 2121, 1110, 49155, 6000, 513,
    990, 5357, 427, 49156, 543, 544, 5101, 144, 7, 389, 8009, 3128, 444, 9999, 5009, 7070,
    5190, 3000, 5432, 1900, 3986, 13, 1029, 9, 5051, 6646, 49157, 1028, 873, 1755, 2717,
    4899, 9100, 119, 37,
)


def build_context(seed: int) -> Context:
    rng = random.Random(f"bench:{seed}:context")
    pool = rng.randbytes(POOL_SIZE)
    candidates = [str(a) for a in LAN.hosts()
                  if str(a) not in RESERVED_HOSTS and not str(a).endswith((".0", ".255"))]
    hosts = sorted(rng.sample(candidates, 1200), key=lambda a: ipaddress.ip_address(a))
    cum, total = [], 0.0
    for _ in hosts:  # heavy-tailed activity: a few hosts make much of the traffic
        total += min(rng.paretovariate(1.3), 60.0)
        cum.append(total)
    templates = load_templates()
    tcum, ttotal = [], 0.0
    for tpl in templates:
        key = tpl.label.split("-", 2)[1]
        ttotal += TEMPLATE_WEIGHTS.get(key, 1.0)
        tcum.append(ttotal)
    return Context(pool, hosts, cum, templates, tcum)


def calibrate(ctx: Context, seed: int, samples: int = 3000) -> dict[type, float]:
    """Mean packets per flow of each background class (from sampled plans, no packets)."""
    rng = random.Random(f"bench:{seed}:calibrate")
    return {cls: sum(cls(ctx, random.Random(rng.getrandbits(64))).npkts
                     for _ in range(samples)) / samples
            for cls, _ in BACKGROUND}


def miner_count(expected_packets: float, steady: bool) -> int:
    """How many LAN hosts mine in a mixed capture of ``expected_packets``. A steady capture
    longer than the bench's is the same network for longer: as many miners as in the
    bench's 1 M packets (mining on, reconnecting), not more hosts the longer it lasts - or
    the memory bench.scale compares across sizes would grow with miners, not with time."""
    population = min(expected_packets, DEFAULT_PACKETS) if steady else expected_packets
    n_flows = max(12, round(MINING_FLOWS_PER_MILLION * population / 1e6))
    return min(MAX_MINERS, max(8, round(n_flows / 2.2)))  # ~2.2 flows per miner


def mixed(fh, packets: int | None, size_mb: float | None, seed: int,
          steady: bool = False) -> dict:
    ctx = build_context(seed)
    rng = random.Random(f"bench:{seed}:schedule")
    if size_mb is not None:
        pps = DEFAULT_PACKETS / DURATION
        expected = size_mb * 1e6 / AVG_BYTES
        duration = expected / pps
    elif steady:
        assert packets is not None
        pps = DEFAULT_PACKETS / DURATION
        expected = packets
        duration = packets / pps
    else:
        assert packets is not None
        pps = packets / DURATION
        expected = packets
        duration = DURATION
    means = calibrate(ctx, seed)
    share_total = sum(share for _, share in BACKGROUND)
    sources: list[Iterator] = []
    for cls, share in BACKGROUND:
        rate = pps * (1 - MINING_SHARE) * share / share_total / means[cls]
        srng = random.Random(f"bench:{seed}:spawn:{cls.__name__}")
        sources.append(spawner(cls, rate, ctx, srng, T0))
    n_miners = miner_count(expected, steady)
    miner_ips = rng.sample(ctx.hosts, n_miners)
    miners = {}
    horizon = T0 + int(duration * 20 * S)
    for i, ip in enumerate(miner_ips):
        mid = i % 16 == 3  # one miner in 16 is mid-session when the capture starts
        m = Miner(ctx, random.Random(f"bench:{seed}:miner:{i}"), ip, f"{seed}:{i}", mid)
        start = T0 + (rng.randint(0, 2 * S) if mid else rng.randint(S, int(0.45 * duration * S)))
        miners[ip] = m
        sources.append(m.run(start, horizon))
    npk, size, first, last, marks, started = merge_write(
        fh, sources, packets, int(size_mb * 1e6) if size_mb is not None else None)
    flows: dict[str, list] = {}
    for ip, _k, _dialect, mid in marks:
        flows.setdefault(ip, []).append(mid)
    found = sorted(flows, key=ipaddress.ip_address)
    return {
        "variant": "mixed",
        "seed": seed,
        "packets": npk,
        "bytes": size,
        "first_ts": first / S,
        "last_ts": last / S,
        "duration_s": round((last - first) / S, 3),
        "miner_ips": found,
        "mining_flows": sum(len(v) for v in flows.values()),
        "miners": [
            {"ip": ip, "flows": len(flows[ip]), "dialect": miners[ip].dialect,
             "flavor": miners[ip].flavor, "pool": f"{miners[ip].pool_ip}:{miners[ip].port}",
             "pool_name": miners[ip].pool_name, "midsession": any(flows[ip])}
            for ip in found
        ],
        "flows_started": dict(sorted(started.items())),
    }


class _HeldWriter:
    """Records written in time order while their answers wait in a heap: what the SYN-scan
    and concurrent-flow captures share. ``due(t)`` releases the answers due by ``t``,
    ``spill()`` writes the records gathered so far once there are 8,192 of them, ``finish()``
    writes the rest; ``packets``/``size`` count what was written, ``last`` is the newest
    record's time."""

    def __init__(self, fh, start: int) -> None:
        fh.write(PCAP_HEADER)
        self.fh, self.size, self.packets = fh, len(PCAP_HEADER), 0
        self.pending: list = []
        self.out: list[bytes] = []
        self.last = start

    def due(self, t: int) -> None:
        pending, out = self.pending, self.out
        while pending and pending[0][0] <= t:
            ts, _, rec = heapq.heappop(pending)
            out.append(rec)
            self.last = ts

    def spill(self) -> bool:
        """Write the gathered records if there are 8,192; True if it wrote."""
        if len(self.out) < 8192:
            return False
        self._write()
        return True

    def finish(self) -> None:
        self.due(1 << 62)
        self._write()

    def _write(self) -> None:
        self.packets += len(self.out)
        self.size += sum(map(len, self.out))
        self.fh.write(b"".join(self.out))
        self.out.clear()


def synscan(fh, pairs: int, seed: int, one_flow: bool, max_bytes: int | None) -> dict:
    """A SYN scan at 10,000 probes/s; every probe answered by a RST-ACK 1-40 ms later."""
    rng = random.Random(f"bench:{seed}:synscan")
    scanner = "10.20.9.77"
    smac = mac_for(scanner)
    up_eth = TAP.header(4, smac, GATEWAY_MAC, True)
    down_eth = TAP.header(4, GATEWAY_MAC, smac, False)
    src = packed(scanner)
    sport = rng.randint(40000, 60000)
    nports = len(TOP_PORTS)
    net = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range
    order = list(range(pairs))
    rng.shuffle(order)
    w = _HeldWriter(fh, T0)
    t = first = T0
    for idx in order:
        if one_flow:
            dst, dport = packed(str(net.network_address + 1)), 80
        else:
            dst = packed(str(net.network_address + 1 + idx // nports))
            dport = TOP_PORTS[idx % nports]
        w.due(t)
        seq = rng.getrandbits(32)
        w.out.append(bare(t, Direction(src, dst, 46, df=False), up_eth, sport, dport, seq, 0,
                          SYN, 1024, rng.getrandbits(16), mss=1460))
        w.last = t
        tr = t + rng.randint(1_000, 40_000)
        ttl = rng.choice((50, 52, 56, 58, 116, 244))
        heapq.heappush(w.pending, (tr, idx, bare(tr, Direction(dst, src, ttl, df=False),
                                                 down_eth, dport, sport, 0,
                                                 (seq + 1) & 0xFFFFFFFF, RA, 0, 0)))
        t += 100
        if w.spill() and max_bytes is not None and w.size >= max_bytes:
            w.pending.clear()
            break
    w.finish()
    npk, size, last = w.packets, w.size, w.last
    return {
        "variant": "synscan-1flow" if one_flow else "synscan",
        "seed": seed,
        "packets": npk,
        "bytes": size,
        "first_ts": first / S,
        "last_ts": last / S,
        "duration_s": round((last - first) / S, 3),
        "scanner": scanner,
        "pairs": npk // 2,
        "distinct_pairs": 1 if one_flow else npk // 2,
        "miner_ips": [],
        "mining_flows": 0,
        "miners": [],
    }


STEADY_MIN = 4_000  # packets: 2.4 s at the default rate
CONCURRENT_RATE = 10_000  # new connections per second
CLIENTS = ipaddress.ip_network("10.64.0.0/10")  # 4 M addresses, 64 connections each
SERVERS = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range
PER_CLIENT = 64
CONCURRENT_PACKETS = 4  # SYN, SYN-ACK, ACK, GET


def concurrent(fh, flows: int, seed: int) -> dict:
    """``flows`` TCP connections that stay open: each a handshake and one HTTP GET, never
    answered, never a FIN or RST. Client i // 64 of 10.64.0.0/10 from port 40000 + i % 64
    to one of 4,096 web servers in 198.18.0.0/15 port 80: every 5-tuple distinct."""
    rng = random.Random(f"bench:{seed}:concurrent")
    c0, s0 = int(CLIENTS.network_address), int(SERVERS.network_address)
    step = S // CONCURRENT_RATE
    w = _HeldWriter(fh, T0)
    first = T0
    for i in range(flows):
        t = T0 + i * step
        w.due(t)
        client = str(ipaddress.ip_address(c0 + 1 + i // PER_CLIENT))
        server = str(ipaddress.ip_address(s0 + 1 + i % 4096))
        conn = Tcp(rng, client, 40000 + i % PER_CLIENT, server, 80)
        rtt = rng.randint(10_000, 80_000)
        request = (f"GET /item/{i} HTTP/1.1\r\nHost: s{i % 4096}.bench.example\r\n"
                   "Accept: */*\r\n\r\n").encode()
        recs = conn.handshake(t, rtt)
        t4 = t + rtt + 200
        recs.append((t4, conn.seg(t4, conn.c, PA, request)))
        for k, (ts, rec) in enumerate(recs):
            heapq.heappush(w.pending, (ts, i * CONCURRENT_PACKETS + k, rec))
        w.spill()
    w.finish()
    npk, size, last = w.packets, w.size, w.last
    return {
        "variant": "concurrent",
        "seed": seed,
        "packets": npk,
        "bytes": size,
        "first_ts": first / S,
        "last_ts": last / S,
        "duration_s": round((last - first) / S, 3),
        "flows": flows,
        "miner_ips": [],
        "mining_flows": 0,
        "miners": [],
    }


def generate(out: Path, *, packets: int | None = None, size_mb: float | None = None,
             seed: int = 1, variant: str = "mixed", pairs: int | None = None,
             flows: int | None = None, steady: bool = False) -> dict:
    """Write ``out`` and ``out``.truth.json; return the truth record. The capture is
    written to a temporary name and renamed when complete."""
    tmp = out.with_name(out.name + ".part")
    with tmp.open("wb", buffering=1 << 20) as fh:
        if variant == "mixed":
            if packets is None and size_mb is None:
                packets = DEFAULT_PACKETS
            truth = mixed(fh, packets, size_mb, seed, steady)
        elif variant == "concurrent":
            truth = concurrent(fh, flows or 100_000, seed)
        else:
            if pairs is None:
                if size_mb is not None:
                    pairs = int(size_mb * 1e6 / 152) + 1
                else:
                    pairs = packets // 2 if packets else 200_000
            max_bytes = int(size_mb * 1e6) if size_mb is not None else None
            truth = synscan(fh, pairs, seed, variant == "synscan-1flow", max_bytes)
    truth["generator"] = "python -m bench.make_capture"
    os.replace(tmp, out)
    Path(f"{out}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.make_capture",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="capture to write (pcap, Ethernet, microseconds)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--packets", type=int, help=f"packets (default {DEFAULT_PACKETS:,})")
    size.add_argument("--size-mb", type=float, help="about this many megabytes (10^6 B)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--steady", action="store_true",
                   help="mixed --packets N: keep the default capture's packet rate, so N "
                        "packets cover N/1,000,000 x 10 minutes")
    p.add_argument("--variant", choices=("mixed", "synscan", "synscan-1flow", "concurrent"),
                   default="mixed")
    p.add_argument("--pairs", type=int, help="synscan: distinct (dst ip, port) pairs "
                                             "(default 200,000, or packets/2)")
    p.add_argument("--flows", type=int, help="concurrent: connections open together "
                                             "(default 100,000)")
    args = p.parse_args(argv)
    if args.packets is not None and args.packets < 1:
        p.error("--packets must be positive")
    if args.flows is not None and not 1 <= args.flows <= PER_CLIENT * (CLIENTS.num_addresses - 2):
        p.error("--flows must be between 1 and 268,435,328")
    if args.steady and (args.variant != "mixed" or args.packets is None):
        p.error("--steady goes with --variant mixed and --packets")
    if args.steady and args.packets < STEADY_MIN:
        # miners start within the first 45 % of the capture, at least 1 s in
        p.error(f"--steady needs --packets >= {STEADY_MIN:,} (a capture of >= 2.4 s)")
    truth = generate(args.out, packets=args.packets, size_mb=args.size_mb, seed=args.seed,
                     variant=args.variant, pairs=args.pairs, flows=args.flows,
                     steady=args.steady)
    miners = truth["miner_ips"]
    sys.stderr.write(
        f"{args.out}: {truth['packets']:,} packets, {truth['bytes'] / 1e6:,.1f} MB, "
        f"{truth['duration_s']:,.1f} s of traffic, {len(miners)} miner IPs "
        f"({truth['mining_flows']} mining flows); truth in {args.out}.truth.json\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
