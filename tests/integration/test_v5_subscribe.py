"""MQTT 5.0 SUBSCRIBE options and subscription identifiers (sections 3.8, 3.3.1.3, 3.3.4):
No Local, Retain As Published, Retain Handling 0/1/2, subscription identifiers on delivery, and
overlapping subscriptions delivered once at the highest QoS with every matching identifier."""

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

from clients import MosquittoSub
from mqtt5_raw import (SUBSCRIPTION_IDENTIFIER, paho_message_props, paho_props,
                       sub_options)

pytest_plugins = ["mqtt5_raw"]  # the v5 and make_broker5 fixtures


def _retained(v5, topic, payload=b"kept"):
    """Stores a retained message on `topic` (QoS 1, so it is stored once the PUBACK is in)."""
    v5.raw_connected().publish(topic, payload, qos=1, retain=True)


# -------------------------------------------------------------------------------------------
# No Local


def test_no_local_suppresses_own_messages(broker, v5):
    topic = "v5/nolocal"
    me = v5.raw_connected()
    me.subscribe([(topic, sub_options(qos=1, no_local=True))])
    me.publish(topic, b"mine", qos=1)
    v5.raw_connected().publish(topic, b"theirs", qos=1)
    got = me.receive_publish()
    assert got.payload == b"theirs", \
        (f"No Local 1: the subscriber's own message is not forwarded back to it [MQTT-3.8.3-3]; "
         f"first message received: {got}")


def test_without_no_local_own_messages_are_delivered(broker, v5):
    topic = "v5/local"
    me = v5.raw_connected()
    me.subscribe([(topic, sub_options(qos=1))])
    me.publish(topic, b"mine", qos=1)
    got = me.receive_publish()
    assert got.payload == b"mine", f"No Local 0: own messages are delivered (3.8.3.1): {got}"


def test_no_local_via_paho(broker, v5):
    topic = "v5/nolocal/paho"
    me = v5.paho()
    me.subscribe(topic, options=SubscribeOptions(qos=1, noLocal=True))
    me.publish(topic, b"mine", qos=1)
    v5.paho().publish(topic, b"theirs", qos=1)
    got = me.get_message()
    assert got.payload == b"theirs", f"paho noLocal=True [MQTT-3.8.3-3]: got {got.payload!r}"


# -------------------------------------------------------------------------------------------
# Retain As Published


def test_retain_as_published_keeps_retain_flag(broker, v5):
    topic = "v5/rap/1"
    sub = v5.raw_connected()
    sub.subscribe([(topic, sub_options(qos=1, retain_as_published=True))])
    v5.raw_connected().publish(topic, b"live retained", qos=1, retain=True)
    got = sub.receive_publish()
    assert got.retain, \
        f"Retain As Published 1: the RETAIN flag is forwarded as published [MQTT-3.3.1-13]: {got}"


def test_retain_as_published_0_clears_retain_flag(broker, v5):
    topic = "v5/rap/0"
    sub = v5.raw_connected()
    sub.subscribe([(topic, sub_options(qos=1))])
    v5.raw_connected().publish(topic, b"live retained", qos=1, retain=True)
    got = sub.receive_publish()
    assert not got.retain, \
        f"Retain As Published 0: a live message is forwarded with RETAIN 0 [MQTT-3.3.1-12]: {got}"


# -------------------------------------------------------------------------------------------
# Retain Handling


def _retained_after_subscribe(c, topic):
    """What `c` received on `topic` after its last SUBACK: everything up to its own non-retained
    sentinel, then (for a retained message the server looks up asynchronously) anything more
    within a bounded short time."""
    c.publish(topic, b"sentinel", qos=1)
    return c.receive_until(topic, b"sentinel") + c.publishes_within(0.3)


def test_retain_handling_0_sends_retained_on_every_subscribe(broker, v5):
    topic = "v5/rh0"
    _retained(v5, topic)
    sub = v5.raw_connected()
    for attempt in ("new", "existing"):
        sub.subscribe([(topic, sub_options(qos=1, retain_handling=0))])
        got = sub.receive_publish()
        assert (got.payload, got.retain) == (b"kept", True), \
            (f"Retain Handling 0 ({attempt} subscription): retained message sent, RETAIN 1 "
             f"[MQTT-3.3.1-9] [MQTT-3.8.4-4]: {got}")


def test_retain_handling_1_sends_retained_only_for_new_subscription(broker, v5):
    topic = "v5/rh1"
    _retained(v5, topic)
    sub = v5.raw_connected()
    sub.subscribe([(topic, sub_options(qos=1, retain_handling=1))])
    got = sub.receive_publish()
    assert (got.payload, got.retain) == (b"kept", True), \
        f"Retain Handling 1, new subscription: retained message sent [MQTT-3.3.1-10]: {got}"
    sub.subscribe([(topic, sub_options(qos=1, retain_handling=1))])
    got = _retained_after_subscribe(sub, topic)
    assert got == [], \
        f"Retain Handling 1, existing subscription: no retained message [MQTT-3.3.1-10]: {got}"


def test_retain_handling_2_sends_no_retained(broker, v5):
    topic = "v5/rh2"
    _retained(v5, topic)
    sub = v5.raw_connected()
    sub.subscribe([(topic, sub_options(qos=1, retain_handling=2))])
    got = _retained_after_subscribe(sub, topic)
    assert got == [], f"Retain Handling 2: retained messages are not sent [MQTT-3.3.1-11]: {got}"


def test_retain_handling_2_still_delivers_live_messages(broker, v5):
    topic = "v5/rh2/live"
    sub = v5.raw_connected()
    sub.subscribe([(topic, sub_options(qos=1, retain_handling=2))])
    v5.raw_connected().publish(topic, b"live", qos=1)
    got = sub.receive_publish()
    assert got.payload == b"live", \
        f"Retain Handling only concerns retained messages (3.8.3.1): {got}"


def test_subscribe_at_qos_2_accepted_when_maximum_qos_is_1(make_broker5, v5):
    b = make_broker5(max_qos=1)
    sub = v5.raw_connected(b)
    ack = sub.subscribe([("v5/mq", sub_options(qos=2))])
    assert ack.reason_codes in ([0], [1]), \
        (f"a server without QoS 2 still accepts SUBSCRIBE at QoS 2, granting at most its Maximum "
         f"QoS [MQTT-3.2.2-10] [MQTT-3.8.4-7]: {ack}")
    v5.raw_connected(b).publish("v5/mq", b"x", qos=1)
    got = sub.receive_publish()
    assert got.qos <= 1, f"delivered at most at the granted QoS [MQTT-3.8.4-8]: {got}"


# -------------------------------------------------------------------------------------------
# Subscription identifiers


def test_subscription_identifier_sent_on_delivery(broker, v5):
    topic = "v5/subid"
    sub = v5.raw_connected()
    sub.subscribe([(topic, sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 300_000)])
    v5.raw_connected().publish(topic, b"x", qos=1)
    got = sub.receive_publish()
    assert got.props.all(SUBSCRIPTION_IDENTIFIER) == [300_000], \
        f"the PUBLISH carries the matching subscription's identifier [MQTT-3.3.4-3]: {got}"


def test_no_subscription_identifier_for_subscription_without_one(broker, v5):
    sub = v5.raw_connected()
    sub.subscribe([("v5/with-id", sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 5)])
    sub.subscribe([("v5/without-id", sub_options(qos=1))])
    v5.raw_connected().publish("v5/without-id", b"x", qos=1)
    got = sub.receive_publish()
    assert SUBSCRIPTION_IDENTIFIER not in got.props, \
        f"a subscription made without an identifier delivers without one [MQTT-3.3.4-5]: {got}"


def test_resubscribe_replaces_subscription_identifier(broker, v5):
    topic = "v5/subid/replace"
    sub = v5.raw_connected()
    sub.subscribe([(topic, sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 1)])
    sub.subscribe([(topic, sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 2)])
    v5.raw_connected().publish(topic, b"x", qos=1)
    got = sub.receive_publish()
    assert got.props.all(SUBSCRIPTION_IDENTIFIER) == [2], \
        (f"an identical filter replaces the subscription, identifier included [MQTT-3.8.4-3]: "
         f"{got}")


def test_subscription_identifier_via_paho(broker, v5):
    topic = "v5/subid/paho"
    sub = v5.paho()
    sub.subscribe(topic, 1, properties=paho_props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=77))
    v5.paho().publish(topic, b"x", qos=1)
    got = paho_message_props(sub.get_message())
    assert got.get("SubscriptionIdentifier") == [77], f"[MQTT-3.3.4-3]: {got}"


def test_subscription_identifier_printed_by_mosquitto_sub(broker, v5):
    topic = "v5/subid/mosq"
    sub = MosquittoSub(broker, "-V", "5", "-q", "1", "-t", topic, "-C", "1",
                       "-D", "subscribe", "subscription-identifier", "12", "-F", "%t|%S|%p")
    try:
        sub.wait_subscribed()
        v5.raw_connected().publish(topic, b"hello", qos=1)
        line = sub.wait_line(lambda l: l.startswith(topic + "|"))
        assert line == f"{topic}|12|hello", f"[MQTT-3.3.4-3]: {line!r}"
    finally:
        sub.close()


# -------------------------------------------------------------------------------------------
# Overlapping subscriptions


def _copies(pub, sub, topic, qos):
    """`pub` publishes a message and then a sentinel on `topic` at `qos`; returns the copies of
    the message `sub` received before the first copy of the sentinel (same topic and QoS, so
    ordered: 4.6)."""
    pub.publish(topic, b"msg", qos=qos)
    pub.publish(topic, b"sentinel", qos=qos)
    return sub.receive_until(topic, b"sentinel")


@pytest.mark.hermod_only("mosquitto 2.0.11 sends one copy per matching subscription")
def test_overlapping_subscriptions_one_copy_with_every_identifier(broker, v5):
    sub = v5.raw_connected()
    sub.subscribe([("v5/ov/+", sub_options(qos=0))], props=[(SUBSCRIPTION_IDENTIFIER, 1)])
    sub.subscribe([("v5/ov/#", sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 2)])
    sub.subscribe([("v5/ov/x", sub_options(qos=1))])
    got = _copies(v5.raw_connected(), sub, "v5/ov/x", 1)
    assert len(got) == 1, f"overlapping subscriptions give one copy (the choice, 3.3.4): {got}"
    assert sorted(got[0].props.all(SUBSCRIPTION_IDENTIFIER)) == [1, 2], \
        (f"the single copy carries the identifiers of every matching subscription that has one "
         f"[MQTT-3.3.4-4]: {got[0]}")


@pytest.mark.hermod_only("mosquitto 2.0.11 sends one copy per matching subscription")
def test_overlapping_subscriptions_deliver_one_copy_at_highest_qos(broker, v5):
    sub = v5.raw_connected()
    sub.subscribe([("v5/hq/+", sub_options(qos=0)), ("v5/hq/#", sub_options(qos=2)),
                   ("v5/hq/x", sub_options(qos=1))])
    got = _copies(v5.raw_connected(), sub, "v5/hq/x", 2)
    assert [(p.payload, p.qos) for p in got] == [(b"msg", 2)], \
        (f"overlapping subscriptions: one copy, at the maximum QoS of the matching subscriptions "
         f"[MQTT-3.3.4-2]: {got}")


# -------------------------------------------------------------------------------------------
# One message, subscribers that need different bytes

def test_one_message_fanned_out_to_different_subscribers_gets_each_its_own_header(broker, v5):
    """Hermod encodes a QoS 0 PUBLISH header once per message for all the subscribers that get
    the same bytes; those that differ (protocol version, retain flag, subscription identifier)
    must each still get theirs, message after message."""
    import mqtt_raw
    old = mqtt_raw.RawClient(broker.host, broker.port)
    assert old.connect("fan-311").return_code == 0
    old.subscribe([("fan/#", 0)])
    keep = v5.raw_connected()
    keep.subscribe([("fan/#", sub_options(qos=0, retain_as_published=True))])
    plain = v5.raw_connected()
    plain.subscribe([("fan/#", sub_options(qos=0))])
    tagged = v5.raw_connected()
    tagged.subscribe([("fan/#", sub_options(qos=0))], props=[(SUBSCRIPTION_IDENTIFIER, 7)])
    pub = v5.raw_connected()
    sent = [("fan/a", b"one", True), ("fan/bb/c", b"two", False), ("fan/a", b"three", True)]
    for topic, payload, retain in sent:
        pub.publish(topic, payload, qos=0, retain=retain)
    for topic, payload, retain in sent:
        got = old.receive_publish()
        assert (got.topic, got.payload, got.retain) == (topic, payload, False), f"3.1.1 subscriber: {got}"
        got = keep.receive_publish()
        assert (got.topic, got.payload, got.retain) == (topic, payload, retain), \
            f"Retain As Published keeps the flag [MQTT-3.3.1-13]: {got}"
        assert SUBSCRIPTION_IDENTIFIER not in got.props, got
        got = plain.receive_publish()
        assert (got.topic, got.payload, got.retain) == (topic, payload, False), f"RETAIN 0 [MQTT-3.3.1-12]: {got}"
        got = tagged.receive_publish()
        assert (got.topic, got.payload, got.retain) == (topic, payload, False), got
        assert got.props.all(SUBSCRIPTION_IDENTIFIER) == [7], f"its identifier [MQTT-3.3.4-3]: {got}"
    old.close()
