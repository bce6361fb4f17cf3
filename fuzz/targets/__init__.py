"""The fuzz targets: one module each, with ``TestOneInput(data)`` (see fuzz/README.md)."""

TARGETS = (
    "capture",
    "capture_gzip",
    "decode",
    "flows",
    "session",
    "jsonlines",
    "http",
    "dns",
    "tls_hello",
    "tls_stream",
    "x509",
    "nodes",
    "libp2p",
    "reassembly",
    "rules",
    "websocket",
    "afpacket_block",
    "quic",
)
