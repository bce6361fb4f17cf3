"""The shipped model's trees read straight from its skops file, and evaluated with numpy.

Why not ``skops.io.load`` at scan time: it builds scikit-learn objects, and importing
scikit-learn costs a scan 1-3 s of start-up (scipy comes with it) - measured on the real-
traffic bench, the model then made a whole 1M-packet scan 70 % slower, nearly all of it
that import. The model itself is 300 small trees and an isotonic step function: a few
numpy arrays. So this module reads exactly those arrays out of the skops archive
(``schema.json`` plus ``.npy`` files, ``numpy.load(allow_pickle=False)``: no pickle, no
code) and walks all trees at once, vectorised.

The same guard as skops' trusted types, stricter: every object the archive describes must
be of a type in ``ALLOWED`` (the types a calibrated HistGradientBoostingClassifier is made
of), and the shape must be the one ``minewatch train`` writes (isotonic calibration of one
frozen binary HistGradientBoostingClassifier on numeric features); anything else is refused
with an InputError. tests/test_model.py checks the probabilities against scikit-learn's
``predict_proba`` on the same file.
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector.compiled import fast
from detector.errors import InputError

#: Every type the archive may name (module.class), skops' containers included.
ALLOWED: frozenset[str] = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.str",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "numpy.ndarray",
        "numpy.float64",
        "numpy.uint64",
        "numpy.int64",
        "numpy.random._generator.Generator",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.frozen._frozen.FrozenEstimator",
        "sklearn.isotonic.IsotonicRegression",
        "sklearn.preprocessing._label.LabelEncoder",
    }
)
_NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right",
                "is_leaf")  # fmt: skip


RAW_ROWS = 128  # rows walked at once (CompiledTrees.raw): 128 x 300 trees x 8 B = 300 KB


@dataclass(frozen=True, slots=True, eq=False, repr=False)  # see startup.py
class CompiledTrees:
    """All trees as flat node arrays (roots at ``roots``), the baseline, the calibration."""

    feature: np.ndarray  # int64 per node
    threshold: np.ndarray  # float64: go left when x <= threshold
    missing_left: np.ndarray  # bool: where a NaN goes
    left: np.ndarray  # int64, absolute node index
    right: np.ndarray
    leaf: np.ndarray  # bool
    value: np.ndarray  # float64, a leaf's contribution to the raw score
    roots: np.ndarray  # int64, one per tree
    depth: int  # longest root-to-leaf path (iterations of the walk)
    baseline: float
    iso_x: np.ndarray  # isotonic thresholds: raw score -> probability (np.interp)
    iso_y: np.ndarray
    iso_min: float
    iso_max: float
    n_features: int
    # where a walk may stop (``settle``, filled from the fields above)
    settle_low: float = field(init=False, repr=False, compare=False)
    settle_high: float = field(init=False, repr=False, compare=False)
    rest_max: np.ndarray = field(init=False, repr=False, compare=False)
    rest_min: np.ndarray = field(init=False, repr=False, compare=False)
    # the feature count the node layout was checked against (``checked_width``), -1: not
    # sound, the compiled walk checks every step
    walk_width: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._settling()
        set_ = object.__setattr__
        for name in (*_NODE_ARRAYS, "roots"):  # what the walk trusts stays as checked
            set_(self, name, _frozen(getattr(self, name)))
        set_(self, "walk_width", checked_width(self))

    def _settling(self) -> None:
        """The bounds that let the compiled walk stop a row early (``trees_raw``'s
        settling). The calibration is flat at both ends - the shipped model's isotonic
        step gives exactly 0 below a raw score of -0.19 and exactly 1 above 1.26, where
        98 % of a scan's rows end - so once a row's sum so far plus the most (least) the
        trees still to come could add is below (above) the flat end, its probability is
        known. ``rest_max[t]``: the sum of the largest leaf of each tree from t on."""
        y = self.iso_y
        low_end = int(np.flatnonzero(y != y[0])[0]) - 1 if (y != y[0]).any() else len(y) - 1
        high_end = int(np.flatnonzero(y != y[-1])[-1]) + 1 if (y != y[-1]).any() else 0
        margin = 1e-6  # far above the rounding of ~300 additions of numbers below ~20
        set_ = object.__setattr__
        set_(self, "settle_low", float(self.iso_x[max(low_end, 0)]) - margin)
        set_(self, "settle_high", float(self.iso_x[min(high_end, len(y) - 1)]) + margin)
        leaves = np.where(self.leaf, self.value, np.nan)
        n = self.roots.shape[0]
        most, least = np.zeros(n + 1), np.zeros(n + 1)
        if n:
            starts = np.asarray(self.roots, dtype=np.int64)
            with np.errstate(invalid="ignore"):
                most[:n] = np.fmax.reduceat(leaves, starts) if leaves.shape[0] else 0.0
                least[:n] = np.fmin.reduceat(leaves, starts) if leaves.shape[0] else 0.0
        rest_max = np.cumsum(np.nan_to_num(most, nan=np.inf)[::-1])[::-1].copy()
        rest_min = np.cumsum(np.nan_to_num(least, nan=-np.inf)[::-1])[::-1].copy()
        set_(self, "rest_max", np.ascontiguousarray(rest_max, dtype=np.float64))
        set_(self, "rest_min", np.ascontiguousarray(rest_min, dtype=np.float64))

    def split_counts(self, n_features: int) -> np.ndarray:
        """How many splits of all trees test each feature (the model's own columns)."""
        return np.bincount(self.feature[~self.leaf], minlength=n_features)

    def raw(self, x: np.ndarray, settle: bool = False) -> np.ndarray:
        """The boosted trees' raw score (log-odds) of each row: compiled (``trees_raw``,
        row by row, ~30x the numpy walk's speed) or the numpy walk, its twin, RAW_ROWS
        rows at a time: the walk keeps a few (rows x trees) arrays per step, and for
        thousands of rows (eval scores every open flow at each checkpoint) they were tens
        of MB each, mapped fresh and faulted in page by page - 17.7 M page faults, 51 s of
        system time in one `make eval`. In steps, they stay small and reuse the memory.
        ``settle`` (compiled walk only): a row whose probability the rest of the trees can
        no longer change gets -inf or +inf instead of its sum (see __post_init__), which
        ``probabilities`` clips to the same answer; the numpy twin always sums."""
        x = np.ascontiguousarray(x, dtype=np.float64)
        n = x.shape[0]
        if fast is not None:
            out = np.empty(n)
            if n:
                if x.shape[1] != self.n_features:
                    raise ValueError("rows do not have the model's feature count")
                arrays = (self.feature, self.threshold, self.missing_left, self.left,
                          self.right, self.leaf, self.value, self.roots, x, out)  # fmt: skip
                if settle:
                    fast.trees_raw(*arrays, self.baseline, self.walk_width, self.settle_low,
                                   self.settle_high, self.rest_max, self.rest_min)  # fmt: skip
                else:
                    fast.trees_raw(*arrays, self.baseline, self.walk_width)
            return out
        if n <= RAW_ROWS:
            return self._raw(x)
        out = np.empty(n)
        for lo in range(0, n, RAW_ROWS):
            out[lo : lo + RAW_ROWS] = self._raw(x[lo : lo + RAW_ROWS])
        return out

    def _raw(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        if n == 0:
            return np.empty(0)
        node = np.broadcast_to(self.roots, (n, self.roots.shape[0])).copy()
        rows = np.arange(n)[:, None]
        for _ in range(self.depth + 1):
            leaf = self.leaf[node]
            if leaf.all():
                break
            values = x[rows, self.feature[node]]
            go_left = np.where(np.isnan(values), self.missing_left[node],
                               values <= self.threshold[node])  # fmt: skip
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        # tree by tree from the baseline, as scikit-learn's predictor and the C walk add
        values = self.value[node]
        acc = np.full(n, self.baseline)
        for k in range(values.shape[1]):
            acc += values[:, k]
        return acc

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Calibrated P(mining) per row: isotonic regression of the raw score, clipped to
        its fitted range (scikit-learn's ``out_of_bounds="clip"``)."""
        raw = np.clip(self.raw(x, settle=True), self.iso_min, self.iso_max)
        return np.interp(raw, self.iso_x, self.iso_y)


def compile_skops(blob: bytes, where: str) -> CompiledTrees:
    """Read and check a skops archive written by ``minewatch train``; InputError if it is
    not one, names a type outside ALLOWED, or has another shape."""
    named: set[str] = set()

    def note_type(item: dict[str, Any]) -> dict[str, Any]:
        if "__class__" in item:
            named.add(f"{item.get('__module__')}.{item['__class__']}")
        return item

    try:
        members = StoredMembers(blob)
        # every object's type noted as the JSON is parsed: walking the parsed tree again
        # cost ~20 ms of each start-up
        schema = json.loads(members.read("schema.json"), object_hook=note_type)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise InputError(f"{where}: not a skops model file") from None
    named -= ALLOWED
    if named:
        raise untrusted_types(where, named)
    try:
        return _compile(members, schema)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError,
            zipfile.BadZipFile) as exc:  # fmt: skip
        raise InputError(
            f"{where}: not a model minewatch train writes ({type(exc).__name__})"
        ) from None


_NPY_MAGIC = b"\x93NUMPY"
_NPY_SHAPE = re.compile(r"'shape':\s*\(([0-9, ]*)\),?")
_NPY_HEADS: dict[str, tuple[np.dtype, bool]] = {}  # header without its shape -> parsed


def read_npy(blob: bytes) -> np.ndarray:
    """One ``.npy`` file (format 1.0-3.0) of plain numbers: np.load's reading without its
    cost per file. A model holds ~300 arrays whose headers differ only in their shape,
    and np.load parsed each whole header with ast.literal_eval: ~0.1 s of every start-up
    with a model. Here a header's rest is parsed once (literal_eval: literals only) and
    its shape by a pattern. Object arrays are refused, as np.load without pickle does.
    (Read-only arrays on the file's bytes: nothing writes to a model's arrays.)"""
    if blob[:6] != _NPY_MAGIC:
        raise ValueError("not an .npy file")
    major = blob[6]
    if major == 1:
        size, start = int.from_bytes(blob[8:10], "little"), 10
    elif major in (2, 3):
        size, start = int.from_bytes(blob[8:12], "little"), 12
    else:
        raise ValueError("unknown .npy version")
    header = blob[start : start + size].decode("latin1" if major < 3 else "utf-8")
    found = _NPY_SHAPE.search(header)
    if found is None:
        raise ValueError("no shape in the .npy header")
    shape = tuple(int(n) for n in found.group(1).replace(" ", "").split(",") if n)
    rest = header[: found.start()] + header[found.end() :]
    parsed = _NPY_HEADS.get(rest)
    if parsed is None:
        fields = ast.literal_eval(rest)
        dtype = np.lib.format.descr_to_dtype(fields["descr"])
        if dtype.hasobject:
            raise ValueError("object arrays need pickle")
        parsed = _NPY_HEADS[rest] = (dtype, bool(fields["fortran_order"]))
    dtype, fortran = parsed
    count = int(np.prod(shape, dtype=np.int64))
    array = np.frombuffer(blob, dtype=dtype, count=count, offset=start + size)
    return array.reshape(shape, order="F" if fortran else "C")


#: The compiled trees file (``<stem>.trees.npz``, written beside the skops archive by
#: ``minewatch train``): CompiledTrees' arrays and numbers as an uncompressed .npz, so
#: ``numpy.load(path)`` reads it too. Why a second file: reading the trees out of the skops
#: archive means parsing its 2.6 MB schema and ~300 arrays, ~35 ms of every start-up with a
#: model; this file is 15 arrays, read in ~2 ms. Both are checked against the sha256s the
#: metadata and card record (model.load_model), and load_model(build=True) compares them.
COMPILED_ARRAYS: dict[str, np.dtype] = {
    "feature": np.dtype("<i8"),
    "threshold": np.dtype("<f8"),
    "missing_left": np.dtype("|b1"),
    "left": np.dtype("<i8"),
    "right": np.dtype("<i8"),
    "leaf": np.dtype("|b1"),
    "value": np.dtype("<f8"),
    "roots": np.dtype("<i8"),
    "iso_x": np.dtype("<f8"),
    "iso_y": np.dtype("<f8"),
}
COMPILED_NUMBERS: dict[str, np.dtype] = {
    "depth": np.dtype("<i8"),
    "baseline": np.dtype("<f8"),
    "iso_min": np.dtype("<f8"),
    "iso_max": np.dtype("<f8"),
    "n_features": np.dtype("<i8"),
}
_COMPILED = {**COMPILED_ARRAYS, **COMPILED_NUMBERS}  # every member, in the file's order
_NODE_ARRAYS = ("feature", "threshold", "missing_left", "left", "right", "leaf", "value")


def checked_width(trees: CompiledTrees) -> int:
    """``trees.n_features`` if the compiled walk may walk these trees without checking each
    step, else -1: every array of the dtype trees_raw reads it as, C-ordered, the node
    arrays as long as each other, every root a node, and every split naming a feature
    below ``n_features`` with both children after it and inside the arrays (a walk then
    ends at a leaf in fewer steps than there are nodes). Checked once here, when the trees
    are made - from a model file that passed its hash check and validation - instead of
    in every trees_raw call (~14 M instructions a real-traffic scan, callgrind: each call
    walked all ~18,300 nodes); CompiledTrees keeps the arrays read-only after it, and
    trees_raw still checks the buffers' lengths and that the rows are that wide."""
    nodes = trees.feature.shape[0]
    for name in (*_NODE_ARRAYS, "roots"):
        array = getattr(trees, name)
        if (
            not isinstance(array, np.ndarray)
            or array.dtype != COMPILED_ARRAYS[name]
            or array.ndim != 1
            or not array.flags.c_contiguous
            or (name != "roots" and array.shape[0] != nodes)
        ):
            return -1
    roots, width = trees.roots, trees.n_features
    if not ((roots >= 0) & (roots < nodes)).all():
        return -1
    at = np.arange(nodes)
    left, right, feature = trees.left, trees.right, trees.feature
    split_ok = ((feature >= 0) & (feature < width) & (left > at) & (left < nodes)
                & (right > at) & (right < nodes))  # fmt: skip
    return int(width) if bool((trees.leaf | split_ok).all()) else -1


def _frozen(array: np.ndarray) -> np.ndarray:
    """``array`` as it cannot change: itself if it is a read-only view of immutable bytes
    (the model file's, as read_npy makes them), else a read-only copy (the caller's own
    array stays as it was)."""
    if not isinstance(array, np.ndarray):
        return array
    base: object = array
    while isinstance(base, np.ndarray) and not base.flags.writeable:
        base = base.base
    if isinstance(base, bytes):
        return array
    copy = array.copy()
    copy.flags.writeable = False
    return copy


def compiled_bytes(trees: CompiledTrees) -> bytes:
    """The compiled trees file's bytes: the same trees always give the same bytes (members
    in a fixed order, a fixed date), so a retrained model's files differ only where its
    trees do."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, dtype in _COMPILED.items():
            value = np.asarray(getattr(trees, name), dtype=dtype, order="C")  # 0-d stays 0-d
            member = io.BytesIO()
            np.lib.format.write_array(member, value, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, member.getvalue())
    return out.getvalue()


def read_compiled(blob: bytes, where: str) -> CompiledTrees:
    """CompiledTrees from a compiled trees file (compiled_bytes); InputError unless every
    array and number is there with its exact type and shape and the node arrays agree in
    length (the compiled walk checks every child and feature index itself)."""
    try:
        members = StoredMembers(blob)
        read = {name: read_npy(members.read(f"{name}.npy")) for name in _COMPILED}
        for name, dtype in COMPILED_ARRAYS.items():
            if read[name].dtype != dtype or read[name].ndim != 1:
                raise ValueError(f"{name} is not a {dtype} vector")
        for name, dtype in COMPILED_NUMBERS.items():
            if read[name].dtype != dtype or read[name].ndim != 0:
                raise ValueError(f"{name} is not a {dtype} number")
        nodes = read["feature"].shape[0]
        if any(read[name].shape[0] != nodes for name in _NODE_ARRAYS):
            raise ValueError("node arrays differ in length")
        if read["iso_x"].shape != read["iso_y"].shape or not read["iso_x"].shape[0]:
            raise ValueError("no calibration")
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{where}: not a compiled trees file minewatch train writes "
                         f"({type(exc).__name__})") from None  # fmt: skip
    return CompiledTrees(
        **{name: read[name] for name in COMPILED_ARRAYS},
        depth=int(read["depth"]),
        baseline=float(read["baseline"]),
        iso_min=float(read["iso_min"]),
        iso_max=float(read["iso_max"]),
        n_features=int(read["n_features"]),
    )


def same_trees(a: CompiledTrees, b: CompiledTrees) -> bool:
    """Whether two CompiledTrees hold the same trees and calibration, bit for bit."""
    pairs = [(np.asarray(getattr(a, name), dtype=dtype), np.asarray(getattr(b, name), dtype=dtype))
             for name, dtype in _COMPILED.items()]  # fmt: skip
    return all(x.shape == y.shape and x.tobytes() == y.tobytes() for x, y in pairs)


def untrusted_types(where: str, named: set[str]) -> InputError:
    """The one-line refusal of a model file that names types minewatch does not trust
    (here, and where the estimator is built through skops: model._build)."""
    shown = sorted(named)
    listed = ", ".join(shown[:3]) + (", ..." if len(shown) > 3 else "")
    return InputError(
        f"{where}: refused: the file asks for types minewatch does not trust: {listed}"
    )


class StoredMembers:
    """A zip archive's members, read as slices of its bytes where they are stored
    uncompressed (skops writes them so): zipfile.ZipFile.read opens a file object, reads
    the local header and checks a CRC for each of a model's ~300 arrays, ~25 ms of every
    start-up. The archive's bytes were checked whole against the card's sha256 before this
    reads them, so a CRC adds nothing; a compressed member is read by zipfile as before."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self.archive = zipfile.ZipFile(io.BytesIO(blob))
        self.info = {info.filename: info for info in self.archive.infolist()}

    def read(self, name: str) -> bytes:
        info = self.info[name]  # KeyError: no such member
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return self.archive.read(name)
        head = info.header_offset
        if self.blob[head : head + 4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"no local header for {name}")
        name_len = int.from_bytes(self.blob[head + 26 : head + 28], "little")
        extra_len = int.from_bytes(self.blob[head + 28 : head + 30], "little")
        start = head + 30 + name_len + extra_len
        data = self.blob[start : start + info.file_size]
        if len(data) != info.file_size:
            raise zipfile.BadZipFile(f"{name} runs past the end of the archive")
        return data


def _compile(archive: StoredMembers, schema: dict[str, Any]) -> CompiledTrees:
    def attrs(node: dict[str, Any], cls: str) -> dict[str, Any]:
        if node.get("__class__") != cls or node.get("__loader__") != "ObjectNode":
            raise ValueError(f"expected {cls}")
        return node["content"]["content"]

    def items(node: dict[str, Any]) -> list[Any]:
        if node.get("__loader__") not in ("ListNode", "TupleNode"):
            raise ValueError("expected a list")
        return node["content"]

    def plain(node: dict[str, Any]) -> Any:
        if node.get("__loader__") != "JsonNode":
            raise ValueError("expected a plain value")
        return json.loads(node["content"])

    def array(node: dict[str, Any]) -> np.ndarray:
        if node.get("__loader__") != "NdArrayNode" or node.get("type") != "numpy":
            raise ValueError("expected an array")
        return read_npy(archive.read(node["file"]))

    top = attrs(schema, "CalibratedClassifierCV")
    (calibrated,) = items(top["calibrated_classifiers_"])
    cal = attrs(calibrated, "_CalibratedClassifier")
    if plain(cal["method"]) != "isotonic":
        raise ValueError("calibration is not isotonic")
    if [bool(c) for c in array(cal["classes"]).tolist()] != [False, True]:
        raise ValueError("not a binary miner/benign model")
    hgb = attrs(attrs(cal["estimator"], "FrozenEstimator")["estimator"],
                "HistGradientBoostingClassifier")  # fmt: skip
    if plain(hgb["n_trees_per_iteration_"]) != 1 or plain(hgb["is_categorical_"]) is not None:
        raise ValueError("not a binary model on numeric features")
    (isotonic,) = items(cal["calibrators"])
    iso = attrs(isotonic, "IsotonicRegression")
    if plain(iso["out_of_bounds"]) != "clip" or plain(iso["increasing_"]) is not True:
        raise ValueError("unexpected isotonic settings")
    columns: dict[str, list[np.ndarray]] = {name: [] for name in _NODE_FIELDS}
    roots, offset, depth = [], 0, 0
    for iteration in items(hgb["_predictors"]):
        (tree,) = items(iteration)
        nodes = array(attrs(tree, "TreePredictor")["nodes"])
        if nodes.dtype.names is None or (
            "is_categorical" in nodes.dtype.names and nodes["is_categorical"].any()
        ):
            raise ValueError("categorical splits")
        for name in _NODE_FIELDS:
            column = nodes[name]
            columns[name].append(column + offset if name in ("left", "right") else column)
        roots.append(offset)
        depth = max(depth, int(nodes["depth"].max()))
        offset += nodes.shape[0]
    joined = {name: np.concatenate(parts) for name, parts in columns.items()}
    return CompiledTrees(
        feature=joined["feature_idx"].astype(np.int64),
        threshold=joined["num_threshold"].astype(np.float64),
        missing_left=joined["missing_go_to_left"].astype(bool),
        left=joined["left"].astype(np.int64),
        right=joined["right"].astype(np.int64),
        leaf=joined["is_leaf"].astype(bool),
        value=joined["value"].astype(np.float64),
        roots=np.asarray(roots, dtype=np.int64),
        depth=depth,
        baseline=float(array(hgb["_baseline_prediction"]).ravel()[0]),
        iso_x=array(iso["X_thresholds_"]).astype(np.float64),
        iso_y=array(iso["y_thresholds_"]).astype(np.float64),
        iso_min=float(array(iso["X_min_"])),
        iso_max=float(array(iso["X_max_"])),
        n_features=int(plain(hgb["n_features_in_"])),
    )
