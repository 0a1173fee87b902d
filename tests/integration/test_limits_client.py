"""Per-client limits (docs/configuration.md [limits]): message and byte rates, subscriptions per
session, topic length and depth, each at its boundary, with what a client sees: the MQTT 5
reason code, or for 3.1.1 and QoS 0 the slowdown (the broker stops reading from the client).
Also that a SIGHUP reload changes a limit for clients already connected.

Rate refusals use 0x97 Quota exceeded: 0x96 Message rate too high is a DISCONNECT code, not
one a PUBACK may carry (MQTT 5.0 section 3.4.2.1's table).
"""

from __future__ import annotations

import signal
import subprocess
import time

import paho.mqtt.client as paho
import pytest

import mqtt_raw
from broker_process import HOST, IS_MOSQUITTO, unique_id, wait_for
from mqtt5_raw import PUBACK, SUBACK, RawClient5, sub_options

pytestmark = pytest.mark.skipif(IS_MOSQUITTO, reason="Hermod's limits: Mosquitto has no per-client rates")

QUOTA_EXCEEDED = 0x97
TOPIC_NAME_INVALID = 0x90
TOPIC_FILTER_INVALID = 0x8F
NO_MATCHING_SUBSCRIBERS = 0x10


def publish_burst5(c: RawClient5, n: int, payload: bytes = b"x") -> list[int]:
    """Sends n QoS 1 PUBLISHes in one write, then returns their PUBACK codes in order."""
    first = c.next_packet_id()
    ids = [first] + [c.next_packet_id() for _ in range(n - 1)]
    c.send(b"".join(mqtt_raw.packet(mqtt_raw.PUBLISH, 0x02,
                                    mqtt_raw.encode_string("limits/t") + i.to_bytes(2, "big") + b"\x00" + payload)
                    for i in ids))
    return [c.expect(PUBACK, packet_id=i).reason_code for i in ids]


def test_message_rate_refuses_mqtt5_qos1_beyond_the_burst(make_broker):
    b = make_broker(message_rate=10)
    with RawClient5(HOST, b.port) as c:
        c.connect(unique_id("rate"))
        codes = publish_burst5(c, 15)
    assert codes[:10] == [NO_MATCHING_SUBSCRIBERS] * 10, codes
    assert QUOTA_EXCEEDED in codes[10:], f"one second's burst is 10 messages: {codes}"


def test_byte_rate_refuses_mqtt5_qos1_with_quota_exceeded(make_broker):
    b = make_broker(byte_rate=1000)
    with RawClient5(HOST, b.port) as c:
        c.connect(unique_id("bytes"))
        codes = publish_burst5(c, 4, payload=b"y" * 400)
    assert codes[:2] == [NO_MATCHING_SUBSCRIBERS] * 2, codes
    # The third finds 200 bytes left: refused; reading pauses until 400 are back, so the fourth
    # is decoded only then and is taken.
    assert codes[2] == QUOTA_EXCEEDED, codes


def test_message_rate_slows_a_311_publisher_by_not_reading(make_broker):
    b = make_broker(message_rate=20)
    sub = paho.Client(client_id=unique_id("slow-sub"))
    got: list[float] = []
    sub.on_message = lambda c, u, m: got.append(time.monotonic())
    sub.connect(HOST, b.port)
    sub.loop_start()
    try:
        wait_for(lambda: sub.is_connected(), 5)
        result, _ = sub.subscribe("slow/#", 0)
        assert result == 0
        time.sleep(0.2)  # the SUBACK; no event to wait on in paho 1.6 without a callback
        start = time.monotonic()
        # 60 QoS 0 messages as fast as mosquitto_pub sends them: 20 in the first second's burst,
        # then 20 per second: the last arrives at least 2 s after the first.
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(b.port), "-t", "slow/t", "-q", "0", "-l"],
                       input="\n".join(str(i) for i in range(60)) + "\n", text=True, check=True, timeout=20)
        assert wait_for(lambda: len(got) >= 60, 15), f"{len(got)} of 60 arrived"
        assert got[-1] - start >= 1.8, f"60 messages at 20/s with a 20 burst took only {got[-1] - start:.2f} s"
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert "over limits.message_rate/byte_rate: reading paused" in b.stderr_text()


@pytest.mark.parametrize("version", [4, 5])
def test_max_subscriptions_refuses_one_more(make_broker, version):
    b = make_broker(max_subscriptions=2)
    if version == 5:
        with RawClient5(HOST, b.port) as c:
            c.connect(unique_id("subs"))
            ack = c.subscribe([("a", sub_options(1)), ("b", sub_options(1)), ("c", sub_options(1)),
                               ("a", sub_options(0))])
            assert ack.reason_codes == [1, 1, QUOTA_EXCEEDED, 0], ack
    else:
        with mqtt_raw.RawClient(HOST, b.port) as c:
            c.connect(unique_id("subs"))
            ack = c.subscribe([("a", 1), ("b", 1), ("c", 1)])
            assert ack.return_codes == [1, 1, 0x80], ack


def test_topic_length_and_depth(make_broker):
    b = make_broker(max_topic_length=10, max_topic_depth=3)
    with RawClient5(HOST, b.port) as c:
        c.connect(unique_id("topics"))
        ack = c.subscribe([("a/b/c", sub_options(0)), ("a/b/c/d", sub_options(0)), ("abcdefghijk", sub_options(0))])
        assert ack.reason_codes == [0, TOPIC_FILTER_INVALID, TOPIC_FILTER_INVALID], ack
        assert c.publish("a/b/c/d", b"x", qos=1).reason_code == TOPIC_NAME_INVALID
        assert c.publish("0123456789", b"x", qos=1).reason_code == NO_MATCHING_SUBSCRIBERS
        assert c.publish("0123456789a", b"x", qos=1).reason_code == TOPIC_NAME_INVALID


def test_a_reload_changes_a_limit_for_connected_clients(make_broker):
    b = make_broker(max_subscriptions=1)
    with RawClient5(HOST, b.port) as c:
        c.connect(unique_id("reload"))
        assert c.subscribe([("a", sub_options(0))]).reason_codes == [0]
        assert c.subscribe([("b", sub_options(0))]).reason_codes == [QUOTA_EXCEEDED]
        conf = sorted(b.workdir.glob("hermod-*.toml"))[-1]
        conf.write_text(conf.read_text().replace("max_subscriptions = 1", "max_subscriptions = 3"))
        b.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: c.subscribe([("b", sub_options(0))]).reason_codes == [0], 5), \
            "the reloaded limit applies to the client's next SUBSCRIBE"
