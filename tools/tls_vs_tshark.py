"""JA3, JA3S and JA4 of every TCP TLS hello of a set of captures, minewatch against tshark.

    python -m tools.tls_vs_tshark [DIR ...]     (default: ../shared/corpus)

Why a tool and not a test: tshark takes about a second per capture and the corpus has ~300,
which would double ``make test``'s time; tests/test_rules_e2e.py checks JA3 and SNI on the
labelled captures in every run, tests/test_wire_tshark.py the QUIC and upgraded hellos.
This walks everything, once, for the [wire] issue's note.

The reference: tshark's ``tls.handshake.ja3`` and ``tls.handshake.ja3s``, and JA4 computed
from tshark's hello fields as FoxIO's spec says (tests/test_wire_tshark.py's
``ja4_from_fields``). A hello is matched by its flow's two endpoints (first hello of each
TCP stream). Printed: per capture the mismatches, then the totals - hellos both read, read
only by tshark, read only by minewatch, and mismatches per fingerprint.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.test_wire_tshark import FIELDS, _tshark, ja4_from_fields

SERVER_FIELDS = [
    "ip.src",
    "ipv6.src",
    "tcp.srcport",
    "udp.srcport",
    "ip.dst",
    "ipv6.dst",
    "tcp.dstport",
    "udp.dstport",
    "tls.handshake.ja3s",
    "tcp.stream",
]


def _endpoints(row: dict[str, str]) -> frozenset[tuple[str, int]]:
    """The innermost endpoints: tshark lists every IP layer's address, outermost first,
    when the hello came in a tunnel (VXLAN, CAPWAP, IP-in-IP)."""
    src = (row["ip.src"] or row["ipv6.src"]).split(",")[-1]
    dst = (row["ip.dst"] or row["ipv6.dst"]).split(",")[-1]
    return frozenset({(src, int(row["tcp.srcport"])), (dst, int(row["tcp.dstport"]))})


def _theirs(path: Path) -> tuple[dict, dict]:
    """(client hellos, server hellos) tshark reads over TCP, by endpoints."""
    clients: dict = {}
    for values in _tshark(path, "tcp && tls.handshake.type == 1", FIELDS):
        row = dict(zip(FIELDS, values, strict=True))
        if row["tls.handshake.ja3"]:
            clients.setdefault(_endpoints(row), row)
    servers: dict = {}
    for values in _tshark(path, "tcp && tls.handshake.type == 2", SERVER_FIELDS):
        row = dict(zip(SERVER_FIELDS, values, strict=True))
        if row["tls.handshake.ja3s"]:
            servers.setdefault(_endpoints(row), row["tls.handshake.ja3s"].split(",")[0])
    return clients, servers


def _ours(path: Path) -> dict:
    """minewatch's TLS facts of TCP flows, by endpoints."""
    out = subprocess.run(
        [sys.executable, "-m", "detector", "flows", "--all", "-j", "1", str(path)],
        capture_output=True, text=True, timeout=300,
    ).stdout  # fmt: skip
    flows = {}
    for line in out.splitlines():
        entry = json.loads(line)
        tls = (entry.get("facts") or {}).get("tls") or {}
        if entry["proto"] == "TCP" and (tls.get("ja3") or tls.get("ja3s")):
            key = frozenset(
                {(entry["src_ip"], entry["src_port"]), (entry["dest_ip"], entry["dest_port"])}
            )
            flows.setdefault(key, tls)
    return flows


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path(__file__).resolve().parents[2] / "shared" / "corpus"]
    captures = sorted(
        p for root in roots for p in root.rglob("*") if p.suffix in (".pcap", ".pcapng")
    )
    totals: Counter[str] = Counter()
    for path in captures:
        clients, servers = _theirs(path)
        if not clients and not servers:
            continue
        ours = _ours(path)
        for key, row in clients.items():
            tls = ours.get(key, {})
            if not tls.get("ja3"):
                totals["client only tshark"] += 1
                print(f"{path.name}: client hello only tshark reads: {sorted(key)}")
                continue
            totals["client both"] += 1
            if tls["ja3"] != row["tls.handshake.ja3"]:
                totals["ja3 mismatch"] += 1
                print(f"{path.name}: JA3 {tls['ja3']} != {row['tls.handshake.ja3']}")
            if tls.get("ja4") != ja4_from_fields(False, row):
                totals["ja4 mismatch"] += 1
                print(f"{path.name}: JA4 {tls.get('ja4')} != {ja4_from_fields(False, row)}")
        for key, ja3s in servers.items():
            tls = ours.get(key, {})
            if not tls.get("ja3s"):
                totals["server only tshark"] += 1
                print(f"{path.name}: server hello only tshark reads: {sorted(key)}")
                continue
            totals["server both"] += 1
            if tls["ja3s"] != ja3s:
                totals["ja3s mismatch"] += 1
                print(f"{path.name}: JA3S {tls['ja3s']} != {ja3s}")
        for key, tls in ours.items():
            if tls.get("ja3") and key not in clients:
                totals["client only minewatch"] += 1
                print(f"{path.name}: client hello only minewatch reads: {sorted(key)}")
            if tls.get("ja3s") and key not in servers:
                totals["server only minewatch"] += 1
                print(f"{path.name}: server hello only minewatch reads: {sorted(key)}")
        totals["captures"] += 1
    print(" ".join(f"{k}={v}" for k, v in sorted(totals.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
