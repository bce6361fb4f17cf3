"""The rule loader (``detector/rules/``, ``detector/yamlsrc.py``): YAML text as a rule
file, loaded with the project's domain lists; a rule set that loads is evaluated on a
few flow records. Crash: any exception but InputError (RuleError is one: it names the
file and the line), a hang or runaway memory (YAML aliases).

Input: the rule file's bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fuzz import common

with common.instrumented():
    from detector.errors import InputError
    from detector.facts import FlowFacts
    from detector.flows import FlowRecord
    from detector.rules import load_rules

LISTS = common.REPO / "signatures" / "lists"
DIR = Path(tempfile.mkdtemp(prefix="mwfuzz-rules-", dir=common._TMPDIR))


def _records() -> list[FlowRecord]:
    facts = FlowFacts()
    facts.app_protos.add("json")
    facts.dialects.add("stratum-v1")
    facts.jobs, facts.submits, facts.wallet = 5, 2, "4" + "A" * 94
    facts.http.update(method="POST", host="pool.example.org", user_agent="xmrig/6.21")
    facts.tls.update(sni="xmr.pool.minergate.com", ja3="a" * 32)
    facts.hosts.append("pool.supportxmr.com")
    base = dict(flow_id=1, proto="TCP", client_ip="10.0.0.1", client_port=40000,
                server_ip="198.51.100.7", server_port=3333, first_ts=0.0, last_ts=600.0,
                pkts_toserver=10, pkts_toclient=12, bytes_toserver=900, bytes_toclient=4000,
                payload_toserver=400, payload_toclient=3000, orientation="syn",
                end_reason="closed")  # fmt: skip
    return [FlowRecord(**base, facts=facts), FlowRecord(**base, facts=None)]


RECORDS = _records()


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    path = DIR / "fuzz.yaml"
    path.write_bytes(data)
    try:
        rules = load_rules([DIR], lists_dir=LISTS)
    except InputError:
        return
    finally:
        os.unlink(path)
    for record in RECORDS:
        rules.evaluate(record)


if __name__ == "__main__":
    common.main(TestOneInput)
