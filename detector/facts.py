"""What the dissectors saw on one flow: facts, not verdicts.

Dissectors only raise facts here (Zeek's analyzer/notice split): which methods each side
sent, which mining dialect the messages belong to, the agent, login, jobs and submits,
HTTP and TLS details. Rules (detector.rules) later turn facts into verdicts.

Facts that depend on direction are kept per *side* of the flow (side 0 = the endpoint
that sorts first, side 1 = the other), because which side is the client is only settled
when the flow ends: a capture may start mid-session, and then the messages themselves
(who sends mining.submit, who sends a ClientHello) say who the client is.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from detector.compiled import fast


@dataclass(slots=True)
class SideFacts:
    """Facts about what one endpoint of a flow sent."""

    # JSON-RPC methods it sent -> times (a plain dict: most flows never send one, and two
    # Counters made up a third of creating the facts of every inspected flow)
    methods: dict[str, int] = field(default_factory=dict)
    json_messages: int = 0
    json_errors: int = 0
    client_votes: int = 0  # messages that only a client sends (requests, ClientHello)


@dataclass(slots=True)
class FlowFacts:
    """Everything the dissectors learned about one flow."""

    sides: tuple[SideFacts, SideFacts] = field(default_factory=lambda: (SideFacts(), SideFacts()))
    app_protos: set[str] = field(default_factory=set)
    dialects: set[str] = field(default_factory=set)
    agent: str | None = None
    login: str | None = None
    wallet: str | None = None
    worker: str | None = None
    algo: str | None = None  # algorithm of the jobs actually served
    algos: list[str] = field(default_factory=list)  # algorithms the client offered (login)
    coin: str | None = None
    # the Stratum flavour the job and share shapes show (dissect/flavours.py: kawpow,
    # kaspa, equihash-125-4...) and the Equihash personalisation a pool named
    flavour: str | None = None
    pers: str | None = None
    pool_host: str | None = None
    difficulty: float | None = None
    target: str | None = None
    jobs: int = 0
    submits: int = 0
    accepted: int = 0
    rejected: int = 0
    pool_replies: int = 0  # successful answers to a miner's requests (subscribe, login...)
    reported_hashrate: float | None = None  # H/s the client itself reported
    # The work the flow's shares stand for (docs/ARCHITECTURE.md §13), added at each share
    # with the difficulty of the job it answered, so that vardiff is followed. A target
    # that says its own hash count (CryptoNote, an Ethereum boundary) adds hashes; a pool's
    # share difficulty (Stratum mining.set_difficulty), whose hash count depends on the
    # algorithm, adds difficulty units. A share with neither is only in ``submits``. The
    # sums of squares and the largest share give the interval its spread when the shares'
    # difficulties differ (hashrate.py).
    work_hashes: float = 0.0
    hash_shares: int = 0
    hashes_sq: float = 0.0
    hashes_max: float = 0.0
    work_diff: float = 0.0
    diff_shares: int = 0
    diff_sq: float = 0.0
    diff_max: float = 0.0
    shares_cut: bool = False  # shares stopped being counted before the flow ended
    # jobs and shares over time (activity.py: (start, width, jobs, shares) buckets); None
    # on the flows that carry neither - nearly all
    activity: list[tuple[float, float, int, int]] | None = None
    http: dict[str, str] = field(default_factory=dict)  # method, uri, host, user_agent, x-*
    tls: dict[str, Any] = field(default_factory=dict)
    # WebSocket frame counts after an HTTP Upgrade (dissect/websocket.py); None on the
    # flows that never upgraded - nearly all, so no empty dict is made for each of them
    websocket: dict[str, int] | None = None
    dns: dict[str, list[str]] = field(default_factory=dict)  # queries/answers on a DNS flow
    dns_names: list[str] = field(default_factory=list)  # names the server IP was resolved from
    hosts: list[str] = field(default_factory=list)  # SNI, HTTP Host, Stratum host, DNS names
    node: dict[str, Any] = field(default_factory=dict)  # crypto-node P2P: protocol, network...
    pool: dict[str, str] = field(default_factory=dict)  # pool-list match: name, coin, via
    gaps: int = 0  # holes in reassembled streams (loss or snaplen cut)
    dissector_errors: int = 0  # parser failures on this flow (hostile or broken input)
    evidence: list[str] = field(default_factory=list)  # short human-readable notes

    def stow(self) -> FlowFacts:
        """Make the facts of a flow that is kept but no longer written compact: empty
        containers go, and what many flows have alike - the name sets (app_protos,
        dialects), the per-side method counts, the notes, repeated strings - is shared
        between them (a farm's thousands of flows each parsed their own copy). This is
        for flows that wait for their idle timeout (up to minutes) after inspection, and
        for suspects' evidence flows: without it, more flows alive at once or more
        suspects cost memory in proportion. ``unstow`` makes the facts writable again.

        Field by field rather than a loop over ``_CONTAINERS``: every inspected flow goes
        through both (a third of the time of the loop; a test checks that every
        container field is covered)."""
        # The strings that flows repeat (_STRINGS), shared. Most flows - TLS, HTTP, DNS -
        # have none of them: ten attribute tests say so in ~400 instructions, where an
        # attrgetter's tuple and its comparison took ~2,100 (callgrind). A test sets each
        # of _STRINGS alone and checks that it is shared: none is left out here.
        if not (
            self.agent is None and self.login is None and self.wallet is None
            and self.worker is None and self.algo is None and self.coin is None
            and self.flavour is None and self.pers is None and self.pool_host is None
            and self.target is None
        ):  # fmt: skip
            for name in _STRINGS:
                value = getattr(self, name)
                if value is not None:
                    setattr(self, name, intern(value))
        names = self.app_protos
        self.app_protos = _shared(frozenset(names)) if names else None
        names = self.dialects
        self.dialects = _shared(frozenset(names)) if names else None
        if not self.algos:
            self.algos = None
        if not self.http:
            self.http = None
        if not self.tls:
            self.tls = None
        if not self.dns:
            self.dns = None
        if not self.dns_names:
            self.dns_names = None
        if not self.hosts:
            self.hosts = None
        if not self.node:
            self.node = None
        if not self.pool:
            self.pool = None
        if not self.evidence:
            self.evidence = None
        else:
            self.evidence = _shared_notes(self.evidence)
        self.sides = _shared_sides(self.sides)
        return self

    def unstow(self) -> FlowFacts:
        """The facts as dissectors, enrichment and rules expect them (see ``stow``)."""
        names = self.app_protos
        if names is None:
            self.app_protos = set()
        elif type(names) is frozenset:
            self.app_protos = set(names)
        names = self.dialects
        if names is None:
            self.dialects = set()
        elif type(names) is frozenset:
            self.dialects = set(names)
        if self.algos is None:
            self.algos = []
        if self.http is None:
            self.http = {}
        if self.tls is None:
            self.tls = {}
        if self.dns is None:
            self.dns = {}
        if self.dns_names is None:
            self.dns_names = []
        if self.hosts is None:
            self.hosts = []
        if self.node is None:
            self.node = {}
        if self.pool is None:
            self.pool = {}
        if self.evidence is None:
            self.evidence = []
        elif type(self.evidence) is tuple:
            self.evidence = list(self.evidence)
        if type(self.sides) is SharedSides:
            a, b = self.sides
            self.sides = (_own_side(a), _own_side(b))
        return self

    def note(self, text: str) -> None:
        """Keep a short piece of evidence (bounded, first ones win)."""
        if len(self.evidence) < 12 and text not in self.evidence:
            self.evidence.append(text)

    def set_once(self, name: str, value: Any) -> None:
        """Record a string fact unless an earlier message already set it."""
        if value is None or value == "":
            return
        if getattr(self, name) is None:
            if isinstance(value, str):
                value = value[:256]
            setattr(self, name, value)


# The container fields of FlowFacts and how to make each: what FlowFacts.stow must cover
# (tests/test_memory_bounded.py checks it does).
_CONTAINERS: dict[str, type] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in fields(FlowFacts)
    if f.default_factory is not MISSING and f.name != "sides"
}
_SHARED: dict[frozenset[str], frozenset[str]] = {}
# String facts that ``stow`` shares between flows (see ``intern``).
_STRINGS = (
    "agent", "login", "wallet", "worker", "algo", "coin", "flavour", "pers", "pool_host",
    "target",
)  # fmt: skip


def _shared(names: frozenset[str]) -> frozenset[str]:
    """One frozenset object per distinct set of names (a few: dissector names)."""
    found = _SHARED.get(names)
    if found is None:
        if len(_SHARED) >= 1024:  # cannot happen with fixed names; bounded all the same
            return names
        found = _SHARED[names] = names
    return found


class SharedSides(tuple):  # type: ignore[type-arg]
    """The two SideFacts of stowed facts, shared between the flows that have the same
    (never written while stowed: ``unstow`` copies them)."""

    __slots__ = ()


_SIDES: dict[tuple, SharedSides] = {}
_NOTES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _shared_sides(sides: tuple[SideFacts, SideFacts]) -> tuple[SideFacts, SideFacts]:
    if type(sides) is SharedSides:
        return sides
    a, b = sides  # one flat key, built without a generator per side
    key = (
        tuple(a.methods.items()) if a.methods else (), a.json_messages, a.json_errors,
        a.client_votes,
        tuple(b.methods.items()) if b.methods else (), b.json_messages, b.json_errors,
        b.client_votes,
    )  # fmt: skip
    found = _SIDES.get(key)
    if found is None:
        if len(_SIDES) >= MAX_INTERNED // 4:
            return sides
        found = _SIDES[key] = SharedSides(  # copies: whoever holds ``sides`` keeps them
            SideFacts(
                {intern(name): count for name, count in side.methods.items()},
                side.json_messages, side.json_errors, side.client_votes,
            )
            for side in sides
        )  # fmt: skip
    return found  # type: ignore[return-value]


def py_own_side(side: SideFacts) -> SideFacts:
    """A copy of a shared SideFacts that the flow's facts may write (``unstow``)."""
    return SideFacts(dict(side.methods), side.json_messages, side.json_errors, side.client_votes)


def _copied_side(side: SideFacts) -> SideFacts:
    """``py_own_side`` by the compiled ``fresh_copy`` (its methods copied only when there
    are some): the dataclass __init__ is most of what unstowing a flow's facts costs."""
    own = _fresh_copy(side)
    if side.methods:
        own.methods = dict(side.methods)
    return own


def _shared_notes(notes: list[str] | tuple[str, ...]) -> tuple[str, ...] | list[str]:
    key = tuple(notes)
    found = _NOTES.get(key)
    if found is None:
        if len(_NOTES) >= MAX_INTERNED // 4:
            return notes
        found = _NOTES[key] = tuple(intern(text) for text in key)
    return found


_INTERNED: dict[str, str] = {}
MAX_INTERNED = 200_000


def intern(text: str) -> str:
    """One string object per distinct value, for strings that many flows' facts repeat
    (method names, agents, wallets, notes): a farm's thousands of flows each parse their
    own copy. Bounded, unlike ``sys.intern``, because the strings come off the wire: past
    MAX_INTERNED distinct values, new ones are kept as they are."""
    found = _INTERNED.get(text)
    if found is None:
        if len(_INTERNED) >= MAX_INTERNED:
            return text
        found = _INTERNED[text] = text
    return found


_new = object.__new__


def new_facts() -> FlowFacts:
    """``FlowFacts()``: copied from a prototype by the compiled ``fresh_copy`` (each
    empty container a new one) where it is built, else ``py_new_facts``. The dissectors
    make one for every flow one of them takes - some 15,000 on the real-traffic bench
    input - and the copy is ~2,500 instructions against ~10,500 field by field (callgrind,
    with the collection). Tests check both equal ``FlowFacts()`` (every field set, none
    shared with another flow's facts)."""
    facts = _fresh_copy(_PROTOTYPE)
    facts.sides = (_fresh_copy(_SIDE_PROTOTYPE), _fresh_copy(_SIDE_PROTOTYPE))
    return facts


def py_new_facts() -> FlowFacts:
    """``FlowFacts()``, made field by field (``new_facts``'s pure twin): some 3,000
    instructions (a fifth) fewer than the dataclass __init__, which tests each of its 42
    parameters against its default and calls each container's factory through a closure
    (callgrind: 15.5 k -> 12.4 k with the collection)."""
    facts = _new(FlowFacts)
    a = _new(SideFacts)  # (SideFacts(), twice: inline, one call fewer each)
    a.methods, a.json_messages, a.json_errors, a.client_votes = {}, 0, 0, 0
    b = _new(SideFacts)
    b.methods, b.json_messages, b.json_errors, b.client_votes = {}, 0, 0, 0
    facts.sides = (a, b)
    facts.app_protos = set()
    facts.dialects = set()
    facts.agent = None
    facts.login = None
    facts.wallet = None
    facts.worker = None
    facts.algo = None
    facts.algos = []
    facts.coin = None
    facts.flavour = None
    facts.pers = None
    facts.pool_host = None
    facts.difficulty = None
    facts.target = None
    facts.jobs = 0
    facts.submits = 0
    facts.accepted = 0
    facts.rejected = 0
    facts.pool_replies = 0
    facts.reported_hashrate = None
    facts.work_hashes = 0.0
    facts.hash_shares = 0
    facts.hashes_sq = 0.0
    facts.hashes_max = 0.0
    facts.work_diff = 0.0
    facts.diff_shares = 0
    facts.diff_sq = 0.0
    facts.diff_max = 0.0
    facts.shares_cut = False
    facts.activity = None
    facts.http = {}
    facts.tls = {}
    facts.websocket = None
    facts.dns = {}
    facts.dns_names = []
    facts.hosts = []
    facts.node = {}
    facts.pool = {}
    facts.gaps = 0
    facts.dissector_errors = 0
    facts.evidence = []
    return facts


# What ``new_facts`` copies (never handed out: its containers are replaced in each copy).
_PROTOTYPE = py_new_facts()
_SIDE_PROTOTYPE = SideFacts()
if fast is not None:
    _fresh_copy = fast.fresh_copy
    _own_side = _copied_side
else:  # the pure twins when nothing is compiled
    new_facts = py_new_facts  # noqa: F811
    _own_side = py_own_side
