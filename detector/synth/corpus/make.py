"""Writing a corpus: captures played and merged in time order, labels beside them.

Layout of ``OUTDIR``::

    c000-office.pcap  c001-farm-nat.pcap  c002-cloud.pcap  c003-home-isp.pcap  ...
    flows.csv     one label row per flow of every capture (columns: :data:`.flow.COLUMNS`)
    flowinfo.csv  the same flows, what the capture holds of each (:data:`.flow.INFO_COLUMNS`)
    hosts.csv     one row per client address of every capture
    README.txt  what it is, how it was made, the counts

Each capture is planned (:mod:`.plan`), then its flows are played: a flow's generator is
started when the merge reaches its first packet and dropped when it ends, records leave a
heap in time order and go to the file in 8,192-record writes, so a capture needs the
memory of its live flows only, and the corpus that of one capture at a time per worker.
Captures are independent (their own seeds), so ``--jobs`` changes the time, never the
bytes; labels are written in capture order.
"""

from __future__ import annotations

import csv
import heapq
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

from detector.synth.benign.tls import load_templates
from detector.synth.corpus.flow import COLUMNS, INFO_COLUMNS, S
from detector.synth.corpus.net import Host
from detector.synth.corpus.plan import SCENARIOS, WINDOW, CapturePlan, captures, plan_capture
from detector.synth.pcap import file_header
from detector.synth.tcp import TAP

DEFAULT_FLOWS = 20_000
HOST_COLUMNS = ("capture", "ip", "class", "miner_flows", "benign_flows", "os", "nat")
DNS_KINDS = ("dns", "dns-pool")


@dataclass
class CaptureResult:
    name: str
    packets: int
    size: int
    flows: list[dict[str, object]]
    infos: list[dict[str, object]]
    hosts: list[dict[str, object]]


@dataclass
class Summary:
    captures: int = 0
    packets: int = 0
    size: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    dialects: Counter[tuple[str, int]] = field(default_factory=Counter)
    kinds: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def miners(self) -> int:
        return self.classes["miner"]

    @property
    def lookups(self) -> int:
        """DNS lookups: labelled benign flows, but not hard negatives (they come on top)."""
        return sum(n for (c, k), n in self.kinds.items() if k in DNS_KINDS)

    @property
    def negatives(self) -> int:
        return self.classes["benign"] - self.lookups

    def add(self, res: CaptureResult) -> None:
        self.captures += 1
        self.packets += res.packets
        self.size += res.size
        for r in res.flows:
            self.classes[str(r["class"])] += 1
            if r["class"] == "miner":
                self.dialects[(str(r["dialect"]), int(str(r["tls"])))] += 1
            self.kinds[(str(r["class"]), str(r["kind"]))] += 1


def write_capture(cp: CapturePlan, seed: int, outdir: Path) -> CaptureResult:
    """Play one capture into ``outdir/cp.name``; its label rows come back."""
    env, flows, hosts = plan_capture(cp, seed, load_templates())
    order = {id(f): i for i, f in enumerate(flows)}
    flows.sort(key=lambda f: (max(f.start, env.t0), order[id(f)]))
    heap: list = []
    tie = count()
    out: list[bytes] = []
    packets = size = 0
    first_ts = 0
    end = env.end
    with (outdir / cp.name).open("wb") as fh:
        header = file_header(TAP.linktype)
        fh.write(header)
        size = len(header)
        i, n = 0, len(flows)
        while i < n or heap:
            if i < n and (not heap or max(flows[i].start, env.t0) <= heap[0][0]):
                f = flows[i]
                i += 1
                gen = f.run()
                nxt = next(gen, None)
                if nxt is not None:
                    heapq.heappush(heap, (nxt[0], next(tie), nxt[1], f, gen))
                continue
            ts, _, rec, f, gen = heap[0]
            if ts <= end:
                out.append(rec)
                packets += 1
                size += len(rec)
                if not f.packets:
                    f.first = ts
                    first_ts = first_ts or ts
                f.packets += 1
                f.last = ts
                if len(out) >= 8192:
                    fh.write(b"".join(out))
                    out.clear()
            nxt = next(gen, None)
            if nxt is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (nxt[0], next(tie), nxt[1], f, gen))
        fh.write(b"".join(out))
    played = sorted((f for f in flows if f.packets), key=lambda f: (f.first, order[id(f)]))
    rows = [f.row((f.first - first_ts) / S) for f in played]
    return CaptureResult(
        cp.name,
        packets,
        size,
        rows,
        [f.info() for f in played],
        _hosts(cp.name, rows, {h.ip: h for h in hosts}),
    )


def _hosts(
    capture: str, rows: list[dict[str, object]], known: dict[str, Host]
) -> list[dict[str, object]]:
    """hosts.csv rows: every client address, a miner when any of its flows mines; ``nat``
    when the address carries several hosts' flows (a farm's or a household's router)."""
    miner: Counter[str] = Counter()
    benign: Counter[str] = Counter()
    for r in rows:
        (miner if r["class"] == "miner" else benign)[str(r["client_ip"])] += 1
    out = []
    for ip in sorted(set(miner) | set(benign), key=lambda a: tuple(int(x) for x in a.split("."))):
        h = known[ip]
        out.append(
            {
                "capture": capture,
                "ip": ip,
                "class": "miner" if miner[ip] else "benign",
                "miner_flows": miner[ip],
                "benign_flows": benign[ip],
                "os": h.os,
                "nat": int(h.os == "nat"),
            }
        )
    return out


def _work(args: tuple[CapturePlan, int, str]) -> CaptureResult:
    cp, seed, outdir = args
    return write_capture(cp, seed, Path(outdir))


def make_corpus(
    outdir: Path,
    flows: int = DEFAULT_FLOWS,
    seed: int = 1,
    jobs: int = 1,
    progress: Callable[[CaptureResult], None] | None = None,
) -> Summary:
    """Write the corpus of ``flows`` labelled flows (half miners) into ``outdir``."""
    started = time.perf_counter()
    outdir.mkdir(parents=True, exist_ok=True)
    plans = captures(flows)
    summary = Summary()
    args = [(cp, seed, str(outdir)) for cp in plans]
    with (
        (outdir / "flows.csv").open("w", newline="", encoding="utf-8") as ff,
        (outdir / "flowinfo.csv").open("w", newline="", encoding="utf-8") as inf,
        (outdir / "hosts.csv").open("w", newline="", encoding="utf-8") as hf,
    ):
        fw = csv.DictWriter(ff, COLUMNS, lineterminator="\n")
        iw = csv.DictWriter(inf, INFO_COLUMNS, lineterminator="\n")
        hw = csv.DictWriter(hf, HOST_COLUMNS, lineterminator="\n")
        for w in (fw, iw, hw):
            w.writeheader()
        for res in _results(args, jobs):
            fw.writerows(res.flows)
            iw.writerows(res.infos)
            hw.writerows(res.hosts)
            summary.add(res)
            if progress is not None:
                progress(res)
    summary.seconds = time.perf_counter() - started
    (outdir / "README.txt").write_text(readme(flows, seed, plans, summary), encoding="utf-8")
    return summary


def _results(args: list[tuple[CapturePlan, int, str]], jobs: int) -> Iterator[CaptureResult]:
    if jobs <= 1 or len(args) == 1:
        for a in args:
            yield _work(a)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with ctx.Pool(min(jobs, len(args))) as pool:
        yield from pool.imap(_work, args)


def readme(flows: int, seed: int, plans: list[CapturePlan], s: Summary) -> str:
    by_dialect = "\n".join(
        f"  {d or '-':<20} {'tls' if t else 'clear':<6} {n:>7,}"
        for (d, t), n in sorted(s.dialects.items())
    )
    by_kind = "\n".join(f"  {c:<7} {k:<22} {n:>7,}" for (c, k), n in sorted(s.kinds.items()))
    names = ", ".join(sc.name for sc in SCENARIOS)
    return f"""minewatch labelled corpus
=========================

Made by `minewatch corpus make OUTDIR --flows {flows} --seed {seed}`: the same arguments
give the same bytes. Synthetic traffic from detector/synth (the project's generator):
every flow is labelled, miners and hard negatives in equal numbers.

Captures: {len(plans)} classic pcap files (Ethernet, microseconds), {WINDOW // S // 60} minutes
each, one scenario each ({names}); {s.packets:,} packets, {s.size / 1e6:,.1f} MB.

flows.csv - the label of every flow (a TCP connection or a UDP conversation), one row each:
  capture, client_ip, client_port, server_ip, server_port, proto (tcp/udp): the flow
  class           miner | benign
  dialect         mining dialect (names of detector/dialects.py); empty for benign flows
  tls             1 when the flow runs inside TLS; Stratum V2 is Noise-encrypted, not TLS
                  (tls 0, dialect stratum-v2)
  coin, pool      what a miner mines and where ("private": a proxy no pool list knows)
  job_interval    a miner's mean seconds between pool jobs (pushes or work polls)
  share_interval  a miner's mean seconds between shares (from hash rate and difficulty)
  start_offset    seconds from the capture's first packet to the flow's first packet
  kind            the program or miner shape (xmrig, cgminer, coinhive-js, mqtt-telemetry,
                  ssh-idle, ticker-websocket, ...; dns and dns-pool for the lookups before
                  connections, which come on top of the hard negatives)

flowinfo.csv - the same flows in the same order (same key: capture and 5-tuple), what the
capture holds of each:
  tls_version     1.2 | 1.3 (empty: no TLS)
  sni             the SNI the ClientHello carried (empty: none, or no TLS)
  server_name     the name the client connected to (DNS/SNI/Host), empty when by address
  keepalive       seconds of the flow's keep-alive/heartbeat timer (empty: none)
  duration        seconds from the flow's first to last packet in the capture
  midsession      1 when the session began before the capture (no handshake seen)
  end             fin-client | fin-server | rst-client | rst-server | capture-end (TCP)
  jobs, shares    job pushes/work answers and shares the capture holds of a miner flow
  packets         packets of the flow in the capture
  rtt_ms, loss    the path's round-trip time and segment loss rate
  nat             1 when the client address is a NAT carrying several hosts

hosts.csv - one row per client address per capture: capture, ip, class (miner when any
of its flows mines), miner_flows, benign_flows, os, nat.

Labelled flows: {s.miners:,} miner, {s.negatives:,} hard negatives, {s.lookups:,} DNS lookups.
Miner flows by dialect and transport:
{by_dialect}
Flows by kind:
{by_kind}

Read it with `minewatch eval OUTDIR`.
"""
