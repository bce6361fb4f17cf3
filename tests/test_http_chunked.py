"""HTTP chunked bodies (dissect/http.py ``_take_body``): a body sent in chunks is read
whole, and a chunk-size line that is not hex digits (RFC 9112 §7.1: ``1*HEXDIG``) ends the
body there. Python's int(text, 16) also takes "-5", "+5", "0x5" and "5_0"; a negative
size walked back over the buffer and appended chunks without end, one hostile request
filling all memory (found by the ``http`` fuzz target:
fuzz/regressions/http/chunk-size-negative-walks-back)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from detector.dissect.base import InspectContext
from detector.dissect.http import Http
from detector.facts import FlowFacts
from tests.conftest import REPO

BODY = b'{"id":1,"method":"getblocktemplate","params":[{"rules":["segwit"]}]}'
HEAD = (b"POST / HTTP/1.1\r\nHost: 10.0.0.1:8332\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n")


def _feed(chunks: list[bytes]) -> tuple[bool, FlowFacts]:
    facts = FlowFacts()
    more = Http(InspectContext()).on_data(0, HEAD + b"".join(chunks), 1.0, facts)
    return more, facts


def test_a_chunked_body_is_read_whole() -> None:
    more, facts = _feed([
        b"14\r\n" + BODY[:20] + b"\r\n",
        b"%x;ext=1\r\n" % (len(BODY) - 20) + BODY[20:] + b"\r\n",
        b"0\r\n\r\n",
    ])
    assert more
    assert facts.sides[0].methods == {"getblocktemplate": 1}
    assert "gbt-http" in facts.dialects


SIZE = b"%x" % len(BODY)  # b"44"


@pytest.mark.parametrize("size", [b"+" + SIZE, b"0x" + SIZE, SIZE[:1] + b"_" + SIZE[1:], b"-5"])
def test_a_chunk_size_that_is_not_hex_digits_ends_the_body(size: bytes) -> None:
    """int() would read the first three as the body's length, and so the request."""
    more, facts = _feed([size + b"\r\n" + BODY + b"\r\n", b"0\r\n\r\n"])
    assert more  # the side goes on (its next message)
    assert facts.sides[0].methods == {}  # the body ended at the size it could not read
    more, facts = _feed([SIZE + b"\r\n" + BODY + b"\r\n", b"0\r\n\r\n"])
    assert facts.sides[0].methods == {"getblocktemplate": 1}  # (the same, well sized)


def test_a_negative_chunk_size_neither_hangs_nor_grows() -> None:
    """The fuzzer's input through its target, in a process held to 1 GB and 60 s: it
    grew past 24 GB within a minute before the fix."""
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from fuzz.targets import http\n"
        "http.TestOneInput(open('fuzz/regressions/http/chunk-size-negative-walks-back',"
        " 'rb').read())\n"
        "print('done')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr[-500:]
