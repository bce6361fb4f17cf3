"""Bounded flow state as a struct of numpy arrays plus a sorted hash index.

Why not a dict of Python objects: a Python object per flow costs ~1 KB and makes every
packet a Python operation. Here a flow is one row across typed columns (197 bytes: 116 of
counters and addresses, 81 of behaviour state; plus 12 for its index entry and 4 for the
free list), and lookups for a whole batch are a single ``np.searchsorted``.

A column is one value per flow, or a fixed number of them (``(dtype, width)``: a 2-D
array, one row per flow) for the small per-flow lists of the behaviour state.
"""

from __future__ import annotations

import numpy as np

from detector.compiled import fast

# Column name -> dtype, or (dtype, width). Side A is the endpoint whose (address, port)
# sorts first.
COLUMNS: dict[str, type | tuple[type, int]] = {
    "key": np.uint64,
    "a_hi": np.uint64,
    "a_lo": np.uint64,
    "b_hi": np.uint64,
    "b_lo": np.uint64,
    "a_port": np.uint16,
    "b_port": np.uint16,
    "proto": np.uint8,
    "client_is_a": np.bool_,
    "orient_syn": np.bool_,  # orientation came from a SYN (else a port heuristic)
    "state": np.uint8,  # STATE_* bits
    "touched": np.bool_,  # some payload went to Python: the flow may carry facts
    "inspect": np.uint8,  # sides whose payload still goes to the dissectors (bit 0: A, 1: B)
    "first_ts": np.float64,
    "last_ts": np.float64,
    "pkts_a": np.uint32,
    "pkts_b": np.uint32,
    "bytes_a": np.uint64,
    "bytes_b": np.uint64,
    "payload_a": np.uint32,  # payload bytes, saturating at 4 GiB
    "payload_b": np.uint32,
    "flags_a": np.uint8,
    "flags_b": np.uint8,
    "isn_a": np.uint32,  # first stream byte's sequence number, from the side's SYN
    "isn_b": np.uint32,
    "tunnel": np.uint64,  # the tunnel its packets come in (decode._tunnel_keys), 0 none
    # -- behaviour state of TCP flows (detector/behaviour.py says how it is updated; C
    # flow_behaviour in csrc/flow.c and its Python twin). A *message* is a run of one side's
    # payload packets, ended by the other side's payload or > 50 ms of silence. Times are
    # float32 seconds after first_ts; UDP and other flows keep zeros. 81 bytes.
    "msg_side": np.uint8,  # side of the message in progress: 0 none, 1 A, 2 B
    "msg_bytes": np.uint32,  # its payload bytes so far (saturating)
    "msg_seq": np.uint16,  # low 16 bits of its last segment's seq (a repeat: retransmission)
    "msgs_a": np.uint32,  # messages each side started
    "msgs_b": np.uint32,
    "msg_sq_a": np.float32,  # sum of squared message sizes (bytes^2): their spread
    "msg_sq_b": np.float32,
    "first_size": (np.int16, 8),  # first 8 messages' sizes, + from A, - from B (saturating)
    "first_gap": np.uint32,  # the silence before each of them: 8 nibbles, log2 of ms
    "pushes": np.uint16,  # server messages after a server message: nobody asked
    "push_first": np.float32,  # start of the first and the last push
    "push_last": np.float32,
    "push_sq": np.float32,  # sum of squared push-to-push intervals (s^2)
    "push_hist": (np.uint8, 8),  # push intervals by log2 class: <2 s, 2-4 ... >=128 s
    "answer_delay": np.float32,  # summed delays of answers (client message start -> answer)
    "req_first": np.float32,  # start of the client's first and last message
    "req_last": np.float32,
    "req_sq": np.float32,  # sum of squared intervals between client messages (s^2)
}
STATE_USED = 1
STATE_FIN_A = 2
STATE_FIN_B = 4
STATE_RST = 8
STATE_SYN_A = 16  # isn_a is known
STATE_SYN_B = 32


class FlowTable:
    """Rows of flow state; slots are reused after a flow is released."""

    def __init__(self, max_flows: int, initial: int = 4096) -> None:
        self.max_flows = max_flows
        self.capacity = min(initial, max_flows)
        self.cols: dict[str, np.ndarray] = {
            name: np.zeros(_shape(self.capacity, dt), dtype=_dtype(dt))
            for name, dt in COLUMNS.items()
        }
        self.free = np.arange(self.capacity - 1, -1, -1, dtype=np.int32)  # a stack
        self.n_free = self.capacity
        self.index_keys = np.empty(0, dtype=np.uint64)
        self.index_slots = np.empty(0, dtype=np.int32)
        # Rows taken out of the index (detach) until they are released: flows whose 5-tuple
        # came back after its idle timeout (or the close timeout, once closed), which the
        # batch's sweep ends; with the time it came back (what the sweep names the end
        # by). In the order they were taken out.
        self.detached_keys = np.empty(0, dtype=np.uint64)
        self.detached_slots = np.empty(0, dtype=np.int64)
        self.detached_at = np.empty(0, dtype=np.float64)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    @property
    def used(self) -> int:
        return self.capacity - self.n_free

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Slot of each key, -1 where the key is not in the table (keys sorted or not)."""
        n = self.index_keys.shape[0]
        if n == 0:
            return np.full(keys.shape[0], -1, dtype=np.int64)
        pos = np.searchsorted(self.index_keys, keys)
        pos_c = np.minimum(pos, n - 1)
        hit = self.index_keys[pos_c] == keys
        return np.where(hit, self.index_slots[pos_c].astype(np.int64), -1)

    def can_allocate(self, n: int) -> bool:
        """Grow if needed; False if ``n`` rows do not fit even at ``max_flows``."""
        if n <= self.n_free:
            return True
        while self.capacity < self.max_flows and self.n_free < n:
            self._grow()
        return n <= self.n_free

    def allocate(
        self, keys: np.ndarray, indexed: np.ndarray | None = None, at: np.ndarray | None = None
    ) -> np.ndarray:
        """Take a slot for each new key and index it, or only those ``indexed`` marks (each
        indexed key unique and not in the index; the others are kept as detached rows, in
        their order, with the times ``at`` gives them in that order, as ``detach`` keeps
        them - NaN when None); call can_allocate first."""
        n = keys.shape[0]
        slots = self.free[self.n_free - n : self.n_free][::-1].astype(np.int64)
        self.n_free -= n
        if fast is not None:
            fast.zero_rows(tuple(self.cols.values()), slots)
        else:
            _zero_rows_numpy(self.cols, slots)
        self.cols["key"][slots] = keys
        self.cols["state"][slots] = STATE_USED
        if indexed is None:
            self._index_insert(keys, slots)
        else:
            self._index_insert(keys[indexed], slots[indexed])
            out = ~indexed
            when = np.full(int(np.count_nonzero(out)), np.nan) if at is None else at
            self._add_detached(keys[out], slots[out], when)
        return slots

    def detach(self, slots: np.ndarray, at: np.ndarray | None = None) -> None:
        """Take flows out of the key index but keep their rows (until ``release``): a
        lookup of their key no longer finds them, ``used_slots`` still lists them.
        ``at``: per flow, the time its key came back (NaN: not known)."""
        if slots.shape[0] == 0:
            return
        drop = _index_drop_compiled if fast is not None else _index_drop_numpy
        self.index_keys, self.index_slots = drop(
            self.index_keys, self.index_slots, slots, self.capacity
        )
        when = np.full(slots.shape[0], np.nan) if at is None else at
        self._add_detached(self.cols["key"][slots], slots.astype(np.int64), when)

    def _add_detached(self, keys: np.ndarray, slots: np.ndarray, at: np.ndarray) -> None:
        if slots.shape[0]:
            self.detached_keys = np.r_[self.detached_keys, keys]
            self.detached_slots = np.r_[self.detached_slots, slots]
            self.detached_at = np.r_[self.detached_at, at.astype(np.float64)]

    def release(self, slots: np.ndarray) -> None:
        """Forget flows: drop them from the index and return their slots."""
        if slots.shape[0] == 0:
            return
        self.cols["state"][slots] = 0
        self.cols["inspect"][slots] = 0
        drop = _index_drop_compiled if fast is not None else _index_drop_numpy
        self.index_keys, self.index_slots = drop(
            self.index_keys, self.index_slots, slots, self.capacity
        )
        if self.detached_slots.shape[0]:
            released = np.zeros(self.capacity, dtype=bool)
            released[slots] = True
            keep = ~released[self.detached_slots]
            self.detached_keys = self.detached_keys[keep]
            self.detached_slots = self.detached_slots[keep]
            self.detached_at = self.detached_at[keep]
        self.free[self.n_free : self.n_free + slots.shape[0]] = slots
        self.n_free += slots.shape[0]

    def used_slots(self) -> np.ndarray:
        """Every flow's slot, in key order (what the sweep ends, in this order: a split
        scan puts its workers' ended flows together by key); a key's detached rows come
        before its indexed one, in the order they were taken out (oldest first)."""
        if self.detached_slots.shape[0] == 0:
            return self.index_slots.astype(np.int64)
        keys = np.r_[self.detached_keys, self.index_keys]
        slots = np.r_[self.detached_slots, self.index_slots.astype(np.int64)]
        return slots[np.argsort(keys, kind="stable")]

    def indexed_slots(self) -> np.ndarray:
        """The slots a key lookup can find (every flow but the detached), in key order."""
        return self.index_slots.astype(np.int64)

    def _index_insert(self, keys: np.ndarray, slots: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        keys, slots = keys[order], slots[order]
        merge = _index_merge_compiled if fast is not None else _index_merge_numpy
        self.index_keys, self.index_slots = merge(self.index_keys, self.index_slots, keys, slots)

    def _grow(self) -> None:
        # +25% steps keep over-allocation (and so bytes per tracked flow) small.
        new_cap = min(max(self.capacity + 4096, self.capacity * 5 // 4), self.max_flows)
        extra = new_cap - self.capacity
        for name, col in self.cols.items():
            grown = np.zeros((new_cap, *col.shape[1:]), dtype=col.dtype)
            grown[: self.capacity] = col
            self.cols[name] = grown
        free = np.empty(new_cap, dtype=np.int32)
        free[: self.n_free] = self.free[: self.n_free]
        free[self.n_free : self.n_free + extra] = np.arange(new_cap - 1, self.capacity - 1, -1)
        self.free = free
        self.n_free += extra
        self.capacity = new_cap

    def state_bytes(self) -> int:
        """Bytes of flow state held right now (columns, index and free list)."""
        total = sum(col.nbytes for col in self.cols.values())
        index = self.index_keys.nbytes + self.index_slots.nbytes
        detached = self.detached_keys.nbytes + self.detached_slots.nbytes + self.detached_at.nbytes
        return total + index + detached + self.free.nbytes


def _index_drop_numpy(
    keys: np.ndarray, slots: np.ndarray, gone: np.ndarray, capacity: int
) -> tuple[np.ndarray, np.ndarray]:
    """The key index (``keys``, ``slots``) without the entries whose slot is in ``gone``
    (slots below ``capacity``): ``_index_drop_compiled``'s twin."""
    dropped = np.zeros(capacity, dtype=bool)
    dropped[gone] = True
    keep = ~dropped[slots]
    return keys[keep], slots[keep]


def _index_drop_compiled(
    keys: np.ndarray, slots: np.ndarray, gone: np.ndarray, capacity: int
) -> tuple[np.ndarray, np.ndarray]:
    """_index_drop_numpy by ``_fast.index_drop``: one pass over the index, into new
    arrays (views of their first entries: the index is replaced, never grown in place)."""
    n = keys.shape[0]
    keys_out = np.empty(n, dtype=np.uint64)
    slots_out = np.empty(n, dtype=np.int32)
    count = fast.index_drop(
        keys, slots, np.ascontiguousarray(gone, dtype=np.int64), capacity, keys_out, slots_out
    )
    return keys_out[:count], slots_out[:count]


def _index_merge_numpy(
    index_keys: np.ndarray, index_slots: np.ndarray, keys: np.ndarray, slots: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The key index with new entries (``keys`` in order, their ``slots``) inserted, each
    before the index's equal keys: ``_index_merge_compiled``'s twin."""
    pos = np.searchsorted(index_keys, keys)
    return (
        np.insert(index_keys, pos, keys),
        np.insert(index_slots, pos, slots.astype(np.int32)),
    )


def _index_merge_compiled(
    index_keys: np.ndarray, index_slots: np.ndarray, keys: np.ndarray, slots: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """_index_merge_numpy by ``_fast.index_merge``: one merge pass (np.insert built a mask
    of the whole new index and copied through it, for the keys and again the slots)."""
    total = index_keys.shape[0] + keys.shape[0]
    keys_out = np.empty(total, dtype=np.uint64)
    slots_out = np.empty(total, dtype=np.int32)
    fast.index_merge(
        index_keys, index_slots, np.ascontiguousarray(keys, dtype=np.uint64),
        np.ascontiguousarray(slots, dtype=np.int64), keys_out, slots_out,
    )  # fmt: skip
    return keys_out, slots_out


def _zero_rows_numpy(cols: dict[str, np.ndarray], slots: np.ndarray) -> None:
    """Rows ``slots`` of every column set to zero: ``_fast.zero_rows``' twin."""
    for col in cols.values():
        col[slots] = 0


def _dtype(spec: type | tuple[type, int]) -> type:
    return spec[0] if isinstance(spec, tuple) else spec


def _shape(rows: int, spec: type | tuple[type, int]) -> int | tuple[int, int]:
    return (rows, spec[1]) if isinstance(spec, tuple) else rows
