"""DNS (``dissect/dnsparse.py``, ``dissect/dns.py``, ``pdns.py``): one message read by the
C reader (``dns_response``) and by ``py_parse_response`` - the same result or the same
refusal (DnsError); a batch of it and its variants grouped by ``dns_answer_groups`` and
by ``py_answer_groups`` - the same answer for every message; passive DNS filled from the
groups by ``pdns_groups`` and by the Python loop - the same table; and the message over
TCP through the DnsTcp dissector.

Input: a DNS message (UDP payload). Crash: any exception other than DnsError from the
readers, any from the grouping and passive DNS (they run on every answer of a batch,
unguarded), or a twin mismatch.
"""

from __future__ import annotations

import struct

from fuzz import common

with common.instrumented():
    import numpy as np

    from detector import pdns as pdns_module
    from detector.dissect import dnsparse
    from detector.dissect.dns import DnsTcp

CTX = common.dissector_context()


def _outcome(fn, data: bytes) -> tuple:  # noqa: ANN001
    try:
        return ("ok", fn(data))
    except dnsparse.DnsError:
        return ("error", None)


def _pdns_state(table: pdns_module.PassiveDns) -> tuple:
    return (
        [(ip, list(entry.items())) for ip, entry in table._names.items()],
        list(table._stamp.items()),
        table.evicted,
    )


def TestOneInput(data: bytes) -> None:  # noqa: N802 - atheris' name
    py = _outcome(dnsparse.py_parse_response, data)
    compiled = common.compiled_available()
    if compiled:
        assert _outcome(dnsparse._c_parse_response, data) == py, "dns_response differs"

    # A batch: the message, a second copy under another id, its first half, a copy cut short.
    again = bytearray(data)
    if len(again) >= 2:
        again[0:2] = bytes([again[0] ^ 0x40, again[1]])
    msgs = [data, bytes(again), data[: len(data) // 2], data, data[:-3]]
    blob = b"".join(msgs) + b"\x00" * 64
    offsets = np.cumsum([0] + [len(m) for m in msgs[:-1]]).astype(np.int64)
    lengths = np.array([len(m) for m in msgs], dtype=np.int64)
    buf = np.frombuffer(blob, dtype=np.uint8)
    results = [dnsparse.py_answer_groups(memoryview(buf), offsets.tolist(), lengths.tolist())]
    if compiled:
        results.append(dnsparse.answer_groups(buf, offsets, lengths))
    per_message = []
    for distinct, last, groups in results:
        assert len(groups) == len(msgs)
        for g, i in enumerate(last):
            assert groups[i] == g and g not in groups[i + 1 :]
        per_message.append([distinct[g] if g >= 0 else None for g in groups])
    assert all(p == per_message[0] for p in per_message), "answer groups differ"

    distinct, last, _ = results[-1]
    times = [1000.0 + i for i in range(len(msgs))]
    tables = []
    for use_compiled in (True, False) if compiled else (False,):
        table = pdns_module.PassiveDns(3, 3600.0)
        saved = pdns_module.fast
        if not use_compiled:
            pdns_module.fast = None
        try:
            table.add_groups(distinct, last, times)
            table.add_groups(distinct, last, [t + 50.0 for t in times])
        finally:
            pdns_module.fast = saved
        tables.append(_pdns_state(table))
    assert all(t == tables[0] for t in tables), "passive DNS differs"

    tcp = struct.pack("!H", len(data) & 0xFFFF) + data[:0xFFFF]
    common.run_stream(DnsTcp, common.encode_conversation(3, [(1, tcp), (0, tcp)]), CTX)


if __name__ == "__main__":
    common.main(TestOneInput)
