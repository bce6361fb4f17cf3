"""Packet times that go back across batches by more than the idle timeout (a badly merged
capture) cut a flow no more than within one batch: a flow's latest time is the latest of
its packets so far (FlowTable last_ts, the sweep's), and the batch that goes back starts
its keys from the table's flow's (flows.FlowTracker._carried_state). The 5-tuple's
packets at T0 + 1000, then T0 + 100 and T0 + 800: one flow whether the batch boundary
falls before T0 + 100 or not, compiled and pure (MINEWATCH_PURE=1) alike. Packets are
looked up at their own time, as Suricata's flow lookup does (FlowIsTimedOut against the
packet's time), against the latest time the flow has seen."""

from __future__ import annotations

from pathlib import Path

from detector.source.batch import MAX_BATCH_PACKETS
from detector.synth.pcap import pcap_bytes
from tests.test_idle_return import T0, _by_port, _conversation, _filler, _flows, _ours, _resumed


def _case(tmp_path: Path, name: str, split: bool) -> Path:
    """In the order written (not sorted by time); ``split``: the first batch ends right
    after the conversation at T0 + 1000 (filled up to a batch's worth)."""
    first = _conversation(T0 + 1000, 42001)
    back = [*_resumed(T0 + 100, 42001), *_resumed(T0 + 800, 42001)]
    fill = _filler(MAX_BATCH_PACKETS - len(first), T0 + 1000.5, T0 + 1001) if split else []
    records = [*first, *fill, *back]
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(pcap_bytes(((round(ts * 1e9), frame) for ts, frame in records), 101))
    return path


def test_times_gone_back_across_batches_cut_as_within_one(tmp_path: Path) -> None:
    runs = {(split, pure): _ours(_flows(_case(tmp_path, f"split{split}", split), pure))
            for split in (False, True) for pure in (False, True)}  # fmt: skip
    reference = runs[(False, False)]
    [one] = _by_port(reference)[42001]  # 800 s is within the idle timeout of T0 + 1000
    assert one["flow"]["pkts_toserver"] == 3 + 2
    for key, records in runs.items():
        assert records == reference, key
