"""The post-Merge GPU coins, end to end: each coin's Stratum flavour, written by
:mod:`detector.synth.dialects.gpucoins` into a capture, makes its miner a suspect named
with the right coin and algorithm by one ``minewatch scan`` run (docs/ARCHITECTURE.md
§3.z); hostile and malformed sessions in the same shapes are survived; a bad coins.yaml
flavour row is one line on stderr and exit 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from detector.dissect import flavours
from detector.enrich import _identity, load_coin_tables
from detector.facts import FlowFacts
from detector.synth.chain import HexStream
from detector.synth.clock import at
from detector.synth.conversation import Talk
from detector.synth.dialects import gpucoins
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import REPO, meta, run_cli


@dataclass(frozen=True)
class Case:
    """One miner's connection and what the scan must say of it."""

    name: str
    key: str  # gpucoins.COINS
    client: str
    server: tuple[str, int]
    coin: str
    algo: str | None
    kw: dict[str, Any] = field(default_factory=dict)
    handshake: bool = True
    resolve: tuple[str, str] | None = None
    hashrate: str | None = None  # a phrase of the hashrate method; None: unknown
    # (Equihash's solutions, Alephium's pool-set difficulty unit: docs/ARCHITECTURE.md §3.z)


H = HexStream("test-gpucoins")
NICEHASH_LOGIN = gpucoins.bitcoin_p2sh(H) + ".rig7"

CASES = (
    Case("kas-lolminer", "kas", "10.91.0.1", ("203.0.113.101", 5555), "KAS", "kheavyhash",
         hashrate="share difficulty x 2^32"),
    Case("kas-bzminer-bigjob", "kas", "10.91.0.2", ("203.0.113.102", 5555), "KAS", "kheavyhash",
         kw={"agent": "BzMiner-v21.5.3"}, hashrate="share difficulty x 2^32"),
    Case("rvn-gminer", "rvn", "10.91.0.3", ("203.0.113.103", 6060), "RVN", "kawpow",
         hashrate="the job's share target"),
    # NiceHash: the login is a Bitcoin address whatever is mined; the jobs say KAWPOW
    Case("rvn-nicehash-btc-login", "rvn", "10.91.0.4", ("203.0.113.104", 3385), "RVN", "kawpow",
         kw={"user": NICEHASH_LOGIN}, hashrate="the job's share target"),
    Case("erg-lolminer", "erg", "10.91.0.5", ("203.0.113.105", 8888), "ERG", "autolykos2",
         hashrate="the job's share target"),
    Case("flux-gminer", "flux", "10.91.0.6", ("203.0.113.106", 7003), "FLUX", "equihash125_4"),
    Case("btg-zhash-pers", "btg", "10.91.0.7", ("203.0.113.107", 4040), "BTG", "equihash144_5"),
    Case("alph-pool", "alph", "10.91.0.8", ("203.0.113.108", 20032), "ALPH", "blake3"),
    Case("cfx-nicehash-midsession", "cfx", "10.91.0.9", ("203.0.113.109", 3386), "CFX", "octopus",
         handshake=False, hashrate="the job's share target"),
    # a KAWPOW coin other than Ravencoin: the pool the client resolved is listed as NEOX's
    # (an account login: no wallet format of the family to go by)
    Case("neox-2miners", "rvn", "10.91.0.11", ("203.0.113.111", 4040), "NEOX", "kawpow",
         kw={"user": "acme.rig11"}, resolve=("10.91.0.254", "neox.2miners.com"),
         hashrate="the job's share target"),
    # same messages as Ethereum's: the listed pool name the client resolved says ETC
    Case("etc-2miners", "etc", "10.91.0.10", ("203.0.113.110", 1010), "ETC", None,
         resolve=("10.91.0.254", "etc.2miners.com"), hashrate="(Ethash)"),
)  # fmt: skip
HOSTILE_CLIENTS = {kind: f"10.92.0.{i + 1}" for i, kind in enumerate(gpucoins.HOSTILE_KINDS)}


def write(path: Path, packets: list[Any]) -> None:
    path.write_bytes(pcap_bytes(frames(packets, Ethernet()), Ethernet.linktype))


def _coin_script(case: Case) -> Callable[[Talk], None]:
    return lambda talk: gpucoins.play(case.key, talk, case.name, **case.kw)


def _hostile_script(kind: str) -> Callable[[Talk], None]:
    return lambda talk: gpucoins.hostile(talk, "test", kind)


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every coin's and every hostile variant's capture, one file each."""
    directory = tmp_path_factory.mktemp("gpucoins")
    for i, case in enumerate(CASES):
        start = at(i * 400.0)
        packets = gpucoins.connection((case.client, 41000 + i), case.server, start,
                                      _coin_script(case), handshake=case.handshake,
                                      resolve=case.resolve)  # fmt: skip
        write(directory / f"{case.name}.pcap", packets)
    hostile = directory / "hostile"
    hostile.mkdir()
    for i, (kind, client) in enumerate(HOSTILE_CLIENTS.items()):
        packets = gpucoins.connection((client, 42000 + i), ("198.51.100.77", 3333),
                                      at(i * 100.0), _hostile_script(kind))  # fmt: skip
        write(hostile / f"hostile-{kind}.pcap", packets)
    return directory


@pytest.fixture(scope="module")
def alerts(captures: Path) -> dict[str, dict[str, Any]]:
    """One ``scan -f jsonl`` of the coins and the hostile sessions: alerts by client IP."""
    result = run_cli("scan", str(captures), "-f", "jsonl", "-q")
    assert result.rc == 0, result.err
    assert "Traceback" not in result.err
    return {e["src_ip"]: e for e in result.events() if e.get("event_type") == "alert"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_coin_is_named(case: Case, alerts: dict[str, dict[str, Any]]) -> None:
    coin = gpucoins.COINS[case.key]
    assert case.client in alerts, f"{case.name} is no suspect"
    alert = alerts[case.client]
    assert meta(alert, "mining_coin") == [case.coin]
    assert meta(alert, "mining_dialect")[:1] == [coin.dialect]
    assert meta(alert, "mining_algo") == ([case.algo] if case.algo else [])
    assert alert["alert"]["category"] == "Crypto Currency Mining Activity Detected"
    assert alert["dest_ip"] == case.server[0]
    method = meta(alert, "mining_hashrate_method")[0]
    if case.hashrate:
        assert case.hashrate in method
        assert float(meta(alert, "mining_hashrate_estimate")[0]) > 0
    else:
        assert not meta(alert, "mining_hashrate_estimate")


def test_hostile_sessions_are_survived(alerts: dict[str, dict[str, Any]]) -> None:
    """The scan above read the hostile captures too (exit 0): shapes with wrong hex,
    swapped types or absurd numbers name no coin, and the hostile worker is kept cut."""
    for kind in ("wrong-hex", "swapped-types", "huge-numbers", "bad-json", "deep-nesting"):
        alert = alerts.get(HOSTILE_CLIENTS[kind])
        if alert is not None:
            assert not meta(alert, "mining_coin"), kind
    worker = alerts[HOSTILE_CLIENTS["hostile-worker"]]
    assert all(len(login) <= 256 for login in meta(worker, "mining_login"))


def test_hostile_strings_are_escaped_in_the_table(captures: Path) -> None:
    result = run_cli("scan", str(captures / "hostile"), "-f", "table")
    assert result.rc == 0, result.err
    assert "\x1b" not in result.out and "\u202e" not in result.out
    assert HOSTILE_CLIENTS["hostile-worker"] in result.out


def test_shapes_are_strict() -> None:
    """Other coins' jobs and shares are no flavour: Ethereum, Bitcoin, Kadena."""
    h = HexStream("shapes")
    assert flavours.job_shape(["j", h.hex(32), h.hex(32), True]) is None  # EthereumStratum
    bitcoin = ["4f1", h.hex(32), h.hex(40), h.hex(20), [h.hex(32)], "20000000", "1703a30c",
               "65a1b2c3", True]  # fmt: skip
    assert flavours.job_shape(bitcoin) is None
    assert flavours.job_shape(["41", h.hex(286), True]) is None  # Kadena
    assert flavours.share_shape(["w.1", "4f1", "00000001", "65a1b2e0", "9e11a05b"]) is None
    kawpow = flavours.job_shape(["1", h.hex(32), h.hex(32), "00000000ff" + "0" * 54, True, 5,
                                 "1b00f2a3"])  # fmt: skip
    assert kawpow == flavours.Shape("kawpow", hashes=float((1 << 256) // (0xFF << 216)))
    assert flavours.share_shape(["w", "j", h.hex(4), h.hex(28), "fd4005" + h.hex(1344)]) == (
        flavours.Shape("equihash-200-9")
    )


def test_coin_within_the_flavour() -> None:
    """Pool-sent personalisation > a wallet or pool coin of the family > its default; a
    coin named outside the family is not taken; an address format shared by ETH, ETC
    and ETHW is settled by the pool list."""
    tables = load_coin_tables(REPO / "signatures" / "coins.yaml")

    def coin(flavour: str | None = None, login: str | None = None, pool: str | None = None,
             pers: str | None = None) -> str | None:  # fmt: skip
        facts = FlowFacts(flavour=flavour, login=login, pers=pers, dialects={"stratum-v1"})
        if pool:
            facts.pool = {"name": "p", "coin": pool, "via": "dns"}
        _identity(facts, tables)
        return facts.coin

    kaspa = gpucoins.kaspa_address(H)
    assert coin("kaspa", login=kaspa + ".r1") == "KAS"
    assert coin("kaspa", login=NICEHASH_LOGIN) == "KAS"
    assert coin("kawpow", pool="NEOX") == "NEOX"
    assert coin("kawpow", pool="XMR") == "RVN"
    assert coin("equihash-144-5", pers="ZelProof") == "FLUX"
    assert coin("equihash-144-5", pers="BgoldPoW") == "BTG"
    assert coin("equihash-192-7") is None
    eth = gpucoins.eth_address(H)
    assert coin(login=eth, pool="ETC") == "ETC"
    assert coin(login=eth, pool="XMR") == "ETH"


def test_bad_flavour_row_is_one_line(tmp_path: Path, captures: Path) -> None:
    signatures = tmp_path / "signatures"
    shutil.copytree(REPO / "signatures", signatures)
    coins = signatures / "coins.yaml"
    text = coins.read_text(encoding="utf-8")
    row = "  octopus: {algo: octopus, coins: [CFX]}"
    assert row in text
    coins.write_text(text.replace(row, "  progpow-z: {algo: x, coins: [ZZZ]}"), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "detector", "scan", str(captures / "kas-lolminer.pcap")],
        capture_output=True, text=True, timeout=60, cwd=REPO,
        env={**os.environ, "MINEWATCH_SIGNATURES": str(signatures)},
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "coins.yaml:" in lines[0], proc.stderr
    assert "unknown flavour 'progpow-z'" in lines[0]


def test_hex_digits_reads_what_the_hex_pattern_groups() -> None:
    """flavours._hex_digits reads hex with binascii.unhexlify, for speed: the same answer
    as ``_HEX.fullmatch``'s group (and the same length test) on random text - hex of both
    lengths' parities, with and without 0x (or 0X), other letters, signs, underscores,
    spaces, non-ASCII digits and the empty string."""
    import random

    def reference(value: object, digits: int | None = None) -> str | None:
        if not isinstance(value, str):
            return None
        match = flavours._HEX.fullmatch(value)
        if match is None or (digits is not None and len(match.group(1)) != digits):
            return None
        return match.group(1)

    rng = random.Random(4)
    alphabet = "0123456789abcdefABCDEF" * 4 + "xXg _+-\n\t\u0661\u00e9"
    cases = found = 0
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        if rng.random() < 0.5:
            text = "".join(rng.choice("0123456789abcdefABCDEF") for _ in range(rng.randrange(0, 70)))
            if text and rng.random() < 0.2:
                at = rng.randrange(len(text))
                text = text[:at] + rng.choice(alphabet) + text[at + 1 :]
        value = rng.choice(["", "0x", "0X", "00", "x"]) + text
        for digits in (None, len(text), 8):
            want = reference(value, digits)
            assert flavours._hex_digits(value, digits) == want, (value, digits)
            found += want is not None
            cases += 1
    for odd in (None, 5, b"ab", ["ab"], "0x", "x", ""):
        assert flavours._hex_digits(odd) == reference(odd)
    assert cases == 60_000 and found > 15_000
