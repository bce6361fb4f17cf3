"""RFC 6455 framing for one direction of a WebSocket: bytes in, whole messages out.

Why a reader of its own: after an HTTP Upgrade the stream is no longer lines or HTTP
messages but frames - a 2-byte head (FIN, RSV1-3, opcode, MASK, 7-bit length), a 16- or
64-bit extended length, a 4-byte masking key on every client frame (RFC 6455 §5.2-§5.3),
then the payload. A message may be cut into fragments (a first frame, continuation frames,
the last with FIN), with control frames (ping, pong, close) between them (§5.4-§5.5).
With the permessage-deflate extension (RFC 7692) a message whose first frame has RSV1 set
is a raw DEFLATE stream; by default each direction keeps one LZ77 window across messages.

Everything is bounded, because the bytes come from whoever wrote the page or the proxy:

* only the frame being read is buffered, and a message is kept up to ``MAX_MESSAGE``
  bytes; the payload of a bigger one is skipped as it streams by (counted ``oversized``)
  and reading goes on at the next frame;
* a compressed message is inflated to at most ``MAX_MESSAGE`` bytes, and a direction to
  ``MAX_INFLATED`` in all: a decompression bomb costs one bounded ``decompress`` call and
  is counted ``inflate_limit``; the direction's later compressed messages are then
  counted ``unreadable`` (the shared window is lost), its plain ones still read;
* a frame that breaks the framing rules (reserved opcode or RSV bits, a fragmented or
  oversized control frame, a continuation with nothing to continue, a 64-bit length with
  its top bit set) ends the direction quietly: ``stopped`` says why, ``malformed`` counts it.

Masking is not enforced: a passive reader unmasks what is masked and reads what is not
(counted ``unexpected_mask``) - a miner gains nothing by breaking the RFC except that
strict readers stop looking.
"""

from __future__ import annotations

import struct
import zlib

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_CONTROL_NAMES = {OP_CLOSE: "close", OP_PING: "ping", OP_PONG: "pong"}

MAX_MESSAGE = 64 * 1024  # bytes of one message (reassembled, and inflated) kept for reading
MAX_INFLATED = 1024 * 1024  # bytes inflated per direction, all messages together
MAX_CONTROL = 125  # RFC 6455 §5.5: control frames carry at most 125 bytes
_DEFLATE_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.2: removed by the sender, put back here
_LEN16 = struct.Struct(">H")
_LEN64 = struct.Struct(">Q")


class Message:
    """One whole data message: its opcode (text or binary) and payload (inflated).

    A plain slotted class: a NamedTuple or dataclass costs ~0.4 ms of every start-up to
    build, for a type only upgraded flows ever use."""

    __slots__ = ("opcode", "payload")

    def __init__(self, opcode: int, payload: bytes) -> None:
        self.opcode = opcode
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.opcode == other.opcode and self.payload == other.payload

    __hash__ = None  # type: ignore[assignment]  # compared in tests, never a key

    def __repr__(self) -> str:
        return f"Message({self.opcode}, {self.payload[:40]!r})"


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte masking key repeated (RFC 6455 §5.3), as one big
    integer operation rather than a Python loop per byte."""
    n = len(payload)
    if not n:
        return payload
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )


class FrameReader:
    """Frames of one direction, fed in order; ``feed`` returns the messages completed.

    ``counts`` is updated as frames go by (a dict shared by both directions of a flow
    gives the flow's totals): frames, messages, text, binary, ping, pong, close,
    fragments, compressed, oversized, inflate_limit, unreadable, unexpected_mask,
    malformed. ``expect_mask`` says whether this direction is the client's."""

    __slots__ = (
        "counts",
        "expect_mask",
        "deflate",
        "_inflater",
        "_inflated",
        "_buf",
        "_skip",
        "_parts",
        "_size",
        "_op",
        "_compressed",
        "_dropping",
        "stopped",
        "closed",
    )

    def __init__(self, counts: dict[str, int], expect_mask: bool, deflate: bool) -> None:
        self.counts = counts
        self.expect_mask = expect_mask
        self.deflate = deflate  # permessage-deflate was negotiated: RSV1 means compressed
        self._inflater: zlib._Decompress | None = None
        self._inflated = 0  # bytes inflated so far (MAX_INFLATED)
        self._buf = b""  # bytes of the frame being read
        self._skip = 0  # payload bytes of an oversized frame still to pass by
        self._parts: list[bytes] = []  # fragments of the message being reassembled
        self._size = 0  # their total length
        self._op: int | None = None  # opcode of the message being reassembled
        self._compressed = False
        self._dropping = False  # the message being reassembled is too big: drop it
        self.stopped: str | None = None  # why reading ended (malformed framing)
        self.closed = False  # a close frame was read: no more data frames may follow

    @property
    def done(self) -> bool:
        """Nothing more can be read in this direction."""
        return self.stopped is not None or self.closed

    def feed(self, data: bytes) -> list[Message]:
        """Read ``data`` (the next bytes of this direction); the messages it completed."""
        out: list[Message] = []
        if self.done:
            return out
        buf = self._buf + data if self._buf else data
        pos = 0
        while not self.done:
            if self._skip:
                step = min(self._skip, len(buf) - pos)
                self._skip -= step
                pos += step
                if self._skip:
                    break
                continue
            used = self._frame(buf, pos, out)
            if not used:
                break
            pos += used
        self._buf = b"" if self.done else buf[pos:]
        return out

    def stop(self, reason: str, malformed: bool = True) -> None:
        """End this direction: malformed framing (counted), or a hole in the stream."""
        if self.stopped is None:
            self.stopped = reason
            if malformed:
                self._count("malformed")
        self._buf = b""
        self._parts = []

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    def _frame(self, buf: bytes, pos: int, out: list[Message]) -> int:
        """Read one frame at ``pos``; the bytes it used (0: wait for more)."""
        avail = len(buf) - pos
        if avail < 2:
            return 0
        b0, b1 = buf[pos], buf[pos + 1]
        fin, rsv1, op = b0 & 0x80, b0 & 0x40, b0 & 0x0F
        masked, length = b1 & 0x80, b1 & 0x7F
        head = 2
        if length == 126:
            if avail < 4:
                return 0
            (length,) = _LEN16.unpack_from(buf, pos + 2)
            head = 4
        elif length == 127:
            if avail < 10:
                return 0
            (length,) = _LEN64.unpack_from(buf, pos + 2)
            head = 10
        key_at = pos + head
        if masked:
            head += 4
        if avail < head:
            return 0
        why = self._broken(b0 & 0x30, rsv1, op, fin, length)
        if why is not None:
            self.stop(why)
            return 0
        is_data = not op & 0x8
        if is_data and self._drops(op, length):
            self._head_read(masked)
            if op != OP_CONTINUATION:
                self._op, self._compressed = op, bool(rsv1)
            self._skip = length  # pass the payload by as it streams, never kept
            if fin:
                self._end_dropped()
            return head
        if avail < head + length:
            return 0
        self._head_read(masked)
        payload = buf[pos + head : pos + head + length]
        if masked:
            payload = unmask(payload, buf[key_at : key_at + 4])
        if is_data:
            self._data(op, fin, rsv1, payload, out)
        else:
            self._control(op)
        return head + length

    def _head_read(self, masked: int) -> None:
        self._count("frames")
        if bool(masked) != self.expect_mask:
            self._count("unexpected_mask")

    def _broken(self, rsv23: int, rsv1: int, op: int, fin: int, length: int) -> str | None:
        """Why a frame head breaks RFC 6455 §5.2/§5.4/§5.5 or RFC 7692 §6 (None: it is fine)."""
        if rsv23:
            return "RSV2/RSV3 set (no extension negotiated them)"
        if length >> 63:
            return "64-bit length with its top bit set"
        if op not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
            return f"reserved opcode {op:#x}"
        if op & 0x8:
            if not fin or length > MAX_CONTROL:
                return "fragmented or oversized control frame"
            if rsv1:
                return "RSV1 on a control frame"
            return None
        if rsv1 and (not self.deflate or op == OP_CONTINUATION):
            return "RSV1 without permessage-deflate or on a continuation"
        if op == OP_CONTINUATION and self._op is None:
            return "continuation frame with no message to continue"
        if op != OP_CONTINUATION and self._op is not None:
            return "new message before the fragmented one ended"
        return None

    def _drops(self, op: int, length: int) -> bool:
        """Does this data frame belong to a message too big to keep (MAX_MESSAGE)? The
        first frame that makes it so is counted ``oversized``; the message is dropped."""
        if op == OP_CONTINUATION and self._dropping:
            return True
        size = self._size if op == OP_CONTINUATION else 0
        if size + length <= MAX_MESSAGE:
            return False
        self._dropping = True
        self._parts, self._size = [], 0
        self._count("oversized")
        return True

    def _end_dropped(self) -> None:
        """The last frame of a dropped message: a compressed one takes the shared window
        with it."""
        if self._compressed:
            self._lose_window()
        self._op, self._parts, self._size = None, [], 0
        self._compressed = self._dropping = False

    def _control(self, op: int) -> None:
        self._count(_CONTROL_NAMES[op])
        if op == OP_CLOSE:
            self.closed = True

    def _data(self, op: int, fin: int, rsv1: int, payload: bytes, out: list[Message]) -> None:
        if op != OP_CONTINUATION:
            self._op, self._compressed = op, bool(rsv1)
            self._parts, self._size = [], 0
        if not fin or op == OP_CONTINUATION:
            self._count("fragments")
        self._parts.append(payload)
        self._size += len(payload)
        if not fin:
            return
        whole = b"".join(self._parts) if len(self._parts) > 1 else self._parts[0]
        kind, compressed = self._op, self._compressed
        self._op, self._parts, self._size, self._compressed = None, [], 0, False
        assert kind is not None
        if compressed:
            self._count("compressed")
            inflated = self._inflate(whole)
            if inflated is None:
                return
            whole = inflated
        self._count("messages")
        self._count("text" if kind == OP_TEXT else "binary")
        out.append(Message(kind, whole))

    def _inflate(self, data: bytes) -> bytes | None:
        """Inflate one compressed message (RFC 7692 §7.2.2), bounded; None if it cannot be
        read (counted)."""
        if self._inflated >= MAX_INFLATED:
            self._count("unreadable")
            return None
        inflater = self._inflater
        if inflater is None or inflater.eof:  # a sender may end its stream (BFINAL): begin anew
            inflater = self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        limit = min(MAX_MESSAGE, MAX_INFLATED - self._inflated)
        try:
            out = inflater.decompress(data + _DEFLATE_TAIL, limit + 1)
        except zlib.error:
            self._count("unreadable")
            self._lose_window()
            return None
        self._inflated += len(out)
        if len(out) > limit or inflater.unconsumed_tail:
            self._count("inflate_limit")
            self._lose_window()
            return None
        return out

    def _lose_window(self) -> None:
        """The shared LZ77 window is gone (a message could not be inflated whole): later
        compressed messages of this direction cannot be read."""
        self._inflated = MAX_INFLATED
        self._inflater = None
