"""TLS, one module per job: record framing, hellos, certificates, fingerprints, and the
dissector that turns them into a flow's facts.

Miners connect by IP and share OpenSSL's fingerprints, so what this package produces are
*facts* for later stages (docs/ARCHITECTURE.md §4): the ClientHello/ServerHello contents,
the leaf certificate's names where TLS <= 1.2 shows them, and the sizes of the encrypted
records that follow (TLS-wrapped Stratum shows itself by near-constant record sizes). The
parsers do no I/O; everything is a pure function or a small frozen dataclass, and
``records.TLSStream`` is the only stateful object.

Why not ``dpkt.ssl`` (1.9.8): it is a record-at-a-time object parser, not a stream parser.
``TLSHandshake`` keeps only the first handshake message of a record and drops the rest
(ServerHello, Certificate and ServerHelloDone usually share one record), does not join a
message split over several records, and raises ``SSL3Exception`` on handshake types it
does not know (CertificateStatus 22, EncryptedExtensions 8, ...). ``TLSClientHello`` has
no ``extensions`` attribute at all when the block is empty or absent, parses none of the
extension bodies (SNI, ALPN, groups, supported_versions), and raises ``UnpackError`` on
a truncated hello; there is no X.509 parser. (GREASE it handles fine.) Wrapping it in
try/except would still lose messages, so this package has its own compact parser: one
bounds-checked cursor (``hello._Reader``) through which every length-prefixed field is
read, so a length that lies can only end the parse of that one message, never raise out
of ``records.TLSStream.feed``. dpkt is still what the tests use to read captures.

The modules, each importing only modules listed before it:

- ``hello``: ClientHello/ServerHello parsing (C reader or pure-Python twin), extensions,
  SNI/ALPN, GREASE, the fingerprint cache key, and the bounded reader;
- ``x509``: the Certificate message and a minimal DER walk to the leaf's names and dates;
- ``records``: record framing for one direction (``TLSStream``) and the events it yields;
- ``fingerprint``: JA3, JA3S, and JA4 with its variants, from a parsed hello;
- ``flow``: the ``Tls`` stream dissector and the first-packet path (``FirstPackets``)
  that put all of the above into ``FlowFacts.tls``.

Nothing is imported here: import a name from the module that holds it.
"""
