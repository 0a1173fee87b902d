"""Retained messages (MQTT 3.1.1 section 3.3.1.3): stored, replaced, deleted, delivered to new
subscriptions (also through wildcards) with RETAIN=1, and RETAIN=0 on live delivery."""

import pytest

from broker_process import unique_id
from clients import mosquitto_pub


def _retain(clients, topic: str, payload: bytes, qos: int = 1) -> None:
    """Publishes a retained message and waits for the handshake (so the broker has it)."""
    pub = clients.raw_connected()
    pub.publish(topic, payload, qos=qos, retain=True)
    if qos == 0:  # no acknowledgement: a QoS 1 publish after it shows it was processed
        pub.publish(f"barrier/{unique_id()}", b"", qos=1)
    pub.disconnect()


def _subscribe_and_collect(clients, topic_filter: str, qos: int = 1):
    """Subscribes a fresh client and returns what it gets before its own sentinel."""
    sub = clients.raw_connected()
    sentinel = f"sentinel/{unique_id()}"
    sub.subscribe([(topic_filter, qos), (sentinel, 0)])
    sub.publish(sentinel, b"end", qos=1)
    return sub.receive_until(sentinel, b"end")


def test_retained_message_delivered_to_new_subscriber_with_retain_flag(broker, clients):
    _retain(clients, "ret/one", b"stored")
    got = _subscribe_and_collect(clients, "ret/one")
    assert [(p.topic, p.payload) for p in got] == [("ret/one", b"stored")], \
        f"the retained message is sent on a new subscription [MQTT-3.3.1-6]: {got}"
    assert got[0].retain, f"sent because of a new subscription → RETAIN=1 [MQTT-3.3.1-8]: {got}"


def test_retained_message_replaced_by_newer_one(broker, clients):
    _retain(clients, "ret/replace", b"old")
    _retain(clients, "ret/replace", b"new")
    got = _subscribe_and_collect(clients, "ret/replace")
    assert [p.payload for p in got] == [b"new"], \
        f"only the last retained message per topic is kept [MQTT-3.3.1-5]: {got}"


def test_qos0_retained_message_replaces_previous(broker, clients):
    _retain(clients, "ret/q0", b"old", qos=2)
    _retain(clients, "ret/q0", b"new", qos=0)
    got = _subscribe_and_collect(clients, "ret/q0")
    assert [(p.payload, p.qos) for p in got] == [(b"new", 0)], \
        f"a QoS 0 retained message replaces the previous one [MQTT-3.3.1-7]: {got}"


def test_empty_retained_payload_deletes_retained_message(broker, clients):
    _retain(clients, "ret/delete", b"doomed")
    live = clients.raw_connected()
    live.subscribe([("ret/delete", 1)])
    assert live.receive_publish().payload == b"doomed"
    _retain(clients, "ret/delete", b"")
    cleared = live.receive_publish()
    assert (cleared.payload, cleared.retain) == (b"", False), \
        f"a zero-length retained PUBLISH is delivered as normal [MQTT-3.3.1-10]: {cleared}"
    got = _subscribe_and_collect(clients, "ret/delete")
    assert got == [], \
        f"…and removes the retained message; it is not stored itself [MQTT-3.3.1-10] [MQTT-3.3.1-11]: {got}"


def test_non_retained_publish_leaves_retained_message_alone(broker, clients):
    _retain(clients, "ret/keep", b"retained")
    pub = clients.raw_connected()
    pub.publish("ret/keep", b"ephemeral", qos=1, retain=False)
    got = _subscribe_and_collect(clients, "ret/keep")
    assert [p.payload for p in got] == [b"retained"], \
        f"RETAIN=0 neither stores nor replaces [MQTT-3.3.1-12]: {got}"


@pytest.mark.parametrize("topic_filter, expected", [
    ("wild/+", ["wild/a", "wild/b"]),
    ("wild/#", ["wild/a", "wild/b", "wild/c/d"]),
    ("wild/+/d", ["wild/c/d"]),
    ("+/c/#", ["wild/c/d"]),
    ("+/x/#", []),
    ("#", ["wild/a", "wild/b", "wild/c/d"]),
])
def test_retained_messages_delivered_through_wildcard_subscription(broker, clients, topic_filter,
                                                                   expected):
    for t in ("wild/a", "wild/b", "wild/c/d"):
        _retain(clients, t, t.encode())
    got = _subscribe_and_collect(clients, topic_filter)
    assert sorted(p.topic for p in got) == expected, \
        f"each matching topic's retained message is sent [MQTT-3.3.1-6]: {got}"
    assert all(p.retain and p.payload == p.topic.encode() for p in got), \
        f"with RETAIN=1 [MQTT-3.3.1-8]: {got}"


def test_live_message_to_existing_subscriber_has_retain_0(broker, clients):
    sub = clients.raw_connected()
    sub.subscribe([("ret/live", 1)])
    pub = clients.raw_connected()
    pub.publish("ret/live", b"now", qos=1, retain=True)
    got = sub.receive_publish()
    assert (got.payload, got.retain) == (b"now", False), \
        f"delivery to an established subscription has RETAIN=0 [MQTT-3.3.1-9]: {got}"


@pytest.mark.parametrize("stored, granted", [(2, 1), (1, 2), (2, 0), (0, 2)])
def test_retained_message_delivered_at_minimum_of_stored_and_granted_qos(broker, clients, stored,
                                                                         granted):
    _retain(clients, "ret/qos", b"q", qos=stored)
    got = _subscribe_and_collect(clients, "ret/qos", qos=granted)
    assert [(p.payload, p.qos) for p in got] == [(b"q", min(stored, granted))], \
        f"the retained message keeps its QoS [MQTT-3.3.1-5], capped by the grant [MQTT-3.8.4-6]: {got}"


def test_resubscribing_sends_retained_messages_again(broker, clients):
    _retain(clients, "ret/again", b"twice")
    sub = clients.raw_connected()
    sub.subscribe([("ret/again", 0)])
    assert sub.receive_publish().payload == b"twice"
    sub.subscribe([("ret/again", 0)])
    got = sub.receive_publish()
    assert (got.payload, got.retain) == (b"twice", True), \
        f"re-subscribing with an identical filter re-sends retained messages [MQTT-3.8.4-3]: {got}"


def test_retained_message_outlives_its_publishers_session(broker, clients):
    cid = unique_id("retpub")
    pub = clients.raw_connected(client_id=cid, clean=True)
    pub.publish("ret/survives", b"still here", qos=1, retain=True)
    pub.disconnect()
    gone = clients.raw_connected(client_id=cid, clean=True)  # a clean session discards state
    gone.disconnect()
    got = _subscribe_and_collect(clients, "ret/survives")
    assert [p.payload for p in got] == [b"still here"], \
        f"retained messages are not session state and survive it [MQTT-3.1.2-7]: {got}"


def test_mosquitto_pub_retained_seen_by_paho_subscriber(broker, clients):
    done = mosquitto_pub(broker, "-t", "ret/cli", "-m", "from-cli", "-r", "-q", "1")
    assert done.returncode == 0, done.stderr
    sub = clients.paho()
    sub.subscribe("ret/cli", qos=1)
    m = sub.get_message()
    assert (m.topic, m.payload, m.retain) == ("ret/cli", b"from-cli", True), \
        f"[MQTT-3.3.1-6] [MQTT-3.3.1-8]: {(m.topic, m.payload, m.retain)}"
