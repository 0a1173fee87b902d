"""MQTT 5.0 reason codes (sections 2.4, 3.4–3.11, 3.14, 4.13): PUBACK/PUBREC, SUBACK and UNSUBACK
codes per message or filter, and the DISCONNECT a server sends, with its reason, before closing
a connection: malformed packet 0x81, protocol error 0x82, keepalive 0x8D, session taken over
0x8E, receive maximum 0x93, topic alias 0x94, packet too large 0x95, retain 0x9A, QoS 0x9B,
subscription identifiers 0xA1."""

import struct

import pytest

import mqtt5_raw
from broker_process import KEEPALIVE_1S_DEADLINE, unique_id
from mqtt5_raw import (AUTHENTICATION_DATA, CONNACK, KEEP_ALIVE_TIMEOUT, MALFORMED_PACKET,
                       NO_MATCHING_SUBSCRIBERS, NO_SUBSCRIPTION_EXISTED, PACKET_TOO_LARGE,
                       PAYLOAD_FORMAT_INDICATOR, PAYLOAD_FORMAT_INVALID, PROTOCOL_ERROR, PUBACK,
                       PUBREC, PUBREL, QOS_NOT_SUPPORTED, REASON_STRING, RECEIVE_MAXIMUM,
                       RECEIVE_MAXIMUM_EXCEEDED, REQUEST_PROBLEM_INFORMATION,
                       RETAIN_NOT_SUPPORTED, SESSION_TAKEN_OVER, SUBSCRIPTION_IDENTIFIER,
                       SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED, SUCCESS, TOPIC_ALIAS,
                       TOPIC_ALIAS_INVALID, TOPIC_FILTER_INVALID, USER_PROPERTY,
                       WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED, auth, encode_string, encode_varint,
                       packet, publish, sub_options, subscribe)
from mqtt_raw import DISCONNECT, SUBACK, UNSUBACK

pytest_plugins = ["mqtt5_raw"]  # the v5 and make_broker5 fixtures

# mosquitto 2.0.11 closes some connections without the DISCONNECT Hermod chose to send first.
NO_DISCONNECT = "mosquitto 2.0.11 closes the connection without a DISCONNECT"
# mosquitto 2.0.11 calls some protocol errors malformed packets.
SAYS_MALFORMED = "mosquitto 2.0.11 answers DISCONNECT 0x81 (malformed)"


# -------------------------------------------------------------------------------------------
# PUBACK / PUBREC


def test_puback_0x10_when_no_subscriber_matched(broker, v5):
    p = v5.raw_connected().publish("v5/rc/nobody", b"x", qos=1)
    assert p.reason_code == NO_MATCHING_SUBSCRIBERS, \
        f"QoS 1 to a topic nobody subscribes to → PUBACK 0x10 (3.4.2.1): {p}"


@pytest.mark.hermod_only("mosquitto 2.0.11 answers PUBREC 0x00 when no subscriber matched")
def test_pubrec_0x10_when_no_subscriber_matched(broker, v5):
    c = v5.raw_connected()
    p = c.publish("v5/rc/nobody2", b"x", qos=2)
    assert p.reason_code == NO_MATCHING_SUBSCRIBERS, \
        f"QoS 2 to a topic nobody subscribes to → PUBREC 0x10 (3.5.2.1): {p}"
    c.ping()  # the PUBREL/PUBCOMP exchange completed (0x10 is below 0x80) [MQTT-4.3.3-4]


def test_puback_0x00_when_a_subscriber_matched(broker, v5):
    sub = v5.raw_connected()
    sub.subscribe([("v5/rc/somebody", sub_options(qos=1))])
    p = v5.raw_connected().publish("v5/rc/somebody", b"x", qos=1)
    assert p.reason_code == SUCCESS, f"a matching subscriber → PUBACK 0x00 (3.4.2.1): {p}"


def test_no_reason_string_on_puback_when_problem_information_not_requested(broker, v5):
    c = v5.raw_connected(props=[(REQUEST_PROBLEM_INFORMATION, 0)])
    p = c.publish("v5/rc/quiet", b"x", qos=1)
    assert REASON_STRING not in p.props and USER_PROPERTY not in p.props, \
        (f"Request Problem Information 0: no Reason String or User Property on a PUBACK "
         f"[MQTT-3.1.2-29]: {p}")


@pytest.mark.hermod_only("mosquitto 2.0.11 does not validate payloads against the Payload "
                         "Format Indicator")
@pytest.mark.parametrize("qos, ack_type", [(1, PUBACK), (2, PUBREC)], ids=["qos1", "qos2"])
def test_invalid_utf8_payload_with_format_indicator_refused_with_0x99(broker, v5, qos, ack_type):
    topic = f"v5/rc/pfi{qos}"
    sub = v5.raw_connected()
    sub.subscribe([(topic, sub_options(qos=qos))])
    c = v5.raw_connected()
    p = c.publish(topic, b"\xff\xfe not utf-8", qos=qos, props=[(PAYLOAD_FORMAT_INDICATOR, 1)])
    assert (p.type, p.reason_code) == (ack_type, PAYLOAD_FORMAT_INVALID), \
        (f"Payload Format Indicator 1 with a payload that is not UTF-8 → "
         f"{mqtt5_raw.TYPE_NAMES[ack_type]} 0x99 (3.3.2.3.2): {p}")
    c.publish(topic, b"sentinel", qos=qos)
    got = sub.receive_until(topic, b"sentinel")
    assert got == [], f"the refused message is not delivered (3.3.2.3.2): {got}"


# -------------------------------------------------------------------------------------------
# SUBACK / UNSUBACK


def test_unsuback_0x11_for_filter_without_subscription(broker, v5):
    c = v5.raw_connected()
    c.subscribe([("v5/rc/subscribed", sub_options(qos=1))])
    u = c.unsubscribe(["v5/rc/subscribed", "v5/rc/never-subscribed"])
    assert u.reason_codes == [SUCCESS, NO_SUBSCRIPTION_EXISTED], \
        (f"UNSUBACK: 0x00 for the removed subscription, 0x11 for a filter with none, in order "
         f"[MQTT-3.11.3-1] (3.11.3): {u}")


@pytest.mark.hermod_only("mosquitto 2.0.11 disconnects a client that subscribes to an invalid "
                         "filter instead of refusing that filter in SUBACK")
# An empty filter is malformed and closes the connection (issue 17; test_conformance.py).
@pytest.mark.parametrize("bad_filter", ["v5/#/x", "v5/a#", "v5/a+/b"])
def test_suback_0x8f_for_invalid_topic_filter(broker, v5, bad_filter):
    c = v5.raw_connected()
    s = c.subscribe([("v5/rc/fine", sub_options(qos=1)), (bad_filter, sub_options(qos=1))])
    assert s.reason_codes == [1, TOPIC_FILTER_INVALID], \
        (f"{bad_filter!r} breaks [MQTT-4.7.1-1] [MQTT-4.7.1-2] → 0x8F for that "
         f"filter, the valid one granted, in order [MQTT-3.9.3-1]: {s}")
    c.ping()


@pytest.mark.hermod_only("mosquitto 2.0 cannot switch wildcard subscriptions off")
def test_wildcard_subscription_unavailable_gets_suback_0xa2(make_broker5, v5):
    b = make_broker5(wildcard_subscriptions=False)
    c = v5.raw_connected(b)
    s = c.subscribe([("v5/plain", sub_options(qos=1)), ("v5/+/x", sub_options(qos=1)),
                     ("v5/#", sub_options(qos=1))])
    assert s.reason_codes == [1, WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
                              WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED], \
        f"wildcard_subscriptions off → 0xA2 for each wildcard filter (3.9.3): {s}"
    c.ping()


# -------------------------------------------------------------------------------------------
# DISCONNECT from the server: capabilities switched off


@pytest.mark.hermod_only("mosquitto 2.0 cannot switch subscription identifiers off")
def test_subscription_identifier_when_unavailable_gets_disconnect_0xa1(make_broker5, v5):
    b = make_broker5(subscription_identifiers=False)
    c = v5.raw_connected(b)
    c.send(subscribe(1, [("v5/x", sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 1)]))
    c.expect_disconnect(SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
                        "(3.8.2.1.2: Subscription Identifiers not supported)")


def test_retained_publish_when_retain_unavailable_gets_disconnect_0x9a(make_broker5, v5):
    b = make_broker5(retain_available=False)
    c = v5.raw_connected(b)
    c.send(publish("v5/retained", b"x", qos=1, retain=True, packet_id=1))
    c.expect_disconnect(RETAIN_NOT_SUPPORTED, "(3.3.1.3: retained message while Retain "
                                              "Available is 0) [MQTT-3.2.2-14]")


def test_publish_above_maximum_qos_gets_disconnect_0x9b(make_broker5, v5):
    b = make_broker5(max_qos=1)
    c = v5.raw_connected(b)
    c.send(publish("v5/qos2", b"x", qos=2, packet_id=1))
    c.expect_disconnect(QOS_NOT_SUPPORTED, "(3.3.1.2: QoS above the Maximum QoS) [MQTT-3.2.2-11]")


# -------------------------------------------------------------------------------------------
# DISCONNECT from the server: limits


def test_packet_over_maximum_packet_size_gets_disconnect_0x95(make_broker5, v5):
    b = make_broker5(max_packet_size=256)
    c = v5.raw_connected(b)
    c.send(publish("v5/big", b"x" * 1000, qos=1, packet_id=1))
    c.expect_disconnect(PACKET_TOO_LARGE, "(3.2.2.3.6: packet over the Maximum Packet Size) "
                                          "[MQTT-3.2.2-15]")


@pytest.mark.parametrize("alias", [
    pytest.param(0, id="alias-0", marks=pytest.mark.hermod_only("mosquitto 2.0.11 answers 0x81")),
    pytest.param(3, id="above-maximum")])
def test_invalid_topic_alias_gets_disconnect_0x94(make_broker5, v5, alias):
    b = make_broker5(topic_alias_maximum=2)
    c = v5.raw_connected(b)
    c.send(publish("v5/alias", b"x", qos=1, packet_id=1, props=[(TOPIC_ALIAS, alias)]))
    c.expect_disconnect(TOPIC_ALIAS_INVALID, f"(Topic Alias {alias} with maximum 2) "
                                             "[MQTT-3.3.2-8] [MQTT-3.3.2-9]")


def test_topic_alias_when_maximum_is_0_gets_disconnect_0x94(make_broker5, v5):
    b = make_broker5(topic_alias_maximum=0)
    c = v5.raw_connected(b)
    c.send(publish("v5/alias", b"x", qos=1, packet_id=1, props=[(TOPIC_ALIAS, 1)]))
    c.expect_disconnect(TOPIC_ALIAS_INVALID, "(a Topic Alias while the server allows none) "
                                             "[MQTT-3.2.2-18]")


@pytest.mark.hermod_only("mosquitto 2.0.11 answers the excess PUBLISH with PUBREC 0x97 "
                         "(quota exceeded) instead")
def test_receive_maximum_exceeded_gets_disconnect_0x93(make_broker5, v5):
    b = make_broker5(receive_maximum=2)
    c = v5.raw_connected(b)
    assert c.connack.props.get(RECEIVE_MAXIMUM) == 2, c.connack
    for pid in (1, 2):
        c.send(publish("v5/flood", b"%d" % pid, qos=2, packet_id=pid))
        assert c.expect(PUBREC, packet_id=pid).reason_code < 0x80
    # Two QoS 2 messages await PUBREL: a third exceeds the announced Receive Maximum 2.
    c.send(publish("v5/flood", b"3", qos=2, packet_id=3))
    c.expect_disconnect(RECEIVE_MAXIMUM_EXCEEDED, "(3.3.4: more unacknowledged QoS 2 PUBLISHes "
                                                  "than the Receive Maximum) [MQTT-3.3.4-7]")


# -------------------------------------------------------------------------------------------
# DISCONNECT from the server: connection state


@pytest.mark.hermod_only(NO_DISCONNECT)
def test_session_takeover_gets_disconnect_0x8e(broker, v5):
    cid = unique_id("over")
    old = v5.raw_connected(client_id=cid)
    new = v5.raw_connected(client_id=cid)
    old.expect_disconnect(SESSION_TAKEN_OVER, "[MQTT-3.1.4-3]")
    new.ping()


@pytest.mark.time_limit(15)
@pytest.mark.hermod_only(NO_DISCONNECT)
def test_keepalive_timeout_gets_disconnect_0x8d(broker, v5):
    c = v5.raw_connected(keepalive=1)
    c.expect_disconnect(KEEP_ALIVE_TIMEOUT, "[MQTT-3.1.2-22]", timeout=KEEPALIVE_1S_DEADLINE + 1)


# -------------------------------------------------------------------------------------------
# DISCONNECT from the server: malformed packets and protocol errors

MALFORMED = {
    "property-length-past-end": (
        publish("v5/m", b"", props_raw=encode_varint(50) + b"\x01\x01"), "2.2.2.1"),
    "topic-not-utf8": (publish(b"v5/\xff\xfe", b"x"), "[MQTT-1.5.4-1]"),
    "topic-with-null": (publish(b"v5/\x00", b"x"), "[MQTT-1.5.4-2]"),
    "user-property-not-utf8": (
        publish("v5/m", b"", props_raw=encode_varint(9) + b"\x26" + encode_string(b"\xc3\x28")
                + encode_string(b"ok")), "[MQTT-1.5.7-1]"),
    "publish-qos-3": (publish("v5/m", b"x", qos=3, packet_id=1), "[MQTT-3.3.1-4]"),
    "subscribe-reserved-option-bits": (subscribe(1, [("v5/m", 0xC1)]), "[MQTT-3.8.3-5]"),
    "pubrel-bad-flags": (packet(PUBREL, 0, struct.pack("!H", 1)), "[MQTT-3.6.1-1]"),
    "disconnect-bad-flags": (packet(DISCONNECT, 0x01), "[MQTT-3.14.1-1]"),
}


MOSQUITTO_MALFORMED = {"disconnect-bad-flags": NO_DISCONNECT, "pubrel-bad-flags": NO_DISCONNECT,
                       "user-property-not-utf8": NO_DISCONNECT}


def _cases(table, mosquitto_differs):
    return [pytest.param(k, id=k, marks=[pytest.mark.hermod_only(mosquitto_differs[k])]
                         if k in mosquitto_differs else []) for k in sorted(table)]


@pytest.mark.parametrize("case", _cases(MALFORMED, MOSQUITTO_MALFORMED))
def test_malformed_packet_gets_disconnect_0x81(broker, v5, case):
    data, rule = MALFORMED[case]
    c = v5.raw_connected()
    c.send(data)
    c.expect_disconnect(MALFORMED_PACKET, f"{rule} ({case}) [MQTT-4.13.1-1]")


def _second_connect():
    return mqtt5_raw.connect(unique_id("again"))


PROTOCOL_ERRORS = {
    "second-connect": (_second_connect(), "[MQTT-3.1.0-2]"),
    "repeated-payload-format-indicator": (
        publish("v5/p", b"x", props=[(PAYLOAD_FORMAT_INDICATOR, 0), (PAYLOAD_FORMAT_INDICATOR, 0)]),
        "(2.2.2.2, 3.3.2.3.2: included more than once)"),
    "subscription-identifier-in-publish": (
        publish("v5/p", b"x", props=[(SUBSCRIPTION_IDENTIFIER, 1)]), "[MQTT-3.3.4-6]"),
    "subscription-identifier-0": (
        subscribe(1, [("v5/p", 0)], props=[(SUBSCRIPTION_IDENTIFIER, 0)]), "(3.8.2.1.2)"),
    "retain-handling-3": (subscribe(1, [("v5/p", sub_options(retain_handling=3))]), "(3.8.3.1)"),
    "empty-topic-without-alias": (publish("", b"x"), "(3.3.2.3.4)"),
    "subscribe-without-filters": (packet(mqtt5_raw.SUBSCRIBE, 0x02, b"\x00\x01\x00"),
                                  "[MQTT-3.8.3-2]"),
    "unsubscribe-without-filters": (packet(mqtt5_raw.UNSUBSCRIBE, 0x02, b"\x00\x01\x00"),
                                    "[MQTT-3.10.2-2]"),
    "auth-without-authentication-method": (
        auth(0x19, props=[(AUTHENTICATION_DATA, b"x")]), "[MQTT-4.12.0-7]"),
}


MOSQUITTO_PROTOCOL_ERRORS = {
    "second-connect": NO_DISCONNECT,
    "repeated-payload-format-indicator": NO_DISCONNECT,
    "auth-without-authentication-method": NO_DISCONNECT,
    "subscription-identifier-in-publish": "mosquitto 2.0.11 accepts it",
    "subscription-identifier-0": SAYS_MALFORMED,
    "retain-handling-3": SAYS_MALFORMED,
    "subscribe-without-filters": SAYS_MALFORMED,
    "unsubscribe-without-filters": SAYS_MALFORMED,
}


@pytest.mark.parametrize("case", _cases(PROTOCOL_ERRORS, MOSQUITTO_PROTOCOL_ERRORS))
def test_protocol_error_gets_disconnect_0x82(broker, v5, case):
    data, rule = PROTOCOL_ERRORS[case]
    c = v5.raw_connected()
    c.send(data)
    c.expect_disconnect(PROTOCOL_ERROR, f"{rule} ({case}) [MQTT-4.13.1-1]")


SERVER_ONLY = {
    "connack": packet(CONNACK, 0, b"\x00\x00\x00"),
    "suback": packet(SUBACK, 0, b"\x00\x01\x00\x00"),
    "unsuback": packet(UNSUBACK, 0, b"\x00\x01\x00\x00"),
    "pingresp": packet(mqtt5_raw.PINGRESP, 0),
}


@pytest.mark.hermod_only("mosquitto 2.0.11 ignores SUBACK, UNSUBACK and PINGRESP from a client "
                         "and closes without DISCONNECT on CONNACK")
@pytest.mark.parametrize("case", sorted(SERVER_ONLY))
def test_packet_only_a_server_sends_gets_disconnect_0x82(broker, v5, case):
    c = v5.raw_connected()
    c.send(SERVER_ONLY[case])
    c.expect_disconnect(PROTOCOL_ERROR, f"({case.upper()} flows only from server to client, "
                                        "2.1.2) [MQTT-4.13.1-1]")


@pytest.mark.hermod_only("mosquitto 2.0.11 closes the connection without a CONNACK")
def test_connect_with_receive_maximum_0_gets_connack_0x82(broker, v5):
    c = v5.raw()
    a = c.connect(unique_id("rm0"), props=[(RECEIVE_MAXIMUM, 0)])
    assert a.reason_code == PROTOCOL_ERROR, \
        f"Receive Maximum 0 is a Protocol Error (3.1.2.11.3) → CONNACK 0x82: {a}"
    assert c.wait_closed(5), "[MQTT-3.2.2-7]"

