"""Chia captures of the validation set: chia-blockchain's own full node, farmer and
harvester (PyPI, pinned by chia_setup.sh) in network namespaces, offline.

Five captures, each on its own veth link in lab slot 13 (docs/ARCHITECTURE.md §3 "Chia"
says what minewatch reads of them):

* ``chia-farm-harvester-8447`` (a farm): namespace ``srv`` runs a full node and the
  farmer, ``cli`` the harvester with a k=18 plot (chia_plot.py) of the farmer's keys, a
  remote harvester set up the documented way (``chia init -c`` with the farmer's private
  CA; ``farmer_peers`` the farmer's address). The harvester dials the farmer's port 8447
  across the veth: mutual TLS with certificates of the farm's private CA, then
  WebSocket messages. Signage points come from chia_paced_node.py (the full node with a
  clock instead of a timelord; its docstring says what is made up), every 9.375 s; the
  farmer forwards each to the harvester (``new_signage_point_harvester``), which answers
  (``farming_info``). The harvester host is the farm the capture must find.
* ``chia-node-peering-8444`` (a node, no farm): namespace ``cli`` runs a full node whose
  DNS goes to a resolver in ``srv`` (chia_dns.py) that answers the introducer and seeder
  names of chia's initial-config.yaml with the address of a second full node in ``srv``;
  the node looks them up and peers with it on 8444 (public Chia CA certificates). A node
  sighting, no suspect.

* ``chia-pool-farmer-443`` (a pool farmer): before the capture, chia's full-node
  simulator and wallet in ``cli`` make a plot NFT that joins a stub pool
  (chia_pool_stub.py, on a second address of ``srv``) and a k=18 plot for it
  (``pool_prepare``); then the farmer and harvester in ``cli`` farm it on signage points
  from a full node in ``srv`` (chia_paced_node.py) and send the pool /farmer and /partial
  over HTTPS (``pool_farm``). The farm has one address, as a host has.

* ``chia-wallet-8444`` (a wallet): chia's full-node simulator in ``srv`` farms a block
  every 10-30 s; chia's wallet in ``cli`` (a copy of its root, same keys) follows it on
  8444 (``wallet_prepare``, ``wallet_sync``).

Every chia process writes its TLS secrets to ``<work>/tls-keys.log`` (Python's ssl
honours SSLKEYLOGFILE), so ``tshark -o tls.keylog_file:...`` can show what went inside the
TLS 1.3 sessions; the key log is not committed.

    sudo CHIA_VENV=/work/chia-venv python -m tools.realset.chia_lab [--duration 330] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools.realset.netns import Lab, sh
from tools.realset.run import end_capture, made_note, make_cert, wait_listen
from tools.realset.trim import trim

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BUILD = REPO / "build" / "realset"
OUT = REPO / "pcaps" / "realset"
META = BUILD / "meta"
SNAP = 80
SLOT = 13  # the lab slot of the Chia captures (one lab per slot at a time)
CHIA_VENV = Path(os.environ.get("CHIA_VENV", str(BUILD / "chia-venv")))
CHIA = str(CHIA_VENV / "bin" / "chia")
CHIA_PY = str(CHIA_VENV / "bin" / "python")
# chia/util/initial-config.yaml ``full_node.dns_servers`` (2.7.5) and the introducer
INTRODUCER_NAMES = (
    "dns-introducer.chia.net",
    "chia.ctrlaltdel.ch",
    "seeder.dexie.space",
    "chia.hoffmang.com",
    "seeder.xchpool.org",
    "seeder.xchseeder.com",
    "introducer.chia.net",
)

_CONFIGURE = """
import json, sys
from pathlib import Path
from chia.util.config import load_config, save_config
root = Path(sys.argv[1])
config = load_config(root, "config.yaml")
for key, value in json.loads(sys.argv[2]).items():
    node = config
    *path, last = key.split(".")
    for part in path:
        node = node[part]
    node[last] = value
save_config(root, "config.yaml", config)
"""


def chia(root: Path, keys: Path, *args: str) -> str:
    env = {**os.environ, "CHIA_ROOT": str(root), "CHIA_KEYS_ROOT": str(keys)}
    done = subprocess.run([CHIA, *args], capture_output=True, text=True, env=env, check=True)
    return done.stdout


def configure(root: Path, changes: dict[str, object]) -> None:
    """Set dotted keys of a chia root's config.yaml with chia's own config code."""
    sh(CHIA_PY, "-c", _CONFIGURE, str(root), json.dumps(changes))


def chia_env(root: Path, keys: Path, work: Path) -> dict[str, str]:
    return {
        "CHIA_ROOT": str(root),
        "CHIA_KEYS_ROOT": str(keys),
        "SSLKEYLOGFILE": str(work / "tls-keys.log"),
        "PYTHONUNBUFFERED": "1",
    }


def init_root(root: Path, keys: Path, ca: Path | None = None) -> None:
    args = ["init"] + (["-c", str(ca)] if ca else [])
    chia(root, keys, *args)
    # log to stdout (the lab keeps each process's output) at INFO: signage points and
    # lookups are logged there
    configure(root, {"logging.log_stdout": True, "logging.log_level": "INFO"})


@dataclass
class ChiaScenario:
    name: str
    cls: str  # miner | benign
    port: int
    net: int  # addresses 10.213.(4 * net).0/30
    how: str
    start: Callable[[Lab, Path, dict[str, str]], dict]  # -> facts with server, client
    dialects: str = ""
    middle: bool = False  # a third namespace between srv and cli (both links captured)
    # a pool on a second address of srv (the farm, cli, has one address, as a host does),
    # and a step run before tcpdump starts: (lab, work, addresses) -> facts handed to
    # ``start`` as addresses
    pool: bool = False
    prepare: Callable[[Lab, Path, dict[str, str]], dict] | None = None


def farm(lab: Lab, work: Path, ip: dict[str, str]) -> dict:
    """Full node + farmer in srv (or the node in srv, the farmer in mid), harvester with
    one k=18 plot in cli."""
    remote_node = "mid" in ip
    farmer_ns, farmer_ip = ("mid", ip["front"]) if remote_node else ("srv", ip["srv"])
    keys = work / "keys"
    farm_root, harvester_root = work / "farm", work / "harvester"
    init_root(farm_root, keys)
    chia(farm_root, keys, "keys", "generate", "--label", "realset")
    key = json.loads(chia(farm_root, keys, "keys", "show", "--json"))["keys"][0]
    plots = work / "plots"
    sh(
        "nice", "-n", "19", CHIA_PY, str(HERE / "chia_plot.py"),
        key["farmer_pk"], key["pool_pk"], str(work / "plot-tmp"), str(plots),
    )  # fmt: skip
    configure(
        farm_root,
        {
            "full_node.dns_servers": [],  # no peers to find: the farm's node is alone
            "farmer.full_node_peers": [
                {"host": ip["srv"] if remote_node else "127.0.0.1", "port": 8444}
            ],
        },
    )
    init_root(harvester_root, keys, farm_root / "config" / "ssl" / "ca")
    configure(
        harvester_root,
        {
            "harvester.farmer_peers": [{"host": farmer_ip, "port": 8447}],
            "harvester.plot_directories": [str(plots)],
        },
    )
    env = chia_env(farm_root, keys, work)
    # the daemon serves the keychain: the farmer takes its keys from it (as `chia start
    # farmer` sets it up); it listens on localhost only
    lab.start("daemon", farmer_ns, [str(CHIA_VENV / "bin" / "chia_daemon")], env=env)
    wait_listen(lab, farmer_ns, 55400, 60)
    lab.start("full-node", "srv", [CHIA_PY, str(HERE / "chia_paced_node.py")], env=env)
    wait_listen(lab, "srv", 8444, 120)
    lab.start("farmer", farmer_ns, [str(CHIA_VENV / "bin" / "chia_farmer")], env=env)
    wait_listen(lab, farmer_ns, 8447, 120)
    lab.start(
        "harvester",
        "cli",
        [str(CHIA_VENV / "bin" / "chia_harvester")],
        env=chia_env(harvester_root, keys, work),
    )
    farm_hosts = [ip["cli"]] + ([ip["mid"]] if remote_node else [])
    servers = [f"{farmer_ip}:8447"] + ([f"{ip['srv']}:8444"] if remote_node else [])
    return {"server": ";".join(servers), "client": ";".join(farm_hosts), "plot_k": 18}


def peering(lab: Lab, work: Path, ip: dict[str, str]) -> dict:
    """Full node B and the resolver in srv; full node A in cli, its DNS pointed at srv."""
    srv = ip["srv"]
    keys = work / "keys"
    root_a, root_b = work / "node-a", work / "node-b"
    for root in (root_a, root_b):
        init_root(root, keys)
    configure(
        root_a,
        {
            "full_node.dns_servers": list(INTRODUCER_NAMES[:-1]),
            "full_node.introducer_peer.enable_private_networks": True,
            "full_node.target_outbound_peer_count": 2,
        },
    )
    configure(root_b, {"full_node.dns_servers": []})
    # `ip netns exec` mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf
    etc = Path("/etc/netns") / lab.ns("cli")
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text(f"nameserver {srv}\noptions attempts:1 timeout:2\n")
    lab.start(
        "resolver",
        "srv",
        [CHIA_PY, str(HERE / "chia_dns.py"), "--listen", srv, "--answer", srv,
         "--names", ",".join(INTRODUCER_NAMES)],
    )  # fmt: skip
    lab.start("full-node-b", "srv", [CHIA + "_full_node"], env=chia_env(root_b, keys, work))
    wait_listen(lab, "srv", 8444, 120)
    lab.start("full-node-a", "cli", [CHIA + "_full_node"], env=chia_env(root_a, keys, work))
    return {"server": f"{srv}:8444", "client": ip["cli"], "resolver": f"{srv}:53"}


POOL_NAME = "pool.realset.test"  # the stub pool's name (cli's /etc/hosts): no real pool's
# Lab network constants (network_overrides of the simulator's network, read by every
# service of the root): a k=18 plot is ~1/50,000 of mainnet's smallest (k=32), so at the
# pool protocol's lowest difficulty (1) and mainnet's DIFFICULTY_CONSTANT_FACTOR (2**67)
# it would pass the pool's threshold once in months. 2**53 and a plot filter of 1 bit (the
# value of chia's own test constants, chia/simulator/block_tools.py) make it earn a
# partial every minute or so, the rate a pool sets for a farm by its difficulty.
LAB_CONSTANTS = {"DIFFICULTY_CONSTANT_FACTOR": 2**53, "NUMBER_ZERO_BITS_PLOT_FILTER_V1": 1}


def sim_chia(work: Path, *args: str, timeout: float = 300, role: str = "cli") -> str:
    """The ``chia`` command (through chia_lab_ca.py: it trusts the lab CA) in namespace
    ``role`` (the pool scenario's farm by default), on the simulator's root."""
    env = {
        **os.environ,
        "CHIA_ROOT": str(work / "sim" / "main"),
        "CHIA_KEYS_ROOT": str(work / "keys"),
        "PATH": f"{CHIA_VENV / 'bin'}:{os.environ.get('PATH', '')}",
    }
    cmd = [CHIA_PY, str(HERE / "chia_lab_ca.py"), str(work / "cert.pem"), "chia", *args]
    done = subprocess.run(
        ["ip", "netns", "exec", f"mw{SLOT}-{role}", *cmd],
        capture_output=True, text=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    (work / "setup.log").open("a").write(f"$ chia {' '.join(args)}\n{done.stdout}{done.stderr}")
    if done.returncode:
        raise RuntimeError(f"chia {' '.join(args)}: {done.stdout[-500:]}{done.stderr[-500:]}")
    return done.stdout


def pool_prepare(lab: Lab, work: Path, ip: dict[str, str]) -> dict:
    """Before the capture: a stub pool (srv, its second address), then in cli chia's full-node
    simulator (``chia dev sim``: blocks farmed on demand, no timelord, no peers) and its
    wallet, which creates a plot NFT that joins the pool (``chia plotnft create -s pool``:
    the wallet reads the pool's /pool_info), confirmed in simulator blocks; then a k=18
    plot for the plot NFT's pool contract address. The simulator is stopped; its root
    (keys, config with the lab constants, pooling state) is the farm's."""
    cert, key = make_cert(work, ip["pool"], POOL_NAME)
    etc = Path("/etc/netns") / lab.ns("cli")
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "hosts").write_text(f"127.0.0.1 localhost\n{ip['pool']} {POOL_NAME}\n")
    lab.start(
        "pool",
        "srv",
        [CHIA_PY, str(HERE / "chia_pool_stub.py"), "--listen", ip["pool"], "--port", "443",
         "--cert", cert, "--key", key, "--stats", str(work / "pool-stats.json")],
    )  # fmt: skip
    wait_listen(lab, "srv", 443, 60)
    words = sh(CHIA_PY, "-c", "from chia.util.keychain import generate_mnemonic as g; print(g())")
    sim = ["dev", "sim", "--root-path", str(work / "sim")]
    plots = str(work / "sim" / "plots")  # chia wants them under the simulator's root
    sim_chia(work, *sim, "create", "-a", "false", "-m", words.stdout.strip(), "-p", plots,
             timeout=900)  # fmt: skip
    sim_chia(work, *sim, "start", "-w")
    time.sleep(20)  # the wallet syncs from the simulator
    sim_chia(work, *sim, "farm", "-b", "3")
    url = f"https://{POOL_NAME}"
    sim_chia(work, "plotnft", "create", "-s", "pool", "-u", url, "-y")
    contract = ""
    for _ in range(20):
        sim_chia(work, *sim, "farm", "-b", "2")
        time.sleep(3)
        shown = sim_chia(work, "plotnft", "show")
        found = re.search(r"Pool contract address.*?: (txch1\w+)", shown)
        if "Current state: FARMING_TO_POOL" in shown and found:
            contract = found.group(1)
            break
    if not contract:
        raise RuntimeError("the plot NFT never reached FARMING_TO_POOL")
    launcher = re.search(r"Launcher ID: (\w+)", shown)
    sim_chia(work, "stop", "-d", "all")
    root, keys = work / "sim" / "main", work / "keys"
    farmer_pk = json.loads(chia(root, keys, "keys", "show", "--json"))["keys"][0]["farmer_pk"]
    sh(
        "nice", "-n", "19", CHIA_PY, str(HERE / "chia_plot.py"),
        farmer_pk, f"contract:{contract}", str(work / "plot-tmp"), str(work / "plots"),
    )  # fmt: skip
    configure(
        root,
        {
            "logging.log_stdout": True,
            "full_node.port": 8444,
            "full_node.database_path": "db/lab_CHALLENGE.sqlite",  # not the simulator's chain
            "farmer.full_node_peers": [{"host": ip["srv"], "port": 8444}],
            "harvester.plot_directories": [str(work / "plots")],
            **{f"network_overrides.constants.simulator0.{k}": v for k, v in LAB_CONSTANTS.items()},
        },
    )
    return {"contract": contract, "launcher": launcher.group(1) if launcher else ""}


def pool_farm(lab: Lab, work: Path, ip: dict[str, str]) -> dict:
    """The capture: the farm (farmer and harvester, cli) farms its pool plot on signage
    points from a full node on another host (srv, chia_paced_node.py) and reports to the
    pool (srv's second address) over HTTPS: /pool_info, /farmer (GET, POST), /partial."""
    root, keys = work / "sim" / "main", work / "keys"
    env = chia_env(root, keys, work)
    lab.start("daemon", "cli", [str(CHIA_VENV / "bin" / "chia_daemon")], env=env)
    lab.start("full-node", "srv", [CHIA_PY, str(HERE / "chia_paced_node.py")], env=env)
    wait_listen(lab, "srv", 8444, 120)
    farmer = [CHIA_PY, str(HERE / "chia_lab_ca.py"), str(work / "cert.pem"), "farmer"]
    lab.start("farmer", "cli", farmer, env=env)
    wait_listen(lab, "cli", 8447, 120)
    lab.start("harvester", "cli", [str(CHIA_VENV / "bin" / "chia_harvester")], env=env)
    return {
        "server": f"{ip['srv']}:8444;{ip['pool']}:443",
        "client": ip["cli"],
        "pool_contract": ip["contract"],
        "launcher_id": ip["launcher"],
    }


def wallet_prepare(lab: Lab, work: Path, ip: dict[str, str]) -> dict:
    """Before the capture: chia's full-node simulator in srv (its own keys; blocks farmed on
    demand), listening on 8444 of every address; the wallet's host (cli) uses the same
    root and keys."""
    make_cert(work, ip["srv"])  # sim_chia's chia_lab_ca.py wants a CA file (unused here)
    words = sh(CHIA_PY, "-c", "from chia.util.keychain import generate_mnemonic as g; print(g())")
    sim = ["dev", "sim", "--root-path", str(work / "sim")]
    plots = str(work / "sim" / "plots")
    sim_chia(work, *sim, "create", "-a", "false", "-m", words.stdout.strip(), "-p", plots,
             timeout=900, role="srv")  # fmt: skip
    sim_chia(work, "stop", "-d", "all", role="srv")
    configure(
        work / "sim" / "main",
        {
            "self_hostname": "0.0.0.0",
            "full_node.port": 8444,
            "wallet.full_node_peers": [{"host": ip["srv"], "port": 8444}],
            # the lab's node is the wallet's own (same certificates): a trusted peer, as a
            # farm's wallet trusts its node - untrusted, it checks the simulator's blocks'
            # VDFs, which the simulator does not make (Err.INVALID_RC_EOS_VDF)
            "wallet.trusted_cidrs": [f"{ip['srv']}/32"],
            "logging.log_stdout": True,
        },
    )
    sim_chia(work, *sim, "start", role="srv")
    wait_listen(lab, "srv", 8444, 120)
    # the wallet's host: a copy of the root (a root's daemon lock is its own), same keys
    shutil.copytree(
        work / "sim" / "main", work / "wallet",
        ignore=shutil.ignore_patterns("db", "run", "log", "plots", "*.lock"),
    )  # fmt: skip
    return {}


def wallet_sync(lab: Lab, work: Path, ip: dict[str, str]) -> dict:
    """The capture: chia's wallet (cli) syncing from and following the simulator's node
    (srv), which farms a block every 10-30 s (a loop of ``chia dev sim farm``)."""
    keys = work / "keys"
    env = chia_env(work / "sim" / "main", keys, work)
    env["PATH"] = f"{CHIA_VENV / 'bin'}:{os.environ.get('PATH', '')}"
    loop = (
        f"while :; do sleep $(shuf -i 10-30 -n 1); "
        f"{CHIA} dev sim --root-path {work / 'sim'} farm -b 1; done"
    )
    lab.start("farming", "srv", ["sh", "-c", loop], env=env)
    wallet_env = chia_env(work / "wallet", keys, work)
    lab.start("daemon", "cli", [str(CHIA_VENV / "bin" / "chia_daemon")], env=wallet_env)
    time.sleep(5)
    lab.start("wallet", "cli", [str(CHIA_VENV / "bin" / "chia_wallet")], env=wallet_env)
    return {"server": f"{ip['srv']}:8444", "client": ip["cli"]}


SCENARIOS = [
    ChiaScenario(
        "chia-farm-harvester-8447",
        "miner",
        8447,
        50,
        "full node + farmer (srv), remote harvester with one k=18 plot (cli) dialling the "
        "farmer's 8447; signage points every 9.375 s from chia_paced_node.py (no timelord "
        "offline: the points' hashes and clock are made up, the rest is chia's)",
        farm,
        "chia-farming",
    ),
    ChiaScenario(
        "chia-farm-remote-node-8444",
        "miner",
        8444,
        53,
        "full node (srv), farmer (mid) dialling the node's 8444, remote harvester with one "
        "k=18 plot (cli) dialling the farmer's 8447; both links captured and merged; "
        "signage points every 9.375 s from chia_paced_node.py (no timelord offline: the "
        "points' hashes and clock are made up, the rest is chia's)",
        farm,
        "chia-farming",
        middle=True,
    ),
    ChiaScenario(
        "chia-pool-farmer-443",
        "miner",
        443,
        54,
        "a plot NFT made in chia's full-node simulator (chia dev sim: wallet, plotnft create "
        "-s pool -u https://pool.realset.test, blocks farmed on demand) joined our stub pool "
        "(chia_pool_stub.py, HTTPS with a lab CA the farmer trusts: chia_lab_ca.py); farmer + "
        "harvester with one k=18 pool plot (cli) dialling a full node's 8444 (srv, signage "
        "points every 9.375 s from chia_paced_node.py) and the pool's 443; lab network "
        "constants let a k=18 plot earn partials (DIFFICULTY_CONSTANT_FACTOR 2**53, plot "
        "filter 1 bit)",
        pool_farm,
        "chia-farming",
        pool=True,
        prepare=pool_prepare,
    ),
    ChiaScenario(
        "chia-wallet-8444",
        "benign",
        8444,
        55,
        "chia's wallet (cli) syncing from chia's full-node simulator (srv, chia dev sim, a "
        "block farmed every 10-30 s) on 8444; no farmer",
        wallet_sync,
        prepare=wallet_prepare,
    ),
    ChiaScenario(
        "chia-node-peering-8444",
        "benign",
        8444,
        51,
        "full node A (cli) looks up chia's introducer/seeder names at a lab resolver (srv), "
        "which answers with full node B (srv); A peers with B on 8444; no farmer",
        peering,
    ),
]


def _count(log: Path, pattern: str) -> int:
    if not log.exists():
        return 0
    return len(re.findall(pattern, log.read_text(errors="replace")))


def capture(sc: ChiaScenario, duration: float) -> dict:
    work = BUILD / "run" / sc.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    lab = Lab(SLOT, sc.net, work)
    try:
        lab.add_ns("srv")
        lab.add_ns("cli")
        if sc.middle:  # srv - mid - cli: both links captured, merged
            lab.add_ns("mid")
            srv_if, srv_ip, _, mid_ip = lab.link("srv", "mid")
            front_if, front_ip, _, cli_ip = lab.link("mid", "cli")
            taps = [("srv", srv_if), ("mid", front_if)]
            addresses = {"srv": srv_ip, "mid": mid_ip, "front": front_ip, "cli": cli_ip}
        elif sc.pool:  # srv holds the full node and, on a second address, the pool
            srv_if, srv_ip, cli_if, cli_ip = lab.link("srv", "cli")
            pool_ip = f"10.213.{sc.net * 4 + 1}.1"  # the /30 after the link's: unused
            lab.run("srv", "ip", "addr", "add", f"{pool_ip}/32", "dev", srv_if)
            lab.run("cli", "ip", "route", "add", f"{pool_ip}/32", "dev", cli_if)
            taps = [("srv", srv_if)]
            addresses = {"srv": srv_ip, "cli": cli_ip, "pool": pool_ip}
        else:
            srv_if, srv_ip, _, cli_ip = lab.link("srv", "cli")
            taps = [("srv", srv_if)]
            addresses = {"srv": srv_ip, "cli": cli_ip}
        if sc.prepare is not None:
            addresses = {**addresses, **sc.prepare(lab, work, addresses)}
        dumps = [
            lab.start(
                f"tcpdump{i}",
                role,
                ["tcpdump", "-i", ifname, "-n", "-s", "0", "-U", "-Z", "root", "-w",
                 str(work / f"tap{i}.pcap")],
                nice=0,
            )
            for i, (role, ifname) in enumerate(taps)
        ]  # fmt: skip
        time.sleep(1.5)
        t0 = time.time()
        facts = sc.start(lab, work, addresses)
        time.sleep(max(0.0, duration - (time.time() - t0)))
        raw = end_capture(lab, dumps, work, len(taps), grace=10)
        OUT.mkdir(parents=True, exist_ok=True)
        out = OUT / f"{sc.name}.pcap"
        facts.update(trim(str(raw), str(out), snap=SNAP))
        facts.update(
            name=sc.name,
            file=out.name,
            size=out.stat().st_size,
            made=time.strftime("%F"),
            chia_version=sh(CHIA, "version").stdout.strip(),
            made_by="tools/realset/chia_lab.py",
            signage_points_sent=_count(work / "full-node.log", r"signage point \d+ sent"),
            harvester_lookups=_count(work / "harvester.log", r"plots were eligible for farming"),
            dns_queries=_count(work / "resolver.log", r" A -> "),
            wallet_peaks=_count(work / "wallet.log", r"Peak set to"),
            pool_requests=_pool_counts(work / "pool-stats.json"),
        )  # fmt: skip
        META.mkdir(parents=True, exist_ok=True)
        (META / f"{sc.name}.json").write_text(json.dumps(facts, indent=1))
        return facts
    finally:
        lab.close()
        etc = Path("/etc/netns") / lab.ns("cli")
        shutil.rmtree(etc, ignore_errors=True)


def _pool_counts(path: Path) -> dict[str, int]:
    return json.loads(path.read_text()) if path.exists() else {}


def label_row(sc: ChiaScenario, m: dict) -> dict:
    miner = sc.cls == "miner"
    notes = [
        f"chia-blockchain {m.get('chia_version', '?')} (PyPI); {sc.how}; TLS 1.3 on :{sc.port}",
    ]
    if miner:
        notes.append(
            f"{m['signage_points_sent']} signage points sent, "
            f"{m['harvester_lookups']} harvester lookups logged"
        )
    if m.get("pool_requests"):
        counts = m["pool_requests"]
        notes.append("pool saw " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    elif m.get("wallet_peaks"):
        notes.append(f"{m['wallet_peaks']} new peaks taken by the wallet")
    else:
        notes.append(f"{m['dns_queries']} A queries answered by the lab resolver")
    notes.append(made_note(m, "tools/realset/chia_lab.py"))
    return {
        "file": m["file"],
        "class": sc.cls,
        "miner_ips": m["client"] if miner else "",
        "pool_endpoints": m["server"] if miner else "",
        "dialects": sc.dialects if miner else "",
        "notes": "; ".join(notes),
    }


def label_rows() -> list[dict]:
    """The rows of the Chia captures made so far (run.py's write_labels adds them)."""
    rows = []
    for sc in SCENARIOS:
        meta = META / f"{sc.name}.json"
        if meta.exists() and (OUT / json.loads(meta.read_text())["file"]).exists():
            rows.append(label_row(sc, json.loads(meta.read_text())))
    return rows


# The negative made beside them: run.py's HTTPS poller on Chia's full-node port (its
# scenario, captured in this slot on a link of its own).
NEGATIVES = {"https-requests-poll-8444": 52}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--duration", type=float, default=330)
    args = parser.parse_args()
    from tools.realset import run

    known = {sc.name for sc in SCENARIOS} | set(NEGATIVES)
    unknown = set(args.names) - known
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    for sc in SCENARIOS:
        if args.names and sc.name not in args.names:
            continue
        if not Path(CHIA).exists():
            sys.exit(f"{CHIA}: missing; run tools/realset/chia_setup.sh first")
        print(f"[{time.strftime('%T')}] {sc.name}", flush=True)
        print(f"[{time.strftime('%T')}] {sc.name}: {capture(sc, args.duration)}", flush=True)
    for name, net in NEGATIVES.items():
        if args.names and name not in args.names:
            continue
        (other,) = [sc for sc in run.SCENARIOS if sc.name == name]
        print(f"[{time.strftime('%T')}] {name}", flush=True)
        print(f"[{time.strftime('%T')}] {name}: {run.capture(other, SLOT, net, args.duration)}")
    merge_labels()


def merge_labels() -> None:
    """Put the Chia rows into labels.csv and their facts into meta.json, leaving every
    other row as it is (run.py's write_labels rebuilds the whole file from build/'s meta,
    which a checkout without the other captures' runs does not have)."""
    import csv

    from tools.realset import run

    # the rows this checkout has made again (their facts under build/): the others stay
    names = {sc.name for sc in SCENARIOS} | set(NEGATIVES)
    ours = {name for name in names if (META / f"{name}.json").exists()}
    path = OUT / "labels.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        rows = [r for r in reader if r["file"].split(".pcap")[0] not in ours]
    rows += label_rows()
    for sc in run.SCENARIOS:
        meta = META / f"{sc.name}.json"
        if sc.name in NEGATIVES and meta.exists():
            rows.append(run.label_row(sc, json.loads(meta.read_text())))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    meta_path = OUT / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    for name in [*(sc.name for sc in SCENARIOS), *NEGATIVES]:
        if (META / f"{name}.json").exists():
            meta[name] = json.loads((META / f"{name}.json").read_text())
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
