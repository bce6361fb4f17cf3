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
* the names its DNS lookups asked (signatures/lists/chia-names.txt, one of netnames.py's
  network lists): a node with too few peers asks the introducers and seeders and dials
  what they answer, so the passive-DNS names of a peer's address say "Chia";
* the signage-point rhythm of a farm: every 9.375 s a farmer forwards a signage point to
  each harvester, which answers (rules on the ``rhythm.*`` fields, storage.yaml).

This module only records facts (``FlowFacts.node``: protocol ``chia`` with the evidence
found, a confidence and the port's role); rules say what they make: a crypto-node
sighting (nodes.yaml 3950200), evidence toward a farm (storage.yaml 30200xx). A port
alone is never evidence of anything here. Runs in the enrich stage, after the DNS names
of the server's address are known.
"""

from __future__ import annotations

from detector.behaviour import FIELDS as BEHAVIOUR
from detector.behaviour import unpack
from detector.facts import FlowFacts
from detector.flows import FlowRecord
from detector.netnames import NetworkNames

NODE_PROTOCOL = "chia"
NETWORK = "chia"  # its names: signatures/lists/chia-names.txt (netnames.NETWORKS)
COIN = "XCH"
# Default ports (chia/util/initial-config.yaml): the service that listens there. 8448 is
# the harvester's in older configs only (2.7.5's harvester listens on none; Matrix
# federation uses 8448 too): a hint, never evidence alone.
PORTS: dict[int, str] = {8444: "full-node", 8447: "farmer", 8448: "harvester", 58444: "full-node"}
# The names chia/ssl/create_ssl.py gives every certificate it makes (as our x509 reader
# renders them, most specific first: "OU=Organic Farming Division,O=Chia,CN=Chia"): a
# certificate is Chia's when both are whole comma-separated parts of its subject or
# issuer (_chia_name). A substring test for _CHIA_OU first spares the split on the
# certificate names of every other TLS flow (each finished TLS flow comes here).
_CHIA_OU = "OU=Organic Farming Division"
_CHIA_O = "O=Chia"
# A TLS 1.3 client's second flight that carries a certificate: a Chia client's is ~2 KB
# (a 1.6 KB Certificate record, 281 B CertificateVerify, 69 B Finished), a client
# without a certificate sends a 6 B ChangeCipherSpec and a 53-69 B Finished. The flow
# stage's third message is that flight plus whatever the client writes at once after
# it (Chia's 265 B WebSocket upgrade), so a plain client would need a request of
# ~1.4 KB sent in the same breath to pass this.
CLIENT_CERTIFICATE_FLIGHT = 1500
_SIZE_1 = BEHAVIOUR.index("size_1")


def _chia_name(name: str) -> bool:
    """Whether a rendered certificate name has both of Chia's as whole parts: what the
    patterns ``(^|,)OU=Organic Farming Division(,|$)`` and ``(^|,)O=Chia(,|$)`` found,
    without compiling them at every start (~1 M instructions, callgrind) for the few
    certificates that get here (tests/test_chia.py compares the two)."""
    parts = name.split(",")
    return _CHIA_OU in parts and _CHIA_O in parts


def chia_facts(record: FlowRecord, names: NetworkNames) -> None:
    """Note on a finished flow what makes it Chia's, as ``facts.node`` (protocol
    ``chia``); leaves flows another dissector already named a node, or another network's
    names marked (enrich.py ``_network_names``), alone. A mark of Chia's own names is
    replaced by the node facts it leads to here, or stays a mark."""
    facts = record.facts
    if facts is None:
        return
    node = facts.node
    if node and (node.get("protocol") or node.get("name_network", NETWORK) != NETWORK):
        return  # (most flows have no node facts: no lookups for them)
    queries = facts.dns.get("queries")  # (most flows ask nothing: no list built for them)
    asked = [q for q in queries if names.named(NETWORK, q)] if queries else None
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
    tls = facts.tls
    bare = not tls.get("sni") and not tls.get("alpn")
    if (
        "subject" not in tls
        and "issuer" not in tls
        and (not bare or not (facts.dns_names or record.server_port in PORTS))
    ):
        # no certificate names, and not bare - or bare, without a DNS name to be Chia's or
        # a Chia port for a client certificate: nothing _tls_evidence could find (most TLS)
        return
    if (
        not bare
        and _CHIA_OU not in str(tls.get("subject", ""))
        and _CHIA_OU not in str(tls.get("issuer", ""))
    ):
        return  # not bare, and a certificate not Chia's: nothing either (most of the rest)
    node = _tls_evidence(record, facts, names)
    if node is not None:
        facts.node = node
        facts.set_once("coin", COIN)  # what a farm of this flow would farm


def _tls_evidence(record: FlowRecord, facts: FlowFacts, names: NetworkNames) -> dict | None:
    tls = facts.tls
    bare = not tls.get("sni") and not tls.get("alpn")  # how every Chia peer dials
    if not bare and "subject" not in tls and "issuer" not in tls:
        return None  # no certificate names to read and not bare: most TLS, nothing to find
    evidence: list[str] = []
    subject, issuer = str(tls.get("subject", "")), str(tls.get("issuer", ""))
    if (_CHIA_OU in subject or _CHIA_OU in issuer) and any(
        _chia_name(n) for n in (subject, issuer)
    ):
        evidence.append("certificate")
    if not bare and not evidence:
        return None  # the other two pieces of evidence need a bare session: most TLS
    named = []  # (no comprehension without names: a call of its own, every bare TLS flow)
    if bare and facts.dns_names:
        named = [n for n in facts.dns_names if names.named(NETWORK, n)]
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
