"""A miner at a known hashrate: captures to check hashrate estimates against the truth.

A miner doing H hashes a second finds shares of a job whose target takes E hashes on
average at the rate H / E, a Poisson process; a pool may change the difficulty during
the session (vardiff). So a session here is: the dialect's login, jobs pushed every
20-60 s, a new difficulty at each ``vardiff`` step (sent the way the dialect sends it,
followed by a job that carries it), and shares at Poisson times whose rate follows the
difficulty in force. E comes from each dialect's own target arithmetic, written out here
from the protocols' definitions, not from the detector's:

* Stratum v1: the share target is 0xffff x 2^208 / difficulty (x 2^16 for scrypt);
* CryptoNote: a 4-byte little-endian target t, a share being a hash whose top 32 bits are
  below it: E = 2^32 / t (XMRig);
* EthereumStratum/1.0.0: target 0x00000000ffff0000... / difficulty (NiceHash's spec);
* ETH proxy: E = 2^256 / boundary of the work package.

Times come from :class:`~detector.synth.chain.HexStream` (a seed gives the same capture on
every machine). ``RatedCapture`` holds the capture and the truth: the hashrate, and the
times of every job message and share the client or pool sent, for activity checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from detector.dialects import CRYPTONOTE, ETH_PROXY, ETHEREUM_STRATUM, STRATUM_V1
from detector.synth.chain import HexStream, eth_address, monero_address, segwit_address
from detector.synth.clock import NS, at
from detector.synth.conversation import Conversation, Script
from detector.synth.dialects import cryptonote, ethproxy, ethstratum, stratum
from detector.synth.dialects.ethash import EthJobs
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes

DIFF1_TARGET = 0xFFFF << 208  # Bitcoin's difficulty-1 target (Stratum, EthereumStratum)
TWO_256 = 1 << 256


@dataclass
class RatedCapture:
    """A generated miner session and its truth."""

    pcap: bytes
    dialect: str
    hashrate: float  # H/s the miner ran at
    client: str
    jobs: list[float] = field(default_factory=list)  # times (s) of the pool's job messages
    shares: list[float] = field(default_factory=list)  # times (s) of the miner's shares
    difficulties: list[float] = field(default_factory=list)  # each share's difficulty
    start: float = 0.0  # first packet (s)
    end: float = 0.0  # last packet (s)


def rated_miner(
    dialect: str,
    hashrate: float,
    seconds: float,
    seed: str,
    *,
    vardiff: Sequence[tuple[float, float]],
    client: str = "10.77.0.2",
    client_port: int = 41000,
    start: float = 0.0,
    coin: str = "BTC",
    announce_difficulty: bool = True,
    reported: float | None = None,
) -> RatedCapture:
    """One session of ``seconds`` in ``dialect`` from ``start`` s after the synth epoch.

    ``vardiff``: (seconds into the session, difficulty) steps, the first at 0 - Stratum
    and EthereumStratum difficulties, CryptoNote difficulties (a target of (2^32 - 1) //
    d), ETH proxy boundaries of 2^256 // d. ``coin``: BTC or LTC (Stratum v1). Without
    ``announce_difficulty`` the pool's difficulty messages are left out (a capture that
    began after them). ``reported``: the miner reports this hashrate every 30 s
    (eth_submitHashrate; ETH dialects)."""
    if not vardiff or vardiff[0][0] != 0:
        raise ValueError("vardiff must start at 0 s")
    session = _DIALECTS[dialect](seed, client, coin)
    session.client_port = client_port
    return session.play(hashrate, seconds, vardiff, at(start), announce_difficulty, reported)


class _Session:
    """What every dialect's session shares: the schedule of jobs, steps and shares."""

    dialect = ""
    port = 3333
    client_port = 41000

    def __init__(self, seed: str, client: str, coin: str) -> None:
        self.h = HexStream(f"rated-{self.dialect}-{seed}")
        self.client = client
        self.coin = coin
        self.sc = Script()
        self.out = RatedCapture(b"", self.dialect, 0.0, client)

    # -- what each dialect writes -----------------------------------------------------

    def hashes_per_share(self, difficulty: float) -> float:
        raise NotImplementedError

    def hello(self, ts: int, difficulty: float, announce: bool) -> None:
        raise NotImplementedError

    def step(self, ts: int, difficulty: float, announce: bool) -> None:
        """The pool's new difficulty, with the job that carries it."""
        raise NotImplementedError

    def job(self, ts: int) -> None:
        raise NotImplementedError

    def share(self, ts: int) -> None:
        raise NotImplementedError

    def report(self, ts: int, rate: float) -> None:
        raise NotImplementedError

    def poll(self, ts: int) -> None:
        """A client's work poll (ETH proxy only)."""

    poll_every: float | None = None

    # -- the schedule -----------------------------------------------------------------

    def uniform(self) -> float:
        """A uniform number in (0, 1) from the seeded stream."""
        return (self.h.uint(0, (1 << 53) - 1) + 0.5) / (1 << 53)

    def server_job(self, ts: int, msg: bytes) -> None:
        self.sc.server(ts, msg)
        self.out.jobs.append(ts / NS)

    def play(
        self,
        hashrate: float,
        seconds: float,
        vardiff: Sequence[tuple[float, float]],
        base: int,
        announce: bool,
        reported: float | None,
    ) -> RatedCapture:
        rtt = 0.04
        conv = Conversation(
            (self.client, self.client_port), ("198.51.100.77", self.port), base, rtt=rtt
        )
        t0 = base + NS // 5  # after the handshake
        self.out.hashrate = hashrate
        self.hello(t0, vardiff[0][1], announce)
        begin = t0 + NS // 2  # the first job is there: the miner starts hashing
        stop = base + round(seconds * NS)
        events: list[tuple[int, str, float]] = []
        t = begin
        while True:  # job pushes every 20-60 s
            t += round((20 + 40 * self.uniform()) * NS)
            if t >= stop - NS:
                break
            events.append((t, "job", 0.0))
        steps = [(begin + round(when * NS), d) for when, d in vardiff]
        events += [(ts, "step", d) for ts, d in steps[1:]]
        if self.poll_every:
            t = begin
            while t + round(self.poll_every * NS) < stop - NS:
                t += round(self.poll_every * NS)
                events.append((t + NS // 100, "poll", 0.0))
        if reported is not None:
            t = begin
            while t + 30 * NS < stop - NS:
                t += 30 * NS
                events.append((t + NS // 50, "report", reported))
        # Shares: a Poisson process whose rate follows the difficulty in force. Its gaps
        # are drawn afresh at each step (memoryless, so that is exact).
        bounds = [ts for ts, _ in steps[1:]] + [stop - NS]
        t = begin
        for (step_at, d), until in zip(steps, bounds, strict=True):
            t = max(t, step_at)
            rate = hashrate / self.hashes_per_share(d)
            while True:
                gap = -math.log(self.uniform()) / rate
                if t + round(gap * NS) >= until:
                    t = until
                    break
                t += round(gap * NS)
                events.append((t, "share", d))
        for ts, kind, value in sorted(events):
            if kind == "job":
                self.job(ts)
            elif kind == "step":
                self.step(ts, value, announce)
            elif kind == "poll":
                self.poll(ts)
            elif kind == "report":
                self.report(ts, value)
            else:
                self.share(ts)
                self.out.shares.append(ts / NS)
                self.out.difficulties.append(value)
        self.sc.play(conv)
        conv.close(stop)
        packets = conv.finish()
        link = Ethernet()
        self.out.pcap = pcap_bytes(frames(packets, link, "<"), link.linktype)
        self.out.start = packets[0].ts_ns / NS
        self.out.end = packets[-1].ts_ns / NS
        return self.out


class _StratumV1(_Session):
    """cgminer against a Bitcoin (SHA-256d) or Litecoin (scrypt) pool."""

    dialect = STRATUM_V1

    def __init__(self, seed: str, client: str, coin: str) -> None:
        super().__init__(seed, client, coin)
        hrp = {"BTC": "bc", "LTC": "ltc"}[coin]
        self.user = segwit_address(hrp, self.h.bytes(20)) + ".rig1"
        self.jobs = stratum.BitcoinJobs(f"rated-jobs-{seed}", 930_000, "17028c61")
        self.current: list[object] = []
        self.sid = 10

    def hashes_per_share(self, difficulty: float) -> float:
        target = DIFF1_TARGET * (1 << 16 if self.coin == "LTC" else 1) / difficulty
        return TWO_256 / target

    def _notify(self, ts: int, clean: bool) -> bytes:
        self.current = self.jobs.notify(ts, clean)
        return stratum.notify(self.current)

    def hello(self, ts: int, difficulty: float, announce: bool) -> None:
        en1 = self.h.hex(4)
        self.sc.client(ts, stratum.subscribe(1, "cgminer/4.12.1"))
        self.sc.server(ts + NS // 20, stratum.reply(1, [[["mining.notify", en1]], en1, 8]))
        self.sc.client(ts + NS // 10, stratum.authorize(2, self.user, "x"))
        diff = stratum.set_difficulty(difficulty) if announce else b""
        at_ = ts + NS // 10 + NS // 20
        self.server_job(at_, stratum.reply(2, True) + diff + self._notify(at_, True))

    def step(self, ts: int, difficulty: float, announce: bool) -> None:
        diff = stratum.set_difficulty(difficulty) if announce else b""
        self.server_job(ts, diff + self._notify(ts, True))

    def job(self, ts: int) -> None:
        self.server_job(ts, self._notify(ts, False))

    def share(self, ts: int) -> None:
        self.sid += 1
        job, en2, ntime, nonce, _ = self.jobs.share(self.current)
        self.sc.client(ts, stratum.submit_cgminer(self.sid, self.user, job, en2, ntime, nonce))
        self.sc.server(ts + NS // 20, stratum.reply(self.sid, True))


class _CryptoNote(_Session):
    """XMRig against a RandomX pool whose jobs carry the share target."""

    dialect = CRYPTONOTE

    def __init__(self, seed: str, client: str, coin: str) -> None:
        super().__init__(seed, client, coin)
        self.wallet = monero_address(self.h)
        self.jobs = cryptonote.MoneroJobs(f"rated-jobs-{seed}")
        self.job_id = ""
        self.seq = 2

    def hashes_per_share(self, difficulty: float) -> float:
        return (1 << 32) / ((2**32 - 1) // int(difficulty))

    def _job(self, ts: int, with_id: bool) -> dict[str, object]:
        job = self.jobs.job(ts, False, with_id)
        self.job_id = str(job["job_id"])
        return job

    def hello(self, ts: int, difficulty: float, announce: bool) -> None:
        login = cryptonote.xmrig_login(
            self.wallet, cryptonote.XMRIG_AGENT, cryptonote.xmrig_algos()
        )
        self.sc.client(ts, login)
        self.jobs.diff = int(difficulty)
        first = self._job(ts + NS // 20, True)
        reply = cryptonote.login_result(self.jobs.rpc_id, first, cryptonote.XMRIG_EXTENSIONS)
        self.server_job(ts + NS // 20, reply)

    def step(self, ts: int, difficulty: float, announce: bool) -> None:
        self.jobs.diff = int(difficulty)
        self.job(ts)

    def job(self, ts: int) -> None:
        self.server_job(ts, cryptonote.job_push(self._job(ts, True)))

    def share(self, ts: int) -> None:
        nonce, result = self.jobs.share()
        msg = cryptonote.submit(self.seq, self.jobs.rpc_id, self.job_id, nonce, result)
        self.sc.client(ts, msg)
        self.sc.server(ts + NS // 20, cryptonote.ok(self.seq))
        self.seq += 1


class _EthStratum(_Session):
    """NBMiner against a NiceHash EthereumStratum/1.0.0 pool (Etchash)."""

    dialect = ETHEREUM_STRATUM
    port = 3353

    def __init__(self, seed: str, client: str, coin: str) -> None:
        super().__init__(seed, client, coin)
        self.user = eth_address(self.h) + ".rig1"
        self.work = EthJobs(f"rated-jobs-{seed}")
        self.extranonce = self.h.hex(2)
        self.current = ""
        self.sid = 10

    def hashes_per_share(self, difficulty: float) -> float:
        return TWO_256 / (DIFF1_TARGET / difficulty)

    def _notify(self) -> bytes:
        job = self.work.next()
        self.current = job[0]
        return ethstratum.notify(*job)

    def hello(self, ts: int, difficulty: float, announce: bool) -> None:
        cl = ethstratum.NBMINER
        self.sc.client(ts, cl.subscribe())
        self.sc.server(ts + NS // 20, ethstratum.subscribe_result(self.h.hex(16), self.extranonce))
        self.sc.client(ts + NS // 10, cl.extranonce_subscribe() + cl.authorize(3, self.user))
        diff = ethstratum.set_difficulty(difficulty) if announce else b""
        replies = ethstratum.result(2) + ethstratum.result(3) + diff
        self.server_job(ts + NS // 10 + NS // 20, replies + self._notify())

    def step(self, ts: int, difficulty: float, announce: bool) -> None:
        diff = ethstratum.set_difficulty(difficulty) if announce else b""
        self.server_job(ts, diff + self._notify())

    def job(self, ts: int) -> None:
        self.server_job(ts, self._notify())

    def share(self, ts: int) -> None:
        self.sid += 1
        nonce = self.work.nonce()[len(self.extranonce) :]
        self.sc.client(ts, ethstratum.NBMINER.submit(self.sid, self.user, self.current, nonce))
        self.sc.server(ts + NS // 20, ethstratum.result(self.sid))

    def report(self, ts: int, rate: float) -> None:
        self.sid += 1
        msg = ethstratum.NBMINER.hashrate(self.sid, f"0x{int(rate):x}", "0x" + self.h.hex(32))
        self.sc.client(ts, msg)
        self.sc.server(ts + NS // 20, ethstratum.result(self.sid))


class _EthProxy(_Session):
    """Claymore's eth-proxy: getWork polled every 10 s, new work pushed, the boundary in
    each work package."""

    dialect = ETH_PROXY
    port = 8008
    poll_every = 10.0

    def __init__(self, seed: str, client: str, coin: str) -> None:
        super().__init__(seed, client, coin)
        self.wallet = eth_address(self.h)
        self.work = EthJobs(f"rated-jobs-{seed}")
        self.boundary = ""

    def hashes_per_share(self, difficulty: float) -> float:
        return TWO_256 / (TWO_256 // int(difficulty))

    def _package(self) -> bytes:
        return ethproxy.work(0, self.work.header, self.work.seed, self.boundary)

    def hello(self, ts: int, difficulty: float, announce: bool) -> None:
        self.boundary = f"0x{TWO_256 // int(difficulty):064x}"
        self.sc.client(ts, ethproxy.claymore_login(f"{self.wallet}.rig7"))
        self.sc.server(ts + NS // 20, ethproxy.ok(2))
        self.sc.client(ts + NS // 10, ethproxy.claymore_getwork())
        self.server_job(ts + NS // 10 + NS // 20, self._package())

    def step(self, ts: int, difficulty: float, announce: bool) -> None:
        self.boundary = f"0x{TWO_256 // int(difficulty):064x}"
        self.job(ts)

    def job(self, ts: int) -> None:
        self.work.next()
        self.server_job(ts, self._package())

    def poll(self, ts: int) -> None:
        self.sc.client(ts, ethproxy.claymore_getwork())
        self.server_job(ts + NS // 20, self._package())

    def share(self, ts: int) -> None:
        nonce, mix = "0x" + self.work.nonce(), "0x" + self.work.h.hex(32)
        self.sc.client(ts, ethproxy.claymore_submit(nonce, "0x" + self.work.header, mix))
        self.sc.server(ts + NS // 20, ethproxy.ok(4))

    def report(self, ts: int, rate: float) -> None:
        self.sc.client(ts, ethproxy.submit_hashrate(f"0x{int(rate):x}", "0x" + self.h.hex(32)))
        self.sc.server(ts + NS // 20, ethproxy.ok(6))


_DIALECTS: dict[str, type[_Session]] = {
    STRATUM_V1: _StratumV1,
    CRYPTONOTE: _CryptoNote,
    ETHEREUM_STRATUM: _EthStratum,
    ETH_PROXY: _EthProxy,
}
