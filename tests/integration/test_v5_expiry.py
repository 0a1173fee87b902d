"""MQTT 5.0 expiry: the Session Expiry Interval (3.1.2.11.2, 3.14.2.2.2, 4.1) — 0 ends the session
with the connection, n keeps it n seconds and then discards it while the broker runs,
0xFFFFFFFF keeps it, DISCONNECT may change it — and the Message Expiry Interval (3.3.2.3.3):
expired messages are not delivered, and the remaining interval is forwarded.

Expiry is about time passing, so these tests let time pass (`let_time_pass`) past an interval;
they never sleep to wait for the broker."""

import pytest

import mqtt5_raw
from broker_process import unique_id
from mqtt5_raw import (MESSAGE_EXPIRY_INTERVAL, PROTOCOL_ERROR, SESSION_EXPIRY_INTERVAL,
                       Will5, let_time_pass, sub_options)

pytest_plugins = ["mqtt5_raw"]  # the v5 and make_broker5 fixtures

NEVER = 0xFFFFFFFF


def _session(v5, cid, topic, expiry=None, broker=None):
    """Connects `cid` with the given Session Expiry Interval (None: property absent) and a QoS 1
    subscription to `topic`; returns the connection."""
    props = [] if expiry is None else [(SESSION_EXPIRY_INTERVAL, expiry)]
    c = v5.raw_connected(broker, client_id=cid, props=props)
    c.subscribe([(topic, sub_options(qos=1))])
    return c


def _reconnect(v5, cid, broker=None):
    """Connects `cid` with Clean Start 0 (and a long expiry, so the probe itself keeps nothing
    from ending); returns (connection, CONNACK)."""
    c = v5.raw(broker)
    ack = c.connect(cid, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 60)])
    assert ack.reason_code == 0, ack
    return c, ack


# -------------------------------------------------------------------------------------------
# Session Expiry Interval


def test_session_expiry_0_ends_session_at_disconnect(broker, v5):
    cid = unique_id("se0")
    _session(v5, cid, "v5/se0").disconnect5()
    _, ack = _reconnect(v5, cid)
    assert not ack.session_present, \
        (f"Session Expiry Interval absent (0): the session ends with the connection "
         f"(3.1.2.11.2): {ack}")


def test_session_expiry_0_ends_session_when_connection_drops(broker, v5):
    cid = unique_id("se0drop")
    watcher = v5.raw_connected()
    watcher.subscribe([("v5/se0drop/will", sub_options(qos=1))])
    c = v5.raw_connected(client_id=cid, will=Will5("v5/se0drop/will", b"dropped", qos=1))
    c.subscribe([("v5/se0drop", sub_options(qos=1))])
    c.close()
    # The will shows the server has seen the connection go; probing before that would be a
    # session takeover of a live connection instead.
    assert watcher.receive_publish().payload == b"dropped"
    _, ack = _reconnect(v5, cid)
    assert not ack.session_present, \
        f"Session Expiry Interval 0: the session ends when the network connection closes " \
        f"(3.1.2.11.2): {ack}"


def test_session_kept_within_expiry_interval(broker, v5):
    cid, topic = unique_id("se2"), "v5/se2"
    _session(v5, cid, topic, expiry=2).disconnect5()
    v5.raw_connected().publish(topic, b"queued", qos=1)
    c, ack = _reconnect(v5, cid)
    assert ack.session_present, \
        f"Session Expiry Interval 2: the session outlives the connection [MQTT-3.1.2-23]: {ack}"
    got = c.receive_publish()
    assert got.payload == b"queued", f"the stored session kept the queued message (4.1): {got}"


@pytest.mark.time_limit(15)
def test_session_expires_after_interval_while_broker_runs(broker, v5):
    cid, topic = unique_id("se1"), "v5/se1"
    _session(v5, cid, topic, expiry=1).disconnect5()
    v5.raw_connected().publish(topic, b"for an expired session", qos=1)
    let_time_pass(2.0)  # the interval, plus up to one second of timer granularity
    c, ack = _reconnect(v5, cid)
    assert not ack.session_present, \
        (f"Session Expiry Interval 1: 2 s after the disconnect the session is discarded "
         f"[MQTT-4.1.0-2]: {ack}")
    try:
        c.expect_nothing(0.3)
    except AssertionError as e:
        raise AssertionError(f"an expired session's queued messages are gone [MQTT-4.1.0-2]: "
                             f"{e}") from None


@pytest.mark.time_limit(15)
def test_session_expiry_ffffffff_does_not_expire(broker, v5):
    cid = unique_id("never")
    c = _session(v5, cid, "v5/never", expiry=NEVER)
    assert c.connack.props.get(SESSION_EXPIRY_INTERVAL, NEVER) == NEVER, \
        f"no cap configured: 0xFFFFFFFF stands (3.2.2.3.2): {c.connack}"
    c.disconnect5()
    let_time_pass(1.5)
    _, ack = _reconnect(v5, cid)
    assert ack.session_present, \
        f"Session Expiry Interval 0xFFFFFFFF: the session does not expire (3.1.2.11.2): {ack}"


def test_disconnect_can_set_session_expiry_to_0(broker, v5):
    cid = unique_id("dse0")
    c = _session(v5, cid, "v5/dse0", expiry=60)
    c.disconnect5(props=[(SESSION_EXPIRY_INTERVAL, 0)])
    _, ack = _reconnect(v5, cid)
    assert not ack.session_present, \
        f"DISCONNECT with Session Expiry Interval 0 ends the session at once (3.14.2.2.2): {ack}"


def test_disconnect_can_extend_session_expiry(broker, v5):
    cid = unique_id("dse")
    c = _session(v5, cid, "v5/dse", expiry=1)
    c.disconnect5(props=[(SESSION_EXPIRY_INTERVAL, 60)])
    let_time_pass(2.0)
    _, ack = _reconnect(v5, cid)
    assert ack.session_present, \
        f"DISCONNECT's Session Expiry Interval 60 replaces the CONNECT's 1 (3.14.2.2.2): {ack}"


def test_disconnect_session_expiry_after_connect_with_0_is_protocol_error(broker, v5):
    c = _session(v5, unique_id("dsebad"), "v5/dsebad")
    c.send(mqtt5_raw.disconnect(0, [(SESSION_EXPIRY_INTERVAL, 60)]))
    c.expect_disconnect(PROTOCOL_ERROR, "(3.14.2.2.2: a non-zero Session Expiry Interval on "
                                        "DISCONNECT after 0 on CONNECT)")


def test_invalid_disconnect_does_not_discard_will(broker, v5):
    watcher = v5.raw_connected()
    watcher.subscribe([("v5/will/dse", sub_options(qos=1))])
    c = v5.raw_connected(will=Will5("v5/will/dse", b"published", qos=1))
    c.send(mqtt5_raw.disconnect(0, [(SESSION_EXPIRY_INTERVAL, 60)]))
    got = watcher.receive_publish()
    assert got.payload == b"published", \
        (f"a DISCONNECT that is a protocol error is not a valid DISCONNECT (3.14.2.2.2), so the "
         f"will is published [MQTT-3.1.2-8]: {got}")


@pytest.mark.time_limit(15)
@pytest.mark.hermod_only("mosquitto 2.0 has no cap on the session expiry interval")
def test_session_expiry_capped_by_max_session_expiry(make_broker5, v5):
    b = make_broker5(max_session_expiry=1)
    cid = unique_id("capped")
    c = _session(v5, cid, "v5/capped", expiry=3600, broker=b)
    assert c.connack.props.get(SESSION_EXPIRY_INTERVAL) == 1, c.connack
    c.disconnect5()
    let_time_pass(2.0)
    _, ack = _reconnect(v5, cid, b)
    assert not ack.session_present, \
        f"max_session_expiry 1 caps the client's 3600: the session is gone after 2 s: {ack}"


# -------------------------------------------------------------------------------------------
# Message Expiry Interval


def test_live_message_forwarded_with_its_expiry_interval(broker, v5):
    sub = v5.raw_connected()
    sub.subscribe([("v5/mexp/live", sub_options(qos=1))])
    v5.raw_connected().publish("v5/mexp/live", b"x", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 30)])
    got = sub.receive_publish()
    assert 29 <= got.props.get(MESSAGE_EXPIRY_INTERVAL, -1) <= 30, \
        f"the Message Expiry Interval is forwarded (minus the time waited) [MQTT-3.3.2-6]: {got}"


@pytest.mark.time_limit(15)
def test_queued_message_forwarded_with_remaining_expiry_interval(broker, v5):
    cid, topic = unique_id("mexp"), "v5/mexp/queued"
    _session(v5, cid, topic, expiry=60).disconnect5()
    v5.raw_connected().publish(topic, b"waited", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 10)])
    let_time_pass(1.2)
    c, ack = _reconnect(v5, cid)
    assert ack.session_present, ack
    got = c.receive_publish()
    remaining = got.props.get(MESSAGE_EXPIRY_INTERVAL)
    assert got.payload == b"waited" and remaining is not None and 1 <= remaining <= 9, \
        (f"after waiting 1.2 s in the server, the forwarded Message Expiry Interval is the "
         f"received 10 minus the time waited [MQTT-3.3.2-6]: {got}")


@pytest.mark.time_limit(15)
def test_expired_queued_message_not_delivered(broker, v5):
    cid, topic = unique_id("mexp"), "v5/mexp/expired"
    _session(v5, cid, topic, expiry=60).disconnect5()
    pub = v5.raw_connected()
    pub.publish(topic, b"expires", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
    pub.publish(topic, b"stays", qos=1)
    let_time_pass(2.0)
    c, ack = _reconnect(v5, cid)
    assert ack.session_present, ack
    got = c.receive_publish()
    assert got.payload == b"stays", \
        (f"a queued message whose Message Expiry Interval passed is not delivered "
         f"[MQTT-3.3.2-5]; first message received: {got}")


@pytest.mark.time_limit(15)
def test_expired_retained_message_not_sent(broker, v5):
    pub = v5.raw_connected()
    pub.publish("v5/mexp/retained/gone", b"expires", qos=1, retain=True,
                props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
    pub.publish("v5/mexp/retained/kept", b"kept", qos=1, retain=True,
                props=[(MESSAGE_EXPIRY_INTERVAL, 100)])
    let_time_pass(2.0)
    sub = v5.raw_connected()
    sub.subscribe([("v5/mexp/retained/+", sub_options(qos=1))])
    # Retained messages on several topics come in no defined order: wait a bounded time.
    got = [sub.receive_publish()] + sub.publishes_within(0.5)
    assert [p.payload for p in got] == [b"kept"], \
        f"an expired retained message is not sent [MQTT-3.3.2-5]: {got}"
    assert 1 <= got[0].props.get(MESSAGE_EXPIRY_INTERVAL, -1) <= 99, \
        f"a retained message's expiry counts down while stored [MQTT-3.3.2-6]: {got[0]}"
