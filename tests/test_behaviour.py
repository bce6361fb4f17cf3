"""Behaviour state of TCP flows (detector/behaviour.py) and the features made of it
(detector/features.py): the compiled flow_behaviour and its Python twin agree on every
column, batch after batch, on every fixture and corpus capture and on random batches;
hand-built flows with known timing give the pushes, intervals and answers they were built
with; checkpoints fire; the state stays within 256 bytes per tracked flow on the 200,000-
flow SYN scan; the real programs of pcaps/realset show the rhythm they were recorded with."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from detector import behaviour, flows, plain
from detector.behaviour import FIELDS
from detector.compiled import fast
from detector.decode import decode
from detector.dissect.feeder import PayloadFeeder
from detector.dissect.inspector import Inspector
from detector.errors import CorruptCapture
from detector.features import FEATURE_NAMES, FEATURES, features_matrix, flow_features
from detector.flowtable import COLUMNS, FlowTable
from detector.source import expand_inputs, read_capture
from detector.synth.clock import at
from detector.synth.conversation import Conversation
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import CORPUS, PCAPS, REPO, is_known_unread

needs_fast = pytest.mark.skipif(fast is None, reason="compiled helpers not built")
B = {name: i for i, name in enumerate(FIELDS)}
REALSET = PCAPS / "realset"


class _Stage:
    """The flow stage with its dissectors, as a capture session drives it; the compiled
    helpers or (``pure``) their Python twins."""

    def __init__(self, pure: bool = False, config: flows.FlowConfig | None = None) -> None:
        inspector = Inspector()
        self.tracker = flows.FlowTracker(config or flows.FlowConfig(), inspector, keep_empty=True)
        self.feeder = PayloadFeeder(inspector, self.tracker.table)
        self.pure = pure
        self.records: list[flows.FlowRecord] = []
        self.checkpoints: list[flows.FlowRecord] = []

    def process(self, pb: flows.PacketBatch, monkeypatch: pytest.MonkeyPatch | None = None) -> None:
        if len(pb) == 0:
            return
        if self.pure:
            assert monkeypatch is not None
            with monkeypatch.context() as m:
                m.setattr(flows, "fast", None)
                placement = self.tracker.place(pb)
        else:
            placement = self.tracker.place(pb)
        self.feeder.feed(pb, placement)
        self.tracker.advance(float(pb.ts.max()))
        self.checkpoints += self.tracker.take_checkpoints()
        self.records += self.tracker.take_records()

    def finish(self) -> list[flows.FlowRecord]:
        while self.tracker.flush(1000):
            self.records += self.tracker.take_records()
        self.records += self.tracker.take_records()
        return self.records


def _run(path: Path, chunk: int = 1 << 20) -> tuple[list[flows.FlowRecord], list[flows.FlowRecord]]:
    stage = _Stage()
    for cap in expand_inputs([str(path)]):
        _, it = read_capture(cap, chunk)
        for rb in it:
            stage.process(decode(rb)[0])
    return stage.finish(), stage.checkpoints


def _conversation_records(c: Conversation, tmp_path: Path, chunk: int = 1 << 20):
    path = tmp_path / "flow.pcap"
    path.write_bytes(pcap_bytes(frames(c.finish(), Ethernet()), Ethernet.linktype))
    records, checkpoints = _run(path, chunk)
    tcp = [r for r in records if r.behaviour is not None]
    assert len(tcp) == 1
    return tcp[0], checkpoints


def _b(record: flows.FlowRecord) -> dict[str, int | float]:
    assert record.behaviour is not None
    return dict(zip(FIELDS, behaviour.unpack(record.behaviour), strict=True))


def _f(record: flows.FlowRecord) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, flow_features(record).tolist(), strict=True))


# -- the twins ----------------------------------------------------------------------------


@needs_fast
def test_twins_agree_on_every_column_of_every_capture(monkeypatch) -> None:
    """Batch after batch (small windows: flows span many), the behaviour columns, the
    checkpoints and the records' behaviour tuples are identical both ways."""
    paths = [str(PCAPS)] + ([str(CORPUS)] if CORPUS.is_dir() else [])
    names = behaviour.COLUMNS
    pushed = flows_seen = 0
    for cap in expand_inputs(paths):
        compiled, simple = _Stage(), _Stage(pure=True)
        _, it = read_capture(cap, 64 * 1024)
        try:
            for rb in it:
                pb, _ = decode(rb)
                compiled.process(pb)
                simple.process(pb, monkeypatch)
                for name in names:
                    a, b = compiled.tracker.table[name], simple.tracker.table[name]
                    assert np.array_equal(a, b), (cap.path, name)
        except CorruptCapture as exc:
            assert is_known_unread(cap.path, str(exc)), exc
        got = [(r.flow_id, r.behaviour) for r in compiled.finish()]
        assert got == [(r.flow_id, r.behaviour) for r in simple.finish()], cap.path
        assert [r.flow_id for r in compiled.checkpoints] == [r.flow_id for r in simple.checkpoints]
        flows_seen += sum(b is not None for _, b in got)
        pushed += sum(b is not None and behaviour.unpack(b)[B["pushes"]] >= 3 for _, b in got)
    assert flows_seen > 500 and pushed > 40


def _random_batch(rng: np.random.Generator, n: int, nflows: int, t0: float) -> dict:
    """Packets of a few flows: times that mostly rise (some go back), repeated sequence
    numbers (retransmissions), empty and full payloads, TCP and UDP."""
    steps = rng.choice([0.0, 0.001, 0.03, 0.06, 2.0, 31.0, 400.0], size=n)
    ts = t0 + np.cumsum(steps) - rng.choice([0.0, 0.0, 0.0, 5.0], size=n)
    seq = rng.choice(np.array([0, 1, 7, 0xFFFF, 0x10000, 2**32 - 1], dtype=np.int64), size=n)
    seq = np.where(rng.random(n) < 0.5, rng.integers(0, 2**32, n), seq)
    return {
        "group": rng.integers(0, nflows, n).astype(np.int64),
        "src_first": rng.integers(0, 2, n).astype(np.uint8),
        "proto": rng.choice(np.array([6, 6, 6, 17], dtype=np.uint8), n),
        "payload_len": rng.choice(np.array([0, 0, 1, 90, 1460, 65535], dtype=np.int64), n),
        "ts": ts,
        "seq": seq,
    }


@needs_fast
def test_twins_agree_on_random_batches() -> None:
    rng = np.random.default_rng(11)
    nflows = 40
    tables = [FlowTable(1000, initial=64), FlowTable(1000, initial=64)]
    slots = np.arange(nflows, dtype=np.int64)
    slots[5] = -1  # a packet whose flow has no slot
    for t in tables:
        t["first_ts"][:nflows] = 1000.0
        t["last_ts"][:nflows] = 1000.0
        t["client_is_a"][:nflows] = np.arange(nflows) % 3 == 0
    t0 = 1000.0
    reached_total = 0
    for _ in range(30):
        b = _random_batch(rng, int(rng.integers(1, 400)), nflows, t0)
        t0 = float(b["ts"].max())
        out = np.empty(len(b["group"]), dtype=np.int64)
        c = tables[0]
        count = fast.flow_behaviour(
            b["group"], slots, b["src_first"], b["proto"], b["payload_len"], b["ts"], b["seq"],
            c["client_is_a"], c["first_ts"], *(c[name] for name in behaviour.COLUMNS), out,
        )  # fmt: skip
        want = behaviour.update_python(
            tables[1].cols, slots[b["group"]], b["src_first"].astype(bool), b["proto"],
            b["payload_len"], b["ts"], b["seq"],
        )  # fmt: skip
        assert sorted(out[:count].tolist()) == sorted(want)
        reached_total += count
        for name in behaviour.COLUMNS:
            assert np.array_equal(tables[0][name], tables[1][name]), name
    assert reached_total > 0 and int(tables[0]["pushes"].max()) > 6


def _packed_one(cols: dict[str, np.ndarray], slot: int, client_is_a: bool) -> bytes:
    """One flow's packed behaviour, the plain way (the per-flow code record_behaviours
    replaced): the reference its column-wise packing must equal byte for byte."""
    table_a = bool(cols["client_is_a"][slot])
    side, size = int(cols["msg_side"][slot]), int(cols["msg_bytes"][slot])
    msgs = [int(cols["msgs_a"][slot]), int(cols["msgs_b"][slot])]
    sq = [float(cols["msg_sq_a"][slot]), float(cols["msg_sq_b"][slot])]
    sizes = cols["first_size"][slot].tolist()
    if side:
        sq[side - 1] += float(size * size)
        k = msgs[0] + msgs[1] - 1
        if 0 <= k < behaviour.FIRST_MESSAGES:
            sizes[k] = min(size, 0x7FFF) if side == 1 else -min(size, 0x7FFF)
    first_is_server = sizes[0] != 0 and (sizes[0] < 0) == table_a
    pushes = int(cols["pushes"][slot])
    answers = max(0, msgs[1 if table_a else 0] - pushes - int(first_is_server))
    if not client_is_a:
        msgs, sq, sizes = msgs[::-1], sq[::-1], [-v for v in sizes]
    gap = int(cols["first_gap"][slot])
    return behaviour.PACKED.pack(
        *msgs, *sq, *sizes, *(gap >> 4 * j & 15 for j in range(8)), pushes,
        *(float(cols[name][slot]) for name in ("push_first", "push_last", "push_sq")),
        *cols["push_hist"][slot].tolist(), answers, float(cols["answer_delay"][slot]),
        *(float(cols[name][slot]) for name in ("req_first", "req_last", "req_sq")),
        int(client_is_a != table_a),
    )  # fmt: skip


def test_records_pack_the_behaviour_of_open_and_closed_messages_both_ways() -> None:
    """record_behaviours (column-wise, for many flows at once) against the plain per-flow
    packing, on flows left by random batches in every state: a message in progress from
    either side, more or fewer than the first 8 messages, records oriented either way."""
    rng = np.random.default_rng(5)
    nflows = 60
    table = FlowTable(1000, initial=64)
    table["first_ts"][:nflows] = table["last_ts"][:nflows] = 1000.0
    table["client_is_a"][:nflows] = np.arange(nflows) % 3 == 0
    slots, t0 = np.arange(nflows, dtype=np.int64), 1000.0
    for _ in range(12):
        b = _random_batch(rng, int(rng.integers(1, 300)), nflows, t0)
        t0 = float(b["ts"].max())
        behaviour.update_python(
            table.cols, slots[b["group"]], b["src_first"].astype(bool), b["proto"],
            b["payload_len"], b["ts"], b["seq"],
        )  # fmt: skip
    slots = np.arange(nflows + 4, dtype=np.int64)  # and flows that never sent payload
    sides = table["msg_side"][slots]
    assert {0, 1, 2} <= set(sides.tolist()) and int(table["msgs_a"][slots].max()) > 8
    client_is_a = rng.integers(0, 2, slots.shape[0]).astype(bool)
    packed = behaviour.record_behaviours(table.cols, slots, client_is_a)
    want = [_packed_one(table.cols, s, bool(c)) for s, c in enumerate(client_is_a.tolist())]
    assert packed == want
    assert behaviour._record_behaviours_numpy(table.cols, slots, client_is_a) == want
    assert behaviour.record_behaviours(table.cols, slots[:0], client_is_a[:0]) == []


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
def test_compiled_record_behaviours_is_its_numpy_twin_at_the_edges() -> None:
    """fast.record_behaviours against _record_behaviours_numpy on columns of random bits:
    saturated sizes and counts (an open message of 4 GiB, -32768 flipped), sums whose
    float64 sum rounds or overflows float32, NaNs and infinities in the times, slots in
    any order and repeated - and a slot beyond the columns is refused, not read."""
    assert behaviour._C_RECORDS
    rng = np.random.default_rng(21)
    table = FlowTable(1000, initial=256)
    rows = table["msg_side"].shape[0]
    for name in behaviour._RECORD_COLUMNS:
        col = table[name]
        col.view(np.uint8)[...] = rng.integers(0, 256, col.nbytes, dtype=np.uint8).reshape(
            col.view(np.uint8).shape
        )
    table["client_is_a"][:] = rng.integers(0, 2, rows).astype(bool)
    table["msg_side"][:] = rng.integers(0, 3, rows)
    table["msgs_a"][: rows // 2] = rng.integers(0, 6, rows // 2)  # open messages among
    table["msgs_b"][: rows // 2] = rng.integers(0, 6, rows // 2)  # the first eight too
    table["msg_bytes"][:8] = [0, 1, 0x7FFE, 0x7FFF, 0x8000, 0xFFFFFFFF, 3, 2**31]
    table["first_size"][:8, 0] = [-32768, 32767, 0, -1, 1, -32768, 0, 5]
    table["msg_sq_a"][:4] = [np.float32(3.4e38), np.nan, np.inf, np.float32(1.5)]
    slots = rng.integers(0, rows, 2000).astype(np.int64)
    client_is_a = rng.integers(0, 2, slots.shape[0]).astype(bool)
    got = behaviour.record_behaviours(table.cols, slots, client_is_a)
    assert got == behaviour._record_behaviours_numpy(table.cols, slots, client_is_a)
    assert len(set(got)) > 400  # (of 256 rows, each either way)
    with pytest.raises(IndexError):
        fast.record_behaviours(
            np.array([rows], dtype=np.int64), np.ones(1, dtype=np.uint8),
            tuple(table[name] for name in behaviour._RECORD_COLUMNS),
        )  # fmt: skip


def _flow_update(t: FlowTable, b: dict, slots: np.ndarray, bh: tuple | None) -> int:
    """fast.flow_update on batch ``b`` (with its flags and wire lengths), as flows.place
    calls it; ``bh``: flow_behaviour's columns, or None."""
    n = len(b["group"])
    return fast.flow_update(
        b["group"], slots, b["src_first"], b["flags"], b["wirelen"], b["payload_len"], b["ts"],
        b["seq"], np.empty(n, np.int64), *(t[name] for name in flows._UPDATED_COLUMNS),
        b["proto"], bh,
    )  # fmt: skip


@needs_fast
def test_flow_update_does_flow_behaviours_work_in_its_loop() -> None:
    """flow_update given flow_behaviour's columns (as flows.place calls it) leaves every
    column as flow_behaviour then flow_update without them do, and reports the same
    checkpoints in the same order (flows mixing TCP and UDP packets included: both move
    last_ts on for every packet)."""
    rng = np.random.default_rng(29)
    nflows = 40
    merged, apart = FlowTable(1000, initial=64), FlowTable(1000, initial=64)
    slots = np.arange(nflows, dtype=np.int64)
    slots[7] = -1
    for t in (merged, apart):
        t["first_ts"][:nflows] = t["last_ts"][:nflows] = 1000.0
        t["client_is_a"][:nflows] = np.arange(nflows) % 3 == 0
    t0, reached_total = 1000.0, 0
    for _ in range(30):
        b = _random_batch(rng, int(rng.integers(1, 400)), nflows, t0)
        t0 = float(b["ts"].max())
        n = len(b["group"])
        b["flags"] = rng.choice(np.array([0x10, 0x18, 0x02, 0x12, 0x11, 0x04], np.uint8), n)
        b["wirelen"] = rng.integers(40, 1500, n)
        out = [np.empty(n, np.int64), np.empty(n, np.int64)]
        count = _flow_update(merged, b, slots, (merged["client_is_a"], merged["first_ts"],
                             *(merged[c] for c in behaviour.COLUMNS), out[0]))  # fmt: skip
        want = fast.flow_behaviour(
            b["group"], slots, b["src_first"], b["proto"], b["payload_len"], b["ts"], b["seq"],
            apart["client_is_a"], apart["first_ts"], *(apart[c] for c in behaviour.COLUMNS),
            out[1],
        )  # fmt: skip
        assert _flow_update(apart, b, slots, None) == 0
        assert out[0][:count].tolist() == out[1][:want].tolist()
        reached_total += count
        for name in merged.cols:
            assert np.array_equal(merged[name], apart[name]), name
    assert reached_total > 0


@needs_fast
def test_compiled_helper_refuses_bad_groups_and_short_buffers() -> None:
    t = FlowTable(100, initial=8)
    args = lambda group, slots, out: (  # noqa: E731
        group, slots, np.ones(1, np.uint8), np.full(1, 6, np.uint8), np.ones(1, np.int64),
        np.ones(1), np.ones(1, np.int64), t["client_is_a"], t["first_ts"],
        *(t[name] for name in behaviour.COLUMNS), out,
    )  # fmt: skip
    ok = np.zeros(1, np.int64)
    assert fast.flow_behaviour(*args(ok, ok, ok)) == 0
    with pytest.raises(ValueError):
        fast.flow_behaviour(*args(np.array([3]), ok, ok))  # no such group
    with pytest.raises(ValueError):
        fast.flow_behaviour(*args(ok, np.array([8]), ok))  # no such row
    with pytest.raises(ValueError):
        fast.flow_behaviour(*args(ok, ok, np.zeros(0, np.int64)))  # no room for checkpoints


# -- flows with known timing ----------------------------------------------------------------


def _miner(rtt: float = 0.005, pushes: int = 10, retransmit: bool = False) -> Conversation:
    """A pool pushing a job every 30 s; the client submits 7 s after each job and the pool
    answers in 5 ms (one RTT)."""
    c = Conversation(("10.9.0.2", 50000), ("198.51.100.9", 14433), start=at(0), rtt=rtt)
    c.client_send(bytes(300), at(0.010))  # hello
    c.server_send(bytes(1200), at(0.016))
    c.client_send(bytes(80), at(0.030))  # login
    c.server_send(bytes(500), at(0.036))  # its answer, with the first job
    for k in range(1, pushes + 1):
        t = 30.0 * k
        c.server_send(bytes(420), at(t), retransmit=0 if retransmit and k == 2 else None)
        c.client_send(bytes(190), at(t + 7))
        c.server_send(bytes(90), at(t + 7 + rtt))
    c.close(at(30.0 * pushes + 20))
    return c


def test_a_pool_pushing_every_30_s_with_acknowledged_submits(tmp_path: Path) -> None:
    record, _ = _conversation_records(_miner(), tmp_path)
    b, f = _b(record), _f(record)
    assert b["pushes"] == 10 and b["answers"] == 12  # hello and login answered, 10 submits
    assert b["msgs_toserver"] == 12 and b["msgs_toclient"] == 22
    assert [b[f"push_hist_{k}"] for k in range(8)] == [0, 0, 0, 0, 9, 0, 0, 0]  # 16-32 s
    assert f["push_interval_mean"] == pytest.approx(30.0, abs=0.01)
    assert f["push_interval_cv"] == pytest.approx(0.0, abs=0.01)
    assert f["push_period_bin"] == 4 and f["push_period_share"] == 1.0
    assert f["answer_delay_mean"] == pytest.approx(0.005, abs=0.0015)
    assert f["pairing_ratio"] == 1.0
    assert f["msg_std_toclient"] > 0  # jobs 420 B, answers 90 B
    sizes = [b[f"size_{k}"] for k in range(1, 9)]
    assert sizes == [300, -1200, 80, -500, -420, 190, -90, -420]
    assert f["server_port_class"] == 2 and b["reoriented"] == 0


def test_a_retransmitted_job_is_not_a_push(tmp_path: Path) -> None:
    record, _ = _conversation_records(_miner(retransmit=True), tmp_path)
    b = _b(record)
    assert b["pushes"] == 10 and b["push_hist_0"] == 0


def test_long_polling_answers_late_and_never_pushes(tmp_path: Path) -> None:
    c = Conversation(("10.9.0.3", 50001), ("198.51.100.10", 443), start=at(0), rtt=0.02)
    c.client_send(bytes(300), at(0.03))
    c.server_send(bytes(1500), at(0.055))
    t = 0.1
    for k in range(10):
        c.client_send(bytes(220), at(t))  # GET /poll
        delay = 8.0 + k % 4 * 2.5
        c.server_send(bytes(350), at(t + delay))  # the event, seconds later
        t += delay + 0.05
    c.close(at(t + 1))
    record, checkpoints = _conversation_records(c, tmp_path, chunk=4)
    b, f = _b(record), _f(record)
    assert b["pushes"] == 0 and b["answers"] == 11
    # never pushed to, so only its answers make checkpoints: the 3rd and the 6th
    assert [_b(r)["answers"] for r in checkpoints] == [3, 6]
    assert {r.end_reason for r in checkpoints} == {"open"}
    assert f["answer_delay_mean"] > 5.0
    assert math.isnan(f["push_interval_mean"]) and math.isnan(f["push_period_share"])


def test_checkpoints_fire_from_the_first_push_on_and_give_records_in_progress(
    tmp_path: Path,
) -> None:
    record, checkpoints = _conversation_records(_miner(pushes=13), tmp_path, chunk=512)
    seen = [(_b(r)["pushes"], _b(r)["answers"]) for r in checkpoints]
    # (pushes, answers): every push up to the 8th and the 12th, and the submits' answers
    # reaching 3, 6 and 12 (the hello and the login were answered: 2 before the first push)
    assert seen == [(1, 2), (1, 3), (2, 3), (3, 4), (4, 5), (4, 6), (5, 6), (6, 7), (7, 8),
                    (8, 9), (10, 12), (12, 13)]  # fmt: skip
    assert {r.end_reason for r in checkpoints} == {"open"}
    assert {r.flow_id for r in checkpoints} == {record.flow_id}
    times = [r.last_ts for r in checkpoints]
    assert times == sorted(times) and times[-1] < record.last_ts
    assert _b(record)["pushes"] == 13


def test_records_round_trip_as_plain_data(tmp_path: Path) -> None:
    record, _ = _conversation_records(_miner(), tmp_path)
    again = plain.loads(flows.FlowRecord, plain.dumps(record))
    assert again.behaviour == record.behaviour and len(record.behaviour) == 83
    assert len(behaviour.unpack(record.behaviour)) == len(FIELDS)


def test_an_active_timeout_cut_starts_the_behaviour_afresh(tmp_path: Path) -> None:
    path = tmp_path / "flow.pcap"
    path.write_bytes(pcap_bytes(frames(_miner().finish(), Ethernet()), Ethernet.linktype))
    stage = _Stage(config=flows.FlowConfig(active_timeout=100.0))
    _, it = read_capture(expand_inputs([str(path)])[0], 2048)
    for rb in it:
        stage.process(decode(rb)[0])
    parts = [r for r in stage.finish() if r.behaviour is not None]
    assert [r.end_reason for r in parts][:1] == ["active-timeout"] and len(parts) >= 3
    assert sum(_b(r)["msgs_toserver"] for r in parts) == 12
    assert _b(parts[-1])["size_1"] != 300  # the hello belongs to the first part


def test_the_part_after_an_active_timeout_cut_is_read_from_where_it_picks_up() -> None:
    """A cut flow goes on as one met mid-session: its stream is not anchored at the SYN's
    sequence number, where everything later would wait behind a hole the size of the part
    before (gaps counted, the shares' activity lost, memory held to the flow's end)."""
    stage = _Stage(config=flows.FlowConfig(active_timeout=20.0))
    _, it = read_capture(expand_inputs([str(PCAPS / "cryptonote-xmrig.pcap")])[0], 256)
    for rb in it:
        stage.process(decode(rb)[0])
    parts = [r for r in stage.finish() if r.facts is not None]
    later = [r.facts for r in parts[1:]]
    assert parts[0].end_reason == "active-timeout" and len(later) >= 3
    # every later part read: no gaps, each with the job or the share it carried
    assert all(f.gaps == 0 and f.activity for f in later)
    assert sum(f.submits for f in later) >= 3 and sum(f.jobs for f in later) >= 3


def test_udp_and_one_way_flows_carry_no_behaviour() -> None:
    records, _ = _run(PCAPS / "neg-portscan-syn.pcap")
    assert records and all(r.behaviour is None for r in records)
    first, end = FEATURE_NAMES.index("msgs_toserver"), FEATURE_NAMES.index("server_port_class")
    assert all(math.isnan(v) for v in flow_features(records[0])[first:end])
    records, _ = _run(PCAPS / "mixed-two-miners-benign.pcap")
    udp = [r for r in records if r.proto == "UDP"]
    assert udp and all(r.behaviour is None for r in udp)


# -- budget ---------------------------------------------------------------------------------


def test_flow_state_stays_within_256_bytes_per_tracked_flow(tmp_path: Path) -> None:
    """Measured as README's figure is: scan --stats on the bench's 200,000-flow SYN scan
    (peak state bytes over peak flows: columns, index and free list, over-allocation
    included)."""
    from bench.make_capture import generate
    from detector.config import Detector, ScanConfig
    from detector.replay import scan_capture

    path = tmp_path / "synscan.pcap"
    generate(path, variant="synscan", pairs=200_000, seed=1)
    config = ScanConfig()
    scanned = scan_capture(expand_inputs([str(path)])[0], config, Detector.load(config))
    stats = scanned.flows
    assert stats.peak_flows == 200_000
    per_flow = stats.peak_state_bytes / stats.peak_flows
    assert per_flow <= 256, per_flow
    row = sum(np.dtype(spec[0]).itemsize * spec[1] if isinstance(spec, tuple)
              else np.dtype(spec).itemsize for spec in COLUMNS.values())  # fmt: skip
    assert row == 197


# -- real programs --------------------------------------------------------------------------


def _main_flow(path: Path) -> flows.FlowRecord:
    """The longest TCP flow with payload both ways of a capture."""
    records, _ = _run(path)
    tcp = [r for r in records if r.behaviour is not None]
    return max(tcp, key=lambda r: r.duration)


@pytest.mark.parametrize("name", sorted(p.name for p in REALSET.glob("xmrig-*-tls-*.pcap")))
def test_real_tls_miners_push_jobs(name: str) -> None:
    f = _f(_main_flow(REALSET / name))
    assert f["pushes"] >= 3 and f["tls"] == 1
    assert 30 <= f["push_interval_mean"] <= 130  # the stub pool: jobs every 30-120 s
    assert f["pairing_ratio"] == 1.0 and f["answer_delay_mean"] < 0.05


@pytest.mark.parametrize("name", sorted(p.name for p in REALSET.glob("https-requests-poll-*.pcap")))
def test_real_https_pollers_do_not_push(name: str) -> None:
    f = _f(_main_flow(REALSET / name))
    assert f["pushes"] <= 1 and f["tls"] == 1
    assert f["answers"] >= 8 and f["pairing_ratio"] == 1.0


# -- the feature table ------------------------------------------------------------------------


def test_feature_table_is_documented_and_matrix_matches_rows() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == len(FEATURES)
    doc = (REPO / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name in FEATURE_NAMES:
        assert f"`{name}`" in doc, name
    records, _ = _run(REALSET / "xmrig-cnr-tls-443.pcap")
    matrix = features_matrix(records)
    assert matrix.dtype == np.float32 and matrix.shape == (len(records), len(FEATURE_NAMES))
    for row, record in zip(matrix, records, strict=True):
        assert np.array_equal(row, flow_features(record), equal_nan=True)
    assert features_matrix([]).shape == (0, len(FEATURE_NAMES))


def test_flow_log_shows_the_features() -> None:
    from tests.conftest import run_cli

    res = run_cli("flows", "--all", str(REALSET / "xmrig-rx0-tls-14433.pcap"))
    entries = [json.loads(line) for line in res.out.splitlines()]
    miner = max(entries, key=lambda e: e["features"]["duration"] or 0)
    assert list(miner["features"]) == list(FEATURE_NAMES)
    assert miner["features"]["pushes"] >= 3
    assert miner["features"]["tls_self_signed"] is None


@needs_fast
def test_behaviour_feature_twins_agree_bit_for_bit() -> None:
    """features._behaviour_columns (the compiled behaviour_features) and its numpy twin
    features._behaviour give the same bits: on the records of real captures, and on random
    packed bytes (NaN, infinities and negative floats in the float fields; reoriented rows;
    durations and payloads of zero, NaN and below zero); a buffer of the wrong size is
    refused."""
    from detector import features

    assert features._C_LAYOUT  # this build reads the packed layout in C
    records = [r for name in ("xmrig-cnr-tls-443.pcap", "xmrig-rx0-tls-14433.pcap")
               for r in _run(REALSET / name)[0] if r.behaviour is not None]  # fmt: skip
    packed = np.frombuffer(b"".join(r.behaviour for r in records), dtype=behaviour.PACKED_DTYPE)
    rng = np.random.default_rng(5)
    counts = rng.random((len(records), 8)) * 100
    counts[::4, 0] = 0.0
    ours, twin = features._behaviour_columns(packed, counts), features._behaviour(packed, counts)
    assert np.isfinite(twin).any() and np.isnan(twin).any()
    assert ours.tobytes() == twin.tobytes()
    with np.errstate(all="ignore"):
        for _ in range(10):
            raw = rng.integers(0, 256, size=(400, behaviour.PACKED_DTYPE.itemsize), dtype=np.uint8)
            packed = np.frombuffer(raw.tobytes(), dtype=behaviour.PACKED_DTYPE)
            counts = rng.choice([0.0, 1.0, 3.5, 250.0, np.nan, -2.0, 1e12], size=(400, 8))
            ours = features._behaviour_columns(packed, counts)
            assert ours.tobytes() == features._behaviour(packed, counts).tobytes()
    with pytest.raises(ValueError, match="sizes disagree"):
        fast.behaviour_features(packed.tobytes()[:-1], counts[:, :3].copy(), ours)


@needs_fast
def test_the_feature_matrix_is_the_same_with_the_compiled_behaviour_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """features_matrix with and without the compiled helper: the same float32 bits."""
    from detector import features

    records, _ = _run(REALSET / "xmrig-cnr-tls-443.pcap")
    compiled = features_matrix(records)
    monkeypatch.setattr(features, "fast", None)
    assert compiled.tobytes() == features_matrix(records).tobytes()


@needs_fast
def test_count_feature_twins_agree_bit_for_bit() -> None:
    """The compiled count_features and its twin features._count_columns write the same
    bits into columns 0-11 and server_port_class: on random times and counts (zeros of
    both signs, NaN, infinities, negatives) and the ports at every class's edge and the
    mining ports; a wrong size or column is refused."""
    from detector import features

    rng = np.random.default_rng(9)
    values = [0.0, -0.0, 1.0, 2.5, np.nan, -3.0, 1e15, np.inf, 1023, 1024, 3333, 49151,
              49152, 65535, 14444]  # fmt: skip
    port_col = FEATURE_NAMES.index("server_port_class")
    with np.errstate(all="ignore"):
        for _ in range(10):
            times = rng.choice(values, size=(300, 9))
            ours = np.full((300, len(FEATURE_NAMES)), np.nan)
            twin = ours.copy()
            fast.count_features(times, features._MINING_PORTS, ours, port_col)
            features._count_columns(times[:, 1:], twin)
            assert ours.tobytes() == twin.tobytes()
    assert set(np.unique(ours[:, port_col]).tolist()) == {0.0, 1.0, 2.0, 3.0}
    with pytest.raises(ValueError, match="sizes disagree"):
        fast.count_features(times, features._MINING_PORTS, ours, 5)
    with pytest.raises(ValueError, match="sizes disagree"):
        fast.count_features(times[:, :8].copy(), features._MINING_PORTS, ours, port_col)


@needs_fast
def test_record_rows_twins_agree_bit_for_bit() -> None:
    """The compiled record_rows and its twin features._record_rows_python read the same
    times, counts and TLS columns off records: no facts; facts read in clear, with or
    without a pool match; TLS named by app_protos or only by a JA3; versions known,
    unknown, falsy or only offered; the CoinMiner JA3 and others; certificates
    self-signed, not or unsaid; app_protos a set, a list or None. A record whose TLS facts
    are not a dict is read by the twin (features._record_rows falls back)."""
    import random

    from detector import features
    from detector.facts import FlowFacts
    from detector.flows import FlowRecord

    rng = random.Random(4)
    keys = {
        "version": [None, "", "TLSv1.2", "TLSv1.3", "SSLv2", 0],
        "client_version": [None, "TLSv1", "TLSv1.1", "weird"],
        "sni": [None, "", "pool.example", 0],
        "alpn": [None, [], ["h2"]],
        "ja3": [None, "", features.COINMINER_JA3, "abc"],
        "ja4": [None, "", "t13d"],
        "subject": [None, "CN=x"],
        "self_signed": [None, False, True, 1],
    }
    records = []
    for i in range(3000):
        facts = None
        if i % 7:
            facts = FlowFacts()
            facts.app_protos = rng.choice([set(), {"tls"}, {"http"}, ["tls", "json"], None])
            facts.pool = rng.choice([{}, {"name": "p"}])
            for key, values in keys.items():
                if rng.random() < 0.6:
                    facts.tls[key] = rng.choice(values)
        counts = [rng.choice([0, 1, 7, 2**40, 2**53 + 1]) for _ in range(6)]
        first = rng.choice([0.0, 1.5, 1e9 + 0.123456, float("nan")])
        records.append(FlowRecord(i, "TCP", "10.0.0.1", 40000, "10.0.0.2",
                                  rng.choice([443, 3333, 65535]), first, first + i, *counts,
                                  "syn", "idle", facts))  # fmt: skip
    ours = np.full((len(records), len(FEATURE_NAMES)), 7.0)
    twin = ours.copy()
    times = features._record_rows(records, ours)
    assert times.tobytes() == features._record_rows_python(records, twin).tobytes()
    assert ours.tobytes() == twin.tobytes()
    assert np.isnan(ours[:, features._TLS]).any() and (ours[:, features._TLS] == 1.0).any()
    odd = FlowFacts()
    odd.tls = [("ja3", "x")]  # type: ignore[assignment]
    strange = [records[1], FlowRecord(0, "TCP", "a", 1, "b", 2, 0.0, 1.0, 1, 1, 1, 1, 1, 1,
                                      "syn", "idle", odd)]  # fmt: skip
    with pytest.raises(TypeError, match="not a dict"):
        fast.record_rows(strange, np.empty((2, 9)), ours[:2].copy(), features._TLS.start,
                         features.TLS_VERSIONS, features.COINMINER_JA3)  # fmt: skip
    ours, twin = ours[:2].copy(), ours[:2].copy()
    times = features._record_rows(strange, ours)
    assert times.tobytes() == features._record_rows_python(strange, twin).tobytes()
    assert ours.tobytes() == twin.tobytes()
