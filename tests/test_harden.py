"""What an outside audit broke, each through the CLI as a user would meet it: bad files
beside good ones, out-of-range timestamps, damaged gzip, FIFOs and unreadable entries,
memory with many miner flows, hostile rule regexes and names, invalid UTF-8, bad
option values, sinkholed pool rows, and stop signals and broken pipes."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from detector.sinks.eve import is_mining_alert
from detector.synth.clock import at
from detector.synth.conversation import Conversation
from detector.synth.farm import write_farm
from detector.synth.links import Ethernet, frames
from detector.synth.pcap import pcap_bytes
from tests.conftest import PCAPS, REPO, eve_errors, meta, run_cli
from tests.test_tls import client_hello_record, sni_ext

GOOD = PCAPS / "cryptonote-xmrig.pcap"  # one XMRig miner, 10.1.3.14
GOOD_MINER = "10.1.3.14"


def _alerts(out: str) -> set[str]:
    """The miners' addresses of EVE lines (crypto-node alerts left out)."""
    return {event["src_ip"] for event in map(json.loads, filter(str.strip, out.splitlines()))
            if is_mining_alert(event)}


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("minewatch: error:")]


def _stratum(client: tuple[str, int], server: tuple[str, int], start: float = 0.0,
             agent: str = "cgminer/4.12.0") -> list[tuple[int, bytes]]:
    conv = Conversation(client, server, start=at(start))
    sub = json.dumps({"id": 1, "method": "mining.subscribe", "params": [agent]}) + "\n"
    conv.client_send(sub.encode(), at(start + 1.0))
    conv.server_send(b'{"id":1,"result":[[["mining.notify","1"]],"00",4],"error":null}\n'
                     b'{"id":null,"method":"mining.notify","params":["1","00","01","02",[],'
                     b'"2","3","4",true]}\n', at(start + 1.1))
    conv.close(at(start + 5))
    return frames(conv.finish(), Ethernet())


# --- 1. one bad file never costs the others ------------------------------------------


def test_a_cut_or_broken_capture_beside_good_ones_costs_only_itself(tmp_path: Path) -> None:
    folder = tmp_path / "dir"
    folder.mkdir()
    shutil.copy(GOOD, folder / "good.pcap")
    (folder / "cut.pcap").write_bytes(GOOD.read_bytes()[:20])
    broken = bytearray((PCAPS / "multi-interface.pcapng").read_bytes())
    broken[8:12] = b"\x00\x00\x00\x00"  # the byte-order magic
    (folder / "badmagic.pcapng").write_bytes(bytes(broken))
    for args in ([str(folder)], [str(folder / "cut.pcap"), str(GOOD), str(tmp_path / "nope")]):
        result = run_cli("scan", "-f", "csv", "-q", *args)
        assert result.rc == 2 and "Traceback" not in result.err
        assert result.out.startswith("event,src_ip,") and GOOD_MINER in result.out
        errors = _errors(result.err)
        assert any("cut.pcap: truncated pcap file header" in e for e in errors)
        if args[0] == str(folder):
            assert any("badmagic.pcapng" in e and "byte-order magic" in e for e in errors)
        else:
            assert any("nope: no such file" in e for e in errors)


# --- 2. timestamps no output can show ----------------------------------------------------


def _pcapng(records: list[tuple[int, bytes]], last_ts_us: int | None = None,
            tsoffset: int | None = None) -> bytes:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))

    options = b""
    if tsoffset is not None:
        options = struct.pack("<HHq", 14, 8, tsoffset) + struct.pack("<HH", 0, 0)
    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535) + options)
    for i, (ts_ns, frame) in enumerate(records):
        ts = ts_ns // 1000
        if last_ts_us is not None and i == len(records) - 1:
            ts = last_ts_us
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame),
                                    len(frame)) + frame)
    return out


@pytest.mark.parametrize("last_ts_us,tsoffset", [(2**60, None), (2**64 - 1, None),
                                                  (None, -(2**62))])
def test_out_of_range_timestamps_are_damage_at_their_offset(
    tmp_path: Path, last_ts_us: int | None, tsoffset: int | None
) -> None:
    records = _stratum(("10.5.0.7", 40000), ("198.51.100.8", 3333))
    path = tmp_path / "future.pcapng"
    path.write_bytes(_pcapng(records, last_ts_us, tsoffset))
    shutil.copy(GOOD, tmp_path / "good.pcap")
    result = run_cli("scan", "-f", "jsonl", "-q", "-j", "1", str(tmp_path))
    assert result.rc == 2 and "Traceback" not in result.err and "Warning" not in result.err
    (error,) = _errors(result.err)
    assert "future.pcapng: packet timestamp out of range" in error and "byte offset" in error
    expected = {GOOD_MINER} | ({"10.5.0.7"} if tsoffset is None else set())
    assert _alerts(result.out) == expected  # results before the bad record are kept


# --- 3. damaged gzip keeps what came before the damage ------------------------------------


def test_damaged_gzip_scans_the_packets_before_the_damage(tmp_path: Path) -> None:
    records: list[tuple[int, bytes]] = []
    for i in range(300):  # 300 miners, one after the other
        records += _stratum((f"10.6.{i // 200}.{i % 200 + 1}", 41000), ("198.51.100.9", 3333), i * 6.0)
    whole = gzip.compress(pcap_bytes(records, 1), 9)
    small = gzip.compress(GOOD.read_bytes())
    bad_crc = bytearray(small)
    bad_crc[-6] ^= 0xFF
    cases = {
        "half.pcap.gz": whole[: len(whole) // 2],
        "garbage.pcap.gz": small + b"trailing garbage",
        "badcrc.pcap.gz": bytes(bad_crc),
        "tiny.pcap.gz": small[:400],
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = run_cli("scan", "-f", "jsonl", "-q", str(path))
        assert result.rc == 2 and "Traceback" not in result.err, (name, result.err)
        (error,) = _errors(result.err)
        assert "compressed stream damaged" in error and "results before it are kept" in error
        found = _alerts(result.out)
        if name == "half.pcap.gz":
            assert 50 < len(found) < 300
        elif name != "tiny.pcap.gz":
            assert found == {GOOD_MINER}
    folder = run_cli("scan", "-f", "jsonl", "-q", "-j", "1", str(tmp_path))
    assert folder.rc == 2 and len(_errors(folder.err)) == 4  # none skipped without a word


# --- 4, 5. what a directory holds besides captures ----------------------------------------


def test_a_fifo_in_a_directory_is_skipped_with_a_warning(tmp_path: Path) -> None:
    shutil.copy(GOOD, tmp_path / "good.pcap")
    os.mkfifo(tmp_path / "pipe")
    result = run_cli("scan", "-f", "jsonl", "-q", str(tmp_path), timeout=30)
    assert result.rc == 0, result.err
    assert f"warning: {tmp_path / 'pipe'}: not a regular file: skipped" in result.err
    assert _alerts(result.out) == {GOOD_MINER}


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root to run the CLI as another user")
def test_unreadable_entries_are_reported_as_another_user() -> None:
    top = Path(tempfile.mkdtemp(prefix="mw-perm-", dir="/tmp"))
    try:
        top.chmod(0o755)
        shutil.copy(GOOD, top / "good.pcap")
        shutil.copy(GOOD, top / "secret.pcap")
        (top / "secret.pcap").chmod(0o600)
        (top / "locked").mkdir(mode=0o700)
        shutil.copy(GOOD, top / "locked" / "inside.pcap")
        proc = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-m", "detector", "scan", "-f", "jsonl", "-q", "-j", "1", str(top)],
            capture_output=True, text=True, cwd=REPO, timeout=60,
            env={**os.environ, "HOME": "/tmp"},
        )
        assert proc.returncode == 2, proc.stderr
        errors = _errors(proc.stderr)
        assert any("secret.pcap: permission denied" in e for e in errors)
        assert any("locked" in e and "cannot list directory" in e for e in errors)
        assert _alerts(proc.stdout) == {GOOD_MINER}
    finally:
        shutil.rmtree(top)


# --- 6. memory with many miner flows --------------------------------------------------------


def _peak_rss_mb(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-m", "detector", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    return int(proc.stderr.strip().splitlines()[-1]) / 1024, proc


@pytest.mark.skipif(not Path("/usr/bin/time").exists(), reason="GNU time missing")
def test_memory_does_not_grow_with_the_number_of_miner_flows(tmp_path: Path) -> None:
    """2,000 and then 10,000 distinct miners with open flows: the extra 8,000 suspects and
    flows cost a few MB (packed suspects, shared facts, a bound on flows under
    inspection), not the ~9 KB each they cost before. 100,000 are measured in the README
    (bench/miner_memory.py)."""
    rss = {}
    for miners in (2000, 10000):
        capture = tmp_path / f"{miners}.pcap"
        write_farm(capture, miners)
        for fmt in ("jsonl", "table"):
            out = tmp_path / f"{miners}.{fmt}"
            rss[miners, fmt], proc = _peak_rss_mb(
                "scan", str(capture), "-f", fmt, "-o", str(out), "-q", "-j", "1",
                "--max-inspected", "512")
            assert proc.returncode == 0, proc.stderr
        assert len(_alerts((tmp_path / f"{miners}.jsonl").read_text())) == miners
    for fmt in ("jsonl", "table"):
        growth = rss[10000, fmt] - rss[2000, fmt]
        assert growth < 25, (fmt, rss)  # 8,000 more miners: < 3.2 KB each


# --- 7, 8. hostile rules ----------------------------------------------------------------------


def _user_rule(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "user.yaml"
    path.write_text(body)
    return path


def test_a_backtracking_regex_in_a_user_rule_cannot_hang_the_scan(tmp_path: Path) -> None:
    rule = _user_rule(tmp_path, "rules:\n  - id: 9100001\n    name: nested\n    weight: 0.1\n"
                                "    match:\n      field: agent\n      regex: '^(a+)+$'\n")
    assert run_cli("rules", "check", "--rules", str(rule)).rc == 0
    capture = tmp_path / "agent.pcap"
    capture.write_bytes(pcap_bytes(_stratum(("10.8.0.2", 40000), ("198.51.100.2", 3333),
                                            agent="a" * 34 + "!"), 1))
    started = time.monotonic()
    result = run_cli("scan", "-q", "--rules", str(rule), str(capture), timeout=60)
    assert result.rc == 0 and time.monotonic() - started < 20
    lookaround = _user_rule(tmp_path, "rules:\n  - id: 9100002\n    name: x\n    match:\n"
                                      "      field: agent\n      regex: '(?<=x)y'\n")
    refused = run_cli("rules", "check", "--rules", str(lookaround))
    assert refused.rc == 2 and f"{lookaround}:5:" in refused.err and "RE2" in refused.err


def test_rule_names_are_escaped_and_ids_stay_within_32_bits(tmp_path: Path) -> None:
    rule = _user_rule(tmp_path, 'rules:\n  - id: 9100003\n    name: "evil\\x1b[2J\\nname"\n'
                                "    match: {port: 1}\n")
    listed = run_cli("rules", "list", "--rules", str(rule))
    assert listed.rc == 0 and "\x1b" not in listed.out and "evil\\x1b[2J\\x0aname" in listed.out
    big = _user_rule(tmp_path, "rules:\n  - id: 12345678901234567890123456\n    name: big\n"
                               "    match: {port: 1}\n")
    refused = run_cli("rules", "check", "--rules", str(big))
    assert refused.rc == 2 and "4294967295" in refused.err


# --- 9. one bad byte must not hide a miner's identity -------------------------------------------


def test_invalid_utf8_in_a_login_keeps_the_agent_and_wallet(tmp_path: Path) -> None:
    wallet = "4" + "8" * 94
    conv = Conversation(("10.9.1.4", 40100), ("198.51.100.4", 3333), start=at(0))
    login = (b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"' + wallet.encode()
             + b'","pass":"x\xff","agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0"}}\n')
    conv.client_send(login, at(1))
    conv.server_send(b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"1","job":{"blob":"'
                     + b"07" * 38 + b'","job_id":"9","target":"b88d0600","algo":"rx/0",'
                     b'"height":1,"seed_hash":"' + b"ab" * 32 + b'"},"status":"OK"}}\n', at(1.2))
    conv.close(at(60))
    path = tmp_path / "utf8.pcap"
    path.write_bytes(pcap_bytes(frames(conv.finish(), Ethernet()), 1))
    result = run_cli("scan", "-f", "jsonl", "-q", str(path))
    (alert,) = [json.loads(line) for line in result.out.splitlines()]
    assert meta(alert, "mining_agent")[0].startswith("XMRig/6.21.0")
    assert meta(alert, "mining_wallet") == [wallet]


# --- 10. option values ---------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--window", "--threshold", "--idle-timeout",
                                    "--udp-idle-timeout", "--active-timeout"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_option_values_are_usage_errors(option: str, value: str) -> None:
    result = run_cli("scan", option, value, str(GOOD))
    assert result.rc == 2 and "Traceback" not in result.err
    assert "finite" in result.err or "range" in result.err


def test_more_jobs_than_files_or_cores_costs_nothing() -> None:
    started = time.monotonic()
    many = run_cli("scan", "-f", "jsonl", "-q", "-j", "1000", str(GOOD), str(PCAPS / "cryptonote-xmrstak-7777.pcap"))
    assert many.rc == 0 and time.monotonic() - started < 10
    assert many.out == run_cli("scan", "-f", "jsonl", "-q", "-j", "1", str(GOOD),
                               str(PCAPS / "cryptonote-xmrstak-7777.pcap")).out


# --- 11. pool lists: sinkholes and rows alone ----------------------------------------------------


def test_unroutable_pool_rows_are_dropped_and_counted(tmp_path: Path) -> None:
    signatures = tmp_path / "signatures"
    shutil.copytree(REPO / "signatures", signatures)
    mine = tmp_path / "mine.txt"
    mine.write_text("0.0.0.0\n127.0.0.1\n10.1.2.3\n224.0.0.9\n192.0.2.55\npool.example.org\n")
    env_run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "detector", *args], capture_output=True, text=True, cwd=REPO,
        env={**os.environ, "MINEWATCH_SIGNATURES": str(signatures)})
    before = env_run("rules", "check")
    dropped = int(before.stdout.split("(")[1].split()[0])
    assert dropped >= 1  # the shipped list sinkholes some pools to 0.0.0.0 and 127.0.0.1
    update = env_run("pools", "update", str(mine), "--name", "mine")
    assert update.returncode == 0 and f"({dropped + 5} unroutable addresses dropped)" in update.stdout
    assert env_run("pools", "match", "127.0.0.1:3333").returncode == 1
    assert env_run("pools", "match", "pool.example.org").returncode == 0


def _tls_session(client: tuple[str, int], server: tuple[str, int], sni: str, seconds: float,
                 pushes: int) -> list[tuple[int, bytes]]:
    conv = Conversation(client, server, start=at(0))
    conv.client_send(client_hello_record([0x1301, 0x1302], [sni_ext(sni)]), at(0.1))
    conv.server_send(bytes.fromhex("160303002a020000260303") + bytes(32) + b"\x00\x13\x01\x00",
                     at(0.15))
    for i in range(pushes):
        conv.server_send(b"\x17\x03\x03\x01\x00" + bytes(256), at(1 + i * seconds / max(pushes, 1)))
    conv.close(at(seconds + 1))
    return frames(conv.finish(), Ethernet())


def test_a_pool_list_row_alone_never_makes_a_suspect(tmp_path: Path) -> None:
    host, port = "de.7pool.net", 3333  # a published stratum endpoint of the shipped list
    assert run_cli("pools", "match", f"{host}:{port}").rc == 0
    short = _tls_session(("10.3.3.3", 50000), ("203.0.113.33", port), host, 2.0, 1)
    (tmp_path / "poll.pcap").write_bytes(pcap_bytes(short, 1))
    poll = run_cli("scan", "-f", "jsonl", "-q", str(tmp_path / "poll.pcap"))
    assert poll.rc == 0 and _alerts(poll.out) == set()  # an HTTPS poller, not a miner
    long = _tls_session(("10.3.3.4", 50001), ("203.0.113.33", port), host, 600.0, 12)
    (tmp_path / "session.pcap").write_bytes(pcap_bytes(long, 1))
    session = run_cli("scan", "-f", "jsonl", "-q", str(tmp_path / "session.pcap"))
    assert _alerts(session.out) == {"10.3.3.4"}  # the job loop of a miner inside TLS


# --- signals and broken pipes ------------------------------------------------------------------


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_writes_the_suspects_so_far_marked_partial(sig: int, code: int) -> None:
    header = GOOD.read_bytes()
    proc = subprocess.Popen([sys.executable, "-m", "detector", "scan", "-", "-f", "jsonl"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=REPO)
    assert proc.stdin is not None
    proc.stdin.write(header)  # a whole miner session, then the pipe stays open and quiet
    proc.stdin.flush()
    time.sleep(3.0)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    (alert,) = [json.loads(line) for line in out.decode().splitlines()]
    assert alert["src_ip"] == GOOD_MINER and alert["alert"]["metadata"]["partial"] == ["interrupted"]
    assert eve_errors(alert) == []
    assert f"interrupted by {signal.Signals(sig).name}" in err.decode()
    assert "Traceback" not in err.decode()


def test_a_reader_that_goes_away_ends_the_scan_quietly() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m detector flows {PCAPS} | head -c 100 > /dev/null; "
        "echo ${PIPESTATUS[0]} >&2", shell=True, executable="/bin/bash", capture_output=True,
        text=True, cwd=REPO, timeout=120)
    assert proc.stderr.strip() == "141"  # as a shell shows SIGPIPE, and nothing else


def test_the_last_packet_of_a_mapped_file_reads_as_in_a_copy(tmp_path: Path) -> None:
    """A plain file is memory-mapped and a gzip copy is read into padded buffers; the
    decoders read a few bytes past a short packet, so the mapping's last window needs the
    same padding: a bare SYN ending the file must be a SYN (it read as flags 0x50)."""
    syn = (b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"  # 54 bytes: no TCP options
           + struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40, 0, 0x4000, 64, 6, 0, bytes([10, 4, 4, 1]),
                         bytes([10, 4, 4, 2]))
           + struct.pack(">HHIIBBHHH", 40000, 3333, 1, 0, 5 << 4, 0x02, 65535, 0, 0))
    data = pcap_bytes([(at(0), syn)], 1)
    (tmp_path / "syn.pcap").write_bytes(data)
    (tmp_path / "syn.pcap.gz").write_bytes(gzip.compress(data))
    plain, packed = (run_cli("flows", "--all", str(tmp_path / name))
                     for name in ("syn.pcap", "syn.pcap.gz"))
    assert plain.rc == packed.rc == 0
    (flow,) = [json.loads(line) for line in plain.out.splitlines()]
    assert flow["orientation"] == "syn" and flow["src_ip"] == "10.4.4.1"
    assert plain.out == packed.out
