"""QUIC Initial decryption (detector/dissect/quic.py): RFC 9001 Appendix A and RFC 9369
Appendix A test vectors, CRYPTO reassembly out of order, and the dissector's facts."""

from __future__ import annotations

import json
import shutil
import subprocess

from detector.dissect import quic
from detector.facts import FlowFacts

# RFC 9001 Appendix A.1: the client's first Destination Connection ID and its keys.
DCID = bytes.fromhex("8394c8f03e515708")
CLIENT_SECRET = "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
SERVER_SECRET = "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b"
CLIENT_KEYS = (
    "1f369613dd76d5467730efcbe3b1a22d",
    "fa044b2f42a3fd3b46fb255c",
    "9f50449e04a0e810283a1e9933adedd2",
)
SERVER_KEYS = (
    "cf3a5331653c364c88f0f379b6067e37",
    "0ac1493ca1905853b0bba03e",
    "c206b8d9b9f0f37644430b490eeaa314",
)
# RFC 9369 Appendix A.1 (QUIC v2).
V2_CLIENT_SECRET = "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b"
V2_CLIENT_KEYS = (
    "8b1a0bc121284290a29e0971b5cd045d",
    "91f73e2351d8fa91660e909f",
    "45b95e15235d6f45a6b19cbcb0294ba9",
)

# RFC 9001 Appendix A.2: the client Initial's CRYPTO frame (a ClientHello), padded to 1162
# bytes, and the protected 1200-byte packet.
A2_PAYLOAD = bytes.fromhex(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff"
) + bytes(917)
A2_PACKET = bytes.fromhex(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934"
)


def test_rfc9001_initial_secrets_and_keys():
    client, server = quic.initial_secrets(DCID)
    assert client.hex() == CLIENT_SECRET
    assert server.hex() == SERVER_SECRET
    assert tuple(k.hex() for k in quic.packet_keys(client)) == CLIENT_KEYS
    assert tuple(k.hex() for k in quic.packet_keys(server)) == SERVER_KEYS


def test_rfc9369_v2_initial_keys():
    client, _ = quic.initial_secrets(DCID, quic.VERSION_2)
    assert client.hex() == V2_CLIENT_SECRET
    assert tuple(k.hex() for k in quic.packet_keys(client, quic.VERSION_2)) == V2_CLIENT_KEYS


def test_rfc9001_header_protection_and_sample_packet():
    """A.2: sample d1b1c98dd7689fb8ec11d242b123dc9b gives mask 437b9aec36; the header
    unprotects to c300000001088394c8f03e5157080000449e00000002 (packet number 2) and the
    payload opens to the CRYPTO frame and padding."""
    assert len(A2_PACKET) == 1200
    packet = quic._Packet(A2_PACKET, 0)
    assert packet.initial and packet.dcid == DCID and packet.pn_offset == 18
    assert packet.end == 1200
    assert (
        A2_PACKET[packet.pn_offset + 4 : packet.pn_offset + 20].hex()
        == "d1b1c98dd7689fb8ec11d242b123dc9b"
    )
    keys = quic.client_keys(DCID, quic.VERSION_1)
    assert (*keys.key_iv(), keys.hp) == quic.packet_keys(bytes.fromhex(CLIENT_SECRET))
    assert quic.header_mask(keys.hp, A2_PACKET[22:38]).hex() == "437b9aec36"
    payload = quic.open_initial(A2_PACKET, packet, keys)
    assert payload == A2_PAYLOAD
    frames = quic.crypto_frames(payload)
    assert len(frames) == 1 and frames[0][0] == 0 and len(frames[0][1]) == 241
    # wrong keys (the server's) do not open it
    server_keys = quic.Keys(quic.initial_secrets(DCID)[1])
    assert quic.open_initial(A2_PACKET, packet, server_keys) is None


def test_rfc9001_client_hello_facts():
    facts = FlowFacts()
    dissector = quic.Quic()
    assert quic.Quic.probe(A2_PACKET, (50000, 443))
    assert dissector.on_datagram(0, A2_PACKET, 1.0, facts) is False  # hello read: done
    tls = facts.tls
    assert tls["sni"] == "example.com"
    assert tls["alpn"] == ["alpn"]  # the RFC's example offers a protocol named "alpn"
    assert tls["transport"] == "quic" and tls["quic_version"] == "1"
    # JA4_a: QUIC, TLS 1.3, SNI, 2 ciphers, 11 extensions, ALPN "alpn" -> "an"
    assert tls["ja4"].startswith("q13d0211an_")
    assert facts.app_protos == {"quic"}
    assert facts.sides[0].client_votes == 2


def test_probe_rejects_other_packets():
    assert not quic.Quic.probe(b"\x40" + A2_PACKET[1:], (1, 2))  # short header
    assert not quic.Quic.probe(
        A2_PACKET[:1] + b"\xff\x00\x00\x1d" + A2_PACKET[5:], (1, 2)
    )  # draft-29
    assert not quic.Quic.probe(b"\xe0" + A2_PACKET[1:], (1, 2))  # v1 Handshake
    v2 = b"\xd0" + (quic.VERSION_2).to_bytes(4, "big") + A2_PACKET[5:]
    assert quic.Quic.probe(v2, (1, 2))  # v2 Initial type bits 01


def test_crypto_stream_out_of_order():
    stream = quic.CryptoStream()
    message = b"\x01\x00\x00\x06abcdef"
    stream.add(6, message[6:])
    assert stream.message() is None
    stream.add(0, message[:3])
    assert stream.message() is None
    stream.add(2, message[2:7])  # overlaps both
    assert stream.message() == message


def test_random_initial_gives_up_at_once():
    """A packet shaped like an Initial that does not open (the bench's random ones): the
    flow is given up after that one datagram, with no facts."""
    facts = FlowFacts()
    junk = bytearray(A2_PACKET)
    junk[100] ^= 1
    assert quic.Quic().on_datagram(0, bytes(junk), 1.0, facts) is False
    assert not facts.tls and not facts.app_protos


# --- end to end: generated Initials (detector/synth/quicinit.py) through a whole scan --------


def _hello_message(label: str) -> bytes:
    """The handshake message (type, length, body) of a recorded ClientHello."""
    from detector.synth.benign.tls import TLS_DIR, read_hex

    record = read_hex(TLS_DIR / f"{label}.client.hex")
    return record[5 : 5 + int.from_bytes(record[3:5], "big")]


def test_out_of_order_hello_over_two_datagrams_and_v2(tmp_path) -> None:
    """A hello cut into three CRYPTO frames: the first datagram carries the last and the
    first, the second the middle one (Chrome's order scrambling), each with PING and
    PADDING; the server's Initial and 1-RTT packets in between. A QUIC v2 flow beside it.
    The scan reads both through triage, with the fingerprints the same hello gives over
    TCP (JA4 with ``q``)."""
    from detector.dissect.tls import fingerprint
    from detector.dissect.tls.hello import parse_client_hello
    from detector.synth.clock import at
    from detector.synth.links import Ethernet, frames
    from detector.synth.packets import udp
    from detector.synth.pcap import pcap_bytes
    from detector.synth.quicinit import V2, chaos_initials
    from tests.conftest import run_cli

    hello = _hello_message("03-curl-h2")
    client, server = ("10.9.0.5", 51000), ("198.51.100.30", 443)
    first, second = chaos_initials(hello, bytes(range(8)), b"", [150, 330], [[2, 0], [1]])
    packets = [
        udp(client, server, first, at(0.0)),
        udp(server, client, b"\xc1" + bytes(range(60)), at(0.03), outgoing=False),
        udp(server, client, b"\x41" + bytes(1100), at(0.031), outgoing=False),
        udp(client, server, second, at(0.04)),
        udp(client, server, b"\x45" + bytes(60), at(0.05)),
    ]
    client2 = ("10.9.0.6", 51002)
    (only,) = chaos_initials(hello, b"\x11" * 8, b"\x22" * 4, [300], [[1, 0]], version=V2)
    packets.append(udp(client2, ("198.51.100.31", 8443), only, at(0.5)))
    path = tmp_path / "quic.pcap"
    link = Ethernet()
    path.write_bytes(pcap_bytes(frames(packets, link), link.linktype))
    result = run_cli("flows", "--all", "-j", "1", str(path))
    assert result.rc == 0, result.err
    entries = [json.loads(line) for line in result.out.splitlines()]
    tls = {e["dest_port"]: e["facts"]["tls"] for e in entries if e.get("facts")}
    expected = parse_client_hello(hello[4:], 0)
    assert expected is not None
    for port, version in ((443, "1"), (8443, "2")):
        facts = tls[port]
        assert facts["transport"] == "quic" and facts["quic_version"] == version
        assert facts["sni"] == expected.sni
        assert facts["alpn"] == [a.decode() for a in expected.alpn]
        assert facts["ja3"] == fingerprint.ja3(expected)
        assert facts["ja4"] == fingerprint.ja4(expected, "q")
    if shutil.which("tshark"):
        out = subprocess.run(
            [
                "tshark",
                "-r",
                str(path),
                "-Y",
                "quic && tls.handshake.type == 1",
                "-T",
                "fields",
                "-e",
                "udp.dstport",
                "-e",
                "tls.handshake.ja3",
                "-e",
                "tls.handshake.extensions_server_name",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        rows = {int(r.split("\t")[0]): r.split("\t")[1:] for r in out.splitlines() if r}
        assert rows == {p: [tls[p]["ja3"], tls[p]["sni"]] for p in (443, 8443)}


def test_compiled_aes_twins_agree():
    """The compiled AES helpers (csrc/quic.c: aes128_block, aes128_gcm_open) give what their
    ``cryptography`` twins give: header masks, plaintexts, and None for every tag or
    ciphertext or header bit flipped; also on the RFC 9001 A.2 packet's own keys."""
    import random

    import pytest

    from detector.compiled import fast

    if fast is None:
        pytest.skip("compiled helpers not built")
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    # FIPS-197 Appendix C.1
    assert fast.aes128_block(
        bytes(range(16)), bytes.fromhex("00112233445566778899aabbccddeeff")
    ) == (bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a"))
    rng = random.Random(9001)
    for i in range(600):
        key, block = rng.randbytes(16), rng.randbytes(16)
        assert fast.aes128_block(key, block)[:5] == quic.py_header_mask(key, block)
        nonce = rng.randbytes(12)
        # lengths around block boundaries, up to a padded Initial's payload
        plain = rng.randbytes(rng.choice((0, 1, 15, 16, 17, 31, 32, 33, 1162, rng.randrange(1500))))
        aad = rng.randbytes(rng.randrange(0, 64))
        sealed = AESGCM(key).encrypt(nonce, plain, aad)
        assert fast.aes128_gcm_open(key, nonce, sealed, aad) == plain
        assert quic.py_gcm_open(key, nonce, sealed, aad) == plain
        bad = bytearray(sealed)
        bad[rng.randrange(len(bad))] ^= 1 << rng.randrange(8)
        assert fast.aes128_gcm_open(key, nonce, bytes(bad), aad) is None
        assert quic.py_gcm_open(key, nonce, bytes(bad), aad) is None
        if aad:
            other = bytearray(aad)
            other[i % len(aad)] ^= 0x80
            assert fast.aes128_gcm_open(key, nonce, sealed, bytes(other)) is None
    assert fast.aes128_gcm_open(bytes(16), bytes(12), bytes(15), b"") is None  # no room for a tag
    # the RFC packet through both paths
    packet = quic._Packet(A2_PACKET, 0)
    keys = quic.client_keys(packet.dcid, packet.version)
    sample = A2_PACKET[packet.pn_offset + 4 : packet.pn_offset + 20]
    assert fast.aes128_block(keys.hp, sample)[:5] == quic.py_header_mask(keys.hp, sample)
    assert quic.open_initial(A2_PACKET, packet, keys) == A2_PAYLOAD


def test_compiled_initial_keys_agree():
    """quic_client_keys and quic_key_iv (csrc/quic.c: SHA-256, HMAC, HKDF-Expand-Label) give
    the secret and keys hmac/hashlib give (py_client_keys), for v1 and v2 and every DCID
    length, and the RFC 9001 / RFC 9369 Appendix A keys."""
    import random

    import pytest

    from detector.compiled import fast

    if fast is None:
        pytest.skip("compiled helpers not built")
    rng = random.Random(9369)
    for version in (quic.VERSION_1, quic.VERSION_2):
        salt, prefix, _ = quic._VERSIONS[version]
        for size in range(0, 21):
            for _ in range(20):
                dcid = rng.randbytes(size)
                want = quic.py_client_keys(dcid, version)
                secret, hp = fast.quic_client_keys(salt, dcid, prefix)
                assert (secret, hp) == (want.secret, want.hp)
                assert fast.quic_key_iv(secret, prefix) == want.key_iv()
    for version, secret, keys in (
        (quic.VERSION_1, CLIENT_SECRET, CLIENT_KEYS),
        (quic.VERSION_2, V2_CLIENT_SECRET, V2_CLIENT_KEYS),
    ):
        salt, prefix, _ = quic._VERSIONS[version]
        key, iv, hp = map(bytes.fromhex, keys)
        assert fast.quic_client_keys(salt, DCID, prefix) == (bytes.fromhex(secret), hp)
        assert fast.quic_key_iv(bytes.fromhex(secret), prefix) == (key, iv)
        assert quic.client_keys(DCID, version).key_iv() == (key, iv)


def test_crypto_frames_skip_padding_runs_as_byte_by_byte() -> None:
    """A run of PADDING is skipped at once: the frames read from random payloads of
    padding, PING, CRYPTO frames (some cut short) and stray bytes are those a reader
    stepping over each padding byte finds."""
    import random

    def stepwise(payload: bytes) -> list[tuple[int, bytes]]:
        out, pos = [], 0
        while pos < len(payload):
            kind = payload[pos]
            pos += 1
            if kind in (0x00, 0x01):
                continue
            if kind != 0x06 or pos + 2 > len(payload):
                break
            offset, length = payload[pos], payload[pos + 1]
            pos += 2
            if pos + length > len(payload):
                break
            out.append((offset, payload[pos : pos + length]))
            pos += length
        return out

    rng = random.Random(9000)
    for _ in range(5_000):
        parts = []
        for _ in range(rng.randrange(8)):
            k = rng.random()
            if k < 0.4:
                parts.append(b"\x00" * rng.randrange(1, 60))
            elif k < 0.5:
                parts.append(b"\x01")
            else:  # CRYPTO with one-byte varints (offset < 64, length < 64), maybe cut
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(20)))
                parts.append(
                    bytes([6, rng.randrange(64), len(data) + rng.choice((0, 0, 3))]) + data
                )
        payload = b"".join(parts)
        assert quic.crypto_frames(payload) == stepwise(payload), payload
