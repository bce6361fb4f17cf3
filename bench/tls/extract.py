"""Write the TLS handshakes recorded by capture.sh as hex files (see capture.sh).

For every TCP connection in the capture, in order of its SYN: the client's first payload
(the ClientHello record) and the server's first payload (ServerHello and the rest of the
server's first flight, as openssl s_server wrote it) become NN-LABEL.client.hex and
NN-LABEL.server.hex. LABELS follows the order of the clients in capture.sh.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

LABELS = [
    ("openssl-s_client-tls13", "openssl s_client (OpenSSL 3.0), TLS 1.3"),
    ("openssl-s_client-tls12", "openssl s_client -tls1_2 (OpenSSL 3.0)"),
    ("curl-h2", "curl 7.88.1 (OpenSSL 3.0), ALPN h2"),
    ("curl-http11", "curl 7.88.1 --http1.1 (OpenSSL 3.0)"),
    ("wget-gnutls-nosni", "wget 1.21.3 (GnuTLS) to an IP address: no SNI"),
    ("python-ssl", "Python 3 ssl.create_default_context (OpenSSL 3.0)"),
    ("node-tls", "Node.js 20 tls.connect (its bundled OpenSSL)"),
    ("java-jsse", "OpenJDK 17 JSSE SSLSocket"),
]


def packets(path: Path):
    data = path.read_bytes()
    endian = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit(f"{path}: expected Ethernet (tcpdump -i lo), got linktype {linktype}")
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8 : off + 12])[0]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        if frame[12:14] != b"\x08\x00" or frame[23] != 6:
            continue
        ihl = (frame[14] & 15) * 4
        tcp = frame[14 + ihl :]
        sport, dport = struct.unpack(">HH", tcp[:4])
        flags = tcp[13]
        payload = tcp[(tcp[12] >> 4) * 4 :]
        total = struct.unpack(">H", frame[16:18])[0]
        payload = payload[: total - ihl - (tcp[12] >> 4) * 4]
        yield sport, dport, flags, payload


def wrap(hexstr: str, width: int = 64) -> str:
    return "\n".join(hexstr[i : i + width] for i in range(0, len(hexstr), width))


def main() -> None:
    pcap, out = Path(sys.argv[1]), Path(sys.argv[2])
    order: list[int] = []
    first: dict[tuple[int, str], bytes] = {}
    server_port = None
    for sport, dport, flags, payload in packets(pcap):
        if flags & 0x12 == 0x02:  # SYN without ACK: a new connection from port sport
            order.append(sport)
            server_port = dport
            continue
        if not payload:
            continue
        key = (sport, "client") if dport == server_port else (dport, "server")
        first.setdefault(key, payload)
    if len(order) != len(LABELS):
        raise SystemExit(f"expected {len(LABELS)} connections, found {len(order)}")
    for i, (port, (label, what)) in enumerate(zip(order, LABELS, strict=True), 1):
        for side in ("client", "server"):
            data = first[(port, side)]
            name = out / f"{i:02d}-{label}.{side}.hex"
            head = f"# {what}: {side}'s first TCP payload ({len(data)} bytes)\n"
            name.write_text(head + wrap(data.hex()) + "\n")
            print(name, len(data))


if __name__ == "__main__":
    main()
