"""Run fuzz targets under atheris/libFuzzer and report per target: inputs executed, time,
peak RSS, coverage (libFuzzer's last ``cov:``/``ft:``) and what was found.

    python -m fuzz.run [TARGET ... | all] [--seconds N] [--jobs J] [--no-sanitize] [--smoke]

* The C helpers run as their AddressSanitizer + UBSan build (fuzz/build_asan.sh, with
  atheris' asan_with_fuzzer.so preloaded) unless --no-sanitize (or FUZZ_SANITIZE=0).
* Seeds: fuzz/build/seeds/<target> (made by fuzz/seeds.py when missing), then the
  target's regression files; new inputs go to fuzz/build/corpus/<target>.
* Limits (libFuzzer): -rss_limit_mb=500, -timeout=5 (one input), -max_len per target.
* Crashes, hangs and out-of-memory inputs land in fuzz/build/artifacts/<target>/;
  triage one, fix it, then keep the input under fuzz/regressions/<target>/.
* --smoke: a few seeds only, no corpus written (what ``make test`` runs).
* Results: fuzz/build/results/<target>.json and a table on stdout; exit status 1 if any
  target found something.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from fuzz.targets import TARGETS

FUZZ = Path(__file__).resolve().parent
REPO = FUZZ.parent
BUILD = FUZZ / "build"
REGRESSIONS = FUZZ / "regressions"
RSS_LIMIT_MB = 500
SEGMENT_S = 90  # seconds per process under the sanitizer build (see run_target)
TIMEOUT_S = 5
MAX_LEN = {"capture": 65536, "capture_gzip": 32768, "session": 32768, "decode": 16384,
           "flows": 16384, "tls_stream": 32768, "jsonlines": 32768, "http": 32768,
           "nodes": 16384, "dns": 4096, "tls_hello": 8192, "x509": 8192,
           "reassembly": 8192, "rules": 8192, "websocket": 32768,
           "afpacket_block": 16384}  # fmt: skip
# Targets whose code reaches the C helpers: they run with the sanitizer build. The others
# are pure Python (ASan instruments no Python code; it would only slow them down).
NATIVE = {"capture", "capture_gzip", "decode", "flows", "session", "dns", "tls_hello",
          "tls_stream"}  # fmt: skip
ASAN_OPTIONS = ("detect_leaks=0:quarantine_size_mb=16:malloc_context_size=8:"
                "allocator_may_return_null=1:handle_abort=1:"
                "allocator_release_to_os_interval_ms=500")  # fmt: skip
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=1"
COV = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)")
FOUND = ("Uncaught Python exception", "ERROR: AddressSanitizer", "ERROR: libFuzzer",
         "runtime error:", "ALARM: working on the last Unit", "out-of-memory (",
         "ERROR: UndefinedBehaviorSanitizer")  # fmt: skip


def sanitizer_build(python: str) -> Path:
    """Build (or reuse) the sanitizer build of detector/csrc/ (detector._fast); return its path."""
    subprocess.run(["sh", str(FUZZ / "build_asan.sh"), python], check=True, cwd=REPO)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    return BUILD / "asan" / f"_fast{suffix}"


def ensure_seeds() -> None:
    if all((BUILD / "seeds" / t).is_dir() for t in TARGETS):
        return
    subprocess.run([sys.executable, "-m", "fuzz.seeds", str(BUILD / "seeds")], check=True,
                   cwd=REPO, stdout=subprocess.DEVNULL)  # fmt: skip


def environment(fast_so: Path | None) -> dict[str, str]:
    env = dict(os.environ, MINEWATCH_FUZZING="1", PYTHONHASHSEED="0")
    env.pop("MINEWATCH_PURE", None)
    env.pop("MINEWATCH_FAST_SO", None)
    if fast_so is not None:
        import atheris

        env["LD_PRELOAD"] = str(Path(atheris.path()) / "asan_with_fuzzer.so")
        env["MINEWATCH_FAST_SO"] = str(fast_so)
        env["ASAN_OPTIONS"] = ASAN_OPTIONS
        env["UBSAN_OPTIONS"] = UBSAN_OPTIONS
        # Python's small-object allocator hands out pieces of big arenas, where ASan sees
        # no red zones: every allocation through malloc, so an overread of a bytes object
        # (what the C helpers read) is caught.
        env["PYTHONMALLOC"] = "malloc"
    return env


def smoke_seeds(target: str, into: Path, count: int = 12) -> Path:
    source = sorted((BUILD / "seeds" / target).iterdir())
    into.mkdir(parents=True, exist_ok=True)
    for path in random.Random(target).sample(source, min(count, len(source))):
        shutil.copy(path, into / path.name)
    return into


def run_target(target: str, seconds: int, env: dict[str, str], smoke: bool) -> dict:
    """Fuzz one target for ``seconds``. Under the sanitizer build the time is cut into
    processes of at most SEGMENT_S seconds (the corpus carries over): the RSS of an
    atheris/libFuzzer process running the numpy targets creeps up with the number of
    inputs run (4-10 KB each, more under ASan; the same inputs in a plain loop stay
    flat), and would reach the 500 MB limit in a few minutes."""
    sanitized = "MINEWATCH_FAST_SO" in env
    step = SEGMENT_S if sanitized and not smoke else seconds
    log = BUILD / "logs" / f"{target}{'-smoke' if smoke else ''}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    started = time.monotonic()
    segments = []
    left = seconds
    while left > 0:
        part = min(step, left)
        if 0 < left - part < 30:  # no short tail segment: the corpus reload would dominate it
            part = left
        segments.append(_run_process(target, part, env, smoke, log))
        left -= part
        if segments[-1]["found"]:
            break
    result = {
        "inputs": sum(s["inputs"] or 0 for s in segments),
        "peak_rss_mb": max((s["peak_rss_mb"] or 0 for s in segments), default=0),
        "exec_per_sec": None,
        "cov": segments[-1]["cov"],
        "ft": segments[-1]["ft"],
        "processes": len(segments),
    }
    elapsed = time.monotonic() - started
    result["exec_per_sec"] = round(result["inputs"] / elapsed) if elapsed else 0
    result.update(target=target, seconds=round(elapsed, 1), exit=segments[-1]["exit"],
                  sanitized=sanitized, log=str(log.relative_to(REPO)),
                  found=any(s["found"] for s in segments))  # fmt: skip
    if not smoke:
        results = BUILD / "results"
        results.mkdir(parents=True, exist_ok=True)
        (results / f"{target}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _run_process(target: str, seconds: int, env: dict[str, str], smoke: bool, log: Path) -> dict:
    artifacts = BUILD / "artifacts" / target
    artifacts.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target}-") as scratch:
        if smoke:
            dirs = [Path(scratch) / "corpus", smoke_seeds(target, Path(scratch) / "seeds")]
            dirs[0].mkdir()
        else:
            corpus = BUILD / "corpus" / target
            corpus.mkdir(parents=True, exist_ok=True)
            dirs = [corpus, BUILD / "seeds" / target]
        if (REGRESSIONS / target).is_dir():
            dirs.append(REGRESSIONS / target)
        cmd = [sys.executable, "-m", f"fuzz.targets.{target}", *map(str, dirs),
               f"-max_total_time={seconds}", f"-rss_limit_mb={RSS_LIMIT_MB}",
               f"-timeout={TIMEOUT_S}", f"-max_len={MAX_LEN.get(target, 8192)}",
               "-print_final_stats=1", f"-artifact_prefix={artifacts}/"]  # fmt: skip
        start = log.stat().st_size
        with log.open("a") as fh:
            fh.write(" ".join(cmd) + "\n")
            fh.flush()
            proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=seconds + 600)  # fmt: skip
    with log.open("rb") as fh:
        fh.seek(start)
        text = fh.read().decode(errors="replace")
    result = parse_log(text)
    result["exit"] = proc.returncode
    result["found"] = proc.returncode != 0 or any(marker in text for marker in FOUND)
    return result


def parse_log(text: str) -> dict:
    def stat(name: str) -> int | None:
        m = re.search(rf"stat::{name}:\s+(\d+)", text)
        return int(m.group(1)) if m else None

    cov = COV.findall(text)
    return {
        "inputs": stat("number_of_executed_units"),
        "peak_rss_mb": stat("peak_rss_mb"),
        "exec_per_sec": stat("average_exec_per_sec"),
        "cov": int(cov[-1][1]) if cov else None,
        "ft": int(cov[-1][2]) if cov else None,
    }


def markdown_table() -> str:
    """The saved results of the last full runs (fuzz/build/results/) as a markdown table."""
    head = "| target | inputs | time (s) | exec/s | peak RSS (MB) | cov | ft | ASan+UBSan | found |"
    rows = [head, "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    total = 0
    for target in TARGETS:
        path = BUILD / "results" / f"{target}.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        total += r["inputs"] or 0
        sanitized, found = ("yes" if r["sanitized"] else "no"), ("YES" if r["found"] else "no")
        rows.append(f"| {target} | {r['inputs'] or 0:,} | {r['seconds']:.0f} | "
                    f"{r['exec_per_sec'] or 0} | {r['peak_rss_mb']} | {r['cov']} | {r['ft']} | "
                    f"{sanitized} | {found} |")  # fmt: skip
    rows.append(f"| **total** | **{total:,}** | | | | | | | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n")[0])
    parser.add_argument("targets", nargs="*", default=["all"])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", 60)))
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS", 1)))
    parser.add_argument("--no-sanitize", action="store_true",
                        default=os.environ.get("FUZZ_SANITIZE") == "0")  # fmt: skip
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the saved results as markdown")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table())
        return 0
    targets = list(TARGETS) if args.targets in (["all"], []) else args.targets
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target {unknown[0]} (known: {', '.join(TARGETS)})")
    ensure_seeds()
    fast_so = None
    if not args.no_sanitize:
        try:
            fast_so = sanitizer_build(sys.executable)
        except subprocess.CalledProcessError:
            print("warning: no sanitizer build (see above); fuzzing the plain build", flush=True)
    env, plain = environment(fast_so), environment(None)
    jobs = max(1, min(args.jobs, os.cpu_count() or 1))  # one fuzz job per core at most
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        results = list(
            pool.map(
                lambda t: run_target(t, args.seconds, env if t in NATIVE else plain, args.smoke),
                targets,
            )
        )
    print(f"{'target':14} {'inputs':>10} {'exec/s':>7} {'time s':>7} {'RSS MB':>7} "
          f"{'cov':>6} {'ft':>7}  result")  # fmt: skip
    for r in results:
        print(f"{r['target']:14} {r['inputs'] or 0:>10} {r['exec_per_sec'] or 0:>7} "
              f"{r['seconds']:>7} {r['peak_rss_mb'] or 0:>7} {r['cov'] or 0:>6} "
              f"{r['ft'] or 0:>7}  {'FOUND: see ' + r['log'] if r['found'] else 'ok'}")  # fmt: skip
    total = sum(r["inputs"] or 0 for r in results)
    print(f"{'total':14} {total:>10}   sanitizer build: {'yes' if fast_so else 'no'}")
    return 1 if any(r["found"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
