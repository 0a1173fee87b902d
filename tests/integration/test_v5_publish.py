"""MQTT 5.0 PUBLISH (sections 3.3, 4.9): application-message properties forwarded unaltered,
topic aliases in both directions, the client's Receive Maximum (flow control) and the client's
Maximum Packet Size."""

import pytest
from paho.mqtt.packettypes import PacketTypes

from broker_process import unique_id
from clients import MosquittoSub, mosquitto_pub
from mqtt5_raw import (CONTENT_TYPE, CORRELATION_DATA, MAXIMUM_PACKET_SIZE, MESSAGE_PROPERTIES,
                       PAYLOAD_FORMAT_INDICATOR, PROTOCOL_ERROR, PUBACK, RECEIVE_MAXIMUM,
                       RESPONSE_TOPIC, SUCCESS, TOPIC_ALIAS,
                       TOPIC_ALIAS_MAXIMUM, USER_PROPERTY, paho_message_props,
                       paho_props, publish, sub_options)
from mqtt_raw import puback

pytest_plugins = ["mqtt5_raw"]  # the v5 and make_broker5 fixtures


def _subscriber(v5, topic_filter, qos=1, **connect_kw):
    s = v5.raw_connected(**connect_kw)
    ack = s.subscribe([(topic_filter, sub_options(qos=qos))])
    assert ack.reason_codes == [qos], f"SUBACK grants QoS {qos}: {ack}"
    return s


def _forwarded(v5, props, qos=1):
    """Publishes one message with `props` (raw MQTT 5 publisher) and returns the subscriber's
    copy."""
    topic = f"v5/props/{unique_id()}"
    sub = _subscriber(v5, topic)
    v5.raw_connected().publish(topic, b"payload", qos=qos, props=props)
    got = sub.receive_publish()
    assert (got.topic, got.payload) == (topic, b"payload"), got
    return got


# -------------------------------------------------------------------------------------------
# Application-message properties


def test_payload_format_indicator_forwarded(broker, v5):
    got = _forwarded(v5, [(PAYLOAD_FORMAT_INDICATOR, 1)])
    assert got.props.get(PAYLOAD_FORMAT_INDICATOR) == 1, \
        f"the Payload Format Indicator is forwarded unaltered [MQTT-3.3.2-4]: {got}"


def test_content_type_forwarded(broker, v5):
    got = _forwarded(v5, [(CONTENT_TYPE, "application/json; charset=utf-8")])
    assert got.props.get(CONTENT_TYPE) == "application/json; charset=utf-8", \
        f"the Content Type is forwarded unaltered [MQTT-3.3.2-20]: {got}"


def test_response_topic_forwarded(broker, v5):
    got = _forwarded(v5, [(RESPONSE_TOPIC, "v5/replies/ünïcode")])
    assert got.props.get(RESPONSE_TOPIC) == "v5/replies/ünïcode", \
        f"the Response Topic is forwarded unaltered [MQTT-3.3.2-15]: {got}"


def test_correlation_data_forwarded(broker, v5):
    data = bytes(range(256))
    got = _forwarded(v5, [(CORRELATION_DATA, data)])
    assert got.props.get(CORRELATION_DATA) == data, \
        f"the Correlation Data (binary) is forwarded unaltered [MQTT-3.3.2-16]: {got}"


def test_user_properties_forwarded_in_order(broker, v5):
    pairs = [("b", "1"), ("a", "2"), ("b", "3"), ("empty", ""), ("ключ", "значение")]
    got = _forwarded(v5, [(USER_PROPERTY, p) for p in pairs])
    assert got.props.all(USER_PROPERTY) == pairs, \
        (f"all User Properties, repeated keys included, are forwarded unaltered and in order "
         f"[MQTT-3.3.2-17] [MQTT-3.3.2-18]: sent {pairs}, got {got.props.all(USER_PROPERTY)}")


def test_message_without_properties_forwarded_without_properties(broker, v5):
    got = _forwarded(v5, [])
    assert not any(pid in got.props for pid in MESSAGE_PROPERTIES), \
        f"no property is invented for a message that had none (3.3.2.3): {got}"


def test_properties_forwarded_at_qos_0(broker, v5):
    got = _forwarded(v5, [(CONTENT_TYPE, "text/plain"), (USER_PROPERTY, ("k", "v"))], qos=0)
    kept = (got.props.get(CONTENT_TYPE), got.props.all(USER_PROPERTY))
    assert kept == ("text/plain", [("k", "v")]), \
        f"[MQTT-3.3.2-17] [MQTT-3.3.2-20] at QoS 0 too: {got}"


def test_properties_from_mosquitto_pub_reach_paho_subscriber(broker, v5):
    """Two independent MQTT 5 clients: mosquitto_pub -D sets the properties, paho reads them."""
    topic = "v5/interop/props"
    sub = v5.paho()
    sub.subscribe(topic, 1)
    r = mosquitto_pub(broker, "-V", "5", "-q", "1", "-t", topic, "-m", "hello",
                      "-D", "publish", "content-type", "text/plain",
                      "-D", "publish", "response-topic", "v5/interop/reply",
                      "-D", "publish", "correlation-data", "corr-42",
                      "-D", "publish", "payload-format-indicator", "1",
                      "-D", "publish", "user-property", "first", "1",
                      "-D", "publish", "user-property", "second", "2")
    assert r.returncode == 0, r.stderr
    m = sub.get_message()
    props = paho_message_props(m)
    assert (m.topic, m.payload) == (topic, b"hello"), m
    assert props.get("ContentType") == "text/plain", f"[MQTT-3.3.2-20]: {props}"
    assert props.get("ResponseTopic") == "v5/interop/reply", f"[MQTT-3.3.2-15]: {props}"
    assert props.get("CorrelationData") == b"corr-42", f"[MQTT-3.3.2-16]: {props}"
    assert props.get("PayloadFormatIndicator") == 1, f"[MQTT-3.3.2-4]: {props}"
    assert props.get("UserProperty") == [("first", "1"), ("second", "2")], \
        f"[MQTT-3.3.2-17] [MQTT-3.3.2-18]: {props}"


def test_properties_from_paho_publisher_reach_mosquitto_sub(broker, v5):
    topic = "v5/interop/sub"
    sub = MosquittoSub(broker, "-V", "5", "-q", "1", "-t", topic, "-C", "1",
                       "-F", "%t|%p|%C|%R|%P")
    try:
        sub.wait_subscribed()
        pub = v5.paho()
        pub.publish(topic, b"from paho", qos=1, properties=paho_props(
            PacketTypes.PUBLISH, ContentType="text/csv", ResponseTopic="v5/back",
            UserProperty=[("x", "1")]))
        line = sub.wait_line(lambda l: l.startswith(topic + "|"))
        assert line == f"{topic}|from paho|text/csv|v5/back|x:1", \
            f"mosquitto_sub prints the forwarded properties [MQTT-3.3.2-15] [MQTT-3.3.2-17] " \
            f"[MQTT-3.3.2-20]: {line!r}"
    finally:
        sub.close()


# -------------------------------------------------------------------------------------------
# Topic aliases from the client


def test_client_topic_alias_establishes_and_uses_mapping(broker, v5):
    sub = _subscriber(v5, "v5/alias/#")
    pub = v5.raw_connected()
    assert pub.connack.props.get(TOPIC_ALIAS_MAXIMUM, 0) >= 1, pub.connack
    pub.send(publish("v5/alias/one", b"first", qos=1, packet_id=1, props=[(TOPIC_ALIAS, 1)]))
    assert pub.expect(PUBACK, packet_id=1).reason_code == SUCCESS
    pub.send(publish("", b"second", qos=1, packet_id=2, props=[(TOPIC_ALIAS, 1)]))
    assert pub.expect(PUBACK, packet_id=2).reason_code == SUCCESS
    got = [sub.receive_publish() for _ in range(2)]
    assert [(p.topic, p.payload) for p in got] == [("v5/alias/one", b"first"),
                                                   ("v5/alias/one", b"second")], \
        f"an empty Topic Name with a known Topic Alias uses the mapped topic [MQTT-3.3.2-12]: {got}"


def test_client_topic_alias_can_be_remapped(broker, v5):
    sub = _subscriber(v5, "v5/remap/#")
    pub = v5.raw_connected()
    pub.send(publish("v5/remap/a", b"1", props=[(TOPIC_ALIAS, 1)]))
    pub.send(publish("v5/remap/b", b"2", props=[(TOPIC_ALIAS, 1)]))
    pub.send(publish("", b"3", props=[(TOPIC_ALIAS, 1)]))
    got = [sub.receive_publish() for _ in range(3)]
    assert [(p.topic, p.payload) for p in got] == [("v5/remap/a", b"1"), ("v5/remap/b", b"2"),
                                                   ("v5/remap/b", b"3")], \
        f"a Topic Name with a used alias replaces the mapping (3.3.2.3.4): {got}"


def test_client_topic_alias_not_carried_to_next_connection(broker, v5):
    cid = unique_id("alias")
    first = v5.raw_connected(client_id=cid)
    first.send(publish("v5/carry", b"x", props=[(TOPIC_ALIAS, 1)]))
    first.disconnect5()
    second = v5.raw_connected(client_id=cid)
    # An empty Topic Name with an alias unknown on this connection is a Protocol Error
    # (3.3.2.3.4).
    second.send(publish("", b"y", qos=1, packet_id=1, props=[(TOPIC_ALIAS, 1)]))
    second.expect_disconnect(PROTOCOL_ERROR,
                             "[MQTT-3.3.2-7] (alias mappings do not outlive the connection)")


# -------------------------------------------------------------------------------------------
# Topic aliases from the server


@pytest.mark.hermod_only("mosquitto 2.0.11 never assigns topic aliases on outgoing PUBLISH")
def test_broker_assigns_topic_alias_on_outgoing_publish(broker, v5):
    topic = "v5/outalias/topic-with-a-long-name"
    sub = _subscriber(v5, topic, props=[(TOPIC_ALIAS_MAXIMUM, 2)])
    pub = v5.raw_connected()
    for i in range(3):
        pub.publish(topic, b"%d" % i, qos=1)
    got = [sub.receive_publish() for _ in range(3)]
    first, later = got[0], got[1:]
    alias = first.props.get(TOPIC_ALIAS)
    assert first.wire_topic == topic and alias in (1, 2), \
        (f"the client allows 2 aliases: the first PUBLISH carries the topic and an alias in 1..2 "
         f"(3.3.2.3.4) [MQTT-3.3.2-11]: {first}")
    for p in later:
        assert p.wire_topic == "" and p.props.get(TOPIC_ALIAS) == alias, \
            f"later PUBLISHes on the topic send only the alias {alias}: {p}"
    assert [p.payload for p in got] == [b"0", b"1", b"2"], got


def test_broker_aliases_stay_within_client_maximum(broker, v5):
    sub = _subscriber(v5, "v5/bound/#", props=[(TOPIC_ALIAS_MAXIMUM, 1)])
    pub = v5.raw_connected()
    sent = [(f"v5/bound/{t}", b"%d" % i) for i, t in enumerate("abcabca")]
    for topic, payload in sent:
        pub.publish(topic, payload, qos=1)
    got = [sub.receive_publish() for _ in sent]
    for p in got:
        assert p.props.get(TOPIC_ALIAS, 1) == 1, \
            (f"no Topic Alias above the client's Topic Alias Maximum 1 [MQTT-3.1.2-26] "
             f"[MQTT-3.3.2-11]: {p}")
    assert [(p.topic, p.payload) for p in got] == sent, \
        f"every PUBLISH resolves to its topic through the aliases sent so far (3.3.2.3.4): {got}"


def test_no_topic_alias_sent_when_client_maximum_absent(broker, v5):
    topic = "v5/noalias"
    sub = _subscriber(v5, topic)
    pub = v5.raw_connected()
    for i in range(3):
        pub.publish(topic, b"%d" % i, qos=1)
    for _ in range(3):
        p = sub.receive_publish()
        assert TOPIC_ALIAS not in p.props and p.wire_topic == topic, \
            f"no Topic Alias Maximum in CONNECT → no Topic Alias [MQTT-3.1.2-27]: {p}"


# -------------------------------------------------------------------------------------------
# The client's Receive Maximum and Maximum Packet Size


def _flow_subscriber(v5, topic, count):
    """A subscriber with Receive Maximum 2 and `count` QoS 1 messages published to it; returns
    it after reading (without acknowledging) the first two PUBLISHes and checking, for a bounded
    short time, that no third one comes."""
    sub = _subscriber(v5, topic, props=[(RECEIVE_MAXIMUM, 2)])
    pub = v5.raw_connected()
    for i in range(count):
        pub.publish(topic, b"%d" % i, qos=1)
    first = [sub.receive_publish(ack=False) for _ in range(2)]
    assert [p.payload for p in first] == [b"0", b"1"], first
    try:
        sub.expect_nothing(0.5)
    except AssertionError as e:
        raise AssertionError(f"Receive Maximum 2: no third QoS 1 PUBLISH before a PUBACK "
                             f"[MQTT-3.3.4-9] [MQTT-4.9.0-2]: {e}") from None
    return sub, first


def test_client_receive_maximum_limits_unacknowledged_publishes(broker, v5):
    sub, first = _flow_subscriber(v5, "v5/flow", 5)
    for p in first:
        sub.send(puback(p.packet_id))
    rest = [sub.receive_publish() for _ in range(3)]
    assert [p.payload for p in rest] == [b"2", b"3", b"4"], \
        f"the held-back messages follow, in order, once acknowledged [MQTT-4.6.0-6]: {rest}"


@pytest.mark.hermod_only("mosquitto 2.0.11 answers one PUBACK with two PUBLISHes, exceeding "
                         "the client's Receive Maximum of 2")
def test_client_receive_maximum_one_puback_frees_one_slot(broker, v5):
    sub, first = _flow_subscriber(v5, "v5/flow/one", 4)
    sub.send(puback(first[0].packet_id))
    third = sub.receive_publish(ack=False)
    assert third.payload == b"2", third
    try:
        sub.expect_nothing(0.3)
    except AssertionError as e:
        raise AssertionError(f"one PUBACK frees one slot: still 2 unacknowledged "
                             f"[MQTT-3.3.4-9]: {e}") from None


def test_client_maximum_packet_size_drops_larger_message_for_that_client(broker, v5):
    topic = "v5/size"
    small = _subscriber(v5, topic, props=[(MAXIMUM_PACKET_SIZE, 128)])
    large = _subscriber(v5, topic)
    pub = v5.raw_connected()
    pub.publish(topic, b"x" * 500, qos=1)
    pub.publish(topic, b"fits", qos=1)
    got = small.receive_until(topic, b"fits")
    assert got == [], \
        (f"a PUBLISH over the client's Maximum Packet Size is not sent [MQTT-3.1.2-24] but "
         f"dropped as if delivered [MQTT-3.1.2-25]: {got}")
    both = [large.receive_publish() for _ in range(2)]
    assert [len(p.payload) for p in both] == [500, 4], \
        f"a client without the limit still gets both messages: {both}"


def test_client_maximum_packet_size_applies_to_whole_packet(broker, v5):
    """The limit counts the whole packet: a payload that fits alone but not with the topic and
    properties is not sent either."""
    topic = "v5/size/whole"
    sub = _subscriber(v5, topic, props=[(MAXIMUM_PACKET_SIZE, 100)])
    pub = v5.raw_connected()
    pub.publish(topic, b"p" * 95, qos=1, props=[(USER_PROPERTY, ("k", "v"))])
    pub.publish(topic, b"fits", qos=1)
    got = sub.receive_until(topic, b"fits")
    assert got == [], f"packet size includes header, topic and properties [MQTT-3.1.2-24]: {got}"
