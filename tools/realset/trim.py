"""Keep the validation captures small without losing what minewatch reads.

Every packet is kept; each flow direction keeps its first ``budget`` payload bytes whole
(handshakes, TLS hellos and certificates, the first JSON messages: minewatch inspects
16 KB per direction), and later packets are cut to ``snap`` bytes. The original length
stays in each record, and the IP/TCP headers stay whole, so packet and TLS record sizes
survive. Reads and writes classic pcap with Ethernet link type (what tcpdump and
``mergecap -F pcap`` write here).

    python trim.py IN.pcap OUT.pcap [--budget 65536] [--snap 128]
"""

from __future__ import annotations

import argparse
import struct
from collections import defaultdict


def trim(src: str, dst: str, budget: int = 65536, snap: int = 128) -> dict:
    seen: dict[tuple, int] = defaultdict(int)
    packets = cut = 0
    first = last = None
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        head = fin.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
        linktype = struct.unpack(endian + "I", head[20:24])[0]
        if linktype != 1:
            raise SystemExit(f"{src}: link type {linktype}, expected Ethernet")
        fout.write(head[:16] + struct.pack(endian + "I", 65535) + head[20:])
        while rec := fin.read(16):
            sec, frac, incl, orig = struct.unpack(endian + "IIII", rec)
            data = fin.read(incl)
            packets += 1
            stamp = sec + frac / (1e9 if nano else 1e6)
            first = stamp if first is None else first
            last = stamp
            keep = incl
            if len(data) >= 34 and data[12:14] == b"\x08\x00" and data[14] >> 4 == 4:
                ihl = (data[14] & 15) * 4
                proto = data[23]
                l4 = 14 + ihl
                if proto == 6 and len(data) >= l4 + 13:
                    hdr = l4 + (data[l4 + 12] >> 4) * 4
                elif proto == 17:
                    hdr = l4 + 8
                else:
                    hdr = len(data)
                key = (data[26:30], data[30:34], data[l4 : l4 + 4], proto)
                payload = max(0, len(data) - hdr)
                if payload and seen[key] >= budget:
                    keep = max(min(incl, snap), min(incl, hdr))
                seen[key] += payload
            if keep < incl:
                cut += 1
            fout.write(struct.pack(endian + "IIII", sec, frac, keep, orig) + data[:keep])
    return {
        "packets": packets,
        "cut_packets": cut,
        "duration_s": round((last or 0) - (first or 0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--budget", type=int, default=65536)
    parser.add_argument("--snap", type=int, default=128)
    args = parser.parse_args()
    print(trim(args.src, args.dst, args.budget, args.snap))


if __name__ == "__main__":
    main()
