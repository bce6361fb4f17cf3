"""The Stratum flavours of the post-Merge GPU coins, told apart by their job and share shapes.

After Ethereum left proof of work (2022) its GPUs moved to coins whose pools all speak
Stratum's method names (``mining.subscribe/authorize/notify/submit``) but fill them in
each coin's own way. The method names make such a session Stratum (dissect/mining.py);
the *shapes* of its jobs and shares say which family of coins it mines. This module reads
those shapes and raises facts only - the flavour name, the Equihash personalisation a
pool sent, the work a share of a job stands for where the job states its own target.
Which coin a flavour means is data (signatures/coins.yaml ``flavours``, enrich.py).

Every shape was read from the software named beside it (docs/ARCHITECTURE.md §3.z):

* ``kawpow`` (Ravencoin and its forks): ``mining.notify [job, header hash, seed hash,
  share target, clean, height (a number), bits]`` - RavenCommunity/kawpow-stratum-pool
  lib/blockTemplate.js ``getJobParams`` and lib/stratum.js (params[3] is the miner's own
  share target, ``powLimit / difficulty``); fdoving/kawpowminer
  libpoolprotocols/stratum/EthStratumClient.cpp reads the same seven and takes params[3]
  as the share boundary. NeoxaChain/kawpow-pool README_protocol.md: Neoxa pools run the
  same stratum library.
* ``autolykos`` (Ergo): ``[job, height (a number), msg (32 bytes), "", "", version
  (a number), b, "", clean]`` - oliverw/miningcore src/Miningcore/Blockchain/Ergo/ErgoJob.cs
  ``Init``/``GetJobParams``. ``b`` is the target a nonce's hash must not exceed: the
  block's in the template, the miner's own share target as sent - ErgoPool.cs
  ``SendJob`` writes ``Diff1 / difficulty`` into params[6] as decimal text and sends
  ``mining.set_difficulty [1]`` ("actual diff gets pre-multiplied to target") - so a
  share takes 2^256 / b hashes.
* ``kaspa`` (kHeavyHash through onemorebsmith/kaspa-stratum-bridge and pools built like
  it): ``[job, [four 64-bit numbers], timestamp]`` or, for BzMiner, ``[job, 80 hex
  digits]`` (header and timestamp) - src/kaspastratum/client_handler.go,
  hasher.go ``GenerateJobHeader``/``GenerateLargeJobParams``.
* ``alephium``: one notify whose params are the job objects of the chains, each with
  ``jobId, fromGroup, toGroup, headerBlob`` (and ``txsBlob``, ``targetBlob`` in older
  versions); submits carry an object ``{jobId, fromGroup, toGroup, nonce (24 bytes),
  worker}`` - alephium/mining-pool lib/stratum.js, lib/blockTemplate.js, lib/jobManager.js,
  lib/constants.js (``NonceLength: 24``).
* ``octopus`` (Conflux) as NiceHash serves it: ``[job, height (decimal text), 0x hash,
  0x boundary]`` - nicehash/Specifications Octopus_NiceHash_v1.0.txt; a nonce is valid
  when its hash is below the boundary (Conflux-Chain/conflux-doc docs/stratum.md).
* Equihash (Zcash's ZIP-301 dialect, Flux, Bitcoin Gold...): the ``(n, k)`` parameters,
  ``equihash-<n>-<k>``, from the solution in ``mining.submit [worker, job, time, nonce2,
  solution]`` - its length is ``2^k x (n / (k + 1) + 1) / 8`` bytes
  (RunOnFlux/fluxd src/crypto/equihash.h ``equihash_solution_size``) behind a
  compact-size prefix - or from the two parameters some pools append to the 8 of the
  notify, ``"144_5"`` and the 8-character personalisation (nicehash/Specifications
  Zhash_NiceHash_v1.0.txt; mit-dci/pooldetective stratum/cmd/server/main.go sends
  ``"144_5", "BgoldPoW"`` for Bitcoin Gold). Miners do not send the personalisation:
  lolMiner/GMiner/bminer take it from the command line (``--pers``), or with ``auto``
  from those notify parameters (bminer.me references: ``-pers``).

Shapes are tested strictly (types and hex lengths), so a message of another coin cannot
pass for one of these; a shape that is not recognised is simply no flavour.
"""

from __future__ import annotations

import re
from binascii import unhexlify as _unhexlify
from dataclasses import dataclass
from typing import Any

KAWPOW = "kawpow"
AUTOLYKOS = "autolykos"
KASPA = "kaspa"
ALEPHIUM = "alephium"
OCTOPUS = "octopus"

# Equihash (n, k) -> solution bytes: 2^k x (n / (k + 1) + 1) / 8 (fluxd equihash.h).
# Only the parameter sets of coins mined today or recently; the smallest (52 bytes)
# is far longer than anything else a Stratum v1 submit carries in its fifth place
# (a 4-byte nonce).
EQUIHASH_PARAMS = ((200, 9), (144, 5), (125, 4), (192, 7), (210, 9), (96, 5))
_SOLUTION_BYTES = {(1 << k) * (n // (k + 1) + 1) // 8: (n, k) for n, k in EQUIHASH_PARAMS}


def equihash(n: int, k: int) -> str:
    """The flavour name of Equihash (n, k)."""
    return f"equihash-{n}-{k}"


KNOWN = frozenset(
    {KAWPOW, AUTOLYKOS, KASPA, ALEPHIUM, OCTOPUS} | {equihash(n, k) for n, k in EQUIHASH_PARAMS}
)

_HEX = re.compile(r"(?:0x)?([0-9a-fA-F]+)")  # what _hex_digits reads (without it: see there)
_DECIMAL = re.compile(r"[0-9]{1,20}")
_BIG_DECIMAL = re.compile(r"[0-9]{1,78}")  # up to 2^256 in decimal
_ALGO_TYPE = re.compile(r"([0-9]{2,3})_([0-9])")  # the Zhash notify's "144_5"
_PERS = re.compile(r"[A-Za-z0-9_ ]{1,8}")  # "BgoldPoW", "ZelProof", "ZERO    "
_MAX_SOLUTION_DIGITS = 2 * (1408 + 3)  # Equihash 210,9 with its compact-size prefix
_TWO_256 = 1 << 256


@dataclass(frozen=True, slots=True)
class Shape:
    """What one job or share showed: the flavour, the personalisation the pool named
    (Equihash), and the hashes a share of this job takes on average when the job states
    its share target (KAWPOW, Ergo, Octopus: a share is a hash below it, 2^256 /
    target)."""

    flavour: str
    pers: str | None = None
    hashes: float | None = None


def _hex_digits(value: Any, digits: int | None = None) -> str | None:
    """The hex digits of ``value`` (``0x`` allowed), if it is hex of that length: what
    ``_HEX.fullmatch`` groups. Read by ``binascii.unhexlify``, which takes exactly the
    characters 0-9, a-f and A-F, in pairs: an Equihash share's solution is some 2,700
    digits, which the regex engine walked at ~22 instructions a digit against ~8
    (callgrind) - most of what reading such a miner's submits cost (a test compares the
    two on random text)."""
    if not isinstance(value, str):
        return None
    found = value[2:] if value[:2] == "0x" else value  # (a value with "x" is no hex itself)
    if not found or (digits is not None and len(found) != digits) or not found.isascii():
        return None
    try:
        _unhexlify(found if not len(found) % 2 else found + "0")
    except ValueError:  # binascii.Error: a character that is not a hex digit
        return None
    return found


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _target_hashes(value: Any) -> float | None:
    """2^256 / target for a share target of at most 256 bits, else None."""
    digits = _hex_digits(value)
    if digits is None or len(digits) > 64:
        return None
    target = int(digits, 16)
    return float(_TWO_256 // target) if target > 0 else None


def job_shape(params: Any) -> Shape | None:
    """The flavour a ``mining.notify``'s parameters show, or None."""
    if not isinstance(params, list) or not params:
        return None
    head = params[0]
    if isinstance(head, dict):
        return _alephium_jobs(params)
    if not (isinstance(head, str) or _is_int(head)):
        return None
    size = len(params)
    if size == 7:
        return _kawpow(params)
    if size == 9:
        return _autolykos(params)
    if size == 10:
        return _equihash_job(params)
    if size in (2, 3):
        return _kaspa(params)
    if size == 4:
        return _octopus(params)
    return None


def _kawpow(p: list[Any]) -> Shape | None:
    if (
        _hex_digits(p[1], 64)
        and _hex_digits(p[2], 64)
        and isinstance(p[4], bool)
        and _is_int(p[5])
        and _hex_digits(p[6], 8)
    ):
        hashes = _target_hashes(p[3])
        if hashes is not None:
            return Shape(KAWPOW, hashes=hashes)
    return None


def _autolykos(p: list[Any]) -> Shape | None:
    b = p[6]
    if isinstance(b, str) and _BIG_DECIMAL.fullmatch(b):
        b = int(b)
    if _is_int(p[1]) and _hex_digits(p[2], 64) and _is_int(b) and isinstance(p[8], bool):
        return Shape(AUTOLYKOS, hashes=float(_TWO_256 // b) if 0 < b < _TWO_256 else None)
    return None


def _kaspa(p: list[Any]) -> Shape | None:
    if not isinstance(p[0], str):
        return None
    if len(p) == 2:  # BzMiner's "big job": header and timestamp as 80 hex digits
        return Shape(KASPA) if _hex_digits(p[1], 80) and not p[1].startswith("0x") else None
    words, stamp = p[1], p[2]
    if (
        isinstance(words, list)
        and len(words) == 4
        and all(_is_int(w) and 0 <= w < (1 << 64) for w in words)
        and _is_int(stamp)
    ):
        return Shape(KASPA)
    return None


def _octopus(p: list[Any]) -> Shape | None:
    height, pow_hash, boundary = p[1], p[2], p[3]
    if (
        isinstance(height, str)
        and _DECIMAL.fullmatch(height)
        and isinstance(pow_hash, str)
        and pow_hash.startswith("0x")
        and _hex_digits(pow_hash, 64)
        and isinstance(boundary, str)
        and boundary.startswith("0x")
    ):
        hashes = _target_hashes(boundary)
        if hashes is not None:
            return Shape(OCTOPUS, hashes=hashes)
    return None


def _equihash_job(p: list[Any]) -> Shape | None:
    """ZIP-301's eight notify parameters and the two a Zhash pool appends."""
    if not (
        _hex_digits(p[1], 8)
        and _hex_digits(p[2], 64)
        and _hex_digits(p[3], 64)
        and isinstance(p[7], bool)
        and isinstance(p[8], str)
        and isinstance(p[9], str)
    ):
        return None
    algo = _ALGO_TYPE.fullmatch(p[8])
    if algo is None or _PERS.fullmatch(p[9]) is None:
        return None
    n, k = int(algo.group(1)), int(algo.group(2))
    if (n, k) not in EQUIHASH_PARAMS:
        return None
    return Shape(equihash(n, k), pers=p[9])


def _alephium_jobs(p: list[Any]) -> Shape | None:
    for job in p[:32]:
        if not (
            isinstance(job, dict)
            and _is_int(job.get("fromGroup"))
            and _is_int(job.get("toGroup"))
            and _hex_digits(job.get("headerBlob"))
        ):
            return None
    return Shape(ALEPHIUM)


def share_shape(params: Any) -> Shape | None:
    """The flavour a ``mining.submit``'s parameters show, or None."""
    if isinstance(params, dict):
        if (
            _is_int(params.get("fromGroup"))
            and _is_int(params.get("toGroup"))
            and _hex_digits(params.get("nonce"), 48)
        ):
            return Shape(ALEPHIUM)
        return None
    if not isinstance(params, list) or len(params) != 5:
        return None
    worker, _job, ntime, nonce2, solution = params
    if not (isinstance(worker, str) and _hex_digits(ntime, 8) and _hex_digits(nonce2)):
        return None
    if not isinstance(solution, str) or len(solution) > _MAX_SOLUTION_DIGITS:
        return None
    digits = _hex_digits(solution)
    if digits is None or len(digits) % 2:
        return None
    found = _SOLUTION_BYTES.get(_solution_bytes(digits))
    return Shape(equihash(*found)) if found else None


def _solution_bytes(digits: str) -> int:
    """The length of a solution written with its compact-size prefix (Bitcoin's
    CompactSize: one byte below 0xfd, else 0xfd and two bytes little-endian), or 0 when
    the prefix does not give the length that follows."""
    first = int(digits[:2], 16)
    if first < 0xFD:
        size, rest = first, len(digits) // 2 - 1
    elif first == 0xFD and len(digits) >= 6:
        size, rest = int(digits[4:6] + digits[2:4], 16), len(digits) // 2 - 3
    else:
        return 0
    return size if size == rest else 0
