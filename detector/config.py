"""What a scan is told and what it loads once: options (ScanConfig) and the detector's
data (rules, coin tables, pool lists, network names), validated at start-up.

Shared by every capture session of a run, serial or in worker processes: the data is
loaded once before workers fork, so none of it crosses a process boundary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from detector.dissect.inspector import InspectConfig
from detector.enrich import CoinTables, load_coin_tables
from detector.errors import InputError
from detector.flows import FlowConfig
from detector.netnames import NetworkNames, load_network_names
from detector.owners import OwnerMap
from detector.pools import PoolList, load_pools
from detector.rules import RuleSet, load_rules
from detector.score import DEFAULT_THRESHOLD
from detector.source.inputs import DEFAULT_CHUNK

if TYPE_CHECKING:
    from detector.model import FlowModel

SIGNATURES = Path(__file__).resolve().parent.parent / "signatures"


def model_choice(text: str) -> Path | None:
    """A model named by ``--model`` or ``$MINEWATCH_MODEL``: a path, or ``none`` for the
    rules alone."""
    return None if text.strip().lower() == "none" else Path(text)


def default_model() -> Path | None:
    """``$MINEWATCH_MODEL``, else the shipped model when there is one."""
    chosen = os.environ.get("MINEWATCH_MODEL", "").strip()
    if chosen:
        return model_choice(chosen)
    from detector.model import DEFAULT_MODEL  # see _load_model

    return DEFAULT_MODEL if DEFAULT_MODEL.exists() else None


# ``-j N`` on one capture splits it from this size on (ScanConfig.split_from).
SPLIT_FROM = 64 * 1024 * 1024


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class ScanConfig:
    """Everything that shapes a scan; CLI options map onto these fields."""

    flow: FlowConfig = field(default_factory=FlowConfig)
    inspect: InspectConfig = field(default_factory=InspectConfig)
    threshold: float = DEFAULT_THRESHOLD
    window: float = 3600.0
    chunk_size: int = DEFAULT_CHUNK
    signatures: Path = SIGNATURES
    extra_rules: list[Path] = field(default_factory=list)
    keep_all_flows: bool = False  # also keep verdicts of non-miner flows (flows command)
    # rotated files of one capture stream are scanned as one session (source/rotation.py)
    join_rotated: bool = True
    # the flow model: $MINEWATCH_MODEL, else models/minewatch.skops when shipped; None:
    # the rules alone (--model none)
    model: Path | None = field(default_factory=lambda: default_model())
    # Screened hosts (issue 18): with an owners map, each capture counts the distinct
    # internal hosts at either end of its flows (CaptureScan.hosts; internal: inside an
    # owners prefix, else RFC 1918/ULA, owners.py). None: nothing is counted, at no cost.
    screen: OwnerMap | None = None
    # The site's policy forbids running cryptocurrency nodes (--nodes-as-suspects): node
    # hosts are suspects of role crypto-node (nodehosts.node_suspects), not informational
    # sightings.
    nodes_as_suspects: bool = False
    # ``-j N`` on one capture (parallel.scan_split): a file (or rotated chain) of at least
    # this many bytes is split by flow across the workers; smaller ones are not worth the
    # forks and the second read.
    split_from: int = SPLIT_FROM
    # Set in a split scan's worker only: (this worker's index, number of workers). Its
    # sessions keep only the flows fanout.owners gives it (session.py, §7).
    share: tuple[int, int] | None = None


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class Detector:
    """Loaded data (rules, coin tables, pool lists, network names) shared by every
    capture of a run."""

    rules: RuleSet
    coins: CoinTables
    pools: PoolList
    model: FlowModel | None = None
    # crypto networks' own infrastructure names (signatures/lists/<network>-names.txt:
    # Filecoin's bootstrap peers and drand, Chia's introducers and seeders)
    names: NetworkNames = field(default_factory=NetworkNames)

    @classmethod
    def load(cls, config: ScanConfig) -> Detector:
        sig = config.signatures
        if not sig.is_dir():
            raise InputError(f"{sig}: signatures directory not found")
        rules = load_rules([sig / "rules", *config.extra_rules], lists_dir=sig / "lists")
        return cls(
            rules=rules,
            coins=load_coin_tables(sig / "coins.yaml"),
            pools=load_pools(sig / "pools"),
            model=_load_model(config.model) if config.model is not None else None,
            names=load_network_names(sig / "lists"),
        )


def _load_model(path: Path) -> FlowModel:
    """The flow model, its module imported only when a scan uses one: it brings the tree
    reader and zipfile (~13 ms of every start-up, ``python -X importtime``), which a
    rules-only scan (``--model none``) never needs."""
    from detector.model import load_model

    return load_model(path)
