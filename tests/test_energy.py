"""Energy (detector/energy.py): the efficiency table is validated row by row with file and
line, every shipped row cites a source and uses coins.yaml's algorithm names, and the
kWh/day range is the hashrate interval times the efficiency range."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from detector.energy import (
    DEFAULT_TABLE,
    EfficiencyTable,
    energy_of,
    hardware_hint,
    kwh_per_day,
)
from detector.errors import InputError
from detector.hashrate import HashrateEstimate
from tests.conftest import REPO

HEADER = "algo,hardware,unit,low,high,coins,source,url,basis\n"
GOOD = "sha256d,ASIC,J/TH,15,94.37,BTC,Some datasheet,https://example.org/s21,how\n"


def _rate(hs: float | None, low: float | None = None, high: float | None = None) -> HashrateEstimate:
    return HashrateEstimate(hs, low, high, "test", 100, 3600.0)


def test_the_shipped_table_loads_and_cites_a_source_for_every_row() -> None:
    table = EfficiencyTable.load(DEFAULT_TABLE)
    have = {(row.algo, row.hardware) for row in table.rows}
    for needed in [("rx/0", "CPU"), ("sha256d", "ASIC"), ("scrypt", "ASIC"), ("ethash", "GPU"),
                   ("etchash", "GPU"), ("kawpow", "GPU"), ("equihash", "ASIC")]:  # fmt: skip
        assert needed in have, needed
    coins_yaml = yaml.safe_load((REPO / "signatures" / "coins.yaml").read_text(encoding="utf-8"))
    algos = {str(k).lower(): str(v) for k, v in coins_yaml["algos"].items()}
    for row in table.rows:
        assert row.algo in algos, f"{row.algo}: not an algorithm name of coins.yaml"
        assert algos[row.algo] in {c.partition("@")[0] for c in row.coins}, (row.algo, row.coins)
        assert row.source and row.url.startswith("https://") and len(row.basis) > 20
        assert 0 < row.j_low <= row.j_high
        assert row.citation.startswith(row.source) and row.url in row.citation


def _load(tmp_path: Path, text: str | bytes) -> EfficiencyTable:
    path = tmp_path / "efficiency.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return EfficiencyTable.load(path)


BAD_ROWS = [
    ("sha256d,ASIC,J/TH,15,94.37,BTC,Src,https://e.org\n", "expected 9 columns"),
    ("sha256d,FPGA,J/TH,15,94,BTC,Src,https://e.org,b\n", "hardware 'FPGA': one of CPU, GPU, ASIC"),
    ("sha256d,ASIC,W/TH,15,94,BTC,Src,https://e.org,b\n", "unit 'W/TH'"),
    ("sha256d,ASIC,J/XH,15,94,BTC,Src,https://e.org,b\n", "unit 'J/XH'"),
    ("sha256d,ASIC,J/TH,94,15,BTC,Src,https://e.org,b\n", "low 94 is above high 15"),
    ("sha256d,ASIC,J/TH,-1,15,BTC,Src,https://e.org,b\n", "low '-1': must be a positive number"),
    ("sha256d,ASIC,J/TH,0,15,BTC,Src,https://e.org,b\n", "low '0': must be a positive number"),
    ("sha256d,ASIC,J/TH,nan,15,BTC,Src,https://e.org,b\n", "low 'nan': must be a positive number"),
    ("sha256d,ASIC,J/TH,15,inf,BTC,Src,https://e.org,b\n", "high 'inf': must be a positive number"),
    ("sha256d,ASIC,J/TH,fifteen,94,BTC,Src,https://e.org,b\n", "low 'fifteen': not a number"),
    ("sha256d,ASIC,J/TH,15,94,BTC,,https://e.org,b\n", "missing source"),
    ("sha256d,ASIC,J/TH,15,94,BTC,Src,,b\n", "url '': the http(s) address(es) of the source"),
    ("sha256d,ASIC,J/TH,15,94,BTC,Src,https://e.org file:///etc/x,b\n", "url "),
    ("SHA256d,ASIC,J/TH,15,94,BTC,Src,https://e.org,b\n", "algo 'SHA256d': a lower-case name"),
    (",ASIC,J/TH,15,94,BTC,Src,https://e.org,b\n", "algo '': a lower-case name"),
    ("sha256d,ASIC,J/TH,15,94,B$C,Src,https://e.org,b\n", "coin 'B$C'"),
    ("sha256d,ASIC,J/TH,15,94,BTC@2019-13-01,Src,https://e.org,b\n", "coin 'BTC@2019-13-01': a date after @ is YYYY-MM-DD"),
    ("sha256d,ASIC,J/TH,1,2,BTC,Src,https://e.org,b\n", "sha256d on ASIC twice (first on line 3)"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS)
def test_a_bad_row_names_its_file_line_and_reason(tmp_path: Path, row: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:  # a comment, the header, a good row, the bad one
        _load(tmp_path, "# comment\n" + HEADER + GOOD + row)
    message = str(caught.value)
    line = 4
    assert message.startswith(f"{tmp_path / 'efficiency.csv'}:{line}: "), message
    assert reason in message and "\n" not in message


def test_a_bad_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "efficiency.csv"
    for content, expected in [
        (b"", f"{path}:1: empty file"),
        (b"# nothing but a comment\n", f"{path}:1: empty file"),
        (b"algo,hardware,unit,low,high\n", f"{path}:1: expected the header"),
        (HEADER.encode() + b"sha256d,ASIC,J/TH,15,94,BTC,S\xe9,https://e.org,b\n", f"{path}:2: not UTF-8"),
    ]:
        path.write_bytes(content)
        with pytest.raises(InputError) as caught:
            EfficiencyTable.load(path)
        assert str(caught.value).startswith(expected), str(caught.value)
    with pytest.raises(InputError, match="cannot read"):
        EfficiencyTable.load(tmp_path / "missing.csv")
    assert _load(tmp_path, HEADER).rows == []  # a header alone is an empty table


def test_kwh_per_day_is_hashrate_times_joules_per_hash_over_a_day() -> None:
    # 1 TH/s at 20 J/TH is 20 W, 480 Wh a day
    assert kwh_per_day(1e12, 20e-12) == pytest.approx(0.48)
    # 10 kH/s at 5 J/kH is 50 W: 1.2 kWh a day
    assert kwh_per_day(1e4, 5e-3) == pytest.approx(1.2)


def test_energy_is_the_interval_times_the_efficiency_range(tmp_path: Path) -> None:
    table = _load(tmp_path, HEADER + GOOD
                  + "rx/0,CPU,J/kH,3.84,14.46,XMR,CPU bench,https://example.org/rx,b\n"
                  + "equihash,ASIC,J/kSol,3.6,10.5,ZEC,Z15,https://example.org/z15,b\n"
                  + "kawpow,GPU,J/MH,7.72,12.46,RVN,GPU bench,https://example.org/kp,b\n")  # fmt: skip
    # an ASIC at 100 TH/s, 95 % interval 90-110 TH/s
    e = energy_of(_rate(100e12, 90e12, 110e12), "sha256d", "BTC", "cgminer/4.11.1", table)
    assert e is not None and (e.hardware, e.algo) == ("ASIC", "sha256d")
    assert e.kwh_day_low == pytest.approx(90e12 * 15e-12 * 86400 / 3.6e6)  # 32.4
    assert e.kwh_day_high == pytest.approx(110e12 * 94.37e-12 * 86400 / 3.6e6)  # 249.1
    assert e.source == "Some datasheet <https://example.org/s21>"
    # no interval: the estimate itself at both ends
    e = energy_of(_rate(10_000.0), "rx/0", None, "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2", table)
    assert e is not None and e.hardware == "CPU"
    assert (e.kwh_day_low, e.kwh_day_high) == pytest.approx((0.92160, 3.47040))
    # the coin finds the row when the algorithm is unknown or spelled otherwise
    by_coin = energy_of(_rate(10_000.0), "RandomX", "XMR", None, table)
    assert by_coin is not None and by_coin.algo == "rx/0"
    assert energy_of(_rate(10_000.0), None, "xmr", None, table) == by_coin
    # unknown hashrate, algorithm or coin: no estimate, never a guess
    assert energy_of(_rate(None), "sha256d", "BTC", None, table) is None
    assert energy_of(_rate(0.0), "sha256d", "BTC", None, table) is None
    assert energy_of(_rate(1e6), "x11", "DASH", None, table) is None
    assert energy_of(_rate(1e6), None, None, None, table) is None


def test_the_hardware_class_follows_the_miner_program(tmp_path: Path) -> None:
    table = _load(tmp_path, HEADER
                  + "equihash,ASIC,J/kSol,3.6,10.5,ZEC,Z15,https://example.org/z15,b\n"
                  + "kawpow,GPU,J/MH,7.72,12.46,RVN,bench,https://example.org/kp,b\n"
                  + "rx/0,CPU,J/kH,3.84,14.46,XMR,bench,https://example.org/rx,b\n"
                  + "rx/0,GPU,J/kH,20,40,XMR,bench,https://example.org/rxg,b\n")  # fmt: skip
    rate = _rate(1000.0)
    hw = lambda algo, agent: (e.hardware if (e := energy_of(rate, algo, None, agent, table)) else None)  # noqa: E731
    assert hw("equihash", None) == "ASIC"  # no hint: the algorithm's first row
    assert hw("equihash", "Antminer Z15") == "ASIC"
    assert hw("equihash", "EWBF's CUDA Zcash miner") is None  # a GPU: no GPU row, no guess
    assert hw("rx/0", "XMRig/6.21.0 (Linux x86_64)") == "CPU"
    assert hw("rx/0", "XMRig-NVIDIA/2.14.1") == "GPU"
    assert hw("kawpow", "XMRig/6.21.0") == "GPU"  # XMRig mines KawPow on its GPU backends
    assert hw("kawpow", "T-Rex/0.26.8") == "GPU"
    assert hw("kawpow", "cpuminer-opt/3.8") is None
    assert hw("rx/0", "some unknown agent") == "CPU"
    assert hardware_hint("lolMiner 1.77") == ("GPU",)
    assert hardware_hint("PhoenixMiner/6.2c") == ("GPU",)
    assert hardware_hint("bmminer/2.0.0") == ("ASIC",)
    assert hardware_hint("cgminer/4.11.1") == hardware_hint("bfgminer/5.2.0") == ("ASIC",)
    assert hardware_hint("GMiner/3.44") == ("GPU",)
    assert hardware_hint(None) is None and hardware_hint("") is None


def test_a_coin_whose_proof_of_work_changed_finds_its_row_only_after_the_change() -> None:
    """Monero mined CryptoNight variants until RandomX (2019-11-30): a 2017 XMR miner whose
    algorithm the traffic did not name gets no RandomX figure; a 2020 one does; a named
    algorithm is taken as named."""
    from datetime import UTC, datetime

    table = EfficiencyTable.load(DEFAULT_TABLE)
    before = datetime(2017, 12, 25, tzinfo=UTC).timestamp()
    after = datetime(2020, 6, 1, tzinfo=UTC).timestamp()
    assert table.algo_of(None, "XMR", before) is None
    assert table.algo_of(None, "XMR", None) is None  # when unknown: not assumed
    assert table.algo_of(None, "XMR", after) == "rx/0"
    assert table.algo_of("rx/0", "XMR", before) == "rx/0"
    assert table.algo_of(None, "BTC", before) == "sha256d"  # no date on its row
    rate = _rate(500.0, 400.0, 600.0)
    assert energy_of(rate, None, "XMR", "xmr-stak-cpu/1.3.0-1.5.0", table, before) is None
    assert energy_of(rate, None, "XMR", "XMRig/6.21.0", table, after) is not None
