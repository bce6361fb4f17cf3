"""Load, validate and compile rule files; evaluate them against flow records.

A rule file is YAML: ``rules:`` followed by a list of rules (format in
signatures/README.md). Each ``match`` tree compiles once into nested closures, so
evaluating a flow is a few function calls, not a walk over YAML.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

from detector.dialects import KNOWN as DIALECTS
from detector.dialects import MINING_DIALECTS
from detector.errors import InputError
from detector.flows import FlowRecord
from detector.netnames import HostListError, in_domains, read_host_list
from detector.patterns import PatternError, compile_linear, pattern_error
from detector.rules.fields import _EMPTY, FAMILY_OF, FIELDS, ITEMS, family_keys, family_list
from detector.yamlsrc import line_of, load_yaml

Predicate = Callable[[FlowRecord], bool]

RULE_KEYS = {
    "id",
    "rev",
    "name",
    "severity",
    "weight",
    "kind",
    "description",
    "references",
    "match",
    "enabled",
    "tags",
    "dialect",
}
KINDS = ("miner", "node", "info")
SHORTHANDS = {  # key -> (field, operator)
    "dialect": ("dialect", "in"),
    "app_proto": ("app_proto", "in"),
    "client_method": ("client_methods", "in"),
    "server_method": ("server_methods", "in"),
    "port": ("server_port", "in"),
}
# EVE consumers read alert.signature_id as an unsigned 32-bit number (Suricata's sid).
MAX_RULE_ID = 2**32 - 1
_DIALECT_HINT = "known: " + ", ".join(MINING_DIALECTS)
OPERATORS = ("eq", "in", "regex", "contains", "suffix", "list", "min", "max", "exists")


@dataclass(frozen=True, slots=True, eq=False, repr=False)  # see startup.py
class Rule:
    """One compiled signature rule."""

    id: int
    rev: int
    name: str
    severity: int
    weight: float
    kind: str
    description: str
    references: tuple[str, ...]
    tags: tuple[str, ...]
    dialect: str | None  # mining dialect this rule identifies (e.g. browser-wss-tls)
    source: str  # "file:line"
    predicate: Predicate = field(repr=False, compare=False)
    requires: frozenset[str] = frozenset()  # fact families that must be present
    # sets of families the flow must have one of each (``dialect: [a, b]``)
    needs_any: tuple[frozenset[str], ...] = ()
    # families whose presence alone makes the rule fail (``not: {app_proto: dns}``)
    excludes: frozenset[str] = frozenset()
    # the predicate without the conditions the families above settle exactly (app_proto,
    # dialect, node.protocol ... conditions of the top ``all``, or the whole match): what
    # RuleSet.evaluate runs on the flows that pass the gate; None: the predicate itself
    check: Predicate | None = field(default=None, repr=False, compare=False)
    # server ports the flow must have one of (a ``port:`` condition of the top ``all``, or
    # the whole match), None: any. RuleSet.evaluate gates on them, and ``check`` leaves
    # that condition out (the port rules are tested only on flows to one of the ports).
    ports: frozenset[int] | None = None

    def matches(self, record: FlowRecord) -> bool:
        return self.predicate(record)


class RuleError(InputError):
    """A rule file is invalid; the message names file, line and reason."""


class _Ctx:
    def __init__(self, path: Path, rule_line: int, lists: DomainLists) -> None:
        self.path = path
        self.rule_line = rule_line
        self.lists = lists

    def fail(self, node: Any, reason: str) -> RuleError:
        return RuleError(f"{self.path}:{line_of(node, self.rule_line)}: {reason}")


@dataclass(slots=True, eq=False, repr=False)  # see startup.py
class RuleSet:
    """All loaded rules, in id order."""

    rules: list[Rule]
    files: list[Path]
    _by_id: dict[int, Rule] = field(default_factory=dict, repr=False)
    # fact families present (fields.family_list, as a tuple) -> the rules that can fire
    # on them, in id order. Flows come in a handful of shapes (TLS with a name, DNS,
    # Stratum...), so this is a few entries (a shape once per order its names come in),
    # and a flow tests only its candidates instead of every rule's requirements.
    # The families include the flow's app_protos ("app:tls"), dialects, node protocol and
    # whether the model scored it, so a rule that needs one of them is not tested elsewhere.
    # A flow to a port some rule names (Rule.ports) is looked up with the port last: the
    # port rules are candidates there only, so the other flows - nearly all - test none.
    _candidates: dict[tuple[str | int, ...], list[tuple[Rule, Predicate]]] = field(
        default_factory=dict, repr=False
    )
    _ports: frozenset[int] = frozenset()  # every port of a rule's ``ports``

    def evaluate(self, record: FlowRecord) -> list[Rule]:
        """Rules that fire on one flow record (rules needing facts it lacks are skipped)."""
        return self.evaluate_all((record,))[0]

    def evaluate_all(self, records: Iterable[FlowRecord]) -> list[list[Rule]]:
        """``evaluate`` of each record, in one loop for a batch of ended flows, not a call
        per flow (a Python call costs ~1,200 instructions, callgrind)."""
        all_fired = []
        known = self._candidates
        records = records if isinstance(records, (list, tuple)) else list(records)
        # the lookup keys of the whole batch in one call (fields.family_keys)
        for record, key in zip(records, family_keys(records, self._ports), strict=True):
            candidates = known.get(key)
            if candidates is None:
                present = family_list(record)
                candidates = known[key] = self._gate(frozenset(present), record.server_port)
            # a loop, not a listcomp: that is a function call of its own per flow, and
            # most flows fire no rule (no append)
            fired = []
            for rule, check in candidates:
                if check(record):
                    fired.append(rule)
            all_fired.append(fired)
        return all_fired

    def _gate(self, present: frozenset[str], port: int) -> list[tuple[Rule, Predicate]]:
        """The rules a flow with these families, to this server port, can fire on, in id
        order, each with the test that is left once its gate has passed."""
        return [
            (rule, rule.check or rule.predicate)
            for rule in self.rules
            if rule.requires <= present
            and rule.excludes.isdisjoint(present)
            and all(not need.isdisjoint(present) for need in rule.needs_any)
            and (rule.ports is None or port in rule.ports)
        ]

    @property
    def reads_behaviour(self) -> bool:
        """Does a rule test the flow's message rhythm (``rhythm.*``, from the behaviour
        the flow stage keeps only when something reads it)?"""
        return any("behaviour" in rule.requires for rule in self.rules)

    def by_id(self, rule_id: int) -> Rule | None:
        return self._by_id.get(rule_id)

    def rule(self, rule_id: int) -> Rule:
        return self._by_id[rule_id]

    def __post_init__(self) -> None:
        self._by_id = {rule.id: rule for rule in self.rules}
        self._ports = frozenset().union(*(r.ports for r in self.rules if r.ports is not None))


def rule_files(dirs: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for d in dirs:
        if d.is_file():
            files.append(d)
        elif d.is_dir():
            files.extend(sorted(p for p in d.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            raise InputError(f"{d}: no such rule file or directory")
    return files


class DomainLists:
    """Named host lists (``signatures/lists/NAME.txt``) for the ``list`` operator, each
    loaded once and shared by every rule that names it (netnames.read_host_list reads
    and validates them: a bad line is ``file:line: reason``)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._loaded: dict[str, frozenset[str]] = {}

    def get(self, name: str) -> frozenset[str] | None:
        if name in self._loaded:
            return self._loaded[name]
        if self.directory is None or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            return None
        path = self.directory / f"{name}.txt"
        if not path.is_file():
            return None
        try:
            self._loaded[name] = read_host_list(path)
        except HostListError as exc:
            raise RuleError(str(exc)) from None
        return self._loaded[name]


def load_rules(dirs: Iterable[Path], lists_dir: Path | None = None) -> RuleSet:
    """Load every ``*.yaml`` rule file under ``dirs``; raise RuleError on the first error."""
    files = rule_files(dirs)
    rules: list[Rule] = []
    seen: dict[int, str] = {}
    lists = DomainLists(lists_dir)
    for path in files:
        for rule in _load_file(path, lists):
            if rule.id in seen:
                raise RuleError(
                    f"{rule.source}: duplicate rule id {rule.id} (also {seen[rule.id]})"
                )
            seen[rule.id] = rule.source
            rules.append(rule)
    rules.sort(key=lambda r: r.id)
    return RuleSet(rules, files)


def _load_file(path: Path, lists: DomainLists) -> list[Rule]:
    doc = load_yaml(path)
    if doc is None:
        return []
    ctx = _Ctx(path, 1, lists)
    if not isinstance(doc, dict) or "rules" not in doc:
        raise ctx.fail(doc, "a rule file is a mapping with a 'rules:' list")
    unknown = set(doc) - {"rules", "version", "description"}
    if unknown:
        raise ctx.fail(doc, f"unknown top-level key {sorted(unknown, key=str)[0]!r}")
    if not isinstance(doc["rules"], list):
        raise ctx.fail(doc, "'rules' must be a list")
    out = []
    for node in doc["rules"]:
        rule = _compile_rule(path, node, lists)
        if rule is not None:
            out.append(rule)
    return out


def _compile_rule(path: Path, node: Any, lists: DomainLists) -> Rule | None:
    ctx = _Ctx(path, line_of(node, 1), lists)
    if not isinstance(node, dict):
        raise ctx.fail(node, "each rule must be a mapping")
    unknown = set(node) - RULE_KEYS
    if unknown:
        raise ctx.fail(node, f"unknown rule key {sorted(unknown, key=str)[0]!r}")
    for key in ("id", "name", "match"):
        if key not in node:
            raise ctx.fail(node, f"rule is missing {key!r}")
    rid = node["id"]
    if not isinstance(rid, int) or isinstance(rid, bool) or not 0 < rid <= MAX_RULE_ID:
        raise ctx.fail(
            node, f"rule id must be an integer from 1 to {MAX_RULE_ID} (EVE's signature_id)"
        )
    label = f"rule {rid}"
    weight = node.get("weight", 0.5)
    if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 <= weight <= 1:
        raise ctx.fail(node, f"{label}: weight must be a number from 0 to 1")
    severity = node.get("severity", 2)
    if severity not in (1, 2, 3, 4):
        raise ctx.fail(node, f"{label}: severity must be 1 (high) to 4 (low)")
    kind = node.get("kind", "miner")
    if kind not in KINDS:
        raise ctx.fail(node, f"{label}: kind must be one of {', '.join(KINDS)}")
    rev = node.get("rev", 1)
    if not isinstance(rev, int) or rev < 1:
        raise ctx.fail(node, f"{label}: rev must be a positive integer")
    refs = node.get("references", [])
    tags = node.get("tags", [])
    if not isinstance(refs, list) or not all(isinstance(x, str) for x in refs):
        raise ctx.fail(node, f"{label}: references must be a list of strings")
    if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
        raise ctx.fail(node, f"{label}: tags must be a list of strings")
    if not isinstance(node["name"], str) or not node["name"].strip():
        raise ctx.fail(node, f"{label}: name must be a non-empty string")
    dialect = node.get("dialect")
    if dialect is not None and (not isinstance(dialect, str) or not dialect):
        raise ctx.fail(node, f"{label}: dialect must be a name")
    if dialect is not None and dialect not in DIALECTS:
        raise ctx.fail(node, f"{label}: unknown dialect {dialect} ({_DIALECT_HINT})")
    parts: list[Predicate] = []
    predicate = _compile_cond(ctx, label, node["match"], node, parts)
    if node.get("enabled", True) is False:
        return None
    requires = _requires(node["match"])
    needs_any = _needs_any(node["match"])
    excludes = _excludes(node["match"])
    ports = _ports(node["match"])
    check = _gated_check(node["match"], parts, requires, needs_any, excludes, ports)
    return Rule(
        id=rid,
        rev=rev,
        name=node["name"].strip(),
        severity=severity,
        weight=float(weight),
        kind=kind,
        description=str(node.get("description", "")).strip(),
        references=tuple(refs),
        tags=tuple(tags),
        dialect=dialect,
        source=f"{path}:{ctx.rule_line}",
        predicate=predicate,
        requires=requires,
        needs_any=needs_any,
        excludes=excludes,
        check=check,
        ports=ports,
    )


def _compile_cond(
    ctx: _Ctx, label: str, node: Any, parent: Any, parts: list[Predicate] | None = None
) -> Predicate:
    """The predicate of a condition; ``parts`` receives those of an ``all``/``any``'s
    children (the gated check reuses them: compiling a regex or a host list twice would
    cost start-up)."""
    if not isinstance(node, dict) or not node:
        raise ctx.fail(parent, f"{label}: a condition must be a non-empty mapping")
    keys = set(node)
    if keys & {"all", "any"}:
        if len(keys) != 1:
            raise ctx.fail(node, f"{label}: 'all'/'any' must stand alone in their mapping")
        (op,) = keys
        items = node[op]
        if not isinstance(items, list) or not items:
            raise ctx.fail(node, f"{label}: '{op}' needs a non-empty list of conditions")
        preds = [_compile_cond(ctx, label, item, node) for item in items]
        if parts is not None:
            parts.extend(preds)
        if len(preds) == 1:
            return preds[0]
        return _all_of(preds) if op == "all" else _any_of(preds)
    if "not" in keys:
        if len(keys) != 1:
            raise ctx.fail(node, f"{label}: 'not' must stand alone in its mapping")
        inner = _compile_cond(ctx, label, node["not"], node)
        return lambda r: not inner(r)
    if "field" in keys:
        name = node["field"]
        ops = keys - {"field"}
        if not isinstance(name, str) or name not in FIELDS:
            raise ctx.fail(node, f"{label}: unknown field {name!r}")
        if not ops:
            raise ctx.fail(
                node, f"{label}: field {name!r} needs an operator ({', '.join(OPERATORS)})"
            )
        preds = []
        for op in sorted(ops, key=str):
            if op not in OPERATORS:
                raise ctx.fail(node, f"{label}: unknown operator {op!r} for field {name!r}")
            preds.append(_leaf(ctx, label, node, name, op, node[op]))
        if len(preds) == 1:
            return preds[0]
        return _all_of(preds)
    if len(keys) == 1:
        (key,) = keys
        if key in SHORTHANDS:
            fname, op = SHORTHANDS[key]
            value = node[key]
            return _leaf(ctx, label, node, fname, op, value if isinstance(value, list) else [value])
    raise ctx.fail(node, f"{label}: unknown condition {sorted(keys, key=str)[0]!r}")


def _all_of(preds: list[Predicate]) -> Predicate:
    """True if every predicate holds (short-circuit; a plain loop is cheaper per flow than
    ``all`` over a generator; two or three spelled out, without the loop: most rules'
    gated checks, tested on most flows with a name)."""
    if len(preds) == 2:
        first, second = preds

        def test2(r: FlowRecord) -> bool:
            return first(r) and second(r)  # (bools: every predicate answers True or False)

        return test2
    if len(preds) == 3:
        first, second, third = preds

        def test3(r: FlowRecord) -> bool:
            return first(r) and second(r) and third(r)

        return test3

    def test(r: FlowRecord) -> bool:
        for p in preds:  # noqa: SIM110 - see the docstring
            if not p(r):
                return False
        return True

    return test


def _any_of(preds: list[Predicate]) -> Predicate:
    """True if some predicate holds (short-circuit; two spelled out, as in _all_of: the
    HTTP mining-header rule's, tested on every HTTP flow)."""
    if len(preds) == 2:
        first, second = preds

        def test2(r: FlowRecord) -> bool:
            return first(r) or second(r)

        return test2

    def test(r: FlowRecord) -> bool:
        for p in preds:  # noqa: SIM110 - as in _all_of
            if p(r):
                return True
        return False

    return test


def _leaf(ctx: _Ctx, label: str, node: Any, name: str, op: str, value: Any) -> Predicate:
    getter, kind = FIELDS[name]

    def values(r: FlowRecord) -> Iterable[Any]:
        """The field's values to test, in order (a set-valued field's own collection: the
        tests below only iterate it, so it is not copied)."""
        v = getter(r)
        if v is None:
            return ()
        if kind == "set":
            return v
        return (v,)

    # exists, min, max and in test the getter's value itself: the same answers as
    # through ``values`` (the set's members, that one value, or none), without a list and
    # a generator per flow and rule (rules are tested on every finished flow with facts:
    # ~9 tests a flow on real traffic)
    item = ITEMS.get(getter) if kind == "str" else None
    if op == "exists":
        if not isinstance(value, bool):
            raise ctx.fail(node, f"{label}: 'exists' takes true or false")
        if item is not None:
            return _item_exists(*item, value)
        if kind == "set":
            if value:
                return lambda r: bool(getter(r))  # None or an empty collection: no value
            return lambda r: not getter(r)
        if value:
            return lambda r: getter(r) is not None
        return lambda r: getter(r) is None
    if op in ("min", "max"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ctx.fail(node, f"{label}: '{op}' takes a number")
        if kind != "num":
            raise ctx.fail(node, f"{label}: '{op}' needs a numeric field, {name!r} is not")
        if name == "duration":
            return _duration_test(op == "min", value)
        if op == "min":

            def at_least(r: FlowRecord) -> bool:
                v = getter(r)
                return isinstance(v, (int, float)) and v >= value

            return at_least

        def at_most(r: FlowRecord) -> bool:
            v = getter(r)
            return isinstance(v, (int, float)) and v <= value

        return at_most
    items = value if isinstance(value, list) else [value]
    if not items or not all(
        isinstance(x, (str, int, float)) and not isinstance(x, bool) for x in items
    ):
        raise ctx.fail(node, f"{label}: '{op}' takes a value or a list of strings/numbers")
    if op in ("eq", "in"):
        wanted = set(items)
        unknown = sorted(str(x) for x in wanted - DIALECTS) if name == "dialect" else []
        if unknown:
            raise ctx.fail(node, f"{label}: unknown dialect {', '.join(unknown)} ({_DIALECT_HINT})")
        if kind == "str":
            wanted_l = {str(x).lower() for x in items}
            if item is not None:
                return _item_in(*item, wanted_l)

            def str_in(r: FlowRecord) -> bool:  # one value: no list, no generator
                v = getter(r)
                return v is not None and str(v).lower() in wanted_l

            return str_in
        if kind == "num":

            def num_in(r: FlowRecord) -> bool:
                v = getter(r)
                return v is not None and v in wanted

            return num_in
        if kind == "set":

            def set_in(r: FlowRecord) -> bool:
                v = getter(r)
                return v is not None and not wanted.isdisjoint(v)

            return set_in
        return lambda r: any(v in wanted for v in values(r))
    texts = [str(x) for x in items]
    if op == "regex":
        pattern = _combined_regex(ctx, node, label, texts)
        # a search costs ~1 us through the re2 wrapper, and flows repeat their values
        # (agents, names, logins)
        found = _Remembered(lambda text: pattern.search(text) is not None, 4096).__getitem__
        if item is not None:
            return _item_regex(*item, found)
        if kind != "set":

            def regex_one(r: FlowRecord) -> bool:  # ``values``' one value, read here
                v = getter(r)
                return v is not None and found(str(v))

            return regex_one

        def regex(r: FlowRecord) -> bool:
            for v in values(r):  # noqa: SIM110 - any() would build a generator per flow
                if found(str(v)):
                    return True
            return False

        return regex
    if op == "contains":
        automaton = ahocorasick.Automaton()
        for t in texts:
            automaton.add_word(t.lower(), t)
        automaton.make_automaton()

        def contains(r: FlowRecord) -> bool:
            for v in values(r):
                for _ in automaton.iter(str(v).lower()):
                    return True
            return False

        return contains
    if op == "list":
        lists = []
        for t in texts:
            domains = ctx.lists.get(t)
            if domains is None:
                raise ctx.fail(
                    node, f"{label}: unknown list {t!r} (expected signatures/lists/{t}.txt)"
                )
            lists.append(domains)
        domains = frozenset().union(*lists)
        if name == "hosts":
            return _hosts_test(domains)
        return _domain_test(getter, kind == "set", domains)
    if op == "suffix":
        suffixes = frozenset(t.lower().removeprefix("*.").rstrip(".") for t in texts)
        return _domain_test(getter, kind == "set", suffixes)
    raise ctx.fail(node, f"{label}: unknown operator {op!r}")


def _duration_test(at_least: bool, value: float) -> Predicate:
    """``min``/``max`` on ``duration`` (fields.FIELDS' getter, max(0, last - first), a
    float) written into the test: the long-session rules test it on most TLS and HTTP
    flows with a name, and the getter was a Python call of its own each time."""
    if at_least:

        def longer(r: FlowRecord) -> bool:
            d = r.last_ts - r.first_ts
            return (d if d > 0.0 else 0.0) >= value

        return longer

    def shorter(r: FlowRecord) -> bool:
        d = r.last_ts - r.first_ts
        return (d if d > 0.0 else 0.0) <= value

    return shorter


def _hosts_test(domains: frozenset[str]) -> Predicate:
    """``list`` on ``hosts`` (fields.FIELDS' getter ``(r.facts or _EMPTY).hosts``)
    written into _domain_test's test: the browser-mining rules test it on every flow with
    a name, and the getter was a Python call of its own each time."""
    known = _Remembered(lambda host: in_domains(host, domains), 65536).__getitem__

    def test(r: FlowRecord) -> bool:
        hosts = (r.facts or _EMPTY).hosts
        if hosts is None:  # (stowed facts: FlowFacts.stow)
            return False
        for v in hosts:  # noqa: SIM110 - as in _leaf's regex
            if known(str(v)):
                return True
        return False

    return test


def _item_exists(part: str, key: str, wanted: bool) -> Predicate:
    """``exists`` on an item of ``facts.tls`` or ``facts.http`` (fields.ITEMS): the getter's
    expression written into the test, one call per flow instead of two."""
    if part == "tls":
        if wanted:
            return lambda r: (r.facts or _EMPTY).tls.get(key) is not None
        return lambda r: (r.facts or _EMPTY).tls.get(key) is None
    if wanted:
        return lambda r: (r.facts or _EMPTY).http.get(key) is not None
    return lambda r: (r.facts or _EMPTY).http.get(key) is None


def _item_in(part: str, key: str, wanted_l: set[str]) -> Predicate:
    """``eq``/``in`` on an item of ``facts.tls`` or ``facts.http`` (as _item_exists): the
    value lowercased in ``wanted_l``, as str_in tests it."""
    if part == "tls":

        def tls_in(r: FlowRecord) -> bool:
            v = (r.facts or _EMPTY).tls.get(key)
            return v is not None and str(v).lower() in wanted_l

        return tls_in

    def http_in(r: FlowRecord) -> bool:
        v = (r.facts or _EMPTY).http.get(key)
        return v is not None and str(v).lower() in wanted_l

    return http_in


def _item_regex(part: str, key: str, found: Callable[[str], bool]) -> Predicate:
    """``regex`` on an item of ``facts.tls`` or ``facts.http`` (as _item_in): the value,
    if any, as text, searched (``found``: _leaf's remembered answers). The Chia pool
    rules' URI and User-Agent patterns are tested on most HTTP requests."""
    if part == "tls":

        def tls_regex(r: FlowRecord) -> bool:
            v = (r.facts or _EMPTY).tls.get(key)
            return v is not None and found(str(v))

        return tls_regex

    def http_regex(r: FlowRecord) -> bool:
        v = (r.facts or _EMPTY).http.get(key)
        return v is not None and found(str(v))

    return http_regex


def _domain_test(
    getter: Callable[[FlowRecord], Any], is_set: bool, domains: frozenset[str]
) -> Predicate:
    """Is any value in ``domains`` (or below one)? Host names repeat across flows (the same
    CDN and SNI over and over), so answers are remembered, up to a bound. The field's
    values as _leaf's ``values`` gives them, read here (a call fewer per flow)."""
    known = _Remembered(lambda host: in_domains(host, domains), 65536).__getitem__

    def test(r: FlowRecord) -> bool:
        got = getter(r)
        if got is None:
            return False
        for v in got if is_set else (got,):  # noqa: SIM110 - as in _leaf's regex
            if known(str(v)):
                return True
        return False

    return test


class _Remembered(dict[str, bool]):
    """A text test's answers by text, for at most ``bound`` texts (emptied when full: a
    reset is cheap and rare, and texts from packets cannot grow it): the rules' costlier
    text tests (domains, regexes) meet the same values flow after flow. A dict whose
    ``__missing__`` asks the test, so that a remembered answer is one lookup in C."""

    __slots__ = ("test", "bound")

    def __init__(self, test: Callable[[str], bool], bound: int) -> None:
        super().__init__()
        self.test = test
        self.bound = bound

    def __missing__(self, text: str) -> bool:
        if len(self) >= self.bound:
            self.clear()
        hit = self[text] = self.test(text)
        return hit


_GLOBAL_FLAGS = re.compile(r"^\(\?([imsU]+)\)")


def _combined_regex(ctx: _Ctx, node: Any, label: str, texts: list[str]) -> Any:
    """One compiled alternation for a list of patterns (a leading ``(?i)`` becomes a scoped
    ``(?i:...)`` group), so many patterns cost one pass over the value. Compiling is what
    loading rules costs most (RE2 builds an automaton): each pattern alone is compiled
    only to say which one is bad."""
    parts = []
    for t in texts:
        flags = _GLOBAL_FLAGS.match(t)
        if flags:
            parts.append(f"(?{flags.group(1)}:{t[flags.end() :]})")
        else:
            parts.append(f"(?:{t})")
    try:
        return compile_linear("|".join(parts))
    except PatternError:
        for t in texts:
            try:
                compile_linear(t)
            except PatternError as exc:
                raise ctx.fail(node, f"{label}: bad regex {t!r}: {pattern_error(exc)}") from None
        raise ctx.fail(node, f"{label}: bad regex: the patterns do not combine") from None


_POSITIVE = frozenset({"eq", "in", "regex", "contains", "suffix", "list"})


def _requires(node: Any) -> frozenset[str]:
    """Fact families a condition cannot hold without (static, conservative): every child
    of an ``all`` must hold; an ``any`` needs what all its children need; a ``not``
    guarantees nothing."""
    return _through_all_any(node, _requires_leaf)


def _through_all_any(node: Any, leaf: Callable[[dict], frozenset[str]]) -> frozenset[str]:
    """``leaf``'s families of a condition, through ``all`` (each child's, together) and a
    non-empty ``any`` (only what every child has): what _requires and _excludes share."""
    if not isinstance(node, dict):
        return frozenset()
    if "all" in node and isinstance(node["all"], list):
        out: frozenset[str] = frozenset()
        for child in node["all"]:
            out |= _through_all_any(child, leaf)
        return out
    if "any" in node and isinstance(node["any"], list) and node["any"]:
        return frozenset.intersection(*(_through_all_any(c, leaf) for c in node["any"]))
    return leaf(node)


def _requires_leaf(node: dict) -> frozenset[str]:
    exact = _exact(node)
    single = exact if len(exact) == 1 else frozenset()
    if "field" in node:
        family = FAMILY_OF.get(node["field"])
        positive = (
            bool(_POSITIVE & set(node))
            or node.get("exists") is True
            or (isinstance(node.get("min"), (int, float)) and node["min"] > 0)
        )
        return (frozenset({family}) if family and positive else frozenset()) | single
    if len(node) == 1:
        (key,) = node
        if key in SHORTHANDS:
            family = FAMILY_OF.get(SHORTHANDS[key][0])
            return (frozenset({family}) if family else frozenset()) | single
    return frozenset()


# Conditions that hold exactly when the flow has one of a few families (fields.families):
# field -> (family prefix, lowercased as the operator compares). Only fields of a small
# vocabulary, so that the candidate cache stays a handful of entries.
_EXACT_FIELDS = {
    "app_proto": ("app:", False),  # set: set_in compares the names as they are
    "dialect": ("dialect:", False),
    "node.protocol": ("node.protocol=", True),  # str: str_in compares lowercased text
    "node.name_network": ("node.name_network=", True),
}


def _exact(node: Any) -> frozenset[str]:
    """The families F such that the condition holds exactly when the flow has one of F
    (``app_proto: [a, b]``, ``{field: node.protocol, eq: x}``, ``model.alert`` exists),
    else the empty set."""
    if not isinstance(node, dict):
        return frozenset()
    if set(node) == {"field", "exists"}:
        if node["field"] == "model.alert" and node["exists"] is True:
            return frozenset({"model_alert"})
        if node["field"] in _PRESENCE and node["exists"] is True:
            return frozenset({_PRESENCE[node["field"]]})
        return frozenset()
    if len(node) == 1:
        (name,) = node
        if name not in SHORTHANDS:
            return frozenset()
        value = node[name]
        name = SHORTHANDS[name][0]
    elif len(node) == 2 and "field" in node:
        ops = set(node) - {"field"}
        if ops not in ({"in"}, {"eq"}):
            return frozenset()
        name = node["field"]
        value = node[ops.pop()]
    else:
        return frozenset()
    how = _EXACT_FIELDS.get(name) if isinstance(name, str) else None
    if how is None:
        return frozenset()
    prefix, lowered = how
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(x, str) for x in items):
        return frozenset()
    return frozenset(prefix + (x.lower() if lowered else x) for x in items)


# Fields whose presence is a family of its own (fields.families): field -> family. A test
# that the field exists holds exactly when the family is there, that it does not exactly
# when it is not.
_PRESENCE = {"tls.sni": "tls.sni"}


def _negated(node: Any) -> frozenset[str]:
    """``not: C`` for an exact C fails exactly when the flow has one of C's families, as
    ``exists: false`` on a field of _PRESENCE when the flow has its family."""
    if isinstance(node, dict) and len(node) == 1 and "not" in node:
        return _exact(node["not"])
    if isinstance(node, dict) and set(node) == {"field", "exists"} and node["exists"] is False:
        family = _PRESENCE.get(node["field"]) if isinstance(node["field"], str) else None
        return frozenset({family}) if family else frozenset()
    return frozenset()


def _excludes(node: Any) -> frozenset[str]:
    """Families whose presence makes a condition fail (static, exact for what it names):
    a negated exact condition, at the top or as a child of an ``all``; an ``any`` fails
    on what makes every child fail."""
    return _through_all_any(node, _negated)


def _needs_any(node: Any) -> tuple[frozenset[str], ...]:
    """Sets of families of which the flow must have at least one each: an exact
    condition on several values (``dialect: [a, b]``), at the top or in an ``all``."""
    if not isinstance(node, dict):
        return ()
    if "all" in node and isinstance(node["all"], list):
        out: list[frozenset[str]] = []
        for child in node["all"]:
            out += [need for need in _needs_any(child) if need not in out]
        return tuple(out)
    exact = _exact(node)
    return (exact,) if len(exact) > 1 else ()


def _settled(
    node: Any,
    requires: frozenset[str],
    needs_any: tuple[frozenset[str], ...],
    excludes: frozenset[str],
    ports: frozenset[int] | None,
) -> bool:
    """Does the gate alone (``requires`` and one of each ``needs_any`` present,
    ``excludes`` absent, the server port one of ``ports``) make this condition hold?"""
    allowed = _port_set(node) if ports is not None else None
    if allowed is not None and ports is not None and ports <= allowed:
        return True
    exact = _exact(node)
    if exact:
        return exact <= requires if len(exact) == 1 else exact in needs_any
    negated = _negated(node)
    return bool(negated) and negated <= excludes


def _gated_check(
    node: Any,
    parts: list[Predicate],
    requires: frozenset[str],
    needs_any: tuple[frozenset[str], ...],
    excludes: frozenset[str],
    ports: frozenset[int] | None = None,
) -> Predicate | None:
    """The rule's predicate for flows that passed its gate: the conditions the gate
    settles left out - the whole condition, or children of its top ``all`` (whose
    compiled predicates are ``parts``) - and the rest with the flow's own counters first
    (None: nothing to leave out or reorder, the predicate serves)."""
    if _settled(node, requires, needs_any, excludes, ports):
        return _always
    if not (isinstance(node, dict) and set(node) == {"all"} and isinstance(node["all"], list)):
        return None
    children = list(zip(node["all"], parts, strict=True))
    kept = [
        (child, pred)
        for child, pred in children
        if not _settled(child, requires, needs_any, excludes, ports)
    ]
    if not kept:
        return _always
    # the flow's own counters first: a number compared costs a fraction of a host-list
    # or regex test, and every condition is a pure test, so the order changes no answer
    ordered = [item for item in kept if _on_counters(item[0])]
    ordered += [item for item in kept if not _on_counters(item[0])]
    if ordered == children:
        return None
    preds = [pred for _, pred in ordered]
    return preds[0] if len(preds) == 1 else _all_of(preds)


def _port_set(node: Any) -> frozenset[int] | None:
    """The ports of a condition that holds exactly when the server port is one of them
    (``port: [a, b]``, ``{field: server_port, in: [...]}`` or ``eq``), integers only (a
    port is one), else None."""
    if not isinstance(node, dict):
        return None
    if set(node) == {"port"}:
        value = node["port"]
    elif node.get("field") == "server_port" and set(node) - {"field"} in ({"in"}, {"eq"}):
        value = node["in"] if "in" in node else node["eq"]
    else:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(x, int) and not isinstance(x, bool) for x in items):
        return None
    return frozenset(items)


def _ports(node: Any) -> frozenset[int] | None:
    """The server ports a rule needs (Rule.ports): its whole match's, or those every port
    condition of its top ``all`` allows; None: no such condition."""
    whole = _port_set(node)
    if whole is not None:
        return whole
    if not (isinstance(node, dict) and set(node) == {"all"} and isinstance(node["all"], list)):
        return None
    sets = [s for s in map(_port_set, node["all"]) if s is not None]
    return frozenset.intersection(*sets) if sets else None


def _always(r: FlowRecord) -> bool:
    return True


# the FlowRecord's own numbers (fields.FIELDS reads them as attributes)
_COUNTERS = frozenset(
    {
        "client_port",
        "server_port",
        "duration",
        "pkts_toserver",
        "pkts_toclient",
        "bytes_toserver",
        "bytes_toclient",
    }
)


def _on_counters(node: Any) -> bool:
    """A number test (min, max, eq, in) on one of the record's own counters, or ``port``."""
    if not isinstance(node, dict):
        return False
    if set(node) == {"port"}:
        return True
    return (
        node.get("field") in _COUNTERS
        and len(node) > 1
        and set(node) - {"field"} <= {"min", "max", "eq", "in"}
    )
