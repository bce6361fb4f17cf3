"""Rule files: validation errors name file and line; operators and combinators work."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from detector.config import SIGNATURES
from detector.errors import InputError
from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.rules import load_rules
from detector.rules.engine import _Remembered


def record(**facts_kw: object) -> FlowRecord:
    facts = FlowFacts()
    for key, value in facts_kw.items():
        setattr(facts, key, value)
    return FlowRecord(
        flow_id=1,
        proto="TCP",
        client_ip="10.0.0.1",
        client_port=40000,
        server_ip="10.0.0.2",
        server_port=3333,
        first_ts=0.0,
        last_ts=60.0,
        pkts_toserver=1,
        pkts_toclient=1,
        bytes_toserver=100,
        bytes_toclient=100,
        payload_toserver=10,
        payload_toclient=10,
        orientation="syn",
        end_reason="end",
        facts=facts,
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "user.yaml"
    path.write_text(text)
    return path


def test_shipped_rules_load_and_have_unique_ids() -> None:
    rules = load_rules([SIGNATURES / "rules"], lists_dir=SIGNATURES / "lists")
    assert len(rules.rules) >= 20
    assert len({r.id for r in rules.rules}) == len(rules.rules)


@pytest.mark.parametrize(
    "body,line,reason",
    [
        ("rules:\n  - id: 1\n    name: x\n    match: {agnt: x}\n", 4, "unknown condition 'agnt'"),
        (
            "rules:\n  - id: 1\n    name: x\n    match:\n      field: nope\n      eq: 1\n",
            5,
            "unknown field 'nope'",
        ),
        (
            "rules:\n  - id: 1\n    name: x\n    weight: 3\n    match: {port: 1}\n",
            2,
            "weight must be",
        ),
        ("rules:\n  - name: x\n    match: {port: 1}\n", 2, "missing 'id'"),
        (
            "rules:\n  - id: 1\n    name: x\n    match:\n      field: agent\n      regex: '(('\n",
            5,
            "bad regex",
        ),
        (
            "rules:\n  - id: 1\n    name: x\n    match: {port: 1}\n  - id: 1\n    name: y\n    match: {port: 2}\n",
            5,
            "duplicate rule id 1",
        ),
        ("rules: [\n", 2, "invalid YAML"),
        (
            "rules:\n  - id: 1\n    name: x\n    colour: red\n    match: {port: 1}\n",
            2,
            "unknown rule key 'colour'",
        ),
        (
            "rules:\n  - id: 1\n    name: x\n    match:\n      field: agent\n      min: 3\n",
            5,
            "numeric field",
        ),
        (
            "rules:\n  - id: 1\n    name: x\n    match: {dialect: stratum-v3}\n",
            4,
            "unknown dialect stratum-v3",
        ),
        (
            "rules:\n  - id: 1\n    name: x\n    dialect: browser-mining\n    match: {port: 1}\n",
            2,
            "unknown dialect browser-mining",
        ),
    ],
)
def test_rule_errors_name_file_line_and_reason(
    tmp_path: Path, body: str, line: int, reason: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(InputError) as err:
        load_rules([path])
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:"), message
    assert reason in message
    assert "\n" not in message


def test_operators_and_combinators(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
rules:
  - id: 10
    name: all of them
    weight: 0.9
    match:
      all:
        - dialect: stratum-v1
        - field: agent
          regex: "(?i)^cgminer/"
        - field: jobs
          min: 2
          max: 10
        - not: {port: [80, 443]}
        - any:
            - field: pool_host
              suffix: ["*.example-pool.org"]
            - field: login
              contains: [".rig"]
""",
    )
    rule = load_rules([path]).rules[0]
    good = record(
        dialects={"stratum-v1"}, agent="cgminer/4.11", jobs=3, pool_host="eu.example-pool.org"
    )
    assert rule.matches(good)
    assert not rule.matches(
        record(
            dialects={"stratum-v1"}, agent="cgminer/4.11", jobs=1, pool_host="eu.example-pool.org"
        )
    )
    assert not rule.matches(record(dialects={"stratum-v1"}, agent="xmrig", jobs=3, login="a.rig1"))
    assert rule.matches(record(dialects={"stratum-v1"}, agent="CGMiner/1", jobs=3, login="a.rig1"))
    assert not rule.matches(
        record(
            dialects={"stratum-v1"},
            agent="cgminer/4",
            jobs=3,
            pool_host="example-pool.org.evil.com",
        )
    )


def test_disabled_rule_is_validated_but_not_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rules:\n  - id: 5\n    name: switched off\n    enabled: false\n    match: {port: 1}\n",
    )
    assert load_rules([path]).rules == []


def test_family_gating_never_changes_which_rules_fire() -> None:
    """Skipping rules whose required facts are absent is an optimisation only: on every
    flow of the fixtures and the corpus, the gated and the full evaluation agree."""
    from detector.config import Detector, ScanConfig
    from detector.pipeline import run_scan
    from detector.source import expand_inputs
    from tests.conftest import CORPUS, PCAPS

    config = ScanConfig(keep_all_flows=True)
    detector = Detector.load(config)
    paths = [str(PCAPS)] + ([str(CORPUS)] if CORPUS.is_dir() else [])
    result = run_scan(expand_inputs(paths), config, detector)
    checked = 0
    for verdict in result.verdicts:
        record = verdict.record
        full = [rule.id for rule in detector.rules.rules if rule.predicate(record)]
        assert [rule.id for rule in detector.rules.evaluate(record)] == full
        checked += bool(full)
    assert checked > 50


def _fired_as_predicated(rules, records: list) -> set[int]:
    """Each record's rules as the engine evaluates them (its gates) must be those whose
    full predicates hold on it, in rule order; the ids that fired on any."""
    fired = set()
    for r in records:
        got = [rule.id for rule in rules.evaluate(r)]
        assert got == [rule.id for rule in rules.rules if rule.predicate(r)], (
            r.server_port,
            r.facts,
        )
        fired.update(got)
    return fired


def test_exact_gates_agree_with_the_predicates(tmp_path: Path) -> None:
    """Rules gated on exact families (app_proto, dialect, node.protocol, node.name_network,
    model.alert; engine._exact) - alone, in an ``all``, negated, over several values, with
    another case - fire on exactly the records their full predicates hold on."""
    path = write(
        tmp_path,
        """rules:
  - {id: 1, name: a, match: {field: node.protocol, eq: Bitcoin-P2P}}
  - {id: 2, name: b, match: {all: [{dialect: [stratum-v1, cryptonote]}, {field: jobs, min: 1}]}}
  - {id: 3, name: c, match: {all: [{not: {dialect: [stratum-v1, cryptonote]}}, {port: 3333}]}}
  - {id: 4, name: d, match: {all: [{app_proto: tls}, {not: {app_proto: [dns, quic]}}]}}
  - {id: 5, name: e, match: {any: [{app_proto: tls}, {dialect: cryptonote}]}}
  - {id: 6, name: f, match: {all: [{field: model.alert, exists: true}, {port: 3333}]}}
  - {id: 7, name: g, match: {field: node.name_network, in: [filecoin, chia]}}
  - {id: 8, name: h, match: {not: {field: node.protocol, eq: nano}}}
""",
    )
    rules = load_rules([path])
    records = []
    for protos in (set(), {"tls"}, {"tls", "quic"}, {"json", "stratum"}):
        for dialects in (set(), {"stratum-v1"}, {"cryptonote", "stratum-v1"}, {"grin-stratum"}):
            for node in ({}, {"protocol": "bitcoin-p2p"}, {"protocol": "NANO"},
                         {"protocol": "libp2p", "name_network": "Filecoin"}):  # fmt: skip
                for jobs in (0, 2):
                    r = record(
                        app_protos=set(protos), dialects=set(dialects), node=dict(node), jobs=jobs
                    )
                    records.append(r)
                    alert = record(app_protos=set(protos), dialects=set(dialects), node=dict(node))
                    alert.model_score, alert.model_alert = 0.99, True
                    records.append(alert)
    fired = _fired_as_predicated(rules, records)
    assert fired == set(range(1, 9))


def test_port_gates_agree_with_the_predicates(tmp_path: Path) -> None:
    """Rules gated on the server port (engine._ports: ``port:`` or a server_port in/eq, the
    whole match or in its top ``all``, several at once, inside an ``any``, non-integer
    values) fire on exactly the records their full predicates hold on."""
    path = write(
        tmp_path,
        """rules:
  - {id: 1, name: a, match: {port: [3333, 4444]}}
  - {id: 2, name: b, match: {all: [{port: [3333, 4444]}, {field: jobs, min: 1}]}}
  - {id: 3, name: c, match: {all: [{port: [3333, 4444]}, {port: [4444, 5555]}]}}
  - {id: 4, name: d, match: {all: [{field: server_port, in: [5555]}, {app_proto: tls}]}}
  - {id: 5, name: e, match: {field: server_port, eq: 4444}}
  - {id: 6, name: f, match: {any: [{port: 3333}, {field: jobs, min: 1}]}}
  - {id: 7, name: g, match: {all: [{port: ["3333", 5555]}, {field: jobs, min: 1}]}}
  - {id: 8, name: h, match: {all: [{not: {port: 3333}}, {field: jobs, min: 1}]}}
  - {id: 9, name: i, match: {all: [{port: 3333}, {port: 5555}]}}
""",
    )
    rules = load_rules([path])
    assert rules.rules[0].ports == {3333, 4444} and rules.rules[2].ports == {4444}
    assert rules.rules[5].ports is None and rules.rules[6].ports is None
    assert rules.rules[8].ports == frozenset()
    records = []
    for port in (80, 3333, 4444, 5555):
        for protos in (set(), {"tls"}):
            for jobs in (0, 2):
                r = record(app_protos=set(protos), jobs=jobs)
                r.server_port = port
                records.append(r)
    fired = _fired_as_predicated(rules, records)
    assert fired == set(range(1, 9))


def test_presence_gates_agree_with_the_predicates(tmp_path: Path) -> None:
    """Rules gated on the presence of the TLS SNI (engine._PRESENCE: ``exists`` true or
    false, alone, in an ``all``, negated, in an ``any``) fire on exactly the records their
    full predicates hold on, with or without facts."""
    path = write(
        tmp_path,
        """rules:
  - {id: 1, name: a, match: {field: tls.sni, exists: false}}
  - {id: 2, name: b, match: {field: tls.sni, exists: true}}
  - {id: 3, name: c, match: {all: [{app_proto: tls}, {field: tls.sni, exists: false}, {field: jobs, min: 1}]}}
  - {id: 4, name: d, match: {not: {field: tls.sni, exists: false}}}
  - {id: 5, name: e, match: {any: [{field: tls.sni, exists: false}, {field: jobs, min: 1}]}}
  - {id: 6, name: f, match: {all: [{field: tls.sni, exists: true}, {field: tls.sni, eq: a.example}]}}
""",
    )
    rules = load_rules([path])
    assert rules.rules[0].excludes == {"tls.sni"} and rules.rules[1].requires >= {"tls.sni"}
    records = [record(), record(tls={})]
    records[0].facts = None
    for tls in ({"sni": "a.example"}, {"sni": ""}, {"ja3": "x"}, {"sni": None, "alpn": ["h2"]}):
        for protos in (set(), {"tls"}):
            for jobs in (0, 2):
                records.append(record(app_protos=set(protos), tls=dict(tls), jobs=jobs))
    fired = _fired_as_predicated(rules, records)
    assert fired == set(range(1, 7))


def test_family_list_holds_the_families_once_each_in_any_order() -> None:
    """RuleSet.evaluate looks its candidates up with fields.family_list as a tuple: each
    family once, the same ones as fields.families; two flows with the same families
    whose sets iterate in other orders get the same rules."""
    from detector.rules.fields import families, family_list

    protos = ["tls", "http", "json", "quic", "dns", "stratum"]
    a = record(app_protos=set(protos), dialects={"stratum-v1", "cryptonote"})
    b = record(app_protos=set(), dialects=set())
    for name in reversed(protos):  # another insertion order, perhaps another iteration order
        b.facts.app_protos.add(name)
    b.facts.dialects.update(["cryptonote", "stratum-v1"])
    for r in (a, b):
        r.facts.tls["sni"] = "pool.example"
        r.facts.node["protocol"] = "Bitcoin-P2P"
        r.model_score, r.model_alert = 0.9, True
        listed = family_list(r)
        assert len(listed) == len(set(listed)) and frozenset(listed) == families(r)
    assert families(a) == families(b)
    rules = load_rules([SIGNATURES / "rules"], lists_dir=SIGNATURES / "lists")
    assert rules.evaluate(a) == rules.evaluate(b)
    bare = record()
    bare.facts = None
    assert family_list(bare) == [] and families(bare) == frozenset()


def test_family_list_shares_its_prefixed_names_within_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """family_list hands the same "app:NAME" / "dialect:NAME" string to every flow (one
    hash for evaluate's lookup), equal to the text it stands for; past its bound the
    table stops growing and the names are still right."""
    from detector.rules import fields

    a = record(app_protos={"tls"}, dialects={"stratum-v1"})
    b = record(app_protos={"tls"}, dialects={"stratum-v1"})
    first, second = fields.family_list(a), fields.family_list(b)
    assert "app:tls" in first and "dialect:stratum-v1" in first
    for x, y in zip(first, second, strict=True):
        assert x == y and (x is y or not x.startswith(("app:", "dialect:")))
    monkeypatch.setattr(fields, "_MAX_PREFIXED", len(fields._APP))
    size = len(fields._APP)
    novel = record(app_protos={"never-seen-proto"})
    assert "app:never-seen-proto" in fields.family_list(novel)
    assert len(fields._APP) == size


def test_regex_answers_are_remembered_by_value_alike(tmp_path: Path) -> None:
    """A regex leaf remembers whether its pattern is in a value (by the value's text,
    bounded): asked again, after thousands of other values, for a set-valued field or a
    number, it answers as a search does."""
    path = write(
        tmp_path,
        """
rules:
  - id: 11
    name: agent
    match: {field: agent, regex: ["(?i)^cgminer/", "xmr"]}
  - id: 12
    name: ports as text
    match: {field: server_port, regex: "^33"}
""",
    )
    agent_rule, port_rule = load_rules([path]).rules
    pattern = re.compile("(?i:^cgminer/)|(?:xmr)")  # means the same in re and RE2
    agents = [f"agent{i}" for i in range(5000)] + ["CGMiner/1", "x-xmrig", "cgminer"]
    for _ in range(2):
        for agent in agents:
            assert agent_rule.matches(record(agent=agent)) == bool(pattern.search(agent))
    assert port_rule.matches(record())  # server_port 3333: str(3333) is searched


def test_remembered_text_answers_stay_within_their_bound() -> None:
    """The rules' text-test memo (domains, regexes) answers as its test does, asks the test
    once per text while it remembers it, and never holds more than its bound."""
    asked: list[str] = []

    def test(text: str) -> bool:
        asked.append(text)
        return text.startswith("pool")

    memo = _Remembered(test, 8)
    texts = [f"pool{i}" if i % 3 else f"web{i}" for i in range(40)]
    for text in texts + texts[-5:]:
        assert memo[text] is text.startswith("pool")
        assert len(memo) <= 8
    assert asked == texts  # the last five were remembered
