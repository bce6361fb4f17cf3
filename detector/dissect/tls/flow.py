"""TLS on a TCP flow: hello facts, fingerprints, certificate, then record sizes.

The package's one module that knows flows and the dissector interface (the parsers beside
it know neither), and the home of the caches in front of the fingerprints. It adapts
records.TLSStream (one per side) to the dissector hooks. Facts go to
``FlowFacts.tls``: SNI, ALPN, JA3/JA3S/JA4, versions, certificate names; and the first
application-data record sizes per side with their times, which the behavioural model uses
to spot TLS-wrapped Stratum (small client records, periodic near-constant server pushes).
A side is done as soon as its handshake facts are in (the client's hello; the server's
hello plus certificate or the start of encryption), or after MAX_RECORDS records of a
session picked up mid-way: everything after that is encrypted, and its sizes and timing
are counted per flow by the vectorised flow stage instead of in Python.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from detector.compiled import fast
from detector.dissect.base import MAYBE, NO, YES, InspectContext, Probe, StreamDissector, Upgrade
from detector.dissect.tls import fingerprint
from detector.dissect.tls.hello import ClientHello, ServerHello, hello_key
from detector.dissect.tls.records import (
    CONTENT_APPLICATION_DATA,
    CONTENT_HANDSHAKE,
    MAX_RECORD_LEN,
    AppData,
    StreamState,
    TLSEvent,
    TLSStream,
)
from detector.dissect.tls.x509 import Certificate, parse_certificate
from detector.facts import FlowFacts, new_facts

MAX_RECORDS = 4
KEPT_RECORDS = 2 * MAX_RECORDS  # application-data records kept with their times, per flow
VERSION_NAMES = {
    0x0300: "SSLv3",
    0x0301: "TLSv1",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
}


class Tls(StreamDissector):
    """TLS handshakes and record sizes on both sides of a flow."""

    name: ClassVar[str] = "tls"
    first_bytes: ClassVar[frozenset[int] | None] = frozenset((0x14, 0x15, 0x16, 0x17))

    def __init__(self, ctx: InspectContext | None = None) -> None:
        self.streams = (TLSStream(), TLSStream())
        self.app_records = [0, 0]
        self.hello = [False, False]  # this side's ClientHello / ServerHello parsed
        self.client_side: int | None = None  # the side that sent the ClientHello
        self.certificate = False

    @staticmethod
    def probe(data: bytes, ports: tuple[int, int] = (0, 0)) -> Probe:
        if len(data) < 3:
            return MAYBE if data[:1] in (b"\x16", b"\x17", b"") else NO
        if data[0] in (0x16, 0x17, 0x15, 0x14) and data[1] == 0x03 and data[2] <= 0x04:
            return YES
        return NO

    def on_data(self, side: int, data: bytes, ts: float, facts: FlowFacts) -> bool:
        stream = self.streams[side]
        _apply(self, side, stream.feed(data), ts, facts)
        if stream.state is StreamState.NOT_TLS:
            return False
        facts.app_protos.add("tls")
        return not _side_done(self, side, stream.encrypted)

    def on_gap(self, side: int, facts: FlowFacts) -> None:
        facts.gaps += 1
        self.app_records[side] = MAX_RECORDS  # cannot resynchronise records without a length

    def on_upgrade(self, side: int, upgrade: Upgrade, facts: FlowFacts) -> None:
        """TLS after STARTTLS or through a tunnel: which, and a tunnel's target (the
        pool-list match takes its port: the flow's own port is the proxy's)."""
        tls = facts.tls
        tls.setdefault("upgrade", upgrade.via)
        if upgrade.host and "tunnel_host" not in tls:
            tls["tunnel_host"] = upgrade.host[:253]
        if upgrade.port and "tunnel_port" not in tls:
            tls["tunnel_port"] = upgrade.port


class _TlsState(Protocol):
    """What the event handling reads and writes: a Tls dissector or a FirstPackets."""

    app_records: list[int]
    hello: list[bool]
    client_side: int | None
    certificate: bool


def _apply(
    state: _TlsState, side: int, events: list[TLSEvent], ts: float, facts: FlowFacts
) -> None:
    """Turn one side's TLS events into facts (the general path; the first-packet path,
    FirstPackets.take, reads the C reader's tuples and shares the helpers below)."""
    for event in events:
        if isinstance(event, AppData):
            _app_data(state, side, [event.length], ts, facts)
        elif isinstance(event, ClientHello):
            _hello_from(state, side, facts, client=True)
            if "ja3" not in facts.tls:
                _client_hello_facts(facts, _fingerprint_key(event), event.sni, event.alpn, event)
        elif isinstance(event, ServerHello):
            _hello_from(state, side, facts, client=False)
            _server_hello_facts(
                facts, (event.handshake_version, event.cipher, event.extensions), event
            )
        elif isinstance(event, Certificate):
            _certificate(state, event, facts)


def _app_data(
    state: _TlsState, side: int, lengths: list[int] | tuple[()], ts: float, facts: FlowFacts
) -> None:
    """Application-data records of one packet: counted, and the first few kept with
    their time and size (for the behavioural model)."""
    state.app_records[side] += len(lengths)
    records = facts.tls.get("records")
    if records is None:  # (not setdefault: that would build a list on every call)
        records = facts.tls["records"] = []
    room = KEPT_RECORDS - len(records)
    if room > 0:
        when = _round6(ts)  # round(ts, 6)
        # (a loop, not a list comprehension: in Python 3.11 that is a function built and
        # called, on every packet with application data kept - most hold one record,
        # which fits: no slice copied then)
        for length in lengths if len(lengths) <= room else lengths[:room]:
            records.append((when, side, length))


def _py_round6(ts: float) -> float:
    """round(ts, 6): the pure twin of ``_fast.round6``, which gives the same float without
    Python's decimal conversion (~4,000 instructions a call; once per packet that keeps
    application data)."""
    return round(ts, 6)


_round6 = fast.round6 if fast is not None else _py_round6


def _hello_from(state: _TlsState, side: int, facts: FlowFacts, client: bool) -> None:
    """A hello came from ``side``: it votes for who the client is. (FirstPackets.take
    writes this out in its loops over the hellos: a change here goes there too.)"""
    state.hello[side] = True
    if client:
        facts.sides[side].client_votes += 2
        state.client_side = side
    else:
        facts.sides[1 - side].client_votes += 1


def _certificate(state: _TlsState, cert: Certificate, facts: FlowFacts) -> None:
    if "subject" not in facts.tls:
        state.certificate = True
        facts.tls["subject"] = cert.subject
        facts.tls["issuer"] = cert.issuer
        facts.tls["self_signed"] = cert.self_signed


def _side_done(state: _TlsState, side: int, encrypted: bool) -> bool:
    return _settled(
        state.hello[side],
        side == state.client_side,
        state.certificate,
        encrypted,
        state.app_records[side],
    )


def _settled(hello: bool, client: bool, certificate: bool, encrypted: bool, records: int) -> bool:
    """A side is done once its handshake facts are in (the client's hello; the server's
    hello plus certificate or the start of encryption), or after MAX_RECORDS records."""
    return (hello and (client or certificate or encrypted)) or records >= MAX_RECORDS


class FirstPackets:
    """A TLS flow each of whose sides so far came as one packet that settled it.

    Most TLS flows send a ClientHello in one segment and a server flight whose first
    segment holds the ServerHello and the start of encryption (or the certificate):
    after one packet per side there is nothing left to learn. For those packets the
    inspector skips reassembly, dissector choice and the stream parser and calls
    ``take``, which reads the packet's whole records in one C call and leaves exactly the
    facts and state the general path would (tests run every capture both ways). Any
    packet it cannot settle that way - split records, a hello spread over packets, a
    side that wants more - goes the general way, starting from ``to_dissector``.
    """

    __slots__ = (
        "facts", "ports", "app_records", "hello", "client_side", "certificate", "taken",
        "held_side", "held", "held_bytes", "held_next", "held_cut", "going",
    )  # fmt: skip

    def __init__(self, ports: tuple[int, int]) -> None:
        self.facts = new_facts()
        self.ports = ports
        self.app_records = [0, 0]
        self.hello = [False, False]
        self.client_side: int | None = None
        self.certificate = False
        self.taken = [-1, -1]  # payload bytes of the side's packets, -1: none yet
        # A side whose first packets are held (see hold): which, its packets as
        # (seq, bytes, time), their bytes joined, and the sequence number that follows.
        self.held_side = -1
        self.held: tuple[tuple[int, bytes, float], ...] = ()  # (no list for every flow)
        self.held_bytes = b""
        self.held_next = 0
        # Where the held bytes' last record, a handshake record they cut short, starts and
        # where its whole messages end, when they were read that way (_cut_point): a
        # packet that leaves both where they were adds nothing the reader would see.
        self.held_cut: tuple[int, int] | None = None
        # Sides read packet by packet while their records are counted (see _go_on), by
        # side: None, or [next sequence number, bytes read, records, bytes still to come
        # of a cut application_data record, that record's version].
        self.going: list[list[int] | None] | None = None

    def take(
        self,
        side: int,
        data: bytes,
        ts: float,
        budget: int,
        seq: int = 0,
        hold: bool = False,
        at_start: bool = True,
    ) -> bool:
        """Settle ``side`` with this, its first packet (``at_start``: where its stream
        starts, as far as is known) - or with the packets held so far and this one, which
        must follow them - or hold it (only if ``hold``), or read it and go on with the
        side's next packet (``_go_on``), or return False having changed nothing (the
        packet then goes the general way, after the held ones: Inspector._replay)."""
        if self.taken[side] >= 0 or _tls_first is None:
            return False
        going = self.going[side] if self.going is not None else None
        if going is not None:
            return self._go_on(side, going, data, ts, budget, seq)
        walked: tuple[int, int] | None | bool = False  # _cut_point(whole), once asked
        if self.held_side >= 0:
            if side != self.held_side or seq != self.held_next:
                return False
            whole = self.held_bytes + data
            # The next part of a message the held bytes cut (a certificate over several
            # packets), which leaves the same whole messages: _fast.tls_first of ``whole``
            # is None (its walk stops at that handshake record or at a whole record before
            # it), and that of its whole messages reads the same bytes as it read for the
            # held ones - which did not settle the side, and nothing has changed since
            # (another packet would have left this path). So the packet is held again, as
            # the reading below would decide, without reading the flight twice more.
            if self.held_cut is not None and hold and len(whole) < budget:
                walked = _cut_point(whole)
                if walked == self.held_cut:
                    self._hold(side, seq, data, whole, ts, self.held_cut)
                    return True
        elif not at_start:
            return False
        else:
            whole = data
        size = len(whole)  # (once: read up to three times below)
        if size > budget:
            return False
        # A handshake record the packet cut short (a certificate over a few packets) is
        # read as the general path would have read it so far: its whole messages. Asked
        # first: where the last record is such a record, ``_fast.tls_first(whole)`` is
        # None (its walk stops at that record, or at one before it that it declines), so
        # reading ``whole`` first - a ServerHello parsed and its objects built, to be
        # thrown away - is skipped for some 6,000 server flights of the real-traffic
        # bench input; the header walk costs less than that on the other packets.
        cut_at = _cut_point(whole) if walked is False else walked
        if cut_at is None:
            read = _tls_first(whole)  # None unless it starts like TLS and reads whole
        else:
            read = _tls_first(_whole_messages(whole, cut_at))
            if read is None:
                cut_at = None
        if read is None:
            read = _with_late_records(whole)  # a resumed session's server flight
            if read is None:
                return False
        hellos, server_hellos, cert_bodies, app_lengths, encrypted = read
        facts = self.facts
        certs: list[Certificate] | tuple[()] = ()
        if cert_bodies:  # (a loop, not a list comprehension: see _app_data)
            certs = []
            for body in cert_bodies:
                cert = parse_certificate(body)
                if cert is not None:
                    certs.append(cert)
        # Would this packet settle the side? Worked out before anything is changed. (The
        # reader hands over only packets whose events come in flight order - hellos,
        # certificates, application data - so taking them kind by kind, in that order,
        # leaves the facts and their key order that stream order would.) This is
        # _settled(hello, client, certificate, encrypted, records) with this packet's
        # events in, written out as truth values: its four bool() calls and the call
        # itself cost more than the test, on the first packets of every TLS flow.
        settled = (
            (self.hello[side] or hellos or server_hellos)
            and (
                hellos
                or side == self.client_side
                or self.certificate
                or (certs and "subject" not in facts.tls)
                or encrypted
            )
        ) or self.app_records[side] + len(app_lengths) >= MAX_RECORDS
        if not settled and size < budget:
            # Not settled yet: the general path would read on, so these bytes may as well
            # wait for the side's next packet - unless they hold something whose facts
            # take the packet's time (application data; encryption comes with it). Only a
            # side that starts with a handshake: one picked up mid-way (an alert first)
            # seldom settles within a few packets.
            if hold and not app_lengths and not encrypted and whole[0] == CONTENT_HANDSHAKE:
                self._hold(side, seq, data, whole, ts, cut_at)
                return True
            # A side picked up after its handshake (application data, alerts): its
            # records are counted packet by packet, as the general path would.
            if encrypted and self.held_side < 0 and not (hellos or server_hellos or cert_bodies):
                return self._go(side, whole, seq, app_lengths, ts)
            return False
        # A ClientHello comes as its fingerprint cache key, SNI and ALPN, with its body
        # to read the other fields from if its fingerprints are not cached (ch_key in csrc/tls.c).
        # (_hello_from is written out in both loops: a call with a keyword for each of
        # the ~14,000 hellos of the real-traffic bench input cost more than its three
        # lines.)
        for record_version, key, sni, alpn, body in hellos:
            self.hello[side] = True  # _hello_from(self, side, facts, client=True)
            facts.sides[side].client_votes += 2
            self.client_side = side
            if "ja3" not in facts.tls:
                _client_hello_facts(facts, key, sni, alpn, (record_version, body))
        for record_version, f in server_hellos:  # f: ServerHello fields after it
            self.hello[side] = True  # _hello_from(self, side, facts, client=False)
            facts.sides[1 - side].client_votes += 1
            _server_hello_facts(facts, (f[0], f[2], f[4]), (record_version, f))
        for cert in certs:
            _certificate(self, cert, facts)
        if app_lengths:
            _app_data(self, side, app_lengths, ts, facts)
        facts.app_protos.add("tls")
        self.taken[side] = size
        if self.held_side >= 0:
            self.held_side, self.held, self.held_bytes, self.held_cut = -1, (), b"", None
        return True

    def _go(
        self, side: int, data: bytes, seq: int, app_lengths: list[int] | tuple[()], ts: float
    ) -> bool:
        """Start reading ``side`` packet by packet: ``data``, its first packet, holds only
        records after encryption began (tls_first read it), whole but perhaps the last, an
        application_data record then cut short. Its records count now, at this packet's
        time, as on the general path. False (nothing changed) if it ends otherwise."""
        walked = _walk_encrypted(data, 0, 0)
        if walked is None:
            return False
        records, rec_left, rec_version, _ = walked
        if self.going is None:
            self.going = [None, None]
        following = (seq + len(data)) & 0xFFFFFFFF
        self.going[side] = [following, len(data), records, rec_left, rec_version]
        if app_lengths:  # as the general path: no records list before a record (an alert)
            _app_data(self, side, app_lengths, ts, self.facts)
        self.facts.app_protos.add("tls")
        return True

    def _go_on(
        self, side: int, going: list[int], data: bytes, ts: float, budget: int, seq: int
    ) -> bool:
        """The next packet of a side read packet by packet (``_go``): the rest of a cut
        record, then more records after encryption began - no handshake record (the
        general path reads those), no header cut short. Its application-data records count
        at its time; the side is taken once MAX_RECORDS are in or its budget is spent."""
        next_seq, done, records, rec_left, rec_version = going
        if seq != next_seq or done + len(data) > budget:
            return False
        walked = _walk_encrypted(data, rec_left, rec_version)
        if walked is None:
            return False
        added, rec_left, rec_version, lengths = walked
        done += len(data)
        if lengths:
            _app_data(self, side, lengths, ts, self.facts)
        if self.app_records[side] >= MAX_RECORDS or done == budget:
            self.going[side] = None  # type: ignore[index]
            self.taken[side] = done
            return True
        going[:] = [(seq + len(data)) & 0xFFFFFFFF, done, records + added, rec_left, rec_version]
        return True

    def _hold(
        self,
        side: int,
        seq: int,
        data: bytes,
        whole: bytes,
        ts: float,
        cut_at: tuple[int, int] | None = None,
    ) -> None:
        self.held_side = side
        self.held_cut = cut_at
        self.held += ((seq, data, ts),)
        self.held_bytes = whole
        self.held_next = (seq + len(data)) & 0xFFFFFFFF

    def wanting(self) -> int:
        """Bit mask of the sides that still want payload (see FlowInspection.wanting)."""
        return (0 if self.taken[0] >= 0 else 1) | (0 if self.taken[1] >= 0 else 2)

    def to_dissector(self, ctx: InspectContext | None) -> Tls:
        """The Tls dissector the general path would hold at this point."""
        dissector = Tls(ctx)
        dissector.app_records = list(self.app_records)
        dissector.hello = list(self.hello)
        dissector.client_side = self.client_side
        dissector.certificate = self.certificate
        for side, going in enumerate(self.going or ()):
            if going is not None:
                _, done, records, rec_left, rec_version = going
                dissector.streams[side].resume(done, records, rec_left, rec_version)
        return dissector


def _copied_first_packets(ports: tuple[int, int]) -> FirstPackets:
    """``FirstPackets(ports)`` copied from a prototype by the compiled ``fresh_copy``, its
    three per-side lists and its facts made anew: every TLS flow's first packet builds
    one (~8,700 on the real-traffic bench input), and the __init__'s thirteen attribute
    stores in a Python frame cost more than this (tests/test_new_inspection.py checks
    that both ways make the same state)."""
    made = _fresh_copy(_FIRST)
    made.facts = new_facts()
    made.ports = ports
    made.app_records = [0, 0]
    made.hello = [False, False]
    made.taken = [-1, -1]
    return made


# What _copied_first_packets copies (never handed out; its lists are the only mutable
# slots, and each copy gets its own).
_FIRST = FirstPackets((0, 0))
if fast is not None:
    _fresh_copy = fast.fresh_copy
    new_first_packets = _copied_first_packets
else:
    new_first_packets = FirstPackets  # the pure twin: built by __init__


def py_walk_encrypted(
    data: bytes, pos: int, rec_version: int
) -> tuple[int, int, int, list[int]] | None:
    """The records of a side's bytes after encryption began, from ``pos`` (the end of a
    record the bytes before cut short): (records, bytes still to come of the last record,
    its version, application_data lengths), or None where the general path would do more
    than count them - a handshake record that may hold late hellos (TLSStream._late_hellos
    reads only a record that starts with a hello message), an invalid header (the stream
    fails), a header cut short, or a cut record other than application_data.
    ``_fast.tls_walk_encrypted`` is its compiled twin (``_walk_encrypted``: whichever is
    built)."""
    n = len(data)
    if pos >= n:
        return 0, pos - n, rec_version, []
    records = 0
    lengths = []
    while pos + 5 <= n:
        ctype = data[pos]
        length = (data[pos + 3] << 8) | data[pos + 4]
        if not 20 <= ctype <= 24 or data[pos + 1] != 3 or length > MAX_RECORD_LEN:
            return None
        records += 1
        end = pos + 5 + length
        if ctype == CONTENT_HANDSHAKE and (end > n or (length >= 4 and data[pos + 5] in (1, 2))):
            return None
        if ctype == CONTENT_APPLICATION_DATA:
            lengths.append(length)
        if end > n:
            if ctype != CONTENT_APPLICATION_DATA:
                return None
            return records, end - n, (data[pos + 1] << 8) | data[pos + 2], lengths
        pos = end
    if pos != n:
        return None  # a record header cut short
    return records, 0, 0, lengths


_walk_encrypted = fast.tls_walk_encrypted if fast is not None else py_walk_encrypted


def _with_late_records(data: bytes) -> tuple | None:
    """What ``_fast.tls_first`` would return for ``data`` if it read handshake records
    after encryption began as the general path does: a resumed session's server flight
    (ServerHello, ChangeCipherSpec, then its Finished in a handshake record, encrypted),
    which tls_first leaves alone. The records before the first such record go to
    tls_first, the rest to ``_walk_encrypted``; None if either declines."""
    pos, n, encrypted = 0, len(data), False
    while pos + 5 <= n:
        ctype = data[pos]
        end = pos + 5 + ((data[pos + 3] << 8) | data[pos + 4])
        if end > n:
            return None
        if ctype == CONTENT_HANDSHAKE and encrypted:
            break
        if ctype == 20 or ctype == CONTENT_APPLICATION_DATA:
            encrypted = True
        pos = end
    else:
        return None
    read = fast.tls_first(data[:pos]) if fast is not None else None
    walked = None if read is None else _walk_encrypted(data, pos, 0)
    if walked is None:
        return None
    hellos, server_hellos, cert_bodies, app_lengths, _ = read
    return hellos, server_hellos, cert_bodies, [*app_lengths, *walked[3]], True  # (() or a list)


def py_cut_point(data: bytes) -> tuple[int, int] | None:
    """Where ``data``'s last record, a handshake record cut short, starts, and where its
    whole messages end (a message's facts come once it is whole); None if the last
    record is not such a record (whole records, perhaps then part of a header).
    ``_fast.tls_cut_point`` is its compiled twin (``_cut_point``: whichever is built)."""
    pos, n = 0, len(data)
    while pos + 5 <= n:
        end = pos + 5 + ((data[pos + 3] << 8) | data[pos + 4])
        if end > n:
            break
        pos = end
    else:
        return None  # whole records (perhaps then part of a header): not this case
    if data[pos] != CONTENT_HANDSHAKE or data[pos + 1] != 3 or end - pos - 5 > MAX_RECORD_LEN:
        return None
    m = pos + 5
    while m + 4 <= n:
        following = m + 4 + ((data[m + 1] << 16) | (data[m + 2] << 8) | data[m + 3])
        if following > n:
            break
        m = following
    return pos, m


_cut_point = fast.tls_cut_point if fast is not None else py_cut_point
_tls_first = fast.tls_first if fast is not None else None  # (take: None, the pure path)


def py_whole_messages(data: bytes, cut_at: tuple[int, int]) -> bytes:
    """``data`` whose last record is a handshake record cut short, with that record cut
    back to its whole messages and its length field saying so: what the general path has
    read of it, in a form ``_fast.tls_first`` reads. ``cut_at``: _cut_point's answer for
    ``data`` (not None). ``_fast.tls_whole_messages`` is its compiled twin
    (``_whole_messages``: whichever is built)."""
    pos, m = cut_at
    length = m - pos - 5
    header = bytes((CONTENT_HANDSHAKE, 3, data[pos + 2], length >> 8, length & 0xFF))
    return data[:pos] + header + data[pos + 5 : m]


_whole_messages = fast.tls_whole_messages if fast is not None else py_whole_messages


_FINGERPRINTS: dict[bytes, tuple[str, str, str, str]] = {}
_JA3S: dict[tuple[object, ...], tuple[str, str]] = {}  # key -> (JA3S, its string)
_ALPN_NAMES: dict[tuple[bytes, ...], tuple[str, ...]] = {}  # a hello's ALPN -> the fact's names
Unbuilt = tuple[int, tuple]  # (record version, hello fields after it), from the C reader
Unread = tuple[int, bytes]  # (record version, a ClientHello's body), from the C reader


def _fingerprint_key(ch: ClientHello) -> bytes:
    """What the ClientHello fingerprints depend on, GREASE folded (hello.py_hello_key): a
    network has few TLS stacks, so most hellos repeat a known shape (SNI aside)."""
    return hello_key(
        (
            ch.handshake_version,
            ch.ciphers,
            ch.extensions,
            ch.supported_versions,
            ch.supported_groups,
            ch.ec_point_formats,
            ch.signature_algorithms,
            ch.alpn,
        )
    )


def fingerprints(ch: ClientHello) -> tuple[str, str, str, str]:
    """(ja3, ja3_string, ja4, client version name) of a ClientHello, cached."""
    return _fingerprints(_fingerprint_key(ch), ch)


def _fingerprints(key: bytes, hello: ClientHello | Unread) -> tuple[str, str, str, str]:
    found = _FINGERPRINTS.get(key)
    if found is None:
        if len(_FINGERPRINTS) >= 4096:
            _FINGERPRINTS.clear()
        if isinstance(hello, ClientHello):
            ch = hello
        else:  # the first-packet path's (fast is built): its fields, read the way ch_key read
            ch = ClientHello(hello[0], *fast.client_hello_fields(hello[1]))
        version = VERSION_NAMES.get(ch.max_version, hex(ch.max_version))
        found = _FINGERPRINTS[key] = (
            fingerprint.ja3(ch),
            fingerprint.ja3_string(ch),
            fingerprint.ja4(ch),
            version,
        )
    return found


def _client_hello_facts(
    facts: FlowFacts,
    key: bytes,
    sni: str | None,
    alpn: tuple[bytes, ...],
    hello: ClientHello | Unread,
) -> None:
    found = _FINGERPRINTS.get(key)  # (_fingerprints' hit, without its call: every hello)
    ja3, ja3_text, ja4, version = found if found is not None else _fingerprints(key, hello)
    tls = facts.tls
    tls["ja3"], tls["ja3_string"], tls["ja4"] = ja3, ja3_text, ja4
    if sni:
        tls["sni"] = sni[:253]
    if alpn:
        names = _ALPN_NAMES.get(alpn)
        if names is None:  # (a few distinct lists: h2 and http/1.1, mostly)
            if len(_ALPN_NAMES) >= 4096:
                _ALPN_NAMES.clear()
            names = _ALPN_NAMES[alpn] = tuple(a.decode("ascii", "replace")[:32] for a in alpn[:8])
        tls["alpn"] = list(names)  # (the flow's own list)
    tls["client_version"] = version


def _server_hello_facts(
    facts: FlowFacts, key: tuple[int, int, tuple[int, ...]], hello: ServerHello | Unbuilt
) -> None:
    """JA3S (cached by what it hashes: servers answer the same few ways), version, cipher."""
    tls_facts = facts.tls
    if "ja3s" not in tls_facts:
        found = _JA3S.get(key)
        if found is None:
            if len(_JA3S) >= 4096:
                _JA3S.clear()
            sh = hello if isinstance(hello, ServerHello) else ServerHello(hello[0], *hello[1])
            found = _JA3S[key] = (fingerprint.ja3s(sh), fingerprint.ja3s_string(sh))
        tls_facts["ja3s"], tls_facts["ja3s_string"] = found
    if "version" not in tls_facts:
        if isinstance(hello, ServerHello):
            version = hello.version
        else:
            selected = hello[1][1]
            version = selected if selected is not None else hello[1][0]
        name = VERSION_NAMES.get(version)  # (hex() only for an unknown one)
        tls_facts["version"] = name if name is not None else hex(version)
    if "cipher" not in tls_facts:
        tls_facts["cipher"] = key[1]


def client_hello_facts(facts: FlowFacts, hello: ClientHello) -> None:
    """The facts of a ClientHello read elsewhere than in a TLS record stream (QUIC's
    CRYPTO frames): the same keys, fingerprints and cache as the TCP path."""
    _client_hello_facts(facts, _fingerprint_key(hello), hello.sni, hello.alpn, hello)
