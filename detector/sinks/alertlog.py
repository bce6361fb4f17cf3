"""Where a sensor's alerts go while it runs: an EVE file, stdout, syslog.

A sensor runs for weeks, so its sinks behave as Suricata's do: the EVE file is opened
for appending (a restart never truncates what was written), every alert is written as
one line and flushed at once (a reader tailing the file, or a crash, loses nothing that
was told), and ``reopen()`` - on SIGHUP - closes and opens the path again, so logrotate
can move the file away and the sensor goes on in a fresh one.

Syslog follows RFC 5424 (``<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG``, the EVE line
as MSG), sent through the standard library's ``SysLogHandler`` to a local socket
(``/dev/log``) or a collector over UDP or TCP: what a SIEM's syslog input parses as it
parses Suricata's.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import socket
import sys
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

from detector.errors import InputError


class AlertSink(Protocol):
    """Takes EVE events one at a time (and health lines, which are not events)."""

    def event(self, event: dict[str, Any]) -> None: ...

    def health(self, line: str) -> None: ...

    def reopen(self) -> None: ...

    def close(self) -> None: ...


def _line(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


class EveFile:
    """EVE JSON lines appended to a file, or written to stdout (``-``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._out: TextIO = sys.stdout if path == "-" else self._open()

    def _open(self) -> TextIO:
        try:
            # line-buffered: each alert reaches the file as soon as it is written
            return open(self.path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"{self.path}: cannot write ({exc.strerror or exc})") from None

    def event(self, event: dict[str, Any]) -> None:
        self._out.write(_line(event) + "\n")
        self._out.flush()

    def health(self, line: str) -> None:
        """Health lines go to stderr or syslog, never into the EVE file."""

    def reopen(self) -> None:
        """After logrotate moved the file: go on in a new one at the same path. When it
        cannot be opened, keep writing to the old one (an alert is never dropped)."""
        if self.path == "-":
            return
        try:
            fresh = self._open()
        except InputError as exc:
            sys.stderr.write(f"minewatch: warning: {exc}; still writing the old file\n")
            return
        self._out.close()
        self._out = fresh

    def close(self) -> None:
        if self.path != "-":
            self._out.close()
        else:
            self._out.flush()


class Rfc5424Formatter(logging.Formatter):
    """The part of an RFC 5424 message after ``<PRI>`` (SysLogHandler adds that)."""

    def __init__(self, app: str = "minewatch") -> None:
        super().__init__()
        self.host = socket.gethostname() or "-"
        self.app = app

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
        msgid = getattr(record, "msgid", "-")
        stamp = stamp.replace("+00:00", "Z")
        return f"1 {stamp} {self.host} {self.app} {os.getpid()} {msgid} - {record.getMessage()}"


def syslog_address(target: str) -> tuple[str | tuple[str, int], int]:
    """``local`` (/dev/log), ``udp:HOST:PORT`` or ``tcp:HOST:PORT`` -> (address, socket
    type) for SysLogHandler."""
    if target in ("local", "/dev/log"):
        return "/dev/log", socket.SOCK_DGRAM
    kind, _, rest = target.partition(":")
    host, _, port = rest.rpartition(":")
    if kind not in ("udp", "tcp") or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--syslog {target}: expected local, udp:HOST:PORT or tcp:HOST:PORT")
    kind_type = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    return (host.strip("[]"), int(port)), kind_type


class Syslog:
    """Alerts (priority warning) and health lines (info) as RFC 5424 syslog messages,
    facility daemon."""

    def __init__(self, target: str) -> None:
        address, kind = syslog_address(target)
        try:
            handler = logging.handlers.SysLogHandler(
                address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON,
                socktype=kind,
            )  # fmt: skip
        except OSError as exc:
            raise InputError(f"--syslog {target}: {exc.strerror or exc}") from None
        handler.setFormatter(Rfc5424Formatter())
        handler.append_nul = False  # RFC 5424 messages end where the datagram ends
        self.logger = logging.Logger(f"minewatch.syslog.{id(self)}")
        self.logger.addHandler(handler)
        self.handler = handler

    def event(self, event: dict[str, Any]) -> None:
        self.logger.warning(_line(event), extra={"msgid": event.get("event_type", "-")})

    def health(self, line: str) -> None:
        self.logger.info(line, extra={"msgid": "health"})

    def reopen(self) -> None:
        """Nothing to reopen: the socket is the collector's."""

    def close(self) -> None:
        self.handler.close()
