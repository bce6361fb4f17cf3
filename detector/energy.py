"""Electricity a miner burns: kWh per day from its hashrate and a table of mining
efficiency per algorithm and hardware class (signatures/efficiency.csv).

Why a range and not one number: the same algorithm runs on hardware generations whose
efficiency differs several-fold (an Antminer S9 of 2016 needs six times the joules per
hash of an S21 Pro of 2024), and the hashrate itself is an interval (hashrate.py: Poisson on the
share count). The estimate multiplies the interval's ends by the efficiency range's ends:
kWh/day = H/s x J/H x 86,400 s / 3.6e6 J per kWh. An unknown hashrate gives no estimate,
never a made-up one.

The table (signatures/efficiency.csv; every row cites the page or datasheet its numbers
come from) has the columns ``algo,hardware,unit,low,high,coins,source,url,basis``:

* ``algo``: the algorithm as signatures/coins.yaml spells it (lower-case);
* ``hardware``: CPU, GPU or ASIC;
* ``unit``: J per hash at some scale - ``J/H``, ``J/kH``, ``J/MH``, ``J/GH``, ``J/TH`` -
  or per Equihash solution (``J/Sol``, ``J/kSol`` ...): Equihash miners and pools count
  solutions, so a hashrate for an Equihash coin is read as solutions per second;
* ``low``, ``high``: the efficiency range in that unit (low <= high, both > 0);
* ``coins``: the coins mined with this algorithm (space-separated tickers), so a suspect
  whose coin is known but whose algorithm is not still finds its row; ``XMR@2019-11-30``:
  only for traffic from that day on (the coin mined another algorithm before);
* ``source``, ``url``: where the numbers come from (one or more space-separated http(s)
  addresses); ``basis``: how the range was read from it (which models, hashrate, power).

Lines starting with ``#`` and blank lines are skipped.

Which row: the suspect's algorithm as the table spells it, else its coin's row. Which
hardware class: the one the miner program implies (``hardware_hint``: XMRig -> CPU, or
GPU for GPU-only algorithms; lolMiner/T-Rex/PhoenixMiner/EWBF -> GPU; cgminer/bmminer ->
ASIC ...); without a hint, the algorithm's first row (the file lists first the class
that mines it today). A hint
naming a class the table has no row for gives no estimate: an EWBF (GPU) Equihash miner
priced at ASIC efficiency would be off a hundredfold.

Why low x low and high x high: the CBECI's bottom-up method (Cambridge Bitcoin
Electricity Consumption Index) brackets a network's power between "all miners run the
most efficient hardware" and "all run the least efficient still in use"; a suspect's
range does the same for one miner, widened by its hashrate interval.

Stage: after hashrate (it reads HashrateEstimate), before the sinks and the report.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from detector.csvdata import table_rows
from detector.errors import InputError
from detector.hashrate import HashrateEstimate

DEFAULT_TABLE = Path(__file__).resolve().parent.parent / "signatures" / "efficiency.csv"

COLUMNS = ("algo", "hardware", "unit", "low", "high", "coins", "source", "url", "basis")
HARDWARE = ("CPU", "GPU", "ASIC")
_SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_UNIT = re.compile(r"^J/([kMGTP]?)(H|Sol)$")
SECONDS_PER_DAY = 86_400.0
JOULES_PER_KWH = 3.6e6


@dataclass(frozen=True, slots=True)
class EnergyEstimate:
    """A suspect's electricity use per day, as a range."""

    kwh_day_low: float
    kwh_day_high: float
    hardware: str  # "CPU" | "GPU" | "ASIC"
    algo: str
    source: str  # the efficiency row's citation: "name <url>"


@dataclass(frozen=True, slots=True)
class Efficiency:
    """One row of the table, in joules per hash (or per solution)."""

    algo: str
    hardware: str
    unit: str  # as written in the file ("J/TH")
    j_low: float  # joules per hash (or solution)
    j_high: float
    coins: tuple[str, ...]
    source: str
    url: str
    basis: str
    line: int

    @property
    def citation(self) -> str:
        return f"{self.source} <{self.url}>"


class EfficiencyTable:
    """signatures/efficiency.csv, validated (module docstring)."""

    def __init__(self, rows: list[Efficiency]) -> None:
        self.rows = rows
        self._by_algo: dict[str, list[Efficiency]] = {}
        self._by_coin: dict[str, tuple[str, float | None]] = {}  # coin -> algo, since
        for row in rows:
            self._by_algo.setdefault(row.algo, []).append(row)
            for coin in row.coins:
                ticker, _, since = coin.partition("@")
                self._by_coin.setdefault(ticker, (row.algo, _epoch(since) if since else None))

    @classmethod
    def load(cls, path: Path) -> EfficiencyTable:
        """Read and check the table; a bad row raises InputError ``FILE:LINE: reason``."""
        rows: list[Efficiency] = []
        seen: dict[tuple[str, str], int] = {}
        for lineno, cells in table_rows(path, COLUMNS):
            try:
                entry = _row(cells, lineno)
            except ValueError as exc:
                raise InputError(f"{path}:{lineno}: {exc}") from None
            key = (entry.algo, entry.hardware)
            if key in seen:
                raise InputError(
                    f"{path}:{lineno}: {entry.algo} on {entry.hardware} twice (first on line "
                    f"{seen[key]})"
                )
            seen[key] = lineno
            rows.append(entry)
        return cls(rows)

    def algo_of(self, algo: str | None, coin: str | None, when: float | None = None) -> str | None:
        """The table's algorithm for what a suspect showed: its algorithm when the table
        has it, else the algorithm of its coin - at ``when`` (epoch seconds of the
        traffic): a coin whose proof of work changed (Monero: CryptoNight variants until
        RandomX on 2019-11-30) had another algorithm before its row's date."""
        if algo:
            name = algo.strip().lower()
            if name in self._by_algo:
                return name
        if coin:
            found = self._by_coin.get(coin.strip().upper())
            if found is None:
                return None
            name, since = found
            if since is not None and (when is None or when < since):
                return None
            return name
        return None

    def rows_of(self, algo: str) -> list[Efficiency]:
        return list(self._by_algo.get(algo, []))


def _epoch(day: str) -> float | None:
    """``YYYY-MM-DD`` (UTC midnight) as epoch seconds; None when it is not one."""
    try:
        return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _row(cells: list[str], lineno: int) -> Efficiency:
    if len(cells) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} columns ({','.join(COLUMNS)}), got {len(cells)}")
    algo, hardware, unit, low, high, coins, source, url, basis = (c.strip() for c in cells)
    if not algo or algo != algo.lower():
        raise ValueError(f"algo {algo!r}: a lower-case name as signatures/coins.yaml spells it")
    if hardware not in HARDWARE:
        raise ValueError(f"hardware {hardware!r}: one of {', '.join(HARDWARE)}")
    match = _UNIT.match(unit)
    if match is None:
        raise ValueError(f"unit {unit!r}: J/H, J/kH, J/MH, J/GH, J/TH or J/Sol, J/kSol ...")
    scale = _SCALE[match.group(1)]
    values = []
    for name, value in (("low", low), ("high", high)):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name} {value!r}: not a number") from None
        if not math.isfinite(number) or number <= 0:
            raise ValueError(f"{name} {value!r}: must be a positive number")
        values.append(number)
    if values[0] > values[1]:
        raise ValueError(f"low {low} is above high {high}")
    tickers = tuple(coins.upper().split())
    for cell in tickers:
        ticker, at, since = cell.partition("@")
        if not (2 <= len(ticker) <= 6 and ticker.isalnum()):
            raise ValueError(f"coin {ticker!r}: a ticker of 2 to 6 letters or digits")
        if at and _epoch(since) is None:
            raise ValueError(f"coin {cell!r}: a date after @ is YYYY-MM-DD")
    if not source:
        raise ValueError("missing source")
    addresses = url.split()
    if not addresses or not all(a.startswith(("https://", "http://")) for a in addresses):
        raise ValueError(f"url {url!r}: the http(s) address(es) of the source")
    return Efficiency(
        algo, hardware, unit, values[0] / scale, values[1] / scale, tickers, source, url, basis,
        lineno,
    )  # fmt: skip


# Miner programs (lower-case name prefixes) and the hardware classes they drive, most
# likely first. Agents name the program first: "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2
# gcc/11.4.0", "T-Rex/0.26.8", "lolMiner 1.77", "PhoenixMiner/6.2c", "cgminer/4.11.1"...
# XMRig mines on CPUs unless built with its CUDA/OpenCL backends, which its agent does
# not show: CPU first, GPU for algorithms it can only mine on GPUs (KawPow, Ethash).
# GPU builds and forks come before the names they contain (xmrig-nvidia before xmrig).
CPU, GPU, ASIC = "CPU", "GPU", "ASIC"
AGENT_HARDWARE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("xmrig-nvidia", (GPU,)),
    ("xmrig-amd", (GPU,)),
    ("xmrig-cuda", (GPU,)),
    ("xmrig", (CPU, GPU)),
    ("xmr-stak-cpu", (CPU,)),
    ("xmr-stak", (CPU, GPU)),
    ("srbminer", (CPU, GPU)),
    ("nanominer", (CPU, GPU)),
    ("cpuminer", (CPU,)),
    ("minerd", (CPU,)),
    ("ewbf", (GPU,)),
    ("lolminer", (GPU,)),
    ("t-rex", (GPU,)),
    ("trex", (GPU,)),
    ("phoenixminer", (GPU,)),
    ("claymore", (GPU,)),
    ("ethminer", (GPU,)),
    ("nbminer", (GPU,)),
    ("gminer", (GPU,)),
    ("teamredminer", (GPU,)),
    ("bminer", (GPU,)),
    ("kawpowminer", (GPU,)),
    ("rigel", (GPU,)),
    ("bzminer", (GPU,)),
    ("wildrig", (GPU,)),
    ("cgminer", (ASIC,)),
    ("bmminer", (ASIC,)),
    ("bfgminer", (ASIC,)),
    ("bosminer", (ASIC,)),
    ("braiins", (ASIC,)),
    ("antminer", (ASIC,)),
    ("whatsminer", (ASIC,)),
    ("avalon", (ASIC,)),
)


def hardware_hint(agent: str | None) -> tuple[str, ...] | None:
    """The hardware classes the miner program's name implies, most likely first; None
    when it implies none (no agent, or a program this table does not know)."""
    if not agent:
        return None
    text = agent.strip().lower()
    program = re.split(r"[/\s(]", text, maxsplit=1)[0]
    for name, classes in AGENT_HARDWARE:  # the program's name first ("cgminer" is no
        if program.startswith(name):  # "gminer")
            return classes
    for name, classes in AGENT_HARDWARE:  # then anywhere ("stratum proxy for xmrig")
        if name in text:
            return classes
    return None


def kwh_per_day(hashes_per_second: float, joules_per_hash: float) -> float:
    """kWh/day = H/s x J/H x 86,400 s / 3.6e6 J."""
    return hashes_per_second * joules_per_hash * SECONDS_PER_DAY / JOULES_PER_KWH


def energy_of(
    rate: HashrateEstimate,
    algo: str | None,
    coin: str | None,
    agent: str | None,
    table: EfficiencyTable,
    when: float | None = None,
) -> EnergyEstimate | None:
    """A suspect's kWh/day range: the hashrate interval's low end x the most efficient
    hardware of its class, up to the high end x the least efficient. None when the
    hashrate is unknown, or the table has no row for its algorithm and hardware class.
    For Equihash rows (J/Sol) the hashrate is read as solutions per second."""
    if rate.hs is None or rate.hs <= 0:
        return None
    name = table.algo_of(algo, coin, when)
    if name is None:
        return None
    rows = table.rows_of(name)
    hint = hardware_hint(agent)
    if hint is None:
        chosen: Efficiency | None = rows[0]
    else:
        chosen = next((r for c in hint for r in rows if r.hardware == c), None)
    if chosen is None:
        return None  # the miner's class has no row for this algorithm (module docstring)
    low = rate.low if rate.low is not None else rate.hs
    high = rate.high if rate.high is not None else rate.hs
    return EnergyEstimate(
        kwh_day_low=kwh_per_day(max(low, 0.0), chosen.j_low),
        kwh_day_high=kwh_per_day(max(high, 0.0), chosen.j_high),
        hardware=chosen.hardware,
        algo=name,
        source=chosen.citation,
    )
