"""The flow stage (grouping, counters, timeouts, eviction) with the payload feeder and the
inspector, compiled (``flow_group``, ``flow_update``) against the numpy twins: identical
flow tables, statistics and ended-flow records after every batch.

Input: records (fuzz/common.py); a record's selector can end a batch before it or move the
clock past the idle timeout, or past the close timeout only. Every other input runs with
a 64-flow table (--max-flows at its minimum: eviction, and batches with more new flows
than fit).
Crash: any exception, or a twin mismatch.
"""

from __future__ import annotations

from fuzz import common

with common.instrumented():
    import numpy as np

    from detector import flows
    from detector.decode import decode
    from detector.dissect.feeder import PayloadFeeder
    from detector.dissect.inspector import Inspector

T0 = 1_700_000_000.0


class FlowStage:
    """The flow stage with its dissectors, driven as a capture session drives them."""

    def __init__(self, max_flows: int) -> None:
        inspector = Inspector()
        self.tracker = flows.FlowTracker(flows.FlowConfig(max_flows=max_flows), inspector)
        self.feeder = PayloadFeeder(inspector, self.tracker.table)
        self.table, self.stats = self.tracker.table, self.tracker.stats
        self.ended: list = []

    def process(self, pb: flows.PacketBatch) -> None:
        if len(pb) == 0:
            return
        placement = self.tracker.place(pb)
        self.stats.inspected_packets += self.feeder.feed(pb, placement)
        self.tracker.advance(float(pb.ts.max()))
        self.ended += self.tracker.take_records()

    def finish(self) -> None:
        while self.tracker.flush(7):
            self.ended += self.tracker.take_records()
        self.ended += self.tracker.take_records()


def batches(data: bytes) -> list:
    packets = common.records_with_flags(data)
    ts, now = [], T0
    for _, _, sel in packets:
        now += 700.0 if sel & common.JUMP else 40.0 if sel & common.CLOSE_JUMP else 0.25
        ts.append(now)
    cuts = [i for i, (_, _, sel) in enumerate(packets) if i and sel & common.SPLIT]
    out = []
    for a, b in zip([0, *cuts], [*cuts, len(packets)], strict=True):
        rb = common.record_batch([(lt, raw) for lt, raw, _ in packets[a:b]], ts[a:b])
        out.append(decode(rb)[0])
    return out


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    max_flows = 64 if len(data) % 2 else 500_000  # 64: the CLI's --max-flows minimum
    pbs = batches(data)
    compiled = FlowStage(max_flows)
    if not common.compiled_available():
        for pb in pbs:
            compiled.process(pb)
        compiled.finish()
        return
    simple = FlowStage(max_flows)
    for pb in pbs:
        compiled.process(pb)
        with common.pure():
            simple.process(pb)
        for name, col in compiled.table.cols.items():
            assert np.array_equal(col, simple.table.cols[name]), name
        assert np.array_equal(compiled.table.index_keys, simple.table.index_keys)
        assert compiled.stats == simple.stats
    compiled.finish()
    with common.pure():
        simple.finish()
    assert common.canon(compiled.ended) == common.canon(simple.ended)
    assert compiled.stats == simple.stats


if __name__ == "__main__":
    common.main(TestOneInput)
