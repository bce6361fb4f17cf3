"""The flow facts a rule may test, by name.

One registry maps each documented field name to a function of the FlowRecord, so rule
files never reach into Python attributes directly and a typo is caught at load time.
Set-valued fields (dialects, methods, algos) match when *any* element matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from detector.behaviour import FIELDS as BEHAVIOUR_FIELDS
from detector.behaviour import unpack
from detector.compiled import fast
from detector.facts import FlowFacts
from detector.flows import FlowRecord

_EMPTY = FlowFacts()


def _facts(r: FlowRecord) -> FlowFacts:
    """The record's facts, or empty ones. The getters below spell it ``(r.facts or
    _EMPTY)`` inline: FlowFacts defines neither ``__bool__`` nor ``__len__``, so facts are
    always true, and a rule's test of a field is one Python call fewer (rules are tested
    on every ended flow with facts, several fields each)."""
    return r.facts or _EMPTY


def _client(r: FlowRecord) -> Any:
    return (r.facts or _EMPTY).sides[r.client_side]


def _server(r: FlowRecord) -> Any:
    return (r.facts or _EMPTY).sides[1 - r.client_side]


def _http(name: str) -> Callable[[FlowRecord], Any]:
    get = lambda r: (r.facts or _EMPTY).http.get(name)  # noqa: E731
    ITEMS[get] = ("http", name)
    return get


def _tls(name: str) -> Callable[[FlowRecord], Any]:
    get = lambda r: (r.facts or _EMPTY).tls.get(name)  # noqa: E731
    ITEMS[get] = ("tls", name)
    return get


# getter -> (facts dict, key) of the fields that are one item of ``facts.http`` or
# ``facts.tls``: rules/engine.py tests them in one closure, without a call of the getter
# (the tests of these fields are most of the rule tests on the ended flows)
ITEMS: dict[Callable[[FlowRecord], Any], tuple[str, str]] = {}


_AT = {name: i for i, name in enumerate(BEHAVIOUR_FIELDS)}


def _rhythm(name: str) -> Callable[[FlowRecord], Any]:
    """A number about the flow's message rhythm, from its behaviour (behaviour.py), or
    None: no behaviour kept (UDP, one-way, a scan without the flow model), or its
    orientation changed after counting (pushes and requests describe the other side).

    * ``client_messages``, ``pushes``: counts.
    * ``client_period``: the client messages' intervals weighted by their length
      (sum of squared intervals / their sum), s: the period a client keeps, which the
      short intervals of a burst (a handshake, a sync) barely move.
    * ``server_lag``: the server's answer delays summed over the client's span: near 1
      when the server speaks long after each client message (it sets the clock: a
      farmer's signage points every 9.375 s, each answered at once by the harvester),
      near 0 for request and answer (a poller).
    * ``push_period``: the same weighted period of the server's pushes, s.
    * ``push_share``: pushes / server messages (a feed the client never asks for).
    """

    def get(r: FlowRecord) -> Any:
        if r.behaviour is None:
            return None
        b = unpack(r.behaviour)
        if b[_AT["reoriented"]]:
            return None
        if name == "client_messages":
            return b[_AT["msgs_toserver"]]
        if name == "pushes":
            return b[_AT["pushes"]]
        if name == "push_share":
            return b[_AT["pushes"]] / b[_AT["msgs_toclient"]] if b[_AT["msgs_toclient"]] else None
        if name == "push_period":
            span = b[_AT["push_last"]] - b[_AT["push_first"]]
            return b[_AT["push_sq"]] / span if span > 0 else None
        span = b[_AT["req_last"]] - b[_AT["req_first"]]
        if span <= 0:
            return None
        if name == "client_period":
            return b[_AT["req_sq"]] / span
        return b[_AT["answer_delay"]] / span  # server_lag

    return get


# name -> (accessor, kind) where kind is "str", "num", "set" or "bool"
FIELDS: dict[str, tuple[Callable[[FlowRecord], Any], str]] = {
    # the record's own values by attrgetter (a C call, not a Python one, per test)
    "proto": (attrgetter("proto"), "str"),
    "client_ip": (attrgetter("client_ip"), "str"),
    "server_ip": (attrgetter("server_ip"), "str"),
    "client_port": (attrgetter("client_port"), "num"),
    "server_port": (attrgetter("server_port"), "num"),
    # FlowRecord.duration spelled out: a property call fewer per test (a rule's min on it
    # is tested on most TLS flows)
    "duration": (lambda r: max(0.0, r.last_ts - r.first_ts), "num"),
    "pkts_toserver": (attrgetter("pkts_toserver"), "num"),
    "pkts_toclient": (attrgetter("pkts_toclient"), "num"),
    "bytes_toserver": (attrgetter("bytes_toserver"), "num"),
    "bytes_toclient": (attrgetter("bytes_toclient"), "num"),
    "orientation": (attrgetter("orientation"), "str"),
    "dialect": (lambda r: (r.facts or _EMPTY).dialects, "set"),
    "app_proto": (lambda r: (r.facts or _EMPTY).app_protos, "set"),
    "client_methods": (lambda r: set(_client(r).methods), "set"),
    "server_methods": (lambda r: set(_server(r).methods), "set"),
    "client_json_messages": (lambda r: _client(r).json_messages, "num"),
    "server_json_messages": (lambda r: _server(r).json_messages, "num"),
    "json_errors": (lambda r: _client(r).json_errors + _server(r).json_errors, "num"),
    "agent": (lambda r: (r.facts or _EMPTY).agent, "str"),
    "login": (lambda r: (r.facts or _EMPTY).login, "str"),
    "wallet": (lambda r: (r.facts or _EMPTY).wallet, "str"),
    "worker": (lambda r: (r.facts or _EMPTY).worker, "str"),
    "coin": (lambda r: (r.facts or _EMPTY).coin, "str"),
    "algo": (lambda r: (r.facts or _EMPTY).algo, "str"),
    "flavour": (lambda r: (r.facts or _EMPTY).flavour, "str"),
    "algos_offered": (lambda r: set((r.facts or _EMPTY).algos), "set"),
    "pool_host": (lambda r: (r.facts or _EMPTY).pool_host, "str"),
    "difficulty": (lambda r: (r.facts or _EMPTY).difficulty, "num"),
    "jobs": (lambda r: (r.facts or _EMPTY).jobs, "num"),
    "submits": (lambda r: (r.facts or _EMPTY).submits, "num"),
    "accepted": (lambda r: (r.facts or _EMPTY).accepted, "num"),
    "rejected": (lambda r: (r.facts or _EMPTY).rejected, "num"),
    "pool_replies": (lambda r: (r.facts or _EMPTY).pool_replies, "num"),
    "reported_hashrate": (lambda r: (r.facts or _EMPTY).reported_hashrate, "num"),
    "http.method": (_http("method"), "str"),
    "http.uri": (_http("uri"), "str"),
    "http.host": (_http("host"), "str"),
    "http.user_agent": (_http("user-agent"), "str"),
    "http.x_mining_extensions": (_http("x-mining-extensions"), "str"),
    "http.x_stratum": (_http("x-stratum"), "str"),
    "http.auth_user": (_http("auth_user"), "str"),
    "tls.sni": (_tls("sni"), "str"),
    "tls.ja3": (_tls("ja3"), "str"),
    "tls.ja3s": (_tls("ja3s"), "str"),
    "tls.ja4": (_tls("ja4"), "str"),
    "tls.alpn": (lambda r: set((r.facts or _EMPTY).tls.get("alpn") or ()), "set"),
    "tls.transport": (_tls("transport"), "str"),  # "quic" for a QUIC Initial's hello
    "tls.upgrade": (_tls("upgrade"), "str"),  # smtp-starttls, socks5, http-connect...
}


FIELDS.update(
    {
        "hosts": (lambda r: (r.facts or _EMPTY).hosts, "set"),
        "dns.names": (lambda r: set((r.facts or _EMPTY).dns_names), "set"),
        "dns.queries": (lambda r: set((r.facts or _EMPTY).dns.get("queries", [])), "set"),
        "pool.name": (lambda r: (r.facts or _EMPTY).pool.get("name"), "str"),
        "pool.coin": (lambda r: (r.facts or _EMPTY).pool.get("coin"), "str"),
        "pool.match": (lambda r: (r.facts or _EMPTY).pool.get("match"), "str"),
        "pool.via": (lambda r: (r.facts or _EMPTY).pool.get("via"), "str"),
        "pool.scheme": (lambda r: (r.facts or _EMPTY).pool.get("scheme"), "str"),
        "node.protocol": (lambda r: (r.facts or _EMPTY).node.get("protocol"), "str"),
        "node.network": (lambda r: (r.facts or _EMPTY).node.get("network"), "str"),
        "node.confidence": (lambda r: (r.facts or _EMPTY).node.get("confidence"), "str"),
        "node.user_agent": (lambda r: (r.facts or _EMPTY).node.get("user_agent"), "str"),
        # protocol ids a libp2p opener proposed (dissect/libp2p.py), Levin/Bitcoin commands...
        "node.commands": (lambda r: set((r.facts or _EMPTY).node.get("commands", ())), "set"),
        # a crypto network's own names the flow's client used (enrich.py, netnames.py)
        "node.name_network": (lambda r: (r.facts or _EMPTY).node.get("name_network"), "str"),
        "node.names": (lambda r: set((r.facts or _EMPTY).node.get("names", ())), "set"),
        "tls.records": (lambda r: len((r.facts or _EMPTY).tls.get("records", ())), "num"),
        "tls.self_signed": (lambda r: (r.facts or _EMPTY).tls.get("self_signed"), "str"),
        # the first certificate's names (TLS <= 1.2 only: TLS 1.3 encrypts it), as
        # "CN=...,O=..." (dissect/tls/x509.py)
        "tls.subject": (_tls("subject"), "str"),
        "tls.issuer": (_tls("issuer"), "str"),
        "tls.version": (_tls("version"), "str"),  # negotiated: TLSv1.2, TLSv1.3 ...
        "node.evidence": (lambda r: set((r.facts or _EMPTY).node.get("evidence") or ()), "set"),
        **{
            f"rhythm.{name}": (_rhythm(name), "num")
            for name in (
                "client_messages",
                "client_period",
                "server_lag",
                "pushes",
                "push_period",
                "push_share",
            )
        },  # fmt: skip
        "websocket.messages": (
            lambda r: ((r.facts or _EMPTY).websocket or {}).get("messages", 0),
            "num",
        ),
        # the flow model (model.py): its score, and True when it reached the model's own
        # threshold with enough server pushes (test with `exists: true`)
        "model.score": (attrgetter("model_score"), "num"),
        "model.alert": (lambda r: True if r.model_alert else None, "bool"),
    }
)


def field_names() -> list[str]:
    return sorted(FIELDS)


# Which part of the facts must be non-empty for a positive test of a field to hold. Rules
# whose `all` conditions need a part a flow lacks are skipped without evaluation.
FAMILY_OF: dict[str, str] = {
    "dialect": "dialects",
    "hosts": "names",
    "dns.names": "names",
    "client_methods": "json",
    "server_methods": "json",
    "client_json_messages": "json",
    "server_json_messages": "json",
    "json_errors": "json",
    "node.protocol": "node",
    "node.network": "node",
    "node.confidence": "node",
    "node.user_agent": "node",
    "node.commands": "node",
    "node.name_network": "node",
    "node.names": "node",
    "node.evidence": "node",
    **{name: "behaviour" for name in FIELDS if name.startswith("rhythm.")},
    "agent": "agent",
    # the flow model scored the flow (model_score set) / alerted on it (model_alert)
    "model.score": "model",
    "model.alert": "model_alert",
    "pool.name": "pool",
    "pool.coin": "pool",
    "pool.match": "pool",
    "pool.via": "pool",
    "pool.scheme": "pool",
    **{name: "http" for name in FIELDS if name.startswith("http.")},
    **{name: "tls" for name in FIELDS if name.startswith("tls.")},
}


def families(r: FlowRecord) -> frozenset[str]:
    """The non-empty parts of a flow's facts (see FAMILY_OF), ``model`` / ``model_alert``
    when the flow model scored / alerted on the flow, and the values of a few fields of a
    small vocabulary: ``app:NAME`` per app_proto, ``dialect:NAME`` per dialect,
    ``node.protocol=name`` and ``node.name_network=name`` lowercased, and ``tls.sni`` when
    the flow has one (rules/engine.py gates conditions on them, _EXACT_FIELDS and
    _PRESENCE)."""
    return frozenset(family_list(r))


def family_list(r: FlowRecord) -> list[str]:
    """``families`` as a list, each once, in an order that depends on the facts' set
    iteration orders: what RuleSet.evaluate looks its candidates up with (as a tuple: no
    set built for every flow, ~1,500 instructions, callgrind)."""
    f = r.facts
    if r.model_score is not None:
        model = ["model", "model_alert"] if r.model_alert else ["model"]
        if f is None:
            return model
    elif f is None:
        return []
    else:
        model = []
    present = ["behaviour", *model] if r.behaviour is not None else model
    for name in f.app_protos:
        present.append(_APP.get(name) or _prefixed(_APP, "app:", name))
    if f.dialects:
        present.append("dialects")
        for name in f.dialects:
            present.append(_DIALECT.get(name) or _prefixed(_DIALECT, "dialect:", name))
    if "json" in f.app_protos:
        present.append("json")
    if f.node:
        present.append("node")
        node = f.node
        value = node.get("protocol")
        if value is not None:
            present.append("node.protocol=" + str(value).lower())
        value = node.get("name_network")
        if value is not None:
            present.append("node.name_network=" + str(value).lower())
    if f.pool:
        present.append("pool")
    if f.http:
        present.append("http")
    if f.tls:
        present.append("tls")
        if f.tls.get("sni") is not None:
            present.append("tls.sni")  # (the Chia rules need a TLS session without one)
    if f.hosts:
        present.append("names")
    if f.agent:
        present.append("agent")
    return present


def family_keys(records: Sequence[FlowRecord], ports: frozenset[int]) -> list[tuple[Any, ...]]:
    """Per record, the key RuleSet.evaluate_all looks its candidate rules up with:
    ``family_list`` as a tuple, with the server port last when ``ports`` (every port a
    rule names) holds it. Compiled (csrc/records.c, family_keys) where it is built - in
    Python, family_list and the key cost ~4,300 instructions a flow with facts, the
    compiled walk ~2,200 (callgrind, real-traffic bench) - else its twin
    ``family_keys_python``."""
    if fast is not None:
        return fast.family_keys(records, ports, _APP, _DIALECT, _prefixed)  # type: ignore[no-any-return]
    return family_keys_python(records, ports)


def family_keys_python(
    records: Sequence[FlowRecord], ports: frozenset[int]
) -> list[tuple[Any, ...]]:
    """``family_keys`` in Python: the compiled family_keys' twin."""
    keys = []
    for record in records:
        present = family_list(record)
        port = record.server_port
        keys.append((*present, port) if port in ports else tuple(present))
    return keys


# "app:NAME" and "dialect:NAME" by name, made once each: family_list hands one shared
# string per name instead of a new one per flow, whose hash RuleSet.evaluate's lookup
# then computes afresh (the names are a few dissector and dialect names; bounded all the
# same, as the flow facts come off the wire).
_APP: dict[str, str] = {}
_DIALECT: dict[str, str] = {}
_MAX_PREFIXED = 4096


def _prefixed(table: dict[str, str], prefix: str, name: str) -> str:
    """``prefix + name``, kept in ``table`` (while it has room) for the next flow."""
    text = prefix + name
    if len(table) < _MAX_PREFIXED:
        table[name] = text
    return text
