"""scan --dask: captures spread over a Dask cluster give exactly the serial scan's alerts
and counts; workers load and check the scan's data themselves; results travel as JSON;
a cluster that cannot be used is one line and exit 2 (detector/cluster.py)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import LocalCluster

from detector import cluster, plain
from detector.config import Detector, ScanConfig
from detector.errors import InputError
from detector.replay import scan_chain
from detector.session import CaptureScan
from detector.source import expand_inputs
from tests.conftest import CORPUS, PCAPS, REPO, needs_corpus, needs_tool, run_cli

MINER = PCAPS / "realset" / "xmrig-rx0-3333.pcap"
USER_RULE = ("rules:\n  - id: 9100001\n    name: user rule\n    weight: 0.1\n"
             "    match:\n      field: agent\n      regex: '^nobody$'\n")


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A cluster of two worker processes for the module (one start: a few seconds), used
    through its scheduler's address as a remote cluster would be. Its workers run in
    another directory than the client (the CLI runs in the repository), as on another
    host: relative paths must reach them as the client meant them."""
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("workers"))
    try:
        local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address="127.0.0.1:0",
                             silence_logs=logging.ERROR)
    finally:
        os.chdir(here)
    with local:
        yield local.scheduler_address


def _timeless(err: str) -> str:
    """stderr without the run's duration and speed."""
    return re.sub(r" in [\d.]+ s \([\d,]+ packets/s\)", "", err)


@needs_corpus()
def test_cluster_scan_equals_serial_scan(scheduler: str) -> None:
    """The fixtures and the corpus's miner, node and hard-negative captures, named
    relative to the client's directory."""
    paths = ["pcaps", os.path.relpath(CORPUS / "ndpi", REPO), os.path.relpath(CORPUS / "zeek", REPO)]
    serial = run_cli("scan", "-f", "jsonl", "-j", "1", *paths)
    spread = run_cli("scan", "-f", "jsonl", "--dask", scheduler, *paths)
    assert serial.rc == 0, serial.err
    assert spread.rc == 0, spread.err
    assert spread.out == serial.out  # every EVE line, in the same order
    assert _timeless(spread.err) == _timeless(serial.err)  # packets, flows, suspects...
    alerts = serial.events()
    assert len(alerts) > 30
    # the corpus's miners are among them (ndpi/mining.pcapng, zeek/)
    assert {"147.229.13.222", "192.168.2.92", "10.0.2.15"} <= {a["src_ip"] for a in alerts}


@needs_tool("editcap")
def test_embedded_local_cluster_scans_a_rotated_capture_as_one(tmp_path: Path) -> None:
    """--dask local starts its own cluster; a rotated capture is one task, one flow."""
    subprocess.run(["editcap", "-c", "20", str(MINER), str(tmp_path / "xmrig.pcap")],
                   check=True, capture_output=True)
    other = str(PCAPS / "cryptonote-xmrig.pcap")
    serial = run_cli("scan", "-f", "jsonl", "-j", "1", str(tmp_path), other)
    local = run_cli("scan", "-f", "jsonl", "--dask", "local", "--workers", "1",
                    str(tmp_path), other)
    assert local.rc == 0, local.err
    assert local.out == serial.out
    assert "3 rotated files read on" in local.err
    assert _timeless(local.err) == _timeless(serial.err)
    flows = [a["alert"]["metadata"]["mining_flow_count"] for a in local.events()]
    assert ["1"] in flows


def test_a_worker_opens_the_mapped_path(scheduler: str, tmp_path: Path) -> None:
    """--dask-path-map: the client lists here/, the workers read there/ (a different
    capture under the same name, so the alerts show which one was read); reports name the
    client's path; extra rules are found through the map too."""
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    shutil.copy(PCAPS / "neg-mail-starttls.pcap", here / "x.pcap")
    shutil.copy(MINER, there / "x.pcap")
    for folder in (here, there):
        (folder / "user.yaml").write_text(USER_RULE)
    mapped = run_cli("scan", "-f", "jsonl", "--dask", scheduler, "--rules",
                     str(here / "user.yaml"), "--dask-path-map", f"{here}={there}",
                     str(here / "x.pcap"))
    assert mapped.rc == 0, mapped.err
    read_there = run_cli("scan", "-f", "jsonl", str(there / "x.pcap"))
    assert mapped.out == read_there.out and len(mapped.events()) == 1


def test_a_worker_with_other_data_files_is_refused(scheduler: str, tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    (here / "user.yaml").write_text(USER_RULE)
    (there / "user.yaml").write_text(USER_RULE.replace("0.1", "0.2"))
    run = run_cli("scan", "--dask", scheduler, "--rules", str(here / "user.yaml"),
                  "--dask-path-map", f"{here}={there}", str(MINER))
    assert run.rc == 2
    [line] = run.err.splitlines()
    assert line.startswith("minewatch: error: dask worker tcp://")
    assert "differ from the client's" in line
    # a worker that does not see the captures: one line at start-up, before any task
    job = cluster.make_job(ScanConfig(model=None), [(str(PCAPS), str(tmp_path / "nowhere"))])
    assert cluster.prepare(plain.dumps(job), str(MINER)) == (
        f"{tmp_path / 'nowhere' / 'realset' / MINER.name}: no such file here; every worker "
        "must see the captures at the client's path (shared storage) or --dask-path-map's")


def test_an_unusable_scheduler_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "0.3s")
    run = run_cli("scan", "--dask", "tcp://127.0.0.1:1", str(MINER))  # nobody listens
    assert run.rc == 2
    assert run.err.splitlines() == [
        "minewatch: error: dask scheduler tcp://127.0.0.1:1: cannot connect "
        "(Timed out trying to connect to tcp://127.0.0.1:1 after 0.3 s)"]
    bad = r"^dask scheduler nonsense://x: cannot connect \(unknown address scheme 'nonsense'"
    with pytest.raises(InputError, match=bad), cluster._client(cluster.DaskSpec("nonsense://x")):
        pass


def test_without_dask_the_cli_says_what_to_install() -> None:
    code = ("import sys; sys.modules['distributed'] = None; from detector.cli import main; "
            f"sys.argv = ['minewatch', 'scan', '--dask', 'local', {str(MINER)!r}]; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"minewatch: error: --dask needs dask.distributed: {cluster.INSTALL}"]


def test_a_task_returns_json_bytes_that_decode_to_the_capture_scans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What crosses the network back is plain JSON (never a pickle), and it decodes to the
    scans a local run gives; a worker loads the scan's data once, not per capture."""
    loads: list[ScanConfig] = []
    real_load = Detector.load

    def counted(config: ScanConfig) -> Detector:
        loads.append(config)
        return real_load(config)

    monkeypatch.setattr(cluster.Detector, "load", staticmethod(counted))
    config = ScanConfig(model=None, window=1800.0)  # a job of its own in this process
    chain = expand_inputs([str(MINER)])
    job = plain.dumps(cluster.make_job(config, []))
    assert cluster.prepare(job, str(MINER)) == ""
    data = cluster.scan_task(plain.dumps(chain), job)
    again = cluster.scan_task(plain.dumps(chain), job)
    assert json.loads(again)["scans"][0]["report"] == json.loads(data)["scans"][0]["report"]
    assert len(loads) == 1
    assert isinstance(data, bytes) and data.startswith(b'{"scans":[')
    json.loads(data)  # strict JSON
    decoded = cluster._decode(data, chain)
    local = scan_chain(chain, config, real_load(config))
    assert all(isinstance(s, CaptureScan) for s in decoded)
    assert [s.report for s in decoded] == [s.report for s in local]
    assert [sorted(s.ip for s in d.suspects.stream()) for d in decoded] == [["10.213.0.2"]]
    broken = cluster.scan_task(plain.dumps(chain), job.replace('"version":"', '"version":"0'))
    assert json.loads(broken) == {"error": json.loads(broken)["error"]}
    assert "the client 0" in json.loads(broken)["error"]
