"""Stratum V2: binary frames behind a Noise NX handshake (stratum-mining/sv2-spec).

What a tap sees of an encrypted session is sizes and timing, so the writers here get the
sizes exactly right and fill the ciphertext with the session's random bytes:

* **Handshake** (04-Protocol-Security.md §4.5): the initiator's first message is its
  64-byte ElligatorSwift ephemeral key (§4.5.1.1, "Message length: 64 bytes"); the
  responder answers with its 64-byte ephemeral key, its encrypted static key (64 + 16-byte
  MAC) and the encrypted SIGNATURE_NOISE_MESSAGE (74 + 16-byte MAC): 64 + 80 + 90 = 234
  bytes, as §4.5.2.2 steps 2, 5 and 7 read them. (§4.5.2.1's table says "170 bytes"; the
  steps, and the implementations, add up to 234.)
* **Frames** (03-Protocol-Overview.md §3.2): extension_type U16, msg_type U8, msg_length
  U24 (all little-endian), then the payload. Encrypted (04-Protocol-Security.md §4.6): the
  6-byte header becomes a 22-byte AEAD ciphertext (6 + 16-byte MAC) and the payload its
  own ciphertext, plaintext + 16-byte MAC per 65,519-byte block: **plaintext + 38** bytes
  on the wire for any message under 64 KiB.
* **Payload sizes** from the field tables: SetupConnection and .Success (03 §3.6.1-3.6.2),
  OpenStandardMiningChannel / OpenExtendedMiningChannel and their .Success, NewMiningJob,
  NewExtendedMiningJob, SetNewPrevHash, SubmitSharesStandard / SubmitSharesExtended and
  SubmitShares.Success (05-Mining-Protocol.md §5.3.2-5.3.17); message type numbers from
  08-Message-Types.md. Types: U8 1, U16 2, U24 3, U32 4, U256 32, F32 4, STR0_255 and
  B0_32 1 + length, B0_64K 2 + length, OPTION[U32] 1 or 5, SEQ0_255[U256] 1 + 32 n.

A mining device opens a standard channel and gets header-only jobs (NewMiningJob); a proxy
opens an extended channel and gets NewExtendedMiningJob with the coinbase halves. A new
block is a future job followed by SetNewPrevHash (§5.3.15, §5.3.17); between blocks the
pool sends jobs with min_ntime set. Shares are acknowledged in batches (§5.3.13).

On a LAN a device may talk to its proxy without the handshake (§4: "optional on the local
network"): those frames are plaintext with real field values.
"""

from __future__ import annotations

import struct
from random import Random

from detector.dialects import STRATUM_V2
from detector.synth.dialects.base import Session

#: 04-Protocol-Security.md §4.5.1.1 and §4.5.2.2
ACT1_LEN = 64
ACT2_LEN = 64 + (64 + 16) + (74 + 16)
MAC = 16
HEADER_CT = 6 + MAC  # §4.6: the encrypted frame header
MAX_PT = 65535 - MAC

# 08-Message-Types.md
SETUP_CONNECTION, SETUP_SUCCESS = 0x00, 0x01
OPEN_STANDARD, OPEN_STANDARD_SUCCESS = 0x10, 0x11
OPEN_EXTENDED, OPEN_EXTENDED_SUCCESS = 0x13, 0x14
NEW_MINING_JOB = 0x15
SUBMIT_STANDARD, SUBMIT_EXTENDED, SUBMIT_SUCCESS = 0x1A, 0x1B, 0x1C
NEW_EXTENDED_JOB = 0x1F
SET_NEW_PREV_HASH = 0x20
CHANNEL_MSG = 0x8000  # §3.2: the channel_msg bit of extension_type
_CHANNEL_TYPES = {
    SUBMIT_STANDARD,
    SUBMIT_EXTENDED,
    SUBMIT_SUCCESS,
    NEW_EXTENDED_JOB,
    SET_NEW_PREV_HASH,
}


def str0(s: str) -> bytes:
    b = s.encode()
    return bytes([len(b)]) + b


def frame(msg_type: int, payload: bytes) -> bytes:
    """A plaintext frame (03 §3.2)."""
    ext = CHANNEL_MSG if msg_type in _CHANNEL_TYPES else 0
    n = len(payload)
    return struct.pack("<HB", ext, msg_type) + n.to_bytes(3, "little") + payload


def encrypted_len(payload_len: int) -> int:
    """Bytes on the wire of an encrypted frame (04 §4.6, pt_len_to_ct_len)."""
    blocks, rest = divmod(payload_len, MAX_PT)
    return HEADER_CT + blocks * 65535 + (rest + MAC if rest else 0)


# --- payloads (real field values; sizes as the tables say) ---------------------------------


def setup_connection(
    host: str, port: int, vendor: str, hardware: str, firmware: str, device_id: str, flags: int = 0
) -> bytes:
    """03 §3.6.1: protocol U8, min/max_version U16, flags U32, endpoint_host STR0_255,
    endpoint_port U16, vendor, hardware_version, firmware, device_id STR0_255."""
    return (
        struct.pack("<BHHI", 0, 2, 2, flags)
        + str0(host)
        + struct.pack("<H", port)
        + str0(vendor)
        + str0(hardware)
        + str0(firmware)
        + str0(device_id)
    )


def setup_success(flags: int = 0) -> bytes:
    """03 §3.6.2: used_version U16, flags U32."""
    return struct.pack("<HI", 2, flags)


def open_channel(rng: Random, request_id: int, user: str, hashrate: float, extended: bool) -> bytes:
    """05 §5.3.2 (+ min_extranonce_size U16 for §5.3.4): request_id U32, user_identity
    STR0_255, nominal_hash_rate F32, max_target U256."""
    out = struct.pack("<I", request_id) + str0(user) + struct.pack("<f", hashrate)
    out += b"\xff" * 28 + rng.randbytes(4)
    return out + (struct.pack("<H", 8) if extended else b"")


def open_success(rng: Random, request_id: int, channel: int, extended: bool) -> bytes:
    """05 §5.3.3 / §5.3.5: request_id, channel_id U32, target U256, [extranonce_size U16],
    extranonce_prefix B0_32, group_channel_id U32."""
    out = struct.pack("<II", request_id, channel) + rng.randbytes(28) + b"\x00" * 4
    if extended:
        out += struct.pack("<H", 8)
    prefix = rng.randbytes(8 if extended else 16)
    return out + bytes([len(prefix)]) + prefix + struct.pack("<I", 1)


def new_mining_job(rng: Random, channel: int, job_id: int, future: bool) -> bytes:
    """05 §5.3.15: channel_id, job_id U32, min_ntime OPTION[U32], version U32,
    merkle_root U256."""
    ntime = b"\x00" if future else b"\x01" + struct.pack("<I", 1_767_607_200 + job_id)
    return (
        struct.pack("<II", channel, job_id)
        + ntime
        + struct.pack("<I", 0x20000000)
        + rng.randbytes(32)
    )


def new_extended_job(
    rng: Random,
    channel: int,
    job_id: int,
    future: bool,
    branches: int,
    prefix_len: int,
    suffix_len: int,
) -> bytes:
    """05 §5.3.16: channel_id, job_id, min_ntime OPTION[U32], version U32,
    version_rolling_allowed BOOL, merkle_path SEQ0_255[U256], coinbase_tx_prefix and
    coinbase_tx_suffix B0_64K."""
    ntime = b"\x00" if future else b"\x01" + struct.pack("<I", 1_767_607_200 + job_id)
    return (
        struct.pack("<II", channel, job_id)
        + ntime
        + struct.pack("<IB", 0x20000000, 1)
        + bytes([branches])
        + rng.randbytes(32 * branches)
        + struct.pack("<H", prefix_len)
        + rng.randbytes(prefix_len)
        + struct.pack("<H", suffix_len)
        + rng.randbytes(suffix_len)
    )


def set_new_prev_hash(rng: Random, channel: int, job_id: int, ntime: int) -> bytes:
    """05 §5.3.17: channel_id, job_id U32, prev_hash U256, min_ntime U32, nbits U32."""
    return (
        struct.pack("<II", channel, job_id)
        + rng.randbytes(24)
        + b"\x00" * 8
        + struct.pack("<II", ntime, 0x17028C61)
    )


def submit_shares(
    rng: Random, channel: int, seq: int, job_id: int, ntime: int, extranonce: int = 0
) -> bytes:
    """05 §5.3.11 (+ extranonce B0_32 for §5.3.12): channel_id, sequence_number, job_id,
    nonce, ntime, version U32."""
    out = struct.pack("<IIII", channel, seq, job_id, rng.getrandbits(32))
    out += struct.pack("<II", ntime, 0x20000000 | (rng.getrandbits(16) << 13) & 0x1FFFE000)
    return out + (bytes([extranonce]) + rng.randbytes(extranonce) if extranonce else b"")


def submit_success(channel: int, seq: int, count: int, shares_sum: int) -> bytes:
    """05 §5.3.13: channel_id, last_sequence_number, new_submits_accepted_count U32,
    new_shares_sum U64."""
    return struct.pack("<IIIQ", channel, seq, count, shares_sum)


# --- streamed session ------------------------------------------------------------------------


DEVICES = (  # (vendor, hardware_version, firmware) as devices report them
    ("Bitmain", "S19j Pro", "braiins-os-2024-09-06-0-6c7a4a2e"),
    ("Bitmain", "S21", "braiins-os-2025-01-10-0-8f1d2c3b"),
    ("Bitmain", "S9i 13.5", "braiins-os-2022-09-27-0-26ba61b9"),
    ("SRI", "mining-device-sim", "sv2-rust 1.2.0"),
    ("SRI", "translator-proxy", "sv2-tproxy 0.1.0"),
)


class StratumV2Session(Session):
    """One Stratum V2 connection: a device on a standard channel or a proxy on an extended
    one, Noise-encrypted (``encrypted``) or plaintext on a LAN."""

    dialect = STRATUM_V2

    def __init__(
        self,
        rng: Random,
        user: str,
        host: str,
        port: int,
        *,
        extended: bool,
        encrypted: bool,
        hashrate: float,
        ack_every: int,
    ) -> None:
        super().__init__(rng, user)
        self.host, self.port = host, port
        self.extended = extended
        self.encrypted = encrypted
        self.hashrate = hashrate
        self.ack_every = ack_every
        self.channel = rng.randint(1, 5000)
        self.job_id = rng.randint(1, 1 << 16)
        self.seq = 0
        self.unacked = 0
        self.device = rng.choice(DEVICES[3:] if extended else DEVICES[:3])
        self.branches = rng.randint(9, 13)
        self.prefix_len = rng.randint(42, 60)
        self.suffix_len = rng.randint(120, 180)

    def _wire(self, frames: list[tuple[int, bytes]]) -> bytes:
        if not self.encrypted:
            return b"".join(frame(t, p) for t, p in frames)
        return b"".join(self.rng.randbytes(encrypted_len(len(p))) for _, p in frames)

    def _job(self, ts: int, future: bool) -> bytes:
        self.job_id += 1
        if self.extended:
            return new_extended_job(
                self.rng,
                self.channel,
                self.job_id,
                future,
                self.branches,
                self.prefix_len,
                self.suffix_len,
            )
        return new_mining_job(self.rng, self.channel, self.job_id, future)

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        rng = self.rng
        vendor, hw, fw = self.device
        setup = setup_connection(
            self.host,
            self.port,
            vendor,
            hw,
            fw,
            "" if rng.random() < 0.5 else rng.randbytes(6).hex(),
        )
        kind = NEW_EXTENDED_JOB if self.extended else NEW_MINING_JOB
        opening = [
            ("c", self._wire([(SETUP_CONNECTION, setup)])),
            ("s", self._wire([(SETUP_SUCCESS, setup_success())])),
            (
                "c",
                self._wire(
                    [
                        (
                            OPEN_EXTENDED if self.extended else OPEN_STANDARD,
                            open_channel(rng, 1, self.wallet, self.hashrate, self.extended),
                        )
                    ]
                ),
            ),
            (
                "s",
                self._wire(
                    [
                        (
                            OPEN_EXTENDED_SUCCESS if self.extended else OPEN_STANDARD_SUCCESS,
                            open_success(rng, 1, self.channel, self.extended),
                        ),
                        (kind, self._job(ts, True)),
                        (
                            SET_NEW_PREV_HASH,
                            set_new_prev_hash(rng, self.channel, self.job_id, ts // 1_000_000),
                        ),
                    ]
                ),
            ),
        ]
        if self.encrypted:  # 04 §4.5: -> e ; <- e, ee, s, es, SIGNATURE_NOISE_MESSAGE
            return [("c", rng.randbytes(ACT1_LEN)), ("s", rng.randbytes(ACT2_LEN)), *opening]
        return opening

    def job(self, ts: int, new_block: bool = False) -> bytes:
        kind = NEW_EXTENDED_JOB if self.extended else NEW_MINING_JOB
        if new_block:  # a future job, then the prevhash that activates it
            job = self._job(ts, True)
            prev = set_new_prev_hash(self.rng, self.channel, self.job_id, ts // 1_000_000)
            return self._wire([(kind, job), (SET_NEW_PREV_HASH, prev)])
        return self._wire([(kind, self._job(ts, False))])

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        self.seq += 1
        self.unacked += 1
        extra = 8 if self.extended else 0
        up = self._wire(
            [
                (
                    SUBMIT_EXTENDED if self.extended else SUBMIT_STANDARD,
                    submit_shares(
                        self.rng, self.channel, self.seq, self.job_id, ts // 1_000_000, extra
                    ),
                )
            ]
        )
        if self.unacked < self.ack_every:
            return up, b""
        count, self.unacked = self.unacked, 0
        ack = submit_success(
            self.channel, self.seq, count, count * self.rng.choice((256, 1024, 4096))
        )
        return up, self._wire([(SUBMIT_SUCCESS, ack)])
