"""Benign: IoT telemetry over MQTT/TLS with paho-mqtt - a device publishing JSON sensor
readings every 2-6 s (QoS 1), a status message now and then (retained), subscribed to its
command topic. Usage: python mqtt_telemetry.py HOST PORT CA_FILE DEVICE_ID"""

from __future__ import annotations

import json
import random
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt


def main() -> None:
    host, port, ca, device = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device)
    client.tls_set(ca_certs=ca)
    client.on_message = lambda c, u, m: print("cmd", m.topic, m.payload[:80], flush=True)
    client.connect(host, port, keepalive=60)
    client.subscribe(f"cmd/{device}/#", qos=1)
    client.loop_start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    temp, seq = 21.0, 0
    while not stop.is_set():
        seq += 1
        temp += random.uniform(-0.3, 0.3)
        reading = {
            "device": device,
            "seq": seq,
            "ts": time.time(),
            "temperature": round(temp, 2),
            "humidity": round(random.uniform(30, 60), 1),
            "battery": round(3.7 - seq * 0.0005, 3),
            "rssi": random.randint(-80, -40),
        }
        client.publish(f"sensors/{device}/telemetry", json.dumps(reading), qos=1)
        if seq % 20 == 0:
            client.publish(
                f"status/{device}", json.dumps({"online": True, "uptime": seq}), qos=1, retain=True
            )
        stop.wait(random.uniform(2, 6))
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
