"""The gradient-boosted flow model as data: written by ``minewatch train``, verified and
loaded at start-up, applied by the scorer.

Why this shape (docs/ARCHITECTURE.md, "The model"):

* **No pickle, ever.** A model file is data someone hands us; unpickling it runs their
  code. The estimator is saved with skops, whose loader builds only the types it is told
  to trust: ``TRUSTED_TYPES`` below, the exact list a HistGradientBoostingClassifier with
  an isotonic calibration needs beyond skops' own defaults. A file that asks for any other
  type is refused before anything is built from it.
* **A recorded hash.** ``minewatch train`` writes the sha256 of the ``.skops`` bytes into
  the model's metadata (``<stem>.json``, beside it) and its card (``CARD.md``, same
  directory). At load the file's hash must equal both: a model changed after training (or
  swapped for another) is refused. The bytes are hashed and deserialised from one read, so
  the file cannot change between the check and the load. The same holds for the compiled
  trees file beside it (``<stem>.trees.npz``, trees.compiled_bytes: plain arrays), which a
  scan reads its trees from - reading them out of the archive cost ~35 ms of every start.
* **Metadata travels with the model**: the feature names in the order the estimator was
  fitted on, a subset of what the engine computes (a model that needs a feature this
  version does not compute is refused instead of silently scoring garbage), the decision
  threshold and the push count a flow needs before the model alone may make a suspect.

Every failure is an :class:`~detector.errors.InputError`: one line on stderr, exit 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detector.behaviour import PACKED_DTYPE
from detector.errors import InputError
from detector.features import FEATURE_NAMES, features_matrix, read_in_clear
from detector.flows import FlowRecord
from detector.trees import (
    CompiledTrees,
    compile_skops,
    compiled_bytes,
    read_compiled,
    same_trees,
    untrusted_types,
)

MODELS = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = MODELS / "minewatch.skops"
CARD_NAME = "CARD.md"
FORMAT = 1  # the metadata layout below; a newer file is refused, not misread

#: Types a shipped or retrained model may contain beyond skops' defaults (checked with
#: ``skops.io.get_untrusted_types`` at training time; anything else is refused).
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    }
)

WHY_FEATURES = 3  # features named in an alert's explanation
EXPLAINED = 12  # the model's most used features, the candidates of an explanation

_CARD_HASH = re.compile(r"sha256:\s*`?([0-9a-f]{64})`?")


@dataclass(frozen=True, slots=True, eq=False, repr=False)  # see startup.py
class ModelMeta:
    """What a model file needs beside the estimator (``<stem>.json``)."""

    sha256: str
    feature_names: tuple[str, ...]
    threshold: float  # calibrated probability from which a flow counts as mining
    min_pushes: int  # server pushes a flow must show before the model alone decides
    trained: dict[str, Any] = field(default_factory=dict)  # data, seeds, metrics (the card)
    # or answers, for flows never pushed to (pollers); 0: answers never open the gate (the
    # metadata of models from before answer checkpoints has no such key)
    min_answers: int = 0
    # the sha256 of the compiled trees file (trees_path), which a scan reads instead of
    # the skops archive; None: no such file (models written before it), the trees are read
    # out of the archive
    trees_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "format": FORMAT,
            "sha256": self.sha256,
            "feature_names": list(self.feature_names),
            "threshold": self.threshold,
            "min_pushes": self.min_pushes,
            "min_answers": self.min_answers,
            "trained": self.trained,
        }
        if self.trees_sha256 is not None:
            data["trees_sha256"] = self.trees_sha256
        return data

    @classmethod
    def from_json(cls, data: Any, where: str) -> ModelMeta:
        """Validated metadata; anything off is an InputError naming the file."""
        if not isinstance(data, dict):
            raise InputError(f"{where}: not a model metadata object")
        if data.get("format") != FORMAT:
            raise InputError(
                f"{where}: model metadata format {data.get('format')!r} (expected {FORMAT})"
            )
        sha, names = data.get("sha256"), data.get("feature_names")
        threshold, pushes = data.get("threshold"), data.get("min_pushes")
        if not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
            raise InputError(f"{where}: sha256 is not a hex digest")
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            raise InputError(f"{where}: feature_names must be a non-empty list of names")
        if not (isinstance(threshold, float | int) and 0.0 < threshold < 1.0):
            raise InputError(f"{where}: threshold must be a probability in (0, 1)")
        if not (isinstance(pushes, int) and not isinstance(pushes, bool) and pushes >= 0):
            raise InputError(f"{where}: min_pushes must be a count")
        answers = data.get("min_answers", 0)
        if not (isinstance(answers, int) and not isinstance(answers, bool) and answers >= 0):
            raise InputError(f"{where}: min_answers must be a count")
        trained = data.get("trained", {})
        if not isinstance(trained, dict):
            raise InputError(f"{where}: trained must be an object")
        trees_sha = data.get("trees_sha256")
        if trees_sha is not None and not (
            isinstance(trees_sha, str) and re.fullmatch(r"[0-9a-f]{64}", trees_sha)
        ):
            raise InputError(f"{where}: trees_sha256 is not a hex digest")
        return cls(sha, tuple(names), float(threshold), pushes, trained, answers, trees_sha)


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class FlowModel:
    """A verified model file and its metadata; ``probabilities`` is all the scorer calls.

    Scoring uses the trees read from the verified bytes with numpy (trees.py): building
    scikit-learn's estimator imports scikit-learn, 1-3 s that made a 1M-packet scan 70 %
    slower. ``estimator`` still builds it through skops (trusted types only), for
    training, inspection and the test that both give the same probabilities."""

    blob: bytes
    meta: ModelMeta
    path: Path
    trees: CompiledTrees
    columns: Any = None  # indexes of the model's features among the engine's (None: all)
    _estimator: Any = None
    # explain's candidates, worked out at its first call (not copied by replace: the trees
    # may be others)
    _explained: list[int] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def estimator(self) -> Any:
        if self._estimator is None:
            estimator = _build(self.blob, self.path)
            count = len(self.meta.feature_names)
            if getattr(estimator, "n_features_in_", count) != count:
                raise InputError(
                    f"{self.path}: the estimator and its metadata disagree on the feature count"
                )
            self._estimator = estimator
        return self._estimator

    def probabilities(self, features: Any) -> Any:
        """P(mining) for each row of a (flows x engine features) float matrix."""
        if self.columns is not None:
            features = features[:, self.columns]
        return self.trees.probabilities(features)

    def gate(self, records: list[FlowRecord]) -> tuple[list[FlowRecord], np.ndarray]:
        """The records that have shown enough for the model to decide: their pushes, or -
        for a flow whose payload nobody could read (TLS, or not inspected) - their answers.
        A poller in cleartext is read by the dissectors (getwork and getblocktemplate are
        the rules' to name), and a REST API polled on port 3333 is not the model's to call
        mining (pcaps/neg-http-api-3333.pcap). Column-wise over the packed behaviour: the
        gate sees every TCP record with payload both ways. Returns the chosen records and
        their packed behaviour rows, which features_matrix takes instead of packing again."""
        return self._gate([r for r in records if r.behaviour is not None])

    def _gate(self, with_behaviour: list[FlowRecord]) -> tuple[list[FlowRecord], np.ndarray]:
        """``gate`` of records that all have a behaviour."""
        if not with_behaviour:
            return [], np.empty(0, dtype=PACKED_DTYPE)
        packed = np.frombuffer(
            b"".join([r.behaviour for r in with_behaviour]),  # type: ignore[misc]
            dtype=PACKED_DTYPE,
        )
        open_ = packed["pushes"] >= self.meta.min_pushes
        if self.meta.min_answers:
            # (Python ints and one assignment: no numpy scalar or setitem per flow)
            which = np.flatnonzero(~open_ & (packed["answers"] >= self.meta.min_answers))
            which_l = which.tolist()
            open_[which] = [not read_in_clear(with_behaviour[i]) for i in which_l]
        chosen = np.flatnonzero(open_)
        return [with_behaviour[i] for i in chosen.tolist()], packed[chosen]

    def annotate(self, records: list[FlowRecord]) -> None:
        """Score the records that showed the mining rhythm's minimum (``min_pushes``
        server pushes, or ``min_answers`` answers when the metadata sets it: a poller is
        never pushed to), in one call for the batch; name the features behind each alert.

        Other flows are not scored at all: most flows of a network (web requests, DNS,
        downloads) never push and are answered once or twice, and the model costs per row."""
        # (one pass over the batch for what gate's own filter and this one keep)
        chosen, packed = self._gate(
            [r for r in records if r.behaviour is not None and r.model_score is None]
        )
        if not chosen:
            return
        matrix = features_matrix(chosen, packed)  # the behaviour the gate already packed
        probs = self.probabilities(matrix)
        threshold = self.meta.threshold
        # Python floats (tolist): the same doubles, without a numpy scalar per flow
        # Most rows end on a flat end of the calibration (trees.CompiledTrees.__post_init__):
        # 0.0 and 1.0 round to themselves, and round() of a float to 4 places goes
        # through a decimal conversion (~1,500 instructions).
        for r, p in zip(chosen, probs.tolist(), strict=True):
            r.model_score = p if p == 0.0 or p == 1.0 else round(p, 4)
            r.model_alert = p >= threshold
        # Explained: the alerts the model makes alone - where a dissector read a mining
        # dialect the rules say why, and explaining costs 12 more rows per flow
        unread = [i for i, r in enumerate(chosen)
                  if r.model_alert and (r.facts is None or not r.facts.dialects)]  # fmt: skip
        if unread:
            for i, why in zip(unread, self.explain(matrix[unread], probs[unread]), strict=True):
                chosen[i].model_why = why

    def explain(self, rows: Any, scores: Any) -> list[tuple[str, ...]]:
        """Per row, the features whose absence would lower its score most: each of the
        model's most used features (``EXPLAINED``, by splits in its trees) set to missing
        (NaN) in turn, all rows' probes in one call. Not SHAP, but honest about what this
        model leaned on for this flow, and cheap enough for alerts."""
        names = self.meta.feature_names
        columns = self.columns if self.columns is not None else list(range(len(names)))
        candidates = self._explained
        if candidates is None:  # the same for every call: the trees do not change
            used = self.trees.split_counts(len(names))
            candidates = sorted(range(len(names)), key=lambda i: (-used[i], i))[:EXPLAINED]
            self._explained = candidates
        probes = np.repeat(rows, len(candidates), axis=0)
        for k, i in enumerate(candidates):
            probes[k :: len(candidates), columns[i]] = np.nan
        drops = np.repeat(scores, len(candidates)) - self.probabilities(probes)
        drops = drops.reshape(len(rows), len(candidates))
        out = []
        for row_drops in drops:
            order = sorted(range(len(candidates)),
                           key=lambda k: (-row_drops[k], names[candidates[k]]))  # fmt: skip
            out.append(tuple(names[candidates[k]] for k in order[:WHY_FEATURES]
                             if row_drops[k] > 0))  # fmt: skip
        return out


def meta_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def card_path(model_path: Path) -> Path:
    return model_path.parent / CARD_NAME


def trees_path(model_path: Path) -> Path:
    """The compiled trees file beside a model (trees.compiled_bytes)."""
    return model_path.with_suffix(".trees.npz")


def model_files(model_path: Path) -> list[Path]:
    """Every file a model is made of (to copy or ship it whole): the archive, its
    metadata, its card and, where there is one, its compiled trees."""
    files = [model_path, meta_path(model_path), card_path(model_path)]
    compiled = trees_path(model_path)
    return [*files, compiled] if compiled.exists() else files


def load_model(
    path: Path, feature_names: tuple[str, ...] | None = FEATURE_NAMES, build: bool = False
) -> FlowModel:
    """Read and verify a model (hash, metadata, card, features; ``feature_names``, the
    engine's, must hold every feature it needs); ``build`` also builds the estimator now
    (tests/test_model_shipped.py) instead of at first use, and checks that the compiled
    trees file holds the archive's trees."""
    blob, meta_text, card_text = (_read(path), _read(meta_path(path), text=True),
                                  _read(card_path(path), text=True))  # fmt: skip
    try:
        meta = ModelMeta.from_json(json.loads(meta_text), str(meta_path(path)))
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path(path)}: not JSON ({exc.msg}, line {exc.lineno})") from None
    compiled = None if meta.trees_sha256 is None else _read(trees_path(path))
    carded = _CARD_HASH.findall(card_text)
    _check_recorded(blob, meta.sha256, carded, path, "this model's")
    trees = _trees(blob, compiled, meta, path, carded, check=build)
    columns = None
    if feature_names is not None:
        unknown = [n for n in meta.feature_names if n not in feature_names]
        if unknown:
            raise InputError(
                f"{path}: trained on features this minewatch does not compute "
                f"({unknown[0]}...): retrain it"
            )
        columns = [feature_names.index(n) for n in meta.feature_names]
    if trees.n_features != len(meta.feature_names):
        raise InputError(f"{path}: the model and its metadata disagree on the feature count")
    model = FlowModel(blob, meta, path, trees, columns)
    if build:
        _ = model.estimator
    return model


def _read(path: Path, text: bool = False) -> Any:
    """One of a model's files, bytes or text; a missing or unreadable one is one line."""
    try:
        return path.read_text(encoding="utf-8") if text else path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: model file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the model: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def _check_recorded(data: bytes, recorded: str, carded: list[str], where: Path,
                    what: str) -> None:  # fmt: skip
    """One of a model's files (the archive, the compiled trees) must hash to what its
    metadata recorded at training and its card quotes; else the one-line refusal."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != recorded:
        raise InputError(
            f"{where}: sha256 {digest[:16]}... differs from the one recorded at training: refused"
        )
    if digest not in carded:
        raise InputError(
            f"{card_path(where)}: does not record {what} sha256 {digest[:16]}...: refused"
        )


def _trees(
    blob: bytes,
    compiled: bytes | None,
    meta: ModelMeta,
    path: Path,
    carded: list[str],
    check: bool,
) -> CompiledTrees:
    """The model's trees: from its compiled trees file when the metadata names one (its
    sha256 checked against the metadata and the card, as the archive's is), else out of
    the archive. ``check`` (load_model's ``build``) also reads them out of the archive and
    refuses a compiled file that does not hold the same trees."""
    if compiled is None:  # the metadata names no compiled trees file (load_model)
        return compile_skops(blob, str(path))
    where = trees_path(path)
    assert meta.trees_sha256 is not None  # compiled is read only when it names one
    _check_recorded(compiled, meta.trees_sha256, carded, where, "the compiled trees'")
    trees = read_compiled(compiled, str(where))
    if check and not same_trees(trees, compile_skops(blob, str(path))):
        raise InputError(f"{where}: does not hold the trees of {path.name}: refused")
    return trees


def _build(blob: bytes, path: Path) -> Any:
    """The estimator from skops bytes, refusing any type outside TRUSTED_TYPES."""
    # One thread: minewatch scales out by processes (-j), and OpenMP's thread team per
    # predict call costs more than it gives on the few rows of one batch (measured: eval
    # used 1.4 cores for one process's work). Set before scikit-learn loads OpenMP.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import skops.io  # noqa: PLC0415 - sklearn's import costs ~1 s: only when a model is used

    try:
        untrusted = skops.io.get_untrusted_types(data=blob)
    except Exception as exc:  # noqa: BLE001 - any failure to read the file is the same refusal
        raise InputError(f"{path}: not a skops model file ({type(exc).__name__})") from None
    refused = set(untrusted) - TRUSTED_TYPES
    if refused:
        raise untrusted_types(str(path), refused)
    try:
        return skops.io.loads(blob, trusted=sorted(untrusted))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: the model cannot be built ({type(exc).__name__})") from None


def save_model(estimator: Any, path: Path, meta: ModelMeta) -> ModelMeta:
    """Write ``path`` (skops) and its metadata; returns the metadata with the file's hash.
    The card is the trainer's to write (it holds the metrics); it must quote the hash."""
    import skops.io  # noqa: PLC0415

    blob = skops.io.dumps(estimator)
    untrusted = set(skops.io.get_untrusted_types(data=blob))
    if untrusted - TRUSTED_TYPES:
        raise InputError(
            f"estimator holds types outside TRUSTED_TYPES: {sorted(untrusted - TRUSTED_TYPES)}"
        )
    digest = hashlib.sha256(blob).hexdigest()
    compiled = compiled_bytes(compile_skops(blob, str(path)))
    meta = ModelMeta(
        digest, meta.feature_names, meta.threshold, meta.min_pushes, meta.trained,
        meta.min_answers, hashlib.sha256(compiled).hexdigest(),
    )  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    trees_path(path).write_bytes(compiled)
    meta_path(path).write_text(
        json.dumps(meta.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    return meta
