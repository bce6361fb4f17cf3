"""Hashrate estimates against miners of known hashrate, end to end through the CLI.

The captures come from detector/synth/rated.py: a miner at hashrate H whose shares fall at
Poisson times with rate H / (hashes a share of the difficulty in force takes), with a
vardiff step in the middle of the session, in every dialect whose difficulty has a
documented hash count. ``minewatch scan -f jsonl --eve-extended`` must report an interval
that holds H, count every share of the session (each run is far past the 16 KB a
direction that inspection reads of other flows), weigh each share at its job's difficulty
(a method that ignores vardiff must fall outside the interval), and say "unknown" where
the difficulty cannot be seen. The activity timeline must hold each generated job and
share in its minute, and two captures merged must equal one capture of both.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from detector import activity
from detector.dialects import CRYPTONOTE, ETH_PROXY, ETHEREUM_STRATUM, STRATUM_V1
from detector.dissect.inspector import InspectConfig, Inspector
from detector.hashrate import (
    DIFF1_BITCOIN,
    DIFF1_SCRYPT,
    poisson_interval,
    weighted_poisson_interval,
)
from detector.synth.rated import RatedCapture, rated_miner
from tests.conftest import PCAPS, REPO, meta, run_cli

MODEL = REPO / "models" / "minewatch.skops"

# (name, dialect, H/s, vardiff steps, coin, hashes per difficulty unit as the test reads
# the protocol). Each session: 1200 s, ~200 shares before its step and ~25 after (8x the
# difficulty), so that "last difficulty x shares" is ~4.5x too high, "first difficulty x
# shares" ~0.56x too low.
SESSIONS = [
    ("btc", STRATUM_V1, 1.5e12, [(0, 1024), (600, 8192)], "BTC", DIFF1_BITCOIN),
    ("ltc", STRATUM_V1, 7.0e8, [(0, 65536)], "LTC", DIFF1_SCRYPT),
    ("xmr", CRYPTONOTE, 1000.0, [(0, 3000), (600, 24000)], "BTC", 1.0),
    ("eth", ETHEREUM_STRATUM, 1.4e9, [(0, 1.0), (600, 8.0)], "BTC", DIFF1_BITCOIN),
    ("proxy", ETH_PROXY, 1.3e9, [(0, 4e9), (600, 32e9)], "BTC", 1.0),
]
SECONDS = 1200.0


def _scan(*paths: Path | str, jobs: str = "1", model: str = "none") -> dict[str, dict]:
    result = run_cli("scan", "-q", "-f", "jsonl", "--eve-extended", "-j", jobs,
                     "--model", model, *map(str, paths))
    assert result.rc == 0, result.err
    return {e["src_ip"]: e for e in result.events()}


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, RatedCapture], dict]:
    """Every session as a capture of its own client, scanned in one run."""
    folder = tmp_path_factory.mktemp("rated")
    captures = {}
    for k, (name, dialect, rate, vardiff, coin, _) in enumerate(SESSIONS):
        cap = rated_miner(dialect, rate, SECONDS, name, vardiff=vardiff, coin=coin,
                          client=f"10.77.0.{10 + k}", start=k * 7.0)
        (folder / f"{name}.pcap").write_bytes(cap.pcap)
        captures[name] = cap
    tls = PCAPS / "tls-xmrig-socks5-stratum-ssl.pcap"  # XMRig inside TLS (generated)
    # the real XMRig over TLS: a suspect by the flow model's verdict on its rhythm
    real_tls = _scan(PCAPS / "realset" / "xmrig-rx0-tls-14433.pcap", model=str(MODEL))
    ghostrider = PCAPS / "stratum-v1-ghostrider-cpuminer-gr-sll2.pcap"
    reported = rated_miner(ETHEREUM_STRATUM, 2.0e9, 600.0, "silent", vardiff=[(0, 2.0)],
                           client="10.77.0.30", announce_difficulty=False, reported=2.1e9)
    (folder / "silent.pcap").write_bytes(reported.pcap)
    both = rated_miner(ETH_PROXY, 1.3e9, 600.0, "both", vardiff=[(0, 4e9)],
                       client="10.77.0.31", reported=9.9e9)
    (folder / "both.pcap").write_bytes(both.pcap)
    captures["silent"], captures["both"] = reported, both
    events = _scan(folder, tls, ghostrider)
    return captures, events | real_tls


def _record(events: dict, cap: RatedCapture) -> dict:
    return events[cap.client]["mining"]


@pytest.mark.parametrize("name", [s[0] for s in SESSIONS])
def test_interval_holds_the_true_hashrate(rated, name: str) -> None:
    captures, events = rated
    cap = captures[name]
    m = _record(events, cap)
    assert m["hashrate_low"] <= cap.hashrate <= m["hashrate_high"], (name, m)
    assert m["hashrate_low"] < m["hashrate_estimate"] < m["hashrate_high"]
    assert m["hashrate_method"].startswith("shares x difficulty / time")
    assert m["hashrate_shares"] == len(cap.shares)
    # the flat EVE form says the same (lists of strings)
    event = events[cap.client]
    assert float(meta(event, "mining_hashrate_low")[0]) == m["hashrate_low"]
    assert meta(event, "mining_hashrate_method") == [m["hashrate_method"]]


@pytest.mark.parametrize("name", [s[0] for s in SESSIONS])
def test_every_share_and_job_of_the_session_is_counted(rated, name: str) -> None:
    """Far past the 16 KB of payload a direction that inspection reads of other flows."""
    captures, events = rated
    cap = captures[name]
    m = _record(events, cap)
    event = events[cap.client]
    assert event["flow"]["bytes_toserver"] > 2 * 16 * 1024  # the budget would have cut it
    assert m["submits"] == len(cap.shares)
    assert m["jobs"] == len(cap.jobs)


@pytest.mark.parametrize("name", [s[0] for s in SESSIONS])
def test_each_share_weighs_its_jobs_difficulty(rated, name: str) -> None:
    """The estimate is the generated shares' own work over the session's time; methods
    that ignore vardiff (the last or the first difficulty for every share) fall outside
    the interval."""
    captures, events = rated
    cap = captures[name]
    m = _record(events, cap)
    unit = next(s[5] for s in SESSIONS if s[0] == name)
    if cap.dialect == CRYPTONOTE:  # CryptoNote difficulty as XMRig reads the 4-byte target
        work = sum((2**32 - 1) // ((2**32 - 1) // int(d)) for d in cap.difficulties)
    elif cap.dialect == ETH_PROXY:  # 2^256 / boundary, the boundary being 2^256 // d
        work = sum(float((1 << 256) // ((1 << 256) // int(d))) for d in cap.difficulties)
    else:
        work = sum(d * unit for d in cap.difficulties)
    assert m["hashrate_estimate"] == pytest.approx(work / m["hashrate_seconds"], rel=1e-9)
    assert m["hashrate_seconds"] == pytest.approx(cap.end - cap.start, abs=1e-3)
    if len({d for _, d in next(s[3] for s in SESSIONS if s[0] == name)}) > 1:
        last, first = cap.difficulties[-1], cap.difficulties[0]
        for wrong in (last, first):
            naive = len(cap.shares) * wrong * unit / m["hashrate_seconds"]
            assert not m["hashrate_low"] <= naive <= m["hashrate_high"], (name, wrong)
        assert "Fay-Feuer" in m["hashrate_method"]
    else:
        assert "Garwood" in m["hashrate_method"]


def test_activity_holds_each_job_and_share_in_its_minute(rated) -> None:
    captures, events = rated
    for name, cap in captures.items():
        expected: dict[float, list[int]] = {}
        for times, column in ((cap.jobs, 0), (cap.shares, 1)):
            for t in times:
                start = (round(t * 1e6) // 60_000_000) * 60.0  # pcap microseconds
                expected.setdefault(start, [0, 0])[column] += 1
        buckets = _record(events, cap)["activity"]
        assert {start: [j, s] for start, width, j, s in buckets} == expected, name
        assert {width for _, width, _, _ in buckets} == {60.0}
        flat = meta(events[cap.client], "mining_activity")
        assert flat == [f"{b[0]:.0f}/{b[1]:.0f}/{b[2]}/{b[3]}" for b in buckets]


def test_tls_wrapped_and_undocumented_difficulty_are_unknown(rated) -> None:
    _, events = rated
    for ip in ("10.1.9.21", "10.213.8.2"):  # XMRig in TLS: generated, then the real one
        event = events[ip]
        assert "mining_hashrate_estimate" not in event["alert"]["metadata"]
        method = meta(event, "mining_hashrate_method")[0]
        assert method.startswith("unknown: ") and "unreadable (TLS" in method, method
        assert event["mining"]["hashrate_low"] is None
    ghostrider = events["10.44.0.12"]["mining"]  # Stratum v1, not SHA-256d/scrypt
    assert ghostrider["hashrate_estimate"] is None and ghostrider["submits"] > 0
    assert "documented here for SHA-256d, scrypt, Ethash and kHeavyHash only" in ghostrider["hashrate_method"]


def test_client_reported_is_a_separate_method(rated) -> None:
    captures, events = rated
    silent = _record(events, captures["silent"])  # shares, but no difficulty seen
    assert silent["hashrate_estimate"] == 2.1e9 and silent["hashrate_reported"] == 2.1e9
    assert silent["hashrate_method"].startswith("client-reported")
    assert silent["hashrate_low"] is None and silent["hashrate_shares"] == 0
    both = _record(events, captures["both"])  # shares measure it; the claim stays beside
    assert both["hashrate_reported"] == 9.9e9
    assert both["hashrate_low"] <= 1.3e9 <= both["hashrate_high"]
    assert both["hashrate_method"].startswith("shares x difficulty")


def test_two_captures_merge_to_what_one_capture_of_both_gives(tmp_path: Path) -> None:
    """One miner, two sessions in one hour: scanned as two files by two worker processes
    and as one file holding both, the suspect's counts, timeline and estimate agree."""
    first = rated_miner(CRYPTONOTE, 800.0, 900.0, "merge-a", vardiff=[(0, 3000), (450, 12000)],
                        client="10.77.1.2")
    second = rated_miner(CRYPTONOTE, 800.0, 900.0, "merge-b", vardiff=[(0, 6000)],
                         client="10.77.1.2", client_port=41002, start=1500.0)
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "a.pcap").write_bytes(first.pcap)
    (parts / "b.pcap").write_bytes(second.pcap)
    (tmp_path / "ab.pcap").write_bytes(first.pcap + second.pcap[24:])  # b is all later
    merged = _scan(parts, jobs="2")["10.77.1.2"]["mining"]
    whole = _scan(tmp_path / "ab.pcap")["10.77.1.2"]["mining"]
    for key in ("jobs", "submits", "flow_count", "activity", "hashrate_shares",
                "hashrate_method", "hashrate_seconds"):
        assert merged[key] == whole[key], key
    for key in ("hashrate_estimate", "hashrate_low", "hashrate_high"):
        assert merged[key] == pytest.approx(whole[key], rel=1e-12), key
    assert merged["submits"] == len(first.shares) + len(second.shares)
    assert merged["hashrate_low"] <= 800.0 <= merged["hashrate_high"]


# -- the parts, without captures ------------------------------------------------------------


def test_intervals_match_scipy_chi_square() -> None:
    """chi2(p; 2n) / 2 is the gamma quantile of shape n: scipy's gammaincinv(n, p)."""
    from scipy.special import gammaincinv

    for n in (0, 1, 2, 5, 17, 100, 1000, 20_000):
        low, high = poisson_interval(n)
        assert low == pytest.approx(gammaincinv(n, 0.025) if n else 0.0, rel=1e-10)
        assert high == pytest.approx(gammaincinv(n + 1, 0.975), rel=1e-10)
        w = 3.5  # one weight: the weighted interval is the same, scaled
        weighted = weighted_poisson_interval(n * w, n * w * w, w)
        assert weighted == pytest.approx((w * low, w * high), rel=1e-10)


def test_interval_coverage_with_vardiff() -> None:
    """Simulated sessions (no capture): the interval holds the truth about 95 % of the time
    whether the difficulty is one or changes 8x; the count's plain Poisson interval scaled
    by the mean work per share would not (it is too narrow once shares weigh differently)."""
    rng = np.random.default_rng(18)
    for segments in ([(1200.0, 1.0)], [(600.0, 1.0), (600.0, 8.0)]):
        held = naive_held = 0
        runs = 500
        for _ in range(runs):
            total = square = top = 0.0
            count = 0
            for seconds, weight in segments:
                k = int(rng.poisson(seconds * 0.1 / weight))  # H = 0.1/s, a share w hashes
                total, square, count = total + k * weight, square + k * weight**2, count + k
                top = max(top, weight) if k else top
            span = sum(s for s, _ in segments)
            low, high = weighted_poisson_interval(total, square, top)
            held += low / span <= 0.1 <= high / span
            plain_low, plain_high = poisson_interval(count)
            per_share = total / count if count else 0.0
            naive_held += plain_low * per_share / span <= 0.1 <= plain_high * per_share / span
        assert 0.92 <= held / runs <= 0.99, segments
        if len(segments) > 1:
            assert naive_held / runs < 0.88, segments


def test_activity_merges_exactly_whatever_the_split() -> None:
    """Random events cut into flows and captures at random: adding each flow's events,
    merging flows into suspects and suspects into one gives what adding every event to
    one timeline gives, also when buckets coarsen past the cap."""
    rng = random.Random(7)
    for cap in (4, 16, 256):
        events = sorted((1_767_600_000 + rng.uniform(0, 20_000), rng.randint(0, 2),
                         rng.randint(0, 3)) for _ in range(400))
        whole: list = []
        for ts, jobs, shares in events:
            whole = activity.add(whole, ts, jobs, shares, cap)
        flows: list[list] = [[] for _ in range(6)]
        for ts, jobs, shares in events:
            i = rng.randrange(6)
            flows[i] = activity.add(flows[i], ts, jobs, shares, cap)
        rng.shuffle(flows)
        left = right = []
        for k, flow in enumerate(flows):
            if k % 2:
                left = activity.merge(left, flow, cap)
            else:
                right = activity.merge(right, flow, cap)
        assert activity.merge(right, left, cap) == whole, cap
        assert len(whole) <= cap and activity.totals(whole) == (
            sum(e[1] for e in events), sum(e[2] for e in events))
        width = whole[0][1]
        assert math.log2(width / activity.BASE_SECONDS).is_integer()
        assert all(b[0] % width == 0 for b in whole)


def test_counting_past_the_budget_is_capped_and_says_so() -> None:
    """Miner flows read past their byte budget are capped apart (``max_counting``): the
    oldest stops counting, with a note and ``shares_cut``, and the flow stage is told."""
    inspector = Inspector(InspectConfig(bytes_per_side=512, max_counting=1))
    job = (b'{"id":null,"method":"mining.notify","params":["1","' + b"a" * 64 + b'","c1","c2",'
           b'[],"20000000","17028c61","65a1b2c3",true]}\n')
    share = b'{"id":4,"method":"mining.submit","params":["w","1","00000001","65a1b2c3","ab"]}\n'
    seq: dict[tuple[int, int], int] = {}
    cut: list[int] = []
    for k in range(20):
        for slot in (1, 2):
            for side, data in ((1, job), (0, share)):
                if slot in cut:
                    continue  # the flow stage sends a cut flow's packets no more
                at = seq.get((slot, side), 1000)
                inspector.tcp_packet(slot, side, at, 1000, data, len(data), 100.0 + k,
                                     40000 + slot, 3333)
                seq[(slot, side)] = at + len(data)
                cut += inspector.cut_short
                inspector.cut_short.clear()
    assert cut == [1]  # the first counting flow made room for the second
    first, second = inspector.finish(1), inspector.finish(2)
    assert first is not None and first.shares_cut and first.submits < 20
    assert any("share counting cut short" in note for note in first.evidence)
    assert second is not None and not second.shares_cut and second.submits == 20
    assert second.diff_shares == 0 and activity.totals(second.activity) == (20, 20)
