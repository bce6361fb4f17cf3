"""Shared checks of generated TCP (bench/make_capture.py, `minewatch corpus make`): what a
real stack puts on the wire, read back from the pcap, and what Suricata 7's stream engine
and the bench's coin-miner rules make of it.

:func:`tcp_problems` walks a capture's TCP segments in file order, per connection, and
names every segment a stack would not send as seen from a tap next to the client:

* ``tsecr``: the TSecr is not the latest TSval seen from the peer (0 on the first SYN; the
  SYN-ACK's the SYN's TSval - Suricata drops a SYN-ACK that gets this wrong, and with it
  the session);
* ``tsval``: a side's TSval went back;
* ``ack-unsent``: an ACK acknowledges bytes the peer has not sent yet;
* ``zero-window``: a window of 0 outside a reset;
* ``stale-ack``: a pure ACK whose sequence number is behind what its side already sent
  (keep-alive probes, one byte behind, excepted);
* ``out-of-window``: data beyond the right edge the receiver last advertised (window
  scaled as the handshake says).

Connections the capture joins mid-session are checked from their first packet on for
timestamps (the first echo of each side cannot be checked) and not for ACK numbers and
windows (what the peer sent before, and the window scale, are unknown). :func:`run_suricata` runs the bench's
Suricata command with EVE alerts, anomalies and stats.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.run import SURICATA_RULES

M32 = 0xFFFFFFFF
HALF = 1 << 31
_REC = struct.Struct("<IIII")
_TCP = struct.Struct(">HHIIBBH")

#: anomaly events of Suricata's stream engine that wrong TCP from the generator raises
#: (timestamps, SYN-ACKs, ACK numbers, windows); events of real traffic (a FIN or RST of
#: a connection the capture joined mid-session, a session past its idle timeout, the
#: reassembly depth) are not among them
BAD_STREAM_EVENTS = (
    "invalid_timestamp",
    "synack",
    "3whs",
    "invalid_ack",
    "out_of_window",
    "before_last_ack",
    "spurious_retransmission",
    "wrong_seq",
    "window",
)


def _after(a: int, b: int) -> bool:
    """Sequence number ``a`` is after ``b`` (modulo 2^32)."""
    return 0 < ((a - b) & M32) < HALF


class _Side:
    __slots__ = ("tsval", "nxt", "ack", "win", "scale", "syn_scale", "open")

    def __init__(self) -> None:
        self.tsval: int | None = None  # latest TSval sent
        self.nxt: int | None = None  # highest sequence number sent + 1
        self.ack: int | None = None  # latest acknowledgement number sent
        self.win = 0  # latest window (scaled) advertised
        self.scale = 0
        self.syn_scale: int | None = None
        self.open = False  # the handshake was seen: the window scale is known


def _segments(path: Path):
    """(index, src, dst, sport, dport, seq, ack, flags, window, options, payload length)
    of every TCP segment of an Ethernet pcap (VLAN tags skipped), IPv4 or IPv6."""
    data = path.read_bytes()
    magic = data[:4]
    if magic not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        raise ValueError(f"{path}: not a little-endian pcap")
    if struct.unpack_from("<I", data, 20)[0] != 1:
        raise ValueError(f"{path}: not Ethernet")
    off, index, n = 24, 0, len(data)
    while off + 16 <= n:
        incl = _REC.unpack_from(data, off)[2]
        frame = data[off + 16 : off + 16 + incl]
        off += 16 + incl
        index += 1
        p = 12
        etype = frame[p] << 8 | frame[p + 1]
        while etype in (0x8100, 0x88A8):
            p += 4
            etype = frame[p] << 8 | frame[p + 1]
        p += 2
        if etype == 0x0800 and frame[p + 9] == 6:
            ihl = (frame[p] & 15) * 4
            total = frame[p + 2] << 8 | frame[p + 3]
            src, dst = frame[p + 12 : p + 16], frame[p + 16 : p + 20]
            t, end = p + ihl, p + total
        elif etype == 0x86DD and frame[p + 6] == 6:
            src, dst = frame[p + 8 : p + 24], frame[p + 24 : p + 40]
            t, end = p + 40, p + 40 + (frame[p + 4] << 8 | frame[p + 5])
        else:
            continue
        sport, dport, seq, ack, offx, flags, win = _TCP.unpack_from(frame, t)
        hlen = (offx >> 4) * 4
        yield (
            index,
            src,
            dst,
            sport,
            dport,
            seq,
            ack,
            flags,
            win,
            frame[t + 20 : t + hlen],
            end - t - hlen,
        )


def _options(opts: bytes) -> tuple[tuple[int, int] | None, int | None]:
    """(TSval, TSecr) and the window scale of TCP options."""
    ts = scale = None
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        size = opts[i + 1]
        if kind == 8 and size == 10:
            ts = struct.unpack_from(">II", opts, i + 2)
        elif kind == 3 and size == 3:
            scale = opts[i + 2]
        i += size
    return ts, scale


def _addr(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def tcp_problems(path: Path, examples: int = 5) -> tuple[Counter, list[str]]:
    """Counts of each kind of problem (see the module) and a few described."""
    conns: dict[tuple, tuple[_Side, _Side]] = {}
    found: Counter = Counter()
    shown: list[str] = []
    for i, src, dst, sport, dport, seq, ack, flags, win, opts, plen in _segments(path):
        key = (src, sport, dst, dport)
        pair = conns.get(key)
        if pair is None:
            back = conns.get((dst, dport, src, sport))
            if back is None or flags & 0x12 == 0x02:  # new connection (or port reuse)
                pair = (_Side(), _Side())
                conns[key] = pair
                conns.pop((dst, dport, src, sport), None)
            else:
                pair = (back[1], back[0])
        me, peer = pair
        syn, fin, rst, has_ack = flags & 2, flags & 1, flags & 4, flags & 0x10
        ts, scale = _options(opts)
        bad: list[str] = []

        if ts is not None:
            tsval, tsecr = ts
            if me.tsval is not None and _after(me.tsval, tsval):
                bad.append("tsval")
            if syn and not has_ack:
                if tsecr != 0:
                    bad.append("tsecr")
            elif peer.tsval is not None and tsecr != peer.tsval:
                bad.append("tsecr")
            me.tsval = tsval
        if syn:
            me.syn_scale = scale
            if has_ack:
                me.open = peer.open = True
                if me.syn_scale is not None and peer.syn_scale is not None:
                    me.scale, peer.scale = me.syn_scale, peer.syn_scale
        if has_ack and peer.open and peer.nxt is not None and _after(ack, peer.nxt):
            bad.append("ack-unsent")
        if win == 0 and not rst:
            bad.append("zero-window")
        end = (seq + plen + (1 if syn else 0) + (1 if fin else 0)) & M32
        if (
            not (syn or fin or rst or plen)
            and me.nxt is not None
            and _after(me.nxt, (seq + 1) & M32)
        ):
            bad.append("stale-ack")
        if plen and peer.open and peer.ack is not None and _after(end, (peer.ack + peer.win) & M32):
            bad.append("out-of-window")
        if me.nxt is None or _after(end, me.nxt):
            me.nxt = end
        if has_ack and not rst:
            me.ack = ack
            me.win = win << (me.scale if not syn else 0)
        for kind in bad:
            found[kind] += 1
            if len(shown) < examples:
                shown.append(f"packet {i} {_addr(src)}:{sport} > {_addr(dst)}:{dport}: {kind}")
    return found, shown


@dataclass
class Suricata:
    """What Suricata's run said: alert sources by rule, stream anomalies, stats."""

    alerts: dict[int, set[str]] = field(default_factory=dict)  # sid -> source IPs
    #: (src ip, src port, dest ip, dest port) of every alert
    alert_flows: set[tuple[str, int, str, int]] = field(default_factory=set)
    anomalies: Counter = field(default_factory=Counter)
    stats: dict = field(default_factory=dict)

    @property
    def alerted(self) -> set[str]:
        """Source IPs of the coin-miner rules' alerts."""
        return set().union(*self.alerts.values()) if self.alerts else set()

    def bad_stream_events(self) -> Counter:
        """Anomalies of the kind wrong TCP raises (:data:`BAD_STREAM_EVENTS`), from EVE's
        anomaly records and the stats' stream-event counters."""
        out = Counter(
            {e: n for e, n in self.anomalies.items() if any(b in e for b in BAD_STREAM_EVENTS)}
        )
        for name, n in self.stats.get("stream", {}).items():
            if n and any(b in name for b in BAD_STREAM_EVENTS):
                out[f"stats stream.{name}"] += n
        return out


EVE_YAML = """%YAML 1.1
---
stats:
  enabled: yes
  interval: 3600
  stream-events: true
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert
        - anomaly:
            enabled: yes
            types:
              decode: no
              stream: yes
              applayer: no
        - stats:
            totals: yes
            threads: no
            deltas: no
"""


def suricata_present() -> bool:
    return shutil.which("suricata") is not None


def run_suricata(capture: Path, logdir: Path) -> Suricata:
    """The bench's Suricata command (bench.run.suricata_cmd's rules and flags: one thread,
    checksums not checked) on ``capture``, EVE with alerts, stream anomalies and stats."""
    logdir.mkdir(parents=True, exist_ok=True)
    conf = logdir / "eve-check.yaml"
    conf.write_text(EVE_YAML)
    cmd = [
        "suricata",
        "--runmode",
        "single",
        "-k",
        "none",
        "-r",
        str(capture),
        "-S",
        str(SURICATA_RULES),
        "--include",
        str(conf),
        "-l",
        str(logdir),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    out = Suricata()
    for line in (logdir / "eve.json").read_text().splitlines():
        event = json.loads(line)
        kind = event.get("event_type")
        if kind == "alert":
            sid = event["alert"]["signature_id"]
            out.alerts.setdefault(sid, set()).add(event["src_ip"])
            out.alert_flows.add(
                (event["src_ip"], event["src_port"], event["dest_ip"], event["dest_port"])
            )
        elif kind == "anomaly":
            out.anomalies[event["anomaly"].get("event", "?")] += 1
        elif kind == "stats":
            out.stats = event["stats"]
    return out
