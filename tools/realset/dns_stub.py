"""The lab's DNS resolver for the libp2p captures: answers a fixed zone, nothing else.

A Filecoin node (lotus) finds its bootstrap peers and its randomness beacon by name
(build/bootstrap/mainnet.pi: ``/dns/bootstrap.filecoin.chain.love/...``;
build/buildconstants/drand.go: ``https://api.drand.sh``, relays ``/dnsaddr/api.drand.sh``),
an IPFS node (kubo) its bootstrap peers by ``/dnsaddr/bootstrap.libp2p.io``. In the lab
those names point at the lab's own listener: A records for names, ``dnsaddr=`` TXT records
(libp2p's DNSADDR: the TXT of ``_dnsaddr.NAME`` holds multiaddrs) for ``_dnsaddr.``
names. Anything else is NXDOMAIN. dnslib (PyPI) does the wire format and the UDP server.

    python dns_stub.py LISTEN_IP PORT ZONE.json

ZONE.json: {"a": {"name": "ip", ...}, "txt": {"_dnsaddr.name": ["dnsaddr=/ip4/...", ...]}}
"""

from __future__ import annotations

import json
import signal
import sys
import time

from dnslib import QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

TTL = 5  # short: the peers re-resolve on every dial, so the capture holds many lookups


class Zone(BaseResolver):
    def __init__(self, zone: dict) -> None:
        self.a = {k.lower().rstrip("."): v for k, v in zone.get("a", {}).items()}
        self.txt = {k.lower().rstrip("."): v for k, v in zone.get("txt", {}).items()}

    def resolve(self, request, handler):  # noqa: ANN001, ANN201 - dnslib's interface
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        if qtype in ("A", "ANY") and name in self.a:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.a[name]), ttl=TTL))
        elif qtype in ("TXT", "ANY") and name in self.txt:
            for text in self.txt[name]:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(text), ttl=TTL))
        elif name not in self.a and name not in self.txt:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply  # a known name of another type: NOERROR, no answer


def main() -> None:
    host, port, zone_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with open(zone_file, encoding="utf-8") as fh:
        zone = json.load(fh)
    server = DNSServer(
        Zone(zone), address=host, port=port, logger=DNSLogger("request,reply", prefix=False)
    )
    server.start_thread()
    print(f"dns stub on {host}:{port}: {len(zone.get('a', {}))} A, {len(zone.get('txt', {}))} TXT",
          flush=True)  # fmt: skip
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while server.isAlive():
        time.sleep(0.5)


if __name__ == "__main__":
    main()
