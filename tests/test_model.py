"""The flow model as data: a model file is verified before it is used, through the CLI.

Why: a model file is something a user is handed (a retrained model, a download). Loading
it must never run code (skops with an explicit list of trusted types, never pickle), and a
file changed after training must be refused - one line on stderr, exit 2, no traceback.
The shipped model itself is checked by tests/test_model_shipped.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from detector.errors import InputError
from detector.features import FEATURE_NAMES
from detector.model import (
    ModelMeta,
    card_path,
    load_model,
    meta_path,
    model_files,
    save_model,
    trees_path,
)
from detector.trees import read_npy
from tests.conftest import PCAPS, run_cli

# A TLS miner of the real-program set: its session shows the pushes that make the
# model score it (so a scan must build the model).
TLS_MINER = PCAPS / "realset" / "xmrig-rx0-tls-14433.pcap"


def _write(path: Path, estimator: object, names: tuple[str, ...] = FEATURE_NAMES,
           threshold: float = 0.9) -> ModelMeta:  # fmt: skip
    meta = save_model(estimator, path, ModelMeta("0" * 64, names, threshold, 3, {}))
    card_path(path).write_text(
        f"# test model\n\n- sha256: `{meta.sha256}`\n- compiled trees sha256: `{meta.trees_sha256}`\n",
        encoding="utf-8",
    )
    return meta


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (if meaningless) model made as ``minewatch train`` makes one: boosted trees,
    frozen, calibrated (isotonic) on other rows."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.frozen import FrozenEstimator

    x = _rows(800, len(FEATURE_NAMES))
    y = np.nan_to_num(x[:, 0] + x[:, 3]) > np.nanmedian(x[:, 0] + x[:, 3])
    trees = HistGradientBoostingClassifier(max_iter=20).fit(x[:500], y[:500])
    model = CalibratedClassifierCV(FrozenEstimator(trees), method="isotonic")
    model.fit(x[500:], y[500:])
    path = tmp_path_factory.mktemp("model") / "minewatch.skops"
    _write(path, model)
    return path


def _copy(model: Path, into: Path) -> Path:
    for src in model_files(model):
        shutil.copy(src, into / src.name)
    return into / model.name


def _refused(result, *words: str) -> None:
    assert result.rc == 2, (result.rc, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    for word in words:
        assert word in lines[0], lines[0]


def _rows(n: int, width: int) -> np.ndarray:
    """Feature rows over many scales, with missing values (NaN) as flows have them."""
    rng = np.random.default_rng(7)
    scale = rng.choice([1.0, 10.0, 1e3, 1e5], size=(n, width))
    rows = (rng.random((n, width)) * scale).astype(np.float32)
    rows[rng.random(rows.shape) < 0.15] = np.nan
    return rows


@pytest.mark.parametrize("walk", ["compiled", "numpy"])
@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_our_trees_give_scikit_learns_probabilities(
    tiny: Path, which: str, walk: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scans score with the trees read from the file (trees.py: the C walk, or its numpy
    twin); scikit-learn, building the same file through skops, must agree on every row,
    and the two walks bit for bit (both add the trees in order from the baseline)."""
    from detector import trees
    from detector.model import DEFAULT_MODEL

    path = tiny if which == "tiny" else DEFAULT_MODEL
    if not path.exists():
        pytest.skip("no shipped model")
    if walk == "compiled" and trees.fast is None:
        pytest.skip("the compiled helpers are not built")
    model = load_model(path, build=True)
    rows = _rows(4000, len(FEATURE_NAMES))
    compiled = model.probabilities(rows)
    monkeypatch.setattr(trees, "fast", None if walk == "numpy" else trees.fast)
    ours = model.probabilities(rows)
    if walk == "numpy":
        assert np.array_equal(ours, compiled)  # the twins (compiled when built)
    picked = rows[:, model.columns] if model.columns is not None else rows
    theirs = model.estimator.predict_proba(picked)[:, 1]
    assert ours.shape == (4000,) and np.abs(ours - theirs).max() < 1e-9
    assert 0 < (ours >= 0.5).sum() < 4000  # both answers occur


def test_the_compiled_walk_stops_rows_whose_probability_is_settled() -> None:
    """CompiledTrees.probabilities lets the C walk stop a row once the trees still to come
    cannot carry it out of a flat end of the calibration; the probabilities stay the
    same bits as the full walk's (and the numpy twin's), and rows do stop."""
    from detector import trees
    from detector.model import DEFAULT_MODEL

    if trees.fast is None or not DEFAULT_MODEL.exists():
        pytest.skip("needs the compiled helpers and the shipped model")
    compiled = load_model(DEFAULT_MODEL).trees
    rows = _rows(4000, compiled.n_features).astype(np.float64)
    full, settled = compiled.raw(rows), compiled.raw(rows, settle=True)
    low, high = np.isneginf(settled), np.isposinf(settled)
    assert low.sum() > 100 and high.sum() > 10  # both ends settle on these rows
    assert np.array_equal(settled[~low & ~high], full[~low & ~high])
    assert (full[low] < compiled.settle_low).all() and (full[high] > compiled.settle_high).all()
    walked = np.interp(np.clip(full, compiled.iso_min, compiled.iso_max), compiled.iso_x,
                       compiled.iso_y)  # fmt: skip
    assert np.array_equal(compiled.probabilities(rows), walked)


def test_the_compiled_walk_refuses_nodes_out_of_range(tiny: Path) -> None:
    """A node array pointing outside itself (a malformed model) raises, never reads past."""
    import dataclasses

    from detector import trees

    if trees.fast is None:
        pytest.skip("the compiled helpers are not built")
    compiled = load_model(tiny).trees
    broken = dataclasses.replace(compiled, left=np.full_like(compiled.left, 10**9))
    with pytest.raises(ValueError, match="out of range"):
        broken.raw(_rows(3, compiled.n_features).astype(np.float64))


def test_the_compiled_walk_gives_the_same_sums_with_or_without_its_checks() -> None:
    """trees_raw walks a model whose children come after their parents without per-step
    checks; the same trees with their nodes numbered backwards (children before parents)
    take the checked walk, and every sum is the same bits. A node that loops back on
    itself raises."""
    import dataclasses

    from detector import trees
    from detector.model import DEFAULT_MODEL

    if trees.fast is None or not DEFAULT_MODEL.exists():
        pytest.skip("needs the compiled helpers and the shipped model")
    compiled = load_model(DEFAULT_MODEL).trees
    n = compiled.feature.shape[0]
    new = np.arange(n - 1, -1, -1)  # old index -> new index
    inner = ~compiled.leaf

    def moved(values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[new] = values
        return out

    backwards = dataclasses.replace(
        compiled,
        feature=moved(compiled.feature),
        threshold=moved(compiled.threshold),
        missing_left=moved(compiled.missing_left),
        left=moved(np.where(inner, new[compiled.left * inner], compiled.left)),
        right=moved(np.where(inner, new[compiled.right * inner], compiled.right)),
        leaf=moved(compiled.leaf),
        value=moved(compiled.value),
        roots=new[compiled.roots],
    )
    for name in ("settle_low", "settle_high", "rest_max", "rest_min"):  # tree order kept
        object.__setattr__(backwards, name, getattr(compiled, name))
    rows = _rows(600, compiled.n_features).astype(np.float64)
    assert np.array_equal(compiled.raw(rows), backwards.raw(rows))
    assert np.array_equal(compiled.raw(rows, settle=True), backwards.raw(rows, settle=True))
    root = int(compiled.roots[0])
    left, right = compiled.left.copy(), compiled.right.copy()
    left[root] = right[root] = root
    with pytest.raises(ValueError, match="out of range"):
        dataclasses.replace(compiled, left=left, right=right).raw(rows[:3])


def test_the_tree_layout_is_checked_once_when_the_trees_are_made(tiny: Path) -> None:
    """CompiledTrees checks its node layout when it is made (walk_width: the feature count,
    or -1) and keeps its node arrays read-only, so that trees_raw need not check it on
    every call; told the layout is sound, the compiled walk gives the same bits as when it
    checks it itself; a layout that is not sound gets -1, and a caller's writable array
    is copied, not frozen."""
    import dataclasses

    from detector import trees

    compiled = load_model(tiny).trees
    assert compiled.walk_width == compiled.n_features
    assert not compiled.left.flags.writeable and not compiled.roots.flags.writeable
    with pytest.raises(ValueError):
        compiled.left[0] = 10**9
    mine = compiled.left.copy()
    copied = dataclasses.replace(compiled, left=mine)
    assert mine.flags.writeable and not copied.left.flags.writeable
    assert copied.walk_width == compiled.n_features
    inner = int(np.flatnonzero(~compiled.leaf)[0])
    for name, bad in (("left", inner), ("right", -1), ("feature", compiled.n_features)):
        values = getattr(compiled, name).copy()
        values[inner] = bad
        assert trees.checked_width(dataclasses.replace(compiled, **{name: values})) == -1
    wrong_type = dataclasses.replace(compiled, feature=compiled.feature.astype(np.int32))
    assert wrong_type.walk_width == -1
    if trees.fast is None:
        return
    rows = _rows(300, compiled.n_features).astype(np.float64)
    unchecked = dataclasses.replace(compiled)
    object.__setattr__(unchecked, "walk_width", -1)
    assert np.array_equal(compiled.raw(rows), unchecked.raw(rows))
    assert np.array_equal(compiled.raw(rows, settle=True), unchecked.raw(rows, settle=True))
    # rows narrower than the layout was said to be checked for take the checked walk: a
    # split (the first tree's root) on a feature past the rows is refused, not read
    feature = compiled.feature.copy()
    feature[inner] = compiled.n_features
    beyond = dataclasses.replace(compiled, feature=feature)
    object.__setattr__(beyond, "walk_width", compiled.n_features + 1)
    assert int(compiled.roots[0]) == inner
    with pytest.raises(ValueError, match="out of range"):
        beyond.raw(rows)


def _rezipped(blob: bytes, compression: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as src, zipfile.ZipFile(out, "w", compression) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    return out.getvalue()


def test_the_archive_reader_takes_compressed_members_and_refuses_a_broken_one(
    tiny: Path,
) -> None:
    """trees.StoredMembers slices stored members out of the (hash-checked) bytes; a
    deflated archive is read through zipfile, to the same trees; arrays whose local
    headers are not where the directory says are refused as not a model."""
    from detector.trees import compile_skops

    blob = tiny.read_bytes()
    rows = _rows(50, len(FEATURE_NAMES)).astype(np.float64)
    stored = compile_skops(blob, "stored")
    deflated = compile_skops(_rezipped(blob, zipfile.ZIP_DEFLATED), "deflated")
    assert np.array_equal(stored.probabilities(rows), deflated.probabilities(rows))
    broken = bytearray(blob)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".npy"):
                broken[info.header_offset : info.header_offset + 4] = b"XXXX"
    with pytest.raises(InputError, match="not a model minewatch train writes"):
        compile_skops(bytes(broken), "broken")


def test_a_tampered_model_is_refused(tiny: Path, tmp_path: Path) -> None:
    path = _copy(tiny, tmp_path)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one bit, inside the archive
    path.write_bytes(bytes(blob))
    _refused(run_cli("scan", "--model", str(path), str(TLS_MINER)), "sha256", "refused")


def test_a_tampered_compiled_trees_file_is_refused(tiny: Path, tmp_path: Path) -> None:
    """The scan reads its trees from the compiled file (trees.compiled_bytes): one bit
    changed there is refused as the archive's would be."""
    path = _copy(tiny, tmp_path)
    blob = bytearray(trees_path(path).read_bytes())
    blob[len(blob) // 2] ^= 0x01
    trees_path(path).write_bytes(bytes(blob))
    _refused(run_cli("scan", "--model", str(path), str(TLS_MINER)), "trees.npz", "sha256",
             "refused")  # fmt: skip


def test_compiled_trees_hold_the_archives_trees_and_others_are_refused(
    tiny: Path, tmp_path: Path
) -> None:
    """The compiled trees file is the archive's trees bit for bit (and the same bytes each
    time they are written); a file holding other trees, even with its hash recorded
    everywhere, is refused by the check that building the estimator makes; one that
    lacks an array is not a compiled trees file."""
    from detector.trees import compile_skops, compiled_bytes, read_compiled, same_trees

    path = _copy(tiny, tmp_path)
    from_archive = compile_skops(path.read_bytes(), "archive")
    compiled = trees_path(path).read_bytes()
    assert compiled == compiled_bytes(from_archive)
    assert same_trees(read_compiled(compiled, "compiled"), from_archive)
    assert load_model(path, build=True).trees.n_features == from_archive.n_features
    other = replace(from_archive, value=from_archive.value + 1.0)
    assert not same_trees(other, from_archive)
    forged = compiled_bytes(other)
    data = json.loads(meta_path(path).read_text(encoding="utf-8"))
    old_digest, data["trees_sha256"] = data["trees_sha256"], hashlib.sha256(forged).hexdigest()
    trees_path(path).write_bytes(forged)
    meta_path(path).write_text(json.dumps(data), encoding="utf-8")
    card = card_path(path).read_text(encoding="utf-8")
    card_path(path).write_text(card.replace(old_digest, data["trees_sha256"]), encoding="utf-8")
    load_model(path)  # a scan takes it as recorded (its hash is everywhere)...
    with pytest.raises(InputError, match="does not hold the trees"):
        load_model(path, build=True)  # ...the check against the archive does not
    with zipfile.ZipFile(io.BytesIO(forged)) as archive:
        kept = {n: archive.read(n) for n in archive.namelist() if n != "leaf.npy"}
    short = io.BytesIO()
    with zipfile.ZipFile(short, "w") as archive:
        for name, member in kept.items():
            archive.writestr(name, member)
    with pytest.raises(InputError, match="not a compiled trees file"):
        read_compiled(short.getvalue(), "short")


def test_a_card_that_does_not_record_the_model_is_refused(tiny: Path, tmp_path: Path) -> None:
    path = _copy(tiny, tmp_path)
    card_path(path).write_text("# a card\n\n- sha256: `" + "0" * 64 + "`\n", encoding="utf-8")
    _refused(run_cli("scan", "--model", str(path), str(TLS_MINER)), "CARD.md", "refused")


def test_a_model_asking_for_untrusted_types_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    """A pipeline whose step would call os.system: its hash is recorded (the attacker
    wrote the metadata too), so only the type check stands between it and a shell."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    evil = Pipeline([("run", FunctionTransformer(func=os.system))])
    path = tmp_path / "evil.skops"
    import skops.io

    blob = skops.io.dumps(evil)
    path.write_bytes(blob)
    import hashlib

    digest = hashlib.sha256(blob).hexdigest()
    meta = ModelMeta(digest, FEATURE_NAMES, 0.9, 3, {})
    meta_path(path).write_text(json.dumps(meta.to_json()), encoding="utf-8")
    card_path(path).write_text(f"- sha256: `{digest}`\n", encoding="utf-8")
    with pytest.raises(InputError, match="does not trust: posix.system"):
        load_model(path, build=True)
    _refused(run_cli("scan", "--model", str(path), str(TLS_MINER)), "refused", "posix.system")


def test_a_model_needing_features_the_engine_lacks_is_refused(tiny: Path, tmp_path: Path) -> None:
    path = _copy(tiny, tmp_path)
    data = json.loads(meta_path(path).read_text(encoding="utf-8"))
    data["feature_names"][0] = "hashes_per_second"
    meta_path(path).write_text(json.dumps(data), encoding="utf-8")
    _refused(run_cli("scan", "--model", str(path), str(TLS_MINER)), "hashes_per_second")


@pytest.mark.parametrize(
    "change",
    [
        {"format": 99},
        {"threshold": 1.5},
        {"min_pushes": -1},
        {"min_answers": -1},
        {"min_answers": "3"},
        {"feature_names": []},
        {"sha256": "not hex"},
    ],
)
def test_bad_metadata_is_refused(tiny: Path, tmp_path: Path, change: dict) -> None:
    path = _copy(tiny, tmp_path)
    data = json.loads(meta_path(path).read_text(encoding="utf-8")) | change
    meta_path(path).write_text(json.dumps(data), encoding="utf-8")
    _refused(run_cli("scan", "--model", str(path), str(TLS_MINER)), "minewatch.json")


def test_missing_model_file_is_one_line(tmp_path: Path) -> None:
    _refused(run_cli("scan", "--model", str(tmp_path / "none.skops"), str(TLS_MINER)), "not found")


def test_rules_only_with_model_none() -> None:
    """``--model none``: the rules alone, which cannot see inside TLS."""
    result = run_cli("scan", "-f", "jsonl", "--model", "none", str(TLS_MINER))
    assert result.rc == 0 and result.events() == [], result.err


def test_train_through_the_cli_writes_a_model_the_scan_uses(tmp_path: Path) -> None:
    """``corpus make`` then ``train``: the model, its metadata and a card quoting its
    hash; held-out metrics printed; the model loads and a scan runs with it."""
    corpus = tmp_path / "corpus"
    made = run_cli("corpus", "make", str(corpus), "--flows", "400", "--seed", "5", "-j", "2",
                   timeout=300)  # fmt: skip
    assert made.rc == 0, made.err
    model = tmp_path / "site" / "model.skops"
    trained = run_cli("train", str(corpus), "-o", str(model), "--seed", "3", timeout=300)
    assert trained.rc == 0, trained.err
    report = json.loads(trained.out)
    meta = json.loads(meta_path(model).read_text(encoding="utf-8"))
    assert report["sha256"] == meta["sha256"] and meta["sha256"] in card_path(model).read_text()
    assert report["test"]["miner_flows"] > 0 and report["test"]["benign_flows"] > 0
    assert 0.5 <= meta["threshold"] < 1 and "pool_listed" not in meta["feature_names"]
    assert "train: 4/4 captures read" in trained.err or "captures read" in trained.err
    scanned = run_cli("scan", "-f", "jsonl", "--model", str(model), str(TLS_MINER))
    assert scanned.rc == 0, scanned.err


def test_model_arrays_read_as_numpy_writes_them_and_object_arrays_are_refused() -> None:
    """trees.read_npy (the model's ~300 arrays without np.load's cost per file) against
    np.save: plain, structured, Fortran-ordered, empty and 0-d arrays, format 1.0 and
    2.0; an object array (which only pickle can read) is refused."""
    arrays = [
        np.arange(5.0),
        np.zeros((3, 4), dtype=np.uint8),
        np.asfortranarray(np.arange(12).reshape(3, 4)),
        np.array([], dtype="<f4"),
        np.zeros(3, dtype=[("value", "<f8"), ("feature_idx", "<u4"), ("missing", "u1")]),
        np.array(3.5),
    ]
    for array in arrays:
        for version in ((1, 0), (2, 0)):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, array, version=version)
            read = read_npy(buf.getvalue())
            assert read.dtype == array.dtype and read.shape == array.shape
            assert np.array_equal(read, array)
    buf = io.BytesIO()
    np.save(buf, np.array([1, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickle"):
        read_npy(buf.getvalue())
