"""The compiled flow stage (flow_group, flow_update) and the record walk's header fields
(walk_pcap given the field columns) against their numpy twins: identical flow tables
after every batch of every fixture and corpus capture, including the SYN-scan and
bench-style captures."""

from __future__ import annotations

import numpy as np
import pytest

from detector import flows
from detector.compiled import fast
from detector.decode import decode
from detector.dissect.feeder import PayloadFeeder
from detector.dissect.inspector import Inspector
from detector.errors import CorruptCapture
from detector.source import expand_inputs, read_capture, walk
from detector.source import pcap as pcap_reader
from tests.conftest import CORPUS, PCAPS, is_known_unread

pytestmark = pytest.mark.skipif(fast is None, reason="compiled helpers not built")


def _captures() -> list:
    paths = [str(PCAPS)] + ([str(CORPUS)] if CORPUS.is_dir() else [])
    return expand_inputs(paths)


class _FlowStage:
    """The flow stage with its dissectors, driven as a capture session drives them."""

    def __init__(self) -> None:
        inspector = Inspector()
        self.tracker = flows.FlowTracker(flows.FlowConfig(), inspector)
        self.feeder = PayloadFeeder(inspector, self.tracker.table)
        self.table, self.stats = self.tracker.table, self.tracker.stats

    def process(self, pb: flows.PacketBatch) -> None:
        if len(pb) == 0:
            return
        placement = self.tracker.place(pb)
        self.stats.inspected_packets += self.feeder.feed(pb, placement)
        self.tracker.advance(float(pb.ts.max()))
        self.tracker.take_records()


def test_flow_stage_twins_build_identical_tables(monkeypatch) -> None:
    batches = 0
    for cap in _captures():
        compiled, simple = _FlowStage(), _FlowStage()
        _, it = read_capture(cap, 64 * 1024)  # small chunks: flows span many batches
        try:
            for rb in it:
                pb, _ = decode(rb)
                compiled.process(pb)
                with monkeypatch.context() as m:
                    m.setattr(flows, "fast", None)
                    simple.process(pb)
                for name, col in compiled.table.cols.items():
                    assert np.array_equal(col, simple.table.cols[name]), (cap.path, name)
                assert np.array_equal(compiled.table.index_keys, simple.table.index_keys)
                batches += 1
        except CorruptCapture as exc:  # compare what was read; only known captures may stop
            assert is_known_unread(cap.path, str(exc)), exc
        assert compiled.stats == simple.stats, cap.path
    assert batches > 60


def _random_batch(
    rng: np.random.Generator,
    ts: np.ndarray,
    hosts: np.ndarray,
    protos: list[int],
    ports: list[int],
    src_hi: np.ndarray,
    tunnel: np.ndarray | None,
) -> flows.PacketBatch:
    """A decoded batch of random packets between ``hosts`` (two rows: source and
    destination host numbers), for the grouping twins."""
    n = ts.shape[0]
    return flows.PacketBatch(
        buf=np.zeros(16, dtype=np.uint8),
        ts=ts,
        wirelen=rng.integers(40, 1500, n),
        proto=rng.choice(np.array(protos, dtype=np.uint8), n),
        src_hi=src_hi,
        src_lo=hosts[0].astype(np.uint64) + np.uint64(0xFFFF00000000),
        dst_hi=np.zeros(n, dtype=np.uint64),
        dst_lo=hosts[1].astype(np.uint64) + np.uint64(0xFFFF00000000),
        sport=rng.choice(ports, n).astype(np.int64),
        dport=rng.choice(ports, n).astype(np.int64),
        flags=rng.integers(0, 256, n).astype(np.uint8),
        seq=rng.integers(0, 2**32, n),
        payload_off=np.zeros(n, dtype=np.int64),
        payload_len=rng.integers(0, 100, n),
        payload_cap=np.zeros(n, dtype=np.int64),
        stream_off=np.zeros(n, dtype=np.int64),
        tunnel=tunnel,
    )


def test_flow_group_twins_agree_on_synthetic_batches(monkeypatch) -> None:
    """Random addresses, ports, protocols and flags (one-way ICMP's 0x80 included) with many
    repeated keys, without and with tunnel keys."""
    rng = np.random.default_rng(7)
    for n, tunneled in (
        (1, False),
        (2, True),
        (17, False),
        (1000, True),
        (5000, False),
        (5000, True),
    ):
        hosts = rng.integers(0, 6, size=(2, n))
        tunnel = (
            rng.choice(np.array([0, 0, 7, 2**63 + 5], dtype=np.uint64), n) if tunneled else None
        )
        src_hi = (hosts[0] == 5).astype(np.uint64) * np.uint64(0x20010DB8 << 32)
        pb = _random_batch(rng, np.sort(rng.random(n)), hosts, [6, 17, 1, 58, 132, 47],
                           [53, 443, 3333, 40000], src_hi, tunnel)  # fmt: skip
        timeouts = (600.0, 120.0, 30.0)
        a = flows._group_compiled(pb, timeouts)
        b = flows._group_numpy(pb, timeouts)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y), n
        # within a second no key is back after a timeout: a group after another of its
        # key starts at a pure SYN (on a flow that saw a RST or side A's FIN)
        assert np.all((pb.flags[a[3][a[-2]]] & 0x12) == 0x02)


def test_flow_group_twins_agree_batch_after_batch_of_any_size() -> None:
    """flow_group keeps its hash table from call to call and empties the slots it took:
    batches bigger and smaller than the one before (the table grown, or used in part) and
    each one twice, many packets to a key or one, group as the numpy twin does."""
    rng = np.random.default_rng(23)
    timeouts = (600.0, 120.0, 30.0)
    for n in (4000, 3, 4000, 20000, 1, 700, 20000, 9000):
        for distinct in (4, n):
            hosts = rng.integers(0, distinct, size=(2, n))
            pb = _random_batch(rng, np.sort(rng.random(n)), hosts, [6, 17], [443, 3333],
                               np.zeros(n, dtype=np.uint64), None)  # fmt: skip
            a = flows._group_compiled(pb, timeouts)
            b = flows._group_numpy(pb, timeouts)
            for x, y in zip(a, b, strict=True):
                assert np.array_equal(x, y), (n, distinct)


def test_flow_group_twins_split_keys_at_idle_gaps() -> None:
    """Keys whose packets have gaps longer than their idle timeout (TCP's and the others'
    apart), times in and out of order, repeated, infinite and NaN: the same groups, and
    each key's groups adjacent, oldest first, the later ones marked as after a gap."""
    rng = np.random.default_rng(11)
    for n, spread, unsorted in ((2, 10.0, False), (50, 5.0, True), (3000, 40.0, False),
                                (3000, 40.0, True), (20000, 300.0, True)):  # fmt: skip
        hosts = rng.integers(0, 4, size=(2, n))
        ts = rng.random(n) * spread
        ts = ts if unsorted else np.sort(ts)
        ts[rng.random(n) < 0.01] = np.nan
        ts[rng.random(n) < 0.005] = np.inf
        ts[rng.random(n) < 0.05] = 1.0  # ties
        pb = _random_batch(
            rng, ts, hosts, [6, 17, 1], [53, 3333], np.zeros(n, dtype=np.uint64), None
        )
        timeouts = (1.0, 0.25, 5.0)  # a close timeout over both: idle alone
        a = flows._group_compiled(pb, timeouts)
        b = flows._group_numpy(pb, timeouts)
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y), n
        _, group, ukeys, first_pkt, _, _, after_gap, _ = b
        if n > 2:
            assert after_gap.any()
        assert np.array_equal(after_gap[1:], ukeys[1:] == ukeys[:-1])
        assert np.all(np.diff(ukeys.astype(np.float64)) >= 0)
        # a group's packets: its first packet's group, and within a key first packets in order
        assert np.array_equal(group[first_pkt], np.arange(ukeys.shape[0]))
        assert np.all(np.diff(first_pkt)[after_gap[1:]] > 0)


def _walk_with_fields(data: bytes, little: bool, unit: float, lengths: int, end: int,
                      cap: int = 100_000) -> tuple:
    """The compiled walk giving the field columns, and its twin (the Python walk, then
    _fields_numpy over what it found): (status, records, caplen, wirelen, ts) each."""
    buf = np.frombuffer(data, dtype=np.uint8)
    outs = [np.full(cap, -7, dtype=np.int64) for _ in range(2)]
    made = [np.full(cap, -7, dtype=t) for t in ("i8", "i8", "f8")]
    count, off, status = fast.walk_pcap(buf, 24, end, little, 262144, outs[0], lengths, unit,
                                        *made)
    got = ((count, off, status), outs[0][:count], *(m[:count] for m in made))
    assert all((m[count:] == -7).all() for m in made)  # nothing past the records found
    want_walk = walk.py_walk_pcap(buf, 24, end, little, 262144, outs[1], lengths)
    rec = outs[1][: want_walk[0]]
    want = (want_walk, rec, *pcap_reader._fields_numpy(buf, rec, little, unit, lengths))
    return got, want


def test_the_walks_fields_and_their_twin_agree() -> None:
    """_fast.walk_pcap given the field columns (what source/pcap.py reads with) against
    the Python walk and _fields_numpy: the same records, lengths and times, in every
    length order, on every fixture and corpus pcap, cut short at many points too."""
    checked = 0
    for path in [*sorted(PCAPS.glob("*.pcap")), *sorted(CORPUS.glob("*/*.pcap"))]:
        data = path.read_bytes()
        if data[:4] not in pcap_reader.MAGICS:
            continue  # pcapng under a .pcap name
        little, unit = pcap_reader.MAGICS[data[:4]]
        # every length order over the same headers (the twins must agree, whatever the
        # order makes of them), and the file cut inside its records
        for lengths in (0, 1, 2):
            for end in (len(data), len(data) // 2, len(data) // 3 + 5):
                got, want = _walk_with_fields(data, little, unit, lengths, end)
                assert got[0] == want[0], (path, lengths, end)
                for a, b in zip(got[1:], want[1:], strict=True):
                    assert a.dtype == b.dtype and np.array_equal(a, b), (path, lengths, end)
        checked += got[0][0]
    assert checked > 5000
    data = (PCAPS / "cryptonote-xmrig.pcap").read_bytes()
    little, unit = pcap_reader.MAGICS[data[:4]]
    got, want = _walk_with_fields(data, little, unit, 0, len(data), cap=3)  # out full
    assert got[0] == want[0] and got[0][2] == walk.FULL
    for a, b in zip(got[1:], want[1:], strict=True):
        assert np.array_equal(a, b)
    buf = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(10, dtype=np.int64)
    short = [np.empty(9, dtype=t) for t in ("i8", "i8", "f8")]
    with pytest.raises(ValueError):  # a field column shorter than out
        fast.walk_pcap(buf, 24, len(data), little, 262144, out, 0, unit, *short)
    with pytest.raises(TypeError):  # some field columns but not all
        fast.walk_pcap(buf, 24, len(data), little, 262144, out, 0, unit, short[0])
    with pytest.raises(ValueError):  # a length order that does not exist
        pcap_reader._fields_numpy(buf, out[:1], little, unit, 3)


def test_zero_rows_twins_agree() -> None:
    """FlowTable.allocate clears the rows it hands out with _fast.zero_rows: the same
    columns as its numpy twin afterwards, every dtype and width of the table; a slot
    outside the columns raises."""
    from detector import flowtable

    if fast is None:
        pytest.skip("the compiled helpers are not built")
    rng = np.random.default_rng(5)
    tables = [flowtable.FlowTable(10_000, initial=3000) for _ in range(2)]
    for name, col in tables[0].cols.items():
        col[...] = rng.integers(1, 200, col.shape).astype(col.dtype)
        tables[1].cols[name][...] = col
    slots = rng.choice(3000, 700, replace=False).astype(np.int64)
    fast.zero_rows(tuple(tables[0].cols.values()), slots)
    flowtable._zero_rows_numpy(tables[1].cols, slots)
    for name in tables[0].cols:
        assert np.array_equal(tables[0].cols[name], tables[1].cols[name]), name
        assert not tables[0].cols[name][slots].any() and tables[0].cols[name].any(), name
    for outside in ([3000], [5, 3000, 7], [5, -1]):  # wherever it is among the slots
        with pytest.raises(IndexError):
            fast.zero_rows(tuple(tables[0].cols.values()), np.array(outside, dtype=np.int64))
    fast.zero_rows(tuple(tables[0].cols.values()), np.array([], dtype=np.int64))  # no rows


def _table_pair(rng: np.random.Generator, rows: int) -> list:
    """Two flow tables of ``rows`` rows with the same random contents."""
    from detector import flowtable

    tables = [flowtable.FlowTable(rows, initial=rows) for _ in range(2)]
    for name, col in tables[0].cols.items():
        col[...] = rng.integers(0, 256, col.shape).astype(col.dtype)
        tables[1].cols[name][...] = col
    return tables


def _fill_batch(rng: np.random.Generator, n: int, tunneled: bool) -> flows.PacketBatch:
    """Random packets for the new-flow fill and the collision check: IPv4 (private or
    not, CGNAT), IPv6 (ULA or not), ports low and ephemeral, every flag (one-way ICMP's
    0x80 too), NaN times."""
    hosts = rng.integers(0, 8, size=(2, n))
    pb = _random_batch(rng, rng.random(n), hosts, [6, 17, 1, 58],
                       [22, 80, 443, 3333, 34255, 40000, 50001, 65535],
                       np.zeros(n, dtype=np.uint64),
                       rng.choice(np.array([0, 7, 2**63 + 5], dtype=np.uint64), n)
                       if tunneled else None)  # fmt: skip
    nets = np.array([0x0A000001, 0xAC100002, 0xC0A80003, 0x64400004, 0x08080808, 0x64000001],
                    dtype=np.uint64)  # fmt: skip
    for lo in (pb.src_lo, pb.dst_lo):
        lo[...] = np.uint64(0xFFFF00000000) | rng.choice(nets, n)
    v6 = rng.random(n) < 0.3
    pb.src_hi[v6] = rng.choice(
        np.array([0xFD00 << 48, 0x2001 << 48, 1], dtype=np.uint64), int(v6.sum())
    )
    pb.src_lo[v6] = rng.integers(0, 5, int(v6.sum())).astype(np.uint64)
    pb.ts[rng.random(n) < 0.05] = np.nan
    return pb


def test_flow_fill_twins_agree_on_random_flows() -> None:
    """_fast.flow_fill against _fill_numpy: the same table after filling random new rows
    from random first packets, SYNs, SYN-ACKs (or none), with and without tunnel keys;
    a row or packet out of range raises."""
    rng = np.random.default_rng(31)
    for n, m, tunneled in ((1, 1, False), (50, 20, True), (4000, 900, False), (4000, 1500, True)):
        pb = _fill_batch(rng, n, tunneled)
        src_first = flows._src_first(pb)
        tables = _table_pair(rng, 2000)
        created = rng.choice(2000, m, replace=False).astype(np.int64)
        fp = rng.integers(0, n, m)
        fs = np.where(rng.random(m) < 0.4, rng.integers(0, n, m), n)
        fsa = np.where(rng.random(m) < 0.4, rng.integers(0, n, m), n)
        flows._fill_compiled(tables[0].cols, created, fp, fs, fsa, pb, src_first)
        flows._fill_numpy(tables[1].cols, created, fp, fs, fsa, pb, src_first)
        for name in tables[0].cols:
            assert np.array_equal(tables[0].cols[name], tables[1].cols[name],
                                  equal_nan=True), (n, name)  # fmt: skip
    for bad_slot, bad_pkt in ((2000, 0), (-1, 0), (0, n), (0, -1)):
        with pytest.raises(ValueError):
            flows._fill_compiled(tables[0].cols, np.array([bad_slot]), np.array([bad_pkt]),
                                 np.array([n]), np.array([n]), pb, src_first)  # fmt: skip


def test_flow_verify_twins_agree_on_random_slots() -> None:
    """_fast.flow_verify against _verify_numpy: the same slots kept and collisions counted,
    the rows holding the group's tuple or a random one, in a tunnel or not, the table
    holding tunneled flows or not."""
    rng = np.random.default_rng(37)
    for n, m, tunneled, table_tunneled in (
        (1, 1, False, False), (300, 100, True, True), (3000, 1000, False, True),
        (3000, 1000, False, False), (3000, 1000, True, False),
    ):  # fmt: skip
        pb = _fill_batch(rng, n, tunneled)
        src_first = flows._src_first(pb)
        tables = _table_pair(rng, 2000)
        slots = np.where(rng.random(m) < 0.8, rng.choice(2000, m, replace=False), -1)
        first_pkt = rng.integers(0, n, m)
        stored = slots >= 0
        matching = stored & (rng.random(m) < 0.7)
        fs = np.full(int(matching.sum()), n)
        flows._fill_numpy(
            tables[0].cols, slots[matching], first_pkt[matching], fs, fs, pb, src_first
        )
        if not tunneled:
            tables[0].cols["tunnel"][slots[matching & (rng.random(m) < 0.8)]] = 0
        for name, col in tables[0].cols.items():
            tables[1].cols[name][...] = col
        a = flows._verify_compiled(tables[0].cols, slots, first_pkt, src_first, pb, table_tunneled)
        b = flows._verify_numpy(tables[1].cols, slots, first_pkt, src_first, pb, table_tunneled)
        assert np.array_equal(a[0], b[0]) and a[1] == b[1], n
        assert m == 1 or 0 < a[1] < int(stored.sum())
    with pytest.raises(ValueError):
        flows._verify_compiled(
            tables[0].cols, np.array([2000]), np.array([0]), src_first, pb, False
        )


def test_sweep_flags_twins_agree_on_random_tables() -> None:
    """_fast.sweep_flags against _sweep_flags_numpy: the same bits for random used rows
    (every state byte, TCP or not, NaN and infinite times, times at the thresholds), at
    random clocks; a slot out of range raises."""
    rng = np.random.default_rng(41)
    config = flows.FlowConfig()
    for rows, m in ((1, 1), (500, 300), (5000, 4000)):
        cols = _table_pair(rng, rows)[0].cols
        now = float(rng.random() * 5000)
        for name in ("last_ts", "first_ts"):
            col = cols[name]
            col[...] = now - rng.random(rows) * 5000
            col[rng.random(rows) < 0.05] = np.nan
            col[rng.random(rows) < 0.02] = -np.inf
            col[rng.random(rows) < 0.05] = now - rng.choice([30.0, 120.0, 600.0, 3600.0])
        cols["proto"][...] = rng.choice(np.array([6, 17, 1], dtype=np.uint8), rows)
        used = rng.choice(rows, m, replace=False).astype(np.int64)
        a = flows._sweep_flags_compiled(cols, used, now, config)
        b = flows._sweep_flags_numpy(cols, used, now, config)
        assert np.array_equal(a, b), rows
        assert m == 1 or all((a & bit).any() for bit in (1, 2, 4, 8))
    with pytest.raises(ValueError):
        flows._sweep_flags_compiled(cols, np.array([rows]), now, config)


def test_index_drop_twins_agree_on_random_indexes() -> None:
    """_fast.index_drop against _index_drop_numpy: the same index left after dropping
    random slots (some not in the index, repeated, none, all), and the marks it keeps from
    call to call left clear (a second drop of nothing keeps everything); a slot outside
    the table raises."""
    from detector import flowtable

    rng = np.random.default_rng(43)
    for capacity, n, m in ((1, 1, 1), (100, 60, 0), (5000, 3000, 800), (5000, 3000, 5000)):
        slots = rng.choice(capacity, n, replace=False).astype(np.int32)
        keys = np.sort(rng.integers(0, 2**63, n).astype(np.uint64))
        gone = rng.integers(0, capacity, m)
        a = flowtable._index_drop_compiled(keys, slots, gone, capacity)
        b = flowtable._index_drop_numpy(keys, slots, gone, capacity)
        assert all(
            x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b, strict=True)
        ), n
        assert m == 0 or a[0].shape[0] < n
        again = flowtable._index_drop_compiled(keys, slots, gone[:0], capacity)
        assert np.array_equal(again[0], keys) and np.array_equal(again[1], slots)
    with pytest.raises(ValueError):
        flowtable._index_drop_compiled(keys, slots, np.array([capacity]), capacity)
    again = flowtable._index_drop_compiled(keys, slots, gone[:0], capacity)
    assert np.array_equal(again[1], slots)  # the failed call left no mark either


def test_index_merge_twins_agree_on_random_indexes() -> None:
    """_fast.index_merge against _index_merge_numpy: the same index after merging random
    new keys (sorted; some equal to each other or to the index's, which np.insert puts
    first) into random indexes, empty ones too."""
    from detector import flowtable

    rng = np.random.default_rng(47)
    for n, k in ((0, 0), (0, 5), (5, 0), (1, 1), (3000, 800), (800, 3000)):
        pool = rng.integers(0, 2**64 - 1, 500, dtype=np.uint64)  # repeats, at both ends
        index_keys = np.sort(
            np.r_[rng.choice(pool, n // 2), rng.integers(0, 2**64 - 1, n - n // 2, dtype=np.uint64)]
        )
        index_slots = rng.integers(0, 10_000, n).astype(np.int32)
        keys = np.sort(
            np.r_[rng.choice(pool, k // 2), rng.integers(0, 2**64 - 1, k - k // 2, dtype=np.uint64)]
        )
        slots = rng.integers(0, 10_000, k)
        a = flowtable._index_merge_compiled(index_keys, index_slots, keys, slots)
        b = flowtable._index_merge_numpy(index_keys, index_slots, keys, slots)
        for x, y in zip(a, b, strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y), (n, k)


def _segments_by_hand(
    keys: np.ndarray,
    pb: flows.PacketBatch,
    src_first: np.ndarray,
    timeouts: flows.Timeouts,
    init: np.ndarray,
    init_latest: np.ndarray,
) -> tuple[list[tuple[int, int]], set[tuple[int, int]], int]:
    """The grouping's rule, packet by packet in capture order (as a sweep before every
    packet and _reuse_closed decide): per packet its (key, segment number of the key),
    the segments a packet joined over a gap past the close timeout or as a pure SYN, the
    segment being neither closed nor reusable, and how many cuts the close timeout or a
    SYN reuse made (within the idle timeout)."""
    current: dict[int, tuple[int, float, int]] = {}  # key -> (segment, its latest, state)
    out, joined, by_close = [], set(), 0
    for i, key in enumerate(keys.tolist()):
        t, f = float(pb.ts[i]), int(pb.flags[i])
        idle = timeouts[0] if pb.proto[i] == 6 else timeouts[1]
        if key not in current:
            seg, latest, state = 0, float(init_latest[i]), int(init[i]) & 14
        else:
            seg, latest, state = current[key]
            closed = bool(state & 8) or (state & 6) == 6
            syn = (f & 0x12) == 0x02
            reused = syn and bool(state & 10)  # a RST or side A's FIN: port reuse
            if latest < t - idle or (closed and latest < t - timeouts[2]) or reused:
                by_close += not latest < t - idle
                seg, state = seg + 1, 0  # the latest time stays the key's
            elif syn or latest < t - timeouts[2]:
                joined.add((key, seg))
        if f & 0x04:
            state |= 8
        if f & 0x01:
            state |= 2 if src_first[i] else 4
        current[key] = (seg, latest if not t > latest else t, state)
        out.append((key, seg))
    return out, joined, by_close


def test_flow_group_twins_cut_closed_flows_at_the_close_timeout() -> None:
    """TCP and UDP keys with FIN (either side), RST and SYN here and there, gaps around
    the close timeout (3 s) and the idle ones (10 s, 6 s), and a state carried in from the
    table at some keys' first packet, with or without a latest time carried in (later
    than the key's next packets here and there: times gone back): both twins give the groups a packet-by-packet sweep
    gives - a cut past the close timeout once a RST or a FIN from each side came, and at
    a pure SYN once a RST or side A's FIN came -, and mark the groups a packet joined
    over a close-length gap, or as a SYN, without either."""
    rng = np.random.default_rng(23)
    timeouts = (10.0, 6.0, 3.0)
    cut_by_close = recheck_seen = 0
    for n, spread, unsorted in ((3, 20.0, False), (400, 60.0, False), (4000, 200.0, True),
                                (4000, 120.0, False)):  # fmt: skip
        hosts = rng.integers(0, 3, size=(2, n))
        ts = rng.random(n) * spread
        ts = ts if unsorted else np.sort(ts)
        ts[rng.random(n) < 0.01] = np.nan
        pb = _random_batch(
            rng, ts, hosts, [6, 6, 17], [80, 3333], np.zeros(n, dtype=np.uint64), None
        )
        pb.flags[:] = rng.choice(np.array([0x10, 0x18, 0x11, 0x04, 0x02, 0x12], dtype=np.uint8),
                                 n, p=[0.5, 0.35, 0.06, 0.02, 0.04, 0.03])  # fmt: skip
        carried = rng.random(n) < 0.3  # read at a key's first packet only
        some = (rng.choice(np.array([0, 2, 4, 6, 8], dtype=np.uint8), n),
                np.where(carried, rng.random(n) * spread * 1.2, -np.inf))  # fmt: skip
        for init, init_latest in ((None, None), some, (some[0], None), (None, some[1])):
            a = flows._group_compiled(pb, timeouts, init, init_latest)
            b = flows._group_numpy(pb, timeouts, init, init_latest)
            for x, y in zip(a, b, strict=True):
                assert np.array_equal(x, y), n
            src_first, group, ukeys, _, _, _, after_gap, recheck = a
            keys = ukeys[group]
            by_hand, joined, by_close = _segments_by_hand(
                keys, pb, src_first, timeouts,
                np.zeros(n, np.uint8) if init is None else init,
                np.full(n, -np.inf) if init_latest is None else init_latest,
            )  # fmt: skip
            names = sorted(set(by_hand))
            assert group.tolist() == [names.index(s) for s in by_hand]
            assert recheck.tolist() == [s in joined for s in names]
            cut_by_close += by_close
            recheck_seen += int(recheck.sum())
    assert cut_by_close > 20 and recheck_seen > 5
