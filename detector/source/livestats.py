"""Counters of a live capture: what the capture path saw and what the kernel dropped.

Plain data, so a health line, the exit report and (with several workers) a merge across
processes read the same fields whichever capture path filled them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class CaptureCounters:
    packets: int = 0  # packets handed to the session
    kernel_received: int = 0  # packets the kernel passed the filter (as its counters say)
    kernel_dropped: int = 0  # packets the kernel dropped: the ring (or buffer) was full
    known_drops: bool = False  # whether kernel_dropped is known yet (tcpdump: at its end)
    ring_full: int = 0  # times the capture ring was full (AF_PACKET's tp_freeze_q_cnt)
    damaged_blocks: int = 0  # ring blocks whose packet chain was broken (packets kept before)

    def add(self, other: CaptureCounters) -> None:
        self.packets += other.packets
        self.kernel_received += other.kernel_received
        self.kernel_dropped += other.kernel_dropped
        self.known_drops = self.known_drops or other.known_drops
        self.ring_full += other.ring_full
        self.damaged_blocks += other.damaged_blocks
