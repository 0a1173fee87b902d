"""MQTT 3.1.1 and 5.0 clients on one broker: messages flow both ways with the right translation
— a 3.1.1 subscriber gets a well-formed 3.1.1 PUBLISH without the 5.0 properties, a 5.0
subscriber sees no properties on a 3.1.1 publisher's message — for live, retained and will
messages, and sessions can be taken over across versions."""

import paho.mqtt.client as paho
import pytest
from paho.mqtt.packettypes import PacketTypes

from broker_process import unique_id
from clients import MosquittoSub, mosquitto_pub
from mqtt5_raw import (CONTENT_TYPE, CORRELATION_DATA, MESSAGE_EXPIRY_INTERVAL,
                       MESSAGE_PROPERTIES, PAYLOAD_FORMAT_INDICATOR, RESPONSE_TOPIC,
                       SESSION_EXPIRY_INTERVAL, SESSION_TAKEN_OVER, USER_PROPERTY, Will5,
                       paho_message_props, paho_props, sub_options)
from mqtt_raw import MQTT_V311, Will

pytest_plugins = ["mqtt5_raw"]  # the v5 and make_broker5 fixtures

ALL_PROPS = [(PAYLOAD_FORMAT_INDICATOR, 1), (MESSAGE_EXPIRY_INTERVAL, 600),
             (CONTENT_TYPE, "text/plain"), (RESPONSE_TOPIC, "mixed/reply"),
             (CORRELATION_DATA, b"\x01\x02"), (USER_PROPERTY, ("k", "v"))]


def _v311_subscriber(clients, topic_filter, qos=1):
    s = clients.raw_connected(protocol=MQTT_V311)
    assert s.subscribe([(topic_filter, qos)]).return_codes == [qos]
    return s


def _v5_subscriber(v5, topic_filter, qos=1):
    s = v5.raw_connected()
    assert s.subscribe([(topic_filter, sub_options(qos=qos))]).reason_codes == [qos]
    return s


def _assert_plain_v311(got, topic, payload, what):
    assert (got.topic, got.payload) == (topic, payload), \
        (f"{what}: the 3.1.1 subscriber gets a 3.1.1 PUBLISH (topic, packet id, payload) with "
         f"no MQTT 5 property bytes (3.1.1 section 3.3): {got}")


# -------------------------------------------------------------------------------------------
# Live messages


def test_v311_publisher_to_v5_subscriber_has_no_properties(broker, clients, v5):
    sub = _v5_subscriber(v5, "mixed/up")
    clients.raw_connected(protocol=MQTT_V311).publish("mixed/up", b"from 3.1.1", qos=1)
    got = sub.receive_publish()
    assert (got.topic, got.payload) == ("mixed/up", b"from 3.1.1"), got
    assert not any(pid in got.props for pid in MESSAGE_PROPERTIES), \
        f"a 3.1.1 message reaches a 5.0 subscriber without properties (3.3.2.3): {got}"


def test_v5_publisher_to_v311_subscriber_drops_properties(broker, clients, v5):
    sub = _v311_subscriber(clients, "mixed/down")
    v5.raw_connected().publish("mixed/down", b"from 5.0", qos=1, props=ALL_PROPS)
    _assert_plain_v311(sub.receive_publish(), "mixed/down", b"from 5.0", "live message")


def test_v5_properties_dropped_only_for_v311_subscriber(broker, clients, v5):
    old = _v311_subscriber(clients, "mixed/both")
    new = _v5_subscriber(v5, "mixed/both")
    v5.raw_connected().publish("mixed/both", b"x", qos=1, props=ALL_PROPS)
    _assert_plain_v311(old.receive_publish(), "mixed/both", b"x", "live message")
    got = new.receive_publish()
    kept = (got.props.all(USER_PROPERTY), got.props.get(CONTENT_TYPE))
    assert kept == ([("k", "v")], "text/plain"), \
        f"the 5.0 subscriber of the same message still gets its properties [MQTT-3.3.2-17]: {got}"


@pytest.mark.parametrize("qos", [0, 2])
def test_v5_publisher_to_v311_subscriber_at_qos(broker, clients, v5, qos):
    sub = _v311_subscriber(clients, "mixed/qos", qos=2)
    v5.raw_connected().publish("mixed/qos", b"q", qos=qos, props=ALL_PROPS)
    got = sub.receive_publish()
    _assert_plain_v311(got, "mixed/qos", b"q", f"QoS {qos} message")
    assert got.qos == qos, got
    if qos == 2:
        sub.finish_qos2()


def test_paho_v5_publisher_to_paho_v311_subscriber(broker, clients, v5):
    sub = clients.paho(protocol=paho.MQTTv311)
    sub.subscribe("mixed/paho", 1)
    v5.paho().publish("mixed/paho", b"to 3.1.1", qos=1, properties=paho_props(
        PacketTypes.PUBLISH, ContentType="text/plain", UserProperty=[("a", "b")]))
    m = sub.get_message()
    assert (m.topic, m.payload) == ("mixed/paho", b"to 3.1.1"), \
        f"paho 3.1.1 subscriber gets the 5.0 message intact: {m.topic} {m.payload!r}"


def test_mosquitto_pub_v311_to_mosquitto_sub_v5(broker, v5):
    sub = MosquittoSub(broker, "-V", "5", "-q", "1", "-t", "mixed/mosq", "-C", "1",
                       "-F", "%t|%p|%C|%P|%F")
    try:
        sub.wait_subscribed()
        r = mosquitto_pub(broker, "-V", "311", "-q", "1", "-t", "mixed/mosq", "-m", "plain")
        assert r.returncode == 0, r.stderr
        line = sub.wait_line(lambda l: l.startswith("mixed/mosq|"))
        assert line == "mixed/mosq|plain|||", \
            f"mosquitto_sub (5.0) prints no properties for a 3.1.1 message: {line!r}"
    finally:
        sub.close()


def test_paho_v311_publisher_to_paho_v5_subscriber(broker, clients, v5):
    sub = v5.paho()
    sub.subscribe("mixed/paho5", 1)
    clients.paho(protocol=paho.MQTTv311).publish("mixed/paho5", b"from 3.1.1", qos=1)
    m = sub.get_message()
    assert (m.topic, m.payload) == ("mixed/paho5", b"from 3.1.1"), m
    props = paho_message_props(m)
    assert not props, f"paho (5.0) sees no properties on a 3.1.1 message: {props}"


# -------------------------------------------------------------------------------------------
# Retained and will messages


def test_v5_retained_message_to_v311_subscriber(broker, clients, v5):
    v5.raw_connected().publish("mixed/retained5", b"kept", qos=1, retain=True, props=ALL_PROPS)
    sub = _v311_subscriber(clients, "mixed/retained5")
    got = sub.receive_publish()
    _assert_plain_v311(got, "mixed/retained5", b"kept", "retained message")
    assert got.retain, got


def test_v311_retained_message_to_v5_subscriber(broker, clients, v5):
    clients.raw_connected(protocol=MQTT_V311).publish("mixed/retained3", b"kept", qos=1,
                                                      retain=True)
    sub = _v5_subscriber(v5, "mixed/retained3")
    got = sub.receive_publish()
    assert (got.topic, got.payload, got.retain) == ("mixed/retained3", b"kept", True), got
    assert not any(pid in got.props for pid in MESSAGE_PROPERTIES), \
        f"a retained 3.1.1 message has no properties for a 5.0 subscriber: {got}"


def test_v5_will_to_v311_subscriber(broker, clients, v5):
    sub = _v311_subscriber(clients, "mixed/will5")
    c = v5.raw_connected(will=Will5("mixed/will5", b"gone", qos=1, props=ALL_PROPS))
    c.close()
    _assert_plain_v311(sub.receive_publish(), "mixed/will5", b"gone", "will message")


def test_v311_will_to_v5_subscriber(broker, clients, v5):
    sub = _v5_subscriber(v5, "mixed/will3")
    c = clients.raw_connected(protocol=MQTT_V311, will=Will("mixed/will3", b"gone", qos=1))
    c.close()
    got = sub.receive_publish()
    assert (got.topic, got.payload) == ("mixed/will3", b"gone"), got
    assert not any(pid in got.props for pid in MESSAGE_PROPERTIES), \
        f"a 3.1.1 will has no properties for a 5.0 subscriber: {got}"


# -------------------------------------------------------------------------------------------
# Sessions across versions


def test_v5_client_takes_over_v311_connection_without_disconnect_packet(broker, clients, v5):
    cid = unique_id("mix")
    old = clients.raw_connected(client_id=cid, clean=False, protocol=MQTT_V311)
    old.subscribe([("mixed/session", 1)])
    new = v5.raw()
    ack = new.connect(cid, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 60)])
    assert (ack.reason_code, ack.session_present) == (0, True), \
        f"a 5.0 CONNECT with Clean Start 0 resumes the 3.1.1 session [MQTT-3.1.2-5]: {ack}"
    assert old.wait_closed(5), "the old connection is closed [MQTT-3.1.4-3]"
    assert old.pending() == [], \
        f"a 3.1.1 client gets no DISCONNECT packet (3.1.1 has none from servers): {old.pending()}"
    v5.raw_connected().publish("mixed/session", b"resumed", qos=1)
    assert new.receive_publish().payload == b"resumed", "the resumed session kept its subscription"


@pytest.mark.hermod_only("mosquitto 2.0.11 closes the taken-over connection without a DISCONNECT")
def test_v311_client_takes_over_v5_connection_which_gets_disconnect_0x8e(broker, clients, v5):
    cid = unique_id("mix")
    old = v5.raw_connected(client_id=cid)
    new = clients.raw_connected(client_id=cid, protocol=MQTT_V311)
    old.expect_disconnect(SESSION_TAKEN_OVER, "[MQTT-3.1.4-3] (taken over by a 3.1.1 client)")
    new.ping()
