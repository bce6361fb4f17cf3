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
from collections.abc import Iterable, Sequence

import numpy as np

from detector.behaviour import FIELDS, gap_seconds, unpack
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

_B = {name: i for i, name in enumerate(FIELDS)}
_SIZES = slice(_B["size_1"], _B["size_8"] + 1)
_GAPS = slice(_B["gap_1"], _B["gap_8"] + 1)
_HIST = slice(_B["push_hist_0"], _B["push_hist_7"] + 1)
_NO_BEHAVIOUR = (NAN,) * (
    FEATURE_NAMES.index("server_port_class") - FEATURE_NAMES.index("msgs_toserver")
)
_NO_TLS = (NAN,) * 9  # tls ... tls_self_signed


def flow_features(record: FlowRecord) -> np.ndarray:
    """The features of one flow, in FEATURE_NAMES order (float32)."""
    return np.array(_values(record), dtype=np.float32)


def features_matrix(records: Sequence[FlowRecord] | Iterable[FlowRecord]) -> np.ndarray:
    """The features of many flows, one row each (float32, shape (n, len(FEATURE_NAMES)))."""
    rows = [_values(r) for r in records]
    if not rows:
        return np.empty((0, len(FEATURE_NAMES)), dtype=np.float32)
    return np.array(rows, dtype=np.float32)


def _values(r: FlowRecord) -> tuple[float, ...]:
    duration = r.duration
    return (
        duration,
        r.pkts_toserver,
        r.pkts_toclient,
        r.bytes_toserver,
        r.bytes_toclient,
        r.payload_toserver,
        r.payload_toclient,
        _per(r.pkts_toserver, duration),
        _per(r.pkts_toclient, duration),
        _per(r.payload_toserver, duration),
        _per(r.payload_toclient, duration),
        _per(r.payload_toclient, r.payload_toserver + r.payload_toclient),
        *_behaviour(r, duration),
        _port_class(r.server_port),
        *_tls(r),
    )


def _behaviour(r: FlowRecord, duration: float) -> tuple[float, ...]:
    if r.behaviour is None:
        return _NO_BEHAVIOUR
    b = unpack(r.behaviour)
    msgs_c, msgs_s = b[_B["msgs_toserver"]], b[_B["msgs_toclient"]]
    sizes = [float(v) if k < msgs_c + msgs_s else NAN for k, v in enumerate(b[_SIZES])]
    gaps = [gap_seconds(v) if k < msgs_c + msgs_s else NAN for k, v in enumerate(b[_GAPS])]
    head = (
        msgs_c,
        msgs_s,
        _per(r.payload_toserver, msgs_c),
        _per(r.payload_toclient, msgs_s),
        _std(b[_B["msg_sq_toserver"]], msgs_c, _per(r.payload_toserver, msgs_c)),
        _std(b[_B["msg_sq_toclient"]], msgs_s, _per(r.payload_toclient, msgs_s)),
        _per(msgs_c, duration),
        _per(msgs_s, duration),
        *sizes,
        *gaps,
    )
    if b[_B["reoriented"]]:  # pushes, answers and requests are the other side's
        return head + (NAN,) * 12
    pushes, answers = b[_B["pushes"]], b[_B["answers"]]
    intervals = pushes - 1
    push_mean = _per(b[_B["push_last"]] - b[_B["push_first"]], intervals) if intervals else NAN
    hist = b[_HIST]
    counted = sum(hist)
    top = max(hist)
    reqs = msgs_c - 1
    req_mean = _per(b[_B["req_last"]] - b[_B["req_first"]], reqs) if reqs > 0 else NAN
    return head + (
        pushes,
        _per(pushes, duration),
        _per(pushes, msgs_s),
        push_mean,
        _cv(b[_B["push_sq"]], intervals, push_mean),
        float(hist.index(top)) if counted else NAN,
        top / counted if counted else NAN,
        answers,
        _per(b[_B["answer_delay"]], answers),
        _per(answers, msgs_c),
        req_mean,
        _cv(b[_B["req_sq"]], reqs, req_mean),
    )


def read_in_clear(r: FlowRecord) -> bool:
    """The flow was inspected and was not TLS (its ``tls`` feature is 0): a dissector read
    what it says. The model's answer gate leaves such flows to the rules (model.py)."""
    f = r.facts
    if f is None:
        return False
    return not f.tls or ("tls" not in (f.app_protos or ()) and "ja3" not in f.tls)


def _tls(r: FlowRecord) -> tuple[float, ...]:
    f = r.facts
    if f is None:
        return _NO_TLS + (NAN,)
    pool = 1.0 if f.pool else 0.0
    tls = f.tls
    if read_in_clear(r):
        return (0.0,) + _NO_TLS[1:] + (pool,)
    version = tls.get("version") or tls.get("client_version")
    certificate = "subject" in tls
    return (
        1.0,
        TLS_VERSIONS.get(version, NAN) if version else NAN,
        1.0 if tls.get("sni") else 0.0,
        1.0 if tls.get("alpn") else 0.0,
        1.0 if tls.get("ja3") else 0.0,
        1.0 if tls.get("ja4") else 0.0,
        1.0 if tls.get("ja3") == COINMINER_JA3 else 0.0,
        1.0 if certificate else 0.0,
        (1.0 if tls.get("self_signed") else 0.0) if certificate else NAN,
        pool,
    )


def _port_class(port: int) -> float:
    if port in MINING_PORTS:
        return 2.0
    if port < 1024:
        return 0.0
    return 1.0 if port < 49152 else 3.0


def _per(x: float, n: float) -> float:
    """x / n, NaN when n is not positive."""
    return x / n if n > 0 else NAN


def _std(sum_sq: float, n: int, mean: float) -> float:
    """Standard deviation from a sum of squares, a count and a mean (never negative)."""
    if n <= 0 or mean != mean:
        return NAN
    return math.sqrt(max(0.0, sum_sq / n - mean * mean))


def _cv(sum_sq: float, n: int, mean: float) -> float:
    """Coefficient of variation from a sum of squares, a count and a mean."""
    if n <= 0 or not mean > 0:
        return NAN
    return _std(sum_sq, n, mean) / mean
