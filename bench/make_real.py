"""Build the benchmark's real-traffic input from the shared corpus of public captures.

    python -m bench.make_real OUT.pcap [--packets N] [--seed S] [--corpus DIR]

Every Ethernet capture of the corpus (``../shared/corpus``: nDPI's and Zeek's test
captures, ``ndpi-suite/`` included; classic pcap in either byte order and resolution, and
pcapng, whose packets on Ethernet interfaces are taken) is read with the small reader
below, in a fixed order (``--seed 0``: sorted paths; any other seed: one deterministic
shuffle of them), and the whole set is written again and again, one replica after the
other, until N packets (default 1,000,000; the last replica is cut at N).

Replica r maps every address through a per-replica shift, so its flows are new flows and
never those of another replica: IPv4 ``a.b.c.d`` becomes ``a.(b+r mod 256).c.d`` (and
``c`` moves by ``r // 256`` past 255 replicas), IPv6 adds r to the second 16-bit group.
The first octet (first 16 bits for IPv6) is kept, so loopback, multicast, link-local and
10/8 stay what they were; 192.168/16 and most of 172.16/12 become public addresses.
Replica 0 keeps the original addresses. With ``--same-hosts`` no replica's addresses are
shifted: the same network recorded for longer. Each replica then starts ``MAX_GAP`` after
the one before ends, past every idle timeout, so its flows are new flows of the same
hosts, never the continuation of one of the replica before; bench/scale.py's size-only
series. Addresses are rewritten in IPv4, IPv6 and ARP
headers, also inside IP-in-IP, 6in4/4in6, 6in6 and GRE (v0, without checksum) tunnels,
behind up to several VLAN tags, MPLS labels or a PPPoE session header; payloads (DNS
answers, SDP, FTP PORT, ICMP quotes...) and MAC addresses are not touched.

Checksums: every IPv4 header checksum is recomputed (so all are valid, including
the ones a sender's offload left wrong in the original). TCP, UDP and ICMPv6 checksums
are updated incrementally for the changed pseudo-header words (RFC 1624): a checksum that
was right stays right and one that was wrong (offload, fuzzed captures) stays wrong by the
same amount, and it works on records cut by a snap length, where a full recomputation
could not. A zero UDP/IPv4 checksum (none) stays zero.

Time: within a file, records keep their order and their gaps, except that a gap longer
than ``MAX_GAP`` (900 s, past minewatch's 600 s TCP idle timeout) or negative beyond it
is set to ``MAX_GAP`` (nDPI's test files often merge captures made years apart); files
follow each other ``FILE_GAP`` (1 s) apart and replicas follow each other likewise, from
2026-01-05 10:00 UTC. Output: little-endian microsecond pcap, Ethernet, snap length
262,144; records longer than that are dropped (counted).

Skipped and counted in ``OUT.truth.json``: files with another link type, files that do
not parse to the end (truncated, bad blocks). The truth file also has the packets,
replicas, bytes, every used file, and the miner IPs of the corpus's ``labels.csv`` rows
mapped through each replica's shift (only for replicas in which that file was written
whole).
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import os
import random
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

from detector.synth.clock import T0_US

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
DEFAULT_PACKETS = 1_000_000
SNAPLEN = 262_144
LINKTYPE_ETHERNET = 1
MAX_GAP = 900 * 1_000_000  # µs
FILE_GAP = 1_000_000  # µs
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
_REC = struct.Struct("<IIII")


class Unusable(Exception):
    """A file that is skipped: ``kind`` is "non-ethernet" or "parse-error"."""

    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind = kind


@dataclass
class Capture:
    rel: str  # path relative to the corpus
    records: list[tuple[int, bytes, int]]  # (timestamp µs, frame, original length)
    dropped_oversize: int = 0
    dropped_other_link: int = 0  # pcapng packets on non-Ethernet interfaces


# --- reading ---------------------------------------------------------------------------

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1), b"\xa1\xb2\xc3\xd4": (">", 1),
    b"\x4d\x3c\xb2\xa1": ("<", 1000), b"\xa1\xb2\x3c\x4d": (">", 1000),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


def is_capture(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4)
    return head in _PCAP_MAGIC or head == _PCAPNG_MAGIC


def read_capture(path: Path, rel: str) -> Capture:
    data = path.read_bytes()
    if data[:4] == _PCAPNG_MAGIC:
        return _read_pcapng(data, rel)
    return _read_pcap(data, rel)


def _read_pcap(data: bytes, rel: str) -> Capture:
    endian, ns_per_unit = _PCAP_MAGIC[data[:4]]
    if len(data) < 24:
        raise Unusable("parse-error", "truncated file header")
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x03FFFFFF
    if linktype != LINKTYPE_ETHERNET:
        raise Unusable("non-ethernet", f"link type {linktype}")
    cap = Capture(rel, [])
    rec = struct.Struct(endian + "IIII")
    off, end = 24, len(data)
    while off < end:
        if off + 16 > end:
            raise Unusable("parse-error", f"truncated record header at byte {off}")
        sec, frac, incl, orig = rec.unpack_from(data, off)
        if off + 16 + incl > end:
            raise Unusable("parse-error", f"truncated record at byte {off}")
        if incl > SNAPLEN:
            cap.dropped_oversize += 1
        else:
            us = sec * 1_000_000 + (frac if ns_per_unit == 1 else frac // 1000)
            cap.records.append((us, data[off + 16 : off + 16 + incl], orig))
        off += 16 + incl
    return cap


def _read_pcapng(data: bytes, rel: str) -> Capture:
    cap = Capture(rel, [])
    endian = "<"
    ifaces: list[tuple[int, int, int]] = []  # (linktype, units per second, offset s)
    saw_ethernet = False
    off, end = 0, len(data)
    while off < end:
        if off + 12 > end:
            raise Unusable("parse-error", f"truncated block header at byte {off}")
        if data[off : off + 4] == _PCAPNG_MAGIC:
            order = data[off + 8 : off + 12]
            if order == b"\x4d\x3c\x2b\x1a":
                endian = "<"
            elif order == b"\x1a\x2b\x3c\x4d":
                endian = ">"
            else:
                raise Unusable("parse-error", f"bad byte-order magic at byte {off}")
            ifaces = []
        btype, blen = struct.unpack_from(endian + "II", data, off)
        if blen < 12 or blen % 4 or off + blen > end:
            raise Unusable("parse-error", f"block of bad length {blen} at byte {off}")
        if struct.unpack_from(endian + "I", data, off + blen - 4)[0] != blen:
            raise Unusable("parse-error", f"block length mismatch at byte {off}")
        body = off + 8
        if btype == 1:  # Interface Description Block
            linktype = struct.unpack_from(endian + "H", data, body)[0]
            units, offset_s = 1_000_000, 0
            opt = body + 8
            while opt + 4 <= off + blen - 4:
                code, olen = struct.unpack_from(endian + "HH", data, opt)
                if code == 0:
                    break
                if code == 9 and olen >= 1:  # if_tsresol
                    v = data[opt + 4]
                    units = 2 ** (v & 0x7F) if v & 0x80 else 10**v
                elif code == 14 and olen >= 8:  # if_tsoffset
                    offset_s = struct.unpack_from(endian + "q", data, opt + 4)[0]
                opt += 4 + (olen + 3) // 4 * 4
            ifaces.append((linktype, units, offset_s))
            saw_ethernet |= linktype == LINKTYPE_ETHERNET
        elif btype == 6:  # Enhanced Packet Block
            iface, hi, lo, incl, orig = struct.unpack_from(endian + "IIIII", data, body)
            if iface >= len(ifaces):
                raise Unusable("parse-error", f"packet on undeclared interface at byte {off}")
            if 28 + incl > blen - 4:
                raise Unusable("parse-error", f"packet longer than its block at byte {off}")
            linktype, units, offset_s = ifaces[iface]
            if linktype != LINKTYPE_ETHERNET:
                cap.dropped_other_link += 1
            elif incl > SNAPLEN:
                cap.dropped_oversize += 1
            else:
                us = offset_s * 1_000_000 + ((hi << 32) | lo) * 1_000_000 // units
                cap.records.append((us, data[body + 20 : body + 20 + incl], orig))
        elif btype in (2, 3):  # obsolete Packet Block, Simple Packet Block
            raise Unusable("parse-error", f"block type {btype} (not supported here)")
        off += blen
    if not saw_ethernet:
        kinds = sorted({lt for lt, _, _ in ifaces})
        raise Unusable("non-ethernet", f"no Ethernet interface (link types {kinds})")
    return cap


def corpus_files(corpus: Path, seed: int) -> list[tuple[str, Path]]:
    """(relative path, path) of every capture under ``corpus``, in the seed's order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(corpus):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file() and is_capture(path):
                found.append((path.relative_to(corpus).as_posix(), path))
    found.sort()
    if seed:
        random.Random(f"bench.make_real:{seed}").shuffle(found)
    return found


def corpus_labels(corpus: Path) -> dict[str, list[str]]:
    """Miner IPs per capture (path relative to the corpus) from every labels.csv."""
    out: dict[str, list[str]] = {}
    for labels in sorted(corpus.rglob("labels.csv")):
        base = labels.parent.relative_to(corpus)
        with labels.open(newline="") as fh:
            for row in csv.DictReader(fh):
                ips = [ip for ip in (row.get("miner_ips") or "").split(";") if ip.strip()]
                if ips:
                    out[(base / row["file"]).as_posix()] = [ip.strip() for ip in ips]
    return out


# --- address shifting ------------------------------------------------------------------

def shift_ip(ip: str, replica: int) -> str:
    """``ip`` as replica ``replica`` writes it."""
    raw = bytearray(ipaddress.ip_address(ip).packed)
    if len(raw) == 4:
        _shift4(raw, 0, replica)
    else:
        _shift6(raw, 0, replica)
    return str(ipaddress.ip_address(bytes(raw)))


def _shift4(buf: bytearray, at: int, r: int) -> None:
    buf[at + 1] = (buf[at + 1] + r) & 0xFF
    if r >> 8:
        buf[at + 2] = (buf[at + 2] + (r >> 8)) & 0xFF


def _shift6(buf: bytearray, at: int, r: int) -> None:
    word = (buf[at + 2] << 8 | buf[at + 3]) + r
    buf[at + 2] = (word >> 8) & 0xFF
    buf[at + 3] = word & 0xFF


def _words(buf: bytes | bytearray, at: int, n: int) -> int:
    return sum(struct.unpack_from(f">{n}H", buf, at))


def _fold(x: int) -> int:
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


# A plan op: (kind, offset, checksum offset or -1, flags).
#   kind 4: IPv4 header at offset; 6: IPv6 header; 0: ARP (IPv4 addresses at +14, +24).
#   checksum offset: the TCP/UDP/ICMPv6 checksum covering this header's pseudo-header.
#   flags: 1 = the IPv4 header is whole (recompute its checksum); 2 = UDP over IPv4.
ETH_VLAN = (0x8100, 0x88A8, 0x9100)


def plan(frame: bytes) -> tuple[tuple[int, int, int, int], ...]:
    """Where the addresses and checksums of one Ethernet frame are (outermost first)."""
    ops: list[tuple[int, int, int, int]] = []
    n = len(frame)
    if n < 14:
        return ()
    off, etype = 14, frame[12] << 8 | frame[13]
    while etype in ETH_VLAN and off + 4 <= n:
        etype = frame[off + 2] << 8 | frame[off + 3]
        off += 4
    if etype in (0x8847, 0x8848):  # MPLS: labels up to the bottom of the stack
        while off + 4 <= n and not frame[off + 2] & 1:
            off += 4
        off += 4
        if off >= n:
            return ()
        etype = {4: 0x0800, 6: 0x86DD}.get(frame[off] >> 4, 0)
    elif etype == 0x8864 and off + 8 <= n:  # PPPoE session
        etype = {0x0021: 0x0800, 0x0057: 0x86DD}.get(frame[off + 6] << 8 | frame[off + 7], 0)
        off += 8
    if etype == 0x0806:
        if off + 28 <= n and frame[off : off + 6] == b"\x00\x01\x08\x00\x06\x04":
            ops.append((0, off, -1, 0))
        return tuple(ops)
    if etype == 0x0800:
        _plan_ip(frame, off, 4, ops, 0)
    elif etype == 0x86DD:
        _plan_ip(frame, off, 6, ops, 0)
    return tuple(ops)


def _plan_ip(frame: bytes, off: int, version: int, ops: list, depth: int) -> None:
    n = len(frame)
    if depth > 4:
        return
    if version == 4:
        if off + 20 > n or frame[off] >> 4 != 4:
            return
        ihl = (frame[off] & 15) * 4
        whole = ihl >= 20 and off + ihl <= n
        proto = frame[off + 9]
        first = (frame[off + 6] << 8 | frame[off + 7]) & 0x1FFF == 0
        l4 = off + ihl
        inner = proto if whole and first else -1
    else:
        if off + 40 > n or frame[off] >> 4 != 6:
            return
        whole = True
        proto, l4, inner = frame[off + 6], off + 40, -1
        while proto in (0, 43, 60, 44, 51) and l4 + 8 <= n:
            if proto == 44:
                if (frame[l4 + 2] << 8 | frame[l4 + 3]) & 0xFFF8:
                    proto = -1  # not the first fragment: no transport header
                    break
                proto, l4 = frame[l4], l4 + 8
            elif proto == 51:
                proto, l4 = frame[l4], l4 + (frame[l4 + 1] + 2) * 4
            else:
                proto, l4 = frame[l4], l4 + (frame[l4 + 1] + 1) * 8
        inner = proto
    csum = -1
    if inner == 6 and l4 + 18 <= n:
        csum = l4 + 16
    elif inner == 17 and l4 + 8 <= n:
        csum = l4 + 6
    elif inner == 58 and version == 6 and l4 + 4 <= n:
        csum = l4 + 2
    flags = (1 if version == 4 and whole else 0) | (2 if version == 4 and inner == 17 else 0)
    ops.append((version, off, csum, flags))
    if inner in (4, 41) and l4 < n:
        _plan_ip(frame, l4, 4 if inner == 4 else 6, ops, depth + 1)
    elif inner == 47 and l4 + 4 <= n and not frame[l4] & 0xCF and not frame[l4 + 1] & 7:
        # GRE version 0 without checksum (C) or routing bits; K and S add 4 bytes each
        gre = l4 + 4 + 4 * bool(frame[l4] & 0x20) + 4 * bool(frame[l4] & 0x10)
        ptype = frame[l4 + 2] << 8 | frame[l4 + 3]
        if ptype == 0x0800:
            _plan_ip(frame, gre, 4, ops, depth + 1)
        elif ptype == 0x86DD:
            _plan_ip(frame, gre, 6, ops, depth + 1)


def rewrite(frame: bytes, ops: tuple, r: int) -> bytes:
    """``frame`` as replica ``r`` writes it (replica 0: unchanged but for IPv4 header
    checksums, which are made right)."""
    buf = bytearray(frame)
    for kind, off, csum, flags in ops:
        if kind == 0:
            if r:
                _shift4(buf, off + 14, r)
                _shift4(buf, off + 24, r)
            continue
        if kind == 4:
            a, alen = off + 12, 8
        else:
            a, alen = off + 8, 32
        if r:
            before = _words(buf, a, alen // 2)
            if kind == 4:
                _shift4(buf, a, r)
                _shift4(buf, a + 4, r)
            else:
                _shift6(buf, a, r)
                _shift6(buf, a + 16, r)
            if csum >= 0:
                old = buf[csum] << 8 | buf[csum + 1]
                if not (flags & 2 and old == 0):
                    after = _words(buf, a, alen // 2)
                    # RFC 1624 eq. 3: HC' = ~(~HC + ~m + m'), summed over the words
                    new = ~_fold((~old & 0xFFFF) + 0xFFFF * (alen // 2) - before
                                 + after) & 0xFFFF
                    if flags & 2 and new == 0:
                        new = 0xFFFF
                    buf[csum], buf[csum + 1] = new >> 8, new & 0xFF
        if flags & 1:
            ihl = (buf[off] & 15) * 4
            buf[off + 10] = buf[off + 11] = 0
            s = ~_fold(_words(buf, off, ihl // 2)) & 0xFFFF
            buf[off + 10], buf[off + 11] = s >> 8, s & 0xFF
    return bytes(buf)


def _ipv4_sum_ok(frame: bytes, off: int) -> bool:
    return _fold(_words(frame, off, (frame[off] & 15) * 2)) == 0xFFFF


# --- writing ---------------------------------------------------------------------------

@dataclass
class Prepared:
    """One file's records ready for every replica: times relative to the replica's start."""

    rel: str
    records: list[tuple[int, bytes, int, tuple]] = field(default_factory=list)


def prepare(captures: list[Capture]) -> tuple[list[Prepared], int, dict]:
    """Lay the files out on one replica's time line; return them, the replica's length
    (µs) and how many gaps were shortened."""
    out = []
    t = 0
    clamped = fixed = 0
    for cap in captures:
        prep = Prepared(cap.rel)
        prev = None
        for us, frame, orig in cap.records:
            if prev is not None:
                gap = us - prev
                if gap > MAX_GAP or gap < -MAX_GAP:
                    gap = MAX_GAP
                    clamped += 1
                t += gap
            prev = us
            ops = plan(frame)
            fixed += sum(1 for kind, off, _, flags in ops
                         if kind == 4 and flags & 1 and not _ipv4_sum_ok(frame, off))
            prep.records.append((t, frame, orig, ops))
        t += FILE_GAP
        out.append(prep)
    # a negative gap at a file's start could put a record before the replica's start
    low = min((rec[0] for p in out for rec in p.records), default=0)
    if low < 0:
        for p in out:
            p.records = [(ts - low, *rest) for ts, *rest in p.records]
        t -= low
    return out, t, {"gaps_shortened": clamped, "ipv4_header_checksums_fixed_per_replica": fixed}


def build(out: Path, packets: int = DEFAULT_PACKETS, seed: int = 1,
          corpus: Path = CORPUS, same_hosts: bool = False) -> dict:
    files = corpus_files(corpus, seed)
    if not files:
        raise SystemExit(f"no captures under {corpus}")
    captures, skipped = [], []
    oversize = other_link = 0
    for rel, path in files:
        try:
            cap = read_capture(path, rel)
        except Unusable as exc:
            skipped.append({"file": rel, "reason": exc.kind, "detail": str(exc)})
            continue
        except (struct.error, IndexError) as exc:
            skipped.append({"file": rel, "reason": "parse-error", "detail": str(exc)})
            continue
        oversize += cap.dropped_oversize
        other_link += cap.dropped_other_link
        if cap.records:
            captures.append(cap)
        else:
            skipped.append({"file": rel, "reason": "empty", "detail": "no Ethernet packets"})
    prepared, span, gapinfo = prepare(captures)
    # The same hosts again: a flow may last its whole replica, so the next replica starts
    # MAX_GAP (past every idle timeout) after this one ends, never continuing its flows.
    period = span + (MAX_GAP if same_hosts else 0)
    per_replica = sum(len(p.records) for p in prepared)
    labels = corpus_labels(corpus)
    tmp = out.with_name(out.name + ".part")
    written = 0
    size = len(PCAP_HEADER)
    first_ts = last_ts = None
    miners: list[dict] = []
    replica = 0
    with tmp.open("wb", buffering=1 << 20) as fh:
        fh.write(PCAP_HEADER)
        while written < packets:
            base = T0_US + replica * period
            shift = 0 if same_hosts else replica
            chunk: list[bytes] = []
            for prep in prepared:
                room = packets - written
                if room <= 0:
                    break
                recs = prep.records[:room]
                written += len(recs)
                for t, frame, orig, ops in recs:
                    ts = base + t
                    data = rewrite(frame, ops, shift) if ops else frame
                    chunk.append(_REC.pack(ts // 1_000_000, ts % 1_000_000, len(data), orig))
                    chunk.append(data)
                if len(recs) == len(prep.records):
                    for ip in labels.get(prep.rel, []):
                        miners.append({"ip": shift_ip(ip, shift), "original_ip": ip,
                                       "file": prep.rel, "replica": replica})
                if recs:
                    if first_ts is None:
                        first_ts = base + recs[0][0]
                    last_ts = base + recs[-1][0]
            blob = b"".join(chunk)
            fh.write(blob)
            size += len(blob)
            replica += 1
    os.replace(tmp, out)
    miner_ips = sorted({m["ip"] for m in miners}, key=ipaddress.ip_address)
    truth = {
        "variant": "real-same-hosts" if same_hosts else "real",
        "generator": "python -m bench.make_real",
        "seed": seed,
        "corpus": str(corpus),
        "packets": written,
        "bytes": size,
        "replicas": replica,
        "complete_replicas": written // per_replica,
        "packets_per_replica": per_replica,
        "replica_span_s": round(span / 1e6, 6),
        "replica_period_s": round(period / 1e6, 6),
        "first_ts": (first_ts or 0) / 1e6,
        "last_ts": (last_ts or 0) / 1e6,
        "duration_s": round(((last_ts or 0) - (first_ts or 0)) / 1e6, 3),
        "files_used": len(captures),
        "files_skipped": len(skipped),
        "skipped": skipped,
        "records_dropped": {"longer_than_snaplen": oversize,
                            "pcapng_non_ethernet_interface": other_link},
        "max_gap_s": MAX_GAP / 1e6,
        "file_gap_s": FILE_GAP / 1e6,
        **gapinfo,
        "address_shift": "none (--same-hosts: every replica keeps the original addresses)"
                         if same_hosts else
                         "IPv4 a.b.c.d -> a.(b+r%256).(c+r//256).d; IPv6 second 16-bit "
                         "group + r; r = replica (0 = original addresses)",
        "checksums": "IPv4 header checksums recomputed; TCP/UDP/ICMPv6 updated "
                     "incrementally (RFC 1624), so they are as valid as in the source",
        "miner_ips": miner_ips,
        "miners": miners,
        "files": [{"file": p.rel, "packets": len(p.records)} for p in prepared],
    }
    Path(f"{out}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.make_real",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="capture to write (pcap, Ethernet, microseconds)")
    p.add_argument("--packets", type=int, default=DEFAULT_PACKETS,
                   help=f"packets (default {DEFAULT_PACKETS:,})")
    p.add_argument("--seed", type=int, default=1,
                   help="file order: 0 sorted paths, else a shuffle by this seed (default 1)")
    p.add_argument("--corpus", type=Path, default=CORPUS, help=f"default {CORPUS}")
    p.add_argument("--same-hosts", action="store_true",
                   help="keep every replica's addresses (the same network recorded for longer)")
    args = p.parse_args(argv)
    if args.packets < 1:
        p.error("--packets must be positive")
    truth = build(args.out, args.packets, args.seed, args.corpus, args.same_hosts)
    sys.stderr.write(
        f"{args.out}: {truth['packets']:,} packets, {truth['bytes'] / 1e6:,.1f} MB, "
        f"{truth['replicas']} replicas of {truth['packets_per_replica']:,} packets from "
        f"{truth['files_used']} files ({truth['files_skipped']} skipped), "
        f"{len(truth['miner_ips'])} miner IPs; truth in {args.out}.truth.json\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
