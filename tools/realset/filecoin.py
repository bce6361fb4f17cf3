"""The Filecoin/libp2p captures of the validation set (issue 20): real js-libp2p peers and
a lotus-like JSON-RPC pair in network namespaces, captured with tcpdump, the same way as
tools/realset/run.py's captures (its ``capture``: namespaces, tcpdump on the server's
veth, trim.py) but on lab slot 12 and addresses 10.213.240.0/22 of their own.

* ``libp2p-filecoin-dns``: a js-libp2p dialer (npm libp2p 3.3, @libp2p/tcp, Noise,
  yamux, identify, ping) that finds its peer as lotus finds a bootstrap peer, by the
  name in lotus's build/bootstrap/mainnet.pi (``/dns4/bootstrap.filecoin.chain.love/...``),
  and resolves drand's servers and relays (build/buildconstants/drand.go) before each
  dial, all answered by the lab's DNS stub (dns_stub.py, dnslib): a Filecoin node.
* ``libp2p-ipfs-dnsaddr``: the same peers as an IPFS node uses them - its peer found by
  ``/dnsaddr/bootstrap.libp2p.io`` (kubo's default bootstrap list), no Filecoin name: a
  libp2p sighting only, no Filecoin node, no suspect.
* ``lotus-rpc-miner-1234``: lotus-miner's mining loop calling its daemon's JSON-RPC API
  (lotus_rpc.py; ``Filecoin.MinerGetBaseInfo``, ``MinerCreateBlock``): a storage-farmer
  suspect.

Rows for these files are replaced (or added) in pcaps/realset/labels.csv and meta.json;
the other rows stay as they are. Needs root; ``make realset-filecoin`` (filecoin.sh)
installs the programs into build/realset/ and runs this.

    python -m tools.realset.filecoin [--duration 120] [NAME ...]
    python -m tools.realset.filecoin --labels-only
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from pathlib import Path

from tools.realset.run import BUILD, HERE, OUT, PY, Run, Scenario, capture, label_row

SLOT = 12  # the lab slot of the Filecoin helper (docs: storage contract); others use 0-1, 13
NET = 60  # first address block: 10.213.240.0/30 on
LIBP2P = BUILD / "libp2p"  # npm packages (filecoin.sh), and the scripts copied next to them
NODE = ["node", "--import", str(LIBP2P / "libp2p_polyfill.mjs"), str(LIBP2P / "libp2p_peer.mjs")]
DRAND_A = "api.drand.sh,api2.drand.sh,api3.drand.sh,drand.cloudflare.com"
DRAND_TXT = "_dnsaddr.api.drand.sh,_dnsaddr.api2.drand.sh,_dnsaddr.api3.drand.sh"


def _listen(r: Run, seconds: float) -> str:
    """Start the js-libp2p listener on the server's address; its peer id."""
    r.server("libp2p-listen", [*NODE, "listen", r.srv, str(r.port), str(int(seconds) + 10)])
    log = r.work / "libp2p-listen.log"
    for _ in range(50):
        for line in log.read_text().splitlines():
            if "/p2p/" in line:
                return line.strip().rsplit("/p2p/", 1)[1]
        time.sleep(0.2)
    raise RuntimeError(f"libp2p listener printed no address: {log.read_text()[-500:]}")


def _resolver(r: Run, zone: dict) -> None:
    """The lab's DNS stub on the server (UDP 53), and the client's resolv.conf pointing at
    it (``ip netns exec`` mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf)."""
    zone_file = r.work / "zone.json"
    zone_file.write_text(json.dumps(zone, indent=1))
    r.lab.start("dns-stub", "srv", [PY, str(HERE / "dns_stub.py"), r.srv, "53", str(zone_file)])
    etc = Path("/etc/netns") / r.lab.ns("cli")
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "resolv.conf").write_text(f"nameserver {r.srv}\noptions timeout:2 attempts:2\n")
    for _ in range(50):
        if r.lab.run("srv", "ss", "-Hluna", "sport = :53").stdout.strip():
            return
        time.sleep(0.2)
    raise RuntimeError("the DNS stub does not listen")


def filecoin_node(r: Run) -> None:
    seconds = r.extra["duration"]
    peer = _listen(r, seconds)
    relays = [f"dnsaddr=/ip4/{r.srv}/tcp/{r.port}/p2p/{peer}"]
    _resolver(r, {
        "a": {name: r.srv for name in ["bootstrap.filecoin.chain.love", *DRAND_A.split(",")]},
        "txt": {name: relays for name in DRAND_TXT.split(",")},
    })  # fmt: skip
    target = f"/dns4/bootstrap.filecoin.chain.love/tcp/{r.port}/p2p/{peer}"
    r.client("libp2p-dial", [*NODE, "dial", target, str(int(seconds) - 10), "2", "5",
                             DRAND_A, DRAND_TXT])  # fmt: skip


def ipfs_node(r: Run) -> None:
    seconds = r.extra["duration"]
    peer = _listen(r, seconds)
    _resolver(r, {"txt": {"_dnsaddr.bootstrap.libp2p.io": [
        f"dnsaddr=/ip4/{r.srv}/tcp/{r.port}/p2p/{peer}"]}})  # fmt: skip
    target = f"/dnsaddr/bootstrap.libp2p.io/p2p/{peer}"
    r.client("libp2p-dial", [*NODE, "dial", target, str(int(seconds) - 10), "2", "5"])


def lotus_rpc(r: Run) -> None:
    r.server("lotus-api", [PY, str(HERE / "lotus_rpc.py"), "server", r.srv, str(r.port)])
    r.client("lotus-miner-loop", [PY, str(HERE / "lotus_rpc.py"), "client",
                                  f"http://{r.srv}:{r.port}/rpc/v0",
                                  str(int(r.extra["duration"]) - 10), "6"])  # fmt: skip


SCENARIOS = [
    Scenario(
        "libp2p-filecoin-dns",
        "benign",  # a node: no miner (the realset's classes are miner and benign)
        1347,
        False,
        "js-libp2p 3.3.11 (npm; @libp2p/tcp 11, @chainsafe/libp2p-noise 17, "
        "@chainsafe/libp2p-yamux 8, identify, ping; node 20) + dnslib 0.9.26 DNS stub",
        "dialer finds its peer by /dns4/bootstrap.filecoin.chain.love (lotus mainnet.pi) and "
        "resolves drand's servers (A) and relays (_dnsaddr TXT) before each dial; ping every "
        "2-5 s, re-dial every 5 pings; expected: a Filecoin node sighting (libp2p + Filecoin "
        "names), no suspect",
        filecoin_node,
    ),
    Scenario(
        "libp2p-ipfs-dnsaddr",
        "benign",
        4001,
        False,
        "js-libp2p 3.3.11 (npm; @libp2p/tcp 11, @chainsafe/libp2p-noise 17, "
        "@chainsafe/libp2p-yamux 8, identify, ping; node 20) + dnslib 0.9.26 DNS stub",
        "dialer finds its peer by /dnsaddr/bootstrap.libp2p.io (kubo's bootstrap list), no "
        "Filecoin name; ping every 2-5 s, re-dial every 5 pings; expected: a libp2p sighting "
        "only, no Filecoin node, no suspect",
        ipfs_node,
    ),
    Scenario(
        "lotus-rpc-miner-1234",
        "miner",
        1234,
        False,
        "our lotus-like JSON-RPC stub (Python http.server) + our lotus-miner mining-loop "
        "client (http.client), real sockets",
        "POST /rpc/v0 with a Bearer JWT: WalletBalance, StateMinerInfo, then every ~6 s "
        "ChainHead and MinerGetBaseInfo, a third of the rounds MinerCreateBlock + "
        "SyncSubmitBlock; expected: the client a storage-farmer suspect",
        lotus_rpc,
        "filecoin-rpc",
    ),
]


def merge_labels(made: dict[str, dict]) -> None:
    """Replace or add the rows and meta of the captures just made; keep every other row."""
    path = OUT / "labels.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    fields = ["file", "class", "miner_ips", "pool_endpoints", "dialects", "notes"]
    by_name = {sc.name: sc for sc in SCENARIOS}
    new = {m["file"]: label_row(by_name[name], m) for name, m in made.items()}
    rows = [new.pop(row["file"], row) for row in rows] + list(new.values())
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    meta_path = OUT / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update(made)
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--duration", type=float, default=120)
    parser.add_argument("--labels-only", action="store_true", help="rows from meta.json again")
    args = parser.parse_args()
    unknown = set(args.names) - {sc.name for sc in SCENARIOS}
    if unknown:
        sys.exit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if args.labels_only:
        meta = json.loads((OUT / "meta.json").read_text(encoding="utf-8"))
        merge_labels({sc.name: meta[sc.name] for sc in SCENARIOS if sc.name in meta})
        return
    for script in ("libp2p_peer.mjs", "libp2p_polyfill.mjs"):
        shutil.copy(HERE / script, LIBP2P / script)  # next to node_modules (ES modules)
    made = {}
    for i, sc in enumerate(SCENARIOS):
        if args.names and sc.name not in args.names:
            continue
        print(f"[{time.strftime('%T')}] slot {SLOT}: {sc.name}", flush=True)
        try:
            made[sc.name] = capture(sc, SLOT, NET + i, args.duration)
        finally:
            shutil.rmtree(Path("/etc/netns") / f"mw{SLOT}-cli", ignore_errors=True)
        print(f"[{time.strftime('%T')}] {sc.name}: {made[sc.name]}", flush=True)
    merge_labels(made)


if __name__ == "__main__":
    main()
