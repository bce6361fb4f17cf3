"""Benchmark minewatch against nDPI, Suricata, tshark and a naive scapy loop.

    python -m bench.run [--packets N] [--seed S] [--runs R] [--keep]     (make bench)

1. Installs the comparison tools when missing and running as root (apt-get: libndpi-bin,
   tshark, time; suricata from Debian's bookworm-backports suite, which is added to
   /etc/apt/sources.list.d when absent).
2. Generates bench/data/mixed-N-sS.pcap (+ .truth.json), the real-traffic input
   bench/data/real-N-sS.pcap (bench/make_real.py, from --corpus, default ../shared/corpus)
   and the two synscan captures if absent (bench/data/ is git-ignored).
3. Runs, on the page-cached capture, pinned to one core (taskset -c 0), each tool R times
   (default 2; minewatch, ndpiReader and Suricata at least --ratio-runs, default 9) in
   interleaved
   rounds, keeping the fastest run: ``minewatch scan -j 1`` (full
   detection), ``minewatch scan -j 2`` (pinned to cores 0-1), ``ndpiReader -i``,
   ``suricata --runmode single -r`` with the bench's coin-miner rules
   (bench/suricata/coinminer.rules) and EVE alerts only, ``tshark -T fields``, and scapy's
   PcapReader on the first 20,000 packets, extrapolated to the whole capture; in the same
   rounds minewatch, ndpiReader and Suricata on the real-traffic input. Wall time is
   measured around the child, peak RSS by GNU time (``/usr/bin/time -f '%e %M'``).
4. Measures minewatch's flow-state bytes per flow on the synscan capture (200,000 flows):
   ``scan --stats`` if the CLI has it, else the peak-RSS difference against the one-flow
   baseline capture with the same packets.
5. Checks detection: minewatch's suspects on the mixed capture, and on the real-traffic
   input, must be exactly the truth file's miner IPs.
6. Prints one summary table first - both inputs, minewatch with 1 and 2 workers beside
   ndpiReader and Suricata, packets/s, peak RSS and the ratio to the faster of ndpiReader
   and Suricata (issue #21's target), by the median runs and by the fastest - then the
   detailed report, and appends it all, with date, CPU, load average and the command, to
   bench/RESULTS.md.

Without --keep, the files this run generated in bench/data/ are removed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
DATA = BENCH / "data"
RESULTS = BENCH / "RESULTS.md"
CORPUS = REPO.parent / "shared" / "corpus"
SLICE = 20_000
SYN_PAIRS = 200_000
PIN = ["taskset", "-c", "0"]
PIN2 = ["taskset", "-c", "0,1"]  # minewatch -j 2: its second worker gets the second core
SURICATA_DIR = BENCH / "suricata"
SURICATA_RULES = SURICATA_DIR / "coinminer.rules"
SURICATA_EVE = SURICATA_DIR / "eve-alerts.yaml"
BACKPORTS = Path("/etc/apt/sources.list.d/bookworm-backports.sources")
GNU_TIME = "/usr/bin/time"
_TSHARK_VER = r"TShark[^0-9]*([0-9.]+)"
_SCAPY_VER = "import scapy; print(scapy.VERSION)"


@dataclass
class Run:
    wall: float
    rss_kb: int
    rc: int
    stdout: str = ""
    stderr: str = ""


@dataclass
class Row:
    tool: str
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    extrapolated_wall: float | None = None  # scapy: projected full-capture time
    run_count: int = 0  # runs made (scapy keeps only its best in ``runs``)

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda r: r.wall)


def log(msg: str) -> None:
    sys.stderr.write(f"bench: {msg}\n")
    sys.stderr.flush()


# --- tools -----------------------------------------------------------------------------

def ensure_tools() -> list[str]:
    """apt-get install what is missing (root only); return the problems left."""
    wanted = {"ndpiReader": "libndpi-bin", "tshark": "tshark", GNU_TIME: "time",
              "taskset": "util-linux"}
    missing = sorted({pkg for tool, pkg in wanted.items() if shutil.which(tool) is None})
    if missing and os.geteuid() == 0:
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "-q", *missing]
        if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            subprocess.run(cmd, env=env, capture_output=True)
    if shutil.which("suricata") is None and os.geteuid() == 0:
        install_suricata()
    problems = [f"{tool} not installed" for tool in [*wanted, "suricata"]
                if shutil.which(tool) is None]
    if problems and os.geteuid() != 0:
        problems.append("not root: cannot apt-get install them")
    return problems


def install_suricata() -> None:
    """Suricata 7 from Debian's bookworm-backports (bookworm itself has 6.0): the suite is
    added to /etc/apt/sources.list.d when no apt source lists it. Elsewhere, the
    distribution's own package."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        release = Path("/etc/os-release").read_text()
    except OSError:
        release = ""
    cmd = ["apt-get", "install", "-y", "-q", "suricata"]
    if "VERSION_CODENAME=bookworm" in release:
        sources = [*Path("/etc/apt").glob("sources.list"),
                   *Path("/etc/apt/sources.list.d").glob("*")]
        listed = any("bookworm-backports" in f.read_text(errors="replace")
                     for f in sources if f.is_file() and f.suffix in (".list", ".sources", ""))
        if not listed:
            log(f"adding Debian's bookworm-backports suite ({BACKPORTS})")
            BACKPORTS.write_text("Types: deb\nURIs: http://deb.debian.org/debian\n"
                                 "Suites: bookworm-backports\nComponents: main\n"
                                 "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
        cmd[3:3] = ["-t", "bookworm-backports"]
    log("installing suricata")
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
    subprocess.run(cmd, env=env, capture_output=True)


def suricata_cmd(capture: Path, logdir: Path) -> list[str]:
    """Suricata as issue #21 measured it: one thread (``--runmode single``; its flow
    manager and recycler threads share the pinned core), the coin-miner rules only (-S),
    EVE with alerts only (bench/suricata/eve-alerts.yaml, included after Debian's
    suricata.yaml), checksums not validated (-k none: the generated capture has zero
    TCP/UDP checksums, as with offload, and neither minewatch nor ndpiReader checks them)."""
    return ["suricata", "--runmode", "single", "-k", "none", "-r", str(capture),
            "-S", str(SURICATA_RULES), "--include", str(SURICATA_EVE), "-l", str(logdir)]


def fresh_dir(path: Path) -> None:
    """An empty log directory, so that each Suricata run's eve.json is its own."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def minewatch_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("minewatch")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "detector"]


def version(cmd: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, out.stdout + out.stderr)
    return m.group(1) if m else "?"


def git_state() -> str:
    """Commit of the tree measured, "+ uncommitted changes" when tracked files differ.
    Read-only: GIT_OPTIONAL_LOCKS=0 keeps ``git status`` from refreshing the index."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=30)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown revision"
    if head.returncode != 0:
        return "not a git checkout"
    dirty = " + uncommitted changes" if status.stdout.strip() else ""
    return f"git {head.stdout.strip()}{dirty}"


def tree_hash() -> str:
    """Digest of the code and data that decide minewatch's behaviour (detector/,
    signatures/), committed or not: identifies the exact tree that was measured."""
    h = hashlib.sha256()
    for top in ("detector", "signatures"):
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so":
                h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# --- running and measuring -------------------------------------------------------------

def warm(path: Path) -> None:
    """Read the file so that every tool gets it from the page cache."""
    with path.open("rb", buffering=0) as fh:
        while fh.read(16 << 20):
            pass


def recache(path: Path) -> None:
    """Drop the file from the page cache and read it back in order, once before the rounds.

    Why: how the cache holds a file depends on its history, and minewatch's reader maps
    the file, so it pays per cached page. Read in order, the kernel's readahead caches it in
    large folios, as a capture's first read from disk leaves it; pages reclaimed while the
    machine idled (this VM's DAMON reclaims cold memory) and faulted back one by one are
    4 KiB folios each. Measured on the generated 1 M-packet input: minewatch's read stage
    0.34-0.36 s with 4 KiB folios against 0.16 s after this, ndpiReader within 3 %
    (03:55 UTC 2026-12-05, both while other jobs ran). ``warm`` alone would keep
    whatever state the cache was in."""
    with path.open("rb", buffering=0) as fh:
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    warm(path)


def measure(cmd: list[str], *, stdout_path: Path | None = None,
            timeout: float = 7200, pin: list[str] = PIN) -> Run:
    """Run ``cmd`` pinned (default: to core 0) under GNU time; wall clock measured here."""
    tmpdir = DATA if DATA.is_dir() else None  # bench.scale --data elsewhere: system temp
    with tempfile.NamedTemporaryFile("r", suffix=".time", dir=tmpdir) as tf:
        full = [GNU_TIME, "-o", tf.name, "-f", "%e %M", *pin, *cmd]
        out = stdout_path.open("wb") if stdout_path else subprocess.PIPE
        try:
            started = time.perf_counter()
            proc = subprocess.run(full, stdout=out, stderr=subprocess.PIPE, timeout=timeout,
                                  cwd=REPO)
            wall = time.perf_counter() - started
        finally:
            if stdout_path:
                out.close()  # type: ignore[union-attr]
        lines = Path(tf.name).read_text().split()
        rss = int(lines[-1]) if lines else 0
    stdout = proc.stdout.decode("utf-8", "replace") if proc.stdout else ""
    return Run(wall, rss, proc.returncode, stdout, proc.stderr.decode("utf-8", "replace"))


def cut_slice(src: Path, dst: Path, count: int) -> None:
    """The first ``count`` packets of a little-endian pcap file."""
    with src.open("rb") as fi, dst.open("wb") as fo:
        fo.write(fi.read(24))
        for _ in range(count):
            head = fi.read(16)
            if len(head) < 16:
                break
            incl = struct.unpack("<I", head[8:12])[0]
            fo.write(head + fi.read(incl))


def generate(path: Path, args: list[str], created: list[Path],
             tool: str = "bench.make_capture") -> None:
    truth = Path(f"{path}.truth.json")
    if path.exists() and truth.exists():
        log(f"using existing {path.relative_to(REPO)}")
        return
    log(f"generating {path.relative_to(REPO)}")
    cmd = [sys.executable, "-m", tool, str(path), *args]
    subprocess.run(cmd, check=True, cwd=REPO)
    created += [path, truth]


# --- the benchmark ---------------------------------------------------------------------

# The tools whose ratios are the speed target run this many rounds at least (each takes
# seconds, tshark and scapy minutes): on a shared VM whose speed drifts by tens of per
# cent, the fastest of five is a far steadier figure than the faster of two.
RATIO_TOOLS = ("minewatch", "ndpi", "rules", "minewatch2", "suricata")
#: The rows of every input that the summary table shows, in its order.
SUMMARY_KEYS = ("minewatch", "minewatch2", "ndpi", "suricata")


@dataclass
class Measured:
    """One input's rows by key, minewatch's outputs, Suricata's log directory."""

    rows: dict[str, Row]
    mw_out: Path
    mw2_out: Path
    suricata_log: Path


def run_tools(capture: Path, packets: int, runs: int, mw: list[str],
              created: list[Path], ratio_runs: int = 9,
              extra: list[Path] | None = None) -> tuple[Measured, dict[Path, Measured]]:
    """Every tool on ``capture``; minewatch (1 and 2 workers), ndpiReader and Suricata
    also on each ``extra`` capture (the real-traffic input), in the same interleaved
    rounds, so that every ratio sees the same drift of the machine. Returns what was
    measured on ``capture`` and on each extra capture."""
    slice_path = DATA / f"{capture.stem}.first{SLICE // 1000}k.pcap"
    if not slice_path.exists():
        cut_slice(capture, slice_path, SLICE)
        created.append(slice_path)
    ndpi_tool = f"ndpiReader -i (nDPI {version(['ndpiReader', '-h'], r'nDPI ([0-9.]+)')})"
    suri_tool = (f"Suricata {version(['suricata', '-V'], r'version ([0-9.]+)')} --runmode "
                 f"single, {rule_count()} coin-miner rules, EVE alerts only")
    names = {
        "minewatch": "minewatch scan -j 1 (full detection)",
        "ndpi": ndpi_tool,
        "rules": RULES_ROW,
        "minewatch2": "minewatch scan -j 2 (cores 0-1)",
        "suricata": suri_tool,
        "tshark": f"tshark -T fields ({version(['tshark', '--version'], _TSHARK_VER)})",
        "scapy": (f"scapy {version([sys.executable, '-c', _SCAPY_VER], r'([0-9.]+)')} "
                  f"PcapReader + decode ({SLICE // 1000}k-packet slice, extrapolated)"),
    }
    measured: dict[Path, Measured] = {}
    # (label, key, row, command, stdout file, file to warm, pin, before) in round order
    jobs: list[tuple] = []
    for path in [capture, *(extra or [])]:
        stem = path.stem
        mw_out, mw2_out = DATA / f"{stem}.minewatch.jsonl", DATA / f"{stem}.minewatch-j2.jsonl"
        ndpi_out, suri_log = DATA / f"{stem}.ndpi.txt", DATA / f"{stem}.suricata"
        created += [mw_out, mw2_out, ndpi_out, suri_log]
        keys = list(names) if path == capture else ["minewatch", "ndpi", "rules",
                                                     "minewatch2", "suricata"]
        rows = {key: Row(names[key]) for key in keys}
        measured[path] = Measured(rows, mw_out, mw2_out, suri_log)
        commands = {
            "minewatch": ([*mw, "scan", str(path), "-f", "jsonl", "-o", str(mw_out), "-j", "1"],
                          None, PIN, None),
            "ndpi": (["ndpiReader", "-i", str(path)], ndpi_out, PIN, None),
            "rules": ([*mw, "scan", str(path), "-f", "jsonl", "-o", os.devnull, "-j", "1",
                       "--model", "none"], None, PIN, None),
            "minewatch2": ([*mw, "scan", str(path), "-f", "jsonl", "-o", str(mw2_out), "-j",
                            "2"], None, PIN2, None),
            "suricata": (suricata_cmd(path, suri_log), Path(os.devnull), PIN,
                         lambda d=suri_log: fresh_dir(d)),
            "tshark": (["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number",
                        "-e", "ip.src", "-e", "tcp.srcport"], Path(os.devnull), PIN, None),
            "scapy": ([sys.executable, "-m", "bench.scapy_loop", str(slice_path)], None, PIN,
                      None),
        }
        where = "" if path == capture else f" on {stem}"
        for key in keys:
            cmd, out, pin, before = commands[key]
            jobs.append((f"{key}{where}", key, rows[key], cmd, out,
                         slice_path if key == "scapy" else path, pin, before))
    available = {"minewatch", "minewatch2", "rules", "scapy"} | {
        key for key, tool in (("ndpi", "ndpiReader"), ("suricata", "suricata"),
                              ("tshark", "tshark")) if shutil.which(tool)}
    total = max(runs, ratio_runs)
    for path in dict.fromkeys(job[5] for job in jobs):
        recache(path)
    for rnd in range(total):
        for label, key, row, cmd, out, path, pin, before in jobs:
            if key not in available or (rnd >= runs and key not in RATIO_TOOLS):
                continue
            if before:
                before()
            warm(path)
            log(f"round {rnd + 1}/{total}: {label}")
            run = measure(cmd, stdout_path=out, pin=pin)
            if run.rc != 0:
                log(f"{label} exited with {run.rc}: {run.stderr.strip()[-300:]}")
            row.runs.append(run)
            row.run_count += 1
    for m in measured.values():
        for key, row in m.rows.items():
            if key not in available:
                row.note = "not installed"
    scapy = measured[capture].rows["scapy"]
    if scapy.runs:
        best = min(scapy.runs, key=lambda r: json.loads(r.stdout)["loop_s"] if r.stdout else 1e9)
        info = json.loads(best.stdout)
        startup = best.wall - info["loop_s"]
        scapy.extrapolated_wall = startup + info["loop_s"] * packets / info["packets"]
        scapy.note = (f"{info['packets']:,} packets in {info['loop_s']:.2f} s "
                      f"+ {startup:.2f} s start-up")
        scapy.runs = [best]
    main_m = measured.pop(capture)
    return main_m, measured


def rule_count() -> int:
    """Rules in the bench's Suricata rules file (lines that are not comments)."""
    try:
        text = SURICATA_RULES.read_text()
    except OSError:
        return 0
    return sum(1 for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))


def summary_table(inputs: list[tuple[str, int, Measured]]) -> str:
    """Issue #21's one table: per input, minewatch with 1 and 2 workers, ndpiReader and
    Suricata; packets/s and ratio to the faster of ndpiReader and Suricata by the median
    runs (the target's figure), by the fastest, and paired by round (the median of each
    round's ratio to that round's faster reference: the tools of a round run within
    seconds of each other, so a slow stretch of the machine slows both sides of a pair -
    on a VM whose speed moves by tens of percent between identical runs, the medians of
    each tool's own runs can fall in different stretches); the highest peak RSS."""
    out = ["| input | tool | runs | wall s, median (fastest) | packets/s, median "
           "| vs faster of ndpiReader/Suricata, median | same, fastest runs "
           "| same, paired by round (median) | peak RSS MB, max of runs |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    refs = []
    for name, packets, m in inputs:
        rows = {k: m.rows[k] for k in SUMMARY_KEYS if k in m.rows}
        others = [rows[k] for k in ("ndpi", "suricata") if k in rows and rows[k].runs]
        ref_med = min((statistics.median(r.wall for r in row.runs), row.tool.split(" ")[0])
                      for row in others) if others else None
        ref_fast = min((row.best.wall, row.tool.split(" ")[0]) for row in others) if others \
            else None
        if ref_med and ref_fast:
            refs.append(f"{name}: faster by median {ref_med[1]}, by fastest run {ref_fast[1]}")
        # each round's faster reference (the ratio tools run once in every round, in order)
        per_round = [min(walls) for walls in zip(*[[r.wall for r in row.runs] for row in others],
                                                  strict=True)]
        for row in rows.values():
            if not row.runs:
                out.append(f"| {name} | {row.tool} | 0 | - | - | - | - | - | - ({row.note}) |")
                continue
            walls = [r.wall for r in row.runs]
            med = statistics.median(walls)
            flag = "" if all(r.rc == 0 for r in row.runs) else " (a run failed)"
            paired = ([ref / wall for ref, wall in zip(per_round, walls, strict=True)]
                      if per_round else [])  # (neither ndpiReader nor Suricata installed)
            ratio = (f"{ref_med[0] / med:.2f}x | {ref_fast[0] / min(walls):.2f}x | "
                     f"{statistics.median(paired):.2f}x"
                     if ref_med and ref_fast and paired else "- | - | -")
            out.append(f"| {name} | {row.tool}{flag} | {len(walls)} | {med:,.2f} "
                       f"({min(walls):,.2f}) | {packets / med:,.0f} | {ratio} "
                       f"| {max(r.rss_kb for r in row.runs) / 1024:,.0f} |")
    if refs:
        out += ["", "Reference for the ratios (the faster of ndpiReader and Suricata): "
                + "; ".join(refs) + "."]
    return "\n".join(out)


def suricata_line(m: Measured, truth_path: Path) -> str:
    """Which of the truth file's miners the last Suricata run alerted on (source
    addresses of its alerts, the rules match the client's side)."""
    eve = m.suricata_log / "eve.json"
    if not m.rows.get("suricata") or not m.rows["suricata"].runs or not eve.exists():
        return ""
    want = set(json.loads(truth_path.read_text())["miner_ips"])
    got: set[str] = set()
    sids: dict[int, int] = {}
    for line in eve.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event_type") == "alert":
            got.add(event.get("src_ip", "?"))
            sid = event.get("alert", {}).get("signature_id", 0)
            sids[sid] = sids.get(sid, 0) + 1
    per_sid = ", ".join(f"sid {k}: {n}" for k, n in sorted(sids.items())) or "no alerts"
    return (f"Suricata (bench/suricata/coinminer.rules): alerts from {len(want & got)}/"
            f"{len(want)} miner IPs, {len(got - want)} other addresses ({per_sid})")


def workers_line(m: Measured) -> str:
    """Whether ``scan -j 2`` reported the same suspects (alert source IPs) as ``-j 1``."""
    if not (m.mw_out.exists() and m.mw2_out.exists()):
        return ""

    def suspects(path: Path) -> set[str]:
        events = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
        return {e["src_ip"] for e in events if _kind(e) == "alert"}

    one, two = suspects(m.mw_out), suspects(m.mw2_out)
    same = "identical" if one == two else f"differ (-j 1 only: {len(one - two)}, -j 2 only: " \
                                          f"{len(two - one)})"
    return f"minewatch -j 2 suspects vs -j 1: {same} ({len(two)} vs {len(one)} miner IPs)"


RULES_ROW = "minewatch scan --model none (signatures only)"
_STATS_LINE = re.compile(r"peak ([\d,]+) flows in ([\d.,]+ [KMG]?B) of flow state "
                         r"\(([\d,]+) bytes/flow\)")


def stats_of(mw: list[str], capture: Path) -> str | None:
    """``minewatch scan --stats`` lines for ``capture`` (None if the flag does not exist)."""
    helptext = subprocess.run([*mw, "scan", "--help"], capture_output=True, text=True).stdout
    if "--stats" not in helptext:
        return None
    warm(capture)
    run = measure([*mw, "scan", str(capture), "-q", "--stats", "-f", "jsonl", "-o", os.devnull])
    return "\n".join(ln for ln in run.stderr.splitlines() if "stats:" in ln)


def flow_state(mw: list[str], runs: int, created: list[Path], seed: int) -> str:
    """Bytes per flow: from ``scan --stats`` when it exists, and always the peak-RSS
    difference between the synscan capture and its one-flow baseline as a cross-check."""
    scan = DATA / f"synscan-{SYN_PAIRS}-s{seed}.pcap"
    base = DATA / f"synscan-1flow-{SYN_PAIRS}-s{seed}.pcap"
    generate(scan, ["--variant", "synscan", "--pairs", str(SYN_PAIRS), "--seed", str(seed)],
             created)
    generate(base, ["--variant", "synscan-1flow", "--pairs", str(SYN_PAIRS), "--seed",
                    str(seed)], created)
    lines = []
    stats = stats_of(mw, scan)
    m = _STATS_LINE.search(stats or "")
    if m:
        lines.append(f"minewatch flow state: {m.group(3)} bytes per flow (from `minewatch scan "
                     f"--stats` on the synscan capture: peak {m.group(1)} flows in "
                     f"{m.group(2)} of flow state)")
    elif stats is not None:
        log("scan --stats output not understood; using the peak-RSS difference")
    rss = {}
    summary = ""
    for label, path in (("scan", scan), ("base", base)):
        best = None
        for _ in range(runs):
            warm(path)
            run = measure([*mw, "scan", str(path), "-f", "jsonl", "-o", os.devnull])
            best = run if best is None or run.rss_kb < best.rss_kb else best
            if label == "scan":
                summary = run.stderr
        rss[label] = best.rss_kb if best else 0
    counted = re.search(r"([\d,]+) flows", summary)
    diff = (rss["scan"] - rss["base"]) * 1024 / SYN_PAIRS
    detail = (f"synscan {SYN_PAIRS:,} distinct flows {rss['scan'] / 1024:,.1f} MB vs one-flow "
              f"baseline with the same packets {rss['base'] / 1024:,.1f} MB, lowest of {runs} "
              f"runs each" + (f"; minewatch counted {counted.group(1)} flows" if counted else ""))
    if m:
        lines.append(f"cross-check, peak-RSS difference: {diff:,.0f} bytes per flow ({detail})")
    else:
        why = "`scan --stats` does not exist" if stats is None else "`--stats` not understood"
        lines.append(f"minewatch flow state: {diff:,.0f} bytes per flow (peak-RSS difference, "
                     f"{detail}; {why})")
    if shutil.which("ndpiReader"):
        nd = {}
        for label, path in (("scan", scan), ("base", base)):
            warm(path)
            nd[label] = min(measure(["ndpiReader", "-q", "-i", str(path)]).rss_kb
                            for _ in range(runs))
        per = (nd["scan"] - nd["base"]) * 1024 / SYN_PAIRS
        lines.append(f"ndpiReader, peak-RSS difference: {per:,.0f} bytes per flow "
                     f"({nd['scan'] / 1024:,.1f} MB vs {nd['base'] / 1024:,.1f} MB)")
    return "\n".join(lines)


def memory_scaling(mw: list[str], sizes_mb: list[int], runs: int, created: list[Path],
                   seed: int) -> str:
    """Peak RSS of ``minewatch scan`` on mixed captures of growing size (flat is the goal)."""
    results = []
    for size in sizes_mb:
        path = DATA / f"mixed-{size}mb-s{seed}.pcap"
        generate(path, ["--size-mb", str(size), "--seed", str(seed)], created)
        best = None
        for _ in range(runs):
            warm(path)
            run = measure([*mw, "scan", str(path), "-f", "jsonl", "-o", os.devnull])
            best = run if best is None or run.rss_kb < best.rss_kb else best
        assert best is not None
        summary = re.search(r"minewatch: ([\d,]+) packets", best.stderr)
        results.append((size, best.rss_kb / 1024, summary.group(1) if summary else "?"))
    parts = [f"{size:,} MB capture ({packets} packets): {rss:,.0f} MB"
             for size, rss, packets in results]
    line = f"minewatch peak RSS by capture size (lowest of {runs} runs): {'; '.join(parts)}"
    if len(results) >= 2 and results[0][1]:
        ratio = results[-1][1] / results[0][1]
        line += f"; largest/smallest = {ratio:.2f}"
    return line


def detection(mw_out: Path, truth_path: Path) -> str:
    truth = json.loads(truth_path.read_text())
    want = set(truth["miner_ips"])
    if not mw_out.exists():
        return f"detection: minewatch wrote no output ({len(want)} miner IPs expected)"
    events = [json.loads(x) for x in mw_out.read_text().splitlines() if x.strip()]
    # Miners are the alerts of the mining category; crypto-node sightings are alerts too,
    # of their own category (detector/sinks/eve.py), and not suspects.
    alerts = [e for e in events if _kind(e) == "alert"]
    got = {e["src_ip"] for e in alerts}
    line = (f"detection: {len(want & got)}/{len(want)} miner IPs found, "
            f"{len(got - want)} false positives")
    if want - got:
        line += f"; missed: {', '.join(sorted(want - got))}"
    if got - want:
        line += f"; false positives: {', '.join(sorted(got - want))}"
    others: dict[str, int] = {}
    for e in events:
        if _kind(e) != "alert":
            others[_kind(e)] = others.get(_kind(e), 0) + 1
    if others:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(others.items()))
        line += f" (other events, not suspects: {kinds})"
    return line


MINING_CATEGORY = "Crypto Currency Mining Activity Detected"


def _kind(event: dict) -> str:
    """"alert" for a miner's alert, "crypto-node alert" for a node sighting, else the
    event type."""
    kind = event.get("event_type", "?")
    if kind == "alert" and event.get("alert", {}).get("category") != MINING_CATEGORY:
        return "crypto-node alert"
    return kind


def real_section(capture: Path, measured: Measured, stage_stats: str | None) -> str:
    """The report on the real-traffic input: header, every tool's row, minewatch against
    ndpiReader, minewatch's own summary and stages, detection against the mapped miner
    IPs (minewatch's, -j 2's against -j 1's, Suricata's)."""
    rows, mw_out = list(measured.rows.values()), measured.mw_out
    truth_path = Path(f"{capture}.truth.json")
    truth = json.loads(truth_path.read_text())
    packets = truth["packets"]
    skipped: dict[str, int] = {}
    for item in truth["skipped"]:
        skipped[item["reason"]] = skipped.get(item["reason"], 0) + 1
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(skipped.items())) or "none"
    cut = "" if truth["replicas"] == truth["complete_replicas"] else " (the last one cut)"
    header = (f"{packets:,}-packet real-traffic capture ({truth['bytes'] / 1e6:,.0f} MB, "
              f"`bench/make_real.py`, seed {truth['seed']}: {truth['replicas']} replicas of "
              f"the {truth['packets_per_replica']:,} packets of {truth['files_used']} corpus "
              f"captures{cut}, addresses shifted per replica; captures skipped: {why}; "
              f"{len(truth['miner_ips'])} miner IPs)")
    notes = [f"- {line}" for line in (ratio_line(rows), model_line(rows)) if line]
    m = re.search(r"minewatch: (.*)", rows[0].best.stderr) if rows[0].runs else None
    if m:
        notes.append(f"- minewatch's own summary (excludes interpreter start-up): {m.group(1)}")
    if stage_stats:
        notes += [f"- separate untimed `--stats` run: {ln.removeprefix('minewatch: stats: ')}"
                  for ln in stage_stats.splitlines()]
    found = detection(mw_out, truth_path).replace("detection:", "detection (real traffic):", 1)
    more = [ln for ln in (workers_line(measured), suricata_line(measured, truth_path)) if ln]
    return "\n".join([header, "", table(rows, packets), "", *notes, "", found, *more])


def table(rows: list[Row], packets: int) -> str:
    mw = rows[0].best
    mw_pps = packets / mw.wall
    out = ["| tool (one core, page-cached, fastest run) | runs | wall s | packets/s "
           "| ratio to minewatch | peak RSS MB |",
           "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        if not row.runs:
            out.append(f"| {row.tool} | 0 | - | - | - | - ({row.note}) |")
            continue
        best = row.best
        wall = row.extrapolated_wall if row.extrapolated_wall is not None else best.wall
        pps = packets / wall
        flag = "" if best.rc == 0 else f" (exit {best.rc})"
        out.append(f"| {row.tool}{flag} | {row.run_count} | {wall:,.2f} | {pps:,.0f} "
                   f"| {pps / mw_pps:.2f} "
                   f"| {best.rss_kb / 1024:,.0f} |")
    return "\n".join(out)


def ratio_line(rows: list[Row]) -> str:
    """The speed target's figure, nDPI's wall time over minewatch's, from the fastest runs
    and from the median ones, with every run's time: the machine's drift shows in it."""
    mw, ndpi = rows[0], rows[1]
    if not mw.runs or not ndpi.runs:
        return ""
    mw_walls = sorted(r.wall for r in mw.runs)
    nd_walls = sorted(r.wall for r in ndpi.runs)
    median = statistics.median(nd_walls) / statistics.median(mw_walls)
    return (f"minewatch vs ndpiReader packet rate: {nd_walls[0] / mw_walls[0]:.2f}x "
            f"(fastest runs), {median:.2f}x (median runs); wall s, minewatch "
            f"{', '.join(f'{w:.2f}' for w in mw_walls)}; ndpiReader "
            f"{', '.join(f'{w:.2f}' for w in nd_walls)}")


def model_line(rows: list[Row]) -> str:
    """What the flow model costs: minewatch's ratio to ndpiReader with the model over its
    ratio with ``--model none``, both from the same rounds ([model]'s target: >= 0.85)."""
    mw, ndpi, rules = rows[0], rows[1], rows[2]
    if not (mw.runs and ndpi.runs and rules.runs) or rules.tool != RULES_ROW:
        return ""
    walls = [sorted(r.wall for r in row.runs) for row in (mw, ndpi, rules)]
    fast = [w[0] for w in walls]
    mid = [statistics.median(w) for w in walls]
    parts = []
    for name, (m, n, r) in (("fastest", fast), ("median", mid)):
        parts.append(f"{n / m:.2f}x with the model, {n / r:.2f}x without: {r / m:.2f} ({name})")
    return "model cost, ratio vs ndpiReader " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--packets", type=int, default=1_000_000, help="mixed capture size")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=2, help="runs per tool, the fastest is kept")
    p.add_argument("--ratio-runs", type=int, default=9,
                   help="runs at least of minewatch (-j 1, -j 2), ndpiReader and Suricata "
                        "(the speed target's tools)")
    p.add_argument("--keep", action="store_true", help="keep generated files in bench/data/")
    p.add_argument("--memory-sizes", default="100,2000",
                   help="capture sizes in MB for the flat-memory check ('' to skip)")
    p.add_argument("--corpus", default=str(CORPUS),
                   help="real captures for the second input, bench/make_real.py ('' to skip; "
                        "default ../shared/corpus)")
    args = p.parse_args(argv)
    command = "python -m bench.run" + (" " + shlex.join(argv if argv is not None
                                                          else sys.argv[1:])).rstrip()
    DATA.mkdir(exist_ok=True)
    problems = ensure_tools()
    for problem in problems:
        log(f"warning: {problem}")
    if shutil.which("taskset") is None or not Path(GNU_TIME).exists():
        log("error: taskset and /usr/bin/time are required")
        return 2
    created: list[Path] = []
    revision = f"{git_state()}, detector+signatures tree {tree_hash()}"
    try:
        capture = DATA / f"mixed-{args.packets}-s{args.seed}.pcap"
        generate(capture, ["--packets", str(args.packets), "--seed", str(args.seed)], created)
        truth_path = Path(f"{capture}.truth.json")
        packets = json.loads(truth_path.read_text())["packets"]
        real = None
        if args.corpus and (Path(args.corpus) / "labels.csv").is_file():
            real = DATA / f"real-{args.packets}-s{args.seed}.pcap"
            generate(real, ["--packets", str(args.packets), "--seed", str(args.seed),
                            "--corpus", args.corpus], created, tool="bench.make_real")
        elif args.corpus:
            log(f"warning: no corpus at {args.corpus} (labels.csv): real-traffic input skipped")
        mw = minewatch_cmd()
        load_before = os.getloadavg()
        main_m, extras = run_tools(capture, packets, args.runs, mw, created, args.ratio_runs,
                                   [real] if real else [])
        load_after = os.getloadavg()
        rows, mw_out = list(main_m.rows.values()), main_m.mw_out
        mw_best = rows[0].best
        m = re.search(r"minewatch: (.*)", mw_best.stderr)
        stage_stats = stats_of(mw, capture)
        real_report = real_section(real, extras[real], stats_of(mw, real)) if real else (
            "real-traffic input: skipped (no corpus)" if args.corpus else "")
        state = flow_state(mw, args.runs, created, args.seed)
        sizes = [int(x) for x in args.memory_sizes.split(",") if x.strip()]
        if sizes:
            state += "\n" + memory_scaling(mw, sizes, args.runs, created, args.seed)
        found = detection(mw_out, truth_path)
        more = [ln for ln in (workers_line(main_m), suricata_line(main_m, truth_path)) if ln]
        size = capture.stat().st_size / 1e6
        truth = json.loads(truth_path.read_text())
        header = (f"{packets:,}-packet mixed capture ({size:,.0f} MB, "
                  f"{truth['duration_s']:,.0f} s of traffic, seed {args.seed}, "
                  f"{len(truth['miner_ips'])} miner IPs / {truth['mining_flows']} mining flows)")
        notes = [f"- {r.tool}: {r.note}" for r in rows if r.note]
        notes[:0] = [f"- {line}" for line in (ratio_line(rows), model_line(rows)) if line]
        if m:
            notes.append(f"- minewatch's own summary (excludes interpreter start-up): {m.group(1)}")
        if stage_stats:
            notes += [f"- separate untimed `--stats` run: {ln.removeprefix('minewatch: stats: ')}"
                      for ln in stage_stats.splitlines()]
        inputs = [(f"generated mixed, {packets / 1e6:g} M packets", packets, main_m)]
        if real:
            real_packets = json.loads(Path(f"{real}.truth.json").read_text())["packets"]
            inputs.append((f"real traffic, {real_packets / 1e6:g} M packets", real_packets,
                           extras[real]))
        rounds = max(args.runs, args.ratio_runs)
        summary = (f"**Summary** ({rounds} interleaved rounds, page-cached; every tool pinned "
                   f"to core 0 but minewatch -j 2, pinned to cores 0-1; load average "
                   f"(1/5/15 min) before {'/'.join(f'{x:.2f}' for x in load_before)}, after "
                   f"{'/'.join(f'{x:.2f}' for x in load_after)})\n\n"
                   + summary_table(inputs))
        alerted = []
        for (name, _, measured), path in zip(inputs, [capture, real], strict=False):
            line = suricata_line(measured, Path(f"{path}.truth.json"))
            if line:
                alerted.append(f"{name}: {line.split(': ', 1)[1]}")
        if alerted:
            summary += ("\n\nSuricata's coin-miner alerts against the truth files' miner "
                        "IPs: " + "; ".join(alerted) + ".")
        report = "\n".join([summary, "", header, "", table(rows, packets), "", *notes, "",
                            state, found, *more])
        if real_report:
            report += "\n\n" + real_report
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        after = f"{git_state()}, detector+signatures tree {tree_hash()}"
        changed = "" if after == revision else f" (changed during the run, at the end: {after})"
        if changed:
            log(f"warning: minewatch's tree changed during the run{changed}")
        cores = len(os.sched_getaffinity(0))
        entry = (f"\n## {now}\n\n- CPU: {cpu_model()}, {os.cpu_count()} logical cores "
                 f"({cores} usable; tools pinned to core 0)\n"
                 f"- Python {platform.python_version()}, {platform.system()} "
                 f"{platform.release()}\n- minewatch: {revision}{changed}\n"
                 f"- command: `{command}`\n\n{report}\n")
        print(entry)
        with RESULTS.open("a") as fh:
            if fh.tell() == 0:
                fh.write("# minewatch benchmark results\n\nAppended by `python -m bench.run` "
                         "(see bench/README.md). Newest last.\n")
            fh.write(entry)
        log(f"appended to {RESULTS.relative_to(REPO)}")
    finally:
        if not args.keep:
            for path in created:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
