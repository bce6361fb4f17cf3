"""``minewatch verify``: replay labelled captures and compare with their manifest.

A manifest (``manifest.toml`` or ``manifest.csv`` in the directory, or ``--manifest``)
lists per capture the suspect IPs expected and, optionally, the mining dialects and the
coins. A capture passes when the suspect set is exactly the expected set and every
expected dialect - and coin, where listed - was seen (and no unexpected one). CSV
manifests may name the suspects column ``suspects`` or ``miner_ips`` (the corpus's
labels.csv) and separate values with ';'.
"""

from __future__ import annotations

import csv
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from xml.etree import ElementTree as ET

from detector.config import Detector, ScanConfig
from detector.dialects import KNOWN as MINING_DIALECTS
from detector.dialects import MINING_RHYTHM
from detector.errors import InputError
from detector.pipeline import run_scan
from detector.source import expand_inputs


@dataclass(slots=True)
class Expectation:
    file: Path
    suspects: set[str]
    dialects: set[str] | None  # None: not checked
    label: str = ""
    pool_endpoints: set[str] = field(default_factory=set)  # "ip:port" the miners mine at
    coins: set[str] | None = None  # the coins the suspects are named with; None: not checked


@dataclass(slots=True)
class Outcome:
    expectation: Expectation
    found: set[str] = field(default_factory=set)
    dialects: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    coins: set[str] = field(default_factory=set)
    seconds: float = 0.0
    broken: bool = False  # the capture could not be read (whole or in part)

    @property
    def passed(self) -> bool:
        return not self.problems


def run_verify(
    expectations: list[Expectation],
    config: ScanConfig,
    detector: Detector,
    base: Path,
    out: TextIO,
) -> list[Outcome]:
    """Replay every listed capture, compare, and print PASS/FAIL per capture and totals."""
    outcomes = []
    for exp in expectations:
        if not exp.file.is_file():
            raise InputError(f"{exp.file}: listed in the manifest but missing")
        started = time.perf_counter()
        result = run_scan(expand_inputs([str(exp.file)]), config, detector)
        dialects: set[str] = set()
        coins: set[str] = set()
        for s in result.suspects.stream():
            dialects |= s.dialects
            coins.update(s.coins)
        outcome = compare(exp, result.suspects.ips(), dialects, coins)
        for cap in result.captures:
            if cap.error:
                outcome.problems.append(f"input error: {cap.error}")
                outcome.broken = True
        outcome.seconds = time.perf_counter() - started
        outcomes.append(outcome)
        _print_outcome(out, base, outcome)
    passed = sum(o.passed for o in outcomes)
    out.write(f"\n{passed}/{len(outcomes)} captures passed\n")
    return outcomes


def _print_outcome(out: TextIO, base: Path, o: Outcome) -> None:
    try:
        name = str(o.expectation.file.relative_to(base))
    except ValueError:
        name = str(o.expectation.file)
    status = "PASS" if o.passed else "FAIL"
    found = ", ".join(sorted(o.found)) or "-"
    out.write(f"{status}  {name}  suspects: {found}")
    if o.dialects:
        out.write(f"  dialects: {', '.join(sorted(o.dialects))}")
    if o.expectation.coins is not None:
        out.write(f"  coins: {', '.join(sorted(o.coins)) or '-'}")
    out.write("\n")
    for problem in o.problems:
        out.write(f"      {problem}\n")


def find_manifest(directory: Path) -> Path:
    for name in ("manifest.toml", "manifest.csv", "labels.csv"):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise InputError(f"{directory}: no manifest.toml, manifest.csv or labels.csv")


def load_manifest(path: Path) -> list[Expectation]:
    base = path.parent
    if path.suffix == ".toml":
        expectations = _load_toml(path, base)
    elif path.suffix == ".csv":
        expectations = _load_csv(path, base)
    else:
        raise InputError(f"{path}: manifest must be .toml or .csv")
    for exp in expectations:
        unknown = sorted((exp.dialects or set()) - MINING_DIALECTS)
        if unknown:
            raise InputError(
                f"{path}: {exp.file.name}: unknown dialect {', '.join(unknown)} "
                f"(known: {', '.join(sorted(MINING_DIALECTS))})"
            )
    return expectations


def _load_toml(path: Path, base: Path) -> list[Expectation]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    entries = doc.get("capture")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: expected [[capture]] tables")
    out = []
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise InputError(f"{path}: capture #{i} needs a 'file' string")
        suspects = entry.get("suspects", [])
        dialects = entry.get("dialects")
        coins = entry.get("coins")
        if coins is not None and (
            not isinstance(coins, list) or not all(isinstance(c, str) for c in coins)
        ):
            raise InputError(f"{path}: capture #{i} ({entry['file']}): coins must be a list")
        if not isinstance(suspects, list) or not all(isinstance(s, str) for s in suspects):
            raise InputError(f"{path}: capture #{i} ({entry['file']}): suspects must be a list")
        if dialects is not None and (
            not isinstance(dialects, list) or not all(isinstance(d, str) for d in dialects)
        ):
            raise InputError(f"{path}: capture #{i} ({entry['file']}): dialects must be a list")
        out.append(
            Expectation(
                file=base / entry["file"],
                suspects=set(suspects),
                dialects=set(dialects) if dialects is not None else None,
                label=str(entry.get("notes", ""))[:200],
                coins=set(coins) if coins is not None else None,
            )
        )
    return out


def _split(cell: str | None) -> set[str]:
    return {x.strip() for x in (cell or "").split(";") if x.strip()}


def _load_csv(path: Path, base: Path) -> list[Expectation]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read CSV ({exc})") from None
    out = []
    for line, row in enumerate(rows, 2):
        if not row.get("file"):
            raise InputError(f"{path}:{line}: missing 'file'")
        column = "suspects" if "suspects" in row else "miner_ips"
        cls = (row.get("class") or "").strip()
        dialects = _split(row.get("dialects")) if "dialects" in row else None
        if dialects is not None and cls and cls != "miner":
            dialects = None  # node/benign rows list protocols, not mining dialects
        out.append(
            Expectation(
                file=base / row["file"],
                suspects=_split(row.get(column)),
                dialects=dialects,
                label=cls,
                pool_endpoints=_split(row.get("pool_endpoints")),
            )
        )
    return out


def compare(
    exp: Expectation, found: set[str], dialects: set[str], coins: set[str] | None = None
) -> Outcome:
    outcome = Outcome(exp, found=found, dialects=dialects, coins=coins or set())
    missing = sorted(exp.suspects - found)
    extra = sorted(found - exp.suspects)
    if missing:
        outcome.problems.append("missing suspects: " + ", ".join(missing))
    if extra:
        outcome.problems.append("unexpected suspects: " + ", ".join(extra))
    if exp.dialects is not None:
        want = exp.dialects & MINING_DIALECTS
        lost = sorted(want - dialects)
        # "mining-rhythm" is the model's word for a session it could not read, not a
        # protocol: naming it beside a read or unknown dialect is no mistake, and whether
        # the model was on (--model) must not decide a fixture's pass
        surplus = sorted((dialects & MINING_DIALECTS) - want - {MINING_RHYTHM})
        if lost:
            outcome.problems.append("missing dialects: " + ", ".join(lost))
        if surplus:
            outcome.problems.append("unexpected dialects: " + ", ".join(surplus))
    if exp.coins is not None:  # the post-Merge GPU coins' fixtures (docs/ARCHITECTURE.md §3.z)
        named = outcome.coins
        if exp.coins - named:
            outcome.problems.append("missing coins: " + ", ".join(sorted(exp.coins - named)))
        if named - exp.coins:
            outcome.problems.append("unexpected coins: " + ", ".join(sorted(named - exp.coins)))
    return outcome


def write_junit(outcomes: list[Outcome], path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="minewatch verify",
        tests=str(len(outcomes)),
        failures=str(sum(not o.passed for o in outcomes)),
        time=f"{sum(o.seconds for o in outcomes):.3f}",
    )
    for o in outcomes:
        case = ET.SubElement(
            suite,
            "testcase",
            classname="minewatch.verify",
            name=o.expectation.file.name,
            time=f"{o.seconds:.3f}",
        )
        if not o.passed:
            failure = ET.SubElement(case, "failure", message="; ".join(o.problems))
            failure.text = (
                f"expected suspects {sorted(o.expectation.suspects)}, found {sorted(o.found)}; "
                f"dialects found {sorted(o.dialects)}"
            )
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    try:
        tree.write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot write JUnit report ({exc.strerror or exc})") from None
