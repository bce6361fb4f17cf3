"""Two minewatch trees and ndpiReader on the same capture, side by side, interleaved.

    python -m bench.compare CAPTURE --tree before=/path/to/old --tree after=. [--rounds 9]
    python -m bench.compare CAPTURE --tree model=. --tree rules=.@--model,none

Why: a change must not make minewatch slower relative to ndpiReader, and this VM's speed
drifts by tens of per cent within minutes, so the trees are compared in one run: each
round runs every tree's ``minewatch scan CAPTURE -f jsonl -o /dev/null -q`` (each tree
byte-compiled first) and ``ndpiReader -i CAPTURE`` once, in turn, pinned to core 0
(``taskset -c 0``) after the capture was read once more so it is in the page cache (and
once before the rounds it is dropped from the cache and read back in order:
bench.run.recache says why). Per tree it reports the fastest and the median wall time and
packets/s, and the ratio to ndpiReader's packets/s by the fastest runs and by the medians
(each tree's ratio uses the ndpiReader runs of the same rounds). Each tree needs its own
built venv (``make demo`` in it).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

from bench.run import recache, warm


def _packets(capture: Path) -> int:
    """Records of a little-endian microsecond pcap (what bench.make_capture writes)."""
    count, off = 0, 24
    with capture.open("rb") as fh:
        data = fh.read()
    while off + 16 <= len(data):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
        count += 1
    return count


def _timed(command: list[str]) -> float:
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    started = time.perf_counter()
    subprocess.run([*pin, *command], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("capture", type=Path)
    p.add_argument("--tree", action="append", required=True, metavar="NAME=PATH",
                   help="a minewatch checkout with its .venv (repeatable)")
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args(argv)
    # NAME=PATH, or NAME=PATH@ARG,ARG... to add options to that tree's scan (e.g. the same
    # tree with and without the flow model: model=.  rules=.@--model,none)
    trees = [(name, Path(path).resolve(), [a for a in extra.split(",") if a])
             for name, _, spec in (t.partition("=") for t in args.tree)
             for path, _, extra in [spec.partition("@")]]  # fmt: skip
    ndpi = shutil.which("ndpiReader")
    if ndpi is None:
        print("ndpiReader not installed (Debian: libndpi-bin)", file=sys.stderr)
        return 2
    packets = _packets(args.capture)
    for _, root, _ in trees:
        # Byte-compiled first, as make bench does: with PYTHONDONTWRITEBYTECODE set, a tree
        # whose sources changed since its .pyc files were written compiles them on every
        # run (~40 ms of each run, measured after an edit of decode.py and flows.py).
        subprocess.run([str(root / ".venv/bin/python"), "-m", "compileall", "-q",
                        str(root / "detector")], check=True, stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {name: [] for name, _, _ in trees}
    times["ndpiReader"] = []
    recache(args.capture)
    for _ in range(args.rounds):
        for name, root, extra in trees:
            warm(args.capture)
            times[name].append(_timed([str(root / ".venv/bin/minewatch"), "scan",
                                       str(args.capture), "-f", "jsonl", "-o", "/dev/null",
                                       "-q", "-j", "1", *extra]))
        warm(args.capture)
        times["ndpiReader"].append(_timed([ndpi, "-i", str(args.capture), "-q"]))
    nd_best, nd_median = min(times["ndpiReader"]), statistics.median(times["ndpiReader"])
    print(f"{args.capture}: {packets:,} packets, {args.rounds} interleaved rounds, core 0")
    print("| tool | fastest s | median s | packets/s (fastest) | vs ndpiReader (fastest) "
          "| vs ndpiReader (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in [n for n, _, _ in trees] + ["ndpiReader"]:
        best, median = min(times[name]), statistics.median(times[name])
        print(f"| {name} | {best:.2f} | {median:.2f} | {packets / best:,.0f} | "
              f"{nd_best / best:.2f}x | {nd_median / median:.2f}x |")
    for name in times:
        print(f"{name} runs: " + ", ".join(f"{t:.2f}" for t in times[name]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
