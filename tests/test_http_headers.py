"""Our HTTP header-field reader against dpkt.http.parse_headers (which it replaces on the
hot path): the same fields, or both refusing, on every HTTP head in the fixtures and the
corpus, on hand-made edge cases and on random mutations; and its compiled reader
(``_fast.http_headers``) against its pure-Python twin."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import dpkt
import pytest

from detector.compiled import fast
from detector.dissect import http
from detector.dissect.http import READ_FIELDS, parse_headers, py_parse_headers
from tests.conftest import CORPUS, PCAPS


def _dpkt(block: bytes):
    try:
        return dict(dpkt.http.parse_headers(io.BytesIO(block)))
    except (dpkt.UnpackError, ValueError, UnicodeError):
        return None


def _heads() -> list[bytes]:
    """Header blocks (after the first line, up to the blank line) found in captures."""
    start = re.compile(
        rb"(?:GET|POST|HEAD|PUT|CONNECT|OPTIONS) [^\r\n]{1,300} HTTP/1\.[01]\r\n|HTTP/1\.[01] \d{3}[^\r\n]*\r\n"
    )
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


def _named(fields: dict[str, object] | None) -> dict[str, object] | None:
    """``fields`` with only the READ_FIELDS kept, in their order (None stays None)."""
    return None if fields is None else {k: v for k, v in fields.items() if k in READ_FIELDS}


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
def test_named_fields_are_the_full_reading_filtered() -> None:
    """``http_headers(block, READ_FIELDS)`` and its twin give the full reading with the
    other fields left out - the same refusals included (a bad line that is not read is
    still refused) - on the capture heads, mutated, with names of every case and names
    that only start or end like a read one."""
    rng = random.Random(6)
    extra = [
        b"Host: h",
        b"HOST: H",
        b"Hostx: n",
        b"host : s",
        b"Upgrade: websocket",
        b"Content-Length: 5",
        b"content-lengt: 1",
        b"Bad Name: x",
        b"X-Stratum: y",
        # non-ASCII bytes, dropped from the line: in a name that then reads as one kept
        # (the compiled reader looks names up in the packet's bytes, these apart), in one
        # whose tokens they separate, and in a kept field's value
        b"Ho\xffst: n",
        b"\xc3\xa9User-Agent: e",
        b"Bad\x80 Name: x",
        b"Bad \x80Name: x",
        b"Bad\x80Name: x",
        b"Host: \xffh\x80",
        b"\x80",
    ]
    cases = kept = 0
    for block in [*EDGES, *_heads()]:
        variants = [block, block[: len(block) // 3]]
        for _ in range(20):
            lines = block.split(b"\r\n")
            for _ in range(rng.randint(1, 3)):
                lines.insert(rng.randrange(len(lines) + 1), rng.choice(extra))
            mutated = bytearray(b"\r\n".join(lines))
            if mutated and rng.random() < 0.5:
                mutated[rng.randrange(len(mutated))] = rng.choice(b" :\r\n\t\x1c\x80\xffAz")
            variants.append(bytes(mutated))
        for v in variants:
            want = _named(py_parse_headers(v))
            for got in (fast.http_headers(v, READ_FIELDS), py_parse_headers(v, READ_FIELDS)):
                assert got == want and (got is None or list(got) == list(want)), v
            kept += bool(want)
            cases += 1
    assert cases > 5_000 and kept > cases // 2
    with pytest.raises(TypeError):
        fast.http_headers(b"A: b\r\n", ["host"])


def test_every_field_the_http_dissector_reads_is_kept() -> None:
    """parse_head keeps only READ_FIELDS: a field name read anywhere in dissect/http.py
    (``headers.get("x")``, ``_header(headers, "x")``, ``"x" in headers``) must be one."""
    source = Path(http.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'headers\.get\("([^"]+)"\)', source))
    read |= set(re.findall(r'_header\((?:\w+\.)*headers, "([^"]+)"\)', source))
    read |= set(re.findall(r'"([^"]+)" in (?:\w+\.)*headers\b', source))
    assert len(read) >= 7, read
    assert read <= set(READ_FIELDS), read - set(READ_FIELDS)
    assert set(http.KEPT_HEADERS) <= set(READ_FIELDS)


def _start_lines() -> list[bytes]:
    """Whole message heads - start line and fields - found in the captures."""
    start = re.compile(
        rb"(?:GET|POST|HEAD|PUT|CONNECT|OPTIONS) [^\r\n]{1,300}\r\n|HTTP/1\.[01] [^\r\n]{1,60}\r\n"
    )
    heads = []
    for path in [*PCAPS.glob("*.pcap*"), *CORPUS.glob("*/*.pcap*")]:
        data = path.read_bytes()
        for m in start.finditer(data):
            end = data.find(b"\r\n\r\n", m.end())
            if 0 <= end - m.start() < 4000:
                heads.append(data[m.start() : end + 4])
    return heads


HEAD_EDGES = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 2\xb2\xb3 OK\r\n\r\n",  # latin-1 superscript digits: str.isdigit's
    b"HTTP/1.1 20a OK\r\n\r\n",
    b"HTTP/1.1\r\n\r\n",
    b"GET\xa0/\x85HTTP/1.1\r\n\r\n",  # latin-1 white space: str.split's
    b"GET\x1c/\x1fHTTP/1.0\r\n\r\n",
    b"GET / FTP/1.0\r\n\r\n",  # a third part that is no version
    b"GET /\r\nHost: x\r\n\r\n",  # two parts: a request
    b"GET / HTTP/1.1 trailing words\r\n\r\n",
    b"get / http/1.1\r\n\r\n",
    b"GET / HTTP/1.1",  # no CRLF: no fields
    b"GET / HTTP/1.1\r",
    b"GET / HTTP/1.1\n\rHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",  # a refused field block
    b"\r\nGET / HTTP/1.1\r\n\r\n",
    b"   \r\n\r\n",
    b"",
]


def _as_tuple(head: http._Head | None) -> tuple[str, str, str, object] | None:
    return None if head is None else (head.method, head.uri, head.status, head.headers)


@pytest.mark.skipif(fast is None, reason="compiled helpers not built")
def test_compiled_head_matches_its_python_twin() -> None:
    """``_fast.http_head`` and py_parse_head: the same start line parts and fields (in
    their order), or both refusing, on the heads of the captures cut and mutated with the
    bytes that str.split, str.isdigit, the version test and the field reader treat apart."""
    rng = random.Random(9)
    alphabet = b" \t\n\r\x0b\x1c\x1f\x85\xa0\xb2:/\x00\xffHTP109Az"
    cases = refused = 0
    for head in [*HEAD_EDGES, *_start_lines()]:
        variants = [head, head[: len(head) // 2], head[:12]]
        for _ in range(25):
            mutated = bytearray(head)
            for _ in range(rng.randint(1, 4)):
                at = rng.randrange(min(len(mutated), 40) + 1)  # mostly the start line
                mutated[at:at] = bytes([rng.choice(alphabet)])
            variants.append(bytes(mutated))
        for v in variants:
            want = _as_tuple(http.py_parse_head(v))
            got = fast.http_head(v, READ_FIELDS)
            assert got == want and (got is None or list(got[3]) == list(want[3])), v
            assert _as_tuple(http.parse_head(v)) == want
            refused += want is None
            cases += 1
    assert cases > 3_000 and 300 < refused < cases - 300
