"""Work units of an Ethash-family chain (ETC in 2026), shared by the three dialects that
carry them: EthereumStratum/1.0.0, ETH proxy and Ethereum getwork over HTTP.

One seed hash per epoch, a header hash per job, and share boundaries as ``eth_getWork``
returns them (0x + 64 hex digits with leading zero bytes).
"""

from __future__ import annotations

from detector.synth.chain import HexStream


class EthJobs:
    """Work for an Ethash-family chain: one seed per epoch, a header per job."""

    def __init__(self, label: str, block: int = 23_912_407) -> None:
        self.h = HexStream(label)
        self.seed = self.h.hex(32)
        self.block = block
        self.header = self.h.hex(32)
        self.job = self.h.hex(4)

    def next(self, new_block: bool = True) -> tuple[str, str, str]:
        """(job id, seed hash, header hash) of the next job."""
        if new_block:
            self.block += 1
        self.header = self.h.hex(32)
        self.job = self.h.hex(4)
        return self.job, self.seed, self.header

    def target(self, diff_bits: int = 32) -> str:
        """A share boundary as eth_getWork returns it (0x + 64 hex, leading zero bytes)."""
        return "0x" + "00" * (diff_bits // 8) + self.h.hex(32 - diff_bits // 8)

    def nonce(self) -> str:
        return self.h.hex(8)
