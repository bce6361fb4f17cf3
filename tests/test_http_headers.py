"""Our HTTP header-field reader against dpkt.http.parse_headers (which it replaces on the
hot path): the same fields, or both refusing, on every HTTP head in the fixtures and the
corpus, on hand-made edge cases and on random mutations; and its compiled reader
(``_fast.http_headers``) against its pure-Python twin."""

from __future__ import annotations

import io
import random
import re

import dpkt
import pytest

from detector.compiled import fast
from detector.dissect.http import parse_headers, py_parse_headers
from tests.conftest import CORPUS, PCAPS


def _dpkt(block: bytes):
    try:
        return dict(dpkt.http.parse_headers(io.BytesIO(block)))
    except (dpkt.UnpackError, ValueError, UnicodeError):
        return None


def _heads() -> list[bytes]:
    """Header blocks (after the first line, up to the blank line) found in captures."""
    start = re.compile(rb"(?:GET|POST|HEAD|PUT|CONNECT|OPTIONS) [^\r\n]{1,300} HTTP/1\.[01]\r\n|HTTP/1\.[01] \d{3}[^\r\n]*\r\n")
    blocks = []
    for path in [*PCAPS.glob("*.pcap*"), *CORPUS.glob("*/*.pcap*")]:
        data = path.read_bytes()
        for m in start.finditer(data):
            end = data.find(b"\r\n\r\n", m.end())
            if 0 <= end - m.end() < 4000:
                blocks.append(data[m.end() : end + 4])
    return blocks


EDGES = [
    b"Host: a\r\nHost: b\r\nhost: c\r\n\r\n",  # repeated: a list
    b"X-Empty:\r\nNoColon\r\n\r\n",
    b"Bad Name: x\r\n\r\n",  # a name with a space: refused
    b": no name\r\n\r\n",
    b"Key:   spaced value  \r\n\tFolded: line\r\n\r\n",
    b"A: 1\nB: 2\n\n",  # bare newlines
    b"Caf\xc3\xa9: \xff\xfe\r\n\r\n",  # non-ASCII bytes are dropped
    b"",
    b"K: v",  # no line end at all
]


@pytest.mark.parametrize("block", EDGES)
def test_edge_cases_match_dpkt(block: bytes) -> None:
    assert parse_headers(block) == _dpkt(block)
    assert py_parse_headers(block) == _dpkt(block)


def test_capture_heads_and_mutations_match_dpkt() -> None:
    rng = random.Random(2)
    heads = _heads()
    assert len(heads) >= 20
    cases = 0
    for block in heads:
        variants = [block, block[: len(block) // 2]]
        for _ in range(30):
            mutated = bytearray(block)
            for _ in range(rng.randint(1, 3)):
                mutated[rng.randrange(len(mutated))] = rng.choice(b" :\r\n\t\x00\xffAz")
            variants.append(bytes(mutated))
        for v in variants:
            assert parse_headers(v) == _dpkt(v)
            cases += 1
    assert cases > 500


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
def test_compiled_reader_matches_its_python_twin() -> None:
    """The same fields (and their order), or both refusing, on the capture heads cut and
    mutated with every byte the readers treat apart: whitespace of bytes.strip and of
    str.isspace (\\x1c-\\x1f), colons, newlines, non-ASCII bytes, upper case."""
    rng = random.Random(5)
    alphabet = b" \t\n\r\x0b\x0c\x1c\x1f:\x00\x7f\x80\xc3\xa9\xffAZaz-"
    cases = refused = 0
    for block in [*EDGES, *_heads()]:
        variants = [block, block[: len(block) // 3], block.replace(b"\r\n\r\n", b"\r\n")]
        for _ in range(40):
            mutated = bytearray(block)
            for _ in range(rng.randint(1, 6)):
                at = rng.randrange(len(mutated) + 1)
                mutated[at:at] = bytes([rng.choice(alphabet)])
            variants.append(bytes(mutated))
        for v in variants:
            want = py_parse_headers(v)
            got = fast.http_headers(v)
            assert got == want and (got is None or list(got) == list(want)), v
            refused += want is None
            cases += 1
    assert cases > 20_000 and 500 < refused < cases // 2
