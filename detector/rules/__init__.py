"""Signature rules: declarative conditions over flow facts, loaded from ``signatures/``.

Rules are data (YAML), validated at start-up with errors that name the file and line,
and compiled once into predicate closures. See ``signatures/README.md`` for the format.
"""

from detector.rules.engine import Rule, RuleSet, load_rules

__all__ = ["Rule", "RuleSet", "load_rules"]
