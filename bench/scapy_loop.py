"""The naive baseline: scapy's PcapReader with full decode, touching IP/TCP/UDP fields.

    python -m bench.scapy_loop FILE

Prints one JSON line: packets, seconds spent importing scapy, seconds in the loop. The
loop is what a first "just use scapy" detector does per packet.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    path = sys.argv[1]
    t0 = time.perf_counter()
    from scapy.all import IP, TCP, UDP, PcapReader  # imported here: its import is timed

    t1 = time.perf_counter()
    n = 0
    acc = 0
    with PcapReader(path) as reader:
        for pkt in reader:
            n += 1
            if IP in pkt:
                ip = pkt[IP]
                acc ^= hash((ip.src, ip.dst, ip.proto, ip.len, ip.ttl))
                if TCP in pkt:
                    tcp = pkt[TCP]
                    acc ^= hash((tcp.sport, tcp.dport, tcp.seq, tcp.ack, int(tcp.flags),
                                 len(tcp.payload)))
                elif UDP in pkt:
                    udp = pkt[UDP]
                    acc ^= hash((udp.sport, udp.dport, len(udp.payload)))
    t2 = time.perf_counter()
    print(json.dumps({"packets": n, "import_s": t1 - t0, "loop_s": t2 - t1, "acc": acc & 1}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
