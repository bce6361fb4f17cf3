"""Synthetic traffic: every labelled capture minewatch is tested or measured with.

Why one package: the test fixtures (``tools/make_fixtures.py``), the benchmark capture
(``bench/make_capture.py``) and the labelled corpus to come all write the same things -
mining dialects, benign look-alikes, TCP conversations, link layers and capture files. Each
of those is written here once, so a dialect's message shapes (and the source they were read
from) live in one place and a fix reaches every capture.

It is a tool, not a pipeline stage: nothing under ``detector/`` imports it except a CLI
command that makes captures, and it imports nothing of the pipeline - from ``detector`` only
:mod:`detector.dialects`, the one vocabulary of dialect names (``tests/test_synth_imports.py``
checks both directions). Modules are imported explicitly (``from detector.synth.tcp import
Tcp``); this file imports nothing, so ``import detector`` stays as light as it was.

Layers, bottom up:

* :mod:`.clock` timestamps, :mod:`.chain` wallet addresses and hashes;
* :mod:`.ip` IPv4/IPv6/TCP/UDP headers, :mod:`.links` link layers, :mod:`.packets` single
  packets, :mod:`.pcap` / :mod:`.pcapng` capture files;
* :mod:`.tcp` streamed TCP connections and :mod:`.udp` datagram pairs (the benchmark's
  million packets), :mod:`.conversation` scripted TCP conversations (the fixtures' ACK model,
  splitting, reordering, retransmission, mid-session starts);
* :mod:`.lines` and :mod:`.http` message encodings, :mod:`.tunnels` SOCKS and HTTP CONNECT;
* :mod:`.dialects` one module per mining dialect, :mod:`.benign` benign traffic and hard
  negatives, :mod:`.mix` the benchmark's office-LAN traffic mix.
"""
