"""The streamed traffic mix of an office LAN's uplink: benign flows and miners, in time order.

Flows (:mod:`.web`, :mod:`.lookups`, :mod:`.quic`, :mod:`.ntp`, :mod:`.miners`) share a
:class:`~.context.Context` and yield pcap records as they make them, so a capture of any
size is written with flat memory (:mod:`.schedule` starts and merges them; the benchmark's
``bench/make_capture.py`` composes its office LAN from them). Host names,
CNAME chains and operators' addresses come from :mod:`.names`.
"""
