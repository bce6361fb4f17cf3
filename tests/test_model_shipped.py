"""The shipped flow model (models/minewatch.skops, built by ``make model``) against
captures no generator of ours wrote: the real-program set.

Why here: the model learnt from generated traffic only; whether that transfers to real
programs is the question. Every TLS miner of pcaps/realset must be found (by behaviour:
nothing inside TLS is readable) and every benign program must stay clean.
"""

from __future__ import annotations

import json
import random
import select
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from detector.features import FEATURE_NAMES
from detector.model import DEFAULT_MODEL, card_path, load_model
from detector.synth.benign.tls import load_templates
from detector.synth.chain import HexStream
from detector.synth.clock import at
from detector.synth.conversation import Conversation
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from detector.synth.upgrades import app_record
from tests.conftest import PCAPS, REPO, pcap_records, run_cli

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="no shipped model")
REALSET = PCAPS / "realset"


def test_the_shipped_model_verifies_and_its_card_records_it() -> None:
    model = load_model(DEFAULT_MODEL, build=True)
    assert set(model.meta.feature_names) <= set(FEATURE_NAMES)
    card = card_path(DEFAULT_MODEL).read_text(encoding="utf-8")
    assert model.meta.sha256 in card and "minewatch train" in card


def test_every_real_program_is_classified_right() -> None:
    result = run_cli("verify", str(REALSET), "--manifest", str(REALSET / "labels.csv"),
                     "--model", str(DEFAULT_MODEL), timeout=600)  # fmt: skip
    assert result.rc == 0, result.out + result.err


def test_a_tls_miner_alert_says_the_model_found_it_and_why() -> None:
    result = run_cli("scan", "-f", "jsonl", "--model", str(DEFAULT_MODEL),
                     str(REALSET / "xmrig-cnr-tls-443.pcap"))  # fmt: skip
    assert result.rc == 0, result.err
    (alert,) = result.events()
    meta = alert["alert"]["metadata"]
    assert alert["alert"]["signature_id"] == 3980001
    assert meta["mining_dialect"] == ["mining-rhythm"]
    threshold = load_model(DEFAULT_MODEL).meta.threshold
    assert float(meta["mining_model_score"][0]) >= threshold
    assert alert["tls"]  # the hello was read; the payload was not
    # without the model the same capture has no suspect: the rules cannot see inside
    bare = run_cli(
        "scan", "-f", "jsonl", "--model", "none", str(REALSET / "xmrig-cnr-tls-443.pcap")
    )
    assert bare.rc == 0 and bare.events() == []


def _scan_as_found_from_a_pipe() -> subprocess.Popen[bytes]:
    """``minewatch scan --as-found`` with the shipped model, reading a capture from stdin."""
    return subprocess.Popen(
        [sys.executable, "-m", "detector", "scan", "--as-found", "-f", "jsonl", "-q",
         "--model", str(DEFAULT_MODEL), "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip


def test_a_tls_miner_is_told_of_while_it_still_mines() -> None:
    """``scan --as-found`` on a capture arriving through a pipe: the TLS miner's alert is
    written while its one connection is still open, from the open flow (scored at the
    checkpoint of its third pushed job), before the rest of the capture has even been
    written - and the flow's end later does not alert again."""
    header, records = pcap_records(REALSET / "xmrig-rx0-tls-14433.pcap")
    start, last = records[0][0], records[-1][0]
    slices = 6  # the capture's time cut in equal slices, written one by one with a pause
    proc = _scan_as_found_from_a_pipe()
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    told_in_slice = None
    try:
        proc.stdin.write(header)
        for k in range(slices):
            upto = start + (last - start) * (k + 1) / slices
            proc.stdin.write(
                b"".join(
                    r
                    for ts, r in records
                    if ts <= upto and (k == 0 or ts > start + (last - start) * k / slices)
                )
            )
            proc.stdin.flush()
            deadline = time.monotonic() + 3.0  # the pipe reader hands over within 1 s
            while time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if ready:
                    lines.append(proc.stdout.readline().decode())
                    told_in_slice = k if told_in_slice is None else told_in_slice
                    break
            if told_in_slice is not None:
                break
        rest = [r for ts, r in records if ts > start + (last - start) * (k + 1) / slices]
        out, err = proc.communicate(b"".join(rest), timeout=120)
    finally:
        proc.kill()
    lines += out.decode().splitlines()
    alerts = [json.loads(line) for line in lines if line.strip()]
    alerts = [e for e in alerts if e.get("event_type") == "alert"]
    assert proc.returncode == 0, err
    assert told_in_slice is not None and told_in_slice < slices - 1, "no alert before the end"
    (alert,) = alerts  # told once: the ended flow does not alert again
    assert alert["src_ip"] == "10.213.8.2" and alert["alert"]["signature_id"] == 3980001
    flow_end = datetime.fromisoformat(alert["flow"]["end"]).timestamp()
    assert flow_end < last - 30  # the evidence is the flow as it stood, open


def _tls_getwork_poller(path: Path, seconds: float = 240.0) -> float:
    """cpuminer 2.5 polling getwork over HTTPS keep-alive (libcurl's hello, no SNI: an IP
    literal; no long-poll): a request every 5 s (its head and body two records, as curl
    writes them) answered with a work unit, a share now and then. Nothing is pushed, so
    only answer checkpoints can score it in progress. Returns when the TLS began (s)."""
    rng = random.Random(7)
    rb = HexStream("test-tls-getwork-poller").bytes
    tpl = {tpl.label: tpl for tpl in load_templates()}["04-curl-http11"]
    c = Conversation(("10.9.0.5", 48112), ("203.0.113.40", 9443), start=at(0), rtt=0.04)

    def when(s: float) -> int:  # after the TCP handshake
        return at(1.0 + s)

    hello, sid = tpl.client_hello(rb, None)
    c.client_send(hello, when(0.001))
    c.server_send(tpl.server_flight(rb, sid), when(0.045))
    c.client_send(b"\x14\x03\x03\x00\x01\x01" + app_record(53, rb), when(0.09))
    t, share = 0.1, rng.uniform(8, 20)
    while t < seconds:
        c.client_send(app_record(232 + 17, rb), when(t))  # POST / head, then getwork's body
        c.client_send(app_record(46 + 17, rb), when(t + 0.0004))
        c.server_send(app_record(748 + rng.randint(0, 3) + 17, rb), when(t + 0.043))
        if t + 2.5 >= share:  # a share: the solved data as getwork's one param
            c.client_send(app_record(232 + 17, rb), when(t + 2.5))
            c.client_send(app_record(300 + 17, rb), when(t + 2.5004))
            c.server_send(app_record(158 + 17, rb), when(t + 2.544))
            share += rng.uniform(8, 30)
        t += 5.0 + rng.uniform(0.0, 0.02)
    c.close(when(t + 1.0))
    path.write_bytes(pcap_bytes(frames(c.finish(), Ethernet()), Ethernet.linktype))
    return when(0.0) / 1e9


def test_a_getwork_poller_inside_tls_is_found_while_it_polls(tmp_path: Path) -> None:
    """A poller is answered, never pushed to: its third answer is a checkpoint (the
    model's gate ``min_answers``), so ``scan --as-found`` reading a pipe tells of it
    within three poll intervals, while the rest of the capture is still unwritten."""
    capture = tmp_path / "tls-getwork-poller.pcap"
    first = _tls_getwork_poller(capture)
    header, records = pcap_records(capture)
    proc = _scan_as_found_from_a_pipe()
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(header + b"".join(r for ts, r in records if ts <= first + 15.0))
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 10.0)
        line = proc.stdout.readline().decode() if ready else ""
        out, err = proc.communicate(b"".join(r for ts, r in records if ts > first + 15.0),
                                    timeout=120)  # fmt: skip
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert line, "no alert within three polls"
    alert = json.loads(line)
    assert alert["src_ip"] == "10.9.0.5" and alert["alert"]["signature_id"] == 3980001
    assert alert["alert"]["metadata"]["mining_dialect"] == ["mining-rhythm"]
    assert datetime.fromisoformat(alert["flow"]["end"]).timestamp() - first <= 15.0
    assert not out.strip()  # told once: the ended flow does not alert again
    bare = run_cli("scan", "-f", "jsonl", "--model", "none", str(capture))
    assert bare.rc == 0 and bare.events() == []
