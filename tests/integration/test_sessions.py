"""Sessions (MQTT 3.1.1 sections 3.1.2.4, 3.2.2.2, 4.1): a CleanSession=0 session keeps its
subscriptions and queues QoS 1/2 messages while offline (bounded by max_queued_messages, newest
dropped); CleanSession=1 discards everything."""

import pytest

import mqtt_raw
from broker_process import unique_id


def _offline_session(clients, broker, topic_filter: str, qos: int = 1) -> str:
    """Creates a persistent session subscribed to `topic_filter`, then disconnects it."""
    cid = unique_id("persist")
    c = clients.raw(broker)
    ack = c.connect(cid, clean=False)
    assert (ack.return_code, ack.session_present) == (0, False), \
        f"a new CleanSession=0 session has Session Present 0 [MQTT-3.2.2-3]: {ack}"
    c.subscribe([(topic_filter, qos)])
    c.disconnect(wait=True)  # offline for certain before anything is published
    return cid


def _resume(clients, broker, cid: str) -> mqtt_raw.RawClient:
    c = clients.raw(broker)
    ack = c.connect(cid, clean=False)
    assert (ack.return_code, ack.session_present) == (0, True), \
        f"resuming a stored session → Session Present 1 [MQTT-3.2.2-2]: {ack}"
    return c


def test_persistent_session_receives_qos1_and_qos2_messages_queued_while_offline(
        make_broker, clients):
    b = make_broker(workers=2)
    cid = _offline_session(clients, b, "ps/#", qos=1)
    pub = clients.raw_connected(b)
    pub.publish("ps/a", b"one", qos=1)
    pub.publish("ps/b", b"two", qos=2)
    c = _resume(clients, b, cid)
    got = [c.receive_publish() for _ in range(2)]
    assert [(p.topic, p.payload, p.qos) for p in got] == [("ps/a", b"one", 1), ("ps/b", b"two", 1)], \
        f"QoS 1 and 2 messages stored while offline [MQTT-3.1.2-5], at min(QoS, granted 1): {got}"
    pub.publish("ps/end", b"end", qos=1)
    assert c.receive_until("ps/end", b"end") == [], "each queued message is delivered once"


def test_persistent_session_keeps_subscriptions(broker, clients):
    cid = _offline_session(clients, broker, "keep/sub", qos=1)
    c = _resume(clients, broker, cid)
    pub = clients.raw_connected()
    pub.publish("keep/sub", b"live", qos=1)
    got = c.receive_publish()
    assert got.payload == b"live", \
        f"subscriptions are session state, resumed without re-subscribing [MQTT-3.1.2-4]: {got}"


def test_clean_session_discards_stored_session(broker, clients):
    cid = _offline_session(clients, broker, "gone/#", qos=1)
    pub = clients.raw_connected()
    pub.publish("gone/queued", b"queued", qos=1)
    c = clients.raw()
    ack = c.connect(cid, clean=True)
    assert (ack.return_code, ack.session_present) == (0, False), \
        f"CleanSession=1 → Session Present 0 [MQTT-3.2.2-1]: {ack}"
    c.subscribe([("gone-end", 0)])
    pub.publish("gone/live", b"live", qos=1)
    pub.publish("gone-end", b"end", qos=1)
    got = c.receive_until("gone-end", b"end")
    assert got == [], \
        f"the previous session (subscription and queued messages) is discarded [MQTT-3.1.2-6]: {got}"
    c.disconnect(wait=True)
    again = clients.raw()
    ack = again.connect(cid, clean=False)
    assert (ack.return_code, ack.session_present) == (0, False), \
        f"a clean session is not stored after it ends [MQTT-3.1.2-6] [MQTT-3.2.2-3]: {ack}"


def test_offline_queue_keeps_first_max_queued_messages_and_drops_newest(make_broker, clients):
    b = make_broker(max_queued_messages=5)
    cid = _offline_session(clients, b, "bound/t", qos=1)
    pub = clients.raw_connected(b)
    for i in range(10):
        pub.publish("bound/t", b"m%d" % i, qos=1)
    c = _resume(clients, b, cid)
    pub.publish("bound/t", b"end", qos=1)
    got = [p.payload for p in c.receive_until("bound/t", b"end")]
    assert got == [b"m0", b"m1", b"m2", b"m3", b"m4"], \
        f"max_queued_messages=5: the first 5 are kept, newer ones dropped; got {got}"


@pytest.mark.hermod_only("mosquitto admits a message while the queue is still under the limit, "
                         "so it overshoots (keeps 4 × 30 bytes); Hermod never exceeds it")
def test_offline_queue_bounded_by_max_queued_bytes(make_broker, clients):
    b = make_broker(max_queued_bytes=100)
    cid = _offline_session(clients, b, "bytes/t", qos=1)
    pub = clients.raw_connected(b)
    for i in range(10):
        pub.publish("bytes/t", b"%d" % i * 30, qos=1)  # 30 payload bytes each
    c = _resume(clients, b, cid)
    pub.publish("bytes/t", b"end", qos=1)
    got = [p.payload for p in c.receive_until("bytes/t", b"end")]
    assert got == [b"0" * 30, b"1" * 30, b"2" * 30], \
        f"max_queued_bytes=100: 3 messages of 30 bytes fit, newer ones are dropped; got {got}"


def test_qos0_messages_not_queued_for_offline_session(broker, clients):
    cid = _offline_session(clients, broker, "q0off/t", qos=2)
    pub = clients.raw_connected()
    pub.publish("q0off/t", b"qos0", qos=0)
    pub.publish("q0off/t", b"qos1", qos=1)
    c = _resume(clients, broker, cid)
    pub.publish("q0off/t", b"end", qos=1)
    got = [p.payload for p in c.receive_until("q0off/t", b"end")]
    assert got == [b"qos1"], f"only QoS 1/2 messages are stored offline [MQTT-3.1.2-5]: {got}"


def test_qos0_messages_queued_for_offline_session_with_queue_qos0(make_broker, clients):
    b = make_broker(queue_qos0=True)
    cid = _offline_session(clients, b, "q0on/t", qos=2)
    pub = clients.raw_connected(b)
    pub.publish("q0on/t", b"qos0", qos=0)
    pub.publish("q0on/t", b"qos1", qos=1)
    c = _resume(clients, b, cid)
    pub.publish("q0on/t", b"end", qos=1)
    got = sorted(p.payload for p in c.receive_until("q0on/t", b"end"))
    assert got == [b"qos0", b"qos1"], f"queue_qos0=true queues QoS 0 messages too: {got}"


def test_paho_persistent_session_resumes_with_queued_messages(broker, clients):
    cid = unique_id("pahops")
    first = clients.paho(client_id=cid, clean_session=False)
    assert first.subscribe("pps/t", qos=2) == (2,)
    first.disconnect()
    pub = clients.paho()
    pub.publish("pps/t", b"while away", qos=2)
    second = clients.paho(client_id=cid, clean_session=False, connect=False)
    flags = second.connect()
    assert flags.get("session present") == 1, f"[MQTT-3.2.2-2]: {flags}"
    m = second.get_message()
    assert (m.topic, m.payload, m.qos) == ("pps/t", b"while away", 2), (m.topic, m.payload, m.qos)


@pytest.mark.time_limit(30)
def test_persistent_session_moves_between_connections_on_several_workers(make_broker, clients):
    b = make_broker(workers=2)
    cid = _offline_session(clients, b, "hop/t", qos=1)
    pub = clients.raw_connected(b)
    for i in range(6):  # new TCP connections land on either worker
        pub.publish("hop/t", b"%d" % i, qos=1)
        c = _resume(clients, b, cid)
        got = c.receive_publish()
        assert got.payload == b"%d" % i, f"round {i}: queued message delivered on resume: {got}"
        c.disconnect(wait=True)
