"""The labelled corpus: ``minewatch corpus make OUTDIR`` - miners and hard negatives in quantity.

What the gradient-boosted model of the [model] issue learns from and is evaluated on: many
capture files, each a scenario's traffic mix (an office LAN, a farm behind NAT, cryptojacked
cloud hosts, home users on an ISP link), with every flow labelled in ``flows.csv`` (its
5-tuple, class, dialect, TLS, coin, pool, timing parameters, and the program or miner shape
that made it), what the capture holds of it in ``flowinfo.csv`` (TLS version, SNI, packets,
jobs, shares, how it ended) and every host in ``hosts.csv``. ``minewatch eval OUTDIR`` reads
it as it is.

Half of the labelled flows mine - every dialect minewatch reads, each in cleartext and inside
TLS, Stratum V2 behind its Noise handshake, and browser mining over a TLS WebSocket - and
half are hard negatives shaped like mining: long-lived, periodic, small records both ways
(MQTT telemetry, push and ticker WebSockets, long polling, polling APIs, gRPC streams, SSH,
Electrum wallets, VPNs, streaming, idle TLS keep-alives, crypto nodes) beside ordinary web
browsing and downloads.

Modules, bottom up:

* :mod:`.wire` a streamed TCP connection with an ACK model, loss and retransmission;
* :mod:`.tlsrec` TLS handshakes from the recorded flights and application records whose
  sizes follow the TLS version's record overhead;
* :mod:`.net` addresses: LAN hosts, NAT gateways, ephemeral ports, servers' addresses;
* :mod:`.pools` the pools and coins miners connect to, with their job timing;
* :mod:`.flow` what every flow shares (its label row, its clock, its connection);
* :mod:`.miners` the miner flows (driver), :mod:`.protos` the dialects' message sources
  (adapters over :mod:`detector.synth.dialects`, HTTP mining, Stratum V2, browser mining);
* :mod:`.negatives` the hard negatives, one module per family;
* :mod:`.plan` scenarios and the flow plan of one capture; :mod:`.make` writes the corpus.

Everything is a pure function of ``--flows`` and ``--seed``: every random choice comes from
``random.Random`` objects seeded from the seed and fixed labels, timestamps are integer
microseconds of simulated time (nothing sleeps or reads the clock), and records are written
as the flows make them, merged in time order, so memory holds only one capture's live flows.
"""
