"""Hashrate estimates of a suspect from what its flows showed (docs/ARCHITECTURE.md §13).

Above the suspect stage and below the sinks: every sink and the investigation report ask
the same question, so the method lives in one place.

A share is a hash below the pool's share target; a miner doing H hashes a second finds
shares of difficulty d at the rate H / (d x hashes per difficulty 1) - a Poisson process.
So the best estimate is the work the shares stand for, divided by the time they were found
in: ``sum over shares of (hashes a share of its job's difficulty takes) / seconds``, the
seconds being those in which the flows that carried them were open (a pause between two
sessions left out, concurrent flows counted once). The dissector adds each share's work
with the difficulty of the job it answered (dissect/mining.py, ``FlowFacts.work_*``), so a
pool changing the difficulty during the session (vardiff) is followed; multiplying the
last difficulty by the share count is not.

The 95 % interval rests on the share count being Poisson. With one difficulty it is the
exact (Garwood) interval on the count N - lower chi2(0.025; 2N) / 2, upper
chi2(0.975; 2N + 2) / 2 - times the hashes a share takes, over the time. With vardiff the
shares weigh differently (a share at 8x the difficulty stands for 8x the hashes, and its
count is 8x smaller, so its chance error weighs more): the sum of Poisson counts times
weights takes Fay and Feuer's gamma interval (Statistics in Medicine 16:791-801, 1997; R's
asht::wspoissonTest, wmtype "max") - shape y^2/v and scale v/y below, with the largest
share's weight w added above (y = the work, v = the sum of the squared weights) - which is
exactly the Garwood interval when every share weighs the same. It says how far chance
alone can move the count; it does not cover a wrong difficulty unit, so an estimate is only
given where the unit is documented:

* Stratum v1 (Bitcoin-style ``mining.set_difficulty``): difficulty 1 is the target
  0xffff x 2^208 (Bitcoin's difficulty-1 target; node-stratum-pool's ``diff1``), so
  2^256 / (0xffff x 2^208) = 2^48 / 65535 ~ 2^32 hashes a share - for SHA-256d coins.
  Scrypt pools scale the share target by 2^16 (node-stratum-pool lib/algoProperties.js:
  ``scrypt: multiplier: Math.pow(2, 16)``; cgminer's scrypt mode likewise), so a scrypt
  share of difficulty 1 takes ~2^16 hashes. Other algorithms' pools use other multipliers
  (node-stratum-pool: 2^8 for x16r, keccak, groestl...): unknown, said so.
* CryptoNote: the job's target says it - XMRig (Job::setTarget, Job::toDiff): difficulty
  = 0xFFFFFFFFFFFFFFFF / target64, a 4-byte target t standing for
  0xFFFFFFFFFFFFFFFF / (0xFFFFFFFF / t); CryptoNote difficulty is hashes per share.
* NiceHash EthereumStratum/1.0.0 (nicehash/Specifications, EthereumStratum_NiceHash_v1.0.0):
  "difficulty of 1 is transformed to target being in HEX: 00000000ffff0000...0000" -
  Bitcoin's difficulty-1 target again, so 2^48 / 65535 hashes a share; Ethash/Etchash only
  (other coins speaking it - kHeavyHash bridges - define their own).
* ETH proxy (eth_getWork [header, seed, boundary]): a share is a hash below the boundary,
  2^256 / boundary hashes on average.
* The post-Merge GPU coins (docs/ARCHITECTURE.md §3.z): a KAWPOW job carries the miner's
  share target (RavenCommunity/kawpow-stratum-pool lib/stratum.js: ``powLimit /
  difficulty`` in params[3]; kawpowminer takes it as the share boundary), an Ergo job
  too (oliverw/miningcore ErgoPool.cs ``SendJob``: ``Diff1 / difficulty`` in params[6],
  the difficulty sent as 1), and a NiceHash Octopus job its boundary: 2^256 / target
  hashes a share, the job's own (miningcore's Ergo pool hashrate adds 15 % for the
  miner's dataset generation; this does not). Kaspa's ``mining.set_difficulty``:
  onemorebsmith/kaspa-stratum-bridge hasher.go turns difficulty d into the target
  2^255 / (d x 2^31) (``BigDiffToLittle``; ``shareValue`` = 2^34 hashes for its fixed
  difficulty 4), so a share takes d x 2^32 hashes. Left unknown, with the reason:
  Alephium (the pool's configured ``diff1TargetNumZero``, alephium/mining-pool
  lib/stats.js, is not on the wire) and Equihash (solutions, not hashes, and
  ``mining.set_target`` not yet read as work).
* The client's own report (``eth_submitHashrate``, ``mining.hashrate``): a separate
  method, "client-reported" - a claim, not a measurement; used when shares say nothing.

A flow whose messages cannot be read (TLS, Stratum V2) shows its rhythm but not the
difficulty: its hashrate is unknown, never made up.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

from detector.dialects import (
    BROWSER_WS,
    CRYPTONOTE,
    ETH_GETWORK_HTTP,
    ETH_PROXY,
    ETHEREUM_STRATUM,
    STRATUM_V1,
)
from detector.suspects import (
    WORK_DIFF,
    WORK_HASHES,
    WORK_NONE,
    ShareWork,
    Suspect,
    union_spans,
)

CONFIDENCE = 0.95
# Hashes a share of difficulty 1 takes where the target of difficulty 1 is Bitcoin's
# 0xffff x 2^208: 2^256 / (0xffff x 2^208) = 2^48 / 65535 = 4,295,032,833.0 (~2^32).
DIFF1_BITCOIN = 2.0**48 / 0xFFFF
DIFF1_SCRYPT = DIFF1_BITCOIN / 2.0**16  # pools' 2^16 multiplier: ~65,537 (~2^16)
DIFF1_KASPA = 2.0**32  # kaspa-stratum-bridge: target 2^255 / (d x 2^31), so d x 2^32 hashes
_KASPA = dict.fromkeys(("kas", "kheavyhash"), (DIFF1_KASPA, "kHeavyHash"))

# Hashes per difficulty unit, by dialect, for the coins and algorithms (lower case) whose
# pools' difficulty 1 is documented (see the module docstring).
UNIT_HASHES: dict[str, dict[str, tuple[float, str]]] = {
    STRATUM_V1: {
        **dict.fromkeys(("btc", "bch", "bsv", "sha256d", "sha256"), (DIFF1_BITCOIN, "SHA-256d")),
        **dict.fromkeys(("ltc", "doge", "scrypt"), (DIFF1_SCRYPT, "scrypt")),
        **_KASPA,
    },
    ETHEREUM_STRATUM: {
        **dict.fromkeys(("eth", "etc", "ethash", "etchash"), (DIFF1_BITCOIN, "Ethash")),
        **_KASPA,  # the bridge answers subscribe with "EthereumStratum/1.0.0"
    },
}
# How a unit is read where it is not the dialect's usual (DIFF_METHOD), by algorithm.
UNIT_METHOD = {"kHeavyHash": "share difficulty x 2^32 (kaspa-stratum-bridge)"}
# How each dialect's targets said their hash count (WORK_HASHES).
TARGET_METHOD = {
    CRYPTONOTE: "job target -> difficulty (XMRig's toDiff)",
    BROWSER_WS: "the pool's CryptoNote job target -> difficulty (XMRig's toDiff)",
    ETH_PROXY: "work package boundary: 2^256 / boundary",
    ETH_GETWORK_HTTP: "work package boundary: 2^256 / boundary",
    # KAWPOW, Ergo and Octopus jobs carry their share target (dissect/flavours.py)
    STRATUM_V1: "the job's share target: 2^256 / target",
    ETHEREUM_STRATUM: "the job's share target: 2^256 / target",
}
DIFF_METHOD = {
    STRATUM_V1: "share difficulty x 2^48/65535",
    ETHEREUM_STRATUM: "set_difficulty x 2^48/65535 (NiceHash EthereumStratum/1.0.0)",
}


@dataclass(frozen=True, slots=True)
class HashrateEstimate:
    """A suspect's hashrate: the best estimate, its 95 % interval, and how it was made.

    ``hs`` None means unknown (``method`` says why): never a made-up number."""

    hs: float | None  # best estimate, hashes/s; None = unknown
    low: float | None  # 95 % interval (Poisson on the share count)
    high: float | None
    method: str  # human-readable: how it was computed, or why it is unknown
    shares: int  # shares the estimate rests on
    seconds: float  # time span it rests on


def estimate(s: Suspect) -> HashrateEstimate:
    """The suspect's best hashrate estimate: from its shares where their difficulty is
    known, else what the client reported, else unknown with the reason."""
    return estimates(s)[0]


def estimates(s: Suspect) -> list[HashrateEstimate]:
    """Every estimate that applies, best first: from shares (measured), then the
    client's own report (claimed); at least one (an unknown one, with its reason)."""
    found = []
    shares = from_shares(s)
    if shares.hs is not None:
        found.append(shares)
    reported = client_reported(s)
    if reported is not None:
        if shares.hs is None:  # say why the shares did not tell
            reported = replace(reported, method=f"{reported.method}; from shares: {shares.method}")
        found.append(reported)
    return found or [shares]


def client_reported(s: Suspect) -> HashrateEstimate | None:
    """What the miner itself reported (the largest report of its flows), if it did."""
    rate = s.reported_hashrate
    if rate is None or not math.isfinite(rate) or rate < 0:
        return None
    seconds = max(s.last_seen - s.first_seen, 0.0)
    return HashrateEstimate(
        rate,
        None,
        None,
        "client-reported (eth_submitHashrate / mining.hashrate): the miner's own claim, "
        "not measured; no interval",
        0,
        seconds,
    )


def from_shares(s: Suspect) -> HashrateEstimate:
    """Work of the shares whose difficulty is known / the time their flows ran, with
    the Poisson interval on their count; unknown (with the reason) if there are none."""
    used: list[tuple[float, ShareWork, str]] = []  # (hashes per unit, work, how)
    left_out: list[str] = []
    for key in sorted(s.work):
        work = s.work[key]
        dialect, kind, label = key.split("|", 2)
        per_unit, how, why_not = _unit(dialect, kind, label, work)
        if per_unit is not None and work.shares > 0 and work.amount > 0:
            used.append((per_unit, work, how))
        elif why_not:
            left_out.append(why_not)
    if s.unread_flows:
        left_out.append(
            f"{_count(s.unread_flows, 'flow')} unreadable (TLS or binary): share rate may "
            "show, difficulty does not"
        )
    if not used:
        return HashrateEstimate(
            None, None, None, "unknown: " + ("; ".join(left_out) or "no shares seen"),
            s.submits, 0.0,
        )  # fmt: skip
    total = sum(per_unit * work.amount for per_unit, work, _ in used)
    square = sum(per_unit * per_unit * work.square for per_unit, work, _ in used)
    top = max(per_unit * work.top for per_unit, work, _ in used)
    count = sum(work.shares for _, work, _ in used)
    spans: list[tuple[float, float]] = []
    for _, work, _ in used:
        spans = union_spans(spans, work.spans)
    seconds = sum(end - start for start, end in spans)  # while its flows ran
    if not seconds > 0 or not math.isfinite(seconds):
        return HashrateEstimate(
            None, None, None, f"unknown: {_count(count, 'share')} seen in no time span",
            count, 0.0,
        )  # fmt: skip
    low, high = weighted_poisson_interval(total, square, top, CONFIDENCE)
    hows = sorted({how for _, _, how in used})
    spread = "Poisson (Garwood) interval on the share count"
    if square * count > total * total * (1 + 1e-9):
        spread = "interval on the shares' Poisson counts weighted by difficulty (Fay-Feuer)"
    method = (
        f"shares x difficulty / time: {_count(count, 'share')} in {seconds:.0f} s "
        f"({'; '.join(hows)}; each share at its job's difficulty); "
        f"{CONFIDENCE:.0%} {spread}"
    )
    cut = sum(work.cut for _, work, _ in used)
    if cut:
        method += f"; share counting cut short on {_count(cut, 'flow')}: a lower bound"
    if left_out:
        method += "; not counted: " + "; ".join(left_out)
    return HashrateEstimate(total / seconds, low / seconds, high / seconds, method, count, seconds)


def _unit(dialect: str, kind: str, label: str, work: ShareWork) -> tuple[float | None, str, str]:
    """(hashes one unit of the work stands for, or None; how; why not)."""
    shares = _count(work.shares, f"{dialect} share")
    if kind == WORK_HASHES:
        return 1.0, TARGET_METHOD.get(dialect, f"{dialect} target"), ""
    if kind == WORK_DIFF:
        unit = UNIT_HASHES.get(dialect, {}).get(label.lower())
        if unit is None:
            coin = "an unidentified coin" if label == "?" else f"coin/algorithm {label!r}"
            return (
                None,
                "",
                f"{shares} of {coin}: the hash count of a share of difficulty 1 depends on "
                "the algorithm and is documented here for SHA-256d, scrypt, Ethash and "
                "kHeavyHash only",
            )
        per_unit, algo = unit
        return per_unit, UNIT_METHOD.get(algo, f"{DIFF_METHOD[dialect]} ({algo})"), ""
    if kind == WORK_NONE and work.shares:
        return None, "", f"{shares} without a known difficulty or target"
    return None, "", ""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def poisson_interval(n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The exact (Garwood) interval on the mean of a Poisson count ``n``: the lower bound
    solves P(X >= n) = a/2, the upper P(X <= n) = a/2 (a = 1 - confidence), i.e. half the
    chi-square quantiles chi2(a/2; 2n) and chi2(1 - a/2; 2n + 2).

    Computed here from the regularized incomplete gamma function (P(k, x) = P(X >= k)
    for X ~ Poisson(x)) rather than with scipy: importing scipy.special costs 0.3-0.45 s
    a process (measured here), which every scan with a miner would pay; a test checks
    these values against scipy.stats.chi2."""
    if n < 0:
        raise ValueError("a count cannot be negative")
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if n == 0 else _gamma_p_inverse(float(n), tail)
    high = _gamma_p_inverse(float(n + 1), 1.0 - tail)
    return low, high


def weighted_poisson_interval(
    total: float, square: float, top: float, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Fay and Feuer's gamma interval on the mean of a weighted sum of Poisson counts
    (see the module docstring): ``total`` = sum of the weights of the events (the work),
    ``square`` = sum of their squares, ``top`` = the largest weight. With n events of one
    weight w it is w x ``poisson_interval(n)``."""
    tail = (1.0 - confidence) / 2.0
    low = 0.0
    if total > 0 and square > 0:
        low = square / total * _gamma_p_inverse(total * total / square, tail)
    grown, grown_sq = total + top, square + top * top
    high = grown_sq / grown * _gamma_p_inverse(grown * grown / grown_sq, 1.0 - tail)
    return low, high


# the standard normal quantiles asked for, each computed once, on first use - not at
# import, since statistics brings random, hashlib, fractions and decimal (~13 M
# instructions of every start-up, callgrind) while only a scan with a miner's shares needs
# a quantile. The two tails at CONFIDENCE, which every interval asks for, are written out:
# NormalDist().inv_cdf's own values (tests/test_startup.py checks them), so a scan that
# reports a hashrate does not import statistics either (~10 M instructions).
_TAIL = (1.0 - CONFIDENCE) / 2.0
_NORMAL_QUANTILE: dict[float, float] = {_TAIL: -1.9599639845400536, 1.0 - _TAIL: 1.9599639845400536}


def _normal_quantile(p: float) -> float:
    """The standard normal quantile of ``p`` (statistics.NormalDist), remembered."""
    z = _NORMAL_QUANTILE.get(p)
    if z is None:
        from statistics import NormalDist

        z = NormalDist().inv_cdf(p)
        if len(_NORMAL_QUANTILE) < 64:
            _NORMAL_QUANTILE[p] = z
    return z


@functools.lru_cache(maxsize=4096)
def _gamma_p_inverse(a: float, p: float) -> float:
    """x with P(a, x) = p: Newton's method from the Wilson-Hilferty approximation, kept
    inside the bracket it has narrowed (bisection when a step would leave it).

    Memoized (bounded): a pure function of two floats, asked again for each sink and
    window of a suspect and for suspects with the same share counts (the generated bench
    input: 108 distinct in 254 calls, each some 50 series or fraction terms)."""
    z = _normal_quantile(p)
    x = a * (1.0 - 1.0 / (9.0 * a) + z / (3.0 * math.sqrt(a))) ** 3
    if not x > 0.0:  # small shapes: P(a, x) ~ x^a / Gamma(a + 1) near 0
        x = math.exp((math.log(p) + math.lgamma(a + 1.0)) / a)
    lo, hi = 0.0, math.inf
    for _ in range(200):
        miss = _gamma_p(a, x) - p
        if miss < 0.0:
            lo = x
        else:
            hi = x
        density = math.exp((a - 1.0) * math.log(x) - x - math.lgamma(a))
        step = miss / density if density > 0.0 else math.inf
        guess = x - step
        if not lo < guess < hi:
            guess = (lo + hi) / 2.0 if hi < math.inf else 2.0 * x
        if abs(guess - x) <= 1e-15 * x:
            return guess
        x = guess
    return x


def _gamma_p(a: float, x: float) -> float:
    """The regularized lower incomplete gamma function P(a, x): its series below
    x = a + 1, its continued fraction (modified Lentz) above, where each converges fast."""
    if x <= 0.0:
        return 0.0
    lead = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        n = a
        for _ in range(100_000):
            n += 1.0
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return min(1.0, total * math.exp(lead))
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = d if abs(d) > tiny else tiny
        c = b + an / c
        c = c if abs(c) > tiny else tiny
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(lead) * h)


def hashrate_estimate(s: Suspect) -> float | None:
    """The best estimate in hashes/s, None if unknown (``estimate(s).hs``)."""
    return estimate(s).hs
