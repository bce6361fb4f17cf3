"""Mining flows of the mixed benchmark capture, in the dialects real miners speak.

Message layouts follow the same sources as the test fixtures (tools/make_fixtures.py):
cgminer/cpuminer/ESP-Miner sprintf templates, XMRig's rapidjson output, xmr-stak's jpsock
templates, Claymore/Phoenix eth-proxy lines, NiceHash EthereumStratum/1.0.0. Wallets are
checksum-valid (tools/chaindata.py) but derived from hashes: nobody's real wallet.

A :class:`Miner` is one LAN host that mines: 1-3 consecutive connections to its pool (the
pool or the miner drops the connection, the miner reconnects a few seconds later); a few
miners are already mid-session when the capture starts (no SYN, no login). The first
mining message of each connection carries a *mark* so the writer can record in the truth
file only the miner flows that made it into the file.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

from bench.names import POOL_IPS, POOL_NAMES
from bench.traffic import Context, Packet, resolve
from detector.synth.chain import HexStream, eth_address, monero_address, segwit_address
from detector.synth.ip import ACK, RA
from detector.synth.tcp import Tcp

S = 1_000_000  # microseconds per second


def jc(obj: object) -> bytes:
    """Compact JSON line (C/Go pools, rapidjson clients)."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


def ln(text: str) -> bytes:
    return text.encode() + b"\n"


class Session:
    """One dialect's messages for one connection. Subclasses fill in the blanks."""

    dialect = ""
    poll_every: int | None = None  # client polls (eth_getWork) every this many us

    def __init__(self, rng, wallet: str) -> None:
        self.rng = rng
        self.wallet = wallet
        self.sid = 10

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        raise NotImplementedError

    def job(self, ts: int) -> bytes:
        raise NotImplementedError

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        raise NotImplementedError

    def poll(self, ts: int) -> tuple[bytes, bytes]:
        raise NotImplementedError

    def keepalive(self) -> tuple[bytes, bytes] | None:
        return None

    def job_gap(self) -> int:
        return int(self.rng.uniform(20, 90) * S)

    def submit_gap(self) -> int:
        return int(self.rng.expovariate(1 / 150) * S) + 5 * S

    def hex(self, n: int) -> str:
        return self.rng.randbytes(n).hex()


# --- Stratum v1 -------------------------------------------------------------------------

class StratumV1(Session):
    """Bitcoin-family Stratum v1: cgminer (spaced JSON, BTC), cpuminer-opt (scrypt LTC,
    id last in submits) or a Bitaxe (configure + subscribe + authorize in one write,
    version-rolling submits)."""

    dialect = "stratum-v1"
    FLAVORS = ("cgminer", "cpuminer", "bitaxe")

    def __init__(self, rng, wallet: str, flavor: str) -> None:
        super().__init__(rng, wallet)
        self.flavor = flavor
        self.user = wallet + rng.choice((".rig01", ".worker1", ".bitaxe-1", "", ".001"))
        self.height = rng.randint(930_000, 931_000)
        self.prev = self.hex(28) + "00000000"
        self.jobno = rng.randint(1, 1 << 20)
        self.en1 = self.hex(4)
        self.current: list[object] = []
        self.tag = rng.choice(("/ckpool.org/", "/slush/", "/ViaBTC/", "/public-pool.io/"))

    def _notify_params(self, ts: int, clean: bool) -> list[object]:
        if clean:
            self.height += 1
            self.prev = self.hex(28) + "00000000"
        self.jobno += 1
        hb = self.height.to_bytes(3, "little").hex()
        tag = self.tag.encode().hex()
        cb1 = ("02000000010000000000000000000000000000000000000000000000000000000000000000"
               f"ffffffff{(4 + len(self.tag) + 8):02x}03{hb}{tag}")
        cb2 = (f"ffffffff02{self.hex(8)}160014{self.hex(20)}0000000000000000266a24aa21a9ed"
               f"{self.hex(32)}00000000")
        merkle = [self.hex(32) for _ in range(self.rng.randint(8, 12))]
        self.current = [f"{self.jobno:x}", self.prev, cb1, cb2, merkle, "20000000", "17028c61",
                        f"{ts // S:08x}", clean]
        return self.current

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        sub_result = jc({"id": 1, "result": [[["mining.set_difficulty", self.en1],
                                              ["mining.notify", self.en1]], self.en1, 8],
                         "error": None})
        first = jc({"id": None, "method": "mining.notify", "params": self._notify_params(ts, True)})
        diff = jc({"id": None, "method": "mining.set_difficulty",
                   "params": [self.rng.choice((512, 1024, 65536))]})
        if self.flavor == "bitaxe":
            return [
                ("c", ln('{"id": 1, "method": "mining.configure", "params": [["version-rolling"], '
                         '{"version-rolling.mask": "1fffe000"}]}')
                 + ln('{"id": 2, "method": "mining.subscribe", '
                      '"params": ["bitaxe/BM1370/v2.6.2"]}')
                 + ln(f'{{"id": 3, "method": "mining.authorize", '
                      f'"params": ["{self.user}", "x"]}}')),
                ("s", jc({"id": 1, "error": None, "result": {"version-rolling": True,
                                                            "version-rolling.mask": "1fffe000"}})
                 + jc({"id": 2, "error": None, "result": [[["mining.notify", self.en1]],
                                                          self.en1, 4]})
                 + jc({"id": 3, "error": None, "result": True})),
                ("s", diff + first),
            ]
        agent = "cgminer/4.12.1" if self.flavor == "cgminer" else "cpuminer-opt-23.15-x64L"
        return [
            ("c", ln(f'{{"id": 1, "method": "mining.subscribe", "params": ["{agent}"]}}')),
            ("s", sub_result),
            ("c", ln(f'{{"id": 2, "method": "mining.authorize", "params": ["{self.user}", '
                     f'"{"c=LTC" if self.flavor == "cpuminer" else "x"}"]}}')),
            ("s", jc({"id": 2, "result": True, "error": None}) + diff + first),
        ]

    def job(self, ts: int) -> bytes:
        params = self._notify_params(ts, self.rng.random() < 0.2)
        return jc({"params": params, "id": None, "method": "mining.notify"})

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        self.sid += 1
        if not self.current:  # mid-session: the job arrived before the capture started
            self._notify_params(ts - int(self.rng.uniform(1, 30) * S), False)
        job, ntime = self.current[0], self.current[7]
        en2, nonce = self.hex(4 if self.flavor == "bitaxe" else 8), self.hex(4)
        if self.flavor == "cgminer":
            msg = ln(f'{{"params": ["{self.user}", "{job}", "{en2}", "{ntime}", "{nonce}"], '
                     f'"id": {self.sid}, "method": "mining.submit"}}')
        elif self.flavor == "cpuminer":
            msg = ln(f'{{"method": "mining.submit", "params": ["{self.user}", "{job}", '
                     f'"{en2}", "{ntime}", "{nonce}"], "id":4}}')
        else:
            msg = ln(f'{{"id": {self.sid}, "method": "mining.submit", "params": ["{self.user}", '
                     f'"{job}", "{en2}", "{ntime}", "{nonce}", "{self.hex(4)}"]}}')
        ident = 4 if self.flavor == "cpuminer" else self.sid
        return msg, jc({"id": ident, "result": True, "error": None})


# --- NiceHash EthereumStratum/1.0.0 -----------------------------------------------------------

class EthStratum(Session):
    dialect = "ethereum-stratum"
    AGENTS = ("lolMiner 1.88", "NBMiner/42.3", "T-Rex/0.26.8", "TeamRedMiner/0.10.21")

    def __init__(self, rng, wallet: str) -> None:
        super().__init__(rng, wallet)
        self.agent = rng.choice(self.AGENTS)
        self.user = wallet + rng.choice((".rig1", ".farm2", ".3070"))
        self.extranonce = self.hex(2)
        self.seed = self.hex(32)
        self.jobid = self.hex(4)

    def _notify(self) -> bytes:
        self.jobid = self.hex(4)
        return jc({"id": None, "method": "mining.notify",
                   "params": [self.jobid, self.seed, self.hex(32), True]})

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        return [
            ("c", ln(f'{{"id":1,"method":"mining.subscribe","params":["{self.agent}",'
                     '"EthereumStratum/1.0.0"]}')),
            ("s", jc({"id": 1, "result": [["mining.notify", self.hex(16),
                                           "EthereumStratum/1.0.0"], self.extranonce],
                      "error": None})),
            ("c", ln('{"id":2,"method":"mining.extranonce.subscribe","params":[]}')
             + ln(f'{{"id":3,"method":"mining.authorize","params":["{self.user}","x"]}}')),
            ("s", jc({"id": 2, "result": True, "error": None})
             + jc({"id": 3, "result": True, "error": None})
             + jc({"id": None, "method": "mining.set_difficulty", "params": [2.0]})
             + self._notify()),
        ]

    def job(self, ts: int) -> bytes:
        return self._notify()

    def job_gap(self) -> int:
        return int(self.rng.uniform(8, 30) * S)

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        self.sid += 1
        msg = ln(f'{{"id":{self.sid},"method":"mining.submit","params":["{self.user}",'
                 f'"{self.jobid}","{self.hex(6)}"]}}')
        return msg, jc({"id": self.sid, "result": True, "error": None})


# --- CryptoNote (XMRig, xmr-stak, proxies) -------------------------------------------------

_XMRIG_ALGOS = ["rx/0", "cn/1", "cn/2", "cn/r", "cn/fast", "cn/half", "cn/xao", "cn/rto",
                "cn/rwz", "cn/zls", "cn/double", "cn/ccx", "cn-lite/0", "cn-lite/1",
                "cn-heavy/0", "cn-heavy/tube", "cn-heavy/xhv", "cn-pico", "cn-pico/tlo",
                "cn/upx2", "cn/0", "rx/wow", "rx/arq", "rx/graft", "rx/sfx", "rx/yada",
                "argon2/chukwa", "argon2/chukwav2", "argon2/wrkz", "ghostrider"]


class CryptoNote(Session):
    dialect = "cryptonote"
    FLAVORS = ("xmrig", "xmrig-win", "xmrstak", "proxy")

    def __init__(self, rng, wallet: str, flavor: str) -> None:
        super().__init__(rng, wallet)
        self.flavor = flavor
        self.height = rng.randint(3_590_000, 3_600_000)
        self.seed = self.hex(32)
        self.prev = self.hex(32)
        u = self.hex(16)
        self.rpc_id = (str(rng.randint(10**14, 10**15 - 1)) if flavor != "proxy" else
                       f"{u[:8]}-{u[8:12]}-4{u[13:16]}-a{u[17:20]}-{u[20:]}")
        self.job_id = (str(rng.randint(10**14, 10**15 - 1)) if flavor != "proxy"
                       else base64.b64encode(rng.randbytes(21)).decode())
        self.target = f"{(2**32 - 1) // rng.choice((60_000, 120_000, 240_000)):08x}"
        self.target = bytes.fromhex(self.target)[::-1].hex()
        self.keepalive_on = flavor.startswith("xmrig") and rng.random() < 0.4
        self.seq = 1

    def _job(self, ts: int, with_id: bool = True) -> dict[str, object]:
        if self.rng.random() < 0.3:
            self.height += 1
            self.prev = self.hex(32)
        self.job_id = (str(self.rng.randint(10**14, 10**15 - 1)) if self.flavor != "proxy"
                       else base64.b64encode(self.rng.randbytes(21)).decode())
        t = ts // S
        blob = ("1010" + bytes([0x80 | (t & 0x7F), 0x80 | (t >> 7 & 0x7F), 0x80 | (t >> 14 & 0x7F),
                                0x80 | (t >> 21 & 0x7F), t >> 28]).hex()
                + self.prev + "00000000" + self.hex(32) + f"{self.rng.randint(8, 90):02x}")
        job: dict[str, object] = {"blob": blob, "job_id": self.job_id, "target": self.target}
        if with_id:
            job["id"] = self.rpc_id
        if self.flavor != "proxy":
            job["algo"] = "rx/0"
        job["height"] = self.height
        job["seed_hash"] = self.seed
        return job

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        w = self.wallet
        if self.flavor.startswith("xmrig"):
            agent = ("XMRig/6.22.2 (Linux x86_64) libuv/1.48.0 gcc/13.2.1"
                     if self.flavor == "xmrig" else
                     "XMRig/6.21.3 (Windows NT 10.0; Win64; x64) libuv/1.48.0 msvc/2019")
            login = jc({"id": 1, "jsonrpc": "2.0", "method": "login",
                        "params": {"login": w, "pass": "x", "agent": agent,
                                   "algo": _XMRIG_ALGOS}})
            ext = ["algo", "nicehash", "connect", "tls", "keepalive"]
        elif self.flavor == "xmrstak":
            login = ln(f'{{"method":"login","params":{{"login":"{w}","pass":"x","rigid":"",'
                       '"agent":"xmr-stak-rx/1.0.5-rx/65ade74/master/win/cpu/monero/0"},"id":1}')
            ext = ["backend", "hashcount"]
        else:
            login = jc({"id": 1, "method": "login", "params": {"login": w, "pass": "x"}})
            ext = None
        result: dict[str, object] = {"id": self.rpc_id, "job": self._job(ts)}
        if ext is not None:
            result["extensions"] = ext
        result["status"] = "OK"
        return [("c", login),
                ("s", jc({"id": 1, "jsonrpc": "2.0", "error": None, "result": result}))]

    def job(self, ts: int) -> bytes:
        return jc({"jsonrpc": "2.0", "method": "job", "params": self._job(ts)})

    def job_gap(self) -> int:
        return int(self.rng.uniform(30, 150) * S)

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        nonce = self.hex(4)
        result = self.hex(28) + f"{self.rng.getrandbits(24):08x}"
        if self.flavor == "xmrstak":
            msg = ln(f'{{"method":"submit","params":{{"id":"{self.rpc_id}","job_id":'
                     f'"{self.job_id}","nonce":"{nonce}","result":"{result}","backend":"cpu"}},'
                     '"id":1}')
            ident = 1
        else:
            self.seq += 1
            ident = self.seq
            params: dict[str, object] = {"id": self.rpc_id, "job_id": self.job_id,
                                         "nonce": nonce, "result": result}
            if self.flavor != "proxy":
                params["algo"] = "rx/0"
                msg = jc({"id": ident, "jsonrpc": "2.0", "method": "submit", "params": params})
            else:
                msg = jc({"id": ident, "method": "submit", "params": params})
        return msg, jc({"id": ident, "jsonrpc": "2.0", "error": None,
                        "result": {"status": "OK"}})

    def keepalive(self) -> tuple[bytes, bytes] | None:
        if not self.keepalive_on:
            return None
        self.seq += 1
        return (jc({"id": self.seq, "jsonrpc": "2.0", "method": "keepalived",
                    "params": {"id": self.rpc_id}}),
                jc({"id": self.seq, "jsonrpc": "2.0", "error": None,
                    "result": {"status": "KEEPALIVED"}}))


# --- ETH proxy (getwork over TCP) ------------------------------------------------------------

class EthProxy(Session):
    dialect = "eth-proxy"
    FLAVORS = ("claymore", "phoenix")

    def __init__(self, rng, wallet: str, flavor: str) -> None:
        super().__init__(rng, wallet)
        self.flavor = flavor
        self.poll_every = int(rng.choice((5, 10)) * S)
        self.header = self.hex(32)
        self.seed = self.hex(32)
        self.target = "0x00000000" + self.hex(28)
        self.rate = rng.randint(0x1D00000, 0x8FFFFFF)
        self.rid = "0x" + self.hex(32)

    def _work(self, ident: int | None) -> bytes:
        return jc({"id": ident, "jsonrpc": "2.0",
                   "result": ["0x" + self.header, "0x" + self.seed, self.target]})

    def hello(self, ts: int) -> list[tuple[str, bytes]]:
        if self.flavor == "claymore":
            login = ln(f'{{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["{self.wallet}.rig7",'
                       ' "x"], "id": 2, "method": "eth_submitLogin"}')
            ident = 2
        else:
            login = ln(f'{{"id":1,"jsonrpc":"2.0","method":"eth_submitLogin","worker":"rig2",'
                       f'"params":["{self.wallet}","x"]}}')
            ident = 1
        return [("c", login), ("s", jc({"id": ident, "jsonrpc": "2.0", "result": True}))]

    def poll(self, ts: int) -> tuple[bytes, bytes]:
        if self.flavor == "claymore":
            return (ln('{"worker": "", "jsonrpc": "2.0", "params": [], "id": 3, '
                       '"method": "eth_getWork"}'), self._work(0))
        return (ln('{"id":5,"jsonrpc":"2.0","method":"eth_getWork","worker":"rig2",'
                   '"params":[]}'), self._work(5))

    def job(self, ts: int) -> bytes:
        self.header = self.hex(32)
        return self._work(0)

    def job_gap(self) -> int:
        return int(self.rng.uniform(8, 25) * S)

    def submit(self, ts: int) -> tuple[bytes, bytes]:
        if self.rng.random() < 0.6:  # the hashrate report is this dialect's other upload
            msg = ln(f'{{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":'
                     f'["0x{self.rate + self.rng.randint(0, 0xFFFF):x}", "{self.rid}"]}}')
            return msg, jc({"id": 6, "jsonrpc": "2.0", "result": True})
        msg = ln(f'{{"id":4,"jsonrpc":"2.0","method":"eth_submitWork","params":["0x{self.hex(8)}",'
                 f'"0x{self.header}","0x{self.hex(32)}"]}}')
        return msg, jc({"id": 4, "jsonrpc": "2.0", "result": True})

    def submit_gap(self) -> int:
        return int(self.rng.uniform(15, 40) * S)


# --- miners --------------------------------------------------------------------------------

#: dialect -> (weight, ports the pools of that dialect listen on)
DIALECTS = {
    "stratum-v1": (0.32, (3333, 3333, 4444, 25, 80, 443, 8080, 1314)),
    "cryptonote": (0.38, (3333, 4444, 5555, 7777, 9000, 10128, 14444, 45700, 80, 443)),
    "ethereum-stratum": (0.15, (4444, 14444, 5555, 2020, 8008)),
    "eth-proxy": (0.15, (8008, 9999, 4444, 25)),
}


class Miner:
    """A LAN host mining to one pool over 1-3 consecutive connections."""

    def __init__(self, ctx: Context, rng, ip: str, label: str, midsession: bool) -> None:
        self.ctx, self.rng, self.ip = ctx, rng, ip
        names = list(DIALECTS)
        self.dialect = rng.choices(names, weights=[DIALECTS[n][0] for n in names])[0]
        self.port = rng.choice(DIALECTS[self.dialect][1])
        h = HexStream(f"bench-miner:{label}")
        if self.dialect == "stratum-v1":
            self.flavor = rng.choice(StratumV1.FLAVORS)
            hrp = "ltc" if self.flavor == "cpuminer" else "bc"
            self.wallet = segwit_address(hrp, h.bytes(20))
        elif self.dialect == "cryptonote":
            self.flavor = rng.choice(CryptoNote.FLAVORS)
            self.wallet = monero_address(h)
        elif self.dialect == "ethereum-stratum":
            self.flavor = "nicehash"
            self.wallet = eth_address(h)
        else:
            self.flavor = rng.choice(EthProxy.FLAVORS)
            self.wallet = eth_address(h)
        self.pool_name: str | None = None
        if rng.random() < 0.4:
            self.pool_name, self.pool_ip = rng.choice(POOL_NAMES)
        else:
            self.pool_ip = rng.choice(POOL_IPS)
        self.windows = self.flavor in ("xmrig-win", "xmrstak", "claymore", "phoenix")
        self.nflows = 1 + sum(rng.random() < p for p in (0.6, 0.45, 0.3, 0.2))
        self.midsession = midsession

    def session(self) -> Session:
        rng = self.rng
        if self.dialect == "stratum-v1":
            return StratumV1(rng, self.wallet, self.flavor)
        if self.dialect == "cryptonote":
            return CryptoNote(rng, self.wallet, self.flavor)
        if self.dialect == "ethereum-stratum":
            return EthStratum(rng, self.wallet)
        return EthProxy(rng, self.wallet, self.flavor)

    def run(self, start: int, horizon: int) -> Iterator[Packet]:
        rng = self.rng
        t = start
        if self.pool_name is not None and not self.midsession:
            for ts, rec in resolve(self.ctx, rng, self.ip, self.pool_name, self.pool_ip, t):
                yield ts, rec, None
            t += 80_000
        for k in range(self.nflows):
            last = k == self.nflows - 1
            end = horizon if last else t + rng.randint(40, 300) * S
            mark = (self.ip, k, self.dialect, self.midsession and k == 0)
            t = yield from self._flow(t, end, last, mark, self.midsession and k == 0)
            t += rng.randint(3, 30) * S

    def _flow(self, t: int, end: int, last: bool, mark: tuple,
              midsession: bool) -> Iterator[Packet]:
        rng = self.rng
        conn = Tcp(rng, self.ip, rng.randint(32768, 60999), self.pool_ip, self.port,
                   client_ttl=128 if self.windows else 64, server_ttl=rng.choice((49, 52, 54)))
        c, s = conn.c, conn.s
        rtt = rng.randint(15_000, 160_000)
        sess = self.session()
        pending = [mark]

        def tag() -> tuple | None:
            return pending.pop() if pending else None

        if not midsession:
            for ts, rec in conn.handshake(t, rtt):
                yield ts, rec, None
            t += rtt + 300
            for who, data in sess.hello(t):
                if who == "c":
                    for ts, rec in conn.send(t, c, data):
                        yield ts, rec, tag()
                    t += rtt + rng.randint(300, 4_000)
                else:
                    for ts, rec in conn.send(t, s, data):
                        yield ts, rec, None
                    t += rng.randint(200, 3_000)
            t += 40_000
            yield t, conn.seg(t, c, ACK), None
        last_rx = t
        nxt_job = t + (rng.randint(1, 20) * S if midsession else sess.job_gap())
        nxt_sub = t + sess.submit_gap()
        poll = sess.poll_every
        nxt_poll = t + (poll if poll else end)
        while True:
            keep = last_rx + 60 * S if getattr(sess, "keepalive_on", False) else end
            te = min(nxt_job, nxt_sub, nxt_poll, keep)
            if te >= end:
                break
            if te == nxt_job:
                for ts, rec in conn.send(te, s, sess.job(te)):
                    yield ts, rec, tag()
                t = te + 40_000
                yield t, conn.seg(t, c, ACK), None
                last_rx = te
                nxt_job = te + sess.job_gap()
            else:
                if te == nxt_sub:
                    up, answer = sess.submit(te)
                    nxt_sub = te + sess.submit_gap()
                elif te == nxt_poll:
                    up, answer = sess.poll(te)
                    nxt_poll = te + (poll or 0) + rng.randint(0, 3_000)
                else:
                    up, answer = sess.keepalive() or (b"", b"")
                for ts, rec in conn.send(te, c, up):
                    yield ts, rec, tag()
                ta = te + rtt + rng.randint(500, 3_000)
                for ts, rec in conn.send(ta, s, answer):
                    yield ts, rec, None
                t = ta + 40_000
                yield t, conn.seg(t, c, ACK), None
                last_rx = ta
            floor = t + 1_000
            nxt_job, nxt_sub = max(nxt_job, floor), max(nxt_sub, floor)
            nxt_poll = max(nxt_poll, floor)
        if last:
            return end
        r = rng.random()
        if r < 0.5:  # the pool drops the connection (restart, idle kick)
            recs = conn.close(end, s, rtt)
        elif r < 0.85:
            recs = conn.close(end, c, rtt)
        else:
            recs = [(end, conn.seg(end, c, RA))]
        for ts, rec in recs:
            yield ts, rec, None
        return recs[-1][0]

