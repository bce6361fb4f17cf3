"""Deterministic, realistic-looking blockchain values (wallets, hashes) for generated captures.

Why this exists: a detector that validates what it sees (a Monero wallet must be 95
base58 characters with a Keccak checksum, an Ethereum address may carry an EIP-55
checksum, a Zcash transparent address starts with ``t1``) must be tested with values that
pass those checks, and the fixtures must be byte-identical on every run.  So every value
here is derived from SHA-256 of a label and a counter - never from ``random`` or the clock -
and the address encoders are the real ones (base58check, Monero's block base58, bech32,
Keccak-256), written out here because the venv has no crypto library that provides
Keccak (``hashlib.sha3_256`` is the NIST variant and gives different digests).

Nothing here is a real wallet: the key material is hash output.
"""

from __future__ import annotations

import hashlib
import struct

__all__ = [
    "HexStream",
    "keccak256",
    "base58",
    "base58check",
    "monero_address",
    "eth_address",
    "segwit_address",
    "zcash_t_address",
    "raptoreum_address",
    "varint",
    "le32hex",
    "swap_words",
    "uuid_text",
]


class HexStream:
    """An endless, reproducible stream of pseudo-random bytes keyed by a label.

    SHA-256 in counter mode: the same label always yields the same bytes, on every
    platform and Python version (unlike ``random.Random``, whose algorithms may change).
    """

    def __init__(self, label: str) -> None:
        self._label = label.encode()
        self._counter = 0
        self._buf = b""

    def bytes(self, n: int) -> bytes:
        """Return the next ``n`` bytes of the stream."""
        while len(self._buf) < n:
            block = hashlib.sha256(self._label + struct.pack(">Q", self._counter)).digest()
            self._counter += 1
            self._buf += block
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def hex(self, n: int) -> str:
        """Return the next ``n`` bytes as lowercase hex (``2 * n`` characters)."""
        return self.bytes(n).hex()

    def uint(self, lo: int, hi: int) -> int:
        """Return an integer in ``[lo, hi]`` (inclusive), reproducibly."""
        span = hi - lo + 1
        return lo + int.from_bytes(self.bytes(8), "big") % span


# --- Keccak-256 (the pre-NIST padding used by Monero and Ethereum) -------------------

_RC = [
    0x0000000000000001,
    0x0000000000008082,
    0x800000000000808A,
    0x8000000080008000,
    0x000000000000808B,
    0x0000000080000001,
    0x8000000080008081,
    0x8000000000008009,
    0x000000000000008A,
    0x0000000000000088,
    0x0000000080008009,
    0x000000008000000A,
    0x000000008000808B,
    0x800000000000008B,
    0x8000000000008089,
    0x8000000000008003,
    0x8000000000008002,
    0x8000000000000080,
    0x000000000000800A,
    0x800000008000000A,
    0x8000000080008081,
    0x8000000000008080,
    0x0000000080000001,
    0x8000000080008008,
]
_ROT = [
    [0, 36, 3, 41, 18],
    [1, 44, 10, 45, 2],
    [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56],
    [27, 20, 39, 8, 14],
]
_MASK = (1 << 64) - 1


def _rol(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _MASK if n else v


def _keccak_f(a: list[list[int]]) -> None:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                a[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        for x in range(5):
            for y in range(5):
                a[x][y] = b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y])
        a[0][0] ^= rc


def keccak256(data: bytes) -> bytes:
    """Keccak-256 with the original 0x01 domain padding (Monero, Ethereum)."""
    rate = 136
    msg = bytearray(data) + b"\x01" + b"\x00" * ((-len(data) - 1) % rate)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off : off + rate]
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _keccak_f(a)
    out = b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))
    return out


# --- base58 family --------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + out


def base58(data: bytes) -> str:
    """Plain base58 (Bitcoin's alphabet, leading zero bytes as '1'), no checksum: the
    encoding of Ergo's and Alephium's addresses, which carry their own."""
    return _b58encode(data)


def base58check(version: bytes, payload: bytes) -> str:
    """Bitcoin-style base58check: version + payload + first 4 bytes of SHA-256d."""
    raw = version + payload
    check = hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    return _b58encode(raw + check)


_MONERO_BLOCK_CHARS = {0: 0, 1: 2, 2: 3, 3: 5, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11}


def _monero_b58(data: bytes) -> str:
    """Monero's base58: 8-byte blocks, each encoded to a fixed width (11 chars)."""
    out = []
    for off in range(0, len(data), 8):
        block = data[off : off + 8]
        n = int.from_bytes(block, "big")
        width = _MONERO_BLOCK_CHARS[len(block)]
        chars = []
        for _ in range(width):
            n, r = divmod(n, 58)
            chars.append(_B58[r])
        out.append("".join(reversed(chars)))
    return "".join(out)


def monero_address(stream: HexStream, netbyte: int = 0x12) -> str:
    """A 95-character standard Monero address (starts with '4') with a valid checksum."""
    body = bytes([netbyte]) + stream.bytes(64)
    return _monero_b58(body + keccak256(body)[:4])


def eth_address(stream: HexStream, checksum: bool = True) -> str:
    """A 0x-prefixed Ethereum address, EIP-55 mixed case unless ``checksum`` is False."""
    raw = stream.hex(20)
    if not checksum:
        return "0x" + raw
    h = keccak256(raw.encode()).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(h[i], 16) >= 8 else c for i, c in enumerate(raw)
    )


# --- bech32 (BIP-173), for bc1q / ltc1q addresses -------------------------------------

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _convertbits(data: bytes, frombits: int, tobits: int) -> list[int]:
    acc = bits = 0
    out = []
    maxv = (1 << tobits) - 1
    for b in data:
        acc = (acc << frombits) | b
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & maxv)
    if bits:
        out.append((acc << (tobits - bits)) & maxv)
    return out


def segwit_address(hrp: str, program: bytes) -> str:
    """A version-0 bech32 segwit address (P2WPKH for a 20-byte program)."""
    data = [0] + _convertbits(program, 8, 5)
    hrp_exp = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _bech32_polymod(hrp_exp + data + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


def zcash_t_address(stream: HexStream) -> str:
    """A Zcash transparent P2PKH address (``t1...``)."""
    return base58check(b"\x1c\xb8", stream.bytes(20))


def raptoreum_address(stream: HexStream) -> str:
    """A Raptoreum (GhostRider) P2PKH address (``R...``, version byte 60)."""
    return base58check(b"\x3c", stream.bytes(20))


def varint(n: int) -> bytes:
    """CryptoNote/Protobuf-style LEB128 varint (used in Monero block blobs)."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def le32hex(n: int) -> str:
    """A 32-bit number as little-endian hex (nTime, nBits and targets in work units)."""
    return struct.pack("<I", n & 0xFFFFFFFF).hex()


def swap_words(h: bytes) -> str:
    """Stratum v1's prevhash: the LE block hash with every 4-byte word byte-swapped."""
    return b"".join(h[i : i + 4][::-1] for i in range(0, 32, 4)).hex()


def uuid_text(hex32: str) -> str:
    """A version-4 style UUID from 32 hex digits (node-stratum-pool and proxy rpc ids)."""
    x = hex32
    return f"{x[:8]}-{x[8:12]}-4{x[13:16]}-a{x[17:20]}-{x[20:]}"
