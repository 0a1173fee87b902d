"""MQTT 5.0 CONNECT and CONNACK (sections 3.1, 3.2): clean start and session present, assigned
client identifiers, server keep alive, the capability properties CONNACK announces (truthful to
the configuration), and CONNECTs the server must refuse with a reason code."""

import time

import pytest
from paho.mqtt.packettypes import PacketTypes

from broker_process import KEEPALIVE_1S_DEADLINE, unique_id
from mqtt5_raw import (ASSIGNED_CLIENT_IDENTIFIER, AUTHENTICATION_DATA, AUTHENTICATION_METHOD,
                       BAD_AUTHENTICATION_METHOD, KEEP_ALIVE_TIMEOUT, MAXIMUM_PACKET_SIZE,
                       MAXIMUM_QOS, QOS_NOT_SUPPORTED, RECEIVE_MAXIMUM,
                       REQUEST_RESPONSE_INFORMATION, RESPONSE_INFORMATION, RETAIN_AVAILABLE,
                       RETAIN_NOT_SUPPORTED, SERVER_KEEP_ALIVE, SESSION_EXPIRY_INTERVAL,
                       SHARED_SUBSCRIPTION_AVAILABLE, SUBSCRIPTION_IDENTIFIER_AVAILABLE, SUCCESS,
                       TOPIC_ALIAS_MAXIMUM, WILDCARD_SUBSCRIPTION_AVAILABLE, Will5,
                       paho_props, sub_options)

pytest_plugins = ["mqtt5_raw"]  # the v5 and make_broker5 fixtures

CAPABILITIES = {
    "wildcard_subscriptions": WILDCARD_SUBSCRIPTION_AVAILABLE,
    "subscription_identifiers": SUBSCRIPTION_IDENTIFIER_AVAILABLE,
    "shared_subscriptions": SHARED_SUBSCRIPTION_AVAILABLE,
}


def _persistent(v5, cid, topic):
    """A session that outlives its connection (expiry 60 s) with a QoS 1 subscription to
    `topic`; the connection is closed with DISCONNECT once the server has processed it."""
    c = v5.raw_connected(client_id=cid, props=[(SESSION_EXPIRY_INTERVAL, 60)])
    c.subscribe([(topic, sub_options(qos=1))])
    c.disconnect5()


# -------------------------------------------------------------------------------------------
# Session state


def test_connack_success_without_session_for_clean_start(broker, v5):
    c = v5.raw()
    ack = c.connect(unique_id("v5"), clean_start=True)
    assert (ack.reason_code, ack.session_present) == (SUCCESS, False), \
        f"Clean Start 1 → CONNACK 0x00 with Session Present 0 [MQTT-3.2.2-2], got {ack}"
    c.ping()


def test_session_present_0_when_no_session_exists(broker, v5):
    c = v5.raw()
    ack = c.connect(unique_id("fresh"), clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 60)])
    assert (ack.reason_code, ack.session_present) == (SUCCESS, False), \
        f"Clean Start 0 and no session → new session, Session Present 0 [MQTT-3.1.2-6] " \
        f"[MQTT-3.2.2-3], got {ack}"


def test_clean_start_0_resumes_session_with_session_present(broker, v5):
    cid, topic = unique_id("resume"), "v5/resume"
    _persistent(v5, cid, topic)
    v5.raw_connected().publish(topic, b"while away", qos=1)
    c = v5.raw()
    ack = c.connect(cid, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 60)])
    assert (ack.reason_code, ack.session_present) == (SUCCESS, True), \
        f"Clean Start 0 with a stored session → Session Present 1 [MQTT-3.2.2-3], got {ack}"
    got = c.receive_publish()
    assert (got.topic, got.payload) == (topic, b"while away"), \
        f"the resumed session keeps its subscription and queued message [MQTT-3.1.2-5]: {got}"


def test_clean_start_1_discards_existing_session(broker, v5):
    cid, topic = unique_id("discard"), "v5/discard"
    _persistent(v5, cid, topic)
    c = v5.raw()
    ack = c.connect(cid, clean_start=True, props=[(SESSION_EXPIRY_INTERVAL, 60)])
    assert (ack.reason_code, ack.session_present) == (SUCCESS, False), \
        (f"Clean Start 1 discards the session: Session Present 0 [MQTT-3.1.2-4] "
         f"[MQTT-3.2.2-2], got {ack}")
    c.subscribe([("v5/discard-sentinel", sub_options(qos=1))])
    pub = v5.raw_connected()
    pub.publish(topic, b"old subscription", qos=1)
    pub.publish("v5/discard-sentinel", b"end", qos=1)
    got = c.receive_until("v5/discard-sentinel", b"end")
    assert got == [], f"the discarded session's subscription must not deliver [MQTT-3.1.2-4]: {got}"


# -------------------------------------------------------------------------------------------
# Client identifiers


def test_empty_client_id_gets_assigned_client_identifier(broker, v5):
    first, second = v5.raw(), v5.raw()
    acks = [first.connect(""), second.connect("")]
    ids = []
    for ack in acks:
        assert ack.reason_code == SUCCESS, f"[MQTT-3.1.3-6]: {ack}"
        assigned = ack.props.get(ASSIGNED_CLIENT_IDENTIFIER)
        assert assigned, ("a zero-length ClientID gets an Assigned Client Identifier in CONNACK "
                          f"[MQTT-3.1.3-7] [MQTT-3.2.2-16], got {ack}")
        ids.append(assigned)
    assert ids[0] != ids[1], f"each assigned identifier is unique [MQTT-3.2.2-16]: {ids}"
    first.ping()
    second.ping()


def test_no_assigned_client_identifier_when_client_sent_one(broker, v5):
    c = v5.raw()
    ack = c.connect(unique_id("named"))
    assert ASSIGNED_CLIENT_IDENTIFIER not in ack.props, \
        f"Assigned Client Identifier only for a zero-length ClientID (3.2.2.3.7): {ack}"


@pytest.mark.parametrize("requested", [None, 0], ids=["absent", "zero"])
def test_no_response_information_unless_requested(broker, v5, requested):
    props = [] if requested is None else [(REQUEST_RESPONSE_INFORMATION, requested)]
    ack = v5.raw().connect(unique_id("rri"), props=props)
    assert ack.reason_code == SUCCESS and RESPONSE_INFORMATION not in ack.props, \
        f"Request Response Information absent or 0 → no Response Information [MQTT-3.1.2-28]: {ack}"


def test_paho_v5_connect_with_empty_client_id_gets_assigned_identifier(broker, v5):
    c = v5.paho(client_id="", connect=False)
    flags, props = c.connect()
    assigned = getattr(props, "AssignedClientIdentifier", None)
    assert assigned, f"paho: no Assigned Client Identifier in CONNACK [MQTT-3.1.3-7]: {props}"


# -------------------------------------------------------------------------------------------
# Keep alive


@pytest.mark.parametrize("requested", [60, 0], ids=["above-cap", "zero"])
def test_server_keep_alive_announced_when_client_asks_above_cap_or_zero(make_broker5, v5,
                                                                         requested):
    b = make_broker5(max_keepalive=10)
    c = v5.raw(b)
    ack = c.connect(unique_id("ka"), keepalive=requested)
    assert ack.reason_code == SUCCESS, ack
    assert ack.props.get(SERVER_KEEP_ALIVE) == 10, \
        (f"keepalive {requested} with max_keepalive 10 → Server Keep Alive 10 in CONNACK "
         f"[MQTT-3.1.2-21] [MQTT-3.2.2-21], got {ack}")


def test_no_server_keep_alive_when_client_keepalive_within_cap(make_broker5, v5):
    b = make_broker5(max_keepalive=10)
    ack = v5.raw(b).connect(unique_id("ka"), keepalive=5)
    assert ack.reason_code == SUCCESS, ack
    assert ack.props.get(SERVER_KEEP_ALIVE, 5) == 5, \
        f"keepalive 5 within the cap: the client's value stands [MQTT-3.2.2-22], got {ack}"


@pytest.mark.time_limit(15)
@pytest.mark.hermod_only("mosquitto 2.0.11 refuses max_keepalive below 10 s")
def test_server_keep_alive_is_enforced(make_broker5, v5):
    b = make_broker5(max_keepalive=1)
    c = v5.raw(b)
    ack = c.connect(unique_id("ka"), keepalive=60)
    assert ack.props.get(SERVER_KEEP_ALIVE) == 1, ack
    start = time.monotonic()
    c.expect_disconnect(KEEP_ALIVE_TIMEOUT, "[MQTT-3.1.2-22] with the Server Keep Alive of 1 s "
                                            "[MQTT-3.2.2-21]", timeout=KEEPALIVE_1S_DEADLINE + 1)
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed <= KEEPALIVE_1S_DEADLINE, \
        f"Server Keep Alive 1 s: disconnected after {elapsed:.2f} s, not within 1–1.5 s (+slack)"


# -------------------------------------------------------------------------------------------
# Capabilities announced in CONNACK


def test_connack_announces_configured_receive_maximum(make_broker5, v5):
    b = make_broker5(receive_maximum=7)
    ack = v5.raw(b).connect(unique_id("rm"))
    assert ack.props.get(RECEIVE_MAXIMUM) == 7, \
        f"receive_maximum 7 → Receive Maximum 7 in CONNACK (3.2.2.3.3), got {ack}"


def test_connack_announces_configured_topic_alias_maximum(make_broker5, v5):
    b = make_broker5(topic_alias_maximum=4)
    ack = v5.raw(b).connect(unique_id("tam"))
    assert ack.props.get(TOPIC_ALIAS_MAXIMUM) == 4, \
        f"topic_alias_maximum 4 → Topic Alias Maximum 4 in CONNACK (3.2.2.3.8), got {ack}"


def test_connack_topic_alias_maximum_absent_or_zero_when_disabled(make_broker5, v5):
    b = make_broker5(topic_alias_maximum=0)
    ack = v5.raw(b).connect(unique_id("tam0"))
    assert ack.props.get(TOPIC_ALIAS_MAXIMUM, 0) == 0, \
        f"topic_alias_maximum 0 → no Topic Alias Maximum (or 0) [MQTT-3.2.2-18], got {ack}"


def test_connack_announces_maximum_packet_size(make_broker5, v5):
    b = make_broker5(max_packet_size=2000)
    ack = v5.raw(b).connect(unique_id("mps"))
    assert ack.props.get(MAXIMUM_PACKET_SIZE) == 2000, \
        f"max_packet_size 2000 → Maximum Packet Size 2000 in CONNACK (3.2.2.3.6), got {ack}"


def test_connack_announces_maximum_qos(make_broker5, v5):
    b = make_broker5(max_qos=1)
    ack = v5.raw(b).connect(unique_id("mq"))
    assert ack.props.get(MAXIMUM_QOS) == 1, \
        f"max_qos 1 → Maximum QoS 1 in CONNACK [MQTT-3.2.2-9], got {ack}"


def test_connack_announces_retain_unavailable(make_broker5, v5):
    b = make_broker5(retain_available=False)
    ack = v5.raw(b).connect(unique_id("ra"))
    assert ack.props.get(RETAIN_AVAILABLE) == 0, \
        f"retain_available false → Retain Available 0 in CONNACK (3.2.2.3.5), got {ack}"


@pytest.mark.hermod_only("mosquitto 2.0 cannot switch these features off")
@pytest.mark.parametrize("feature", sorted(CAPABILITIES))
def test_connack_announces_disabled_feature(make_broker5, v5, feature):
    b = make_broker5(**{feature: False})
    ack = v5.raw(b).connect(unique_id("feat"))
    assert ack.props.get(CAPABILITIES[feature]) == 0, \
        f"{feature} = false → property {CAPABILITIES[feature]:#x} = 0 in CONNACK (3.2.2.3): {ack}"


def test_connack_default_capabilities_are_all_available(broker, v5):
    ack = v5.raw().connect(unique_id("caps"))
    assert ack.reason_code == SUCCESS, ack
    assert MAXIMUM_QOS not in ack.props, f"QoS 2 supported → no Maximum QoS [MQTT-3.2.2-9]: {ack}"
    for pid in (RETAIN_AVAILABLE,) + tuple(CAPABILITIES.values()):
        assert ack.props.get(pid, 1) == 1, \
            f"by default every feature is available: property {pid:#x} absent or 1 (3.2.2.3): {ack}"


@pytest.mark.hermod_only("mosquitto 2.0 has no cap on the session expiry interval")
def test_connack_carries_capped_session_expiry_interval(make_broker5, v5):
    b = make_broker5(max_session_expiry=5)
    ack = v5.raw(b).connect(unique_id("cap"), props=[(SESSION_EXPIRY_INTERVAL, 3600)])
    assert ack.props.get(SESSION_EXPIRY_INTERVAL) == 5, \
        (f"max_session_expiry 5, client asks 3600 → CONNACK Session Expiry Interval 5 "
         f"(3.2.2.3.2), got {ack}")


# -------------------------------------------------------------------------------------------
# CONNECTs refused with a reason code


def test_unknown_authentication_method_gets_connack_0x8c_then_close(broker, v5):
    c = v5.raw()
    ack = c.connect(unique_id("auth"), props=[(AUTHENTICATION_METHOD, "X-UNKNOWN-METHOD"),
                                              (AUTHENTICATION_DATA, b"\x00\x01")])
    assert ack.reason_code == BAD_AUTHENTICATION_METHOD, \
        f"unsupported Authentication Method → CONNACK 0x8C [MQTT-4.12.0-1], got {ack}"
    assert not ack.session_present, f"[MQTT-3.2.2-6]: {ack}"
    assert c.wait_closed(5), "the server closes after a CONNACK of 0x80 or more [MQTT-3.2.2-7]"


def test_will_qos_above_maximum_qos_gets_connack_0x9b(make_broker5, v5):
    b = make_broker5(max_qos=1)
    c = v5.raw(b)
    ack = c.connect(unique_id("wq"), will=Will5("v5/will", b"x", qos=2))
    assert ack.reason_code == QOS_NOT_SUPPORTED, \
        f"Will QoS 2 above Maximum QoS 1 → CONNACK 0x9B [MQTT-3.2.2-12], got {ack}"
    assert c.wait_closed(5), "[MQTT-3.2.2-7]"


def test_will_retain_without_retain_support_gets_connack_0x9a(make_broker5, v5):
    b = make_broker5(retain_available=False)
    c = v5.raw(b)
    ack = c.connect(unique_id("wr"), will=Will5("v5/will", b"x", retain=True))
    assert ack.reason_code == RETAIN_NOT_SUPPORTED, \
        f"Will Retain 1 while retain is unavailable → CONNACK 0x9A [MQTT-3.2.2-13], got {ack}"
    assert c.wait_closed(5), "[MQTT-3.2.2-7]"


def test_paho_v5_connect_properties_round_trip(broker, v5):
    """paho (an independent MQTT 5 client) connects with CONNECT properties and reads the
    CONNACK's: the server accepts them and answers with a well-formed MQTT 5 CONNACK."""
    props = paho_props(PacketTypes.CONNECT, SessionExpiryInterval=30, ReceiveMaximum=10,
                       UserProperty=[("client", "paho")])
    c = v5.paho(connect=False)
    flags, connack_props = c.connect(properties=props)
    assert flags["session present"] == 0, f"[MQTT-3.2.2-2]: {flags}"
    assert getattr(connack_props, "SessionExpiryInterval", 30) == 30, \
        f"no cap configured: the client's Session Expiry stands (3.2.2.3.2): {connack_props}"
