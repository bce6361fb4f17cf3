"""Peak memory of ``minewatch scan`` on mining farms: 100,000 distinct miners, and one
miner with 100,000 sessions, flows left open (the audit's 68 MB captures), for each
output format. The [harden] target: at most 200 MB each.

    python -m bench.miner_memory [--sessions N] [--keep]

Captures are written by detector.synth.farm into bench/data/ (kept with --keep).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from detector.synth.farm import write_farm

DATA = Path(__file__).resolve().parent / "data"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.miner_memory")
    p.add_argument("--sessions", type=int, default=100_000)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args(argv)
    DATA.mkdir(exist_ok=True)
    print(f"| capture ({args.sessions:,} sessions) | format | peak RSS MB | wall s |")
    print("|---|---|---:|---:|")
    for name, one in (("distinct miners", False), ("one miner", True)):
        path = DATA / f"farm-{'one' if one else 'many'}-{args.sessions}.pcap"
        if not path.exists():
            write_farm(path, args.sessions, one_client=one)
        for fmt in ("jsonl", "table", "csv"):
            started = time.perf_counter()
            proc = subprocess.run(
                ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "detector", "scan",
                 str(path), "-f", fmt, "-o", "/dev/null", "-q", "-j", "1"],
                capture_output=True, text=True, check=True)
            rss = int(proc.stderr.strip().splitlines()[-1]) / 1024
            print(f"| {name} ({path.stat().st_size / 1e6:.1f} MB) | {fmt} | {rss:.0f} | "
                  f"{time.perf_counter() - started:.1f} |")
        if not args.keep:
            path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
