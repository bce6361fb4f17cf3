"""``minewatch eval``: score a run against labels - per flow and per IP.

``verify`` says pass or fail per capture; this says how good the detector is: precision,
recall and F1 per flow and per IP, false positives per 10,000 benign flows, time to
detect, and where the misses are (by dialect, TLS or cleartext). Every claim about
accuracy in the README comes from here, and the model of the [model] issue must beat the
numbers the rules alone get.

Labels come from three kinds of manifest, all read by ``verify``'s loader:

* per capture, the IPs that mine (``pcaps/manifest.toml``, the corpus's ``labels.csv``);
  where a row also names the pools (``pool_endpoints``), a flow is a miner flow when its
  client is a listed miner and its server a listed pool, else benign;
* per flow (a generated corpus: ``flows.csv`` beside the captures, one row per flow with
  its 5-tuple, class, dialect and whether it runs inside TLS; ``hosts.csv`` per host).

A flow that no label covers (a miner capture that names no pools) counts only per IP.

Time to detect: the session is scored at checkpoints (every ``checkpoint`` seconds of
capture time the open flows' snapshots are scored, as a live sensor would); a miner flow
is detected at the first checkpoint, or its end, at which it scores as a miner. Seconds
are counted from the flow's first packet; pushes are the pool's jobs seen by then (known
for the dialects the dissectors read; unknown inside TLS).
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO
from xml.etree import ElementTree as ET

import numpy as np

from detector.config import Detector, ScanConfig
from detector.errors import CorruptCapture, InputError
from detector.flows import FlowRecord
from detector.replay import STOP
from detector.score import score_flow
from detector.session import CaptureSession
from detector.source import expand_inputs, read_capture
from detector.verify import Expectation, find_manifest, load_manifest

FlowKey = tuple[str, int, str, int]  # client ip, client port, server ip, server port
THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass(slots=True)
class FlowLabel:
    miner: bool
    dialect: str = ""
    tls: bool = False
    job_interval: float | None = None  # the pool's mean seconds between jobs, if known


@dataclass(slots=True)
class CaptureLabels:
    """What is true of one capture."""

    path: Path
    group: str  # which labelled set it belongs to (a summary row)
    miner_ips: set[str]
    pool_endpoints: set[str] = field(default_factory=set)
    flows: dict[FlowKey, FlowLabel] = field(default_factory=dict)

    def flow_label(self, r: FlowRecord) -> FlowLabel | None:
        """The label of a flow, or None when the labels do not cover it."""
        found = self.flows.get((r.client_ip, r.client_port, r.server_ip, r.server_port))
        if found is None:
            found = self.flows.get((r.server_ip, r.server_port, r.client_ip, r.client_port))
        if found is not None or self.flows:  # labelled flow by flow: the rest is unknown
            return found
        if not self.miner_ips:
            return FlowLabel(False)  # a capture with no miner: every flow is benign
        if self.pool_endpoints:
            for client, server, port in ((r.client_ip, r.server_ip, r.server_port),
                                         (r.server_ip, r.client_ip, r.client_port)):  # fmt: skip
                if client in self.miner_ips and _endpoint(server, port) in self.pool_endpoints:
                    return FlowLabel(True)
            return FlowLabel(False)
        return None


@dataclass(slots=True)
class FlowOutcome:
    """One labelled flow: what it is, what minewatch said, and when."""

    miner: bool
    flagged: bool
    score: float
    dialect: str
    tls: bool
    seconds_to_detect: float | None = None
    pushes_to_detect: int | None = None
    miner_ip: str = ""  # the labelled miner's address (whatever the flow's orientation)
    job_interval: float | None = None

    @property
    def found_within_three_jobs(self) -> bool:
        """Flagged, and (when the job interval is known) within three job intervals of
        the flow's first packet: a pool's third job is the model's first chance."""
        if not self.flagged or self.seconds_to_detect is None:
            return False
        return self.job_interval is None or self.seconds_to_detect <= 3 * self.job_interval


@dataclass(slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, truth: bool, said: bool) -> None:
        if truth and said:
            self.tp += 1
        elif said:
            self.fp += 1
        elif truth:
            self.fn += 1
        else:
            self.tn += 1

    def merge(self, other: Counts) -> None:
        self.tp, self.fp = self.tp + other.tp, self.fp + other.fp
        self.fn, self.tn = self.fn + other.fn, self.tn + other.tn

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)

    @property
    def fp_per_10k(self) -> float | None:
        benign = self.fp + self.tn
        return 10_000 * self.fp / benign if benign else None

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall,
                "f1": self.f1, "fp_per_10k_benign": self.fp_per_10k}  # fmt: skip


@dataclass(slots=True)
class CaptureEval:
    path: str
    group: str
    ips: Counts
    flows: list[FlowOutcome]
    unlabelled_flows: int
    missed_ips: list[str]
    false_ips: list[str]
    error: str | None = None


@dataclass(slots=True)
class GroupEval:
    """A summary row: one labelled set, or the total."""

    name: str
    captures: int = 0
    ips: Counts = field(default_factory=Counts)
    flows: Counts = field(default_factory=Counts)
    unlabelled_flows: int = 0
    errors: int = 0
    by_dialect: dict[str, Counts] = field(default_factory=dict)
    by_transport: dict[str, Counts] = field(default_factory=dict)
    seconds_to_detect: list[float] = field(default_factory=list)
    pushes_to_detect: list[int] = field(default_factory=list)
    # (capture, miner IP) of every miner mining over TLS -> found within three job intervals
    tls_miner_ips: dict[tuple[str, str], bool] = field(default_factory=dict)

    def add(self, c: CaptureEval) -> None:
        self.captures += 1
        self.errors += c.error is not None
        self.ips.merge(c.ips)
        self.unlabelled_flows += c.unlabelled_flows
        for f in c.flows:
            self.flows.add(f.miner, f.flagged)
            if f.miner:
                self.by_dialect.setdefault(f.dialect or "unknown", Counts()).add(True, f.flagged)
            self.by_transport.setdefault("tls" if f.tls else "cleartext", Counts()).add(
                f.miner, f.flagged
            )
            if f.miner and f.tls:
                key = (c.path, f.miner_ip)
                self.tls_miner_ips[key] = self.tls_miner_ips.get(key, False) or (
                    f.found_within_three_jobs
                )
            if f.miner and f.seconds_to_detect is not None:
                self.seconds_to_detect.append(f.seconds_to_detect)
                if f.pushes_to_detect is not None:
                    self.pushes_to_detect.append(f.pushes_to_detect)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "captures": self.captures,
            "errors": self.errors,
            "per_ip": self.ips.summary(),
            "per_flow": self.flows.summary(),
            "unlabelled_flows": self.unlabelled_flows,
            "by_dialect": {k: v.summary() for k, v in sorted(self.by_dialect.items())},
            "by_transport": {k: v.summary() for k, v in sorted(self.by_transport.items())},
            "time_to_detect_s": _quantiles(self.seconds_to_detect),
            "pushes_to_detect": _quantiles(self.pushes_to_detect),
            "tls_miner_ips": {
                "ips": len(self.tls_miner_ips),
                "found_within_three_jobs": sum(self.tls_miner_ips.values()),
                "recall": (
                    sum(self.tls_miner_ips.values()) / len(self.tls_miner_ips)
                    if self.tls_miner_ips
                    else None
                ),
            },  # fmt: skip
        }


def _quantiles(values: list[float] | list[int]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)],
        "max": ordered[-1],
    }


def _endpoint(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


# --- labels -------------------------------------------------------------------------------


def load_labels(sources: Iterable[Path]) -> list[CaptureLabels]:
    """Labels of every capture named by ``sources``: manifests (toml/csv), directories
    holding one, or generated corpora (a directory with flows.csv and hosts.csv)."""
    found: list[CaptureLabels] = []
    for source in sources:
        if source.is_dir() and (source / "flows.csv").is_file():
            found.extend(_generated(source))
            continue
        manifest = find_manifest(source) if source.is_dir() else source
        group = (
            manifest.parent.name
            if manifest.name in ("manifest.toml", "labels.csv", "manifest.csv")
            else manifest.stem
        )
        for exp in load_manifest(manifest):
            found.append(_from_expectation(exp, group))
    return found


def _from_expectation(exp: Expectation, group: str) -> CaptureLabels:
    return CaptureLabels(exp.file, group, set(exp.suspects), set(exp.pool_endpoints))


def _generated(directory: Path) -> list[CaptureLabels]:
    """A corpus written by ``minewatch corpus make``: hosts.csv says which hosts mine,
    flows.csv labels every flow."""
    by_capture: dict[str, CaptureLabels] = {}

    def labels_of(name: str) -> CaptureLabels:
        if name not in by_capture:
            by_capture[name] = CaptureLabels(directory / name, directory.name, set())
        return by_capture[name]

    for line, row in _csv_rows(directory / "hosts.csv"):
        if row.get("class") == "miner":
            labels_of(_needs(row, "capture", directory / "hosts.csv", line)).miner_ips.add(
                _needs(row, "ip", directory / "hosts.csv", line)
            )
    for line, row in _csv_rows(directory / "flows.csv"):
        path = directory / "flows.csv"
        try:
            client, server = (
                _needs(row, "client_ip", path, line),
                _needs(row, "server_ip", path, line),
            )
            ports = (
                int(_needs(row, "client_port", path, line)),
                int(_needs(row, "server_port", path, line)),
            )
            key = (client, ports[0], server, ports[1])
        except ValueError:
            raise InputError(f"{path}:{line}: ports must be numbers") from None
        labels_of(_needs(row, "capture", path, line)).flows[key] = FlowLabel(
            row.get("class") == "miner", row.get("dialect") or "", row.get("tls") in ("1", "true"),
            _seconds(row.get("job_interval")),
        )  # fmt: skip
    return list(by_capture.values())


def _seconds(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) and value > 0 else None


def _csv_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(enumerate(csv.DictReader(fh), 2))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read CSV ({exc})") from None


def _needs(row: dict[str, str], column: str, path: Path, line: int) -> str:
    value = row.get(column)
    if not value:
        raise InputError(f"{path}:{line}: missing {column!r}")
    return value


# --- running -----------------------------------------------------------------------------


#: seconds of capture fed at a time, at most, between two looks at the push checkpoints
PUSH_SLICE = 1.0


def evaluate_capture(
    labels: CaptureLabels, config: ScanConfig, detector: Detector, checkpoint: float = 10.0
) -> CaptureEval:
    """Scan one capture with every flow's verdict kept and checkpoints for time to detect."""
    caps = expand_inputs([str(labels.path)])
    if len(caps) != 1 or caps[0].problem is not None:
        problem = caps[0].problem if caps else "not found"
        return CaptureEval(str(labels.path), labels.group, Counts(), [], 0, [], [], problem)
    cap = caps[0]
    session = CaptureSession(cap.display, config, detector)
    first_flagged: dict[tuple[FlowKey, float], tuple[float, int | None]] = {}
    error = None
    try:
        _, batches = read_capture(cap, config.chunk_size)
        next_check: float | None = None
        next_slice = -math.inf
        for batch in batches:
            # fed in slices of at most PUSH_SLICE seconds, so a flow reaching a push
            # checkpoint is scored within that much of the push (as scan --as-found and a
            # live sensor score each batch's checkpoints: their batches are shorter still);
            # every open flow is scored only at each ``checkpoint`` period
            start, n = 0, len(batch)
            while start < n:
                first = float(batch.ts[start])
                if next_check is None:
                    next_check = first + checkpoint
                if first >= next_slice:
                    next_slice = first + PUSH_SLICE
                later = np.flatnonzero(batch.ts[start:] >= min(next_slice, next_check))
                stop = start + int(later[0]) if later.shape[0] else n
                if stop > start:
                    session.feed(batch.part(start, stop))
                    # flows at a push checkpoint are scored at once: time to detect is
                    # when the push arrived (to within a slice)
                    _score_open(session.take_checkpoints(), config, detector, first_flagged)
                start = stop
                ahead = max(session.now, float(batch.ts[start]) if start < n else -math.inf)
                if ahead >= next_slice:
                    next_slice = ahead + PUSH_SLICE
                if ahead >= next_check:
                    # one scoring per stretch of time: with no packet in between, more
                    # checkpoints would see the same flows (and a capture whose clock
                    # jumps by years would never end)
                    _check(session, config, detector, first_flagged)
                    next_check += checkpoint * (math.floor((ahead - next_check) / checkpoint) + 1)
            if STOP.signum is not None:
                break
    except (CorruptCapture, InputError) as exc:
        error = str(exc)
    scanned = session.finish()
    outcomes, unlabelled = [], 0
    flagged_ips = scanned.suspects.ips()
    for v in scanned.verdicts:
        r = v.record
        label = labels.flow_label(r)
        if label is None:
            unlabelled += 1
            continue
        outcome = FlowOutcome(label.miner, v.is_miner, v.score, label.dialect, label.tls)
        outcome.job_interval = label.job_interval
        outcome.miner_ip = r.server_ip if r.server_ip in labels.miner_ips else r.client_ip
        if label.dialect == "" and r.facts is not None and r.facts.dialects:
            outcome.dialect = sorted(r.facts.dialects)[0]
        if not label.tls and r.facts is not None and r.facts.tls:
            outcome.tls = True
        if v.is_miner:
            seen = first_flagged.get((_key(r), r.first_ts))
            jobs = r.facts.jobs if r.facts is not None and r.facts.dialects else None
            outcome.seconds_to_detect, outcome.pushes_to_detect = seen or (r.duration, jobs)
        outcomes.append(outcome)
    ips = Counts()
    screened = {v.record.client_ip for v in scanned.verdicts} | labels.miner_ips | flagged_ips
    for ip in screened:
        ips.add(ip in labels.miner_ips, ip in flagged_ips)
    return CaptureEval(
        str(labels.path), labels.group, ips, outcomes, unlabelled,
        sorted(labels.miner_ips - flagged_ips), sorted(flagged_ips - labels.miner_ips),
        error or scanned.report.error,
    )  # fmt: skip


def _key(r: FlowRecord) -> FlowKey:
    return (r.client_ip, r.client_port, r.server_ip, r.server_port)


def _check(
    session: CaptureSession,
    config: ScanConfig,
    detector: Detector,
    first_flagged: dict[tuple[FlowKey, float], tuple[float, int | None]],
) -> None:
    """Score the open flows as they stand (a checkpoint), the flow model included."""
    _score_open(session.snapshot(), config, detector, first_flagged)


def _score_open(
    records: list[FlowRecord],
    config: ScanConfig,
    detector: Detector,
    first_flagged: dict[tuple[FlowKey, float], tuple[float, int | None]],
) -> None:
    """Score open flows' records; note when each flow first scored as a miner."""
    if not records:
        return
    if detector.model is not None:
        detector.model.annotate(records)
    for record in records:
        key = (_key(record), record.first_ts)
        if key in first_flagged:
            continue
        if score_flow(record, detector.rules, config.threshold).is_miner:
            facts = record.facts
            jobs = facts.jobs if facts is not None and facts.dialects else None
            # the snapshot holds the flow up to its latest packet: that is when it was known
            first_flagged[key] = (record.duration, jobs)


def run_eval(
    labels: list[CaptureLabels], config: ScanConfig, detector: Detector, checkpoint: float = 10.0
) -> tuple[list[CaptureEval], list[GroupEval]]:
    """Every capture, then one summary per labelled set and the total (last)."""
    config.keep_all_flows = True
    evals = []
    for item in labels:
        evals.append(evaluate_capture(item, config, detector, checkpoint))
        if STOP.signum is not None:
            break
    groups: dict[str, GroupEval] = {}
    total = GroupEval("total")
    for e in evals:
        groups.setdefault(e.group, GroupEval(e.group)).add(e)
        total.add(e)
    return evals, [*groups.values(), total]


def threshold_curve(evals: list[CaptureEval]) -> list[dict[str, float | None]]:
    """Per-flow precision and recall at each threshold (scores are kept per flow)."""
    scored = [(f.miner, f.score) for e in evals for f in e.flows]
    curve = []
    for threshold in THRESHOLDS:
        counts = Counts()
        for miner, score in scored:
            counts.add(miner, score >= threshold)
        curve.append({"threshold": threshold, "precision": counts.precision,
                      "recall": counts.recall})  # fmt: skip
    return curve


# --- writing -----------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def write_table(groups: list[GroupEval], out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console.width = 200
    table = Table(title="minewatch eval", title_justify="left")
    for name in ("set", "captures", "IP P", "IP R", "IP F1", "IP FP/FN", "flow P", "flow R",
                 "flow F1", "FP/10k benign", "flows (miner/benign)", "TTD median s",
                 "TLS recall"):  # fmt: skip
        table.add_column(name, no_wrap=True)
    for g in groups:
        tls = g.by_transport.get("tls")
        ttd = _quantiles(g.seconds_to_detect)
        table.add_row(
            g.name, str(g.captures), _pct(g.ips.precision), _pct(g.ips.recall), _pct(g.ips.f1),
            f"{g.ips.fp}/{g.ips.fn}", _pct(g.flows.precision), _pct(g.flows.recall),
            _pct(g.flows.f1), "-" if g.flows.fp_per_10k is None else f"{g.flows.fp_per_10k:.2f}",
            f"{g.flows.tp + g.flows.fn}/{g.flows.fp + g.flows.tn}",
            "-" if ttd is None else f"{ttd['median']:.0f}",
            _pct(tls.recall if tls is not None else None),
        )  # fmt: skip
    console.print(table)


def write_json(evals: list[CaptureEval], groups: list[GroupEval], out: TextIO) -> None:
    doc = {
        "groups": [g.summary() for g in groups],
        "threshold_curve": threshold_curve(evals),
        "captures": [
            {"path": e.path, "group": e.group, "per_ip": e.ips.summary(),
             "missed_ips": e.missed_ips, "false_ips": e.false_ips, "error": e.error,
             "flows": len(e.flows), "unlabelled_flows": e.unlabelled_flows}
            for e in evals
        ],
    }  # fmt: skip
    out.write(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def write_junit(evals: list[CaptureEval], out: TextIO) -> None:
    """One test case per capture: it fails when an IP is missed or falsely flagged."""
    suite = ET.Element("testsuite", name="minewatch-eval", tests=str(len(evals)))
    failures = 0
    for e in evals:
        case = ET.SubElement(suite, "testcase", classname=e.group, name=Path(e.path).name)
        problems = [f"missed {ip}" for ip in e.missed_ips] + [f"false {ip}" for ip in e.false_ips]
        if e.error:
            problems.append(f"input error: {e.error}")
        if problems:
            failures += 1
            ET.SubElement(case, "failure", message="; ".join(problems)[:1000])
    suite.set("failures", str(failures))
    out.write(ET.tostring(suite, encoding="unicode") + "\n")


def write_plot(evals: list[CaptureEval], groups: list[GroupEval], path: Path) -> None:
    """Precision and recall against the threshold, and the time-to-detect distribution."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib (pip install matplotlib)") from None
    curve = threshold_curve(evals)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [c["threshold"] for c in curve]
    for name in ("precision", "recall"):
        left.plot(xs, [float("nan") if c[name] is None else c[name] for c in curve], marker="o",
                  label=name)  # fmt: skip
    left.set_xlabel("score threshold")
    left.set_ylabel("per-flow value")
    left.set_ylim(0, 1.02)
    left.set_title("Precision and recall against the threshold")
    left.legend(loc="lower left")
    left.grid(alpha=0.3)
    total = groups[-1]
    if total.seconds_to_detect:
        right.hist(total.seconds_to_detect, bins=30)
    right.set_xlabel("seconds from the flow's first packet")
    right.set_ylabel("miner flows")
    right.set_title(f"Time to detect ({len(total.seconds_to_detect)} detected miner flows)")
    right.grid(alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)


def describe(groups: list[GroupEval], seconds: float) -> str:
    total = groups[-1]
    flows = total.flows.tp + total.flows.fp + total.flows.fn + total.flows.tn
    return (f"{total.captures} captures, {flows:,} labelled flows "
            f"({total.unlabelled_flows:,} unlabelled) in {seconds:.1f} s")  # fmt: skip
