"""A mining farm as a capture: many Stratum clients, or one client with many sessions,
whose flows stay open (no FIN) - the shape that makes a detector's memory grow with every
miner flow if anything in it does. Written straight to a file, record by record (100,000
sessions in seconds).

Used by the memory test (tests/test_harden.py) and ``python -m bench.miner_memory``.
"""

from __future__ import annotations

import struct
from pathlib import Path

from detector.synth.clock import NS, T0

SUBSCRIBE = b'{"id":1,"method":"mining.subscribe","params":["cgminer/4.12.0"]}\n'
REPLY = (
    b'{"id":1,"result":[[["mining.notify","ae"]],"08000002",4],"error":null}\n'
    b'{"id":null,"method":"mining.notify","params":["bf","4d16","01","07",[],"2","1c","50",'
    b"false]}\n"
)
POOL = bytes([198, 51, 100, 1])


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           payload: bytes = b"") -> bytes:  # fmt: skip
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + tcp + payload


def write_farm(path: Path, sessions: int, one_client: bool = False, gap: float = 0.01) -> None:
    """``sessions`` Stratum sessions ``gap`` seconds apart (SYN, SYN-ACK, ACK, subscribe,
    the pool's answer and first job), from as many clients (10.x.y.z) or from one."""
    start = T0 // NS
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(sessions):
            if one_client:
                client, port = bytes([10, 0, 0, 5]), 1024 + i % 60000
                pool = bytes([198, 51, 100, 1 + i // 60000 % 200])
            else:
                client, port, pool = bytes([10, i >> 16 & 255, i >> 8 & 255, i & 255]), 40000, POOL
            packets = (
                _frame(client, pool, port, 3333, 1000, 0, 0x02),
                _frame(pool, client, 3333, port, 5000, 1001, 0x12),
                _frame(client, pool, port, 3333, 1001, 5001, 0x10),
                _frame(client, pool, port, 3333, 1001, 5001, 0x18, SUBSCRIBE),
                _frame(pool, client, 3333, port, 5001, 1001 + len(SUBSCRIBE), 0x18, REPLY),
            )
            for j, frame in enumerate(packets):
                us = round((start + i * gap + j * 0.001) * 1e6)
                out.write(struct.pack("<IIII", us // 10**6, us % 10**6, len(frame), len(frame)))
                out.write(frame)
