"""MQTT 5.0 will messages (sections 3.1.2.5, 3.1.3.2, 3.14.2.1): will properties passed on, the
Will Delay Interval (published after the delay, or at session end if that comes first; not
published when the client reconnects in time), and DISCONNECT 0x04 (with will) versus 0x00."""

import time

import pytest
from paho.mqtt.packettypes import PacketTypes

from broker_process import unique_id
from mqtt5_raw import (CONTENT_TYPE, CORRELATION_DATA, DISCONNECT_WITH_WILL,
                       MESSAGE_EXPIRY_INTERVAL, PAYLOAD_FORMAT_INDICATOR, RESPONSE_TOPIC,
                       SESSION_EXPIRY_INTERVAL, USER_PROPERTY, WILL_DELAY_INTERVAL, Will5,
                       paho_message_props, paho_props, sub_options)

pytest_plugins = ["mqtt5_raw"]  # the v5 and make_broker5 fixtures

# "A will delay is honoured to within a second": published no earlier than the delay and no
# later than one second after it (plus scheduling slack for sanitizer builds).
WILL_LATE = 1.0 + 0.3


def _watch(v5, topic_filter="v5/will/#"):
    w = v5.raw_connected()
    w.subscribe([(topic_filter, sub_options(qos=1))])
    return w


def _with_will(v5, topic, payload=b"gone", delay=None, expiry=None, will_props=(), **kw):
    props = [] if expiry is None else [(SESSION_EXPIRY_INTERVAL, expiry)]
    wprops = list(will_props) + ([] if delay is None else [(WILL_DELAY_INTERVAL, delay)])
    return v5.raw_connected(props=props, will=Will5(topic, payload, qos=1, props=wprops), **kw)


def test_will_properties_passed_on(broker, v5):
    watcher = _watch(v5)
    user = [("z", "1"), ("a", "2"), ("z", "3")]
    c = _with_will(v5, "v5/will/props", b"{\"state\":\"offline\"}", will_props=[
        (PAYLOAD_FORMAT_INDICATOR, 1), (MESSAGE_EXPIRY_INTERVAL, 3600),
        (CONTENT_TYPE, "application/json"), (RESPONSE_TOPIC, "v5/will/reply"),
        (CORRELATION_DATA, b"\x00corr\xff")] + [(USER_PROPERTY, u) for u in user])
    c.close()
    got = watcher.receive_publish()
    assert (got.topic, got.payload) == ("v5/will/props", b"{\"state\":\"offline\"}"), got
    p = got.props
    assert p.get(PAYLOAD_FORMAT_INDICATOR) == 1, \
        f"will Payload Format Indicator passed on (3.1.3.2.3) [MQTT-3.3.2-4]: {got}"
    assert p.get(CONTENT_TYPE) == "application/json", \
        f"will Content Type passed on (3.1.3.2.5) [MQTT-3.3.2-20]: {got}"
    assert p.get(RESPONSE_TOPIC) == "v5/will/reply", \
        f"will Response Topic passed on (3.1.3.2.6) [MQTT-3.3.2-15]: {got}"
    assert p.get(CORRELATION_DATA) == b"\x00corr\xff", \
        f"will Correlation Data passed on (3.1.3.2.7) [MQTT-3.3.2-16]: {got}"
    assert p.all(USER_PROPERTY) == user, \
        f"will User Properties passed on in order [MQTT-3.1.3-10]: {p.all(USER_PROPERTY)}"
    assert 3590 <= p.get(MESSAGE_EXPIRY_INTERVAL, 0) <= 3600, \
        f"will Message Expiry Interval passed on, minus the time waited [MQTT-3.3.2-6]: {got}"


def test_will_payload_format_and_content_type_via_paho(broker, v5):
    watcher = v5.paho()
    watcher.subscribe("v5/will/paho", 1)
    props = paho_props(PacketTypes.WILLMESSAGE, PayloadFormatIndicator=1, ContentType="text/plain")
    c = v5.paho(will=("v5/will/paho", b"paho is gone", 1, False, props))
    c.close()
    m = watcher.get_message()
    got = paho_message_props(m)
    assert (m.topic, m.payload) == ("v5/will/paho", b"paho is gone"), m
    assert (got.get("PayloadFormatIndicator"), got.get("ContentType")) == (1, "text/plain"), \
        f"paho will properties passed on (3.1.3.2): {got}"


@pytest.mark.time_limit(15)
def test_will_published_after_will_delay(broker, v5):
    watcher = _watch(v5)
    c = _with_will(v5, "v5/will/delayed", delay=1, expiry=30)
    c.close()
    start = time.monotonic()
    got = watcher.receive_publish(timeout=5)
    elapsed = time.monotonic() - start
    assert (got.topic, got.payload) == ("v5/will/delayed", b"gone"), got
    assert 0.9 <= elapsed <= 1 + WILL_LATE, \
        (f"Will Delay Interval 1 s: the will is published after the delay [MQTT-3.1.2-8], "
         f"within a second of it; it came after {elapsed:.2f} s")


@pytest.mark.time_limit(15)
def test_will_not_published_when_client_reconnects_within_delay(broker, v5):
    watcher = _watch(v5)
    cid = unique_id("back")
    c = _with_will(v5, "v5/will/cancelled", delay=1, expiry=30, client_id=cid)
    c.close()
    again = v5.raw()
    ack = again.connect(cid, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 30)])
    assert (ack.reason_code, ack.session_present) == (0, True), ack
    # A control client whose will (same delay) is due after the cancelled one would have been.
    control = _with_will(v5, "v5/will/control", delay=1, expiry=30)
    control.close()
    got = watcher.receive_until("v5/will/control", b"gone", timeout=5)
    assert got == [], \
        (f"a new connection for the session within the Will Delay Interval: the will is not "
         f"published [MQTT-3.1.3-9]: {got}")
    try:
        watcher.expect_nothing(0.5)
    except AssertionError as e:
        raise AssertionError(f"[MQTT-3.1.3-9]: {e}") from None
    again.ping()


@pytest.mark.time_limit(15)
def test_will_published_when_session_ends_before_will_delay(broker, v5):
    watcher = _watch(v5)
    c = _with_will(v5, "v5/will/session-end", delay=3600, expiry=1)
    c.close()
    start = time.monotonic()
    got = watcher.receive_publish(timeout=5)
    elapsed = time.monotonic() - start
    assert (got.topic, got.payload) == ("v5/will/session-end", b"gone"), got
    assert 0.9 <= elapsed <= 1 + WILL_LATE, \
        (f"Session Expiry 1 s < Will Delay 3600 s: the will is published when the session ends "
         f"[MQTT-3.1.2-8] (3.1.3.2.2); it came after {elapsed:.2f} s")


@pytest.mark.hermod_only("mosquitto 2.0.11 waits out the will delay after the session ended")
def test_will_delay_ends_with_session_expiry_0(broker, v5):
    watcher = _watch(v5)
    c = _with_will(v5, "v5/will/no-session", delay=3600)
    c.close()
    start = time.monotonic()
    got = watcher.receive_publish(timeout=5)
    elapsed = time.monotonic() - start
    assert (got.topic, got.payload) == ("v5/will/no-session", b"gone"), got
    assert elapsed <= WILL_LATE, \
        (f"Session Expiry 0: the session ends with the connection, and so the will delay "
         f"[MQTT-3.1.2-8]; the will came after {elapsed:.2f} s")


def test_disconnect_with_will_message_publishes_will(broker, v5):
    watcher = _watch(v5)
    c = _with_will(v5, "v5/will/asked", b"asked for")
    c.disconnect5(DISCONNECT_WITH_WILL)
    got = watcher.receive_publish()
    assert (got.topic, got.payload) == ("v5/will/asked", b"asked for"), \
        f"DISCONNECT 0x04 (Disconnect with Will Message) publishes the will (3.14.2.1): {got}"


def test_normal_disconnect_discards_will(broker, v5):
    watcher = _watch(v5)
    c = _with_will(v5, "v5/will/normal", b"must not appear")
    c.disconnect5()
    watcher.publish("v5/will/normal", b"sentinel", qos=1)
    got = watcher.receive_until("v5/will/normal", b"sentinel")
    assert got == [], \
        f"DISCONNECT 0x00 discards the will [MQTT-3.14.4-3] [MQTT-3.1.2-10]: {got}"

