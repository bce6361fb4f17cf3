"""The shipped flow model (models/minewatch.skops, built by ``make model``) against
captures no generator of ours wrote: the real-program set.

Why here: the model learnt from generated traffic only; whether that transfers to real
programs is the question. Every TLS miner of pcaps/realset must be found (by behaviour:
nothing inside TLS is readable) and every benign program must stay clean.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from datetime import datetime

import pytest

from detector.features import FEATURE_NAMES
from detector.model import DEFAULT_MODEL, card_path, load_model
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
    bare = run_cli("scan", "-f", "jsonl", "--model", "none", str(REALSET / "xmrig-cnr-tls-443.pcap"))
    assert bare.rc == 0 and bare.events() == []


def test_a_tls_miner_is_told_of_while_it_still_mines() -> None:
    """``scan --as-found`` on a capture arriving through a pipe: the TLS miner's alert is
    written while its one connection is still open, from the open flow (scored at the
    checkpoint of its third pushed job), before the rest of the capture has even been
    written - and the flow's end later does not alert again."""
    header, records = pcap_records(REALSET / "xmrig-rx0-tls-14433.pcap")
    start, last = records[0][0], records[-1][0]
    slices = 6  # the capture's time cut in equal slices, written one by one with a pause
    proc = subprocess.Popen(
        [sys.executable, "-m", "detector", "scan", "--as-found", "-f", "jsonl", "-q",
         "--model", str(DEFAULT_MODEL), "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    told_in_slice = None
    try:
        proc.stdin.write(header)
        for k in range(slices):
            upto = start + (last - start) * (k + 1) / slices
            proc.stdin.write(b"".join(r for ts, r in records if ts <= upto and
                                      (k == 0 or ts > start + (last - start) * k / slices)))
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
