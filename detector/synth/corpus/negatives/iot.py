"""MQTT: IoT devices publishing telemetry, dashboards subscribed to it (MQTT 3.1.1).

Assumptions (what sensor firmware and brokers do):

* **Publisher** (``mqtt-telemetry``): CONNECT with a keep-alive of 30, 60, 120 or 300 s,
  CONNACK, a SUBSCRIBE to its command topic; then a JSON reading every 5, 10, 15, 30, 60 or
  300 s from a firmware timer (+-3 %), 60-600 bytes, QoS 0 or QoS 1 (PUBACK); PINGREQ /
  PINGRESP when the keep-alive passes without a publish; a command or configuration push
  from the broker about every ten minutes.
* **Subscriber** (``mqtt-subscriber``): a dashboard or home-automation hub subscribed to a
  few sensors: the broker pushes each sensor's readings on its timer (a merged periodic
  stream, 80-500 bytes), the client pings at its keep-alive.
* Over TLS on 8883 (most; OpenSSL for mosquitto/paho-c, Python and Node clients too) or on
  443 (cloud IoT endpoints), cleartext on 1883. Brokers: AWS IoT, HiveMQ Cloud, EMQX Cloud,
  Azure IoT Hub, self-hosted brokers by address. Embedded clients carry lwIP's TTL of 255.
"""

from __future__ import annotations

import json
import struct
from random import Random

from detector.synth.benign import mqtt
from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow
from detector.synth.corpus.negatives.base import LongLived, flows_for, periodic, poisson, size
from detector.synth.corpus.net import Host, any_server

BROKERS = (
    ("a3k7odshaiipe8-ats.iot.eu-central-1.amazonaws.com", "aws"),
    ("a1x2y3z4abcd5e-ats.iot.us-east-1.amazonaws.com", "aws"),
    ("f1e2d3c4b5a6.s1.eu.hivemq.cloud", "aws"),
    ("k8a9b0c1.ala.eu-central-1.emqxsl.com", "azure"),
    ("plant-iot-hub.azure-devices.net", "azure"),
    ("mqtt.eclipseprojects.io", "digitalocean"),
    ("broker.hivemq.com", "aws"),
    ("mqtt.flespi.io", "ovh"),
)


class Mqtt(LongLived):
    templates = ("openssl-s_client-tls13", "openssl-s_client-tls12", "python-ssl", "node-tls")
    close_weights = (0.3, 0.3, 0.4)
    kind = "mqtt-telemetry"
    subscriber = False

    def prepare(self, rng: Random) -> None:
        device = rng.choice(("sensor", "esp32", "plc", "meter", "hub", "cam"))
        self.client_id = f"{device}-{rng.randbytes(3).hex()}"
        self.ka = float(rng.choice((30, 60, 120, 300)))
        self.keepalive = self.ka
        self.every = float(rng.choice((5, 10, 15, 30, 60, 300)))
        self.qos = rng.random() < 0.4
        self.body_size = size(rng, 180, 0.6, 40, 600)
        self.topic = f"devices/{self.client_id}/telemetry"
        self.pid = 1

    def _reading(self, rng: Random) -> bytes:
        n = max(20, int(self.body_size * rng.uniform(0.95, 1.05)))
        doc = {
            "ts": rng.getrandbits(31),
            "id": self.client_id,
            "v": [round(rng.uniform(-40, 90), 2) for _ in range(max(1, (n - 40) // 8))],
        }
        return json.dumps(doc, separators=(",", ":")).encode()[:n]

    def hello(self, rng: Random, t: int) -> Script:
        flags = 0x02 | (0xC0 if rng.random() < 0.5 else 0)
        connect = mqtt.string("MQTT") + bytes([4, flags]) + struct.pack(">H", int(self.ka))
        connect += mqtt.string(self.client_id)
        if flags & 0xC0:
            connect += mqtt.string(f"dev_{rng.randbytes(4).hex()}") + mqtt.string(
                rng.randbytes(12).hex()
            )
        topic = f"devices/{self.client_id}/cmd" if not self.subscriber else "site/+/telemetry"
        sub = mqtt.packet(0x82, struct.pack(">H", 1) + mqtt.string(topic) + b"\x01")
        return [
            ("c", mqtt.packet(0x10, connect)),
            ("s", b"\x20\x02\x00\x00"),
            ("c", sub),
            ("s", b"\x90\x03\x00\x01\x01"),
        ]

    def _publish(self, rng: Random, who: str) -> Script:
        self.pid = self.pid % 65535 + 1
        qos = self.qos and who == "c"
        head = 0x32 if qos else 0x30
        pid = struct.pack(">H", self.pid) if qos else b""
        msg = mqtt.packet(head, mqtt.string(self.topic) + pid + self._reading(rng))
        if qos:
            return [(who, msg), ("s", b"\x40\x02" + pid)]
        return [(who, msg)]

    def streams(self, rng: Random) -> list[Stream]:
        ping: Script = [("c", b"\xc0\x00"), ("s", b"\xd0\x00")]
        out = [Stream(periodic(rng, self.ka, 0.01), lambda ts: ping, quiet=True)]
        if self.subscriber:
            for _ in range(rng.randint(1, 4)):
                every = float(rng.choice((2, 5, 10, 15, 30, 60)))
                out.append(Stream(periodic(rng, every), lambda ts: self._publish(rng, "s")))
        else:
            out.append(Stream(periodic(rng, self.every), lambda ts: self._publish(rng, "c")))
            cmd = mqtt.packet(0x30, mqtt.string(f"devices/{self.client_id}/cmd") + b'{"cmd":"cfg"}')
            out.append(
                Stream(
                    poisson(rng, 600), lambda ts: [("s", cmd + rng.randbytes(rng.randint(10, 300)))]
                )
            )
        return out


class MqttSubscriber(Mqtt):
    kind = "mqtt-subscriber"
    subscriber = True


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    cls = MqttSubscriber if kind == "mqtt-subscriber" else Mqtt
    r = rng.random()
    tls = r < 0.8
    port = 8883 if r < 0.68 else (443 if tls else 1883)
    server: tuple[str, str] | str = rng.choice(BROKERS) if rng.random() < 0.7 else any_server(rng)
    return flows_for(cls, env, host, rng, start, server=server, port=port, tls=tls, nat=nat)
