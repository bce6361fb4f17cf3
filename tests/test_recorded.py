"""The recorded captures of pcaps/recorded/: a Stratum miner inside real tunnels (Linux
VXLAN; Open vSwitch's ERSPAN II and III, Geneve and GRE), made by tools/tunnel_capture.py.

Why: the synthetic frames of tests/test_tunnels.py are written by the same reading of the
specs as the decoder; these come from tunnel implementations written by others, as a
sensor records them. minewatch must find the miner's inner address with its dialect and
say in the EVE alert which tunnel it came in; tshark (another reader) must see the same
inner session; the manifest must describe exactly the files there, each with the command
that recorded it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import PCAPS, REPO, run_cli

RECORDED = PCAPS / "recorded"
CAPTURES = tomllib.loads((RECORDED / "manifest.toml").read_text())["capture"]
MAX_TOTAL_BYTES = 200_000


def test_manifest_lists_exactly_the_recorded_files() -> None:
    files = {p.name for p in RECORDED.iterdir() if p.is_file()} - {"manifest.toml"}
    listed = [c["file"] for c in CAPTURES]
    assert sorted(listed) == sorted(files) and len(set(listed)) == len(listed)
    total = sum((RECORDED / name).stat().st_size for name in files)
    assert total < MAX_TOTAL_BYTES, total
    for cap in CAPTURES:
        assert set(cap) == {"file", "suspects", "dialects", "notes", "recorded_with", "tunnel"}
        command = cap["recorded_with"].split()
        assert command[:3] == ["python", "-m", "tools.tunnel_capture"], cap["file"]
        assert command[4] == cap["file"] and (REPO / "tools" / "tunnel_capture.py").is_file()


@pytest.mark.parametrize("cap", CAPTURES, ids=[c["file"] for c in CAPTURES])
def test_the_miner_inside_the_tunnel_is_found_and_the_tunnel_named(cap: dict) -> None:
    """One alert: the miner's inner address, Stratum v1, and a tunnel object with the
    encapsulation, its identifier and the outer endpoints (the miner's side first)."""
    res = run_cli("scan", "-f", "jsonl", "-j", "1", str(RECORDED / cap["file"]))
    assert res.rc == 0, res.err
    (alert,) = res.events()
    assert [alert["src_ip"]] == cap["suspects"]
    assert set(cap["dialects"]) <= set(alert["alert"]["metadata"]["mining_dialect"])
    # Suricata's schema closes the tunnel object: endpoints, proto and depth there; the
    # encapsulation and its identifier in alert.metadata as string lists
    tunnel, metadata = alert["tunnel"], alert["alert"]["metadata"]
    assert set(tunnel) == {"src_ip", "src_port", "dest_ip", "dest_port", "proto", "depth"}
    assert tunnel["depth"] == 1
    named = {"encapsulation": metadata["tunnel_encapsulation"]} | {
        key[len("tunnel_"):]: value for key, value in metadata.items()
        if key.startswith("tunnel_") and key != "tunnel_encapsulation"
    }  # fmt: skip
    expected = {key: value if key in tunnel else [str(value)] for key, value in cap["tunnel"].items()}
    assert {key: tunnel[key] if key in tunnel else named.get(key) for key in cap["tunnel"]} == expected
    assert tunnel["proto"] == ("UDP" if cap["tunnel"]["encapsulation"] in ("vxlan", "geneve")
                               else "GRE")  # fmt: skip


@pytest.mark.parametrize("cap", CAPTURES, ids=[c["file"] for c in CAPTURES])
def test_flows_log_shows_the_inner_session_and_the_outer_flow(cap: dict) -> None:
    """``flows --all``: the inner TCP session with its tunnel, and the outer flow of the
    tunnel itself, which stays a flow of its own."""
    res = run_cli("flows", "--all", "-j", "1", str(RECORDED / cap["file"]))
    assert res.rc == 0, res.err
    flows = [json.loads(line) for line in res.out.splitlines()]
    inner = [f for f in flows if f["src_ip"] == cap["suspects"][0] and f["proto"] == "TCP"]
    assert len(inner) == 1 and inner[0]["dest_port"] == 3333
    assert inner[0]["tunnel"]["encapsulation"] == cap["tunnel"]["encapsulation"]
    assert inner[0]["flow"]["pkts_toserver"] > 5 and inner[0]["flow"]["pkts_toclient"] > 5
    outer = [f for f in flows if "tunnel" not in f]
    assert outer and {cap["tunnel"]["src_ip"], cap["tunnel"]["dest_ip"]} <= {
        ip for f in outer for ip in (f["src_ip"], f["dest_ip"])
    }


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("cap", CAPTURES, ids=[c["file"] for c in CAPTURES])
def test_tshark_sees_the_same_inner_session(cap: dict) -> None:
    """Wireshark's dissectors open the same tunnel and see the miner's TCP payload to the
    pool: the innermost addresses of every TCP packet are the miner's and the pool's."""
    proc = subprocess.run(
        ["tshark", "-n", "-r", str(RECORDED / cap["file"]), "-Y", "tcp", "-T", "fields",
         "-e", "ip.src", "-e", "ip.dst", "-e", "tcp.len"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    pairs, sent = set(), 0
    for line in proc.stdout.splitlines():
        src, dst, size = line.split("\t")
        inner = (src.split(",")[-1], dst.split(",")[-1])
        pairs.add(frozenset(inner))
        if inner[0] == cap["suspects"][0]:
            sent += int(size)
    assert pairs == {frozenset({cap["suspects"][0], "10.43.0.20"})}
    assert sent > 200


def test_the_recording_tool_refuses_without_its_arguments() -> None:
    """The tool's own checks (no root needed to see them): a kind and an output file."""
    proc = subprocess.run(
        [sys.executable, "-m", "tools.tunnel_capture"],
        capture_output=True, text=True, cwd=Path(REPO), timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "KIND and OUT are required" in proc.stderr
