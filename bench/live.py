"""Live capture at rising rates: the highest packet rate each tool takes without losing a
packet, minewatch live beside ndpiReader live, on the same veth, in the same run.

    python -m bench.live [--packets 1000000] [--rates 25000,50000,...] [--capture PCAP ...]

Why: a sensor on a mirror port cannot ask the link to slow down; what it cannot keep up
with is lost. So per capture and rate: two network namespaces joined by a veth pair
(offloads off, MTU 65535 so every frame of the captures fits), the tool capturing on one
end pinned to core 0, ``tcpreplay --pps RATE --limit N`` sending the capture's first N
packets from the other end pinned to core 1. Lost = packets tcpreplay sent minus packets
the tool saw (minewatch: its ``stopped:`` line, which also gives the kernel's drop count;
ndpiReader: its "N packets total"). A tool passes a rate when it lost none. tcpreplay's
achieved rate is reported too: on a small VM it may fall short of the one asked for.
``minewatch-2-workers`` (``--workers 2``, a PACKET_FANOUT group of two processes) is
pinned to both cores, so on a 2-core machine its workers share core 1 with tcpreplay.

Inputs, made as ``make bench`` makes them when absent (bench/data/, git-ignored): the
generated mixed capture and the real-traffic capture cut from the corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.run import CORPUS, DATA, REPO, cpu_model, generate, git_state, log

GEN, MON = "mwbench-gen", "mwbench-mon"
GEN_IF, MON_IF = "mwbg0", "mwbm0"
MTU = 65535  # veth takes it: every frame of the captures fits (real ones hold GSO blobs)


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


@contextlib.contextmanager
def veth_lab():  # type: ignore[no-untyped-def]
    """Two namespaces joined by a veth pair, no addresses (the kernel answers nothing, so
    nothing but the replayed packets crosses), IPv6 off, offloads off."""
    for ns in (GEN, MON):
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "netns", "add", ns)
    try:
        sh("ip", "link", "add", GEN_IF, "mtu", str(MTU), "netns", GEN, "type", "veth",
           "peer", "name", MON_IF, "mtu", str(MTU), "netns", MON)  # fmt: skip
        for ns, ifname in ((GEN, GEN_IF), (MON, MON_IF)):
            for knob in ("all", "default"):
                sh("ip", "netns", "exec", ns, "sysctl", "-qw",
                   f"net.ipv6.conf.{knob}.disable_ipv6=1")  # fmt: skip
            sh("ip", "netns", "exec", ns, "ip", "link", "set", ifname, "up")
            sh("ip", "netns", "exec", ns, "ethtool", "-K", ifname, "tso", "off", "gso", "off",
               "gro", "off", check=False)  # fmt: skip
        yield
    finally:
        for ns in (GEN, MON):
            sh("ip", "netns", "del", ns, check=False)


@dataclass
class Trial:
    tool: str
    asked_pps: int
    sent: int = 0
    achieved_pps: float = 0.0
    seen: int = 0
    kernel_dropped: int | None = None
    error: str | None = None

    @property
    def lost(self) -> int:
        return max(0, self.sent - self.seen)


def _start(tool: str, mw: list[str], workdir: Path) -> tuple[subprocess.Popen, Path]:
    log_path = workdir / f"{tool}.log"
    cores = "0"
    if tool == "ndpiReader":
        cmd = ["stdbuf", "-oL", "ndpiReader", "-i", MON_IF]  # its lines as they come
        ready = "Running thread"
    else:
        cmd = [*mw, "live", "-i", MON_IF, "--eve", "/dev/null", "--health", "0"]
        if tool == "minewatch-rules":
            cmd += ["--model", "none"]
        if tool == "minewatch-2-workers":  # PACKET_FANOUT over two processes, both cores
            cmd += ["--workers", "2"]
            cores = "0,1"
        ready = "capturing on"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", MON, "taskset", "-c", cores, *cmd],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while ready not in log_path.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{tool} did not start: {log_path.read_text()[-500:]}")
        time.sleep(0.1)
    time.sleep(0.5)
    return proc, log_path


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_idle(pid: int, limit: float = 120.0) -> None:
    """Wait until the tool has worked through its ring or buffer: its CPU time grows by
    less than a tenth of the wall time for half a second. Stopping it earlier would count
    packets it had not read yet as lost; the kernel's drops are the loss that matters."""
    deadline = time.monotonic() + limit
    try:
        before = _cpu_seconds(pid)
        while time.monotonic() < deadline:
            time.sleep(0.5)
            now = _cpu_seconds(pid)
            if now - before < 0.05:
                return
            before = now
    except (OSError, IndexError, ValueError):
        return


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def replayable(capture: Path, packets: int, workdir: Path) -> tuple[Path, int]:
    """The first ``packets`` records of ``capture`` that libpcap will replay: a record
    whose wire length is past libpcap's 262,144-byte limit (the corpus keeps fuzzed ones)
    makes tcpreplay stop, so such records are left out (counted). Little-endian classic
    pcap, as bench.make_capture and bench.make_real write."""
    out = workdir / f"{capture.stem}-{packets}.replay.pcap"
    skipped = 0
    with capture.open("rb") as fi, out.open("wb") as fo:
        fo.write(fi.read(24))
        kept = 0
        while kept < packets:
            head = fi.read(16)
            if len(head) < 16:
                break
            caplen, wirelen = struct.unpack("<II", head[8:16])
            data = fi.read(caplen)
            if caplen > MTU or wirelen > 262144 or caplen > wirelen:
                skipped += 1
                continue
            fo.write(head + data)
            kept += 1
    return out, skipped


def trial(tool: str, capture: Path, rate: int, packets: int, mw: list[str], workdir: Path) -> Trial:
    t = Trial(tool, rate)
    proc, log_path = _start(tool, mw, workdir)
    try:
        replay = subprocess.run(
            ["ip", "netns", "exec", GEN, "taskset", "-c", "1", "tcpreplay", "-i", GEN_IF,
             "--preload-pcap", "--pps", str(rate), "--quiet", str(capture)],
            capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        _wait_idle(proc.pid)  # what the kernel queued for it is processed before it stops
    finally:
        _stop(proc)
    text = replay.stdout + replay.stderr
    if m := re.search(r"Actual: (\d+) packets .* sent in ([\d.]+) seconds", text):
        t.sent, seconds = int(m.group(1)), float(m.group(2))
        t.achieved_pps = t.sent / seconds if seconds > 0 else 0.0
    else:
        t.error = f"tcpreplay: {text.strip()[-300:]}"
    out = log_path.read_text(errors="replace")
    if tool == "ndpiReader":
        if m := re.search(r"IP packets:\s+\d+\s+of (\d+) packets total", out):
            t.seen = int(m.group(1))
    elif m := re.search(r"stopped: .*? ([\d,]+) packets\b.* ([\d,]+) dropped", out):
        t.seen = int(m.group(1).replace(",", ""))
        t.kernel_dropped = int(m.group(2).replace(",", ""))
    if not t.seen and t.error is None:
        t.error = f"{tool}: no count in its output: {out.strip()[-300:]}"
    return t


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=1_000_000,
                   help="packets replayed per trial (enough to overflow a 32 MB ring)")
    p.add_argument("--rates", default="25000,50000,100000,150000,200000,300000")
    p.add_argument("--capture", type=Path, action="append",
                   help="captures to replay (default: the bench's mixed and real ones)")
    p.add_argument("--tools", default="minewatch,minewatch-rules,ndpiReader")
    args = p.parse_args(argv)
    missing = [t for t in ("tcpreplay", "ndpiReader", "ip", "taskset") if not shutil.which(t)]
    if os.geteuid() != 0 or missing:
        log(f"error: needs root and {', '.join(missing) or 'nothing else'}")
        return 2
    DATA.mkdir(exist_ok=True)
    captures = args.capture
    if not captures:
        mixed = DATA / "mixed-1000000-s1.pcap"
        generate(mixed, ["--packets", "1000000", "--seed", "1"], [])
        captures = [mixed]
        real = DATA / "real-1000000-s1.pcap"
        if (CORPUS / "labels.csv").is_file():
            generate(real, ["--packets", "1000000", "--seed", "1", "--corpus", str(CORPUS)], [],
                     tool="bench.make_real")
            captures.append(real)
    rates = [int(r) for r in args.rates.split(",")]
    tools = args.tools.split(",")
    mw = [sys.executable, "-m", "detector"]
    workdir = DATA / "live"
    workdir.mkdir(exist_ok=True)
    lines = [
        f"`python -m bench.live {' '.join(argv if argv is not None else sys.argv[1:])}`".replace(
            " `", "`"),
        f"{time.strftime('%Y-%m-%d')}, {cpu_model()}, {os.cpu_count()} cores, "
        f"Linux {platform.release()}, {git_state()}; tool on core 0, tcpreplay on core 1; "
        f"{args.packets:,} packets per trial",
        "",
    ]
    with veth_lab():
        for original in captures:
            capture, skipped = replayable(original, args.packets, workdir)
            note = f" ({skipped} unreplayable records left out)" if skipped else ""
            lines += [f"**{original.name}**, its first {args.packets:,} packets{note}", "",
                      "| asked pps | " + " | ".join(f"{t} lost (kernel drops)" for t in tools)
                      + " | tcpreplay achieved pps |",
                      "|---:|" + "---:|" * (len(tools) + 1)]  # fmt: skip
            best = {t: 0 for t in tools}
            failed: set[str] = set()
            for rate in rates:
                cells, achieved = [], []
                for tool in tools:
                    if tool in failed:
                        cells.append("-")
                        continue
                    t = trial(tool, capture, rate, args.packets, mw, workdir)
                    log(f"{capture.name} {rate} pps {tool}: sent {t.sent} seen {t.seen} "
                        f"lost {t.lost} kernel {t.kernel_dropped} {t.error or ''}")
                    achieved.append(t.achieved_pps)
                    if t.error:
                        cells.append(f"error: {t.error[:60]}")
                        failed.add(tool)
                        continue
                    drops = "" if t.kernel_dropped is None else f" ({t.kernel_dropped:,})"
                    cells.append(f"{t.lost:,}{drops}")
                    if t.lost == 0:
                        best[tool] = max(best[tool], int(t.achieved_pps))
                    else:
                        failed.add(tool)
                rate_cell = f"{min(achieved):,.0f}" if achieved else "-"
                lines.append(f"| {rate:,} | " + " | ".join(cells) + f" | {rate_cell} |")
                if len(failed) == len(tools):
                    break
            lines += ["", "highest rate with no packet lost (achieved pps): "
                      + ", ".join(f"{t} {best[t]:,}" for t in tools), ""]  # fmt: skip
    report = "\n".join(lines)
    print(report)
    (REPO / "bench" / "LIVE.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
