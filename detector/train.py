"""``minewatch train``: fit the flow model on labelled captures and write it with its card.

Why it is built this way (docs/ARCHITECTURE.md, "The model"):

* **Examples where the scorer will look.** A live sensor scores a flow while it goes on,
  at the checkpoints the flow stage reports (its 3rd, 6th, 12th ... server push) and at
  its end. So the examples are exactly those records: every checkpoint of every labelled
  TCP flow with payload both ways, and its end. A model trained on ended flows only would
  see long durations and many pushes, and be wrong about the same flow ten minutes in.
* **Each flow weighs the same**, whatever its number of checkpoints, and both classes
  weigh the same in total: a day-long miner must not drown a thousand short pollers.
* **Split by capture, three ways** (fit / calibrate / test, seeded): flows of one capture
  share hosts, pools and timing, so a flow-level split would let the model see the test
  set's siblings. The calibration split turns the boosted trees' scores into
  probabilities (isotonic) and chooses the threshold; the test split only measures.
* **The threshold** is the lowest calibrated probability at which no benign flow of the
  calibration split would be flagged (a model alone makes a suspect only when it is
  confident), never below ``THRESHOLD_FLOOR`` (0.99); the card says what it cost in recall.

Labels are read as ``minewatch eval`` reads them (evaluate.load_labels): a generated
corpus's flows.csv, the corpus manifests with pool endpoints, benign-only sets.
"""

from __future__ import annotations

import random
import statistics
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.config import Detector, ScanConfig
from detector.errors import CorruptCapture, InputError
from detector.evaluate import CaptureLabels
from detector.features import FEATURE_NAMES, features_matrix
from detector.flows import FlowRecord
from detector.model import ModelMeta, card_path, save_model, trees_path
from detector.replay import STOP
from detector.session import CaptureSession
from detector.source import expand_inputs, read_capture

#: the lowest calibrated probability at which the model alone may flag a flow: "confident"
#: (the issue's word). 0.5 was the floor until the gate moved to one push and the
#: calibration split had no benign flow above it; the held-out miners score >= 0.99 at
#: their checkpoints (209 of 216 TLS miner addresses in time at 0.5, 0.9 and 0.99 alike)
THRESHOLD_FLOOR = 0.99
MIN_PUSHES = 1  # server pushes a flow must show before the model alone makes a suspect
# or answers, for a flow never pushed to whose payload was not read: a getwork or
# getblocktemplate poller over TLS (the flow stage reports 3, 6, 12 ... answers as
# checkpoints: behaviour.is_answer_checkpoint; model.FlowModel.gated)
MIN_ANSWERS = 3
# Features the shipped model leaves out: a pool-list hit is the rules' evidence (a model
# that learnt it would miss every pool no list names, as the real-program set's are); the
# answer delay is mostly where the sensor sits (near the client it is the whole round
# trip, near the server almost nothing), which a generator's network cannot teach.
EXCLUDED = frozenset({"pool_listed", "answer_delay_mean"})
PUSHES = FEATURE_NAMES.index("pushes")
ANSWERS = FEATURE_NAMES.index("answers")
TLS = FEATURE_NAMES.index("tls")  # 0: inspected and not TLS (features.read_in_clear)


@dataclass(slots=True)
class Examples:
    """Rows of features with what is known of each (plain lists until fitting)."""

    rows: list[np.ndarray] = field(default_factory=list)
    miner: list[bool] = field(default_factory=list)
    flow: list[int] = field(default_factory=list)  # flow number, unique over the run
    capture: list[int] = field(default_factory=list)
    at_end: list[bool] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # since the flow's first packet
    tls: list[bool] = field(default_factory=list)
    dialect: list[str] = field(default_factory=list)
    captures: list[str] = field(default_factory=list)
    flows: int = 0

    def add(self, records: list[FlowRecord], labels: CaptureLabels, capture: int,
            at_end: bool, numbers: dict[tuple, int]) -> None:  # fmt: skip
        chosen = []
        for r in records:
            if r.proto != "TCP" or r.behaviour is None:
                continue
            label = labels.flow_label(r)
            if label is None:
                continue
            key = (r.client_ip, r.client_port, r.server_ip, r.server_port, r.first_ts)
            if key not in numbers:
                numbers[key] = self.flows
                self.flows += 1
            chosen.append(r)
            self.miner.append(label.miner)
            self.flow.append(numbers[key])
            self.capture.append(capture)
            self.at_end.append(at_end)
            self.seconds.append(r.duration)
            facts_tls = r.facts is not None and bool(r.facts.tls)
            self.tls.append(label.tls or facts_tls)
            self.dialect.append(label.dialect)
        if chosen:
            self.rows.extend(features_matrix(chosen))


def collect(
    labels: list[CaptureLabels],
    config: ScanConfig,
    detector: Detector,
    progress: Callable[[int, int, str], None] | None = None,
) -> Examples:
    """Scan every labelled capture and keep its checkpoint and end records as examples."""
    config.keep_all_flows = True
    examples = Examples()
    for index, item in enumerate(labels):
        if progress is not None:
            progress(index, len(labels), item.path.name)
        examples.captures.append(str(item.path))
        caps = expand_inputs([str(item.path)])
        if len(caps) != 1 or caps[0].problem is not None:
            continue
        session = CaptureSession(caps[0].display, config, detector)
        numbers: dict[tuple, int] = {}
        try:
            _, batches = read_capture(caps[0], config.chunk_size)
            for batch in batches:
                session.feed(batch)
                examples.add(session.take_checkpoints(), item, index, False, numbers)
                if STOP.signum is not None:
                    break
        except (CorruptCapture, InputError):
            pass  # what was read before the damage still teaches
        scanned = session.finish()
        examples.add([v.record for v in scanned.verdicts], item, index, True, numbers)
        if STOP.signum is not None:
            break
    if progress is not None:
        progress(len(labels), len(labels), "")
    return examples


@dataclass(slots=True)
class Split:
    fit: np.ndarray
    calibrate: np.ndarray
    test: np.ndarray


def split_by_capture(examples: Examples, seed: int) -> Split:
    """Rows of ~70 / 15 / 15 % of the captures (seeded); each part keeps both classes
    when the data has them (captures are dealt class by class: miner-bearing first)."""
    capture = np.asarray(examples.capture)
    miner = np.asarray(examples.miner)
    with_miners = sorted({int(c) for c in capture[miner]})
    benign_only = sorted(set(capture.tolist()) - set(with_miners))
    rng = random.Random(seed)
    parts: list[set[int]] = [set(), set(), set()]
    for group in (with_miners, benign_only):
        group = group[:]
        rng.shuffle(group)
        n = len(group)
        n_cal = max(1, round(n * 0.15)) if n >= 3 else 0
        n_test = max(1, round(n * 0.15)) if n >= 3 else 0
        parts[1].update(group[:n_cal])
        parts[2].update(group[n_cal : n_cal + n_test])
        parts[0].update(group[n_cal + n_test :])
    return Split(*(np.flatnonzero(np.isin(capture, sorted(p))) for p in parts))


def _weights(examples: Examples, rows: np.ndarray) -> np.ndarray:
    """Each flow weighs 1 over its rows; each class weighs half in total."""
    flow = np.asarray(examples.flow)[rows]
    miner = np.asarray(examples.miner)[rows]
    _, inverse, counts = np.unique(flow, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    for cls in (True, False):
        mask = miner == cls
        if mask.any():
            w[mask] *= 0.5 / w[mask].sum()
    return w * len(rows)


@dataclass(slots=True)
class Fitted:
    estimator: Any
    columns: tuple[str, ...]
    threshold: float
    metrics: dict[str, Any]


def fit(examples: Examples, seed: int = 1, columns: Iterable[str] | None = None) -> Fitted:
    """Boosted trees on the fit split, isotonic calibration and the threshold on the
    calibration split, metrics on the test split."""
    from sklearn.calibration import CalibratedClassifierCV  # noqa: PLC0415 - ~1 s import
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415
    from sklearn.frozen import FrozenEstimator  # noqa: PLC0415

    names = tuple(n for n in (columns or FEATURE_NAMES) if n not in EXCLUDED)
    if not examples.rows:
        raise InputError("no labelled TCP flow with payload both ways to learn from")
    miner = np.asarray(examples.miner)
    if miner.all() or not miner.any():
        raise InputError("training needs miner and benign flows")
    everything = np.vstack(examples.rows)
    matrix = everything[:, [FEATURE_NAMES.index(n) for n in names]]
    split = split_by_capture(examples, seed)
    if not (len(split.calibrate) and len(split.test)):
        raise InputError("training needs at least three captures with miners and three without")
    trees = HistGradientBoostingClassifier(
        max_iter=300, learning_rate=0.08, max_leaf_nodes=31, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=False, random_state=seed,
    )  # fmt: skip
    trees.fit(matrix[split.fit], miner[split.fit], sample_weight=_weights(examples, split.fit))
    calibrated = CalibratedClassifierCV(FrozenEstimator(trees), method="isotonic")
    with warnings.catch_warnings():  # the weights are meant for the calibration alone
        warnings.filterwarnings("ignore", message="Since FrozenEstimator")
        calibrated.fit(
            matrix[split.calibrate], miner[split.calibrate],
            sample_weight=_weights(examples, split.calibrate),
        )  # fmt: skip
    # what the scorer acts on: 0 where the flow showed too few pushes and answers
    pushes = np.nan_to_num(everything[:, PUSHES])
    answers = np.nan_to_num(everything[:, ANSWERS])
    unread = everything[:, TLS] != 0  # TLS or not inspected (NaN): the model.gated rule
    gate = (pushes >= MIN_PUSHES) | ((answers >= MIN_ANSWERS) & unread)
    probs = np.where(gate, calibrated.predict_proba(matrix)[:, 1], 0.0)
    threshold = choose_threshold(examples, split.calibrate, probs)
    metrics = {
        "rows": {"fit": len(split.fit), "calibrate": len(split.calibrate), "test": len(split.test)},
        "calibrate": flow_metrics(examples, split.calibrate, probs, threshold),
        "test": flow_metrics(examples, split.test, probs, threshold),
    }
    return Fitted(calibrated, names, threshold, metrics)


def choose_threshold(examples: Examples, rows: np.ndarray, probs: np.ndarray) -> float:
    """Lowest threshold in [THRESHOLD_FLOOR, 0.999] above every benign flow's highest gated
    probability (0.999 when none is: the card's calibration numbers then show the cost)."""
    gated = probs[rows]  # gated by pushes in fit
    miner = np.asarray(examples.miner)[rows]
    top_benign = float(gated[~miner].max()) if (~miner).any() else 0.0
    candidates = sorted({min(0.999, float(p)) for p in gated[miner]} | {THRESHOLD_FLOOR})
    for t in candidates:
        if t >= THRESHOLD_FLOOR and t > top_benign:
            return round(t, 6)
    return 0.999


def flow_metrics(
    examples: Examples, rows: np.ndarray, probs: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Per flow: flagged at any checkpoint or its end; recall (all, TLS, cleartext, by
    dialect), false positives per 10,000 benign flows, seconds to detect."""
    gated = probs[rows]  # gated by pushes in fit
    flows: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        f = flows.setdefault(examples.flow[row], {
            "miner": examples.miner[row], "tls": examples.tls[row],
            "dialect": examples.dialect[row] or "-", "first": None,
        })  # fmt: skip
        if gated[i] >= threshold:
            seconds = examples.seconds[row]
            f["first"] = seconds if f["first"] is None else min(f["first"], seconds)
    miners = [f for f in flows.values() if f["miner"]]
    benign = [f for f in flows.values() if not f["miner"]]

    def recall(group: list[dict[str, Any]]) -> float | None:
        return round(sum(f["first"] is not None for f in group) / len(group), 4) if group else None

    dialects = sorted({f["dialect"] for f in miners})
    ttd = [f["first"] for f in miners if f["first"] is not None]
    fp = sum(f["first"] is not None for f in benign)
    return {
        "miner_flows": len(miners),
        "benign_flows": len(benign),
        "recall": recall(miners),
        "recall_tls": recall([f for f in miners if f["tls"]]),
        "recall_cleartext": recall([f for f in miners if not f["tls"]]),
        "recall_by_dialect": {
            d: recall([f for f in miners if f["dialect"] == d]) for d in dialects
        },
        "false_positives": fp,
        "fp_per_10k": round(fp * 10_000 / len(benign), 2) if benign else None,
        "seconds_to_detect_median": round(statistics.median(ttd), 1) if ttd else None,
    }


def write_card(
    path: Path, meta: ModelMeta, sources: list[str], command: str, captured: list[str]
) -> None:
    """The model card: what it learnt from, what it measured, how to rebuild it."""
    t = meta.trained
    test, cal = t["metrics"]["test"], t["metrics"]["calibrate"]

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    dialects = ", ".join(f"{d} {pct(v)}" for d, v in test["recall_by_dialect"].items()) or "-"
    lines = [
        "# minewatch flow model",
        "",
        f"- sha256: `{meta.sha256}`",
        f"- file: `{path.name}` (skops; metadata `{path.with_suffix('.json').name}`)",
        *(
            [f"- compiled trees: `{trees_path(path).name}`, sha256: `{meta.trees_sha256}`"]
            if meta.trees_sha256
            else []
        ),
        f"- built by: `{command}`",
        f"- estimator: HistGradientBoostingClassifier (seed {t['seed']}), isotonic calibration",
        f"- threshold: {meta.threshold} (calibrated probability); a flow needs >= "
        f"{meta.min_pushes} server pushes (or, never pushed to, {meta.min_answers} answers) "
        "before the model alone may flag it",
        "",
        "## Data",
        "",
        f"Labelled sets: {', '.join(sources)}.",
        f"Examples: {t['rows']} rows (checkpoints and ends of {t['flows']} labelled TCP flows with "
        f"payload both ways) from {t['captures']} captures, split by capture "
        f"{t['metrics']['rows']['fit']} / {t['metrics']['rows']['calibrate']} / "
        f"{t['metrics']['rows']['test']} rows (fit / calibrate / test).",
        "Never trained on: pcaps/realset/ (real programs) or a held-out corpus seed.",
        *(
            [
                f"Captured (not generated) sets among them: {', '.join(captured)}; a clean "
                "result on those in `make eval` is a training-set result, not a held-out one."
            ]
            if captured
            else []
        ),
        "",
        "## Held-out metrics (test split, per flow: flagged at any checkpoint or its end)",
        "",
        f"- miner flows {test['miner_flows']}, benign flows {test['benign_flows']}",
        f"- recall {pct(test['recall'])} (TLS {pct(test['recall_tls'])}, cleartext "
        f"{pct(test['recall_cleartext'])})",
        f"- by dialect: {dialects}",
        f"- false positives: {test['false_positives']} "
        f"({test['fp_per_10k']} per 10,000 benign flows)",
        f"- median seconds to detect: {test['seconds_to_detect_median']}",
        f"- calibration split: recall {pct(cal['recall'])}, "
        f"false positives {cal['false_positives']}",
        "",
        "## Features",
        "",
        "In this order (detector/features.py documents each; excluded: "
        f"{', '.join(sorted(EXCLUDED)) or '-'}):",
        "",
        ", ".join(f"`{n}`" for n in meta.feature_names),
        "",
        "## Known limits",
        "",
        "- Learnt from generated traffic: timing and sizes a generator wrote. The real-program",
        "  set (`make realset-check`) is the check that it transfers.",
        "- A flow with fewer pushes and answers than the gate is never flagged by the model",
        "  alone; a miner whose pool sends jobs rarely is found later (or by the rules).",
        "- JA3/JA4 are features, never verdicts: ordinary OpenSSL clients share XMRig's.",
        "",
    ]
    card_path(path).write_text("\n".join(lines), encoding="utf-8")


def train(
    labels: list[CaptureLabels],
    out: Path,
    config: ScanConfig,
    detector: Detector,
    seed: int = 1,
    command: str = "minewatch train",
    progress: Callable[[int, int, str], None] | None = None,
) -> ModelMeta:
    """Collect, fit, write the model, its metadata and its card."""
    examples = collect(labels, config, detector, progress)
    fitted = fit(examples, seed)
    trained = {
        "seed": seed,
        "rows": len(examples.rows),
        "flows": examples.flows,
        "captures": len(examples.captures),
        "metrics": fitted.metrics,
    }
    meta = save_model(
        fitted.estimator,
        out,
        ModelMeta("0" * 64, fitted.columns, fitted.threshold, MIN_PUSHES, trained, MIN_ANSWERS),
    )
    sources = sorted({item.group for item in labels})
    generated = {item.group for item in labels if (item.path.parent / "flows.csv").is_file()}
    write_card(out, meta, sources, command, sorted(set(sources) - generated))
    return meta
