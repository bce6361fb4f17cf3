"""Chia (chia-blockchain) on the wire: which finished flows are Chia's, as node facts.

Chia peers talk WebSocket inside mutual TLS (docs/ARCHITECTURE.md §3.y "Chia" has the
facts and their sources): full node 8444, farmer 8447 (its harvesters dial it);
every peer dials an IP address, so there is no SNI, and Python's ssl offers no ALPN for
them. Since chia-blockchain 2.5 (pull request #19079) servers accept TLS 1.3 only, so the
certificates - subject ``CN=Chia, O=Chia, OU=Organic Farming Division``, issued by
``CN=Chia CA`` of the same organisation (chia/ssl/create_ssl.py) - are visible only on a
TLS 1.2 session with an older peer. What the wire still shows under TLS 1.3:

* the client's second flight carries a certificate: a Chia client sends ~2 KB
  (Certificate + CertificateVerify + Finished of a 2048-bit RSA key, then its WebSocket
  upgrade) where a client without a certificate sends ~80 bytes and its request;
* the names its DNS lookups asked (signatures/lists/chia-names.txt): a node with too few
  peers asks the introducers and seeders and dials what they answer, so the passive-DNS
  names of a peer's address say "Chia";
* the signage-point rhythm of a farm: every 9.375 s a farmer forwards a signage point to
  each harvester, which answers (rules on the ``rhythm.*`` fields, storage.yaml).

This module only records facts (``FlowFacts.node``: protocol ``chia`` with the evidence
found, a confidence and the port's role); rules say what they make: a crypto-node
sighting (nodes.yaml 3950200), evidence toward a farm (storage.yaml 30200xx). A port
alone is never evidence of anything here. Runs in the enrich stage, after the DNS names
of the server's address are known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from detector.behaviour import FIELDS as BEHAVIOUR
from detector.behaviour import unpack
from detector.errors import InputError
from detector.facts import FlowFacts
from detector.flows import FlowRecord

NODE_PROTOCOL = "chia"
COIN = "XCH"
# Default ports (chia/util/initial-config.yaml): the service that listens there. 8448 is
# the harvester's in older configs only (2.7.5's harvester listens on none; Matrix
# federation uses 8448 too): a hint, never evidence alone.
PORTS: dict[int, str] = {8444: "full-node", 8447: "farmer", 8448: "harvester", 58444: "full-node"}
# The names chia/ssl/create_ssl.py gives every certificate it makes (as our x509 reader
# renders them, most specific first: "OU=Organic Farming Division,O=Chia,CN=Chia").
_CHIA_DN = re.compile(r"(^|,)OU=Organic Farming Division(,|$)")
_CHIA_O = re.compile(r"(^|,)O=Chia(,|$)")
# A TLS 1.3 client's second flight that carries a certificate: a Chia client's is ~2 KB
# (a 1.6 KB Certificate record, 281 B CertificateVerify, 69 B Finished), a client
# without a certificate sends a 6 B ChangeCipherSpec and a 53-69 B Finished. The flow
# stage's third message is that flight plus whatever the client writes at once after
# it (Chia's 265 B WebSocket upgrade), so a plain client would need a request of
# ~1.4 KB sent in the same breath to pass this.
CLIENT_CERTIFICATE_FLIGHT = 1500
_SIZE_1 = BEHAVIOUR.index("size_1")
_HOST = re.compile(r"(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}")


@dataclass(frozen=True, slots=True)
class ChiaNames:
    """The names of signatures/lists/chia-names.txt: exact names and ``*.`` suffixes."""

    exact: frozenset[str]
    suffixes: frozenset[str] = frozenset()

    def named(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        if name in self.exact:
            return True
        if self.suffixes:
            labels = name.split(".")
            return any(".".join(labels[i:]) in self.suffixes for i in range(len(labels)))
        return False

    def __len__(self) -> int:
        return len(self.exact) + len(self.suffixes)


def load_names(path: Path) -> ChiaNames:
    """Read a names list: one name per line with a ``# source`` comment; blank and
    comment-only lines skipped. A bad line is an InputError naming file, line, reason."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    exact: set[str] = set()
    suffixes: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        text, hash_, comment = line.partition("#")
        name = text.strip().lower().rstrip(".")
        if not name:
            continue
        if not hash_ or not comment.strip():
            raise InputError(f"{path}:{lineno}: {name!r} has no '# source' comment")
        if len(name) > 253 or not _HOST.fullmatch(name):
            raise InputError(f"{path}:{lineno}: bad host name {name!r}")
        if name.startswith("*."):
            suffixes.add(name[2:])
        else:
            exact.add(name)
    if not exact and not suffixes:
        raise InputError(f"{path}: no names")
    return ChiaNames(frozenset(exact), frozenset(suffixes))


def chia_facts(record: FlowRecord, names: ChiaNames) -> None:
    """Note on a finished flow what makes it Chia's, as ``facts.node`` (protocol
    ``chia``); leaves flows another dissector already named a node alone."""
    facts = record.facts
    if facts is None or facts.node:
        return
    asked = [q for q in facts.dns.get("queries", ()) if names.named(q)]
    if asked:
        # the host that asked is the node (or wallet), not the resolver that answered
        facts.node = {
            "protocol": NODE_PROTOCOL,
            "network": _network(asked),
            "confidence": "medium",
            "evidence": ["dns-lookup"],
            "host": "client",
            "names": asked[:4],
        }
        facts.note(f"Chia introducer/seeder looked up: {asked[0]}")
        return
    if "tls" not in facts.app_protos:
        return
    node = _tls_evidence(record, facts, names)
    if node is not None:
        facts.node = node
        facts.set_once("coin", COIN)  # what a farm of this flow would farm


def _tls_evidence(record: FlowRecord, facts: FlowFacts, names: ChiaNames) -> dict | None:
    tls = facts.tls
    evidence: list[str] = []
    subject, issuer = str(tls.get("subject", "")), str(tls.get("issuer", ""))
    if any(_CHIA_DN.search(n) and _CHIA_O.search(n) for n in (subject, issuer)):
        evidence.append("certificate")
    bare = not tls.get("sni") and not tls.get("alpn")  # how every Chia peer dials
    named = [n for n in facts.dns_names if names.named(n)] if bare else []
    if named:
        evidence.append("dns-name")
    port_role = PORTS.get(record.server_port)
    if bare and port_role and _client_certificate(record):
        evidence.append("client-certificate")
    if not evidence:
        return None
    confidence = (
        "high" if "certificate" in evidence else "medium" if named else "low"
    )  # fmt: skip
    node: dict = {
        "protocol": NODE_PROTOCOL,
        "network": _network(named) if named else None,
        "confidence": confidence,
        "evidence": evidence,
    }
    if port_role:
        node["port_role"] = port_role
    if named:
        node["names"] = named[:4]
    facts.note("Chia peer: " + ", ".join(evidence))
    return node


def _client_certificate(record: FlowRecord) -> bool:
    """Did the client send a certificate in its second TLS 1.3 flight? (see
    CLIENT_CERTIFICATE_FLIGHT; read from the flow stage's first message sizes)"""
    facts = record.facts
    if record.behaviour is None or facts is None or facts.tls.get("version") != "TLSv1.3":
        return False
    values = unpack(record.behaviour)
    size_1, size_2, size_3 = (values[_SIZE_1 + k] for k in range(3))  # + client, - server
    return size_1 > 0 and size_2 < 0 and size_3 >= CLIENT_CERTIFICATE_FLIGHT


def _network(names: list[str]) -> str:
    return "testnet11" if any("testnet" in n for n in names) else "mainnet"
