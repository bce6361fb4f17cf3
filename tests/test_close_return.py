"""A TCP 5-tuple back after the close timeout (30 s) of a flow that closed - a RST, or a
FIN from each side, as the sweep takes it - starts a new flow, and the old one ends
"closed": whether the gap falls inside one packet batch, across a batch boundary the
sweep before it was too early to catch (the close seen in the first batch, or its second
FIN only in the next: the state the table carries in), or between batches where the
sweep caught it - the same flows, field for field, through ``minewatch flows --all``,
compiled and pure (MINEWATCH_PURE=1) alike. A return just under the close timeout keeps
one flow, and so does one after a FIN from one side only (not closed); a SYN back after
the close timeout starts the new flow as the port reuse of a closed flow does, and a SYN
before it (after a RST, or the client's FIN) starts one at the SYN, the packets before
it staying with the old flow, in one batch as across two."""

from __future__ import annotations

from pathlib import Path

from detector.source.batch import MAX_BATCH_PACKETS
from tests.test_idle_return import (
    ACK,
    CLIENT,
    OTHER,
    POOL,
    T0,
    _by_port,
    _conversation,
    _filler,
    _flows,
    _ours,
    _resumed,
    _split_scan_ends_the_same_flows,
    _tcp,
    _write,
)

FIN, RST = 0x01, 0x04


def _fins(at: float, sport: int, client: bool = True, server: bool = True) -> list:
    """The close of a conversation on ``sport``: the client's FIN, the server's, the last ACK."""
    out = []
    if client:
        out.append((at, _tcp(CLIENT, sport, POOL, 3333, 112, FIN | ACK)))
    if server:
        out.append((at + 0.01, _tcp(POOL, 3333, CLIENT, sport, 513, FIN | ACK)))
        out.append((at + 0.02, _tcp(CLIENT, sport, POOL, 3333, 113, ACK)))
    return out


def _reset(at: float, sport: int) -> list:
    return [(at, _tcp(CLIENT, sport, POOL, 3333, 112, RST))]


def _records() -> list:
    return [
        *_conversation(T0, 41001), *_fins(T0 + 1, 41001),  # FINs, back after 100 s: two
        *_resumed(T0 + 101, 41001),
        *_conversation(T0, 41002), *_reset(T0 + 1, 41002),  # RST, back after 100 s: two
        *_resumed(T0 + 101, 41002),
        *_conversation(T0, 41003), *_fins(T0 + 1, 41003),  # back 29.9 s after: one
        *_resumed(T0 + 1.02 + 29.9, 41003),
        *_conversation(T0, 41004), *_reset(T0 + 1, 41004),  # back 29.9 s after: one
        *_resumed(T0 + 1 + 29.9, 41004),
        *_conversation(T0, 41005), *_fins(T0 + 1, 41005),  # a new SYN after 59 s: two
        *_conversation(T0 + 60, 41005),
        *_conversation(T0, 41006), *_fins(T0 + 1, 41006, server=False),  # half-closed: one
        *_resumed(T0 + 101, 41006),
        *_conversation(T0, 41007), *_fins(T0 + 1, 41007, server=False),  # the server's FIN
        *_fins(T0 + 20, 41007, client=False),  # 19 s later, back after 100 s: two
        *_resumed(T0 + 120, 41007),
        *_conversation(T0, 41008), *_reset(T0 + 1, 41008),  # a new SYN 4 s after a RST:
        *_conversation(T0 + 5, 41008), *_resumed(T0 + 60, 41008),  # two, the second open
        *_conversation(T0, 41009), *_fins(T0 + 1, 41009, server=False),  # the client's FIN,
        (T0 + 12, _tcp(CLIENT, 41009, POOL, 3333, 113, ACK)),  # a late ACK of the old one,
        *_conversation(T0 + 15, 41009),  # a new SYN (the old flow's state carried in)
    ]  # fmt: skip


def _case(tmp_path: Path, name: str, boundary_at: float | None) -> Path:
    """One file, in time order. ``boundary_at`` None: one batch; else the first batch
    holds the packets up to that time (filled up to a batch's worth)."""
    records = _records()
    if boundary_at is not None:
        before = sum(1 for ts, _ in records if ts < boundary_at)
        records = records + _filler(MAX_BATCH_PACKETS - before, T0 + 2, boundary_at)
    return _write(tmp_path / f"{name}.pcap", records)


def test_back_after_the_close_timeout_is_a_new_flow(tmp_path: Path) -> None:
    cases = {
        "inside": None,  # one batch
        "across": T0 + 10,  # the sweep at T0 + 10 is too early; 41007's second FIN next
        "closed-before": T0 + 25,  # every close in the first batch, its sweep too early
        "swept": T0 + 90,  # the sweep at T0 + 90 ends them first
    }
    paths = {name: _case(tmp_path, name, at) for name, at in cases.items()}
    runs = {(name, pure): _ours(_flows(path, pure)) for name, path in paths.items()
            for pure in (False, True)}  # fmt: skip
    reference = runs[("swept", False)]
    assert all(OTHER not in (r["src_ip"], r["dest_ip"]) for r in reference)
    flows = _by_port(reference)
    for port in (41001, 41002, 41005, 41007, 41008, 41009):  # two flows
        first, second = flows[port]
        assert first["end_reason"] == "closed", port
        assert first["flow_id"] != second["flow_id"]
        assert first["flow"]["end"] < second["flow"]["start"], port
    # a SYN on a reset or client-FINed flow's ports: the new flow starts at it (port reuse)
    assert [r["flow"]["pkts_toserver"] for r in flows[41008]] == [4, 4]
    assert [r["flow"]["pkts_toserver"] for r in flows[41009]] == [5, 3]
    assert flows[41008][1]["end_reason"] == "end"  # 55 s quiet after the SYN: not closed
    assert [r["flow"]["pkts_toserver"] for r in flows[41001]] == [5, 1]
    assert [r["flow"]["pkts_toserver"] for r in flows[41002]] == [4, 1]
    assert [r["flow"]["pkts_toserver"] for r in flows[41005]] == [5, 3]
    assert [r["flow"]["pkts_toclient"] for r in flows[41007]] == [3, 1]
    assert flows[41005][1]["orientation"] == "syn"
    for port, packets in ((41003, 6), (41004, 5), (41006, 5)):  # one flow
        [one] = flows[port]
        assert one["flow"]["pkts_toserver"] == packets, port
    for key, records in runs.items():
        assert records == reference, key


def test_the_same_flows_with_a_split_scan(tmp_path: Path) -> None:
    """Two workers (a split scan) end the flows in the order one session does."""
    _split_scan_ends_the_same_flows(_case(tmp_path, "inside", None), 15)


def _quiet_records() -> list:
    """Flows that close (FINs from both sides, a RST) and then the capture goes quiet for
    longer than the idle timeout (600 s), one of them back on its 5-tuple after that; a
    flow closed by one side only (not closed) for contrast."""
    return [
        *_conversation(T0, 42001), *_fins(T0 + 1, 42001),  # closed, never back
        *_conversation(T0, 42002), *_reset(T0 + 1, 42002),  # reset, never back
        *_conversation(T0, 42003), *_fins(T0 + 1, 42003),  # closed, back after 700 s
        *_resumed(T0 + 701, 42003),
        *_conversation(T0, 42004), *_fins(T0 + 1, 42004, server=False),  # half-closed
        *_conversation(T0 + 1000, 42005),  # what moves the clock on
    ]  # fmt: skip


def test_closed_then_quiet_past_the_idle_timeout_ends_closed(tmp_path: Path) -> None:
    """A flow that closed ends "closed" whenever the sweep first meets it past the close
    timeout - at T0 + 90, or only at T0 + 700 or later because no batch ended in between
    (the capture went quiet), or at its 5-tuple's return - as Zeek's connection state
    does not depend on when its timer fired. A flow only one side closed ends "idle"."""
    records = _quiet_records()
    early = sum(1 for ts, _ in records if ts < T0 + 90)
    late = sum(1 for ts, _ in records if ts < T0 + 700)
    paths = {
        "inside": _write(tmp_path / "inside.pcap", records),  # first sweep at T0 + 1000
        "swept": _write(tmp_path / "swept.pcap",  # the sweep at T0 + 90 ends them
                        records + _filler(MAX_BATCH_PACKETS - early, T0 + 2, T0 + 90)),
        "late": _write(tmp_path / "late.pcap",  # the first sweep after the close: T0 + 700
                       records + _filler(MAX_BATCH_PACKETS - late, T0 + 2, T0 + 700)),
    }  # fmt: skip
    runs = {(name, pure): _ours(_flows(path, pure)) for name, path in paths.items()
            for pure in (False, True)}  # fmt: skip
    reference = runs[("swept", False)]
    flows = _by_port(reference)
    for port in (42001, 42002, 42003):
        assert flows[port][0]["end_reason"] == "closed", port
    assert len(flows[42003]) == 2
    assert [r["end_reason"] for r in flows[42004]] == ["idle"]
    for key, found in runs.items():
        assert found == reference, key


def test_closed_then_quiet_with_a_split_scan(tmp_path: Path) -> None:
    """Two workers end the closed-then-quiet flows as one session does."""
    _split_scan_ends_the_same_flows(_write(tmp_path / "quiet.pcap", _quiet_records()), 6)
