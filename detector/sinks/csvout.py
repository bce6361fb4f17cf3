"""CSV: one row per suspect and window, every packet-derived string escaped.

``event`` says what a row is: ``alert`` (a suspect), ``crypto-node`` (an informational
node sighting) or ``wallet`` (an informational wallet sighting); ``role`` what the host
is (dialects.role_of, nodehosts.NodeHost.role): ``pool-miner``, ``solo-miner``,
``storage-farmer``, ``crypto-node`` - a sighting's, or a suspect's where the site's policy
makes node hosts suspects (``--nodes-as-suspects``) - or ``wallet`` (never a suspect)."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from detector.nodehosts import NodeHost
from detector.sinks.common import eve_time, suspect_summary
from detector.suspects import Suspect
from detector.textsafe import escape_cell

COLUMNS = [
    "event",
    "src_ip",
    "score",
    "role",
    "first_seen",
    "last_seen",
    "flows",
    "dialects",
    "coins",
    "pools",
    "pool_names",
    "pool_hosts",
    "agents",
    "wallets",
    "logins",
    "workers",
    "rules",
]


def write_csv(
    suspects: Iterable[Suspect], out: TextIO, nodes: Iterable[NodeHost] | None = None
) -> None:
    """One row per suspect, each written as it comes (a table's stream), then the nodes."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for s in suspects:
        d = suspect_summary(s)
        writer.writerow(
            [
                "alert",
                d["ip"],
                f"{d['score']:.2f}",
                d["role"],
                eve_time(d["first_seen"]),
                eve_time(d["last_seen"]),
                d["flows"],
                # what it spoke: mining dialects, and a node host's protocols (as in a
                # crypto-node row below)
                ";".join(d["dialects"] + d["nodes"]),
                ";".join(d["coins"]),
                ";".join(d["pools"]),
                ";".join(escape_cell(x) for x in d["pool_names"]),
                ";".join(escape_cell(x) for x in d["pool_hosts"]),
                ";".join(escape_cell(x) for x in d["agents"]),
                ";".join(escape_cell(x) for x in d["wallets"]),
                ";".join(escape_cell(x) for x in d["logins"]),
                ";".join(escape_cell(x) for x in d["workers"]),
                ";".join(d["rules"]),
            ]
        )
    for n in nodes or []:
        writer.writerow(
            [
                n.role,  # crypto-node or wallet: an informational sighting
                n.ip,
                "",
                n.role,  # informational: what the host is, not a suspect
                eve_time(n.first_seen),
                eve_time(n.last_seen),
                n.flow_count,
                n.protocol,
                "",
                ";".join(p for p, _ in n.peers.most_common(8)),
                n.network or "",
                ";".join(escape_cell(x) for x in sorted(n.names)),  # the network's own names
                ";".join(escape_cell(a) for a in sorted(n.user_agents)),
                "",
                "",
                "",
                ";".join(str(i) for i in sorted(n.rules)),
            ]
        )
