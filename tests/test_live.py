"""``minewatch live`` end to end with real parts: network namespaces joined by veth pairs,
real TCP between them, the sensor capturing on the pool's side as a mirror port would.

The lab (tools/realset/netns.py): a stub pool and a benign JSON-RPC-over-HTTP service in
``srv``; a Stratum miner client in ``cli``; the benign poller in ``web``; a second miner
in ``cli2``, started after logrotate moved the EVE file away. Asserts: the miner is
alerted within one job interval of its first message, the benign host never, every EVE
line validates against Suricata's schema, SIGHUP reopens the EVE file, SIGTERM ends the
sensor cleanly (exit 0) with its final health line and nothing told lost.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from detector.sinks.alertlog import Syslog
from tests.conftest import REPO, eve_errors, wait_for

# The lab's namespaces and veth names are fixed (a veth pair is made in the root namespace,
# then moved): under pytest-xdist every test that makes a lab runs in one worker, one
# after the other (``--dist loadgroup``; tests/test_systemd_unit.py is in the group too).
pytestmark = pytest.mark.xdist_group("netns-lab")

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("tcpdump") is None,
    reason="needs root, iproute2 and tcpdump (network namespaces, a capture socket)",
)

PY = sys.executable
REALSET_TOOLS = REPO / "tools" / "realset"
JOB_INTERVAL = 3.0  # the stub pool pushes a job every 2-3 s


@pytest.fixture
def lab(tmp_path: Path) -> Iterator:
    from tools.realset.netns import Lab

    lab = Lab(slot=7, net=60, workdir=tmp_path)
    try:
        for role in ("srv", "cli", "web", "cli2"):
            lab.add_ns(role)
        yield lab
    finally:
        lab.close()


def _events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _alerts_for(path: Path, ip: str) -> list[dict]:
    return [e for e in _events(path) if e.get("event_type") == "alert" and e["src_ip"] == ip]


@needs_netns
@pytest.mark.parametrize(
    "capture", ["afpacket", "tcpdump", "afpacket-2-workers", "afpacket-postgresql"]
)
def test_live_alerts_a_miner_while_it_mines_and_never_the_benign_host(
    lab, tmp_path: Path, capture: str, request: pytest.FixtureRequest
) -> None:
    """(The variants: the capture path, 2 workers, the store on a real PostgreSQL server.)"""
    capture, _, rest = capture.partition("-")
    workers = rest.split("-")[0] if rest.endswith("workers") else "1"
    if_pool, pool_ip, _, miner_ip = lab.link("srv", "cli")
    if_api, api_ip, _, web_ip = lab.link("srv", "web")
    if_pool2, pool_ip2, _, miner2_ip = lab.link("srv", "cli2")
    eve, db = tmp_path / "eve.json", tmp_path / "suspects.db"
    if rest == "postgresql":  # the sensor reaches the server's socket from its namespace
        db = request.getfixturevalue("pg_cluster").new_database()
    # AF_PACKET on the three links the mirror would carry; tcpdump's pipe on "any"
    ifaces = ["-i", if_pool, "-i", if_api, "-i", if_pool2] if capture == "afpacket" else ["-i", "any"]
    sensor_cmd = [PY, "-m", "detector", "live", *ifaces, "--capture", capture, "--workers",
                  workers, "--eve", str(eve), "--db", str(db), "--health", "1", "--model", "none",
                  "--pcap-out", str(tmp_path / "evidence"), "--pcap-out-mb", "4"]  # fmt: skip
    ready = 1 if workers == "1" else 1 + int(workers)  # the parent's line, then each worker's
    sensor_name = ",".join(ifaces[1::2])
    sensor = lab.start("sensor", "srv", sensor_cmd, nice=0)
    log = tmp_path / "sensor.log"
    assert wait_for(lambda: log.read_text().count("capturing") >= ready, 30), log.read_text()
    time.sleep(1.0)  # tcpdump's socket is open once it says so; give it a moment
    lab.start("pool", "srv", [PY, str(REALSET_TOOLS / "stubpool.py"), "--dialect", "equihash",
                              "--port", "3333", "--job-min", "2", "--job-max", str(JOB_INTERVAL)])
    lab.start("api", "srv", [PY, str(REPO / "tests" / "live_peers.py"), "server", "3334"])
    time.sleep(0.5)
    lab.start("poller", "web", [PY, str(REPO / "tests" / "live_peers.py"), "client", api_ip, "3334"])
    started = time.monotonic()
    lab.start("miner", "cli", [PY, str(REALSET_TOOLS / "stratum_client.py"), pool_ip, "3333",
                               "--mean", "2"])  # fmt: skip

    alerts = wait_for(lambda: _alerts_for(eve, miner_ip), 30)
    told_after = time.monotonic() - started
    assert alerts, log.read_text()
    assert told_after < JOB_INTERVAL + 2.0  # one job interval, plus the sensor's own wait
    (alert,) = alerts
    assert alert["dest_ip"] == pool_ip and alert["dest_port"] == 3333
    assert alert["alert"]["metadata"]["mining_dialect"] == ["stratum-v1"]
    # in the store too, while the sensor runs (WAL: a reader does not wait for it)
    assert [row["ip"] for row in _stored(db)] == [miner_ip]

    # logrotate: move the file away, SIGHUP; the next alert lands in a new file
    rotated = tmp_path / "eve.json.1"
    eve.rename(rotated)
    os.kill(sensor.pid, signal.SIGHUP)
    time.sleep(1.5)  # acted on between batches (at most MAX_WAIT apart)
    lab.start("miner2", "cli2", [PY, str(REALSET_TOOLS / "stratum_client.py"), pool_ip2, "3333",
                                 "--mean", "2"])  # fmt: skip
    assert wait_for(lambda: _alerts_for(eve, miner2_ip), 30), log.read_text()
    time.sleep(4.0)  # more jobs, shares and polls: no second alert, no benign one

    lab.stop(sensor, grace=30)
    assert sensor.returncode == 0, log.read_text()
    text = log.read_text()
    assert "stopped:" in text and ("0 dropped" if capture == "afpacket" else "dropped") in text
    assert text.count("health:") >= 3  # one line a second
    assert "Traceback" not in text
    events = _events(rotated) + _events(eve)
    alerts = [e for e in events if e.get("event_type") == "alert"]
    assert sorted(e["src_ip"] for e in alerts) == sorted([miner_ip, miner2_ip])  # once each
    assert not [e for e in events if web_ip in (e.get("src_ip"), e.get("dest_ip"))]
    assert _alerts_for(rotated, miner_ip) and not _alerts_for(rotated, miner2_ip)
    for event in events:
        assert eve_errors(event) == [], event

    # the packets of the miners' flows, from their alerts on, and nothing else
    kept = _evidence_packets(tmp_path / "evidence")
    assert len(kept) >= 4, kept
    miners = {frozenset((miner_ip, pool_ip)), frozenset((miner2_ip, pool_ip2))}
    assert {frozenset(pair) for pair in kept} <= miners
    assert {frozenset(pair) for pair in kept} == miners

    # the store outlives the sensor, and a restarted sensor merges into it
    stored = {row["ip"]: row for row in _stored(db)}
    assert set(stored) == {miner_ip, miner2_ip}
    assert all(row["flow_count"] >= 1 and row["sensor"] == sensor_name for row in stored.values())
    sensor = lab.start("sensor-again", "srv", sensor_cmd, nice=0)
    again = tmp_path / "sensor-again.log"
    assert wait_for(lambda: again.read_text().count("capturing") >= ready, 30), again.read_text()
    time.sleep(4.0)
    lab.stop(sensor, grace=30)
    assert sensor.returncode == 0, again.read_text()
    assert {row["ip"] for row in _stored(db)} == {miner_ip, miner2_ip}


def _evidence_packets(directory: Path) -> list[tuple[str, str]]:
    """(source, destination) of every packet in the evidence ring's files, read by dpkt;
    the files must also be what tcpdump reads."""
    import socket as sock

    import dpkt

    pairs = []
    files = sorted(directory.glob("minewatch-evidence-*.pcap"))
    assert files
    for path in files:
        assert subprocess.run(["tcpdump", "-r", str(path), "-n", "-q"], capture_output=True,
                              timeout=60).returncode == 0  # fmt: skip
        with path.open("rb") as fh:
            reader = dpkt.pcap.Reader(fh)
            for _, frame in reader:
                if reader.datalink() == dpkt.pcap.DLT_LINUX_SLL:
                    ip = dpkt.sll.SLL(frame).data
                elif reader.datalink() == 276:  # SLL2
                    ip = dpkt.ip.IP(frame[20:])
                else:
                    ip = dpkt.ethernet.Ethernet(frame).data
                pairs.append((sock.inet_ntoa(ip.src), sock.inet_ntoa(ip.dst)))
    return pairs


def _stored(db: Path | str) -> list[dict]:
    """The suspects a store holds, as ``minewatch suspects`` lists them."""
    result = subprocess.run([PY, "-m", "detector", "suspects", "--db", str(db), "-f", "jsonl"],
                            capture_output=True, text=True, cwd=REPO, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@needs_netns
@pytest.mark.parametrize("capture", ["afpacket", "tcpdump"])
def test_live_refuses_an_unknown_interface_in_one_line(tmp_path: Path, capture: str) -> None:
    result = subprocess.run(
        [PY, "-m", "detector", "live", "-i", "mw-no-such0", "--capture", capture,
         "--eve", str(tmp_path / "eve.json"), "--model", "none"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    errors = [ln for ln in result.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and "mw-no-such0" in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def test_syslog_alerts_are_rfc5424_messages_over_udp() -> None:
    """A real UDP collector receives one RFC 5424 message per alert, the EVE line as MSG."""
    collector = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    collector.bind(("127.0.0.1", 0))
    collector.settimeout(5)
    port = collector.getsockname()[1]
    sink = Syslog(f"udp:127.0.0.1:{port}")
    event = {"event_type": "alert", "src_ip": "10.0.0.1", "alert": {"signature": "x\u2028y"}}
    sink.event(event)
    sink.health("health: up 1 s")
    sink.close()
    alert, health = (collector.recv(65536).decode() for _ in range(2))
    collector.close()
    # <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG; daemon.warning = 28
    rfc5424 = re.compile(r"<(\d+)>1 (\S+Z) (\S+) minewatch (\d+) (\S+) - (.*)", re.S)
    m = rfc5424.fullmatch(alert)
    assert m and m.group(1) == "28" and m.group(5) == "alert", alert
    assert json.loads(m.group(6)) == event
    h = rfc5424.fullmatch(health)
    assert h and h.group(1) == "30" and h.group(5) == "health" and h.group(6) == "health: up 1 s"


@pytest.mark.parametrize("target", ["udp:nohost", "http://x:1", "tcp:h:99999"])
def test_a_bad_syslog_target_is_one_line_and_exit_2(target: str) -> None:
    result = subprocess.run(
        [PY, "-m", "detector", "live", "-i", "lo", "--syslog", target, "--model", "none"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "--syslog" in result.stderr, result.stderr


def test_the_shipped_config_file_sets_every_option_it_names(tmp_path: Path) -> None:
    """contrib/minewatch.toml is read whole: each key is an option (an unknown one would be
    an error), and its values are used - here its interface, swapped for one that does
    not exist, is what the capture fails on."""
    text = (REPO / "contrib" / "minewatch.toml").read_text()
    assert 'interface = ["eth1"]' in text
    config = tmp_path / "minewatch.toml"
    config.write_text(text.replace('["eth1"]', '["mw-cfg-none0"]').replace(
        "/var/log/minewatch/eve.json", str(tmp_path / "eve.json")).replace(
        "/var/lib/minewatch/suspects.db", str(tmp_path / "suspects.db")))
    result = subprocess.run(
        [PY, "-m", "detector", "live", "--config", str(config), "--capture", "tcpdump",
         "--model", "none"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "mw-cfg-none0" in result.stderr and "Traceback" not in result.stderr, result.stderr
    config.write_text(text + "\nno-such-setting = 1\n")
    result = subprocess.run(
        [PY, "-m", "detector", "live", "--config", str(config)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "no-such-setting" in result.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (REPO / "contrib" / "minewatch.service").read_text()
    venv_minewatch = Path(sys.executable).parent / "minewatch"
    assert "/opt/minewatch/.venv/bin/minewatch live --config" in unit
    local = tmp_path / "minewatch.service"
    local.write_text(unit.replace("/opt/minewatch/.venv/bin/minewatch", str(venv_minewatch)))
    result = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@needs_netns
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="no setpriv (util-linux)")
def test_live_without_capture_rights_says_so_in_one_line(tmp_path: Path) -> None:
    """Root without CAP_NET_RAW (dropped from the bounding set, as a container or a
    hardened unit may run it): opening the capture socket is refused."""
    result = subprocess.run(
        ["setpriv", "--bounding-set=-net_raw", PY, "-m", "detector", "live", "-i", "lo",
         "--model", "none"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "minewatch: error: capturing on lo needs root or CAP_NET_RAW"
    ], result.stderr


def test_the_evidence_ring_stays_within_its_bound_and_keeps_the_newest(tmp_path: Path) -> None:
    """4,000 packets of 1,000 bytes into a ring of 4 files of 64 KB: at most 4 files, each
    at most 64 KB, the last packets kept; a change of link type starts a new file; every
    file is a capture tcpdump (when present) and dpkt read whole."""
    import dpkt

    from detector.sinks.evidence_pcap import PcapRing

    ring = PcapRing(str(tmp_path), 64 * 1024, 4)
    for n in range(4000):
        ring.write(1_700_000_000 + n / 1000, n.to_bytes(4, "big") + bytes(996), 1000, 1)
    ring.write(1_700_000_005.0, bytes(40), 40, 101)  # raw IP: a file of its own
    ring.close()
    files = sorted(tmp_path.glob("minewatch-evidence-*.pcap"))
    assert len(files) == 4 and all(f.stat().st_size <= 64 * 1024 for f in files)
    last_ethernet = []
    for path in files:
        with path.open("rb") as fh:
            reader = dpkt.pcap.Reader(fh)
            records = [buf for _, buf in reader]
            if reader.datalink() == 1:
                last_ethernet = [int.from_bytes(buf[:4], "big") for buf in records]
            else:
                assert reader.datalink() == 101 and len(records) == 1
        if shutil.which("tcpdump"):
            assert subprocess.run(["tcpdump", "-r", str(path), "-n"], capture_output=True,
                                  timeout=60).returncode == 0  # fmt: skip
    assert last_ethernet[-1] == 3999  # the newest packets are the ones kept


@needs_netns
def test_a_flood_of_random_flows_is_evicted_and_counted_not_held(lab, tmp_path: Path) -> None:
    """20,000 UDP datagrams from random ports (a flood of 5-tuples) against a flow table
    of 256: the sensor evicts and counts, keeps running, and says so in its health line.
    Stopped the moment the flood ends, it still reads every packet the kernel received."""
    if_srv, srv_ip, _, cli_ip = lab.link("srv", "cli")
    sensor = lab.start("sensor", "srv", [PY, "-m", "detector", "live", "-i", if_srv,
                                         "--max-flows", "256", "--health", "1", "--eve",
                                         str(tmp_path / "eve.json"), "--model", "none"], nice=0)  # fmt: skip
    log = tmp_path / "sensor.log"
    assert wait_for(lambda: "capturing on" in log.read_text(), 30), log.read_text()
    flood = (
        "import socket\n"
        "for n in range(20000):\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"    s.sendto(b'x' * 32, ({srv_ip!r}, 20000 + n % 30000))\n"
        "    s.close()\n"
    )
    lab.run("cli", PY, "-c", flood)
    lab.stop(sensor, grace=30)  # at once: the last packets are still in the kernel's ring
    assert sensor.returncode == 0, log.read_text()
    last = [ln for ln in log.read_text().splitlines() if "stopped:" in ln][-1]
    packets = int(last.split(" packets")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert packets >= 20000 and "0 dropped" in last, last
    assert re.search(r"[1-9][\d,]* flows evicted", last), last
    # what the kernel received before the stop is read too (the ring is drained)
    received = int(last.split(" received")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert packets == received, last
