"""Behaviour state of TCP flows: messages, server pushes, answers, client request rhythm.

Why: a miner inside TLS gives nothing to read, but it keeps a rhythm no other program has
quite like it (docs/ARCHITECTURE.md §3, §4): one long-lived connection on which the pool
*pushes* a job every 5-300 s without being asked, and the client sends small submits, each
*answered* within a round trip. So the flow stage keeps, for every TCP flow and on every
packet (compiled: ``flow_behaviour`` in csrc/flow.c; without it the Python twin below, which
gives bit-identical columns), a few numbers about the flow's messages in the flow table
(the behaviour columns of flowtable.COLUMNS, 81 bytes per flow), and a finished flow's
record carries them packed in 83 bytes (``record_behaviours``; ``unpack`` gives the numbers
in ``FIELDS`` order).
features.py turns that into the model's features.

The rules, per payload packet of a TCP flow, in capture order:

* A **message** is a run of one side's payload packets: it ends when the other side
  sends payload or when the flow was silent for more than ``MESSAGE_GAP`` (no packet
  either way, pure ACKs included: a bulk sender waiting a round trip for ACKs keeps its
  message going). So a TLS record or an application write split over segments counts
  once. The *gap* of a message is the silence before it.
* A payload segment of the current message's side whose sequence number (low 16 bits)
  repeats the previous one's is a **retransmission** and is not counted (segments older
  than the previous one, and a retransmission after the other side spoke, still count:
  what 2 bytes per flow buy).
* A server message whose previous message was the server's too is a **push** (nobody
  asked since the last answer); one right after a client message is an **answer**, its
  delay the time from the start of that client message to its own start (an RTT for a
  pool acknowledging a share, seconds for HTTPS long-polling; measured from the request's
  start rather than from the silence before the answer, so that a pure ACK the server
  sends first does not hide it). Client messages' start times give the request rhythm.
  "Server" is the side the table's orientation (SYN, SYN-ACK, else ports) names when the
  message starts.
* Times are float32 seconds after the flow's first packet; interval sums are telescoped
  (last start - first start), squared intervals are summed from whole milliseconds, sums
  are rounded to float32 after each addition done in float64 (no fused multiply-add can
  change a bit: the products are integers), so the twins agree exactly.
* The push count crossing 1, 2 ... 8, 12, 24, 48, ... makes a **checkpoint**: the slot is
  reported (``flow_behaviour``'s return), so the session can score a flow in progress;
  so does the answer count (as ``record_behaviours`` counts answers) crossing 3, 6, 12,
  24 ... (``is_answer_checkpoint``: pollers are never pushed to).

UDP and other flows keep zeros. An active-timeout cut starts the state afresh (``RESET``).
"""

from __future__ import annotations

import struct
import sys

import numpy as np

from detector.compiled import fast
from detector.decode import PROTO_TCP

MESSAGE_GAP = 0.05  # seconds of silence that end a message
FIRST_MESSAGES = 8  # messages whose size and gap are kept one by one
MAX_SECONDS = 2_000_000.0  # intervals are clamped here (~23 days) so ms^2 fits int64

# The flow-table columns flow_behaviour writes, in its argument order (flowtable.COLUMNS
# documents each). ``last_ts`` comes first: it is moved on here for every packet of a
# flow, as flow_update does (max: the same result whichever runs first, or both in one
# loop as flows.place runs them).
COLUMNS = (
    "last_ts",
    "msg_side",
    "msg_bytes",
    "msg_seq",
    "msgs_a",
    "msgs_b",
    "msg_sq_a",
    "msg_sq_b",
    "first_size",
    "first_gap",
    "pushes",
    "push_first",
    "push_last",
    "push_sq",
    "push_hist",
    "answer_delay",
    "req_first",
    "req_last",
    "req_sq",
)
# The columns an active-timeout cut sets back to zero.
RESET = COLUMNS[1:]

# A record's behaviour, oriented client -> server (FlowRecord.behaviour, unpacked).
FIELDS = (
    "msgs_toserver",  # messages the client sent
    "msgs_toclient",
    "msg_sq_toserver",  # sum of squared message sizes, bytes^2
    "msg_sq_toclient",
    *(f"size_{k}" for k in range(1, FIRST_MESSAGES + 1)),  # + client, - server, 0 none
    *(f"gap_{k}" for k in range(1, FIRST_MESSAGES + 1)),  # silence before: log2 class
    "pushes",  # server messages that followed a server message
    "push_first",  # s after the flow's first packet: first and last push
    "push_last",
    "push_sq",  # sum of squared push-to-push intervals, s^2
    *(f"push_hist_{k}" for k in range(8)),  # intervals <2 s, 2-4, 4-8 ... 64-128, >=128 s
    "answers",  # server messages that followed a client message
    "answer_delay",  # their summed delays (client message start -> answer start), s
    "req_first",  # s after the first packet: the client's first and last message
    "req_last",
    "req_sq",  # sum of squared intervals between client messages, s^2
    "reoriented",  # 1: the record's client is not the side the table thought (see below)
)
# "reoriented": the record's orientation came from payload votes at the end and differs
# from the one the table used while counting; pushes, answers and requests then describe
# the other side (features.py leaves them out). Sizes and counts are re-oriented.

# A record holds its behaviour packed, FIELDS in order (83 bytes; a tuple of 38 Python
# numbers would be ~0.75 KB, and a scan ends up to 8,192 flows at once and ``flows --all``
# keeps every record): u32 counts, float32 sums and times, int16 sizes, u8 classes.
PACKED = struct.Struct("<IIff8h8BHfff8BIffffB")


def unpack(blob: bytes) -> tuple[int | float, ...]:
    """A record's behaviour (``FlowRecord.behaviour``) as numbers, in FIELDS order."""
    return PACKED.unpack(blob)


_F32 = struct.Struct("<f")


def f32(x: float) -> float:
    """``x`` rounded to float32 (round to nearest even, as the C cast)."""
    return _F32.unpack(_F32.pack(x))[0]


def gap_class(seconds: float) -> int:
    """A gap's class, 0-15: the bit length of its whole milliseconds (0: < 1 ms, 1: 1 ms,
    2: 2-3 ms, ... 15: >= 16.384 s). ``gap_seconds`` is its lower bound."""
    return min(15, _millis(seconds).bit_length())


def gap_seconds(level: int) -> float:
    """The lower bound of a gap class, in seconds (0 for class 0)."""
    return 0.0 if level <= 0 else (1 << (level - 1)) / 1000.0


def push_bin(millis: int) -> int:
    """The histogram bin of a push interval: <2 s, 2-4 s, 4-8 s ... 64-128 s, >=128 s."""
    return min(7, max(0, (millis // 1000).bit_length() - 1))


def is_checkpoint(pushes: int) -> bool:
    """1, 2 ... 8, then 12, 24, 48, ... pushes: a flow worth scoring while it goes on.
    The first push is the pool's second job (the first comes with the login's answer):
    jobs that follow new blocks come at random (exponential gaps), so a second push
    arrives later than three mean job intervals for up to a fifth of sessions, a first
    one for about one in twenty - scored from the first, 96.8 % of the held-out TLS miner
    addresses (every one that gets pushed jobs) were told of within three job intervals,
    against 94.0 % from the second (docs/ARCHITECTURE.md §12). Every push up to the
    eighth: a flow the model was not yet sure of gets its next chance one job later."""
    if 1 <= pushes <= 8:
        return True
    if pushes < 3 or pushes % 3:
        return False
    q = pushes // 3
    return q & (q - 1) == 0


def is_answer_checkpoint(answers: int) -> bool:
    """3, 6, 12, 24 ... answers: a flow that is only ever answered (a getwork or
    getblocktemplate poller, a long-poll connection: no pool pushes there) is worth
    scoring while it goes on too. Its third answer comes at two poll intervals after the
    first (the hello's answer) and the scorer is then within the three job intervals the
    model promises (docs/ARCHITECTURE.md §12); sparser than pushes' checkpoints because
    every keep-alive web connection is answered too, and each checkpoint costs a record."""
    if answers < 3 or answers % 3:
        return False
    q = answers // 3
    return q & (q - 1) == 0


def _millis(seconds: float) -> int:
    """Whole milliseconds of a duration (negative or NaN: 0; clamped at MAX_SECONDS)."""
    if not seconds > 0.0:
        return 0
    return int(min(seconds, MAX_SECONDS) * 1000.0)


def update_python(
    cols: dict[str, np.ndarray],
    slots: np.ndarray,
    src_first: np.ndarray,
    proto: np.ndarray,
    payload_len: np.ndarray,
    ts: np.ndarray,
    seq: np.ndarray,
) -> list[int]:
    """The Python twin of ``fast.flow_behaviour``: ``slots`` is each packet's flow slot
    (-1: none). Updates ``cols`` (the flow table's) and returns the slots that reached a
    checkpoint, once per crossing (flow by flow: the order is not the C helper's).

    Vectorised but for the message starts: after any payload packet the state holds that
    packet's side and sequence number (counted or not: a retransmission repeats both), so
    which packets are retransmissions, which continue a message and which start one is
    known for all of them at once; only the starts go through the per-message rules, one
    by one, each with the bytes of its whole run."""
    # last_ts moves on for every packet of a flow, as flow_update moves it: a TCP packet's
    # gap is from its flow's last packet, whatever its protocol (a flow's packets share
    # one, but for a 64-bit key collision), so that flow_update can do this work in its
    # own loop and agree with this twin in every case
    live = np.flatnonzero(slots >= 0)
    if live.shape[0] == 0:
        return []
    before_all = _last_before(slots[live], ts[live], cols["last_ts"])
    np.maximum.at(cols["last_ts"], slots[live], ts[live])
    tcp = proto[live] == PROTO_TCP
    idx = live[tcp]
    if idx.shape[0] == 0:
        return []
    pkt_slots = slots[idx]
    pkt_ts = ts[idx]
    before = before_all[tcp]
    pay = payload_len[idx] > 0
    if not pay.any():
        return []
    # the payload packets, flow by flow (capture order within a flow)
    sel = idx[pay]
    order = np.argsort(pkt_slots[pay], kind="stable")
    sel = sel[order]
    slot = pkt_slots[pay][order]
    t = pkt_ts[pay][order]
    gap = t - before[pay][order]
    side = np.where(src_first[sel], 1, 2).astype(np.int64)
    seq16 = (seq[sel] & 0xFFFF).astype(np.int64)
    length = np.minimum(payload_len[sel], 0xFFFFFFFF)
    n = slot.shape[0]
    head = np.r_[True, slot[1:] != slot[:-1]]  # a flow's first payload packet here
    prev_side = np.empty(n, dtype=np.int64)
    prev_seq = np.empty(n, dtype=np.int64)
    prev_side[1:], prev_seq[1:] = side[:-1], seq16[:-1]
    prev_side[head] = cols["msg_side"][slot[head]]
    prev_seq[head] = cols["msg_seq"][slot[head]]
    same = side == prev_side
    retrans = same & (seq16 == prev_seq)
    starts = ~retrans & ~(same & ~(gap > MESSAGE_GAP))  # (NaN times: one message, as C)
    counted = np.where(retrans, 0, length)
    # runs: from a message start (or a flow's first packet) to the next one
    run_head = starts | head
    run = np.cumsum(run_head) - 1
    run_bytes = np.add.reduceat(counted, np.flatnonzero(run_head))
    run_last = np.r_[np.flatnonzero(run_head)[1:], n] - 1
    # a flow's first run that continues the message in progress: add to it first
    carry = np.flatnonzero(head & ~starts)
    if carry.shape[0]:
        r = run[carry]
        s_ = slot[carry]
        total = cols["msg_bytes"][s_].astype(np.int64) + run_bytes[r]
        cols["msg_bytes"][s_] = np.minimum(total, 0xFFFFFFFF)
        cols["msg_seq"][s_] = seq16[run_last[r]]
    ev = np.flatnonzero(starts)
    if ev.shape[0] == 0:
        return []
    r = run[ev]
    return _messages(
        cols,
        slot[ev].tolist(),
        side[ev].tolist(),
        np.minimum(run_bytes[r], 0xFFFFFFFF).tolist(),
        seq16[run_last[r]].tolist(),
        t[ev].tolist(),
        gap[ev].tolist(),
    )


def _last_before(pkt_slots: np.ndarray, pkt_ts: np.ndarray, last_ts: np.ndarray) -> np.ndarray:
    """Per packet, its flow's last_ts just before it: the latest of the table's value and
    the times of the flow's earlier packets in this batch (a running max per flow)."""
    order = np.argsort(pkt_slots, kind="stable")
    s, t = pkt_slots[order], pkt_ts[order]
    first = np.r_[True, s[1:] != s[:-1]]
    prev = np.empty_like(t)
    prev[0] = -np.inf
    prev[1:] = t[:-1]
    prev[first] = -np.inf
    monotone = first[1:] | (t[1:] >= t[:-1])
    if not monotone.all():  # times go back within some flow: a running max, flow by flow
        starts = np.flatnonzero(first)
        ends = np.r_[starts[1:], s.shape[0]]
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            run = -np.inf
            for j in range(a, b):
                prev[j] = run
                run = max(run, t[j])
    before = np.maximum(prev, last_ts[s])
    out = np.empty_like(before)
    out[order] = before
    return out


def _messages(
    cols: dict[str, np.ndarray],
    slots: list[int],
    sides: list[int],
    sizes: list[int],
    seqs: list[int],
    times: list[float],
    gaps: list[float],
) -> list[int]:
    """The per-message rules (see the module docstring) for the message starts of a
    batch, flow by flow: each with its side, the bytes of its whole run, its run's last
    sequence number, its time and the silence before it. A flow's state is read into a
    Python list on first use and written back at the end."""
    state: dict[int, list] = {}
    checkpoints: list[int] = []
    client_is_a, first_ts = cols["client_is_a"], cols["first_ts"]
    for slot, side, size, seq16, t, gap in zip(slots, sides, sizes, seqs, times, gaps, strict=True):
        st = state.get(slot)
        if st is None:
            st = state[slot] = _read(cols, slot)
        cur = st[0]
        if cur:
            _close(st)
        k = st[3] + st[4]
        if k < FIRST_MESSAGES:
            st[8] |= gap_class(gap) << (4 * k)
        mi = 3 if side == 1 else 4
        st[mi] = min(st[mi] + 1, 0xFFFFFFFF)
        rel = f32(t - float(first_ts[slot]))
        server = 2 if client_is_a[slot] else 1
        if side == server:
            if cur == server:
                pushes = st[9]
                if pushes:
                    ms = _millis(rel - st[11])
                    st[12] = f32(st[12] + float(ms * ms) / 1e6)
                    hist = st[13]
                    b = push_bin(ms)
                    hist[b] = min(hist[b] + 1, 255)
                else:
                    st[10] = rel
                st[11] = rel
                if pushes < 0xFFFF:
                    st[9] = pushes + 1
                    if is_checkpoint(pushes + 1):
                        checkpoints.append(slot)
            elif cur:  # an answer: from the start of the client's message
                delay = rel - st[16]
                st[14] = f32(st[14] + (delay if delay > 0.0 else 0.0))
                first = st[7][0]
                first_is_server = first != 0 and (first < 0) == bool(client_is_a[slot])
                if is_answer_checkpoint(st[mi] - st[9] - first_is_server):
                    checkpoints.append(slot)
        else:
            if st[mi] == 1:
                st[15] = rel
            else:
                ms = _millis(rel - st[16])
                st[17] = f32(st[17] + float(ms * ms) / 1e6)
            st[16] = rel
        st[0], st[1], st[2] = side, size, seq16
    for slot, st in state.items():
        _write(cols, slot, st)
    return checkpoints


# The state list of one flow: positions of its values in _read/_write.
_SCALARS = (
    "msg_side",  # 0
    "msg_bytes",  # 1
    "msg_seq",  # 2
    "msgs_a",  # 3
    "msgs_b",  # 4
    "msg_sq_a",  # 5
    "msg_sq_b",  # 6
)


def _read(cols: dict[str, np.ndarray], slot: int) -> list:
    st: list = [cols[name][slot].item() for name in _SCALARS]
    st.append(cols["first_size"][slot].tolist())  # 7
    st.append(int(cols["first_gap"][slot]))  # 8
    st.append(int(cols["pushes"][slot]))  # 9
    st.append(float(cols["push_first"][slot]))  # 10
    st.append(float(cols["push_last"][slot]))  # 11
    st.append(float(cols["push_sq"][slot]))  # 12
    st.append(cols["push_hist"][slot].tolist())  # 13
    st.append(float(cols["answer_delay"][slot]))  # 14
    st.append(float(cols["req_first"][slot]))  # 15
    st.append(float(cols["req_last"][slot]))  # 16
    st.append(float(cols["req_sq"][slot]))  # 17
    return st


def _write(cols: dict[str, np.ndarray], slot: int, st: list) -> None:
    for i, name in enumerate(_SCALARS):
        cols[name][slot] = st[i]
    cols["first_size"][slot] = st[7]
    cols["first_gap"][slot] = st[8]
    cols["pushes"][slot] = st[9]
    cols["push_first"][slot] = st[10]
    cols["push_last"][slot] = st[11]
    cols["push_sq"][slot] = st[12]
    cols["push_hist"][slot] = st[13]
    cols["answer_delay"][slot] = st[14]
    cols["req_first"][slot] = st[15]
    cols["req_last"][slot] = st[16]
    cols["req_sq"][slot] = st[17]


def _close(st: list) -> None:
    """The message in progress ends: its size joins its side's spread and, among the
    first messages, the size list."""
    side, size = st[0], st[1]
    if side == 1:
        st[5] = f32(st[5] + float(size * size))
    else:
        st[6] = f32(st[6] + float(size * size))
    k = st[3] + st[4] - 1
    if 0 <= k < FIRST_MESSAGES:
        v = min(size, 0x7FFF)
        st[7][k] = v if side == 1 else -v


# A record's packed behaviour as a numpy record (PACKED's layout, field by field): the
# records of many flows are filled column-wise at once (record_behaviours).
PACKED_DTYPE = np.dtype(
    [
        ("msgs", "<u4", 2),
        ("msg_sq", "<f4", 2),
        ("size", "<i2", FIRST_MESSAGES),
        ("gap", "u1", FIRST_MESSAGES),
        ("pushes", "<u2"),
        ("push", "<f4", 3),  # first, last, sum of squared intervals
        ("push_hist", "u1", 8),
        ("answers", "<u4"),
        ("answer_delay", "<f4"),
        ("req", "<f4", 3),  # first, last, sum of squared intervals
        ("reoriented", "u1"),
    ]
)
assert PACKED_DTYPE.itemsize == PACKED.size


def record_behaviours(
    cols: dict[str, np.ndarray], slots: np.ndarray, client_is_a: np.ndarray
) -> list[bytes]:
    """Finished (or snapshot) flows' behaviour, packed (``PACKED``, ``FIELDS`` order), each
    oriented with its record's client (``client_is_a``, per slot): the table's values with
    the message in progress closed as if it ended now (as _close would close it, the sum
    of squares in float64 before its cast to float32). By the compiled record_behaviours
    (csrc/records.c) where it is built and the columns are as it reads them, else
    column-wise in numpy (``_record_behaviours_numpy``, its twin): a sweep ends a few
    hundred flows at a time, and the twin's ~50 whole-batch operations cost ~1 M
    instructions a call (callgrind, real-traffic bench)."""
    if fast is not None and _C_RECORDS and slots.shape[0]:
        columns = tuple(cols[name] for name in _RECORD_COLUMNS)
        typed = zip(columns, _RECORD_DTYPES, strict=True)
        if all(c.flags.c_contiguous and c.dtype == d for c, d in typed):
            return fast.record_behaviours(
                np.ascontiguousarray(slots, dtype=np.int64),
                np.ascontiguousarray(client_is_a, dtype=bool).view(np.uint8),
                columns,
            )
    return _record_behaviours_numpy(cols, slots, client_is_a)


# The flow-table columns the compiled record_behaviours reads, in its argument order, with
# the dtypes it reads them as (flowtable.COLUMNS'); and whether the packed layout is the
# one it writes (PACKED, little-endian host)
_RECORD_COLUMNS = ("client_is_a", "msg_side", "msg_bytes", "msgs_a", "msgs_b", "msg_sq_a",
                   "msg_sq_b", "first_size", "first_gap", "pushes", "push_first", "push_last",
                   "push_sq", "push_hist", "answer_delay", "req_first", "req_last",
                   "req_sq")  # fmt: skip
_RECORD_DTYPES = tuple(
    np.dtype(t) for t in ("?", "u1", "<u4", "<u4", "<u4", "<f4", "<f4", "<i2", "<u4", "<u2",
                          "<f4", "<f4", "<f4", "u1", "<f4", "<f4", "<f4", "<f4")
)  # fmt: skip
_C_RECORDS = sys.byteorder == "little" and PACKED.format == "<IIff8h8BHfff8BIffffB"


def _record_behaviours_numpy(
    cols: dict[str, np.ndarray], slots: np.ndarray, client_is_a: np.ndarray
) -> list[bytes]:
    """``record_behaviours`` column-wise in numpy, for all the flows at once (per flow in
    Python it cost ~5 us a flow): the compiled record_behaviours' twin."""
    n = int(slots.shape[0])
    if n == 0:
        return []
    table_a = cols["client_is_a"][slots].astype(bool)
    side = cols["msg_side"][slots]
    size = cols["msg_bytes"][slots].astype(np.int64)
    msgs_a = cols["msgs_a"][slots].astype(np.int64)
    msgs_b = cols["msgs_b"][slots].astype(np.int64)
    square = size.astype(np.float64) ** 2
    sq_a = cols["msg_sq_a"][slots].astype(np.float64) + np.where(side == 1, square, 0.0)
    sq_b = cols["msg_sq_b"][slots].astype(np.float64) + np.where(side == 2, square, 0.0)
    sizes = cols["first_size"][slots].astype(np.int64)
    k = msgs_a + msgs_b - 1
    open_msg = np.flatnonzero((side != 0) & (k >= 0) & (k < FIRST_MESSAGES))
    if open_msg.shape[0]:
        v = np.minimum(size[open_msg], 0x7FFF)
        sizes[open_msg, k[open_msg]] = np.where(side[open_msg] == 1, v, -v)
    # every server message is the first one, a push or an answer
    first = sizes[:, 0]
    first_is_server = (first != 0) & ((first < 0) == table_a)
    pushes = cols["pushes"][slots].astype(np.int64)
    server_msgs = np.where(table_a, msgs_b, msgs_a)
    answers = np.maximum(0, server_msgs - pushes - first_is_server)
    flip = ~client_is_a.astype(bool)
    out = np.zeros(n, dtype=PACKED_DTYPE)
    out["msgs"][:, 0] = np.where(flip, msgs_b, msgs_a)
    out["msgs"][:, 1] = np.where(flip, msgs_a, msgs_b)
    out["msg_sq"][:, 0] = np.where(flip, sq_b, sq_a)
    out["msg_sq"][:, 1] = np.where(flip, sq_a, sq_b)
    out["size"] = np.where(flip[:, None], -sizes, sizes)
    gaps = cols["first_gap"][slots].astype(np.uint32)
    out["gap"] = (gaps[:, None] >> (4 * np.arange(FIRST_MESSAGES, dtype=np.uint32))) & 15
    out["pushes"] = pushes
    out["push"][:, 0] = cols["push_first"][slots]
    out["push"][:, 1] = cols["push_last"][slots]
    out["push"][:, 2] = cols["push_sq"][slots]
    out["push_hist"] = cols["push_hist"][slots]
    out["answers"] = answers
    out["answer_delay"] = cols["answer_delay"][slots]
    out["req"][:, 0] = cols["req_first"][slots]
    out["req"][:, 1] = cols["req_last"][slots]
    out["req"][:, 2] = cols["req_sq"][slots]
    out["reoriented"] = client_is_a.astype(bool) != table_a
    blob, size_of = out.tobytes(), PACKED.size
    return [blob[i : i + size_of] for i in range(0, n * size_of, size_of)]
