"""Score stage: turn a flow's facts into a verdict with the rules that drove it.

Each firing rule contributes its weight; weights combine as independent evidence,
``score = 1 - prod(1 - weight)``, so two medium signs outweigh one, and a port-only hint
(weight 0.1) can never make a miner by itself. A flow is a miner flow at ``threshold``.
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.dialects import MINING_RHYTHM
from detector.flows import FlowRecord
from detector.rules import Rule, RuleSet

DEFAULT_THRESHOLD = 0.7


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class Verdict:
    """The rules that fired on one flow and what they add up to: plain data. Rules are
    named by id (the RuleSet that scored the flow has them), so a verdict crosses a
    process or a machine as it is."""

    record: FlowRecord
    score: float
    is_miner: bool
    rules: tuple[int, ...] = ()  # miner rules that fired, strongest first
    info_rules: tuple[int, ...] = ()  # node/info rules that fired
    node_rules: tuple[int, ...] = ()  # those of info_rules of kind node
    rule_dialects: tuple[str, ...] = ()  # dialects the miner rules name

    @property
    def top_rule(self) -> int | None:
        return self.rules[0] if self.rules else None

    @property
    def dialects(self) -> set[str]:
        """Dialects the dissectors saw plus those named by the miner rules that fired."""
        seen = set(self.record.facts.dialects) if self.record.facts is not None else set()
        return seen.union(self.rule_dialects)


def combine(weights: list[float]) -> float:
    """Noisy-OR of independent pieces of evidence."""
    remaining = 1.0
    for w in weights:
        remaining *= 1.0 - w
    return round(1.0 - remaining, 4)


def score_flow(record: FlowRecord, rules: RuleSet, threshold: float = DEFAULT_THRESHOLD) -> Verdict:
    return verdict_of(record, rules.evaluate(record), threshold)


def verdict_of(record: FlowRecord, fired: list[Rule], threshold: float) -> Verdict:
    """The verdict of the rules that fired on a flow (RuleSet.evaluate's answer): what
    score_flow gives. A caller that drops the verdicts nothing fired on asks for the
    others only (Analysis.consume: most flows)."""
    if not fired:  # most flows: nothing to sort or combine
        return Verdict(record, 0.0, threshold <= 0.0)  # (positional: cheaper per flow)
    # One loop over the rules, not a comprehension per part: each is a function call of
    # its own, for every flow a rule fired on
    miner: list[Rule] = []
    info: list[Rule] = []
    for rule in fired:
        if rule.kind == "miner":
            miner.append(rule)
        else:
            info.append(rule)
    if len(miner) > 1:
        miner.sort(key=_strongest_first)
    weights: list[float] = []
    ids: list[int] = []
    named: list[str] = []
    for rule in miner:
        weights.append(rule.weight)
        ids.append(rule.id)
        if rule.dialect:
            named.append(rule.dialect)
    score = combine(weights)
    dialects = tuple(named)
    if MINING_RHYTHM in dialects and (
        len(set(dialects)) > 1 or (record.facts is not None and record.facts.dialects)
    ):
        # "mining-rhythm" stands for a dialect nobody could read: where one was read, it
        # names the flow and the model's rule is only more evidence
        dialects = tuple(d for d in dialects if d != MINING_RHYTHM)
    info_ids: list[int] = []
    node_ids: list[int] = []
    for rule in info:
        info_ids.append(rule.id)
        if rule.kind == "node":
            node_ids.append(rule.id)
    return Verdict(
        record, score, score >= threshold, tuple(ids), tuple(info_ids), tuple(node_ids), dialects
    )


def _strongest_first(rule: Rule) -> tuple[float, int]:
    """verdict_of's order of the miner rules: the heaviest first, then by id."""
    return (-rule.weight, rule.id)
