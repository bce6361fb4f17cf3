"""Live capture: AF_PACKET sockets with a TPACKET_V3 memory-mapped ring, read as batches.

The kernel fills fixed-size blocks of a ring shared with us and hands a block over when
it is full or when its retire timeout passes (so a quiet link still delivers). One
retired block holds many packets: a whole block is copied into the batch's buffer at
once (``walk_block``, in C in ``detector/_capture.c`` with the Python twin
``py_walk_block`` below, used without a compiler or with ``MINEWATCH_PURE=1``) and given
back to the kernel. Several interfaces are one socket and ring each, polled together. The
filter (``bpf.py``) runs in the kernel and also truncates packets to the snaplen.
docs/ARCHITECTURE.md §2 ("The live ring") says why these choices.
"""

from __future__ import annotations

import fcntl
import mmap
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from detector.compiled import capture
from detector.errors import InputError
from detector.source import bpf as filters
from detector.source.batch import MAX_BATCH_PACKETS, PAD, RecordBatch
from detector.source.livestats import CaptureCounters

# <linux/if_packet.h> (and <linux/if_ether.h> for ETH_P_ALL): the socket module has none.
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_FANOUT = 18
PACKET_MR_PROMISC = 1
PACKET_FANOUT_HASH = 0
PACKET_FANOUT_FLAG_DEFRAG = 0x8000
TPACKET_V3 = 2
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100
SIOCGIFHWADDR = 0x8927  # <linux/sockios.h>
# ARPHRD (<linux/if_arp.h>) -> LINKTYPE of the packets an AF_PACKET SOCK_RAW socket reads.
# Loopback frames carry an Ethernet header (zero addresses); a tun device none at all.
ARPHRD_LOOPBACK = 772
ARPHRD_LINKTYPES = {1: 1, ARPHRD_LOOPBACK: 1, 0xFFFE: 101}
LINKTYPE_ETHERNET = 1
IFNAMSIZ = 16

# struct tpacket_block_desc (version, offset_to_priv, then tpacket_hdr_v1's block_status,
# num_pkts, offset_to_first_pkt, blk_len; seq_num and timestamps follow) and struct
# tpacket3_hdr (tp_next_offset, tp_sec, tp_nsec, tp_snaplen, tp_len, tp_status, tp_mac,
# tp_net, then tpacket_hdr_variant1's tp_rxhash, tp_vlan_tci, tp_vlan_tpid, padding).
_DESC = struct.Struct("=IIIIII")
_HDR = struct.Struct("=IIIIIIHHIIHH8x")
DESC_LEN = 48  # sizeof(struct tpacket_block_desc)
HDR_LEN = 48  # sizeof(struct tpacket3_hdr)
MIN_MAC = 68  # TPACKET3_HDRLEN: the header and a struct sockaddr_ll come before the data
PKTTYPE_AT = 58  # the sockaddr_ll's sll_pkttype
PACKET_OUTGOING = 4  # <linux/if_packet.h>
_STATUS_AT = 8  # offsetof(struct tpacket_block_desc, hdr.bh1.block_status)
_STATS = struct.Struct("=III")  # struct tpacket_stats_v3

OK, DAMAGE, FULL = 0, 1, 3  # walk statuses, as source/walk.py's

# The ring: 32 blocks of 1 MiB; a block goes to us when full or after RETIRE_MS.
BLOCK_SIZE = 1 << 20
BLOCK_COUNT = 32
FRAME_SIZE = 2048  # V3 packs packets tightly; this only sets tp_frame_nr's unit
RETIRE_MS = 64
# Blocks copied into one batch at most (a batch's buffer: ~17 MiB with 1 MiB blocks).
BATCH_BLOCKS = 16


def block_room(block_size: int) -> int:
    """Bytes one block can take in a batch's buffer: its packets' bytes all lie in it, and
    each (at least HDR_LEN bytes of the block) may grow by a re-inserted VLAN tag."""
    return block_size + 4 * (block_size // HDR_LEN + 1)


def py_walk_block(
    block: memoryview | bytes | np.ndarray,
    out: np.ndarray,
    out_pos: int,
    data_off: np.ndarray,
    caplen: np.ndarray,
    wirelen: np.ndarray,
    ts: np.ndarray,
    first: int,
    vlan: bool,
    skip_out: bool,
) -> tuple[int, int, int, int]:
    """Copy the packets of one retired block to ``out`` from ``out_pos`` on and describe
    them from index ``first`` on; ``(count, out_pos, status, stop_off)``. The twin of
    ``_capture.walk_block`` (see its header comment): DAMAGE keeps the packets before the
    bad one, FULL keeps none of the block so it can be walked again into a new batch.
    ``skip_out``: leave out packets seen leaving (the loopback device shows each packet
    leaving and arriving; libpcap drops the first too)."""
    blk = np.frombuffer(block, dtype=np.uint8)
    size = blk.shape[0]
    cap = min(a.shape[0] for a in (data_off, caplen, wirelen, ts))
    out_len = out.shape[0]
    if out_pos < 0 or out_pos > out_len or first < 0 or first > cap:
        raise ValueError("out_pos or first outside the output")
    n, pos = first, out_pos
    if size < DESC_LEN:
        return n, pos, DAMAGE, 0
    _, _, _, num, off, _ = _DESC.unpack_from(blk, 0)
    for i in range(num):
        if off < DESC_LEN or off > size - HDR_LEN:
            return n, pos, DAMAGE, off
        nxt, sec, nsec, snap, wire, status, mac, _, _, tci, tpid, _ = _HDR.unpack_from(blk, off)
        last = i + 1 == num
        if not last and (nxt < HDR_LEN or nxt > size - off):
            return n, pos, DAMAGE, off
        room = size - off if last else nxt
        if mac < MIN_MAC or mac > room or snap > room - mac:
            return n, pos, DAMAGE, off
        if skip_out and blk[off + PKTTYPE_AT] == PACKET_OUTGOING:
            if not last:
                off += nxt
            continue
        # libpcap's VLAN_VALID and VLAN_TPID (pcap-linux.c)
        tag = vlan and snap >= 12 and (tci != 0 or bool(status & TP_STATUS_VLAN_VALID))
        need = snap + (4 if tag else 0)
        if n >= cap or need > out_len - pos:
            return first, out_pos, FULL, off
        src = off + mac
        if tag:
            if not (tpid or status & TP_STATUS_VLAN_TPID_VALID):
                tpid = ETH_P_8021Q
            out[pos : pos + 12] = blk[src : src + 12]
            out[pos + 12 : pos + 16] = np.frombuffer(
                struct.pack(">HH", tpid, tci & 0xFFFF), dtype=np.uint8
            )
            out[pos + 16 : pos + need] = blk[src + 12 : src + snap]
        else:
            out[pos : pos + snap] = blk[src : src + snap]
        data_off[n] = pos
        caplen[n] = need
        wirelen[n] = wire + (4 if tag else 0)
        ts[n] = float(sec) + nsec / 1e9
        n += 1
        pos += need
        if not last:
            off += nxt
    return n, pos, OK, size


WalkBlock = Callable[..., tuple[int, int, int, int]]
walk_block: WalkBlock = capture.walk_block if capture is not None else py_walk_block


@dataclass(slots=True)
class CaptureStats:
    """Counters since the capture was opened, all interfaces together. ``received`` and
    ``dropped`` are the kernel's (PACKET_STATISTICS): packets that passed the filter,
    those included that found the ring full and were dropped. ``delivered`` packets were
    read from the ring; ``damaged_blocks`` were blocks whose packet chain broke (counted,
    the packets before the break kept)."""

    received: int = 0
    dropped: int = 0
    freeze_q: int = 0  # times the ring was full (tp_freeze_q_cnt)
    delivered: int = 0
    damaged_blocks: int = 0


class _Ring:
    """One interface's socket and its mapped ring."""

    def __init__(self, iface: str, sock: socket.socket, arphrd: int) -> None:
        self.iface, self.sock = iface, sock
        self.linktype = ARPHRD_LINKTYPES[arphrd]
        self.loopback = arphrd == ARPHRD_LOOPBACK
        self.block_size, self.blocks = BLOCK_SIZE, BLOCK_COUNT
        self.map: mmap.mmap | None = None
        self.view: memoryview | None = None
        self.cur = 0  # the next block the kernel hands over (it fills them in order)

    def setup(self) -> None:
        size = self.block_size * self.blocks
        req = struct.pack(
            "=7I", self.block_size, self.blocks, FRAME_SIZE, size // FRAME_SIZE, RETIRE_MS, 0, 0
        )
        self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
        self.map = mmap.mmap(
            self.sock.fileno(), size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE
        )
        self.view = memoryview(self.map)

    def ready(self) -> bool:
        """The next block is ours (the kernel set TP_STATUS_USER)."""
        assert self.map is not None
        status = struct.unpack_from("=I", self.map, self.cur * self.block_size + _STATUS_AT)[0]
        return bool(status & TP_STATUS_USER)

    def block(self) -> memoryview:
        assert self.view is not None
        start = self.cur * self.block_size
        return self.view[start : start + self.block_size]

    def release(self) -> None:
        """Give the current block back to the kernel and move on. Our reads of the block
        are done before this store: the C walk ends by taking the GIL (a lock, so a full
        barrier), and x86 never moves a store before earlier loads. (libpcap uses atomic
        acquire/release here; weakly ordered CPUs are not tested.)"""
        assert self.map is not None
        struct.pack_into("=I", self.map, self.cur * self.block_size + _STATUS_AT, TP_STATUS_KERNEL)
        self.cur = (self.cur + 1) % self.blocks

    def clear_error(self) -> None:
        """Reading SO_ERROR clears a pending socket error (ENETDOWN while the link is
        down), which would otherwise make every poll return at once."""
        self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    def close(self) -> None:
        if self.view is not None:
            self.view.release()
            self.view = None
        if self.map is not None:
            self.map.close()
            self.map = None
        self.sock.close()


class LiveCapture:
    """Packets from one or more interfaces as record batches (``open_live`` makes one)."""

    kind = "afpacket"

    def __init__(self, rings: list[_Ring]) -> None:
        self._rings = rings
        self._poll = select.poll()
        for ring in rings:
            self._poll.register(ring.sock.fileno(), select.POLLIN | select.POLLERR)
        self._by_fd = {ring.sock.fileno(): ring for ring in rings}
        self._counted = CaptureStats()
        self._next = 0  # stream_off: packets read so far
        self._start = 0  # the ring a batch starts from (turns, so none waits behind another)
        self.closed = False

    @property
    def interfaces(self) -> list[str]:
        return [ring.iface for ring in self._rings]

    @property
    def linktypes(self) -> list[int]:
        return [ring.linktype for ring in self._rings]

    def fileno(self) -> list[int]:
        return list(self._by_fd)

    def batches(self, max_wait: float) -> Iterator[RecordBatch]:
        """Batches until ``close()``: each holds the blocks the kernel handed over, or
        is empty when none came within ``max_wait`` seconds (so the caller's idle clock
        ticks on a quiet link)."""
        while not self.closed:
            yield self.next_batch(max_wait)

    def next_batch(self, max_wait: float) -> RecordBatch:
        deadline = time.monotonic() + max_wait
        while not any(ring.ready() for ring in self._rings):
            left = deadline - time.monotonic()
            if left <= 0:
                return RecordBatch.empty(np.zeros(PAD, dtype=np.uint8))
            for fd, events in self._poll.poll(max(1, int(left * 1000 + 0.999))):
                if events & select.POLLERR:
                    self._by_fd[fd].clear_error()
        return self._collect()

    def _collect(self) -> RecordBatch:
        rings = self._rings[self._start :] + self._rings[: self._start]
        self._start = (self._start + 1) % len(self._rings)
        room = block_room(max(r.block_size for r in rings))
        buf = np.empty(room * BATCH_BLOCKS + PAD, dtype=np.uint8)
        out = buf[: room * BATCH_BLOCKS]
        data_off = np.empty(MAX_BATCH_PACKETS, dtype=np.int64)
        caplen, wirelen = np.empty_like(data_off), np.empty_like(data_off)
        ts = np.empty(MAX_BATCH_PACKETS, dtype=np.float64)
        linktype = np.empty(MAX_BATCH_PACKETS, dtype=np.int32)
        n = pos = taken = 0
        sources = 0
        full = False
        while not full and taken < BATCH_BLOCKS:
            progressed = False
            for ring in rings:  # a block from each interface in turn
                if taken >= BATCH_BLOCKS or not ring.ready():
                    continue
                vlan = ring.linktype == LINKTYPE_ETHERNET
                block = ring.block()
                try:
                    got, pos_after, status, _ = walk_block(
                        block, out, pos, data_off, caplen, wirelen, ts, n, vlan, ring.loopback
                    )
                finally:
                    block.release()
                if status == FULL and n > 0:
                    full = True  # the block stays ours; the next batch starts with it
                    break
                if status != OK:  # damage (or a block no empty batch can take)
                    self._counted.damaged_blocks += 1
                if got > n:
                    linktype[n:got] = ring.linktype
                    sources |= 1 << self._rings.index(ring)
                n, pos = got, pos_after
                ring.release()
                taken += 1
                progressed = True
            if not progressed:
                break
        buf[pos : pos + PAD] = 0
        order = slice(0, n)
        if sources & (sources - 1):  # packets of several interfaces: in time order
            order = np.argsort(ts[:n], kind="stable")
        stream_off = np.arange(self._next, self._next + n, dtype=np.int64)
        self._next += n
        self._counted.delivered += n
        return RecordBatch(
            buf, data_off[order], caplen[order], wirelen[order], ts[order], linktype[order],
            stream_off,
        )  # fmt: skip

    def stats(self) -> CaptureStats:
        """The counters so far (the kernel's are reset when read, so they add up here)."""
        for ring in self._rings:
            if self.closed:
                break
            raw = ring.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS.size)
            packets, drops, freezes = _STATS.unpack(raw)
            self._counted.received += packets
            self._counted.dropped += drops
            self._counted.freeze_q += freezes
        c = self._counted
        return CaptureStats(c.received, c.dropped, c.freeze_q, c.delivered, c.damaged_blocks)

    def counters(self) -> CaptureCounters:
        """The counters as every live source reports them (live.py's health lines)."""
        c = self.stats()
        return CaptureCounters(
            packets=c.delivered, kernel_received=c.received, kernel_dropped=c.dropped,
            known_drops=True, ring_full=c.freeze_q, damaged_blocks=c.damaged_blocks,
        )  # fmt: skip

    def close(self) -> None:
        """Unmap the rings and close the sockets (a batch already yielded stays valid:
        its packets were copied out of the ring)."""
        if self.closed:
            return
        self.stats()  # the last kernel counters, while the sockets are open
        self.closed = True
        for ring in self._rings:
            ring.close()

    def __enter__(self) -> LiveCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_live(
    interfaces: list[str],
    bpf: str | None,
    snaplen: int,
    promisc: bool = True,
    fanout_group: int | None = None,
) -> LiveCapture:
    """Open a capture on ``interfaces`` (one socket and ring each). ``bpf`` is a
    tcpdump-style expression; ``fanout_group`` puts the sockets in a PACKET_FANOUT hash
    group, so processes that open the same interfaces with the same group share their
    flows out (interface k joins group ``fanout_group + k``: the kernel allows one device
    per group). InputError with a one-line message when it cannot be done."""
    if not interfaces:
        raise InputError("no interface to capture on")
    if not 0 < snaplen <= filters.MAX_SNAPLEN:
        raise InputError(f"snaplen must be from 1 to {filters.MAX_SNAPLEN}")
    if fanout_group is not None and not 0 <= fanout_group <= 0xFFFF:
        raise InputError("fanout group must be from 0 to 65535")
    if len(set(interfaces)) != len(interfaces):
        raise InputError("an interface is named twice")
    rings: list[_Ring] = []
    try:
        for k, iface in enumerate(interfaces):
            group = None if fanout_group is None else (fanout_group + k) & 0xFFFF
            rings.append(_open_one(iface, bpf, snaplen, promisc, group))
    except BaseException:
        for ring in rings:
            ring.close()
        raise
    return LiveCapture(rings)


def _open_one(
    iface: str, bpf_filter: str | None, snaplen: int, promisc: bool, group: int | None
) -> _Ring:
    if not iface or len(iface.encode()) >= IFNAMSIZ or "/" in iface or iface != iface.strip():
        raise InputError(f"{iface}: no such interface")
    try:
        # Protocol 0: the socket receives nothing until it is bound below, after the ring
        # and the filter are in place (so no unfiltered packet lands in the ring).
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise InputError(f"capturing on {iface} needs root or CAP_NET_RAW") from None
    except OSError as exc:
        raise InputError(f"{iface}: cannot open a packet socket ({exc.strerror})") from None
    try:
        ring = _Ring(iface, sock, _arphrd(sock, iface))
        program = (
            filters.accept_all(snaplen)
            if bpf_filter is None
            else filters.compile_filter(bpf_filter, ring.linktype, snaplen)
        )
        _setup(ring, program, snaplen, promisc, group)
    except BaseException:
        sock.close()
        raise
    return ring


def _arphrd(sock: socket.socket, iface: str) -> int:
    """The interface's ARPHRD type, one we have a link type for (SIOCGIFHWADDR: asked in
    the socket's own network namespace, which /sys/class/net need not show)."""
    try:
        ifindex = socket.if_nametoindex(iface)
        ifreq = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("16s16x", iface.encode()))
    except OSError:
        raise InputError(f"{iface}: no such interface") from None
    if ifindex <= 0:
        raise InputError(f"{iface}: no such interface")
    arphrd = struct.unpack_from("=H", ifreq, 16)[0]
    if arphrd not in ARPHRD_LINKTYPES:
        raise InputError(
            f"{iface}: link type ARPHRD {arphrd} not supported (Ethernet, loopback or tun only)"
        )
    return arphrd


def _setup(
    ring: _Ring, program: filters.Program, snaplen: int, promisc: bool, group: int | None
) -> None:
    iface, sock = ring.iface, ring.sock
    step = "set up the ring"
    try:
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
        step = "attach the filter"
        filters.attach(sock, program)
        step = "set up the ring"
        ring.setup()
        step = "bind to it"
        sock.bind((iface, ETH_P_ALL))
        if promisc:
            step = "turn on promiscuous mode"
            mreq = struct.pack("=iHH8s", socket.if_nametoindex(iface), PACKET_MR_PROMISC, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
        if group is not None:
            step = "join fanout group"
            flags = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG
            # an unsigned int: the flags' top bit does not fit a signed one
            sock.setsockopt(SOL_PACKET, PACKET_FANOUT, struct.pack("=I", group | flags << 16))
    except OSError as exc:
        ring.close()
        if step == "bind to it" and exc.errno == 19:  # ENODEV: gone since it was looked up
            raise InputError(f"{iface}: no such interface") from None
        raise InputError(f"{iface}: cannot {step} ({exc.strerror or exc})") from None
