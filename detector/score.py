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


@dataclass(slots=True)
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
    miner = sorted((r for r in fired if r.kind == "miner"), key=lambda r: (-r.weight, r.id))
    info = [r for r in fired if r.kind != "miner"]
    score = combine([r.weight for r in miner])
    dialects = tuple(r.dialect for r in miner if r.dialect)
    if MINING_RHYTHM in dialects and (
        len(set(dialects)) > 1 or (record.facts is not None and record.facts.dialects)
    ):
        # "mining-rhythm" stands for a dialect nobody could read: where one was read, it
        # names the flow and the model's rule is only more evidence
        dialects = tuple(d for d in dialects if d != MINING_RHYTHM)
    return Verdict(
        record=record,
        score=score,
        is_miner=score >= threshold,
        rules=tuple(r.id for r in miner),
        info_rules=tuple(r.id for r in info),
        node_rules=tuple(r.id for r in info if r.kind == "node"),
        rule_dialects=dialects,
    )
