"""Malformed and forbidden input closes that one connection ([MQTT-4.8.0-1]); the broker keeps
serving everyone else. Each case: a paho client is connected first, a raw client sends the bad
bytes and must be disconnected, then the paho client still completes a publish/receive round
trip and a fresh pair of clients does too."""

import random
import struct

import pytest

import mqtt_raw
from broker_process import unique_id
from clients import round_trip


def _random_garbage(seed: int, n: int = 512) -> bytes:
    """`n` random bytes framed as a packet of the reserved (forbidden) type 0, so that a broker
    is never left waiting for the rest of a body that the random bytes happen to announce."""
    rnd = random.Random(seed)
    body = bytes(rnd.getrandbits(8) for _ in range(n))
    return b"\x00" + mqtt_raw.encode_varint(len(body)) + body


def _raw_packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + mqtt_raw.encode_varint(len(body)) + body


# name → (send CONNECT first?, bytes to send, rule, extra broker config)
CASES = {
    "random-bytes-before-connect": (False, _random_garbage(1), "[MQTT-3.1.0-1]", {}),
    "random-bytes-after-connect": (True, _random_garbage(2), "[MQTT-4.8.0-1]", {}),
    "remaining-length-of-five-bytes": (True, b"\x30\xff\xff\xff\xff\x7f", "section 2.2.3", {}),
    "huge-declared-length-then-silence": (
        True, b"\x30" + mqtt_raw.encode_varint(200_000_000) + b"\x00\x03a/b",
        "max_packet_size=1024", {"max_packet_size": 1024}),
    "publish-before-connect": (False, mqtt_raw.publish("a/b", b"x"), "[MQTT-3.1.0-1]", {}),
    "subscribe-before-connect": (False, mqtt_raw.subscribe(1, [("a/b", 0)]), "[MQTT-3.1.0-1]", {}),
    "invalid-utf8-in-topic": (True, mqtt_raw.publish(b"a/\xff\xfe", b"x"), "[MQTT-1.5.3-1]", {}),
    "utf16-surrogate-in-topic": (True, mqtt_raw.publish(b"a/\xed\xa0\x80", b"x"),
                                 "[MQTT-1.5.3-1]", {}),
    "null-character-in-topic": (True, mqtt_raw.publish(b"a/\x00b", b"x"), "[MQTT-1.5.3-2]", {}),
    "plus-wildcard-in-publish-topic": (True, mqtt_raw.publish("a/+", b"x"), "[MQTT-3.3.2-2]", {}),
    "hash-wildcard-in-publish-topic": (True, mqtt_raw.publish("a/#", b"x", qos=1, packet_id=1),
                                       "[MQTT-3.3.2-2]", {}),
    "empty-publish-topic": (True, mqtt_raw.publish("", b"x"), "[MQTT-4.7.3-1]", {}),
    "qos3-publish": (True, mqtt_raw.publish("a/b", b"x", qos=3, packet_id=1), "[MQTT-3.3.1-4]", {}),
    "qos1-publish-with-packet-id-0": (True, mqtt_raw.publish("a/b", b"x", qos=1, packet_id=0),
                                      "[MQTT-2.3.1-1]", {}),
    "publish-topic-longer-than-packet": (True, _raw_packet(0x30, struct.pack("!H", 100) + b"a/b"),
                                         "[MQTT-4.8.0-1] malformed", {}),
    "subscribe-reserved-flags-0": (True, mqtt_raw.subscribe(1, [("a/b", 0)], flags=0x00),
                                   "[MQTT-3.8.1-1]", {}),
    "subscribe-reserved-flags-3": (True, mqtt_raw.subscribe(1, [("a/b", 0)], flags=0x03),
                                   "[MQTT-3.8.1-1]", {}),
    "subscribe-without-filters": (True, mqtt_raw.subscribe(1, []), "[MQTT-3.8.3-3]", {}),
    "subscribe-qos3": (True, mqtt_raw.subscribe(1, [("a/b", 3)]), "[MQTT-3.8.3-4]", {}),
    "subscribe-packet-id-0": (True, mqtt_raw.subscribe(0, [("a/b", 0)]), "[MQTT-2.3.1-1]", {}),
    "unsubscribe-reserved-flags": (True, mqtt_raw.unsubscribe(1, ["a/b"], flags=0x00),
                                   "[MQTT-3.10.1-1]", {}),
    "unsubscribe-without-filters": (True, mqtt_raw.unsubscribe(1, []), "[MQTT-3.10.3-2]", {}),
    "pubrel-reserved-flags": (True, mqtt_raw.packet(mqtt_raw.PUBREL, 0x00, b"\x00\x01"),
                              "[MQTT-3.6.1-1]", {}),
    "server-only-packet-connack": (True, mqtt_raw.packet(mqtt_raw.CONNACK, 0, b"\x00\x00"),
                                   "[MQTT-4.8.0-1]", {}),
    "reserved-packet-type-15": (True, mqtt_raw.packet(15, 0, b""), "[MQTT-4.8.0-1]", {}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_closes_only_that_connection(make_broker, clients, name):
    connect_first, data, rule, config = CASES[name]
    b = make_broker(**config)
    bystander = clients.paho(b)
    bystander.subscribe("bystander/t", qos=1)

    bad = clients.raw(b)
    if connect_first:
        assert bad.connect(unique_id("bad")).return_code == 0
    bad.send(data)
    assert bad.wait_closed(5), f"{name}: the broker must close the connection {rule}"
    answered = [p for p in bad.pending() if p.type != mqtt_raw.CONNACK or not connect_first]
    assert not [p for p in answered if p.type in (mqtt_raw.SUBACK, mqtt_raw.PUBACK, mqtt_raw.UNSUBACK)], \
        f"{name}: the bad packet must not be acknowledged {rule}: {answered}"

    bystander.publish("bystander/t", b"still here", qos=1)
    m = bystander.get_message()
    assert m.payload == b"still here", "the other client's connection keeps working"
    round_trip(clients, b)


@pytest.mark.time_limit(30)
def test_broker_survives_a_series_of_garbage_connections(broker, clients):
    """Thirty connections, each sending different random bytes (some after a valid CONNECT),
    all closed by the broker; then it still routes messages."""
    for seed in range(30):
        c = clients.raw()
        if seed % 2:
            assert c.connect(unique_id("junk")).return_code == 0
        c.send(_random_garbage(100 + seed, n=64 + seed * 17))
        assert c.wait_closed(5), f"seed {seed}: garbage closes the connection [MQTT-4.8.0-1]"
        c.close()
    round_trip(clients, broker)
