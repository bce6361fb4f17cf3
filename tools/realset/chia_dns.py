"""The lab's local resolver for the Chia captures: answers the introducer and seeder names
a Chia node asks for with the address of the lab's other full node.

A Chia full node with too few peers asks its ``dns_servers`` (chia/util/initial-config.yaml:
dns-introducer.chia.net, seeder.dexie.space ...) for A and AAAA records and dials port
8444 of every address it gets (chia/server/node_discovery.py ``_query_dns``). Offline,
this stands in for those seeders: A queries for a name in ``--names`` get ``--answer``,
everything else (AAAA included) an empty NOERROR or NXDOMAIN. UDP only, one thread.
Run with the chia venv's python (dnslib is a dependency of chia-blockchain):

    python chia_dns.py --listen IP --answer IP --names a.example,b.example [--log FILE]
"""

from __future__ import annotations

import argparse
import socket

from dnslib import QTYPE, RCODE, RR, A, DNSRecord


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--answer", required=True)
    parser.add_argument("--names", required=True, help="comma-separated names answered")
    parser.add_argument("--ttl", type=int, default=300)
    args = parser.parse_args()
    names = {n.strip().lower().rstrip(".") for n in args.names.split(",") if n.strip()}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.listen, 53))
    print(f"answering {sorted(names)} with {args.answer}", flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            query = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - not DNS: ignore it
            continue
        reply = query.reply()
        qname = str(query.q.qname).lower().rstrip(".")
        if qname not in names:
            reply.header.rcode = RCODE.NXDOMAIN
        elif query.q.qtype == QTYPE.A:
            reply.add_answer(RR(query.q.qname, QTYPE.A, rdata=A(args.answer), ttl=args.ttl))
        print(f"{peer[0]} {qname} {QTYPE[query.q.qtype]} -> {len(reply.rr)} answers", flush=True)
        sock.sendto(reply.pack(), peer)


if __name__ == "__main__":
    main()
