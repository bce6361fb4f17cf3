"""Capture filters: a tcpdump-style expression compiled to classic BPF for the kernel.

The compiler is libpcap's (the filter language is its own; writing another would only
disagree with tcpdump). It is called through ``ctypes`` on a dead handle - no device is
opened - and when libpcap's shared library is missing, ``tcpdump -ddd`` (run with an
argument list, never a shell) prints the same program as numbers. Every program is
compiled for the interface's link type and the snapshot length, so an accepted packet's
return value is the snaplen and the kernel itself truncates what it copies to the ring.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import shutil
import socket
import struct
import subprocess

from detector.errors import InputError

Program = list[tuple[int, int, int, int]]  # struct sock_filter: code, jt, jf, k

# LINKTYPE (what a record batch carries) -> (DLT for pcap_open_dead, name for tcpdump -y).
# DLT_RAW is 12 on Linux (LINKTYPE_RAW 101 is the file format's number).
_DLT = {1: (1, "EN10MB"), 101: (12, "RAW")}
# PCAP_NETMASK_UNKNOWN (pcap/pcap.h): "ip broadcast" then fails to compile, as in tcpdump.
_NETMASK_UNKNOWN = 0xFFFFFFFF
# SO_ATTACH_FILTER (asm-generic/socket.h); BPF_RET | BPF_K (linux/filter.h).
SO_ATTACH_FILTER = 26
_BPF_RET_K = 0x06
MAX_SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN
_TCPDUMP_TIMEOUT = 20.0


class _BpfInsn(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint32),
    ]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


def accept_all(snaplen: int) -> Program:
    """The program of no filter: keep every packet, ``snaplen`` bytes of it."""
    return [(_BPF_RET_K, 0, 0, snaplen)]


def compile_filter(expr: str, linktype: int, snaplen: int) -> Program:
    """``expr`` as a classic BPF program for ``linktype``; InputError naming the filter
    when it does not compile. libpcap when it can be loaded, else tcpdump."""
    _check(expr, linktype)
    if _libpcap() is not None:
        return compile_with_libpcap(expr, linktype, snaplen)
    return compile_with_tcpdump(expr, linktype, snaplen)


def _check(expr: str, linktype: int) -> None:
    if linktype not in _DLT:
        raise InputError(f"capture filter {expr!r}: link type {linktype} not supported")
    if "\x00" in expr:
        raise InputError(f"capture filter {expr!r}: contains a NUL character")


@functools.cache
def _libpcap() -> ctypes.CDLL | None:
    """libpcap's shared library (Debian: libpcap0.8, which tcpdump depends on), or None."""
    names = [ctypes.util.find_library("pcap"), "libpcap.so.1", "libpcap.so.0.8"]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(_BpfProgram), ctypes.c_char_p, ctypes.c_int,
            ctypes.c_uint32,
        ]  # fmt: skip
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.restype = None
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
        lib.pcap_close.restype = None
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        return lib
    return None


def compile_with_libpcap(expr: str, linktype: int, snaplen: int) -> Program:
    """libpcap's ``pcap_compile`` on a dead handle (optimised, as tcpdump does)."""
    _check(expr, linktype)
    lib = _libpcap()
    if lib is None:
        raise InputError(f"capture filter {expr!r}: libpcap is not installed")
    handle = lib.pcap_open_dead(_DLT[linktype][0], snaplen)
    if not handle:
        raise InputError(f"capture filter {expr!r}: libpcap could not start")
    try:
        prog = _BpfProgram()
        if lib.pcap_compile(handle, ctypes.byref(prog), expr.encode(), 1, _NETMASK_UNKNOWN) != 0:
            reason = (lib.pcap_geterr(handle) or b"does not compile").decode(errors="replace")
            raise InputError(f"capture filter {expr!r}: {_one_line(reason)}")
        try:
            return [(i.code, i.jt, i.jf, i.k) for i in prog.bf_insns[: prog.bf_len]]
        finally:
            lib.pcap_freecode(ctypes.byref(prog))
    finally:
        lib.pcap_close(handle)


def compile_with_tcpdump(expr: str, linktype: int, snaplen: int) -> Program:
    """``tcpdump -ddd``'s numbers: the count, then one ``code jt jf k`` line each."""
    _check(expr, linktype)
    tcpdump = shutil.which("tcpdump") or shutil.which("tcpdump", path="/usr/sbin:/usr/bin")
    if tcpdump is None:
        raise InputError(f"capture filter {expr!r}: neither libpcap nor tcpdump is installed")
    argv = [tcpdump, "-ddd", "-y", _DLT[linktype][1], "-s", str(snaplen), "--", expr]
    try:
        run = subprocess.run(argv, capture_output=True, text=True, timeout=_TCPDUMP_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"capture filter {expr!r}: tcpdump failed ({exc})") from None
    if run.returncode != 0:
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"tcpdump exit status {run.returncode}"
        raise InputError(f"capture filter {expr!r}: {_one_line(reason)}")
    try:
        numbers = [[int(x) for x in line.split()] for line in run.stdout.splitlines() if line]
        count = numbers[0][0]
        program = [(c, jt, jf, k) for c, jt, jf, k in numbers[1:]]
    except (ValueError, IndexError):
        raise InputError(f"capture filter {expr!r}: tcpdump printed no program") from None
    if count != len(program) or not program:
        raise InputError(f"capture filter {expr!r}: tcpdump printed no program")
    return program


def _one_line(text: str) -> str:
    return " ".join(text.split())


def attach(sock: socket.socket, program: Program) -> None:
    """Attach ``program`` to ``sock`` (SO_ATTACH_FILTER with a struct sock_fprog)."""
    insns = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buf = ctypes.create_string_buffer(insns, len(insns))
    fprog = struct.pack("@HP", len(program), ctypes.addressof(buf))  # kernel copies it
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
