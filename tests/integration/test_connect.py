"""CONNECT and CONNACK (MQTT 3.1.1 sections 3.1, 3.2): protocol levels, client identifiers,
the CONNECT-first rule, the connect timeout, session takeover and the connection limit."""

import paho.mqtt.client as paho
import pytest

import mqtt_raw
from broker_process import unique_id, wait_for
from clients import round_trip
from mqtt_raw import CONNACK, MQTT_V31, MQTT_V311, Will


def test_unknown_protocol_level_gets_connack_1_then_close(broker, clients):
    c = clients.raw()
    ack = c.connect("lvl9", protocol=9)
    assert ack.return_code == 0x01, \
        f"unsupported protocol level → CONNACK 0x01 [MQTT-3.1.2-2], got {ack}"
    assert not ack.session_present, "non-zero CONNACK has Session Present 0 [MQTT-3.2.2-4]"
    assert c.wait_closed(5), "server closes after CONNACK 0x01 [MQTT-3.1.2-2] [MQTT-3.2.2-5]"


@pytest.mark.parametrize("protocol", [MQTT_V31, MQTT_V311], ids=["mqtt31", "mqtt311"])
def test_known_protocol_level_accepted(broker, clients, protocol):
    c = clients.raw()
    ack = c.connect(unique_id("lvl"), protocol=protocol)
    assert (ack.return_code, ack.session_present) == (0, False), \
        f"level {protocol} accepted, no session [MQTT-3.1.4-4] [MQTT-3.2.2-1], got {ack}"
    c.ping()


def test_empty_client_id_with_clean_session_is_accepted(broker, clients):
    c = clients.raw()
    ack = c.connect("", clean=True)
    assert ack.return_code == 0, \
        f"zero-length ClientId with CleanSession=1 gets an assigned id [MQTT-3.1.3-6], got {ack}"
    c.subscribe([("empty/id", 1)])
    c.publish("empty/id", b"works", qos=1)
    got = c.receive_publish()
    assert (got.topic, got.payload) == ("empty/id", b"works"), got


def test_empty_client_ids_get_distinct_generated_ids(broker, clients):
    first = clients.raw()
    assert first.connect("", clean=True).return_code == 0
    second = clients.raw()
    assert second.connect("", clean=True).return_code == 0
    # Had both been given the same id, the second CONNECT would have taken over the first.
    first.ping()
    second.ping()
    assert not first.closed, "each empty ClientId gets a unique assigned id [MQTT-3.1.3-6]"


def test_empty_client_id_without_clean_session_gets_connack_2(broker, clients):
    c = clients.raw()
    ack = c.connect("", clean=False)
    assert ack.return_code == 0x02, \
        f"zero-length ClientId with CleanSession=0 → CONNACK 0x02 [MQTT-3.1.3-8], got {ack}"
    assert not ack.session_present, "[MQTT-3.2.2-4]"
    assert c.wait_closed(5), "server closes after CONNACK 0x02 [MQTT-3.1.3-8] [MQTT-3.2.2-5]"


def test_second_connect_on_same_connection_closes_it(broker, clients):
    c = clients.raw_connected()
    c.send(mqtt_raw.connect(unique_id("again")))
    assert c.wait_closed(5), "a second CONNECT is a protocol violation [MQTT-3.1.0-2]"
    assert not any(p.type == CONNACK for p in c.pending()), \
        "no CONNACK is sent for the second CONNECT [MQTT-3.1.0-2]"


@pytest.mark.parametrize("first_packet", [
    pytest.param(mqtt_raw.publish("a/b", b"x"), id="publish"),
    pytest.param(mqtt_raw.subscribe(1, [("a/b", 0)]), id="subscribe"),
    pytest.param(mqtt_raw.pingreq(), id="pingreq"),
    pytest.param(mqtt_raw.disconnect(), id="disconnect"),
])
def test_first_packet_not_connect_closes_connection(broker, clients, first_packet):
    c = clients.raw()
    c.send(first_packet)
    assert c.wait_closed(5), "the first packet from a client MUST be CONNECT [MQTT-3.1.0-1]"
    assert not c.pending(), f"nothing is answered before CONNECT [MQTT-3.1.0-1]: {c.pending()}"


@pytest.mark.hermod_only("limits.connect_timeout is a Hermod setting")
def test_no_connect_within_connect_timeout_closes_connection(make_broker, clients):
    b = make_broker(connect_timeout=1)
    idle = clients.raw(b)
    partial = clients.raw(b)
    partial.send(mqtt_raw.connect(unique_id("slow"))[:5])  # a CONNECT that never completes
    assert idle.wait_closed(4), "a connection that sends nothing is closed after connect_timeout"
    assert partial.wait_closed(4), "a CONNECT that never completes is closed after connect_timeout"
    round_trip(clients, b)


@pytest.mark.hermod_only("limits.connect_timeout is a Hermod setting")
def test_connect_timeout_does_not_close_connected_clients(make_broker, clients):
    b = make_broker(connect_timeout=1)
    c = clients.raw_connected(b, keepalive=60)
    c.expect_nothing(1.8)  # longer than connect_timeout, shorter than any keepalive
    c.ping()


def test_reserved_connect_flag_closes_connection(broker, clients):
    c = clients.raw()
    c.send(mqtt_raw.connect(unique_id("rsv"), reserved_flag=True))
    assert c.wait_closed(5), "CONNECT reserved flag must be 0, else disconnect [MQTT-3.1.2-3]"
    assert not any(p.type == CONNACK and p.return_code == 0 for p in c.pending()), \
        "no successful CONNACK for a malformed CONNECT [MQTT-3.1.4-1]"


def test_mqtt31_raw_client_with_23_byte_client_id_is_accepted(broker, clients):
    c = clients.raw()
    ack = c.connect("0123456789abcdefghijklm", protocol=MQTT_V31)
    assert ack.return_code == 0, f"1–23 byte alphanumeric ClientId is allowed [MQTT-3.1.3-5]: {ack}"
    c.subscribe([("v31/raw", 2)])
    c.publish("v31/raw", b"hello 3.1", qos=2)
    got = c.receive_publish()
    assert (got.topic, got.payload, got.qos) == ("v31/raw", b"hello 3.1", 2), got


def test_mqtt31_paho_client_exchanges_messages_with_mqtt311_client(broker, clients):
    old = clients.paho(protocol=paho.MQTTv31)
    new = clients.paho(protocol=paho.MQTTv311)
    assert old.subscribe("mix/#", qos=1) == (1,)
    assert new.subscribe("mix/#", qos=1) == (1,)
    old.publish("mix/from31", b"a", qos=1)
    new.publish("mix/from311", b"b", qos=1)
    for c in (old, new):
        got = sorted((m.topic, m.payload) for m in (c.get_message(), c.get_message()))
        assert got == [("mix/from31", b"a"), ("mix/from311", b"b")], got


def test_connack_session_present_0_for_clean_session(broker, clients):
    cid = unique_id("sp")
    first = clients.raw()
    assert first.connect(cid, clean=False).return_code == 0
    first.disconnect(wait=True)
    c = clients.raw()
    ack = c.connect(cid, clean=True)
    assert (ack.return_code, ack.session_present) == (0, False), \
        f"CleanSession=1 → Session Present 0 [MQTT-3.2.2-1], got {ack}"


@pytest.mark.time_limit(40)
def test_takeover_closes_old_connection_and_publishes_its_will(make_broker, clients):
    b = make_broker(workers=2)
    watcher = clients.raw_connected(b)
    watcher.subscribe([("takeover/#", 1)])
    # Repeat so that the old and new connections land on different workers.
    for i in range(8):
        cid = unique_id("take")
        old = clients.raw(b)
        ack = old.connect(cid, will=Will(f"takeover/{i}", b"gone", qos=1))
        assert ack.return_code == 0, ack
        new = clients.raw(b)
        ack = new.connect(cid)
        assert ack.return_code == 0, f"round {i}: takeover CONNECT accepted, got {ack}"
        assert old.wait_closed(5), \
            f"round {i}: the existing client with the same ClientId is disconnected [MQTT-3.1.4-2]"
        will = watcher.receive_publish()
        assert (will.topic, will.payload) == (f"takeover/{i}", b"gone"), \
            f"round {i}: the taken-over connection's will is published [MQTT-3.1.2-8], got {will}"
        new.ping()
        new.disconnect()


@pytest.mark.hermod_only("mosquitto 2.0.11 miscounts connections closed before CONNECT (the "
                         "fixture's readiness probe), eclipse-mosquitto/mosquitto#1460, and so "
                         "lets one extra client in")
def test_max_connections_refuses_connections_beyond_the_limit(make_broker, clients):
    b = make_broker(max_connections=2)
    first = clients.raw_connected(b)
    second = clients.raw_connected(b)
    third = clients.raw(b)
    try:
        ack = third.connect(unique_id("over"))
    except (mqtt_raw.ConnectionClosed, mqtt_raw.Timeout, OSError):
        ack = None
    if ack is not None:
        assert ack.return_code != 0, f"a connection beyond max_connections is refused: {ack}"
    assert third.wait_closed(5), "a connection beyond max_connections is closed"
    first.ping()
    second.ping()
    second.disconnect()
    # A slot is free again once a client has gone.
    wait_for(lambda: _can_connect(b), 5, message="a connection to succeed after one left")


def _can_connect(b) -> bool:
    c = mqtt_raw.RawClient(b.host, b.port, timeout=2)
    try:
        return c.connect(unique_id("again")).return_code == 0
    except (mqtt_raw.ConnectionClosed, mqtt_raw.Timeout, OSError):
        return False
    finally:
        c.close()
