"""Record a Stratum miner talking to a pool inside a real tunnel, as a sensor on the outer
link sees it (the fixtures of pcaps/recorded/, see its manifest).

    sudo python -m tools.tunnel_capture KIND OUT.pcap [--via auto|kernel|ovs] [--jobs N]

KIND: ``vxlan`` (VNI 4242), ``erspan`` (type II, session 7), ``erspan3`` (type III, session
9), ``geneve`` (VNI 77) or ``gre`` (Ethernet over GRE, key 5). Two network namespaces - the
miner (10.43.0.10) and the pool (10.43.0.20) - talk over the tunnel; a small Stratum v1
exchange runs across it (``mining.subscribe``, ``mining.authorize``, the pool's
``mining.set_difficulty`` and ``mining.notify`` jobs, the miner's ``mining.submit`` per job,
all in Python sockets: ``--role`` below); ``tcpdump -w`` records the outer traffic.

Two ways to make the tunnel, both real implementations written by others:

* ``kernel``: Linux tunnel devices at both ends (``ip link add ... type vxlan``, ``erspan``,
  ``geneve``, ``gretap``) over a veth pair between the namespaces; tcpdump on the miner's
  end of the veth records both directions of the tunnel.
* ``ovs``: Open vSwitch's userspace datapath (``datapath_type=netdev``, no kernel module):
  the miner's and the pool's veths on one bridge whose traffic is mirrored (``select-all``)
  into a tunnel port towards a collector namespace, where tcpdump records it - what an
  ERSPAN session from a switch to a sensor is. The collector has no address: its kernel
  never answers the tunnel (no ICMP unreachable in the capture); OVS is told its MAC.

``auto`` takes the kernel when it has the device type, else OVS (the fixtures' machine: a
kernel with VXLAN but without CONFIG_NET_IPGRE or CONFIG_GENEVE, so VXLAN was recorded with
the kernel and the others with Open vSwitch 3.1; the kernel path for them did not run
there). Needs root, iproute2, tcpdump, and openvswitch-switch and ethtool for ``ovs``. IPv6
is off in the namespaces (no router solicitations in the fixtures); ARP stays.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

MINER, POOL, PORT = "10.43.0.10", "10.43.0.20", 3333
UNDER_A, UNDER_B = "192.0.2.1", "192.0.2.2"  # kernel underlay (TEST-NET-1)
SWITCH, COLLECTOR = "172.31.9.1", "172.31.9.2"  # OVS underlay
KINDS = {  # kind: (kernel `ip link add ... type` arguments, OVS interface options)
    "vxlan": ("vxlan id 4242 dstport 4789", "type=vxlan options:key=4242"),
    "erspan": ("erspan seq key 7 erspan_ver 1 erspan 7",
               "type=erspan options:key=7 options:erspan_ver=1 options:erspan_idx=3"),
    "erspan3": ("erspan seq key 9 erspan_ver 2 erspan_dir ingress erspan_hwid 4",
                "type=erspan options:key=9 options:erspan_ver=2 options:erspan_dir=0 "
                "options:erspan_hwid=4"),
    "geneve": ("geneve id 77", "type=geneve options:key=77"),
    "gre": ("gretap key 5", "type=gre options:key=5"),
}  # fmt: skip
WALLET = "bc1qminewatchtunnelfixture0000000000000000"


def run(*cmd: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command (in network namespace ``ns``), its output captured."""
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    return subprocess.run(full, check=check, capture_output=True, text=True)


def sh(line: str, ns: str | None = None, env: dict | None = None) -> None:
    """Run a command line, split on spaces (no shell)."""
    full = (["ip", "netns", "exec", ns] if ns else []) + line.split()
    subprocess.run(full, check=True, capture_output=True, text=True, env=env)


def kernel_has(kind: str) -> bool:
    """Whether this kernel makes the tunnel device ``kind`` (probed in a throwaway netns)."""
    ns = f"mwprobe{os.getpid()}"
    sh(f"ip netns add {ns}")
    try:
        args = KINDS[kind][0].split()
        extra = ["local", "127.0.0.1", "remote", "127.0.0.2"] if args[0] != "vxlan" else []
        probe = ["ip", "link", "add", "t0", "type", *args, *extra]
        return run(*probe, ns=ns, check=False).returncode == 0
    finally:
        sh(f"ip netns del {ns}")


class Lab:
    """Network namespaces (and OVS daemons) that are torn down on exit."""

    def __init__(self, stack: ExitStack) -> None:
        self.tag = f"mwt{os.getpid() % 100000}"
        self.stack = stack
        self.daemons: list[Path] = []  # pid files of the daemons started

    def ns(self, role: str) -> str:
        name = f"{self.tag}{role}"
        sh(f"ip netns add {name}")
        self.stack.callback(run, "ip", "netns", "del", name, check=False)
        for knob in ("all", "default"):
            sh(f"sysctl -qw net.ipv6.conf.{knob}.disable_ipv6=1", ns=name)
        sh("ip link set lo up", ns=name)
        return name

    def veth(self, a: str, a_ns: str, b: str, b_ns: str) -> None:
        sh(f"ip link add {a} netns {a_ns} type veth peer name {b} netns {b_ns}")
        sh(f"ip link set {a} up", ns=a_ns)
        sh(f"ip link set {b} up", ns=b_ns)


def kernel_tunnel(lab: Lab, kind: str) -> tuple[str, str, str, str]:
    """Tunnel devices at both ends of a veth: (miner ns, pool ns, capture ns, interface)."""
    a, b = lab.ns("m"), lab.ns("p")
    lab.veth("ua", a, "ub", b)
    sh(f"ip addr add {UNDER_A}/24 dev ua", ns=a)
    sh(f"ip addr add {UNDER_B}/24 dev ub", ns=b)
    args = KINDS[kind][0]
    for ns, local, remote, inner, dev in ((a, UNDER_A, UNDER_B, MINER, "ua"),
                                          (b, UNDER_B, UNDER_A, POOL, "ub")):  # fmt: skip
        where = f"local {local} remote {remote}" + (f" dev {dev}" if kind == "vxlan" else "")
        if kind == "geneve":
            where = f"remote {remote}"
        sh(f"ip link add tun0 type {args} {where}", ns=ns)
        sh(f"ip addr add {inner}/24 dev tun0", ns=ns)
        sh("ip link set tun0 up", ns=ns)
    return a, b, a, "ua"


def ovs_tunnel(lab: Lab, kind: str) -> tuple[str, str, str, str]:
    """Open vSwitch (userspace datapath) bridging the miner and the pool, mirroring their
    traffic into a ``kind`` tunnel port towards the collector: (miner ns, pool ns, capture
    ns, interface)."""
    for tool in (
        "ovsdb-tool",
        "ovsdb-server",
        "ovs-vswitchd",
        "ovs-vsctl",
        "ovs-appctl",
        "ethtool",
    ):
        if shutil.which(tool) is None:
            sys.exit(f"tunnel_capture: {tool} missing (apt-get install openvswitch-switch ethtool)")
    m, p, c, sw = lab.ns("m"), lab.ns("p"), lab.ns("c"), lab.ns("s")
    lab.veth("m0", m, "swm", sw)
    lab.veth("p0", p, "swp", sw)
    lab.veth("c0", c, "swc", sw)
    sh(f"ip addr add {MINER}/24 dev m0", ns=m)
    sh(f"ip addr add {POOL}/24 dev p0", ns=p)
    # The userspace datapath forwards frames as read from the veths: checksums left to the
    # NIC (offload) would stay unfilled, and the pool would drop the miner's SYN.
    sh("ethtool -K m0 tx off", ns=m)
    sh("ethtool -K p0 tx off", ns=p)
    rundir = Path(tempfile.mkdtemp(prefix="mwt-ovs-"))
    lab.stack.callback(shutil.rmtree, rundir, True)
    env = dict(os.environ, OVS_RUNDIR=str(rundir), OVS_LOGDIR=str(rundir),
               OVS_DBDIR=str(rundir), OVS_SYSCONFDIR=str(rundir))  # fmt: skip
    sh(f"ovsdb-tool create {rundir}/conf.db /usr/share/openvswitch/vswitch.ovsschema", env=env)
    sh(f"ovsdb-server --remote=punix:{rundir}/db.sock --pidfile --detach --log-file "
       f"{rundir}/conf.db", ns=sw, env=env)  # fmt: skip
    lab.stack.callback(_stop, rundir / "ovsdb-server.pid")
    sh("ovs-vsctl --no-wait init", env=env)
    sh("ovs-vswitchd --pidfile --detach --log-file", ns=sw, env=env)
    lab.stack.callback(_stop, rundir / "ovs-vswitchd.pid")

    def vsctl(line: str) -> None:
        sh(f"ovs-vsctl {line}", env=env)

    vsctl("add-br br0 -- set bridge br0 datapath_type=netdev")
    vsctl("add-port br0 swm -- add-port br0 swp")
    vsctl("add-br brphy -- set bridge brphy datapath_type=netdev")
    vsctl("add-port brphy swc")
    sh(f"ip addr add {SWITCH}/24 dev brphy", ns=sw)
    sh("ip link set brphy up", ns=sw)
    sh("ip link set br0 up", ns=sw)
    vsctl(f"add-port br0 tun0 -- set interface tun0 {KINDS[kind][1]} "
          f"options:remote_ip={COLLECTOR}")  # fmt: skip
    subprocess.run(["ovs-vsctl", "--", "--id=@p", "get", "port", "tun0", "--", "--id=@m",
                    "create", "mirror", "name=m0", "select-all=true", "output-port=@p", "--",
                    "set", "bridge", "br0", "mirrors=@m"], check=True, capture_output=True,
                   env=env)  # fmt: skip
    mac = run("cat", "/sys/class/net/c0/address", ns=c).stdout.strip()
    sh(f"ovs-appctl ovs/route/add {COLLECTOR}/24 brphy", env=env)
    sh(f"ovs-appctl tnl/neigh/set brphy {COLLECTOR} {mac}", env=env)
    return m, p, c, "c0"


def _stop(pidfile: Path) -> None:
    """End a daemon this script started, by the pid it wrote."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def _role(ns: str, role: str, jobs: int) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--role", role,
         "--jobs", str(jobs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def record(kind: str, out: Path, via: str, jobs: int) -> None:
    if via == "auto":
        via = "kernel" if kernel_has(kind) else "ovs"
    with ExitStack() as stack:
        lab = Lab(stack)
        miner_ns, pool_ns, cap_ns, iface = (kernel_tunnel if via == "kernel" else ovs_tunnel)(
            lab, kind
        )
        pool = _role(pool_ns, "pool", jobs)
        stack.callback(pool.kill)
        assert pool.stdout is not None
        if pool.stdout.readline().strip() != "ready":
            sys.exit(f"tunnel_capture: pool did not start: {pool.stderr and pool.stderr.read()}")
        out.parent.mkdir(parents=True, exist_ok=True)
        dump = subprocess.Popen(
            ["ip", "netns", "exec", cap_ns, "tcpdump", "-i", iface, "-w", str(out), "-U", "-n",
             "-s", "0", "-Z", "root"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        stack.callback(dump.kill)
        assert dump.stderr is not None
        while "listening on" not in dump.stderr.readline():
            if dump.poll() is not None:
                sys.exit("tunnel_capture: tcpdump did not start")
        time.sleep(0.5)
        miner = _role(miner_ns, "miner", jobs)
        mout, merr = miner.communicate(timeout=120)
        pool.wait(timeout=30)
        time.sleep(1.0)
        dump.send_signal(signal.SIGINT)
        dump.wait(timeout=30)
        if miner.returncode != 0:
            sys.exit(f"tunnel_capture: the miner failed: {merr}")
        print(f"{out}: {kind} via {via}; {mout.strip()}")


# -- the two ends of the Stratum exchange (run inside the namespaces) -------------------


def _send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode() + b"\n")


def pool_role(jobs: int) -> None:
    """A stub Stratum v1 pool: subscribe and authorize answered, a difficulty, then
    ``jobs`` ``mining.notify`` jobs half a second apart, each submit accepted."""
    server = socket.create_server((POOL, PORT))
    print("ready", flush=True)
    conn, _ = server.accept()
    lines = conn.makefile("rb")
    for _ in range(2):
        request = json.loads(lines.readline())
        if request["method"] == "mining.subscribe":
            result: object = [[["mining.set_difficulty", "deadbeef01"],
                               ["mining.notify", "deadbeef02"]], "08000002", 4]  # fmt: skip
        else:
            result = True
        _send(conn, {"id": request["id"], "result": result, "error": None})
    _send(conn, {"id": None, "method": "mining.set_difficulty", "params": [16]})
    for job in range(jobs):
        prev = f"{job + 1:08x}" * 8
        _send(conn, {"id": None, "method": "mining.notify", "params": [
            f"{0x4a0 + job:x}", prev, "01000000010000000000000000000000000000000000000000000000"
            "00000000000000ffffffff2003", "ffffffff0100f2052a010000001976a914", [],
            "20000000", "1705dd01", f"{1767607200 + job * 30:08x}", job == 0]})  # fmt: skip
        submit = lines.readline()
        if not submit:
            break
        _send(conn, {"id": json.loads(submit)["id"], "result": True, "error": None})
        time.sleep(0.5)
    lines.readline()  # the miner closes
    conn.close()


def miner_role(jobs: int) -> None:
    """A Stratum v1 client as cpuminer 2.5 writes it: subscribe, authorize, then one
    ``mining.submit`` per job the pool pushes."""
    sock = socket.create_connection((POOL, PORT), timeout=30)
    lines = sock.makefile("rb")
    _send(sock, {"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.1"]})
    _send(sock, {"id": 2, "method": "mining.authorize", "params": [f"{WALLET}.rig1", "x"]})
    submitted, ident = 0, 3
    while submitted < jobs:
        line = lines.readline()
        if not line:
            break
        message = json.loads(line)
        if message.get("method") == "mining.notify":
            time.sleep(0.2)
            job = message["params"][0]
            _send(sock, {"id": ident, "method": "mining.submit", "params": [
                f"{WALLET}.rig1", job, f"{ident:08x}", message["params"][7],
                f"{0x1f2e3d4c + ident:08x}"]})  # fmt: skip
            submitted += 1
            ident += 1
    lines.readline()  # the last submit's result
    sock.close()
    print(f"{submitted} jobs submitted")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", nargs="?", choices=sorted(KINDS))
    parser.add_argument("out", nargs="?", type=Path)
    parser.add_argument("--via", choices=("auto", "kernel", "ovs"), default="auto")
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--role", choices=("pool", "miner"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "pool":
        pool_role(args.jobs)
        return 0
    if args.role == "miner":
        miner_role(args.jobs)
        return 0
    if args.kind is None or args.out is None:
        parser.error("KIND and OUT are required")
    if os.geteuid() != 0:
        sys.exit("tunnel_capture: needs root (network namespaces, tcpdump)")
    record(args.kind, args.out.resolve(), args.via, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
