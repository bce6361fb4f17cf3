"""Live capture through a ``tcpdump -w -`` pipe: the fallback capture path.

``minewatch live`` captures with its own AF_PACKET ring where it can (source/afpacket.py).
This path is for where it cannot - a kernel or platform without TPACKET_V3, or a user who
wants tcpdump's own capture code (``--capture tcpdump``): tcpdump writes a pcap stream to
a pipe and the stream reader reads it by time (stream.py, ``max_wait``), as ``tcpdump -w
- | minewatch scan -`` would. The user's filter and interface go to tcpdump as argv
entries after ``--``, never through a shell. Kernel drops are what tcpdump reports when
it stops (its "dropped by kernel" line), so this path knows them only at the end.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator

from detector.errors import InputError
from detector.source.batch import RecordBatch
from detector.source.inputs import CaptureInput, read_capture
from detector.source.livestats import CaptureCounters

_DROPPED = re.compile(rb"(\d+) packets? dropped by kernel")
_RECEIVED = re.compile(rb"(\d+) packets? received by filter")
CHUNK = 1024 * 1024  # a pipe window: what arrived within max_wait, at most this much


class TcpdumpCapture:
    """One interface (or ``any``) captured by a tcpdump child process."""

    kind = "tcpdump"

    def __init__(self, interface: str, bpf: str | None, snaplen: int, promisc: bool) -> None:
        tcpdump = shutil.which("tcpdump")
        if tcpdump is None:
            raise InputError("--capture tcpdump: tcpdump is not installed")
        argv = [tcpdump, "-i", interface, "-w", "-", "-U", "-s", str(snaplen), "-q"]
        argv += ["--immediate-mode"] + ([] if promisc else ["-p"])
        if bpf:
            argv += ["--", bpf]
        self.interface = interface
        self.proc = subprocess.Popen(  # noqa: S603 - argv list, no shell
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        self._path = f"/dev/fd/{self.proc.stdout.fileno()}"
        self._counters = CaptureCounters()

    def batches(self, max_wait: float) -> Iterator[RecordBatch]:
        """Record batches as tcpdump writes them, at least every ``max_wait`` seconds
        (empty ones when nothing came). Ends when tcpdump ends; a tcpdump that could not
        start (no such interface, no permission, a bad filter) raises InputError with its
        own one-line message."""
        cap = CaptureInput(self._path, "?", False, 0.0)
        try:
            _, batches = read_capture(cap, CHUNK, max_wait)
        except InputError:
            raise InputError(self._failure()) from None
        for batch in batches:
            self._counters.packets += len(batch)
            yield batch
        if self.proc.wait() != 0 and self._counters.packets == 0:
            raise InputError(self._failure())

    def _failure(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        assert self.proc.stderr is not None
        lines = [ln for ln in self.proc.stderr.read().decode(errors="replace").splitlines() if ln]
        problem = lines[-1] if lines else f"exited with status {self.proc.returncode}"
        return f"{self.interface}: tcpdump: {problem}"

    def counters(self) -> CaptureCounters:
        """What is known so far (kernel drops: only once tcpdump has stopped)."""
        return self._counters

    def close(self) -> None:
        """Stop tcpdump and read its final counts (received by filter, dropped by kernel)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        except ValueError:  # its pipes were read already (_failure)
            err = b""
        if m := _DROPPED.search(err or b""):
            self._counters.kernel_dropped = int(m.group(1))
            self._counters.known_drops = True
        if m := _RECEIVED.search(err or b""):
            self._counters.kernel_received = int(m.group(1))
