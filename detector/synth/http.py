"""HTTP/1.x messages as clients and servers write them: header order and case are theirs.

Mining over HTTP (getwork, getblocktemplate, Ethereum getwork, monerod) and the benign HTTP
traffic differ from each other exactly in such details, so a writer passes its headers as
an ordered list, never a dict that a library might reorder or re-case.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from email.utils import formatdate


def http_req(
    method: str,
    path: str,
    headers: Sequence[tuple[str, str]],
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + b"\r\n" + body


def http_resp(
    status: str, headers: Sequence[tuple[str, str]], body: bytes = b"", version: str = "HTTP/1.1"
) -> bytes:
    head = f"{version} {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + b"\r\n" + body


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def http_date(seconds: int) -> str:
    """An IMF-fixdate (``Mon, 05 Jan 2026 10:00:00 GMT``) of whole Unix ``seconds``."""
    return formatdate(seconds, usegmt=True)
