"""Benign traffic: what a LAN sends besides mining, and the hard negatives that look like it.

Protocol encoders only (DNS, Bitcoin and Monero and Ethereum node P2P, MQTT, WebSocket,
TLS handshakes); the flows that use them are scripted in the fixtures or streamed by
:mod:`detector.synth.mix`.
"""
