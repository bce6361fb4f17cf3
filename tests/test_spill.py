"""The spill file (detector/spill.py): packed results read back exactly, across processes
as their bytes, and the file given back once nothing in it is kept."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest

from detector import plain, spill
from detector.suspects import Packed


def test_blobs_come_back_exactly_and_in_any_order() -> None:
    blobs = [bytes([i % 251]) * (i * 37 % 5000) for i in range(200)]
    handles = [spill.spill(blob) for blob in blobs]
    for handle, blob in reversed(list(zip(handles, blobs, strict=True))):
        assert handle.read() == blob
    for handle in handles:
        handle.free()


def test_the_file_is_truncated_when_every_blob_is_freed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spill, "_FILE", spill._File())  # blobs other tests kept: not ours
    first, second = spill.spill(b"a" * 1000), spill.spill(b"b" * 3000)
    size = os.fstat(spill._FILE.fd).st_size
    assert size >= 4000
    first.free()
    assert os.fstat(spill._FILE.fd).st_size == size  # one still kept: nothing moves
    assert second.read() == b"b" * 3000
    second.free()
    assert spill._FILE.live == 0 and os.fstat(spill._FILE.fd).st_size == 0
    again = spill.spill(b"c" * 10)
    assert again.offset == 0 and again.read() == b"c" * 10
    again.free()


def test_a_packed_suspect_crosses_the_plain_codec_and_pickle_as_its_bytes() -> None:
    blob = bytes(range(256)) * 3
    packed = Packed(12.5, spill.spill(blob))
    text = plain.dumps(packed)
    assert text == plain.dumps({"first_seen": 12.5, "blob": blob})  # the same as bytes
    back = plain.loads(Packed, text)
    assert isinstance(back.blob, spill.Spilled) and back.blob.read() == blob
    copied = pickle.loads(pickle.dumps(packed))  # noqa: S301 - our own bytes
    assert copied.blob.read() == blob and copied.blob.offset != packed.blob.offset
    for handle in (packed.blob, back.blob, copied.blob):
        handle.free()


def _child_spills(blob: bytes) -> tuple[int, spill.Spilled]:
    """In a forked worker: spill a blob; its offset, and the handle, which the pool hands
    back as its bytes (written again into the parent's file)."""
    handle = spill.spill(blob)
    return handle.offset, handle


def test_a_forked_worker_has_a_file_of_its_own() -> None:
    """A file shared with the parent would take two writers at the same offsets."""
    kept = spill.spill(b"parent" * 100)
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        offset, back = pool.apply(_child_spills, (b"child" * 50,))
    assert offset == 0  # its own file, from its start
    assert back.read() == b"child" * 50 and back.offset == kept.offset + kept.length
    assert kept.read() == b"parent" * 100  # the parent's blob untouched
    back.free()
    kept.free()


def _spill_many(seed: int) -> list[tuple[spill.Spilled, bytes]]:
    blobs = [bytes([seed]) * (1 + (seed * 131 + i * 17) % 3000) for i in range(300)]
    return [(spill.spill(blob), blob) for blob in blobs]


def test_threads_spilling_at_once_each_get_their_own_place() -> None:
    """A cluster worker may scan captures in threads of one process (cluster.py)."""
    with ThreadPoolExecutor(4) as pool:
        written = [item for part in pool.map(_spill_many, range(8)) for item in part]
    places = sorted((handle.offset, handle.offset + handle.length) for handle, _ in written)
    assert all(end <= start for (_, end), (start, _) in zip(places, places[1:], strict=False))
    for handle, blob in written:
        assert handle.read() == blob
        handle.free()
