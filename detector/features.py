"""A flow's model features: one float32 vector per FlowRecord, pure and documented.

Why here and not in the flow stage: the flow table keeps compact raw state (counts, sums,
times; behaviour.py) because it pays for it on every packet; the ratios, means and spreads
a model wants are worked out once per record. The vector comes from the record's counters,
its behaviour (``FlowRecord.behaviour``, behaviour.FIELDS) and, for a flow whose
payload was inspected, its TLS facts. A value that does not apply (a rate of a flow with no
duration, the TLS version of a flow that is not TLS, push intervals of a flow with fewer
than two pushes) is NaN, which HistGradientBoosting treats as missing rather than as a
number. ``FEATURES`` documents each (docs/ARCHITECTURE.md §11 has the same table); the
order of ``FEATURE_NAMES`` is the vector's, and a model records it.

Nothing here decides anything: the features describe a flow's rhythm (pushes, answers,
requests), its sizes and its TLS hello, and a model weighs them (docs/ARCHITECTURE.md §4).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from itertools import chain
from operator import attrgetter

import numpy as np

from detector.behaviour import PACKED_DTYPE
from detector.compiled import fast
from detector.flows import FlowRecord

NAN = math.nan

# Ports mining pools listen on (docs/ARCHITECTURE.md §3); a weak feature: any port works.
MINING_PORTS = frozenset({3333, 4444, 5555, 7777, 9999, 14433, 14444, 45700})
# abuse.ch's CoinMiner JA3, the one public miner fingerprint (a hint: OpenSSL clients share it)
COINMINER_JA3 = "40adfd923eb82b89d8836ba37a19bca1"
TLS_VERSIONS = {"SSLv3": 0.0, "TLSv1": 1.0, "TLSv1.1": 2.0, "TLSv1.2": 3.0, "TLSv1.3": 4.0}

# (name, meaning). "toserver": sent by the client; "toclient": by the server.
FEATURES: tuple[tuple[str, str], ...] = (
    ("duration", "seconds from the first to the last packet"),
    ("pkts_toserver", "packets client -> server"),
    ("pkts_toclient", "packets server -> client"),
    ("bytes_toserver", "wire bytes client -> server"),
    ("bytes_toclient", "wire bytes server -> client"),
    ("payload_toserver", "TCP/UDP payload bytes client -> server"),
    ("payload_toclient", "payload bytes server -> client"),
    ("pkt_rate_toserver", "packets per second client -> server (NaN: no duration)"),
    ("pkt_rate_toclient", "packets per second server -> client"),
    ("payload_rate_toserver", "payload bytes per second client -> server"),
    ("payload_rate_toclient", "payload bytes per second server -> client"),
    ("payload_share_toclient", "server's share of the payload bytes, 0..1"),
    ("msgs_toserver", "client messages (a run of one side's payload, see behaviour.py)"),
    ("msgs_toclient", "server messages"),
    ("msg_mean_toserver", "mean client message size, bytes (payload / messages)"),
    ("msg_mean_toclient", "mean server message size, bytes"),
    ("msg_std_toserver", "standard deviation of client message sizes, bytes"),
    ("msg_std_toclient", "standard deviation of server message sizes (near 0: constant jobs)"),
    ("msg_rate_toserver", "client messages per second (submits, requests)"),
    ("msg_rate_toclient", "server messages per second"),
    *((f"size_{k}", f"size of message {k}, + client / - server, bytes") for k in range(1, 9)),
    *((f"gap_{k}", f"silence before message {k}, s (log2 class floor)") for k in range(1, 9)),
    ("pushes", "server messages after a server message: nobody asked (jobs)"),
    ("push_rate", "pushes per second"),
    ("push_share", "pushes / server messages"),
    ("push_interval_mean", "mean push-to-push interval, s (the pool's job period)"),
    ("push_interval_cv", "its coefficient of variation (jitter; small: a clock)"),
    ("push_period_bin", "the commonest push interval class: 0 <2 s, 1 2-4 s ... 7 >=128 s"),
    ("push_period_share", "share of push intervals in that class (periodicity strength)"),
    ("answers", "server messages right after a client message"),
    ("answer_delay_mean", "mean request start -> answer, s (an RTT: acknowledged submits)"),
    ("pairing_ratio", "answers / client messages (requests that got an answer)"),
    ("req_interval_mean", "mean interval between client messages, s"),
    ("req_interval_cv", "its coefficient of variation (Poisson submits ~1, pollers ~0)"),
    ("server_port_class", "0 well-known <1024, 1 registered, 2 a pool port, 3 >=49152"),
    ("tls", "1 TLS was seen, 0 inspected and not TLS, NaN not inspected"),
    ("tls_version", "negotiated (else offered) version: 0 SSLv3, 1 TLS 1.0 ... 4 TLS 1.3"),
    ("tls_sni", "1 the ClientHello named a server (SNI)"),
    ("tls_alpn", "1 the ClientHello offered ALPN"),
    ("tls_ja3", "1 a JA3 was computed (a ClientHello was read)"),
    ("tls_ja4", "1 a JA4 was computed"),
    ("tls_ja3_coinminer", "1 the JA3 is abuse.ch's CoinMiner one (shared by OpenSSL clients)"),
    ("tls_certificate", "1 a certificate was read (TLS <= 1.2 full handshakes)"),
    ("tls_self_signed", "1 that certificate is self-signed, 0 not, NaN none read"),
    ("pool_listed", "1 a pool list names the server (SNI, DNS, host or IP)"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in FEATURES)

_NO_TLS = (NAN,) * 9  # tls ... tls_self_signed
# A record's times and counts as features_matrix reads them: first_ts, then last_ts in
# the column of the duration made from them, then the counts in FEATURE_NAMES order.
_COUNTED = attrgetter(
    "first_ts", "last_ts", "pkts_toserver", "pkts_toclient", "bytes_toserver",
    "bytes_toclient", "payload_toserver", "payload_toclient", "server_port",
)  # fmt: skip
_COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}
_BEHAVIOUR = slice(_COLUMN["msgs_toserver"], _COLUMN["server_port_class"])
_RHYTHM = slice(_COLUMN["pushes"], _COLUMN["server_port_class"])  # NaN when reoriented
_TLS = slice(_COLUMN["tls"], len(FEATURE_NAMES))
_MINING_PORTS = np.array(sorted(MINING_PORTS), dtype=np.float64)
# The packed behaviour's layout as the compiled behaviour_features reads it (field
# offsets, record size, little-endian); another layout takes the numpy twin
_C_LAYOUT = (
    sys.byteorder == "little"
    and PACKED_DTYPE.itemsize == 83
    and [PACKED_DTYPE.fields[name][1] for name in PACKED_DTYPE.names]
    == [0, 8, 16, 32, 40, 42, 54, 62, 66, 70, 82]
    and _BEHAVIOUR.stop - _BEHAVIOUR.start == 36
)


def flow_features(record: FlowRecord) -> np.ndarray:
    """The features of one flow, in FEATURE_NAMES order (float32)."""
    return features_matrix((record,))[0]


def features_matrix(
    records: Sequence[FlowRecord] | Iterable[FlowRecord], packed: np.ndarray | None = None
) -> np.ndarray:
    """The features of many flows, one row each (float32, shape (n, len(FEATURE_NAMES))).

    Column-wise for all the rows at once: the model scores thousands of flows per batch
    (every checkpoint of every flow the gate lets through), and this ran at ~35 us a row
    in Python, a fifth of the model's cost on the bench (bench/RESULTS.md). Every value
    is worked out in float64, in the order the per-flow formulas in the comments give,
    and only then cast to float32. ``packed``: every record's behaviour, already packed
    (behaviour.PACKED_DTYPE, one row per record), as the model's gate has it. The count
    and behaviour columns are filled by compiled helpers where they are built
    (csrc/trees.c: count_features, behaviour_features; their twins here): for a batch's
    few hundred rows, numpy's ~150 calls cost more than the arithmetic."""
    records = list(records)
    n = len(records)
    out = np.full((n, len(FEATURE_NAMES)), NAN, dtype=np.float64)
    if n == 0:
        return out.astype(np.float32)
    times = _record_rows(records, out)
    counts = times[:, 1:]
    # max(0.0, last_ts - first_ts): fmax, as max, keeps 0.0 over a NaN
    counts[:, 0] = np.fmax(0.0, times[:, 1] - times[:, 0])
    if fast is not None:  # columns 0-11 and the port class in one call (the twin's ~35)
        fast.count_features(times, _MINING_PORTS, out, _COLUMN["server_port_class"])
    else:
        _count_columns(counts, out)
    if packed is not None:  # every record's behaviour, packed by the caller (model.gate)
        out[:, _BEHAVIOUR] = _behaviour_columns(packed, counts)
    else:
        with_behaviour = [i for i, r in enumerate(records) if r.behaviour is not None]
        if with_behaviour:
            blobs = b"".join([records[i].behaviour for i in with_behaviour])  # type: ignore[misc]
            rows = np.array(with_behaviour)
            behaviour = np.frombuffer(blobs, dtype=PACKED_DTYPE)
            out[rows, _BEHAVIOUR] = _behaviour_columns(behaviour, counts[rows])
    return out.astype(np.float32)


def _record_rows(records: list[FlowRecord], out: np.ndarray) -> np.ndarray:
    """The records' times and counts (``_COUNTED``, rows x 9, float64) and, into ``out``,
    their TLS columns (``_tls``): read off the records by the compiled record_rows
    (csrc/trees.c) where it is built - the Python per row (_tls and nineteen values
    through np.fromiter) cost ~10,000 instructions a scored row (callgrind, real-traffic
    bench) - else by its twin, ``_record_rows_python``."""
    if fast is not None:
        times = np.empty((len(records), 9))
        try:
            fast.record_rows(records, times, out, _TLS.start, TLS_VERSIONS, COINMINER_JA3)
            return times
        except TypeError:  # (TLS facts that are not a dict: the twin reads them)
            pass
    return _record_rows_python(records, out)


def _record_rows_python(records: list[FlowRecord], out: np.ndarray) -> np.ndarray:
    """``_record_rows`` in Python: the compiled record_rows' twin."""
    n = len(records)
    # np.fromiter over the values in row order: np.array of a list of tuples finds out
    # their shape and types element by element first (the same float64 values either way).
    # Each row's values by one attrgetter call (in C, not a generator's Python per row).
    times = np.fromiter(
        chain.from_iterable(map(_COUNTED, records)), dtype=np.float64, count=n * 9
    ).reshape(n, 9)
    width = _TLS.stop - _TLS.start
    out[:, _TLS] = np.fromiter(
        chain.from_iterable(map(_tls, records)), dtype=np.float64, count=n * width
    ).reshape(n, width)
    return times


def _count_columns(counts: np.ndarray, out: np.ndarray) -> None:
    """Columns 0-11 (duration ... payload_share_toclient) and server_port_class of ``out``
    from features_matrix's ``counts`` (the duration, then the counts in FEATURE_NAMES
    order, then the server port); the twin of the compiled count_features."""
    duration = counts[:, 0]
    pay_c, pay_s = counts[:, 5], counts[:, 6]
    out[:, :7] = counts[:, :7]
    out[:, 7] = _per(counts[:, 1], duration)
    out[:, 8] = _per(counts[:, 2], duration)
    out[:, 9] = _per(pay_c, duration)
    out[:, 10] = _per(pay_s, duration)
    out[:, 11] = _per(pay_s, pay_c + pay_s)
    out[:, _COLUMN["server_port_class"]] = _port_class(counts[:, 7])


def _behaviour_columns(b: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``_behaviour``, by the compiled behaviour_features where it is built (the same
    bits: tests/test_behaviour.py): the numpy twin is ~120 calls a batch, which for the
    few hundred rows of a batch cost more than the arithmetic (callgrind, real-traffic
    bench: ~60 % of the feature matrix)."""
    if fast is None or not _C_LAYOUT:
        return _behaviour(b, counts)
    cols = np.empty((b.shape[0], _BEHAVIOUR.stop - _BEHAVIOUR.start))
    picked = np.ascontiguousarray(counts[:, (0, 5, 6)])  # duration, payload both ways
    fast.behaviour_features(np.ascontiguousarray(b), picked, cols)
    return cols


def _behaviour(b: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The behaviour columns (msgs_toserver ... req_interval_cv) of packed records ``b``
    (behaviour.PACKED_DTYPE) with their records' counts (features_matrix's ``counts``)."""
    duration, pay_c, pay_s = counts[:, 0], counts[:, 5], counts[:, 6]
    msgs_c = b["msgs"][:, 0].astype(np.float64)
    msgs_s = b["msgs"][:, 1].astype(np.float64)
    mean_c, mean_s = _per(pay_c, msgs_c), _per(pay_s, msgs_s)
    # message k (0-based) was kept when k < all messages; NaN after
    kept = np.arange(b["size"].shape[1]) < (msgs_c + msgs_s)[:, None]
    level = b["gap"].astype(np.int64)
    gaps = np.where(level > 0, np.ldexp(1.0, np.maximum(level, 1) - 1) / 1000.0, 0.0)
    head = np.column_stack(
        (
            msgs_c,
            msgs_s,
            mean_c,
            mean_s,
            _std(b["msg_sq"][:, 0].astype(np.float64), msgs_c, mean_c),
            _std(b["msg_sq"][:, 1].astype(np.float64), msgs_s, mean_s),
            _per(msgs_c, duration),
            _per(msgs_s, duration),
            np.where(kept, b["size"].astype(np.float64), NAN),
            np.where(kept, gaps, NAN),
        )
    )
    pushes = b["pushes"].astype(np.float64)
    intervals = pushes - 1
    push = b["push"].astype(np.float64)  # first, last, sum of squared intervals
    push_mean = _per(push[:, 1] - push[:, 0], intervals)
    hist = b["push_hist"].astype(np.float64)
    counted = hist.sum(axis=1)
    top = hist.max(axis=1)
    some = counted > 0
    answers = b["answers"].astype(np.float64)
    reqs = msgs_c - 1
    req = b["req"].astype(np.float64)
    req_mean = _per(req[:, 1] - req[:, 0], reqs)
    rhythm = np.column_stack(
        (
            pushes,
            _per(pushes, duration),
            _per(pushes, msgs_s),
            push_mean,
            _cv(push[:, 2], intervals, push_mean),
            np.where(some, hist.argmax(axis=1), NAN),
            _per(top, counted),
            answers,
            _per(b["answer_delay"].astype(np.float64), answers),
            _per(answers, msgs_c),
            req_mean,
            _cv(req[:, 2], reqs, req_mean),
        )
    )
    # reoriented: pushes, answers and requests are the other side's
    rhythm[b["reoriented"] != 0] = NAN
    return np.column_stack((head, rhythm))


def read_in_clear(r: FlowRecord) -> bool:
    """The flow was inspected and was not TLS (its ``tls`` feature is 0): a dissector read
    what it says. The model's answer gate leaves such flows to the rules (model.py)."""
    f = r.facts
    if f is None:
        return False
    return not f.tls or ("tls" not in (f.app_protos or ()) and "ja3" not in f.tls)


_NO_FACTS = _NO_TLS + (NAN,)  # _tls of a record without facts
_CLEAR = {pool: (0.0,) + _NO_TLS[1:] + (pool,) for pool in (0.0, 1.0)}  # ... read in clear


def _tls(r: FlowRecord) -> tuple[float, ...]:
    # (its tuples made once, the dict's get bound once and the JA3 read once: it runs for
    # every row the model scores)
    f = r.facts
    if f is None:
        return _NO_FACTS
    pool = 1.0 if f.pool else 0.0
    tls = f.tls
    # read_in_clear(r), spelled out: a call fewer for every row the model scores
    if not tls or ("tls" not in (f.app_protos or ()) and "ja3" not in tls):
        return _CLEAR[pool]
    get = tls.get
    version = get("version") or get("client_version")
    ja3 = get("ja3")
    certificate = "subject" in tls
    return (
        1.0,
        TLS_VERSIONS.get(version, NAN) if version else NAN,
        1.0 if get("sni") else 0.0,
        1.0 if get("alpn") else 0.0,
        1.0 if ja3 else 0.0,
        1.0 if get("ja4") else 0.0,
        1.0 if ja3 == COINMINER_JA3 else 0.0,
        1.0 if certificate else 0.0,
        (1.0 if get("self_signed") else 0.0) if certificate else NAN,
        pool,
    )


def _port_class(port: np.ndarray) -> np.ndarray:
    """0 well-known (<1024), 1 registered, 2 a pool port, 3 dynamic (>=49152)."""
    cls = np.where(port < 1024, 0.0, np.where(port < 49152, 1.0, 3.0))
    return np.where(np.isin(port, _MINING_PORTS), 2.0, cls)


def _per(x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """x / n, NaN where n is not positive."""
    return np.divide(x, n, out=np.full(np.shape(x), NAN), where=n > 0)


def _std(sum_sq: np.ndarray, n: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Standard deviation from sums of squares, counts and means (never negative; NaN
    where there is no count or no mean)."""
    ok = (n > 0) & ~np.isnan(mean)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.maximum(0.0, sum_sq / n - mean * mean)
    return np.where(ok, np.sqrt(np.where(ok, var, 0.0)), NAN)


def _cv(sum_sq: np.ndarray, n: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Coefficient of variation from sums of squares, counts and means."""
    ok = (n > 0) & (mean > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cv = _std(sum_sq, n, mean) / mean
    return np.where(ok, cv, NAN)
