"""Network namespaces, veth links and processes for one capture of the validation set.

A capture gets its own namespaces, named ``mw<slot>-<role>`` (roles: ``srv`` the pool or
server, ``cli`` the miner or client, ``mid`` a proxy between them), joined by veth pairs
on private /30 links. No namespace has a default route: a program that tries to reach
anything outside (XMRig's donation pool, coin-hive-stratum's donation pool) fails at
once, and nothing leaves the machine. Every process started here is remembered and ended
by its process-group id; ``Lab.close`` removes the namespaces.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path


def sh(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


class Lab:
    """The namespaces and processes of one capture (``slot`` keeps two captures that run
    at the same time apart)."""

    def __init__(self, slot: int, net: int, workdir: Path) -> None:
        self.slot = slot
        self.net = net  # each capture its own addresses: 10.213.(4 * net + link).0/30
        self.workdir = workdir
        self.namespaces: list[str] = []
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.links = 0
        # One lab per slot at a time, across processes (two test runs, xdist workers, a
        # validation-set run): the names are the slot's, and a second lab would delete the
        # first one's namespaces (add_ns clears leftovers). Held until close().
        self._lock = open(f"/run/lock/minewatch-lab-{slot}.lock", "w")  # noqa: SIM115
        fcntl.flock(self._lock, fcntl.LOCK_EX)

    def ns(self, role: str) -> str:
        return f"mw{self.slot}-{role}"

    def add_ns(self, role: str) -> str:
        name = self.ns(role)
        sh("ip", "netns", "del", name, check=False)  # left over from a killed run
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        self.run(role, "ip", "link", "set", "lo", "up")
        # No IPv6 on the links: no router solicitations or DAD in the captures.
        self.run(role, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        self.run(role, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        return name

    def link(self, a: str, b: str) -> tuple[str, str, str, str]:
        """A veth pair between roles ``a`` and ``b``: (if_a, ip_a, if_b, ip_b). Offloads are
        turned off so that the capture holds wire-sized segments, not 64 KB GSO blobs."""
        n = self.links
        self.links += 1
        if_a, if_b = f"{a}{n}", f"{b}{n}"
        ip_a, ip_b = f"10.213.{self.net * 4 + n}.1", f"10.213.{self.net * 4 + n}.2"
        sh(
            "ip",
            "link",
            "add",
            f"mwt{self.slot}{n}a",
            "type",
            "veth",
            "peer",
            "name",
            f"mwt{self.slot}{n}b",
        )
        for tmp, role, ifname, ip in (
            (f"mwt{self.slot}{n}a", a, if_a, ip_a),
            (f"mwt{self.slot}{n}b", b, if_b, ip_b),
        ):
            sh("ip", "link", "set", tmp, "netns", self.ns(role))
            self.run(role, "ip", "link", "set", tmp, "name", ifname)
            self.run(role, "ip", "addr", "add", f"{ip}/30", "dev", ifname)
            self.run(role, "ip", "link", "set", ifname, "up")
            self.run(
                role, "ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off", check=False
            )
        return if_a, ip_a, if_b, ip_b

    def route(self, role: str, dest: str, via: str) -> None:
        self.run(role, "ip", "route", "add", dest, "via", via)

    def run(self, role: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.ns(role), *cmd, check=check)

    def start(
        self,
        name: str,
        role: str,
        cmd: list[str],
        *,
        nice: int = 10,
        env: dict | None = None,
        stdin=subprocess.DEVNULL,
    ) -> subprocess.Popen:
        """Start ``cmd`` in the namespace of ``role`` at low priority, in its own process
        group; its output goes to ``<workdir>/<name>.log``."""
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - lives with the process
        full = ["ip", "netns", "exec", self.ns(role), "nice", "-n", str(nice), *cmd]
        proc = subprocess.Popen(
            full,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=stdin,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
        self.procs.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def close(self) -> None:
        """Stop every process (clients first: the reverse of their start) and remove the
        namespaces."""
        for _name, proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()
        time.sleep(0.2)
        for name in reversed(self.namespaces):
            # A namespace with a process still inside cannot be emptied; kill what is left.
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", name, check=False)
        self.namespaces.clear()
        self._lock.close()  # releases the slot
