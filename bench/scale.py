"""Does minewatch's cost per packet grow with the size of a capture or with its flows?

    python -m bench.scale [--packets 100000,1000000,10000000] [--flows 10000,100000,1000000]
                          [--real 1000000,10000000] [--real-same 1000000,10000000]
                          [--runs 3] [--seed S]  (make bench-scale)

Why: ``make bench`` (bench/run.py) measures one 1,000,000-packet capture. Forensics staff
replay captures of hundreds of gigabytes and a sensor sees every flow of a link, so a
cost that creeps up with the length of a capture (state that piles up, structures that
are scanned whole now and then) or with the number of flows open at once (table lookups,
expiry, end-of-capture scoring) would not show there. Issue #21 [fast] asks that packets/s
and peak RSS at 10 M packets stay within 10 % of the figures at 1 M; this runner measures
it, and the same for 10 k, 100 k and 1 M flows open together.

Inputs (bench/data/, git-ignored, generated once by bench/make_capture.py and reused):

- ``steady-N-sS.pcap``: the bench's mixed capture at a steady packet rate (``--steady``:
  1,000,000 packets per 10 minutes of traffic), so 10 M packets are 100 minutes of the same
  office uplink, not ten times denser traffic. For N = 1,000,000 that is exactly
  ``mixed-1000000-sS.pcap``, the capture of ``make bench``, and that file is used.
- ``real-N-sS.pcap``: the bench's real-traffic input (bench/make_real.py: the public
  captures of ../shared/corpus written again and again, addresses shifted per replica) at N
  packets; N = 1,000,000 is ``make bench``'s own. Why beside the steady series: a longer
  steady capture is the same network for longer, so its long-lived flows (miners, web
  channels) are a larger share of its packets and flow starts a smaller one - its cost per
  packet differs from the 1 M capture's by what it carries, not only by its size. Here
  every replica carries the same traffic, so 10 M against 1 M packets isolates what size
  does to the cost per packet (state that piles up, structures scanned whole). Its memory
  is not a size-only figure: each replica's hosts are new addresses, so the suspect and
  crypto-node tables hold ten times the entries at 10 M (bounded: suspects.py,
  nodehosts.py); the steady series, same hosts throughout, is the memory check.
- ``realsame-N-sS.pcap``: the same, written with ``make_real --same-hosts``: every replica
  keeps the original addresses, a replica span (days) after the one before, so its flows
  are new flows of the same hosts - the same network recorded for longer. Per packet it
  carries exactly what the 1 M capture carries, and its hosts do not grow; what does grow
  is time, so the results kept for the end (suspects and crypto-node sightings per host
  and hour window, bounded: suspects.py, nodehosts.py) grow with it.
- ``concurrent-F-sS.pcap``: F TCP connections opened at 10,000/s and never closed, each a
  handshake and one HTTP GET (4 packets, distinct 5-tuples): the flow table holds all F at
  the end (its ``peak`` column says so). These run with ``--max-flows`` above F (default
  2,000,000) so that the largest is a table of 1 M flows rather than a test of eviction at
  the default 500,000 cap.

Each capture is read once more before each run (page cache), then ``minewatch scan FILE
-f jsonl -o /dev/null -j 1 --stats`` runs pinned to core 0 (``taskset -c 0``) under GNU
``/usr/bin/time -f '%e %M'``, in ``--runs`` interleaved rounds (every capture once per
round). Reported per capture, from the median run: wall time and packets/s (start-up
included), minewatch's own packets/s (its summary line, interpreter start-up excluded:
the figure to compare across sizes, since start-up weighs on 0.1 M packets and not on
10 M), microseconds per packet, and peak RSS; the flow table's peak, its own count of its
bytes and the evictions come from ``--stats``. The table, with date, machine, load
average and command, is printed and appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.run import (
    CORPUS,
    DATA,
    GNU_TIME,
    REPO,
    RESULTS,
    Run,
    cpu_model,
    git_state,
    measure,
    minewatch_cmd,
    recache,
    tree_hash,
    warm,
)

DEFAULT_PACKETS = "100000,1000000,10000000"
DEFAULT_FLOWS = "10000,100000,1000000"
DEFAULT_REAL = "1000000,10000000"
DEFAULT_REAL_SAME = "1000000,10000000"
BENCH_PACKETS = 1_000_000  # the size whose steady-rate capture is make bench's own
_SUMMARY = re.compile(r"minewatch: ([\d,]+) packets, ([\d,]+) flows, .* in ([\d.]+) s "
                      r"\(([\d,]+) packets/s\)")
_PEAK = re.compile(r"peak ([\d,]+) flows in ([\d.,]+ [KMG]?B) of flow state "
                   r"\(([\d,]+) bytes/flow\), ([\d,]+) evicted")


@dataclass
class Case:
    """One input of the table: what it is, where it is, how it is made and scanned."""

    label: str
    path: Path
    make: list[str]  # bench.make_capture (or ``tool``) arguments after the output path
    scan: list[str] = field(default_factory=list)  # extra ``minewatch scan`` options
    runs: list[Run] = field(default_factory=list)
    tool: str = "bench.make_capture"  # the module that makes the capture


def cases(packets: list[int], flows: list[int], seed: int, data: Path,
          max_flows: int, real: list[int] | None = None,
          real_same: list[int] | None = None) -> list[Case]:
    out = []
    for n in packets:
        name = f"mixed-{n}-s{seed}.pcap" if n == BENCH_PACKETS else f"steady-{n}-s{seed}.pcap"
        out.append(Case(f"{n / 1e6:g} M packets, mixed, steady rate", data / name,
                        ["--packets", str(n), "--steady", "--seed", str(seed)]))
    for n in real or []:
        out.append(Case(real_label(n), data / f"real-{n}-s{seed}.pcap",
                        ["--packets", str(n), "--seed", str(seed), "--corpus", str(CORPUS)],
                        tool="bench.make_real"))
    for n in real_same or []:
        out.append(Case(real_label(n, same_hosts=True), data / f"realsame-{n}-s{seed}.pcap",
                        ["--packets", str(n), "--seed", str(seed), "--corpus", str(CORPUS),
                         "--same-hosts"], tool="bench.make_real"))
    for f in flows:
        out.append(Case(f"{f:,} concurrent flows", data / f"concurrent-{f}-s{seed}.pcap",
                        ["--variant", "concurrent", "--flows", str(f), "--seed", str(seed)],
                        ["--max-flows", str(max(max_flows, f + 64))]))
    return out


def real_label(n: int, same_hosts: bool = False) -> str:
    if same_hosts:
        return f"{n / 1e6:g} M packets, real traffic, replicated, same hosts"
    return f"{n / 1e6:g} M packets, real traffic, replicated"


def ensure(case: Case) -> None:
    """Generate the capture unless it (and its truth file) is there already."""
    if case.path.exists() and Path(f"{case.path}.truth.json").exists():
        return
    sys.stderr.write(f"bench.scale: generating {case.path}\n")
    subprocess.run([sys.executable, "-m", case.tool, str(case.path), *case.make],
                   check=True, cwd=REPO)


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def parsed(run: Run) -> dict:
    """Packets, flows, own seconds and rate from the summary; peak and evicted flows from
    the ``--stats`` line (None where a line is missing)."""
    m = _SUMMARY.search(run.stderr)
    p = _PEAK.search(run.stderr)
    return {
        "packets": _int(m.group(1)) if m else None,
        "flows": _int(m.group(2)) if m else None,
        "own_pps": _int(m.group(4)) if m else None,  # from the unrounded time
        "peak": _int(p.group(1)) if p else None,
        "state": f"{p.group(2)}, {p.group(3)} B/flow" if p else "?",
        "evicted": _int(p.group(4)) if p else None,
    }


def row(case: Case) -> str:
    ok = [r for r in case.runs if r.rc == 0]
    if not ok:
        rc = case.runs[0].rc if case.runs else "?"
        return f"| {case.label} | - | - | - | - | {len(case.runs)} | failed (exit {rc}) | | | | |"
    info = [parsed(r) for r in ok]
    packets = info[0]["packets"] or json.loads(Path(f"{case.path}.truth.json").read_text())[
        "packets"]
    wall = statistics.median(r.wall for r in ok)
    own = [i["own_pps"] for i in info if i["own_pps"]]
    own_pps = statistics.median(own) if own else None
    rss = sorted(r.rss_kb / 1024 for r in ok)
    peak, evicted = info[0]["peak"], info[0]["evicted"]
    own_cols = f"{own_pps:,.0f} | {1e6 / own_pps:.2f}" if own_pps else "? | ?"
    return (f"| {case.label} | {packets:,} | {peak if peak is None else f'{peak:,}'} "
            f"| {evicted if evicted is None else f'{evicted:,}'} | {info[0]['state']} "
            f"| {len(ok)} | {wall:,.2f} "
            f"| {packets / wall:,.0f} | {own_cols} "
            f"| {statistics.median(rss):,.0f} ({rss[0]:,.0f}-{rss[-1]:,.0f}) |")


def figures(case: Case) -> tuple[float, float] | None:
    """(own packets/s, peak RSS MB) of the median runs, for the ratio lines."""
    ok = [r for r in case.runs if r.rc == 0]
    info = [parsed(r) for r in ok]
    own = [i["own_pps"] for i in info if i["own_pps"]]
    if not own:
        return None
    return statistics.median(own), statistics.median(r.rss_kb / 1024 for r in ok)


def ratio_lines(table: list[Case], packets: list[int], flows: list[int],
                real: list[int] | None = None, real_same: list[int] | None = None) -> list[str]:
    """Largest against 1 M packets ([fast]'s target: within 10 %), steady and real
    traffic, and largest against smallest flow count."""
    lines = []
    by_label = {c.label: c for c in table}
    pairs = []
    if BENCH_PACKETS in packets and max(packets) > BENCH_PACKETS:
        pairs.append((f"{max(packets) / 1e6:g} M vs 1 M packets (mixed, steady rate)",
                      table[packets.index(max(packets))], table[packets.index(BENCH_PACKETS)]))
    if real and BENCH_PACKETS in real and max(real) > BENCH_PACKETS:
        pairs.append((f"{max(real) / 1e6:g} M vs 1 M packets (real traffic, replicated)",
                      by_label[real_label(max(real))], by_label[real_label(BENCH_PACKETS)]))
    if real_same and BENCH_PACKETS in real_same and max(real_same) > BENCH_PACKETS:
        pairs.append((f"{max(real_same) / 1e6:g} M vs 1 M packets (real traffic, same hosts)",
                      by_label[real_label(max(real_same), True)],
                      by_label[real_label(BENCH_PACKETS, True)]))
    if len(flows) >= 2:
        pairs.append((f"{max(flows):,} vs {min(flows):,} concurrent flows",
                      by_label[f"{max(flows):,} concurrent flows"],
                      by_label[f"{min(flows):,} concurrent flows"]))
    for name, big, small in pairs:
        a, b = figures(big), figures(small)
        if a and b:
            lines.append(f"- {name}: own packets/s {a[0] / b[0]:.2f}x, peak RSS "
                         f"{a[1] / b[1]:.2f}x (medians; 1.00 = flat)")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", default=DEFAULT_PACKETS,
                   help=f"mixed capture sizes, comma-separated (default {DEFAULT_PACKETS})")
    p.add_argument("--flows", default=DEFAULT_FLOWS,
                   help=f"concurrent-flow counts, comma-separated (default {DEFAULT_FLOWS})")
    p.add_argument("--real", default=DEFAULT_REAL,
                   help=f"real-traffic capture sizes, comma-separated (default {DEFAULT_REAL}; "
                        "'' to skip; needs the corpus)")
    p.add_argument("--real-same", default=DEFAULT_REAL_SAME,
                   help="real-traffic sizes with the same hosts in every replica "
                        f"(default {DEFAULT_REAL_SAME}; '' to skip; needs the corpus)")
    p.add_argument("--runs", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-flows", type=int, default=2_000_000,
                   help="minewatch --max-flows for the concurrent-flow captures")
    p.add_argument("--data", type=Path, default=DATA, help="where captures are kept")
    p.add_argument("--results", type=Path, default=RESULTS, help="file the table is appended to")
    args = p.parse_args(argv)
    try:
        packets = [int(x) for x in args.packets.split(",") if x.strip()]
        flows = [int(x) for x in args.flows.split(",") if x.strip()]
        real = [int(x) for x in args.real.split(",") if x.strip()]
        real_same = [int(x) for x in args.real_same.split(",") if x.strip()]
    except ValueError:
        p.error("--packets, --flows, --real and --real-same take comma-separated integers")
    if (real or real_same) and not (CORPUS / "labels.csv").is_file():
        sys.stderr.write(f"bench.scale: no corpus at {CORPUS}: real-traffic sizes skipped\n")
        real = real_same = []
    if any(n < 1 for n in packets + flows + real + real_same) or args.runs < 1:
        p.error("sizes, flow counts and --runs must be positive")
    if not Path(GNU_TIME).exists():
        sys.stderr.write("bench.scale: error: /usr/bin/time (Debian: time) is required\n")
        return 2
    command = "python -m bench.scale" + (" " + shlex.join(argv if argv is not None
                                                            else sys.argv[1:])).rstrip()
    args.data.mkdir(parents=True, exist_ok=True)
    table = cases(packets, flows, args.seed, args.data, args.max_flows, real, real_same)
    for case in table:
        ensure(case)
    mw = minewatch_cmd()
    revision = f"{git_state()}, detector+signatures tree {tree_hash()}"
    load_before = os.getloadavg()
    for case in table:
        recache(case.path)
    for rnd in range(args.runs):
        for case in table:
            warm(case.path)
            sys.stderr.write(f"bench.scale: round {rnd + 1}/{args.runs}: {case.label}\n")
            run = measure([*mw, "scan", str(case.path), "-f", "jsonl", "-o", os.devnull,
                           "-j", "1", "--stats", *case.scan])
            if run.rc != 0:
                sys.stderr.write(f"bench.scale: {case.label} exited with {run.rc}: "
                                 f"{run.stderr.strip()[-300:]}\n")
            case.runs.append(run)
    load_after = os.getloadavg()
    lines = [
        "| input | packets | flows in table, peak | evicted | flow state at the peak "
        "(--stats) | runs | wall s | packets/s "
        "(start-up included) | own packets/s (start-up excluded) | own µs/packet "
        "| peak RSS MB (min-max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[row(c) for c in table],
    ]
    sizes = ", ".join(f"{c.path.name} {c.path.stat().st_size / 1e6:,.0f} MB" for c in table)
    flow_opts = sorted({" ".join(c.scan) for c in table if c.scan})
    notes = [
        f"- medians of {args.runs} interleaved rounds, one core (`taskset -c 0`), page-cached; "
        f"`minewatch scan FILE -f jsonl -o /dev/null -j 1 --stats`"
        + (f", concurrent-flow captures with `{'`, `'.join(flow_opts)}`" if flow_opts else ""),
        f"- load average (1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)}, "
        f"after {'/'.join(f'{x:.2f}' for x in load_after)}",
        f"- files: {sizes}",
        *ratio_lines(table, packets, flows, real, real_same),
    ]
    report = "\n".join([*lines, "", *notes])
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    after = f"{git_state()}, detector+signatures tree {tree_hash()}"
    changed = "" if after == revision else f" (changed during the run, at the end: {after})"
    cores = len(os.sched_getaffinity(0))
    entry = (f"\n## {now} - bench-scale\n\n- CPU: {cpu_model()}, {os.cpu_count()} logical "
             f"cores ({cores} usable; minewatch pinned to core 0)\n"
             f"- Python {platform.python_version()}, {platform.system()} "
             f"{platform.release()}\n- minewatch: {revision}{changed}\n"
             f"- command: `{command}`\n\n{report}\n")
    print(entry)
    with args.results.open("a") as fh:
        if fh.tell() == 0:
            fh.write("# minewatch benchmark results\n\nAppended by `python -m bench.run` and "
                     "`python -m bench.scale` (see bench/README.md). Newest last.\n")
        fh.write(entry)
    sys.stderr.write(f"bench.scale: appended to {args.results}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
