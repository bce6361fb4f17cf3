"""Capture windows: a memory-mapped file and the same bytes read from a pipe or gzip give
identical record batches, at any window size, with records longer than a window, and
with damage reported at the same offset."""

from __future__ import annotations

import gzip
import os
import struct
import threading

import pytest

from detector.errors import CorruptCapture
from detector.source import expand_inputs, read_capture
from detector.source.batch import PAD
from detector.source.inputs import CaptureInput
from tests.conftest import CORPUS, PCAPS


def _records(cap: CaptureInput, chunk: int) -> list[tuple]:
    out = []
    stream, batches = read_capture(cap, chunk)
    try:
        for rb in batches:
            for i in range(len(rb)):
                start = int(rb.data_off[i])
                out.append((float(rb.ts[i]), int(rb.linktype[i]), int(rb.stream_off[i]),
                            int(rb.wirelen[i]), bytes(rb.buf[start : start + int(rb.caplen[i])])))
    finally:
        stream.close()
    return out


def _via_pipe(data: bytes, chunk: int, monkeypatch) -> list[tuple]:
    """The same capture on stdin (the read path)."""
    read_fd, write_fd = os.pipe()
    writer = threading.Thread(target=lambda: (os.write(write_fd, data), os.close(write_fd)))
    writer.start()
    with os.fdopen(read_fd, "rb") as pipe:
        monkeypatch.setattr("sys.stdin", type("S", (), {"buffer": pipe})())
        fmt = "pcapng" if data[:4] == b"\x0a\x0d\x0d\x0a" else "pcap"
        records = _records(CaptureInput("-", fmt, False, 0.0), chunk)
    writer.join()
    return records


def _big_record_pcap() -> bytes:
    """Three packets, the middle one 200,000 bytes: longer than the small windows."""
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    out = [header]
    for i, size in enumerate((60, 200_000, 60)):
        frame = bytes([i]) * size
        out.append(struct.pack("<IIII", 1_700_000_000 + i, i, size, size) + frame)
    return b"".join(out)


@pytest.mark.parametrize("chunk", [4096, 65536, 16 * 1024 * 1024])
def test_mapped_file_and_pipe_read_the_same_records(tmp_path, monkeypatch, chunk) -> None:
    big = tmp_path / "big-record.pcap"
    big.write_bytes(_big_record_pcap())
    paths = [big, PCAPS / "multi-interface.pcapng", PCAPS / "cryptonote-midsession-bigendian.pcap"]
    if CORPUS.is_dir():
        paths.append(CORPUS / "ndpi" / "mining.pcapng")
    for path in paths:
        (cap,) = expand_inputs([str(path)])
        mapped = _records(cap, chunk)
        assert mapped, path
        assert mapped == _via_pipe(path.read_bytes(), chunk, monkeypatch), path
    assert max(len(r[4]) for r in _records(expand_inputs([str(big)])[0], 4096)) == 200_000


def test_gzip_reads_the_same_records_as_the_plain_file(tmp_path) -> None:
    plain = PCAPS / "stratum-v1-segmentation.pcap"
    packed = tmp_path / "capture.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    (a,), (b,) = expand_inputs([str(plain)]), expand_inputs([str(packed)])
    assert _records(a, 8192) == _records(b, 8192)


def test_truncated_file_damage_at_the_same_offset(tmp_path, monkeypatch) -> None:
    data = _big_record_pcap()[:-30]
    path = tmp_path / "cut.pcap"
    path.write_bytes(data)

    def damage(records_of) -> tuple[int, str]:
        with pytest.raises(CorruptCapture) as exc:
            records_of()
        return exc.value.offset, exc.value.reason

    (cap,) = expand_inputs([str(path)])
    mapped = damage(lambda: _records(cap, 65536))
    piped = damage(lambda: _via_pipe(data, 65536, monkeypatch))
    assert mapped == piped and mapped[0] == 24 + 16 + 60 + 16 + 200_000


def test_windows_of_a_file_are_views_not_copies() -> None:
    """Every window but the last maps the file's pages; the last is read into a buffer
    with the zero padding the decoders read past a short packet (a mapping ends with the
    file)."""
    path = PCAPS / "stratum-v1-cgminer-btc.pcap"
    (cap,) = expand_inputs([str(path)])
    stream, batches = read_capture(cap, 2048)
    bufs = [rb.buf for rb in batches]
    assert len({id(b) for b in bufs}) >= 2
    assert not bufs[0].flags.owndata and not bufs[0].flags.writeable  # mapped file pages
    last = bufs[-1]
    assert (last.base is None or last.flags.owndata) and not last[-PAD:].any()
    stream.close()


def test_a_file_that_cannot_be_mapped_is_read_instead(monkeypatch) -> None:
    path = PCAPS / "multi-interface.pcapng"
    (cap,) = expand_inputs([str(path)])
    mapped = _records(cap, 4096)

    def refuse(*args, **kwargs):
        raise OSError(19, "No such device")

    monkeypatch.setattr("detector.source.stream.mmap.mmap", refuse)
    assert _records(cap, 4096) == mapped


def test_the_last_window_is_read_not_mapped(monkeypatch) -> None:
    """The last window is read (pread) into its padded buffer: no mapping reaches the end
    of the file, so its pages are never mapped beside their copy (peak RSS at the end of a
    scan, heap.py); its bytes are the file's."""
    import mmap

    path = PCAPS / "stratum-v1-cgminer-btc.pcap"
    size = path.stat().st_size
    real_mmap, maps = mmap.mmap, []

    def record(fd, length, *args, offset=0, **kwargs):
        maps.append(offset + length)
        return real_mmap(fd, length, *args, offset=offset, **kwargs)

    monkeypatch.setattr("detector.source.stream.mmap.mmap", record)
    (cap,) = expand_inputs([str(path)])
    stream, batches = read_capture(cap, 2048)
    last = None
    for rb in batches:
        last = (rb.buf, int(rb.stream_off[0]) - int(rb.data_off[0]) + 16)
    stream.close()
    assert maps and max(maps) < size  # mapped windows, none of them the file's end
    assert last is not None
    buf, base = last
    data = path.read_bytes()
    assert bytes(buf[: size - base]) == data[base:] and not buf[size - base :].any()


def test_simple_packet_blocks_keep_their_time_wherever_windows_are_cut() -> None:
    """A simple packet block has no time of its own and takes the packet before it's; at
    the start of a window or batch that packet is in the one before (it took 0.0 there,
    so its time hung on where the reader cut the file)."""
    (cap,) = expand_inputs([str(PCAPS / "multi-interface.pcapng")])
    whole = _records(cap, 16 * 1024 * 1024)
    assert any(ts == whole[i - 1][0] for i, (ts, *_) in enumerate(whole) if i)  # SPBs there
    for chunk in range(64, 11_000, 24):
        assert _records(cap, chunk) == whole, chunk
